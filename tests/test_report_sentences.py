"""The sentence grammar: one test per wording branch (the words follow the estimate and its interval)."""
import pytest

from evaltool.report.sentences import (
    difference_cell,
    difference_phrase,
    direction,
    headline,
    interaction_sentence,
    multiplicity_sentence,
    p_text,
    pct,
    plain_reason,
    ratio_cell,
    ratio_phrase,
    verdict,
)

RR_U65 = dict(estimate=0.8207, ci_lower=0.6839, ci_upper=0.9850)
RR_65 = dict(estimate=1.0222, ci_lower=0.8916, ci_upper=1.1720)
RR_ALL = dict(estimate=0.9324, ci_lower=0.8327, ci_upper=1.0439)
D_ALL = dict(estimate=-42.31, ci_lower=-117.17, ci_upper=24.55)


@pytest.mark.parametrize("lo,hi,null,expected", [(0.7, 0.9, 1, "lower"), (1.1, 1.3, 1, "higher"), (0.9, 1.1, 1, "unclear"),
                                                 (-5, 3, 0, "unclear"), (None, 1.1, 1, "not_estimable"),
                                                 (float("nan"), 1, 1, "not_estimable")])
def test_direction_branches(lo, hi, null, expected):
    assert direction(lo, hi, null) == expected


def test_ratio_phrase_branches():
    assert ratio_phrase(**dict(rr=0.82, lo=0.68, hi=0.98)) == ("lower", "18% lower (95% CI 2% to 32% lower)")
    assert ratio_phrase(1.22, 1.03, 1.45) == ("higher", "22% higher (95% CI 3% to 45% higher)")
    assert ratio_phrase(0.93, 0.83, 1.04) == ("unclear", "no clear difference (95% CI 17% lower to 4% higher)")
    assert ratio_phrase(None, 0.8, 1.1) == ("not_estimable", "not estimable")
    # An interval just excluding 1 never reads "0%".
    assert ratio_phrase(0.95, 0.90, 0.996)[1] == "5% lower (95% CI less than 1% to 10% lower)"


def test_difference_phrase_branches_and_units():
    assert difference_phrase(-48.28, -102.18, -3.37, "emergency_admission") == (
        "lower", "48 fewer admissions per 1,000 people a year (95% CI 3 to 102 fewer)")
    assert difference_phrase(12.0, 3.0, 20.0, "ae_attendance")[1] == \
        "12 more attendances per 1,000 people a year (95% CI 3 to 20 more)"
    assert difference_phrase(-42.31, -117.17, 24.55, "emergency_admission")[1] == \
        "no clear difference in admissions per 1,000 people a year (95% CI 117 fewer to 25 more)"
    # Costs in pounds per person a year (the bundle's per-1,000-person-year difference / 1,000).
    assert difference_phrase(-151876.6, -264000, -39000, "cost")[1] == \
        "£152 less per person a year (95% CI £39 to £264 less)"
    assert difference_phrase(50000, 10000, 90000, "cost")[1] == "£50 more per person a year (95% CI £10 to £90 more)"
    assert difference_phrase(-145440, -442050, 121319, "cost")[1] == \
        "no clear difference in costs per person a year (95% CI £442 less to £121 more)"
    assert difference_phrase(None, 1, 2)[0] == "not_estimable"


