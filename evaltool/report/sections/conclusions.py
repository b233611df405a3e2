"""Conclusions and what this means: the evaluators' own narrative (conclusions, recommendations)."""
from __future__ import annotations

from typing import Any

from evaltool.report.context import Section


def build(ctx: Any) -> Section | None:
    parts = []
    if ctx.narrative.get("conclusions"):
        parts.append(ctx.narrative["conclusions"])
    if ctx.narrative.get("recommendations"):
        parts.append("## Recommendations {#sec-recommendations}\n\n" + ctx.narrative["recommendations"])
    if not parts:
        ctx.warnings.append("no conclusions in the report: the spec's `report.narrative` names no `conclusions` or "
                            "`recommendations` file (the evaluators' own words go there)")
        return None
    return Section("conclusions", "Conclusions and what this means", "\n\n".join(parts))
