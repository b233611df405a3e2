"""Limitations, generated from the run's own diagnostics and record (never from which tables exist).

Each paragraph is written only when the run gives a reason for it, with the run's numbers:
regression to the mean (the before/after estimate beside the matched one), follow-up, balance
and matching losses, trends before enrolment, failed or partial analyses, small numbers and
suppression, survey response, differences between sites, and attribution.
"""
from __future__ import annotations

import math
from typing import Any

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.sections._common import effects, esc, outcomes, row
from evaltool.report.sentences import outcome_label, pct, plain_reason


def _follow_up_text(fu: dict) -> str:
    planned = fu.get("planned") or 12
    share = fu.get(f"pct_{int(planned)}m", float("nan"))
    txt = f"Outcomes were followed for up to {int(planned)} months after enrolment"
    if not math.isnan(share):
        txt += f"; {share:.0f}% of enrolled people were followed that long"
        med = fu.get("median_months", float("nan"))
        if not math.isnan(med):
            txt += f" (median {med:.0f} months)"
    return txt + (". Integrated care usually takes 3 to 5 years to change hospital use; effects may grow or fade "
                  "after the period observed, and people enrolled later count for less.")


def items(ctx: Any) -> list[tuple[str, str]]:
    """(heading, text) pairs, in order of importance for this run."""
    out: list[tuple[str, str]] = []
    ev = ctx.evidence
    e = effects(ctx)
    o = "emergency_admission" if "emergency_admission" in outcomes(e) else (outcomes(e) or [None])[0]
    naive = effects(ctx, "naive_before_after")
    if o is not None and len(naive):
        a, b = row(naive, o), row(e, o)
        if a is not None and b is not None:
            fall = 1 - number(a["estimate"])
            out.append(("Regression to the mean", f"A before-and-after look at enrolled people alone shows "
                        f"{outcome_label(o, lower=True)} {'falling' if fall > 0 else 'rising'} by {pct(fall)}; against "
                        f"the matched comparison group the rate ratio is {number(b['estimate']):.2f}. Any report that "
                        "quotes the before-and-after figure as the programme's effect overstates it. The matched "
                        "design removes this only as far as the comparison group was selected like the enrolled."))
    elif o is not None:
        out.append(("Regression to the mean", "No before-and-after estimate was produced in this run, so its size "
                    "here cannot be shown; the matched design is meant to remove it."))
    fu = ev.facts.get("follow_up") or {}
    if not fu and ev.facts.get("area"):
        from evaltool.report.sections.key_points import area_follow_up

        out.append(("How long after go-live" if ctx.area_only else "Length of follow-up", area_follow_up(ev.facts)))
    else:
        out.append(("Length of follow-up", _follow_up_text(fu)))
    for c in ev.checks:
        if c.name in ("Balance", "Matching", "Trends before enrolment", "Fit before go-live", "Comparison areas",
                      "Months before go-live") and c.rating != "good":
            out.append((c.name if c.name != "Matching" else "People without a match", c.text + (
                " Results apply to matched people only." if c.name == "Matching" else "")))
    failed = ctx.record.failed()
    if failed:
        names = []
        for a in failed:
            lab = outcome_label(a.get("outcome", "")) if a.get("outcome") else str(a.get("analysis", ""))
            sub = str(a.get("subgroup") or "all")
            if sub != "all":
                lab += " by " + ("age" if sub == "age_band" else sub.replace("_", " "))
            names.append(f"{lab} ({'not estimated' if a.get('status') == 'failed' else 'partly estimated'}: "
                         f"{plain_reason(str(a.get('reason') or 'no result'))})")
        out.append(("Analyses that did not produce a result", "Planned but missing: " + "; ".join(names) +
                    ". They are listed in the deviations table, and the report draws no conclusion about them."))
    probs = ctx.record.stage_problems()
    for stage, status, reason in probs:
        word = "failed" if status == "failed" else "was not run"
        out.append((f"Part not run: {ctx.record.stage_words(stage).lower()}",
                    f"This part of the evaluation {word}" + (f" ({plain_reason(reason)})" if reason else "")
                    + "; nothing in the report rests on it."))
    n_hidden = getattr(ctx.pub, "n_primary", 0) + getattr(ctx.pub, "n_secondary", 0)
    sub = [s for s in dict.fromkeys(e["sub"])] if len(e) else []
    small = ("Subgroup results rest on fewer people and have wider intervals than the overall results."
             if len(sub) > 1 else "")
    if n_hidden:
        small += (f" {n_hidden} table cell{'s are' if n_hidden != 1 else ' is'} hidden to protect confidentiality, "
                  "so some small groups cannot be reported.")
    if small:
        out.append(("Small numbers", small.strip()))
    rf = ctx.pub.table("response_flow")
    if rf is not None and len(rf.display):
        d = rf.display
        last = d[d["group"] == "enrolled"]
        if len(last):
            r = last.iloc[-1]
            resp = number(r["n_responded"]) / max(1.0, number(r["n_invited"])) * 100
            if resp == resp and resp < 60:
                out.append(("Survey response", f"Only {resp:.0f}% of enrolled people answered the last health "
                            "survey; those who answer may differ from those who do not."))
    loo = ctx.pub.fact("rollout", "emergency_admission_leave_one_out_range")
    if loo is not None and isinstance(loo.value, list) and len(loo.value) == 2:
        out.append(("Differences between practices", f"In the roll-out analysis, leaving out one practice at a "
                    f"time moved the estimate between {float(loo.value[0]):.2f} and {float(loo.value[1]):.2f}."))
    if ctx.area_only:
        out.append(("Attribution", "Other changes at the same time (new services, staffing, coding, how events "
                    "were recorded) affect the comparison with other areas only if they reached the evaluated area "
                    "and the comparison areas differently, and the comparison with the area's own past if they "
                    "began near go-live; this cannot be fully checked."))
    else:
        out.append(("Attribution", "Other changes at the same time (new services, staffing, coding) affect the "
                    "comparison only if they reached the two groups differently; this cannot be fully checked."))
    return out


def build(ctx: Any) -> Section:
    body = "\n\n".join(f"**{esc(h)}.** {esc(t)}" for h, t in items(ctx))
    return Section("limits", "What this evaluation cannot tell you", body)
