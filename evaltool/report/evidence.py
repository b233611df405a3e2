"""How strong is the evidence? Diagnostics of the run, a design level and a confidence rating.

Everything here is read from the published bundle and the run record, so the key points, the
"How sure are we" section and the limitations say the same thing:

* **balance**: the largest standardised mean difference after matching (good below 0.1);
* **trends before enrolment**: the pre-trend test of the headline outcome (concern when p < 0.05);
* **follow-up completeness**: the share of enrolled people followed for the planned period;
* **precision**: how wide the headline rate ratio's 95% CI is;
* **matching losses**: the share of enrolled people without a match.

The design level follows the Maryland Scientific Methods Scale as scored by the What Works Centre
for Local Economic Growth (Madaleno and Waights 2016): 2 = before and after without a comparison
group; 3 = difference-in-differences with a comparison group; 4 = a comparison group matched on
the outcome's own history with parallel trends supported; 5 = randomised. A matched DiD scores 4
only when balance and pre-trends pass, otherwise 3.

The confidence rating is **high** when every diagnostic is good, **moderate** when some raise a
concern but none a serious one (and at most one is unavailable), **low** when any raises a serious
concern, the design is before-and-after only, or two or more diagnostics are unavailable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evaltool.report.gate import number
from evaltool.report.sentences import p_text

__all__ = ["Check", "Evidence", "assess"]

HEADLINE_OUTCOME = "emergency_admission"


@dataclass(frozen=True)
class Check:
    """One diagnostic: name, rating (``good`` | ``some concern`` | ``serious concern`` | ``not available``), words."""

    name: str
    rating: str
    text: str


@dataclass(frozen=True)
class Evidence:
    design_level: int | None
    design_text: str
    confidence: str
    checks: tuple[Check, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)


def _fact(pub: Any, section: str, key: str) -> Any:
    f = pub.fact(section, key)
    return None if f is None or f.hidden else f.value


def _effect_rows(pub: Any, analysis: str = "matched_did") -> pd.DataFrame:
    t = pub.table("effects")
    if t is None:
        return pd.DataFrame()
    d = t.display
    return d[d["analysis"] == analysis] if "analysis" in d.columns else pd.DataFrame()


def headline_outcome(pub: Any) -> str | None:
    e = _effect_rows(pub)
    if not len(e):
        return None
    outs = list(dict.fromkeys(e["outcome"]))
    return HEADLINE_OUTCOME if HEADLINE_OUTCOME in outs else outs[0]


def follow_up(pub: Any, planned_months: int | None) -> dict[str, Any]:
    """Share of enrolled people followed for 6/12/24 months and the median follow-up (published)."""
    t = pub.table("follow_up")
    if t is None or not len(t.display):
        return {}
    d = t.display
    row = d[d["group"].astype(str).isin(["enrolled", "treated"])]
    if not len(row):
        return {}
    r = row.iloc[0]
    out: dict[str, Any] = {"n": number(r.get("n_people")), "median_months": number(r.get("median_months"))}
    for m in (6, 12, 24):
        n = number(r.get(f"n_{m}m"))
        out[f"n_{m}m"] = n
        out[f"pct_{m}m"] = 100 * n / out["n"] if out["n"] and not math.isnan(n) else float("nan")
    out["planned"] = planned_months
    return out


def assess(pub: Any, record: Any, manifest: dict[str, Any]) -> Evidence:
    """Diagnostics, design level and confidence of a run (see the module docstring)."""
    checks: list[Check] = []
    facts: dict[str, Any] = {}
    e = _effect_rows(pub)
    has_matched = len(e) > 0
    # Balance.
    smd = _fact(pub, "matching", "max_abs_smd_after")
    n_imb = _fact(pub, "matching", "n_covariates_imbalanced_after")
    if smd is None:
        checks.append(Check("Balance", "not available", "No balance diagnostics were recorded."))
    else:
        smd = float(smd)
        facts["max_smd"] = smd
        if smd < 0.1:
            checks.append(Check("Balance", "good", f"After matching, every characteristic differed by less than 0.1 "
                                f"standardised mean differences (largest {smd:.2f})."))
        elif smd < 0.2:
            k = int(n_imb or 1)
            checks.append(Check("Balance", "some concern", f"After matching, {k} characteristic{'s' if k != 1 else ''} "
                                f"still differed by 0.1 standardised mean differences or more (largest {smd:.3f})."))
        else:
            checks.append(Check("Balance", "serious concern", f"After matching the groups still differed "
                                f"(largest standardised mean difference {smd:.2f})."))
    # Pre-trends.
    out = headline_outcome(pub)
    p_pre = _fact(pub, "effects", f"{out}.pretrend_p_value") if out else None
    if p_pre is None:
        checks.append(Check("Trends before enrolment", "not available", "No test of trends before enrolment was "
                            "available, so the main assumption of the design could not be checked."))
    else:
        p_pre = float(p_pre)
        facts["pretrend_p"] = p_pre
        if p_pre >= 0.05:
            checks.append(Check("Trends before enrolment", "good", "Before enrolment the two groups' trends were "
                                f"similar (test of a difference: {p_text(p_pre)})."))
        else:
            checks.append(Check("Trends before enrolment", "serious concern", "Before enrolment the groups' trends "
                                f"already differed ({p_text(p_pre)}), so part of the estimate may not be the programme's."))
    # Follow-up completeness.
    planned = (manifest.get("report") or {}).get("follow_up_months") or _fact(pub, "effects", "follow_up_months")
    fu = follow_up(pub, int(planned) if planned else None)
    facts["follow_up"] = fu
    key = f"pct_{int(planned)}m" if planned and f"pct_{int(planned)}m" in fu else "pct_12m"
    share = fu.get(key, float("nan"))
    if not fu or math.isnan(share):
        checks.append(Check("Follow-up", "not available", "How many people were followed for the whole planned "
                            "period was not recorded."))
    else:
        months = int(planned or 12)
        med = fu.get("median_months", float("nan"))
        med_txt = f" (median follow-up {med:.0f} months)" if not math.isnan(med) else ""
        rating = "good" if share >= 80 else "some concern" if share >= 40 else "serious concern"
        checks.append(Check("Follow-up", rating, f"{share:.0f}% of enrolled people could be followed for the full "
                            f"{months} months{med_txt}; the rest joined too late to be followed that long."))
    # Precision of the headline estimate.
    if has_matched and out:
        r = e[(e["outcome"] == out) & (e["scale"] == "rate_ratio") & (e["subgroup"].astype(str) == "all")]
        if len(r):
            lo, hi = number(r["ci_lower"].iloc[0]), number(r["ci_upper"].iloc[0])
            if not (math.isnan(lo) or math.isnan(hi)) and lo > 0:
                ratio = hi / lo
                facts["ci_ratio"] = ratio
                rating = "good" if ratio < 1.2 else "some concern" if ratio < 1.6 else "serious concern"
                checks.append(Check("Precision", rating, f"The 95% confidence interval for the main outcome runs "
                                    f"from {lo:.2f} to {hi:.2f}: " + ("narrow enough to rule out large effects in "
                                    "either direction." if rating == "good" else "wide enough to include both a "
                                    "worthwhile effect and none." if lo < 1 < hi else "wide.")))
    # Matching losses.
    n_t, n_u = _fact(pub, "matching", "n_treated"), _fact(pub, "matching", "n_unmatched")
    if n_t:
        share_u = 100 * float(n_u or 0) / float(n_t)
        facts["unmatched_pct"] = share_u
        rating = "good" if share_u < 10 else "some concern" if share_u < 20 else "serious concern"
        checks.append(Check("Matching", rating, f"{share_u:.0f}% of enrolled people had no similar person to compare "
                            "with and are not in the estimates; the results describe the rest."))
    # Design level.
    stages = manifest.get("stages") or {}
    level: int | None
    if has_matched:
        good = all(c.rating == "good" for c in checks if c.name in ("Balance", "Trends before enrolment"))
        level = 4 if good else 3
        why = []
        bal = next((c for c in checks if c.name == "Balance"), None)
        pre = next((c for c in checks if c.name == "Trends before enrolment"), None)
        if bal is not None and bal.rating != "good":
            why.append("after matching the groups still differed on at least one characteristic"
                       + (f" (largest standardised mean difference {facts['max_smd']:.3f})" if "max_smd" in facts else ""))
        if pre is not None and pre.rating != "good":
            why.append("the groups' trends before enrolment " + ("differed" if pre.rating != "not available"
                                                                  else "could not be checked"))
        text = ("Level 4 of 5: people were compared with a matched group chosen on their own recent hospital use, "
                "and the groups' trends before enrolment were similar." if level == 4 else
                "Level 3 of 5: people were compared before and after with a matched comparison group, but "
                + " and ".join(why) + ".")
    elif _effect_rows(pub, "naive_before_after").shape[0]:
        level, text = 2, "Level 2 of 5: before and after only, without a comparison group."
    elif _fact(pub, "area", "headline_method"):
        level, text, area_checks = _area_evidence(pub, facts)
        checks = area_checks
    else:
        level, text = None, "No effect estimate was produced, so the design cannot be scored."
    if (stages.get("rollout") or {}).get("status") == "ok" and level:
        text += " The practice roll-out analysis adds an area-level comparison of practices live and not yet live."
    rated = [c.rating for c in checks if c.rating != "not available"]
    n_some = rated.count("some concern")
    n_serious = rated.count("serious concern")
    missing = sum(1 for c in checks if c.rating == "not available")
    if level is None or level <= 2 or n_serious or missing > 1:
        conf = "low"
    elif n_some or missing:
        conf = "moderate"
    else:
        conf = "high"
    return Evidence(level, text, conf, tuple(checks), facts)


#: Design names of the whole-area stage, as a reader meets them.
_AREA_DESIGN = {"sdid": "synthetic difference-in-differences", "synthetic_control": "synthetic control",
                "ascm": "augmented synthetic control",
                "synthetic_control_adh": "synthetic control", "did": "difference-in-differences against the "
                "comparison areas", "its": "interrupted time series"}


def _area_evidence(pub: Any, facts: dict[str, Any]) -> tuple[int, str, list[Check]]:
    """Checks, level and wording when the evidence is a whole-area design (no matched people).

    The person-level checks (balance, trends before enrolment, follow-up of enrolled people) do not
    apply; the area's own are: months before go-live, the comparison areas and how closely they
    tracked the area before go-live, and the headline's precision. A design with comparison areas
    scores level 3 (a comparison group and before/after); the area against its own past scores 2.
    """
    method = str(_fact(pub, "area", "headline_method"))
    design = _AREA_DESIGN.get(method, method.replace("_", " "))
    checks: list[Check] = []
    facts["area"] = True
    facts["area_post_months"] = _fact(pub, "area", "n_post_months")
    n_pre = _fact(pub, "area", "n_pre_months")
    if n_pre is not None:
        n_pre = int(n_pre)
        rating = "good" if n_pre >= 24 else "some concern" if n_pre >= 12 else "serious concern"
        checks.append(Check("Months before go-live", rating, f"{n_pre} months before go-live to learn the area's "
                            "trend and seasonal pattern" + (" (at least 24 are advised)." if rating != "good" else ".")))
    comparison = method != "its"
    if comparison:
        n_d = _fact(pub, "area", "n_donors")
        if n_d is not None:
            n_d = int(n_d)
            rating = "good" if n_d >= 20 else "some concern" if n_d >= 10 else "serious concern"
            checks.append(Check("Comparison areas", rating, f"{n_d} comparison areas that never went live; the "
                                "placebo interval rests on them" + (", so it is rough." if rating != "good" else ".")))
        rmspe = _fact(pub, "area", "pre_rmspe")
        outside = bool(_fact(pub, "area", "outside_donor_range"))
        if rmspe is not None:
            gap = 100 * (math.exp(float(rmspe)) - 1) if _fact(pub, "area", "effect_scale") == "log" else None
            if outside and method.startswith("synthetic_control"):
                checks.append(Check("Fit before go-live", "serious concern", "Before go-live the area's rate lay "
                                    "outside every comparison area's, so a weighted average of them cannot match it."))
            elif gap is not None:
                rating = "good" if gap < 5 else "some concern" if gap < 10 else "serious concern"
                checks.append(Check("Fit before go-live", rating, f"Before go-live the weighted comparison areas "
                                    f"tracked the area's monthly rate to within about {gap:.0f}% a month."))
    else:
        errs = _fact(pub, "area", "its_errors")
        checks.append(Check("Month-to-month correlation", "good" if errs == "ar1" else "some concern",
                            "Correlation between consecutive months was modelled (AR(1) errors)." if errs == "ar1" else
                            "Correlation between consecutive months was allowed for with Newey-West standard errors, "
                            "which can be too narrow in short series."))
    ci = _fact(pub, "area", "rate_ratio_ci")
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = number(ci[0]), number(ci[1])
        if not (math.isnan(lo) or math.isnan(hi)) and lo > 0:
            ratio = hi / lo
            facts["ci_ratio"] = ratio
            rating = "good" if ratio < 1.2 else "some concern" if ratio < 1.6 else "serious concern"
            checks.append(Check("Precision", rating, f"The 95% confidence interval for the whole-area rate ratio runs "
                                f"from {lo:.2f} to {hi:.2f}" + (": wide enough to include both a worthwhile effect and "
                                "none." if lo < 1 < hi and rating != "good" else ".")))
    if comparison:
        return 3, (f"Level 3 of 5: the whole area was compared before and after go-live with comparison areas "
                   f"({design}); no one inside the area was left untreated to compare with."), checks
    return 2, (f"Level 2 of 5: the whole area against its own past ({design}), without a comparison group; the "
               "trend and seasonal pattern before go-live stand in for what would have happened."), checks
