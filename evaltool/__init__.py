"""evaltool: mixed-methods evaluation of integrated health and social care programmes.

The CLI (``evaltool run SPEC``) is a thin layer over this API; every stage is a public
function returning a result object with ``.summary()``, ``.to_frame()``, ``.plot()``.

Examples
--------
>>> import evaltool
>>> bundle = evaltool.run("analyses/southvale.yaml")  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

# The one place the version lives (pyproject reads it; CITATION.cff and CHANGELOG.md are tested against it).
__version__ = "0.1.0"
#: The name to ``pip install``; the import name is ``evaltool`` ("evaltool" on PyPI is another project).
DISTRIBUTION = "evaltool-care"

__all__ = ["__version__", "DISTRIBUTION", "run", "load_spec", "load_inputs", "build_cohort", "etable"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import evaltool` stays fast and light for the CLI's --help.
    if name == "run":
        from evaltool.pipeline import run

        return run
    if name == "load_spec":
        from evaltool.spec import load_spec

        return load_spec
    if name == "load_inputs":
        from evaltool.inputs import load_inputs

        return load_inputs
    if name == "build_cohort":
        from evaltool.cohort import build_cohort

        return build_cohort
    if name == "etable":
        from evaltool.compare import etable

        return etable
    raise AttributeError(f"module 'evaltool' has no attribute {name!r}")
