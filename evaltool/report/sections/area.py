"""The whole area (issue 17's designs): synthetic comparisons and interrupted time series.

Words from :mod:`evaltool.report.area_text`, numbers from the published ``area`` facts; the
counterfactual figure here, the others (time series, placebo, weights) in the appendix.
"""
from __future__ import annotations

from typing import Any

from evaltool.report.area_text import AREA_HEADING, AREA_INTRO, area_sentences, headline_sentence
from evaltool.report.context import Section
from evaltool.report.sections._common import esc, not_run_text


def area_facts(ctx: Any) -> dict[str, Any]:
    """The area section's facts as published (suppressed ones left out)."""
    raw = ctx.bundle.facts.get("area")
    if not isinstance(raw, dict):
        return {}
    out = {}
    for k in raw:
        f = ctx.pub.fact("area", k)
        if f is not None and not f.hidden:
            out[k] = f.value
    return out


def key_point(ctx: Any) -> str | None:
    """Key-points paragraph: the whole-area headline (when the area stage ran)."""
    facts = area_facts(ctx)
    if not facts or ctx.status("area")[0] != "ok":
        return None
    return "**The whole area.** " + esc(headline_sentence(facts))


def build(ctx: Any) -> Section | None:
    status, reason = ctx.status("area")
    if status == "not_run" and ("no `area`" in reason or not reason or "no results" in reason):
        return None
    nr = not_run_text(ctx, "area", "whole-area analysis")
    if nr:
        return Section("area", AREA_HEADING, nr)
    facts = area_facts(ctx)
    if not facts:
        return None
    parts = [esc(AREA_INTRO), "\n".join(f"- {esc(s)}" for s in area_sentences(facts))]
    if "area_counterfactual" in ctx.all_figures():
        parts.append(ctx.stage_figure("area_counterfactual"))
    return Section("area", AREA_HEADING, "\n\n".join(parts))
