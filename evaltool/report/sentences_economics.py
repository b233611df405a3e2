"""Plain English for "Does it pay for itself?": pure functions of the bundle's ``economics`` facts.

Every function takes the ``facts["economics"]`` mapping (see :mod:`evaltool.economics.tables`)
and returns text (or ``""`` when the facts it needs are missing). Wording follows each estimate
*and its interval*: a saving, a fall or a gain is claimed only when the whole interval lies on
that side; otherwise the sentence says it is not clear and gives the range. Money is in pounds
of the stated price year; en-GB spelling.

Examples
--------
>>> money(3190125.6), money(1060.76), money(-45.2)
('£3.19 million', '£1,061', '−£45')
>>> probability_phrase(0.0), probability_phrase(0.973)
('less than 1%', '97%')
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = [
    "activity_sentence",
    "break_even_sentence",
    "budget_impact_display",
    "budget_impact_sentence",
    "cost_consequence_display",
    "cost_effectiveness_display",
    "cost_per_admission_sentence",
    "cost_utility_sentence",
    "key_points_paragraph",
    "money",
    "pays_for_itself_sentence",
    "probability_phrase",
    "programme_cost_sentence",
    "programme_costs_display",
    "return_sentence",
    "section_sentences",
    "subgroup_sentence",
]

_MINUS = "\u2212"
_GROUPS = {"under_65": "under 65", "65_plus": "aged 65 and over"}


def _ok(*xs: Any) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x)) for x in xs)


def money(x: float, ref: float | None = None) -> str:
    """Pounds for reading: millions to 2 decimals, else whole pounds; a true minus sign."""
    v, r = abs(float(x)), abs(float(x)) if ref is None else abs(float(ref))
    if r >= 1e6:
        t = f"£{v / 1e6:,.2f} million"
    else:
        t = f"£{v:,.0f}"
    return (_MINUS + t) if x < 0 and t not in ("£0", "£0.00 million") else t


def _num(x: float, ref: float) -> str:
    r = abs(ref)
    return f"{abs(x):,.0f}" if r >= 100 else f"{abs(x):.1f}" if r >= 1 else f"{abs(x):.2f}"


def probability_phrase(p: float) -> str:
    """A probability as a percentage, never 0% or 100% from a finite bootstrap."""
    if not _ok(p):
        return "not estimable"
    if p < 0.01:
        return "less than 1%"
    if p > 0.99:
        return "more than 99%"
    return f"{100 * p:.0f}%"


def _period(f: Mapping[str, Any]) -> str:
    import datetime as dt

    try:
        a = dt.date.fromisoformat(str(f["costing_start"]))
        b = dt.date.fromisoformat(str(f["costing_end"]))
    except (KeyError, ValueError):
        return "the costing period"
    return f"{a:%B %Y} to {b:%B %Y}"


def programme_cost_sentence(f: Mapping[str, Any]) -> str:
    """What the programme cost, in total and per enrolled person-year.

    Examples
    --------
    >>> programme_cost_sentence({"programme_cost_total": 3190125.6, "programme_cost_per_year": 1060.8,
    ...     "costing_start": "2023-04-01", "costing_end": "2025-03-31", "price_year_label": "2024/25",
    ...     "staff_cost_share_pct": 86.3})
    'The programme cost £3.19 million from April 2023 to March 2025 (2024/25 prices), £1,061 for each enrolled patient for each year on the caseload; staff were 86% of the cost.'
    """
    tot, per = f.get("programme_cost_total"), f.get("programme_cost_per_year")
    if not _ok(tot, per):
        return ""
    s = (f"The programme cost {money(tot)} from {_period(f)} ({f.get('price_year_label', '')} prices), "
         f"{money(per)} for each enrolled patient for each year on the caseload")
    if _ok(f.get("staff_cost_share_pct")):
        s += f"; staff were {f['staff_cost_share_pct']:.0f}% of the cost"
    return s + "."


def _change(e: float, lo: float, hi: float, noun: str, fewer: str = "fewer", more: str = "more") -> tuple[str, str]:
    ref = max(abs(e), abs(lo), abs(hi))
    n = lambda x: _num(x, ref)
    if hi < 0:
        return "fall", f"{n(e)} {fewer} {noun} (95% CI {n(hi)} to {n(lo)} {fewer})"
    if lo > 0:
        return "rise", f"{n(e)} {more} {noun} (95% CI {n(lo)} to {n(hi)} {more})"
    return "unclear", f"no clear change in {noun} (95% CI from {n(lo)} {fewer} to {n(hi)} {more})"


def _money_change(e: float, lo: float, hi: float) -> tuple[str, str]:
    ref = max(abs(e), abs(lo), abs(hi))
    m = lambda x: money(abs(x), ref)
    if hi < 0:
        return "fall", f"fell by {m(e)} per person-year (95% CI {m(hi)} to {m(lo)})"
    if lo > 0:
        return "rise", f"rose by {m(e)} per person-year (95% CI {m(lo)} to {m(hi)})"
    return "unclear", f"showed no clear change (95% CI from {m(lo)} lower to {m(hi)} higher)"


def activity_sentence(f: Mapping[str, Any], prefix: str = "") -> str:
    """Emergency admissions avoided and the change in hospital activity cost, per enrolled person-year.

    Examples
    --------
    >>> activity_sentence({"admissions_change": -0.040, "admissions_change_ci_lower": -0.113,
    ...     "admissions_change_ci_upper": 0.028, "activity_cost_change": -111.8,
    ...     "activity_cost_change_ci_lower": -400.7, "activity_cost_change_ci_upper": 214.7})
    'Compared with similar patients who were not enrolled, enrolled patients had no clear change in emergency admissions (95% CI from 0.11 fewer to 0.03 more per person-year); their hospital activity costs showed no clear change (95% CI from £401 lower to £215 higher).'
    """
    keys = [f"{prefix}admissions_change{s}" for s in ("", "_ci_lower", "_ci_upper")]
    ckeys = [f"{prefix}activity_cost_change{s}" for s in ("", "_ci_lower", "_ci_upper")]
    parts = []
    if _ok(*(f.get(k) for k in keys)):
        d, ph = _change(*(float(f[k]) for k in keys), "emergency admissions")
        ph = ph.replace(")", " per person-year)", 1) if d == "unclear" else ph.replace(" (", " per person-year (", 1)
        parts.append(f"enrolled patients had {ph}")
        if not prefix and d == "fall" and _ok(f.get("admissions_avoided_cohort")):
            parts[-1] += f", about {f['admissions_avoided_cohort']:,.0f} fewer across the enrolled cohort"
    if _ok(*(f.get(k) for k in ckeys)):
        _, ph = _money_change(*(float(f[k]) for k in ckeys))
        parts.append(f"{'their ' if parts else 'enrolled patients’ '}hospital activity costs {ph}")
    if not parts:
        return ""
    return "Compared with similar patients who were not enrolled, " + "; ".join(parts) + "."


def pays_for_itself_sentence(f: Mapping[str, Any], prefix: str = "") -> str:
    """Whether the savings covered the programme's cost, with the bootstrap probability that they did.

    Examples
    --------
    >>> pays_for_itself_sentence({"net_cost": 948.9, "net_cost_ci_lower": 660.1, "net_cost_ci_upper": 1275.4,
    ...                           "probability_pays_for_itself": 0.0})
    'It did not pay for itself: after the change in hospital costs, it cost a net £949 per enrolled person-year (95% CI £660 to £1,275), and the probability that the savings covered its cost was less than 1%.'
    """
    e, lo, hi = (f.get(f"{prefix}net_cost{s}") for s in ("", "_ci_lower", "_ci_upper"))
    p = f.get(f"{prefix}probability_pays_for_itself")
    if not _ok(e, lo, hi, p):
        return ""
    ref = max(abs(e), abs(lo), abs(hi))
    m = lambda x: money(abs(x), ref)
    prob = f"the probability that the savings covered its cost was {probability_phrase(p)}"
    if hi < 0:
        return (f"It paid for itself: the fall in hospital costs exceeded its cost, saving a net {m(e)} per enrolled "
                f"person-year (95% CI {m(hi)} to {m(lo)}); {prob}.")
    if lo > 0:
        return (f"It did not pay for itself: after the change in hospital costs, it cost a net {m(e)} per enrolled "
                f"person-year (95% CI {m(lo)} to {m(hi)}), and {prob}.")
    est = f"a net cost of {m(e)}" if e >= 0 else f"a net saving of {m(e)}"
    return (f"It is not clear whether it paid for itself: the estimate is {est} per enrolled person-year, but the "
            f"95% CI runs from a saving of {m(lo)} to a cost of {m(hi)}; {prob}.")


def return_sentence(f: Mapping[str, Any]) -> str:
    """Return on investment as pence back in lower hospital costs for each pound spent.

    Examples
    --------
    >>> return_sentence({"roi": -0.893, "roi_ci_lower": -1.202, "roi_ci_upper": -0.622})
    'For each £1 spent on the programme, hospital costs fell by about 11p (95% CI a rise of 20p to a fall of 38p): a return on investment of −89%.'
    """
    e, lo, hi = (f.get(f"roi{s}") for s in ("", "_ci_lower", "_ci_upper"))
    if not _ok(e, lo, hi):
        return ""
    back = [100 * (1 + float(x)) for x in (e, lo, hi)]  # pence back per pound

    def p(x: float) -> str:
        return f"£{x / 100:,.2f}" if abs(x) >= 100 else f"{abs(x):.0f}p"

    def signed(x: float) -> str:
        return f"a fall of {p(x)}" if x >= 0 else f"a rise of {p(x)}"

    lead = (f"hospital costs fell by about {p(back[0])}" if back[0] >= 0 else
            f"hospital costs rose by about {p(back[0])}")
    roi = f"{100 * float(e):.0f}%".replace("-", _MINUS)
    return (f"For each £1 spent on the programme, {lead} (95% CI {signed(back[1])} to {signed(back[2])}): a return on "
            f"investment of {roi}.")


def break_even_sentence(f: Mapping[str, Any], prefix: str = "") -> str:
    """The fall in emergency admissions that would pay for the programme, against the fall estimated.

    Examples
    --------
    >>> break_even_sentence({"break_even_pct_reduction": 61.4, "break_even_admissions_per_year": 0.383,
    ...     "cost_per_admission": 2770.9, "break_even_achievable": True, "admissions_rate_ratio": 0.936,
    ...     "admissions_rate_ratio_ci_lower": 0.832, "admissions_rate_ratio_ci_upper": 1.049})
    'To pay for itself through emergency admissions alone (other activity unchanged), it would have had to cut them by 61% among enrolled patients (0.38 fewer per person-year at £2,771 each); the estimated change was unclear (95% CI from a 17% fall to a 5% rise).'
    """
    pct = f.get(f"{prefix}break_even_pct_reduction")
    need = f.get(f"{prefix}break_even_admissions_per_year")
    c = f.get("cost_per_admission")
    if not _ok(need, c):
        return ""
    est = ""
    rr = [f.get(f"{prefix}admissions_rate_ratio{s}") for s in ("", "_ci_lower", "_ci_upper")]
    if _ok(*rr):
        r, r_lo, r_hi = (float(x) for x in rr)
        if r_hi < 1:
            est = (f"; the estimated fall was {100 * (1 - r):.0f}% (95% CI {100 * (1 - r_hi):.0f}% to "
                   f"{100 * (1 - r_lo):.0f}%)")
        elif r_lo > 1:
            est = (f"; instead they rose by {100 * (r - 1):.0f}% (95% CI {100 * (r_lo - 1):.0f}% to "
                   f"{100 * (r_hi - 1):.0f}%)")
        else:
            est = (f"; the estimated change was unclear (95% CI from a {100 * (1 - r_lo):.0f}% fall to a "
                   f"{100 * (r_hi - 1):.0f}% rise)")
    if not f.get(f"{prefix}break_even_achievable") or not _ok(pct):
        exp = f.get(f"{prefix}admissions_expected")
        tail = f" ({_num(exp, exp)} per person-year at {money(c)} each)" if _ok(exp) else ""
        return (f"Even avoiding every emergency admission expected without the programme{tail} would not cover its "
                f"cost, so it cannot pay for itself through emergency admissions alone{est}.")
    return (f"To pay for itself through emergency admissions alone (other activity unchanged), it would have had to "
            f"cut them by {pct:.0f}% among enrolled patients ({_num(need, need)} fewer per person-year at {money(c)} "
            f"each){est}.")


def cost_per_admission_sentence(f: Mapping[str, Any], prefix: str = "") -> str:
    """Programme cost per emergency admission avoided, or why it is not given.

    Examples
    --------
    >>> cost_per_admission_sentence({"cost_per_admission_avoided": None,
    ...     "cost_per_admission_avoided_status": "interval_includes_zero"})[:60]
    'A cost per emergency admission avoided is not given: the int'
    """
    st = f.get(f"{prefix}cost_per_admission_avoided_status")
    v = f.get(f"{prefix}cost_per_admission_avoided")
    if st == "ok" and _ok(v):
        return f"The programme cost {money(v)} for each emergency admission avoided."
    if st == "interval_includes_zero":
        return ("A cost per emergency admission avoided is not given: the interval for admissions avoided includes "
                "zero, so the programme may have avoided none.")
    if st == "more_admissions":
        return "A cost per emergency admission avoided is not given: emergency admissions rose."
    return ""


def cost_utility_sentence(f: Mapping[str, Any]) -> str:
    """QALYs gained, the ICER or the quadrant, and the probability of cost-effectiveness at each threshold.

    Examples
    --------
    >>> cost_utility_sentence({"qaly_design": None})
    ''
    """
    d = f.get("qaly_design")
    g, lo, hi = f.get("qaly_gain"), f.get("qaly_gain_ci_lower"), f.get("qaly_gain_ci_upper")
    if d is None or not _ok(g, lo, hi):
        return ""
    h = f.get("qaly_horizon_years") or 1
    over = "over a year" if h == 1 else f"over {h:g} years"
    how = ("compared with matched patients who answered the same questionnaire, allowing for differences at "
           "the start" if d == "matched" else
           "compared with their own health at enrolment (there was no comparison group with enough responses, so "
           "this assumes their health would otherwise have stayed the same; recovery after a crisis would make it "
           "overstate, and decline with age understate, the gain)")
    if lo > 0:
        q = f"enrolled patients gained {g:.3f} QALYs each {over} (95% CI {lo:.3f} to {hi:.3f})"
    elif hi < 0:
        q = f"enrolled patients lost {abs(g):.3f} QALYs each {over} (95% CI {abs(hi):.3f} to {abs(lo):.3f})"
    else:
        q = f"there was no clear change in QALYs {over} (95% CI {lo:.3f} to {hi:.3f})"
    s = f"On quality of life (EQ-5D), {q}, {how}."
    icer, st = f.get("icer"), f.get("icer_status")
    if st == "icer" and _ok(icer):
        s += f" Each QALY gained cost {money(icer)} (the incremental cost-effectiveness ratio)."
    elif st == "dominant":
        s += " The programme was both cheaper and better for health than usual care (it dominates)."
    elif st == "dominated":
        s += " The programme cost more and did not improve health (it is dominated by usual care)."
    elif st == "unstable":
        s += (" A cost per QALY is not given: with a QALY change whose interval includes zero, the ratio is "
              "unstable; the net monetary benefit below is the better guide.")
    probs = []
    for t in f.get("thresholds") or []:
        k = f"{float(t['value']):.0f}"
        p = f.get(f"probability_cost_effective_{k}")
        if _ok(p):
            probs.append(f"{probability_phrase(p)} at {money(float(t['value']))} per QALY")
    if probs:
        s += " The probability that it is cost-effective is " + " and ".join(probs) + " (NICE's thresholds)."
    return s


def budget_impact_sentence(f: Mapping[str, Any]) -> str:
    """Net cost of extending to the eligible population over the horizon, under the estimate and scenarios.

    Examples
    --------
    >>> budget_impact_sentence({"bi_years": 5, "bi_eligible": 3827, "bi_net_cost_estimate": 14.47e6,
    ...     "bi_net_cost_favourable": 9.94e6, "bi_net_cost_unfavourable": 19.59e6, "bi_net_cost_grows": 14.0e6,
    ...     "bi_net_cost_fades": 15.1e6, "bi_admissions_avoided_estimate": 628})[:93]
    'Extending the programme to about 3,827 eligible people would cost a net £14.47 million over 5'
    """
    keys = ("bi_net_cost_estimate", "bi_net_cost_favourable", "bi_net_cost_unfavourable")
    if not _ok(*(f.get(k) for k in keys), f.get("bi_eligible"), f.get("bi_years")):
        return ""
    e, fav, unf = (float(f[k]) for k in keys)
    word = "cost a net" if e >= 0 else "save a net"
    s = (f"Extending the programme to about {f['bi_eligible']:,.0f} eligible people would {word} {money(abs(e))} "
         f"over {int(f['bi_years'])} years ({money(fav)} to {money(unf)} across the interval of the effect")
    if _ok(f.get("bi_net_cost_grows"), f.get("bi_net_cost_fades")):
        s += f"; {money(f['bi_net_cost_grows'])} if the effect grows, {money(f['bi_net_cost_fades'])} if it fades"
    s += ")"
    a = f.get("bi_admissions_avoided_estimate")
    if _ok(a) and a > 0:
        s += f", avoiding about {a:,.0f} emergency admissions"
    return s + "."


def subgroup_sentence(f: Mapping[str, Any]) -> str:
    """Net cost and the probability of paying for itself in each subgroup (age bands).

    Examples
    --------
    >>> subgroup_sentence({"under_65.net_cost": 898.4, "under_65.net_cost_ci_lower": 773.6,
    ...     "under_65.net_cost_ci_upper": 1014.6, "under_65.probability_pays_for_itself": 0.0})
    'By age: for enrolled patients under 65 the net cost was £898 per person-year (95% CI £774 to £1,015; probability of paying for itself less than 1%).'
    """
    parts = []
    for key, label in _GROUPS.items():
        e, lo, hi = (f.get(f"{key}.net_cost{s}") for s in ("", "_ci_lower", "_ci_upper"))
        p = f.get(f"{key}.probability_pays_for_itself")
        if not _ok(e, lo, hi, p):
            continue
        ref = max(abs(e), abs(lo), abs(hi))
        parts.append(f"for enrolled patients {label} the net cost was {money(e, ref)} per person-year (95% CI "
                     f"{money(lo, ref)} to {money(hi, ref)}; probability of paying for itself {probability_phrase(p)})")
    return ("By age: " + "; ".join(parts) + ".") if parts else ""


def key_points_paragraph(f: Mapping[str, Any]) -> str:
    """One plain-English paragraph for the key points: cost, activity avoided, pays for itself, break-even."""
    parts = [programme_cost_sentence(f), activity_sentence(f), pays_for_itself_sentence(f), break_even_sentence(f)]
    return " ".join(p for p in parts if p)


def section_sentences(f: Mapping[str, Any]) -> list[str]:
    """The "Does it pay for itself?" section's findings, in order."""
    out = [programme_cost_sentence(f), activity_sentence(f), pays_for_itself_sentence(f), return_sentence(f),
           break_even_sentence(f), cost_per_admission_sentence(f), subgroup_sentence(f), cost_utility_sentence(f),
           budget_impact_sentence(f)]
    if f.get("sensitivity_top_parameter") and _ok(f.get("sensitivity_top_low"), f.get("sensitivity_top_high")):
        name = str(f["sensitivity_top_parameter"])
        rng = 100 * float(f.get("sensitivity_range", 0.2))
        out.append(f"Of the cost figures tested one at a time (each {rng:.0f}% "
                   f"either way unless the plan gives a range), “{name}” moves the net cost most "
                   f"({money(f['sensitivity_top_low'])} to {money(f['sensitivity_top_high'])} per enrolled "
                   "person-year); the statistical uncertainty in the change in hospital costs moves it more (see the "
                   "tornado diagram).")
    return [s for s in out if s]


