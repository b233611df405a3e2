"""How sure are we? The diagnostics behind the confidence rating, checks of robustness, and regression to the mean."""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.sections._common import effects, esc, outcomes, row
from evaltool.report.sentences import outcome_label, p_text


def _ci(r: dict | None) -> str:
    if r is None:
        return "–"
    est, lo, hi = (number(r.get(k)) for k in ("estimate", "ci_lower", "ci_upper"))
    if any(x != x for x in (est, lo, hi)):
        return "–" if est != est else f"{est:.2f}"
    return f"{est:.2f} ({lo:.2f} to {hi:.2f})"


def _sensitivity(ctx: Any, e: pd.DataFrame, o: str) -> pd.DataFrame:
    rows = [{"Analysis": "Main analysis: matched comparison", "Rate ratio (95% CI)": _ci(row(e, o)),
             "What it checks": "The headline estimate."}]
    n = effects(ctx, "naive_before_after")
    if len(n):
        rows.append({"Analysis": "No comparison group: enrolled people before and after",
                     "Rate ratio (95% CI)": _ci(row(n, o)),
                     "What it checks": "What a simple before-and-after comparison would have claimed."})
    p_pre = ctx.pub.fact("effects", f"{o}.pretrend_p_value")
    if p_pre is not None and not p_pre.hidden:
        rows.append({"Analysis": "Trends before enrolment", "Rate ratio (95% CI)": p_text(p_pre.value),
                     "What it checks": "Whether the groups already differed before enrolment (a test; a small p "
                                       "value is a warning)."})
    from evaltool.report.sections.key_points import rollout_headline

    r = rollout_headline(ctx)
    if r is not None:
        rows.append({"Analysis": "Different design: practices live vs not yet live (whole populations)",
                     "Rate ratio (95% CI)": _ci(r),
                     "What it checks": "Whether the roll-out changed admissions across everyone registered."})
    rs = ctx.pub.table("rollout_sensitivity")
    if rs is not None and len(rs.display):
        d = rs.display
        pl = d[d["analysis"] == "placebo_go_live"]
        for _, r in pl.iterrows():
            k = str(r["variant"]).split("_")[-1]
            rows.append({"Analysis": f"Placebo: go-live moved {k} period{'s' if k != '1' else ''} earlier",
                         "Rate ratio (95% CI)": _ci(r.to_dict()),
                         "What it checks": "A made-up go-live date should show no effect."})
        loo = d[d["analysis"] == "leave_one_out"]
        if len(loo):
            v = pd.to_numeric(loo["estimate"], errors="coerce")
            rows.append({"Analysis": "Leaving out one practice at a time", "Rate ratio (95% CI)":
                         f"{v.min():.2f} to {v.max():.2f}", "What it checks": "Whether one practice drives the "
                                                                             "roll-out result."})
    return pd.DataFrame(rows)


def _rtm_table(ctx: Any, e: pd.DataFrame) -> pd.DataFrame | None:
    n = effects(ctx, "naive_before_after")
    if not len(n):
        return None
    rows = []
    for o in outcomes(e):
        a, b = row(n, o), row(e, o)
        if a is None or b is None:
            continue
        rows.append({"Outcome": outcome_label(o), "Before and after only": _ci(a), "Matched comparison": _ci(b)})
    return pd.DataFrame(rows) if rows else None


def build(ctx: Any) -> Section:
    ev = ctx.evidence
    parts = [esc(f"Our confidence in the main findings is {ev.confidence}. {ev.design_text} It rests on the checks "
                 "below.")]
    checks = pd.DataFrame([{"Check": c.name, "Result": c.rating[:1].upper() + c.rating[1:], "What we found": c.text}
                           for c in ev.checks])
    if len(checks):
        parts.append(ctx.table(checks, "The checks behind the confidence rating", "evidence-checks", labelled=True))
    e = effects(ctx)
    o = "emergency_admission" if "emergency_admission" in outcomes(e) else (outcomes(e) or [None])[0]
    if o is not None:
        parts.append(ctx.table(_sensitivity(ctx, e, o), f"Checks of robustness: {outcome_label(o, lower=True)}, "
                               "everyone enrolled", "sensitivity", labelled=True))
        rtm = _rtm_table(ctx, e)
        if rtm is not None:
            a, b = row(effects(ctx, "naive_before_after"), o), row(e, o)
            fall = (1 - number(a["estimate"])) * 100 if a else float("nan")
            txt = ("What regression to the mean would have shown. People are enrolled after a spell of high hospital "
                   "use, which tends to end anyway. ")
            if fall == fall:
                txt += (f"Looking only at enrolled people before and after they joined, {outcome_label(o, lower=True)} "
                        f"fell by {fall:.0f}%; against the matched comparison group, whose use also fell, the "
                        f"estimate is {_ci(b)}. The gap is the fall that would have happened anyway.")
            parts.append(esc(txt))
            parts.append(ctx.table(rtm, "Before and after only, beside the matched comparison (rate ratios with "
                                        "95% CIs)", "regression-to-the-mean", labelled=True))
    return Section("how-sure", "How sure are we?", "\n\n".join(parts))
