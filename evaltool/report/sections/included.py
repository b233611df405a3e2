"""Who was included: a real funnel (population to follow-up) and a readable baseline Table 1."""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.labels import value_label
from evaltool.report.markdown import fmt_value

_MATCH_PREFIXES = ("unmatched_",)


def _n(x: Any) -> str:
    return fmt_value(x) if not isinstance(x, str) else x


def funnel_steps(ctx: Any) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(label, count, exclusions) from the published cohort flow and follow-up tables.

    Rows follow the flow in order: each row is a box, and the people it excludes (count and reason)
    hang off the box before it. Rows evaltool names itself are worded here: ``start``, the split
    into enrolled and potential controls (``analysed_enrolled``, ``analysed_candidates``), matching
    losses (``unmatched_*``) and the matched groups (``analysed_matched``, ``analysed_controls``).
    """
    t = ctx.pub.table("cohort_flow")
    if t is None or not len(t.display):
        return []
    d = t.display.reset_index(drop=True)
    steps: list[tuple[str, str, list[tuple[str, str]]]] = []
    for _, r in d.iterrows():
        step = str(r.get("step", ""))
        n, exc = _n(r.get("n_remaining")), r.get("n_excluded")
        excluded = str(exc) not in ("0", "None", "nan", "–")
        reason = str(r.get("reason") or r.get("description") or "")
        if step == "start":
            steps.append(("People in the population", n, []))
        elif step.startswith(_MATCH_PREFIXES):
            if steps:
                steps[-1][2].append((_n(exc), "not matched (" + reason.replace("Not matched: ", "") + ")"))
        elif step == "analysed_candidates":
            if steps:
                lab, cnt, ex = steps[-1]
                steps[-1] = (f"{lab} (and {n} never enrolled, potential comparisons)", cnt, ex)
        elif step == "analysed_controls":
            if steps:
                lab, cnt, ex = steps[-1]
                steps[-1] = (f"{lab} (with {n} matched comparison people)", cnt, ex)
        else:
            label = {"analysed_enrolled": "Enrolled in the programme",
                     "analysed_matched": "Matched and analysed"}.get(step, str(r.get("description") or step))
            if excluded and steps:
                steps[-1][2].append((_n(exc), reason))
            steps.append((label, n, []))
    fu = ctx.pub.table("follow_up")
    if fu is not None and len(fu.display):
        f = fu.display[fu.display["group"].astype(str).isin(["enrolled", "treated"])]
        if len(f):
            f = f.iloc[0]
            for m in (6, 12, 24):
                col = f"n_{m}m"
                # A box of nobody followed that long (24 months in a 12-month evaluation) says nothing.
                if col in f.index and str(f[col]) not in ("0", "0.0"):
                    steps.append((f"Could be followed for {m} months", _n(f[col]), []))
    return steps


def table_one(ctx: Any) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    t = ctx.pub.table("balance")
    if t is None or not len(t.display):
        return None
    d = t.display
    d = d[d["covariate"].astype(str) != "distance"]
    n_t = _n(d["n_treated"].iloc[0]) if "n_treated" in d.columns else ""
    n_c = _n(d["n_controls"].iloc[0]) if "n_controls" in d.columns else ""
    rows, sheet = [], []
    for _, r in d.iterrows():
        cov = str(r["covariate"])
        lab = value_label("covariate", cov)
        binary = "(proportion)" in lab or cov.startswith(("frailty", "sex"))
        lab = lab.replace(" (proportion)", "")

        def show(v: Any) -> str:
            x = number(v)
            if x != x:
                return "–"
            return f"{100 * x:.1f}%" if binary else (f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}")

        smd = number(r.get("smd_after"))
        flag = "Yes" if abs(smd) < 0.1 else f"No ({abs(smd):.2f})"
        rows.append({"Characteristic": lab + (" (%)" if binary else " (mean)"),
                     f"Enrolled (n = {n_t})": show(r.get("mean_treated")),
                     f"Matched comparison (n = {n_c})": show(r.get("mean_control_after")),
                     "All never enrolled": show(r.get("mean_control_before")),
                     "Similar after matching?": flag})
        sheet.append({"Characteristic": lab, "Enrolled": number(r.get("mean_treated")),
                      "Matched comparison": number(r.get("mean_control_after")),
                      "All never enrolled": number(r.get("mean_control_before")),
                      "Standardised mean difference after matching": round(smd, 3),
                      "Similar after matching (below 0.1)": "Yes" if abs(smd) < 0.1 else "No"})
    return pd.DataFrame(rows), pd.DataFrame(sheet)


def areas_text(ctx: Any) -> str | None:
    """Who was included in an area-only evaluation: the areas and months of the panel, in plain words."""
    from evaltool.report.sections.area import area_facts

    f = area_facts(ctx)
    if not f.get("treated_area"):
        return None
    what = str(f.get("outcome") or "events").replace("_", " ")
    n_d, n_o = f.get("n_donors"), f.get("n_other_treated_areas") or 0
    months = (f" from {_month_words(f.get('first_month'))} to {_month_words(f.get('last_month'))}"
              if f.get("first_month") and f.get("last_month") else "")
    txt = (f"This evaluation used monthly counts for whole areas, not records of individual people: {what}s and "
           f"the population of {f['treated_area']}" + (f" and of {n_d} comparison areas that never went live"
                                                      if n_d else "") + f", month by month{months}")
    if f.get("n_months"):
        txt += (f" ({f['n_months']} months: {f.get('n_pre_months')} before go-live in "
                f"{_month_words(f.get('go_live'))} and {f.get('n_post_months')} after)")
    txt += "."
    if n_o:
        txt += (f" {n_o} other area{'s' if n_o != 1 else ''} that also went live {'were' if n_o != 1 else 'was'} "
                "left out of the comparison.")
    txt += (" Everyone living in or registered with the area counts in its rates, whether or not they used the "
            "programme. The areas' events and rates before and after go-live are in the technical appendix.")
    return txt


def _month_words(d: Any) -> str:
    try:
        return pd.Timestamp(str(d)).strftime("%B %Y")
    except (ValueError, TypeError):
        return str(d)


def build(ctx: Any) -> Section:
    from evaltool.report.figures import funnel_plot

    if ctx.area_only:
        from evaltool.report.sections._common import esc

        txt = areas_text(ctx)
        return Section("who", "Who was included", esc(txt) if txt else "The bundle holds no area summary.")
    parts = []
    steps = funnel_steps(ctx)
    if steps:
        plot, alt = funnel_plot(steps)
        parts.append("The flow below shows everyone in the data, who was enrolled, who could be matched with similar "
                     "people who were not enrolled, and how many could be followed for how long. Nobody leaves "
                     "without a reason being counted.")
        parts.append(ctx.figure(lambda: plot, "funnel", "Who was included, who was not, and why", alt, data=steps,
                                width=7, height=max(2.4, 0.78 * len(steps) + 0.3)))
    t1 = table_one(ctx)
    if t1 is not None:
        shown, sheet = t1
        parts.append("The table compares enrolled people with their matched comparison group when they joined. "
                     "Matching worked where the two groups are similar; a standardised mean difference below 0.1 "
                     "is the usual test, and characteristics that miss it are flagged.")
        parts.append(ctx.table(shown, "Characteristics of enrolled people and their matched comparison group when "
                                      "they joined", "table-1", labelled=True, sheet_df=sheet))
    if not parts:
        parts.append("The bundle holds no cohort flow or balance table.")
    return Section("who", "Who was included", "\n\n".join(parts))