def cost_consequence_display(table: pd.DataFrame) -> pd.DataFrame:
    """The cost-consequence table for reading: everyone's rows, estimates with intervals as text.

    Examples
    --------
    >>> t = pd.DataFrame([{"group": "everyone", "measure": "Net cost", "unit": "£", "per_person_year": 949.0,
    ...     "ci_lower": 660.0, "ci_upper": 1275.0, "whole_cohort": 2.85e6, "cohort_ci_lower": 1.99e6,
    ...     "cohort_ci_upper": 3.84e6, "per_1000_population_year": 9105.0, "population_ci_lower": 6334.0,
    ...     "population_ci_upper": 12238.0}])
    >>> cost_consequence_display(t).iloc[0, 1]
    '£949 (£660 to £1,275)'
    """
    t = table[table["group"] == "everyone"] if "group" in table.columns else table
    rows = []
    for r in t.itertuples(index=False):
        row = {"Measure": r.measure}
        for col, (e, lo, hi) in (("Per enrolled person-year", (r.per_person_year, r.ci_lower, r.ci_upper)),
                                 ("Enrolled cohort, whole costing period", (r.whole_cohort, r.cohort_ci_lower,
                                                                            r.cohort_ci_upper)),
                                 ("Per 1,000 population a year", (r.per_1000_population_year, r.population_ci_lower,
                                                                  r.population_ci_upper))):
            row[col] = _fmt(e, lo, hi, r.unit)
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(e: float, lo: float, hi: float, unit: str) -> str:
    if not _ok(e):
        return "–"
    ref = max(abs(x) for x in (e, lo, hi) if _ok(x))
    if unit == "£":
        one = lambda x: money(x, ref)
    else:
        one = lambda x: (_MINUS if x < 0 and _num(x, ref).strip("0.,") else "") + _num(x, ref)
    return one(e) + (f" ({one(lo)} to {one(hi)})" if _ok(lo, hi) else "")


