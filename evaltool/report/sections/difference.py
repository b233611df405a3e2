"""Did it make a difference? One forest plot, then one block per outcome, then whole practice populations."""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.sections._common import effects, esc, not_run_text, outcomes, row
from evaltool.report.sentences import (
    PER,
    difference_cell,
    outcome_label,
    plain_reason,
    ratio_cell,
    ratio_phrase,
)


def _rates(ctx: Any, outcome: str) -> pd.DataFrame | None:
    t = ctx.pub.table("outcome_rates")
    if t is None:
        return None
    d = t.display[t.display["outcome"] == outcome]
    if not len(d):
        return None
    cost = outcome == "cost"
    rows = []
    for grp, name in (("treated", "Enrolled"), ("comparison", "Matched comparison")):
        g = d[d["group"] == grp]
        vals = {}
        for per, col in (("pre", "Year before"), ("post", "Year after")):
            r = g[g["period_group"] == per]
            v = number(r["rate_per_1000py"].iloc[0]) if len(r) else float("nan")
            if cost and v == v:
                v = v / 1000
            vals[col] = v
        if vals.get("Year before") == vals.get("Year before") and vals.get("Year after") == vals.get("Year after"):
            vals["Change"] = vals["Year after"] - vals["Year before"]
        rows.append({"Group": name, **vals})
    out = pd.DataFrame(rows)
    fmt = (lambda x: "–" if x != x else f"£{x:,.0f}" if abs(x) >= 10 else f"£{x:,.2f}") if cost else \
        (lambda x: "–" if x != x else f"{x:,.0f}")
    shown = out.copy()
    for c in ("Year before", "Year after", "Change"):
        if c in shown:
            shown[c] = shown[c].map(lambda x: fmt(x).replace("£-", "−£").replace("-", "\u2212"))
    return shown


def _block(ctx: Any, e: pd.DataFrame, o: str) -> str:
    rr, diff = row(e, o), row(e, o, scale="difference_per_1000py")
    lab = outcome_label(o)
    parts = [f"## {esc(lab)} {{#sec-outcome-{o.replace('_', '-')}}}"]
    d_r, w_r = ratio_phrase(rr["estimate"], rr["ci_lower"], rr["ci_upper"]) if rr else ("not_estimable", "")
    bits = []
    if diff is not None:
        unit = "per person a year" if o == "cost" else PER
        bits.append(difference_cell(diff["estimate"], diff["ci_lower"], diff["ci_upper"], o).replace(
            " (", f" {unit} (95% CI ", 1))
    if rr is not None:
        bits.append(f"a rate ratio of {number(rr['estimate']):.2f} (95% CI {number(rr['ci_lower']):.2f} to "
                    f"{number(rr['ci_upper']):.2f}), that is "
                    + ratio_cell(rr["estimate"], rr["ci_lower"], rr["ci_upper"]).replace(" (", " (95% CI ", 1))
    verdict = {"lower": "fell more among enrolled people than in the comparison group",
               "higher": "rose more among enrolled people than in the comparison group",
               "unclear": "changed in much the same way in both groups: the data cannot tell whether the programme "
                          "made a difference",
               "not_estimable": "could not be compared"}[d_r]
    parts.append(esc(f"{lab} {verdict}. Change compared with the matched comparison group: " + "; ".join(bits) + "."))
    rates = _rates(ctx, o)
    if rates is not None:
        unit = "pounds per person a year" if o == "cost" else PER
        parts.append(ctx.table(rates, f"{lab}: rates in the year before and the year after enrolment ({unit})",
                               f"rates-{o}", labelled=True))
    return "\n\n".join(parts)


def _rollout(ctx: Any) -> str:
    head = "## Across whole practice populations {#sec-rollout}"
    nr = not_run_text(ctx, "rollout", "practice roll-out analysis")
    if nr:
        return f"{head}\n\n{nr}"
    from evaltool.report.sections.key_points import rollout_headline

    r = rollout_headline(ctx)
    if r is None:
        return ""
    period = ctx.pub.fact("rollout", "period")
    by = "quarter" if period is not None and period.value == "quarter" else "month"
    n_pr = ctx.pub.fact("rollout", "n_practices")
    d_r, w = ratio_phrase(r["estimate"], r["ci_lower"], r["ci_upper"])
    lab = outcome_label(r["outcome"], lower=True)
    txt = (f"Teams went live in different practices at different dates. Comparing, quarter by quarter, practices "
           f"that had gone live with those that had not yet done so{' (' + str(n_pr.text) + ' practices)' if n_pr else ''}, "
           f"{lab} across everyone registered showed {w} after go-live (rate ratio {number(r['estimate']):.2f}, "
           f"95% CI {number(r['ci_lower']):.2f} to {number(r['ci_upper']):.2f}).")
    if by != "quarter":
        txt = txt.replace("quarter by quarter", "month by month")
    txt += (" This is one estimator (a Poisson imputation estimator suited to roll-outs at different dates); the "
            "others, and the checks on it, are in the technical appendix. Because only a few per cent of each "
            "practice's patients are enrolled, a change among them is hard to see across the whole population.")
    return f"{head}\n\n{esc(txt)}"


def build(ctx: Any) -> Section | None:
    if ctx.area_only and ctx.unplanned("effects") and ctx.unplanned("rollout"):
        return None  # an area-only evaluation: the whole-area section answers the question
    nr = not_run_text(ctx, "effects", "matched comparison")
    parts = []
    e = effects(ctx)
    if nr:
        parts.append(nr)
    elif len(e):
        from evaltool.report.figures import forest_plot

        parts.append("Each block compares the change in enrolled people's hospital use with the change among the "
                     "matched comparison group over the same time. A rate ratio below 1 means fewer events than "
                     "expected without the programme; the 95% confidence interval shows how precise that is.")
        num = e.copy()
        plot, alt = forest_plot(num, "matched_did")
        if plot is not None:
            parts.append(ctx.figure(lambda: plot, "forest", "Change in hospital use among enrolled people, by outcome "
                                    "and age group (rate ratios with 95% confidence intervals)", alt, data=num,
                                    width=7, height=max(2.6, 0.55 * len(outcomes(e)) + 1.4)))
        for o in outcomes(e):
            parts.append(_block(ctx, e, o))
        for o, why in ctx.record.failed_outcomes("effects").items():
            if o not in outcomes(e):
                parts.append(f"## {esc(outcome_label(o))}\n\n" + esc(f"Not estimated: {plain_reason(why)}. This "
                             "outcome is listed with the other changes to the plan; the exact message is in the "
                             "technical appendix."))
    ro = _rollout(ctx)
    if ro:
        parts.append(ro)
    return Section("difference", "Did it make a difference?", "\n\n".join(parts))
