"""The parallel-trends judgement in words, from the size of the pre-period divergence (not from p alone).

A pure function of published facts (the effects section of ``results/facts.json``; keys listed in
docs/architecture.md): ``<outcome>.pretrend_p_value`` and ``<outcome>.pretrend.*`` from
:func:`evaltool.effects.pretrend.pretrend_assessment`, and the headline estimate
``<outcome>.did.all.rate_ratio``. Four verdicts:

``similar``
    the bias implied by the pre-period trend is, with 95% confidence, smaller than the margin (5%, or a
    quarter of the estimated effect if larger) -- whatever the p-value (with many person-months a
    trivial difference is "significant");
``small``
    a detectable difference whose implied bias is below the margin, but whose interval reaches beyond it;
``uncertain``
    no clear divergence, but the data cannot rule out a bias as large as the margin;
``diverged``
    a clear divergence implying a bias at least as large as the margin: the estimate may reflect
    different trends rather than the programme.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from evaltool.report.sentences import outcome_label

__all__ = ["pretrend_verdict", "pretrend_sentence"]


def _get(facts: Mapping[str, Any], outcome: str, key: str) -> Any:
    v = facts.get(f"{outcome}.pretrend.{key}")
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _pct(ratio: float) -> str:
    v = abs(ratio - 1) * 100
    return "less than 1%" if v < 0.5 else f"{v:.0f}%"


def pretrend_verdict(facts: Mapping[str, Any], outcome: str = "emergency_admission") -> str | None:
    """``similar`` / ``small`` / ``uncertain`` / ``diverged``, or None when the facts are absent.

    Examples
    --------
    >>> f = {"x.pretrend.bias": 0.01, "x.pretrend.margin": 0.0488, "x.pretrend.equivalent": True,
    ...      "x.pretrend.bias_significant": True, "x.pretrend_p_value": 1e-9}
    >>> pretrend_verdict(f, "x")
    'similar'
    >>> pretrend_verdict({**f, "x.pretrend.equivalent": False, "x.pretrend.bias": 0.2}, "x")
    'diverged'
    """
    eq, sig = _get(facts, outcome, "equivalent"), _get(facts, outcome, "bias_significant")
    b, m = _get(facts, outcome, "bias"), _get(facts, outcome, "margin")
    if eq is None or sig is None or b is None or m is None:
        return None
    if eq:
        return "similar"
    if sig:
        return "diverged" if abs(b) >= m else "small"
    return "uncertain"


def pretrend_sentence(facts: Mapping[str, Any], outcome: str = "emergency_admission") -> str:
    """One paragraph on whether the groups' trends before enrolment support the comparison.

    Examples
    --------
    >>> o = "emergency_admission"
    >>> f = {f"{o}.pretrend.{k}": v for k, v in {
    ...     "bias": 0.01, "margin": 0.0488, "bias_ratio": 1.01, "bias_ratio_ci_lower": 1.005,
    ...     "bias_ratio_ci_upper": 1.015, "margin_ratio": 1.05, "equivalent": True, "bias_significant": True,
    ...     "gap_months": 12.0}.items()} | {f"{o}.pretrend_p_value": 1e-9, f"{o}.did.all.rate_ratio": 0.8}
    >>> pretrend_sentence(f, o)[:91]
    'Before enrolment, emergency admissions in the two groups changed in almost exactly the same'
    """
    label = outcome_label(outcome, lower=True)  # always inside a sentence
    verdict = pretrend_verdict(facts, outcome)
    p = facts.get(f"{outcome}.pretrend_p_value")
    if verdict is None:
        if p is None:
            return (f"No comparison of {label} before enrolment was available, so the assumption that both groups "
                    "would have followed the same path without the programme could not be checked.")
        return (f"Trends in {label} before enrolment were compared (a test for a difference gave "
                f"p = {float(p):.2f}), but too few months were available to say how large any difference was.")
    scale = facts.get(f"{outcome}.pretrend.scale", "rate_ratio")
    gap = _get(facts, outcome, "gap_months")
    if scale == "rate_ratio":
        b, lo, hi = (_get(facts, outcome, k) for k in ("bias_ratio", "bias_ratio_ci_lower", "bias_ratio_ci_upper"))
        margin = _pct(_get(facts, outcome, "margin_ratio"))
        far = max(abs(lo - 1), abs(hi - 1))
        bound = "less than 1%" if far < 0.005 else f"{far * 100:.0f}%"
        size = f"{_pct(b)} ({'higher' if b > 1 else 'lower'})"
    else:  # differences per 1,000 person-years
        b, lo, hi = (_get(facts, outcome, k) for k in ("bias", "bias_ci_lower", "bias_ci_upper"))
        margin = f"{_get(facts, outcome, 'margin'):.1f} per 1,000 person-years"
        bound = f"{max(abs(lo), abs(hi)):.1f} per 1,000 person-years"
        size = f"{abs(b):.1f} per 1,000 person-years"
    span = f"over the {gap:.0f} months between the periods compared" if gap else "over the follow-up"
    p_txt = "" if p is None else (f" (p {'< 0.001' if float(p) < 0.001 else '= ' + format(float(p), '.2f')})")
    rr = facts.get(f"{outcome}.did.all.rate_ratio")
    eff = f", against an estimated effect of {_pct(rr)}" if scale == "rate_ratio" and rr is not None else ""
    if verdict == "similar":
        detect = (f" The difference is statistically detectable{p_txt} because the groups are large, but it is too "
                  "small to change the finding." if p is not None and float(p) < 0.05 else "")
        return (f"Before enrolment, {label} in the two groups changed in almost exactly the same way: if the small "
                f"difference in their trends had continued, it would move the estimate by at most {bound} {span} "
                f"(95% confidence), within the {margin} that would matter here{eff}.{detect} This supports the "
                "comparison, although it cannot prove it.")
    if verdict == "small":
        return (f"Before enrolment, {label} in the two groups followed slightly different trends{p_txt}. If that "
                f"difference continued it would move the estimate by about {size} {span}, less than the {margin} "
                f"that would matter here{eff}, but it could be up to {bound}; read the estimate with that in mind.")
    if verdict == "uncertain":
        return (f"Before enrolment, {label} in the two groups showed no clear difference in trend{p_txt}, but the "
                f"comparison is imprecise: a difference in trend large enough to move the estimate by up to {bound} "
                f"{span} cannot be ruled out{eff}. Treat the estimate as supported by, not confirmed by, the "
                "pre-enrolment data.")
    return (f"Before enrolment, {label} in the two groups did not follow the same path{p_txt}: if that difference "
            f"in trend continued, it alone would move the estimate by about {size} {span} (95% CI up to {bound}), "
            f"more than the {margin} that would matter here{eff}. The estimate may reflect different trends rather "
            "than the programme, and should be treated with caution.")