def _ci(e: Any, lo: Any, hi: Any, kind: str) -> str:
    if not _ok(e):
        return "–"
    if kind == "£":
        ref = max(abs(float(x)) for x in (e, lo, hi) if _ok(x))
        one = lambda x: money(float(x), ref)
    elif kind == "%":
        one = lambda x: f"{100 * float(x):.0f}%"
    else:
        one = lambda x: f"{float(x):.3f}".replace("-", _MINUS)
    return one(e) + (f" ({one(lo)} to {one(hi)})" if _ok(lo, hi) else "")


def programme_costs_display(table: pd.DataFrame) -> pd.DataFrame:
    """The programme cost table for reading: item, basis, source with its price year, and cost.

    Examples
    --------
    >>> t = pd.DataFrame([{"category": "Staff", "item": "Nurse", "basis": "2 WTE x cost per WTE-year",
    ...     "source": "ledger", "price_year": "2023/24", "cost": 103000.0, "share_pct": 100.0}])
    >>> programme_costs_display(t).iloc[0].tolist()
    ['Staff: Nurse', '2 WTE × cost per WTE-year', 'ledger (2023/24 prices)', '£103,000']
    """
    rows = []
    for r in table.itertuples(index=False):
        total = str(r.category) == "Total"
        src = "" if total or pd.isna(r.source) else str(r.source)
        if src and not pd.isna(r.price_year) and str(r.price_year):
            src += f" ({r.price_year} prices)"
        rows.append({"Item": "Total" if total else f"{r.category}: {r.item}",
                     "Basis": "" if total or pd.isna(r.basis) else str(r.basis).replace(" x ", " × "),
                     "Source": src, "Cost": money(float(r.cost)) if _ok(r.cost) else "–"})
    return pd.DataFrame(rows)