def test_headline_branches():
    # A clear effect: per 1,000 people a year first, then the percentage.
    assert headline("emergency_admission", RR_U65, dict(estimate=-48.28, ci_lower=-102.18, ci_upper=-3.37),
                    who="people under 65") == (
        "Emergency admissions among people under 65: 48 fewer admissions per 1,000 people a year (95% CI 3 to 102 "
        "fewer), 18% lower (95% CI 2% to 32% lower).")
    # No clear difference: never "lower"/"fewer" as a finding, and never "difference ... than".
    s = headline("emergency_admission", RR_ALL, D_ALL)
    assert s == ("Emergency admissions: no clear difference; the best estimate is 42 fewer admissions per 1,000 people "
                 "a year, but the 95% CI runs from 117 fewer to 25 more (17% lower to 4% higher).")
    assert headline("cost", dict(estimate=0.945, ci_lower=0.85, ci_upper=1.05),
                    dict(estimate=-145440, ci_lower=-442050, ci_upper=121319)) == (
        "Hospital costs: no clear difference; the best estimate is £145 less per person a year, but the 95% CI runs "
        "from £442 less to £121 more (15% lower to 5% higher).")
    assert headline("ae_attendance", RR_ALL) == "A&E attendances: no clear difference (95% CI 17% lower to 4% higher)."
    # A failed outcome says so and why.
    assert headline("care_home_admission", None, failed="too few events.") == \
        "Care-home admissions: not estimated, because too few events."
    assert headline("bed_days", dict(estimate=None, ci_lower=None, ci_upper=None)) == \
        "Emergency bed days: not estimable from these data."


def test_cells_and_verdict():
    assert difference_cell(-42.31, -117.17, 24.55, "emergency_admission") == "42 fewer (117 fewer to 25 more)"
    assert difference_cell(-48.28, -102.18, -3.37, "emergency_admission") == "48 fewer (3 fewer to 102 fewer)"
    assert difference_cell(29.5, -165.0, 199.2, "emergency_admission") == "30 more (165 fewer to 199 more)"
    assert ratio_cell(0.9324, 0.8327, 1.0439) == "7% lower (17% lower to 4% higher)"
    assert ratio_cell(1.22, 1.03, 1.45) == "22% higher (3% higher to 45% higher)"
    assert ratio_cell(None, 1, 2) == "not estimable"
    assert [verdict(RR_U65), verdict(RR_ALL), verdict(dict(estimate=1.2, ci_lower=1.1, ci_upper=1.3)), verdict(None)] \
        == ["Lower", "No clear difference", "Higher", "Not estimated"]


def test_interaction_sentence_branches():
    # One group clear, the test not: say the difference could be chance (the Southvale case, p = 0.06).
    s = interaction_sentence("emergency_admission", [("under 65", RR_U65), ("65 and over", RR_65)], 0.0598)
    assert s == ("Emergency admissions were 18% lower (95% CI 2% to 32% lower) among people under 65; no clear "
                 "difference (95% CI 11% lower to 17% higher) among people 65 and over. But a test of whether the "
                 "effect differs by age gave p = 0.06, so the difference between the groups could be due to chance.")
    # The test clear: evidence that it differs.
    s = interaction_sentence("ae_attendance", [("under 65", RR_U65), ("65 and over", RR_65)], 0.016)
    assert s.endswith("gave p = 0.02: evidence that it does.")
    # Neither group clear.
    s = interaction_sentence("bed_days", [("under 65", RR_ALL), ("65 and over", RR_65)], 0.34)
    assert s.endswith("There is no clear effect in any group, and no evidence that it differs by age (p = 0.34).")
    assert "No test of whether" in interaction_sentence("bed_days", [("under 65", RR_ALL)], None)


def test_multiplicity_and_small_words():
    assert multiplicity_sentence(5, 1).startswith("5 tests of a difference between groups were made; 1 gave p below "
                                                  "0.05. With 5 tests, at least one such result would appear by chance "
                                                  "about 23% of the time")
    assert multiplicity_sentence(1, 0) == "1 test of a difference between groups was made; none gave p below 0.05."
    assert multiplicity_sentence(0, 0) == ""
    assert (p_text(0.0598), p_text(0.0004), p_text(0.009), p_text(None)) == \
        ("p = 0.06", "p < 0.001", "p = 0.009", "p not available")
    assert (pct(0.184), pct(0.004)) == ("18%", "less than 1%")
    assert plain_reason("the information matrix is singular: some coefficients are not identified") == \
        "there were too few events for the model to be fitted"
    assert plain_reason("Model did not converge after 50 iterations") == "the model did not settle on an answer"
