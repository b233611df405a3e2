"""Plain-English wording for the whole-area section: pure functions of the published ``facts["area"]``.

The headline uses the same grammar as the other designs (:mod:`evaltool.report.sentences`): the rate
ratio with its interval, then the difference per 1,000 people a year.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from evaltool.report.sentences import difference_phrase, outcome_label, ratio_phrase

__all__ = ["AREA_HEADING", "AREA_INTRO", "area_sentences", "design_choice_sentences", "headline_sentence",
           "its_error_sentences", "scale_and_interval_sentences"]

AREA_HEADING = "The whole area: what happened compared with other areas and with its own past"
AREA_INTRO = ("A programme that covers a whole place leaves no untreated people or practices inside the area to"
              " compare with. This part compares the area's monthly rate with what would have been expected"
              " without the programme: from a weighted set of other areas that tracked it closely before go-live"
              " (synthetic comparisons) and from the area's own trend and seasonal pattern before go-live"
              " (interrupted time series).")

_METHOD_WORDS = {
    "sdid": "synthetic difference-in-differences (a weighted set of comparison areas, allowing for a constant gap)",
    "synthetic_control": "synthetic control (a weighted average of comparison areas)",
    "ascm": "augmented synthetic control (a weighted set of comparison areas, corrected for what the weights"
            " cannot match)",
    "synthetic_control_adh": "synthetic control with area characteristics",
    "did": "difference-in-differences against the average comparison area",
    "its": "interrupted time series (the area's own trend and seasonality before go-live)",
}

_DESIGN_WORDS = {
    "matched_cohort": "matching enrolled people with similar people who were not enrolled",
    "practice_rollout": "comparing practices that had gone live with those that had not",
    "interrupted_time_series": "comparing the area with its own past (interrupted time series)",
    "synthetic_comparison_areas": "comparing the area with other areas (synthetic control and synthetic DiD)",
}


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def headline_sentence(facts: Mapping[str, Any]) -> str:
    """The headline: the chosen design's rate ratio and difference per 1,000 person-years.

    Examples
    --------
    >>> headline_sentence({"treated_area": "Southvale", "outcome": "emergency_admission", "rate_ratio": 0.9,
    ...     "rate_ratio_ci": [0.85, 0.95], "estimate_per_1000py": -12.0, "ci_per_1000py": [-18.0, -6.0]})
    'Across Southvale as a whole, emergency admissions were 10% lower (95% CI 5% to 15% lower) than expected without the programme; that is 12 fewer admissions per 1,000 people a year (95% CI 6 to 18 fewer).'
    """
    rr, ci = _f(facts.get("rate_ratio")), facts.get("rate_ratio_ci") or [None, None]
    if rr is None or _f(ci[0]) is None or _f(ci[1]) is None:
        return (f"No whole-area estimate could be made for {facts.get('treated_area', 'the area')}.")
    outcome = str(facts.get("outcome", "emergency_admission"))
    area = str(facts.get("treated_area", "the area"))
    d_r, w_r = ratio_phrase(rr, float(ci[0]), float(ci[1]))
    lab = outcome_label(outcome, lower=True)
    if d_r in ("lower", "higher"):
        s = f"Across {area} as a whole, {lab} were {w_r} than expected without the programme"
    else:
        s = f"Across {area} as a whole, there was {w_r} in {lab} compared with what was expected without the programme"
    d, dci = _f(facts.get("estimate_per_1000py")), facts.get("ci_per_1000py") or [None, None]
    if d is not None and _f(dci[0]) is not None and _f(dci[1]) is not None:
        d_d, w_d = difference_phrase(d, float(dci[0]), float(dci[1]), outcome)
        s += f"; that is {w_d}" if d_d in ("lower", "higher") else f"; in absolute terms, {w_d}"
    return s + "."


def design_choice_sentences(facts: Mapping[str, Any]) -> list[str]:
    """Why this design: which designs the data supported and why the headline one was chosen.

    Examples
    --------
    >>> design_choice_sentences({"design_support": {"matched_cohort": False, "interrupted_time_series": True},
    ...     "headline_method": "its", "headline_reason": "there are too few comparison areas"})[0]
    'The data support comparing the area with its own past (interrupted time series); they do not support matching enrolled people with similar people who were not enrolled.'
    """
    sup = dict(facts.get("design_support") or {})
    area_only = facts.get("person_level_data") is False
    if area_only:  # an area panel alone: the person and practice designs were never possible
        sup = {k: v for k, v in sup.items() if k not in ("matched_cohort", "practice_rollout")}
    yes = [_DESIGN_WORDS.get(k, k) for k, v in sup.items() if v]
    no = [_DESIGN_WORDS.get(k, k) for k, v in sup.items() if not v]
    out = []
    if yes or no:
        s = "The data support " + (_join(yes) if yes else "none of the designs")
        if no:
            s += f"; they do not support {_join(no)}"
        out.append(s + ".")
    if area_only:
        out.append("The data are monthly counts for whole areas, with no records of individual people or practices,"
                   " so designs that compare people or practices inside the area were not possible.")
    m = facts.get("headline_method")
    if m:
        why = str(facts.get("headline_reason") or "").strip()
        out.append(f"The main result uses {_METHOD_WORDS.get(str(m), str(m))}" + (f" because {why}" if why else "")
                   + ".")
    return out


def _pct(log_ratio: float) -> str:
    v = 100 * (math.exp(log_ratio) - 1)
    return f"{abs(v):.0f}% {'lower' if v < 0 else 'higher'}" if round(abs(v)) else "a change of less than 1%"


def scale_and_interval_sentences(facts: Mapping[str, Any]) -> list[str]:
    """How the comparison-area effect was measured, how its interval was made, and whether synthetic control
    could match the area before go-live.

    Examples
    --------
    >>> scale_and_interval_sentences({"effect_scale": "log", "n_donors": 20, "methods_run": ["sdid"],
    ...                               "placebo_df": 19})[0][:60]
    'The comparison with other areas was made on the logarithm of'
    """
    out = []
    n_d = facts.get("n_donors")
    ran = set(facts.get("methods_run") or [])
    if not ran & {"sdid", "ascm", "synthetic_control", "did", "synthetic_control_adh"}:
        return out
    if facts.get("effect_scale") == "log":
        out.append("The comparison with other areas was made on the logarithm of each area's monthly rate, so the"
                   " effect is a percentage change; the difference per 1,000 people applies that percentage to the"
                   " area's observed rate after go-live. Areas with higher rates swing more from month to month,"
                   " and on this scale the evaluated area can be judged against the comparison areas' swings.")
    pdf = _f(facts.get("placebo_df"))
    if n_d:
        s = (f"The interval comes from re-running the analysis with each of the {int(n_d)} comparison areas in turn"
             " treated as if it had gone live")
        if pdf is not None and math.isfinite(pdf):
            s += f", and allows for there being only {int(n_d)} of them (a t distribution with {pdf:.0f} degrees of freedom)"
        out.append(s + ".")
    if facts.get("outside_donor_range"):
        n_out = max(int(facts.get("pre_months_above_all_donors") or 0), int(facts.get("pre_months_below_all_donors")
                                                                           or 0))
        side = "higher" if facts.get("outside_side") == "above" else "lower"
        out.append(f"Before go-live the area's rate was {side} than every comparison area's in {n_out} of"
                   f" {facts.get('n_pre_months')} months. No weighted average of comparison areas can reach such a"
                   " level, so synthetic control is biased here and is shown for comparison only; "
                   + ("augmented synthetic control and synthetic difference-in-differences allow"
                      if "ascm" in ran else "synthetic difference-in-differences allows")
                   + " for a constant gap between the area and its comparison.")
    if "ascm" in ran:
        fe = facts.get("ascm_fixed_effects")
        out.append("Augmented synthetic control (Ben-Michael, Feller and Rothstein 2021) "
                   + ("first takes away each area's own average before go-live, then " if fe else "")
                   + "weights the comparison areas to track the area before go-live and corrects what the weights"
                   " still miss with a regression of each month on the months before go-live; its interval comes"
                   " from the same re-running with each comparison area treated as if it had gone live.")
    return out


def _rho_words(rho: float | None, acf1: float | None) -> str:
    if rho is None:
        return ""
    if rho >= 0.005:
        return f" (estimated correlation between consecutive months {rho:.2f})"
    if acf1 is not None and acf1 < -0.1:
        return (f" (in these data consecutive months were, if anything, negatively correlated, lag-1 r = {acf1:.2f};"
                " the model does not use a negative correlation, so its interval errs on the wide side)")
    return " (these data showed no correlation between consecutive months beyond chance)"


def its_error_sentences(facts: Mapping[str, Any]) -> list[str]:
    """How the interrupted time series allowed for months that run together (autocorrelation).

    Examples
    --------
    >>> its_error_sentences({"its_errors": "ar1", "its_ar1_rho": 0.3, "its_ljung_box_p": 0.2})[0][:50]
    'The interrupted time series allows the monthly rat'
    """
    lb = _f(facts.get("its_ljung_box_p"))
    err = facts.get("its_errors")
    if err is None and lb is None:
        return []
    found = ("" if lb is None else " The first, simpler model's residuals showed " + ("clear" if lb < 0.05 else
             "no clear") + f" autocorrelation (Ljung-Box p = {lb:.3f}).")
    if err == "ar1":
        rho = _f(facts.get("its_ar1_rho"))
        df = _f(facts.get("its_df"))
        what = ("the area's monthly rate relative to the comparison areas' total to drift above or below its trend"
                if facts.get("its_comparative") else "the monthly rate to drift above or below its trend and seasonal"
                " pattern")
        s = (f"The interrupted time series allows {what} for several months at a time, on top of the chance"
             " variation in counts"
             + _rho_words(rho, _f(facts.get("its_acf1")))
             + ". With only a few years of months that correlation is uncertain, and the interval allows for it"
             + (f" (a t distribution with {df:.0f} degrees of freedom)" if df is not None and math.isfinite(df) else "")
             + "." + found)
        return [s]
    if err == "newey_west":
        return [("Its standard errors allow for months that run together (Newey-West), which with a few years of"
                 " months can still give intervals that are too narrow." + found).strip()]
    return [("Its standard errors come from the count model alone and do not allow for months that run"
             " together." + found).strip()]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def area_sentences(facts: Mapping[str, Any]) -> list[str]:
    """Every sentence of the section, in order: headline, design choice, fit and checks, other designs.

    Examples
    --------
    >>> area_sentences({})
    []
    """
    if not facts:
        return []
    out = [headline_sentence(facts)]
    out += design_choice_sentences(facts)
    n_d, n_pre, n_post = facts.get("n_donors"), facts.get("n_pre_months"), facts.get("n_post_months")
    if n_pre is not None and n_post is not None:
        out.append(f"The analysis used {n_pre} months before go-live ({facts.get('go_live', '')}) and {n_post} months"
                   f" after" + (f", with {n_d} comparison areas." if n_d else "."))
    if facts.get("phased"):
        out.append("Teams went live in the area's practices at different dates; the interrupted time series counts"
                   " the programme in each month in proportion to the share of the population already covered.")
    out += scale_and_interval_sentences(facts)
    p_ratio = _f(facts.get("adh_placebo_p_rmspe_ratio"))
    if p_ratio is not None and n_d:
        out.append(f"When each comparison area in turn was treated as if it had gone live, "
                   f"{round(p_ratio * (int(n_d) + 1))} of {int(n_d) + 1} areas (including this one) showed a change"
                   f" at least as large relative to how well they were tracked before go-live (placebo p ="
                   f" {p_ratio:.2f}).")
    out += its_error_sentences(facts)
    outside = bool(facts.get("outside_donor_range"))
    others = []
    for m in ("sdid", "ascm", "synthetic_control", "synthetic_control_adh", "did", "its"):
        if m == facts.get("headline_method"):
            continue
        rr, ci = _f(facts.get(f"{m}_rate_ratio")), facts.get(f"{m}_rate_ratio_ci") or [None, None]
        if rr is not None and _f(ci[0]) is not None and _f(ci[1]) is not None:
            flag = " (biased here: see above)" if outside and m in ("synthetic_control", "synthetic_control_adh") else ""
            others.append(f"{_METHOD_WORDS[m].split(' (')[0]} {rr:.2f} ({float(ci[0]):.2f} to {float(ci[1]):.2f})"
                          + flag)
    if others:
        out.append("Other designs gave rate ratios of " + _join(others) + "; agreement between designs makes the"
                   " result more credible, disagreement shows how much it depends on the method.")
    loo = facts.get("leave_one_out_range")
    if isinstance(loo, list) and len(loo) == 2 and all(_f(x) is not None for x in loo):
        fmt = ((lambda v: _pct(v)) if facts.get("effect_scale") == "log"
               else (lambda v: f"{v:.1f} per 1,000 person-years"))
        a, b = fmt(float(loo[0])), fmt(float(loo[1]))
        if a == b:
            out.append(f"Leaving out the comparison area with weight in the synthetic control changed its estimate"
                       f" to {a}.")
        else:
            out.append(f"Leaving out one comparison area at a time moved the synthetic-control estimate between {a}"
                       f" and {b}.")
    out.append("A whole-area design can only show changes large enough to stand out from the area's month-to-month"
               " variation: a programme reaching a small share of residents may work for them without any"
               " visible change in the area's overall rate.")
    return [s for s in out if s]