def cost_effectiveness_display(table: pd.DataFrame) -> pd.DataFrame:
    """The cost-utility table for reading: measure, estimate with interval, note."""
    rows = []
    for r in table.itertuples(index=False):
        m = str(r.measure)
        kind = "%" if m.startswith("Probability") else "q" if "QALY" in m and "per QALY" not in m else "£"
        note = "" if pd.isna(r.note) else str(r.note)
        rows.append({"Measure": m, "Estimate (95% CI)": _ci(r.estimate, r.ci_lower, r.ci_upper, kind),
                     "Note": note.replace("matched", "matched comparison").replace("before_after", "before/after")})
    return pd.DataFrame(rows)


def budget_impact_display(totals: pd.DataFrame) -> pd.DataFrame:
    """Budget impact totals for reading, one row per scenario."""
    rows = []
    for r in totals.itertuples(index=False):
        rows.append({"Scenario": str(r.scenario).capitalize(), "Programme cost": money(r.programme_cost),
                     "Change in activity cost": money(r.activity_cost_change), "Net cost": money(r.net_cost),
                     "Net cost, present value": money(r.net_cost_present_value),
                     "Emergency admissions avoided": f"{r.emergency_admissions_avoided:,.0f}".replace("-", _MINUS)})
    return pd.DataFrame(rows)
