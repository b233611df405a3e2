"""The schema of ``results/manifest.json``: checked when a bundle is written and when it is read.

The writer (:mod:`evaltool.bundle`) validates what it writes; the report
(:mod:`evaltool.report.bundle_io`) validates what it reads, so a hand-edited or received
bundle with a malformed manifest is refused with a message naming the key, never half-read.
Unknown top-level keys are allowed (later versions may add some); inside ``tables``,
``figures``, ``stages`` and ``run`` the shape is fixed.

Examples
--------
>>> m = validate_manifest({"bundle_version": 1, "name": "demo", "title": "Demo", "created": "2026-01-01T00:00:00Z"})
>>> m.tables
[]
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ManifestModel", "validate_manifest"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
# A bundle path: relative, forward slashes, no "..", inside results/ or figures/.
_PATH = r"^(results|figures)/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\.[A-Za-z0-9]{1,8}$"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableItem(_Open):
    name: str = Field(pattern=_NAME)
    path: str = Field(pattern=_PATH)
    section: str = ""
    title: str = ""
    caption: str = ""
    count_columns: list[str] = []
    derived_columns: list[tuple[str, str]] = []
    appendix: bool = False
    publish: bool = True
    rows: int | None = Field(None, ge=0)


class FigureItem(_Open):
    name: str = Field(pattern=_NAME)
    path: str = Field(pattern=_PATH)
    section: str = ""
    title: str = ""
    alt: str = ""
    appendix: bool = False


class StageItem(_Open):
    status: Literal["ok", "partial", "failed", "not_run"]
    reason: str = ""
    seconds: float | None = None


class AnalysisItem(_Closed):
    stage: str
    analysis: str
    outcome: str
    subgroup: str = "all"
    status: Literal["ok", "partial", "failed"]
    reason: str = ""


class RunItem(_Open):
    status: Literal["complete", "partial"]
    allow_partial: bool = False
    events: dict[Literal["info", "warning", "error"], int] = {}
    event_codes: dict[str, int] = {}
    analyses: list[AnalysisItem] = []
    log: str = "results/run_log.jsonl"


class ManifestModel(_Open):
    """``manifest.json`` (see docs/architecture.md for every key)."""

    bundle_version: int = Field(1, ge=1, le=1)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    title: str
    created: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    tables: list[TableItem] = []
    figures: list[FigureItem] = []
    stages: dict[str, StageItem] = {}
    run: RunItem | None = None
    report: dict[str, Any] = {}


def validate_manifest(data: Any, source: str = "manifest.json") -> ManifestModel:
    """Validate a manifest; raise ``ValueError`` with one line per problem (``tables.0.path: ...``).

    Values are never echoed in full: a hostile manifest cannot flood the message.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object, found {type(data).__name__}")
    try:
        return ManifestModel.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors()[:20]:
            loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
            val = repr(e.get("input"))
            val = val if len(val) <= 60 else val[:57] + "..."
            lines.append(f"  - {loc}: {e['msg']} (found {val})")
        more = len(err.errors()) - 20
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise ValueError(f"{source}: not a valid evaltool manifest:\n" + "\n".join(lines) + tail) from None
