"""Helpers shared by report sections: published effect rows, words for a stage that did not run."""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.escape import escape_markdown
from evaltool.report.labels import subgroup_key

__all__ = ["effects", "esc", "not_run_text", "row", "outcomes"]


def esc(text: object) -> str:
    """Escape text for Markdown (every sentence built from data passes through here)."""
    return escape_markdown(text)


#: Tables that may hold an analysis's rows when ``effects`` does not (the before/after rows live in
#: ``naive_before_after``, not in ``effects``: looking only in ``effects`` once made the report say there
#: was no before-and-after estimate while printing one).
ANALYSIS_TABLES = {"matched_did": ("effects", "effects_matched"),
                   "naive_before_after": ("effects", "naive_before_after"),
                   "practice_rollout": ("effects",)}
_EMPTY = ["analysis", "outcome", "subgroup", "sub", "scale", "estimate", "ci_lower", "ci_upper", "p_value"]


def effects(ctx: Any, analysis: str = "matched_did") -> pd.DataFrame:
    """Published rows of one analysis (from the first table that has them), with a stable ``sub`` key."""
    for name in ANALYSIS_TABLES.get(analysis, ("effects",)):
        t = ctx.pub.table(name)
        if t is None or not len(t.display) or "analysis" not in t.display.columns:
            continue
        d = t.display[t.display["analysis"] == analysis].copy()
        if len(d):
            d["sub"] = d["subgroup"].map(subgroup_key)
            return d
    return pd.DataFrame(columns=_EMPTY)


def outcomes(e: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(e["outcome"])) if len(e) else []


def row(e: pd.DataFrame, outcome: str, sub: str = "all", scale: str = "rate_ratio") -> dict[str, Any] | None:
    r = e[(e["outcome"] == outcome) & (e["sub"] == sub) & (e["scale"] == scale)]
    return None if not len(r) else r.iloc[0].to_dict()


def not_run_text(ctx: Any, stage: str, what: str) -> str | None:
    """A plain statement when ``stage`` failed or did not run (None when it ran)."""
    status, reason = ctx.status(stage)
    if status == "ok":
        return None
    word = "failed" if status == "failed" else "was not run"
    return esc(f"The {what} {word}" + (f": {reason.rstrip('.')}" if reason else "") +
               ". Nothing here is a finding.")
