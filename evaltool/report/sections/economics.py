"""Does it pay for itself? The economic evaluation for programme teams, its key point and its appendix detail.

Numbers come only through the publication gate (``ctx.pub``): facts for the sentences
(:mod:`evaltool.report.sentences_economics`), published tables for the tables
(:mod:`evaltool.report.tables_economics`). The main section keeps to what a board paper needs
(the cost-consequence table, the break-even statement, the cost-effectiveness plane and the
acceptability curve); programme cost lines, budget impact, sensitivity analysis and the CHEERS
2022 checklist are in the technical appendix.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from evaltool.report import sentences_economics as se
from evaltool.report import tables_economics as te
from evaltool.report.context import Section
from evaltool.report.sections._common import esc, not_run_text

__all__ = ["appendix", "build", "facts", "key_point"]

#: Tables shown by this module (the appendix's catch-all leaves them alone).
TABLES = ("economics_cost_consequence", "economics_programme_costs", "economics_costs_by_year", "economics_break_even",
          "economics_cost_effectiveness", "economics_qalys", "economics_budget_impact_totals", "economics_budget_impact",
          "economics_sensitivity", "economics_cheers", "economics_ceac", "economics_bootstrap")


def facts(ctx: Any) -> dict[str, Any]:
    """The economics facts as published (hidden ones as None)."""
    sec = ctx.bundle.facts.get("economics")
    if not isinstance(sec, dict):
        return {}
    out = {}
    for k in sec:
        f = ctx.pub.fact("economics", k)
        out[k] = None if f is None or f.hidden else f.value
    return out


def _ran(ctx: Any) -> bool:
    return ctx.status("economics")[0] in ("ok", "partial")


def _table(ctx: Any, name: str, fn: Callable[[pd.DataFrame], pd.DataFrame], caption: str, ident: str) -> str:
    t = ctx.pub.table(name)
    if t is None or not len(t.display):
        return ""
    ctx.used_tables.add(name)
    return ctx.table(fn(t.display), caption, ident, labelled=True)


def _figure(ctx: Any, name: str) -> str:
    return ctx.stage_figure(name) if name in ctx.bundle.figures else ""


def key_point(ctx: Any) -> str | None:
    """The key-points paragraph: what it cost, what it avoided, whether it paid for itself, what would break even."""
    if not _ran(ctx):
        return None
    p = se.key_points_paragraph(facts(ctx))
    return f"**Does it pay for itself?** {esc(p)}" if p else None


def _notes(ctx: Any) -> list[str]:
    return [str(e.get("message", "")) for e in ctx.record.notable_events() if e.get("stage") == "economics"]


def build(ctx: Any) -> Section | None:
    if ctx.area_only and ctx.unplanned("economics"):
        return None  # an area-only evaluation never planned this part
    status, reason = ctx.status("economics")
    if status == "not_run" and "no `economics`" in reason:
        return None
    if status in ("failed", "not_run"):
        return Section("economics", "Does it pay for itself?", not_run_text(ctx, "economics", "economic evaluation"))
    f = facts(ctx)
    intro = ("What the programme cost, set against the hospital activity it changed and, where patients reported "
             "their quality of life, the health it gained. Changes compare enrolled people with their matched "
             "comparison group; the ranges come from resampling the matched groups many times, so costs and "
             "health effects keep their joint uncertainty. Details, the programme's cost lines, the budget impact, "
             "the sensitivity analysis and the CHEERS 2022 reporting checklist are in the technical appendix.")
    parts = [esc(intro)]
    parts += [f"- {esc(s)}" for s in (se.programme_cost_sentence(f), se.activity_sentence(f),
                                        se.pays_for_itself_sentence(f), se.return_sentence(f),
                                        se.break_even_sentence(f), se.cost_per_admission_sentence(f),
                                        se.subgroup_sentence(f)) if s]
    parts.append(_table(ctx, "economics_cost_consequence", se.cost_consequence_display,
                        "Costs and consequences (95% confidence intervals; negative numbers are falls or savings)",
                        "economics-summary"))
    cu = se.cost_utility_sentence(f)
    if cu:
        parts.append(esc(cu))
        parts.append(_figure(ctx, "economics_ce_plane"))
        parts.append(_figure(ctx, "economics_ceac"))
    bi = se.budget_impact_sentence(f)
    if bi:
        parts.append(esc(bi))
    notes = _notes(ctx)
    if notes:
        parts.append("Notes from the run: " + " ".join(esc(n.rstrip(".") + ".") for n in notes))
    return Section("economics", "Does it pay for itself?", "\n\n".join(p for p in parts if p))


def appendix(ctx: Any) -> Section | None:
    """The economic evaluation in detail (technical appendix)."""
    if not _ran(ctx):
        return None
    f = facts(ctx)
    parts = [esc(f"All costs in {f.get('price_year_label') or 'common-year'} prices; programme costs "
                 f"{f.get('costing_start', '')} to {f.get('costing_end', '')}. Intervals: {f.get('interval_method', '')} "
                 f"bootstrap, {f.get('bootstrap_replicates', '')} resamples of matched sets, costs and QALYs resampled "
                 "together.")]
    parts.append(_table(ctx, "economics_programme_costs", se.programme_costs_display,
                        "What the programme cost, with the source and price year of each figure", "economics-costs"))
    parts.append(_table(ctx, "economics_costs_by_year", te.costs_by_year_display, "Programme cost by financial year",
                        "economics-costs-by-year"))
    parts.append(_table(ctx, "economics_cost_consequence", te.cost_consequence_by_group_display,
                        "Costs and consequences by group, per enrolled person-year", "economics-by-group"))
    parts.append(_table(ctx, "economics_break_even", te.break_even_display,
                        "Break-even, probability of paying for itself and return on investment", "economics-break-even"))
    parts.append(_table(ctx, "economics_cost_effectiveness", se.cost_effectiveness_display,
                        "Cost-utility per patient", "economics-cost-utility"))
    parts.append(_table(ctx, "economics_qalys", te.qalys_display, "QALYs by group (EQ-5D area under the curve)",
                        "economics-qalys"))
    parts.append(_table(ctx, "economics_budget_impact_totals", se.budget_impact_display,
                        "Budget impact of extending the programme: totals by scenario", "economics-budget"))
    parts.append(_table(ctx, "economics_budget_impact", te.budget_impact_years_display,
                        "Budget impact year by year", "economics-budget-years"))
    parts.append(_figure(ctx, "economics_tornado"))
    parts.append(_table(ctx, "economics_sensitivity", te.sensitivity_display,
                        "One-way sensitivity analysis of net cost per enrolled person-year", "economics-sensitivity"))
    parts.append(_table(ctx, "economics_cheers", te.cheers_display, "CHEERS 2022 reporting checklist (Husereau et al. "
                        "2022): where this report addresses each item", "economics-cheers"))
    for name in TABLES:
        ctx.used_tables.add(name)  # analysts' tables (bootstrap, curve) stay in the bundle and workbook
    return Section("economics-detail", "The economic evaluation in detail", "\n\n".join(p for p in parts if p))
