"""Plain-English findings: wording follows the estimate and its interval."""
import pandas as pd

from evaltool.report.sentences import (
    difference_phrase,
    effect_sentence,
    key_findings,
    ratio_phrase,
    subgroup_sentence,
)

ROWS = [dict(analysis="matched_did", outcome="emergency_admission", subgroup="age_under_65", estimate=0.81,
             ci_lower=0.71, ci_upper=0.92, scale="rate_ratio"),
        dict(analysis="matched_did", outcome="emergency_admission", subgroup="age_65_plus", estimate=0.97,
             ci_lower=0.88, ci_upper=1.07, scale="rate_ratio")]


def test_interval_below_no_effect():
    assert ratio_phrase(0.81, 0.71, 0.92) == ("lower", "19% lower (95% CI 8% to 29%)")


def test_interval_above_no_effect():
    assert ratio_phrase(1.22, 1.03, 1.45) == ("higher", "22% higher (95% CI 3% to 45%)")


def test_interval_spanning_no_effect_never_claims_an_effect():
    d, text = ratio_phrase(0.90, 0.79, 1.02)
    assert d == "unclear"
    assert text == "no clear difference (95% CI from 21% lower to 2% higher)"
    s = effect_sentence(dict(ROWS[0], estimate=0.90, ci_lower=0.79, ci_upper=1.02))
    assert "there was no clear difference" in s and "were 10% lower" not in s


def test_brief_sentence_exactly():
    assert subgroup_sentence(ROWS) == (
        "Among enrolled patients under 65, emergency admissions were 19% lower (95% CI 8% to 29%) than among "
        "similar patients who were not enrolled; for those 65 and over there was no clear difference "
        "(95% CI from 12% lower to 7% higher).")


def test_absolute_difference_alongside_rate_ratio():
    rr = dict(analysis="matched_did", outcome="emergency_admission", subgroup="all", estimate=0.86,
              ci_lower=0.78, ci_upper=0.95, scale="rate_ratio")
    ab = dict(rr, estimate=-31.0, ci_lower=-52.6, ci_upper=-9.4, scale="difference_per_1000py")
    s = effect_sentence(rr, ab)
    assert s == ("Among enrolled patients, emergency admissions were 14% lower (95% CI 5% to 22%) than among similar "
                 "patients who were not enrolled; that is 31 fewer admissions per 1,000 person-years "
                 "(95% CI 9 to 53 fewer).")
    assert difference_phrase(6.0, -21.4, 33.4, "attendances")[0] == "unclear"
    assert difference_phrase(12.0, 3.0, 20.0, "admissions")[1] == \
        "12 more admissions per 1,000 person-years (95% CI 3 to 20 more)"


def test_rounding_edges():
    # An interval just excluding 1 must not read "0%".
    assert ratio_phrase(0.95, 0.90, 0.996)[1] == "5% lower (95% CI less than 1% to 10%)"


def test_no_jargon_and_en_gb():
    eff = pd.DataFrame(ROWS + [dict(ROWS[0], subgroup="all", outcome="care_home_admission", estimate=1.22,
                                    ci_lower=1.03, ci_upper=1.45)])
    text = " ".join(key_findings(eff))
    assert "significan" not in text.lower()
    assert "care-home admissions were 22% higher" in text


def test_key_points_from_facts():
    assert key_findings(None, {"proms": {"key_points": ["Health status improved."]}}) == ["Health status improved."]
    assert key_findings(None, {"proms": {"headline_text": ["EQ-5D rose.", " "]}}) == ["EQ-5D rose."]


def test_cost_difference_in_pounds_per_person_year():
    from evaltool.report.sentences import _abs_clause

    assert _abs_clause("cost", {"estimate": -255000.0, "ci_lower": -593001.0, "ci_upper": 45542.0}) == (
        "; in money terms, no clear difference per person-year (95% CI from £593 lower to £46 higher)")
    assert _abs_clause("cost", {"estimate": -255000.0, "ci_lower": -593001.0, "ci_upper": -45542.0}) == (
        "; in money terms, £255 lower per person-year (95% CI £46 to £593 lower)")
