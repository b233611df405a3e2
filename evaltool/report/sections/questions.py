"""What we asked and how: the questions, the design in plain words, the plan and every deviation from it."""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.labels import value_label
from evaltool.report.sections._common import esc
from evaltool.report.sentences import outcome_label


def _plan_rows(ctx: Any) -> pd.DataFrame:
    spec = ctx.manifest.get("spec") or {}
    rows = []
    eff = spec.get("effects") or {}
    if eff:
        outs = ", ".join(outcome_label(o, lower=True) for o in eff.get("outcomes") or [])
        rows.append(("Outcomes", outs[:1].upper() + outs[1:]))
        rows.append(("Comparison", "Each enrolled person matched to similar people not enrolled, at the date they "
                                   "joined"))
        rows.append(("Periods compared", f"{eff.get('pre_months', 12)} months before and {eff.get('post_months', 12)} "
                                         "months after enrolment"))
        subs = eff.get("subgroups") or []
        if subs:
            rows.append(("For whom", ", ".join("age (under 65, 65 and over)" if s == "age_band" else
                                               s.replace("_", " ") for s in subs)))
    ro = spec.get("rollout") or {}
    if ro:
        by = "quarter" if ro.get("period") == "quarter" else "month"
        rows.append(("Whole practice populations", f"Practices live compared with practices not yet live, by {by}"))
    if spec.get("proms"):
        rows.append(("Patient-reported outcomes", f"{(spec['proms'] or {}).get('instrument', 'EQ-5D')} at "
                     + ", ".join(value_label('period', t).lower() for t in (spec["proms"] or {}).get("timepoints", []))))
    if spec.get("qualitative"):
        rows.append(("Interviews and focus groups", "Coded against a shared codebook; themes, quotes and a joint "
                                                    "display with the numbers"))
    win = ctx.manifest.get("window") or {}
    if win:
        rows.append(("Study period", f"{win.get('start')} to {win.get('end')}"))
    return pd.DataFrame(rows, columns=["Part of the plan", "What was planned"])


def build(ctx: Any) -> Section:
    q = ctx.manifest.get("question") or ""
    parts = [f"**The questions.** {esc(q)}" if q else ""]
    parts.append(
        "**The design in plain words.** People enrolled in a programme like this are usually chosen because they "
        "have recently been in hospital a lot, and such spells tend to end anyway (regression to the mean). So "
        "comparing people before and after they joined would overstate any benefit. Instead, each enrolled person "
        "was compared with people who were not enrolled but looked similar at the same date, including in their "
        "recent hospital use, and the change over time in the two groups was compared (difference-in-differences). "
        "Where teams went live in different practices at different dates, practices that had gone live were also "
        "compared with those that had not yet done so.")
    parts.append("**The plan.** The analysis followed a plan written before the results were seen (the full "
                 "specification is in the technical appendix).")
    parts.append(ctx.table(_plan_rows(ctx), "The analysis plan in brief", "analysis-plan", labelled=True,
                           workbook=False))
    dev = ctx.record.deviations()
    if len(dev):
        parts.append("## Changes to the plan {#sec-deviations}\n\nEverything that was planned but did not produce a "
                     "result, or was done differently, is listed below.")
        parts.append(ctx.table(dev, "Deviations from the analysis plan", "deviations", labelled=True))
    else:
        parts.append("## Changes to the plan {#sec-deviations}\n\nEvery planned analysis produced its result; there "
                     "were no deviations.")
    return Section("questions", "What we asked and how", "\n\n".join(p for p in parts if p))
