"""Key points (page 1, at most two pages): what was done, what happened, for whom, how sure, costs, what not yet.

The page is a list of paragraphs, each from one function in :data:`KEY_POINTS` taking the
context and returning Markdown (or None to leave it out). Another section adds its own
paragraph by adding a function here (the economic evaluation's "Does it pay for itself?"
replaces :func:`costs`).
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.labels import value_label
from evaltool.report.sections._common import effects, esc, outcomes, row
from evaltool.report.sentences import (
    difference_cell,
    headline,
    interaction_sentence,
    outcome_label,
    plain_reason,
    ratio_cell,
    ratio_phrase,
    verdict,
)

HEADLINE = "emergency_admission"


def _fact(ctx: Any, section: str, key: str) -> Any:
    f = ctx.pub.fact(section, key)
    return None if f is None or f.hidden else f


def _month(d: str | None) -> str:
    import datetime as _dt

    try:
        x = _dt.date.fromisoformat(str(d)[:10])
    except ValueError:
        return str(d or "")
    return f"{x:%B %Y}"


def programme(ctx: Any) -> str | None:
    summary = ctx.narrative.get("summary")
    lead = summary if summary else esc(ctx.manifest.get("programme") or "")
    n_enr = _fact(ctx, "cohort", "n_enrolled")
    n_m = _fact(ctx, "matching", "n_matched")
    n_c = _fact(ctx, "matching", "n_controls")
    bits = []
    if n_enr is not None:
        first, last = (ctx.pub.fact("cohort", k) for k in ("first_index_date", "last_index_date"))
        when = (f" between {_month(first.value)} and {_month(last.value)}" if first is not None and last is not None
                else "")
        bits.append(f"{n_enr.text} people were enrolled{when}.")
    if n_m is not None and n_c is not None:
        bits.append(f"{n_m.text} of them were compared with {n_c.text} similar people who were not enrolled, "
                    "chosen at the same time on age, health and recent hospital use.")
    text = " ".join(esc(b) for b in bits)
    return f"**What the programme did.** {lead}" + (f" {text}" if text else "")


def results(ctx: Any) -> str | None:
    e = effects(ctx)
    failed = ctx.record.failed_outcomes("effects")
    rows, clear = [], []
    for o in outcomes(e):
        rr, diff = row(e, o), row(e, o, scale="difference_per_1000py")
        per = (difference_cell(diff["estimate"], diff["ci_lower"], diff["ci_upper"], o) if diff else "–")
        rows.append({"Outcome": outcome_label(o) + (" (£ per person a year)" if o == "cost" else ""),
                     "Change per 1,000 people a year (95% CI)": per,
                     "Change in per cent (95% CI)": ratio_cell(rr["estimate"], rr["ci_lower"], rr["ci_upper"]) if rr else "–",
                     "In short": verdict(rr)})
        if rr is not None and verdict(rr) in ("Lower", "Higher"):
            clear.append(headline(o, rr, diff))
    for o, why in failed.items():
        if o not in outcomes(e):
            rows.append({"Outcome": outcome_label(o), "Change per 1,000 people a year (95% CI)": "–",
                         "Change in per cent (95% CI)": "–", "In short": "Not estimated: " + plain_reason(why)})
    if not rows:
        return ("**What happened.** No estimate of the programme's effect on hospital use was produced in this run "
                "(see @sec-deviations).")
    n_clear = len(clear)
    summary = ("Among everyone enrolled, none of these changes is clear: every 95% confidence interval includes no "
               "change." if not n_clear else " ".join(clear))
    head = ("**What happened to hospital use.** Change among everyone enrolled compared with the matched comparison "
            "group, with 95% confidence intervals. " + esc(summary))
    table = ctx.table(pd.DataFrame(rows), "Key results: change in hospital use among everyone enrolled",
                      "key-results", labelled=True, workbook=False)
    ro = _rollout_line(ctx)
    return head + "\n\n" + table + (f"\n\n{ro}" if ro else "")


def rollout_headline(ctx: Any) -> dict | None:
    """The one roll-out estimate the report quotes: the Poisson imputation rate ratio.

    Never paired with another estimator's difference (the TWFE difference is for comparison only).
    Older bundles without ``rollout_effects``: the ``practice_rollout`` rate ratio of ``effects``.
    """
    t = ctx.pub.table("rollout_effects")
    if t is not None and "estimator" in t.display.columns:
        r = t.display[(t.display["estimator"] == "imputation_poisson") & (t.display["scale"] == "rate_ratio")]
        return r.iloc[0].to_dict() if len(r) else None
    e = effects(ctx, "practice_rollout")
    r = e[e["scale"] == "rate_ratio"] if len(e) else e
    return r.iloc[0].to_dict() if len(r) else None


def _rollout_line(ctx: Any) -> str | None:
    if ctx.status("rollout")[0] != "ok":
        return None
    r = rollout_headline(ctx)
    if r is None:
        return None
    d, w = ratio_phrase(r["estimate"], r["ci_lower"], r["ci_upper"])
    period = ctx.pub.fact("rollout", "period")
    by = " (analysed by quarter)" if period is not None and period.value == "quarter" else ""
    lab = outcome_label(r["outcome"], lower=True)
    if d in ("lower", "higher"):
        text = (f"Across practices' whole registered populations, {lab} after teams went live were {w} than in "
                f"practices not yet live{by}.")
    else:
        text = (f"Across practices' whole registered populations, there was {w} in {lab} after teams went live "
                f"compared with practices not yet live{by}.")
    return esc(text)


def for_whom(ctx: Any) -> str | None:
    e = effects(ctx)
    tests = ctx.pub.table("subgroup_tests")
    o = HEADLINE if HEADLINE in outcomes(e) else (outcomes(e) or [None])[0]
    if o is None or tests is None:
        return None
    levels = [s for s in dict.fromkeys(e["sub"]) if s != "all"]
    if len(levels) < 2:
        return None
    t = tests.display
    tr = t[t["outcome"] == o]
    p = number(tr["p_value"].iloc[0]) if len(tr) else float("nan")
    var = str(tr["subgroup_var"].iloc[0]) if len(tr) and "subgroup_var" in tr.columns else "age_band"
    rows = [(value_label("subgroup", s).lower() if not value_label("subgroup", s)[:1].isdigit()
             else value_label("subgroup", s), row(e, o, s)) for s in levels]
    rows = [(w, r) for w, r in rows if r is not None]
    # Lead with the group whose interval is clear of no effect, if any.
    rows.sort(key=lambda x: verdict(x[1]) == "No clear difference")
    words = "age" if "age" in var else var.replace("_", " ")
    return "**For whom.** " + esc(interaction_sentence(o, rows, None if math.isnan(p) else p, words)) + \
        " See @sec-for-whom."


def strength(ctx: Any) -> str | None:
    ev = ctx.evidence
    # Checks the design level already names are not repeated as concerns.
    named = ("Balance", "Trends before enrolment") if ev.design_level == 3 else ()
    concerns = [c for c in ev.checks if c.rating in ("some concern", "serious concern") and c.name not in named]
    good = [c.name.lower() for c in ev.checks if c.rating == "good"]
    why = ""
    if good:
        why += f" Good: {', '.join(good)}."
    if concerns:
        why += " Concerns: " + " ".join(c.text for c in concerns)
    level = (f"Maryland Scientific Methods Scale {ev.design_text[0].lower() + ev.design_text[1:]}"
             if ev.design_level else ev.design_text)
    return (f"**How strong is the evidence.** {esc(level)} Our confidence in the main findings is "
            f"**{ev.confidence}**. {esc(why.strip())} See @sec-how-sure.")


def costs(ctx: Any) -> str | None:
    econ = ctx.bundle.facts.get("economics")
    if isinstance(econ, dict) and ctx.status("economics")[0] == "ok":
        # The economic evaluation writes its own key point (issue 16) from published values.
        return None
    e = effects(ctx)
    if "cost" not in outcomes(e):
        return ("**Costs.** Neither hospital costs nor the programme's own costs were analysed, so whether the "
                "programme pays for itself cannot be said.")
    rr, diff = row(e, "cost"), row(e, "cost", scale="difference_per_1000py")
    bits = []
    if diff is not None:
        bits.append(difference_cell(diff["estimate"], diff["ci_lower"], diff["ci_upper"], "cost").replace(
            " (", " per person a year (95% CI ", 1))
    if rr is not None:
        bits.append(ratio_cell(rr["estimate"], rr["ci_lower"], rr["ci_upper"]).replace(" (", " (95% CI ", 1))
    verdict_words = {"Lower": "lower", "Higher": "higher", "No clear difference": "no clear difference"}.get(
        verdict(rr), "not estimable")
    verb = "showed no clear difference" if verdict_words == "no clear difference" else f"were {verdict_words}"
    return ("**Costs.** " + esc(f"Hospital costs of enrolled people's care, compared with the comparison group, "
                                f"{verb}: {', or '.join(bits)}. The programme's own cost was not part of "
                                "this analysis, so whether it pays for itself cannot yet be said."))


def cannot_tell(ctx: Any) -> str | None:
    fu = ctx.evidence.facts.get("follow_up") or {}
    planned = fu.get("planned") or (ctx.manifest.get("report") or {}).get("follow_up_months") or 12
    bits = [f"Patients were followed for up to {int(planned)} months after enrolment"]
    pct = fu.get(f"pct_{int(planned)}m", float("nan"))
    if not math.isnan(pct):
        bits[0] += f", and only {pct:.0f}% of them for the full {int(planned)} months"
    med = fu.get("median_months", float("nan"))
    if not math.isnan(med):
        bits[0] += f" (median {med:.0f} months)"
    text = (bits[0] + ". Integrated care usually takes 3 to 5 years to change hospital use, so this evaluation "
            "cannot yet say whether the effects last, grow or fade, nor what happens to people enrolled later.")
    failed = ctx.record.failed_outcomes("effects")
    if failed:
        text += " It also cannot tell the effect on " + ", ".join(outcome_label(o, lower=True) for o in failed) + \
                " (not estimated because " + "; ".join(plain_reason(w) for w in failed.values()) + \
                "; see @sec-deviations)."
    partial = [a for a in ctx.record.failed() if a.get("status") == "partial"]
    if partial:
        text += (" Some planned results are missing for particular groups ("
                 + "; ".join(f"{outcome_label(a.get('outcome', ''), lower=True)} by "
                             f"{str(a.get('subgroup', '')).replace('_', ' ').replace('age band', 'age')}"
                             for a in partial) + "; see @sec-deviations).")
    return "**What this evaluation cannot yet tell.** " + esc(text).replace("\\@sec\\-deviations", "@sec-deviations")


#: The paragraphs of the key points, in order. A section adds one by inserting a function here.
def _whole_area(ctx: Any) -> str | None:
    from evaltool.report.sections.area import key_point

    return key_point(ctx)


KEY_POINTS = [programme, results, _whole_area, for_whom, strength, costs, cannot_tell]


def build(ctx: Any) -> Section:
    paras = [p for p in (fn(ctx) for fn in KEY_POINTS) if p]
    return Section("key-points", "Key points", "\n\n".join(paras), unnumbered=True)
