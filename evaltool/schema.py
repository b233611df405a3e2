"""The analysis spec's JSON Schema, generated from the pydantic models (one source of truth).

Editors use it to complete and check YAML specs (VS Code's YAML extension reads a first line
``# yaml-language-server: $schema=<path or URL>``). The docs publish it, and ``evaltool schema``
writes it. Paths in the spec are strings; dates are ``YYYY-MM-DD``.

Examples
--------
>>> from evaltool.schema import spec_json_schema
>>> s = spec_json_schema()
>>> s["title"], sorted(s["required"])
('evaltool analysis spec', ['data', 'name', 'title', 'window'])
>>> "matching" in s["properties"]
True
"""
from __future__ import annotations

import json
from typing import Any

from evaltool import __version__

__all__ = ["spec_json_schema", "schema_text"]


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a YAML analysis spec."""
    from evaltool.spec import Spec

    schema = Spec.model_json_schema(mode="validation")
    schema["title"] = "evaltool analysis spec"
    schema["description"] = (
        f"An evaltool {__version__} analysis plan (YAML). Relative paths resolve against the spec file; "
        "unknown keys are errors. Validate with `evaltool validate SPEC`.")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """The schema as stable, indented JSON text (sorted keys, trailing newline)."""
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
