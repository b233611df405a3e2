"""Wording of "Does it pay for itself?": one test per branch; words follow each estimate and its interval."""
from __future__ import annotations

import pandas as pd

from evaltool.report.sentences_economics import (
    activity_sentence,
    break_even_sentence,
    budget_impact_sentence,
    cost_consequence_display,
    cost_per_admission_sentence,
    cost_utility_sentence,
    key_points_paragraph,
    money,
    pays_for_itself_sentence,
    probability_phrase,
    programme_cost_sentence,
    section_sentences,
    subgroup_sentence,
)

F = {  # the shape of facts["economics"] (values like Southvale's)
    "programme_cost_total": 3190125.6, "programme_cost_per_year": 1060.76, "costing_start": "2023-04-01",
    "costing_end": "2025-03-31", "price_year_label": "2024/25", "staff_cost_share_pct": 86.3,
    "admissions_change": -0.040, "admissions_change_ci_lower": -0.113, "admissions_change_ci_upper": 0.028,
    "activity_cost_change": -111.8, "activity_cost_change_ci_lower": -400.7, "activity_cost_change_ci_upper": 214.7,
    "admissions_avoided_cohort": 120.4,
    "net_cost": 948.9, "net_cost_ci_lower": 660.1, "net_cost_ci_upper": 1275.4, "probability_pays_for_itself": 0.0,
    "break_even_pct_reduction": 61.4, "break_even_admissions_per_year": 0.383, "cost_per_admission": 2770.9,
    "break_even_achievable": True, "admissions_rate_ratio": 0.936, "admissions_rate_ratio_ci_lower": 0.832,
    "admissions_rate_ratio_ci_upper": 1.049, "admissions_expected": 0.623,
    "cost_per_admission_avoided": None, "cost_per_admission_avoided_status": "interval_includes_zero",
}


def test_money_and_probability_formats():
    assert money(2_853_845) == "£2.85 million"
    assert money(-1234.4) == "\u2212£1,234"
    assert money(120, ref=2e6) == "£0.00 million"
    assert [probability_phrase(p) for p in (0.004, 0.5, 0.996, float("nan"))] == [
        "less than 1%", "50%", "more than 99%", "not estimable"]


def test_programme_cost():
    assert programme_cost_sentence(F) == (
        "The programme cost £3.19 million from April 2023 to March 2025 (2024/25 prices), £1,061 for each enrolled "
        "patient for each year on the caseload; staff were 86% of the cost.")
    assert programme_cost_sentence({}) == ""


def test_activity_unclear():
    s = activity_sentence(F)
    assert "no clear change in emergency admissions (95% CI from 0.11 fewer to 0.03 more per person-year)" in s
    assert "hospital activity costs showed no clear change (95% CI from £401 lower to £215 higher)" in s


def test_activity_fall_with_cohort_total():
    f = dict(F, admissions_change_ci_upper=-0.01, activity_cost_change_ci_upper=-20.0)
    s = activity_sentence(f)
    assert "enrolled patients had 0.04 fewer emergency admissions per person-year (95% CI 0.01 to 0.11 fewer)" in s
    assert "about 120 fewer across the enrolled cohort" in s
    assert "fell by £112 per person-year (95% CI £20 to £401)" in s


def test_activity_rise():
    f = dict(F, admissions_change=0.05, admissions_change_ci_lower=0.01, admissions_change_ci_upper=0.09,
             activity_cost_change=80.0, activity_cost_change_ci_lower=10.0, activity_cost_change_ci_upper=150.0)
    s = activity_sentence(f)
    assert "0.05 more emergency admissions per person-year (95% CI 0.01 to 0.09 more)" in s
    assert "rose by £80 per person-year (95% CI £10 to £150)" in s


def test_did_not_pay_for_itself():
    assert pays_for_itself_sentence(F) == (
        "It did not pay for itself: after the change in hospital costs, it cost a net £949 per enrolled person-year "
        "(95% CI £660 to £1,275), and the probability that the savings covered its cost was less than 1%.")


def test_paid_for_itself():
    f = dict(F, net_cost=-300.0, net_cost_ci_lower=-550.0, net_cost_ci_upper=-40.0, probability_pays_for_itself=0.993)
    assert pays_for_itself_sentence(f) == (
        "It paid for itself: the fall in hospital costs exceeded its cost, saving a net £300 per enrolled person-year "
        "(95% CI £40 to £550); the probability that the savings covered its cost was more than 99%.")


def test_unclear_whether_it_paid_for_itself():
    f = dict(F, net_cost=-50.0, net_cost_ci_lower=-300.0, net_cost_ci_upper=200.0, probability_pays_for_itself=0.62)
    s = pays_for_itself_sentence(f)
    assert s.startswith("It is not clear whether it paid for itself: the estimate is a net saving of £50")
    assert "from a saving of £300 to a cost of £200; the probability that the savings covered its cost was 62%." in s


def test_break_even_achievable_with_unclear_effect():
    assert break_even_sentence(F) == (
        "To pay for itself through emergency admissions alone (other activity unchanged), it would have had to cut "
        "them by 61% among enrolled patients (0.38 fewer per person-year at £2,771 each); the estimated change was "
        "unclear (95% CI from a 17% fall to a 5% rise).")


def test_break_even_with_a_clear_fall_and_a_rise():
    fall = dict(F, admissions_rate_ratio=0.82, admissions_rate_ratio_ci_lower=0.68, admissions_rate_ratio_ci_upper=0.99)
    assert break_even_sentence(fall).endswith("; the estimated fall was 18% (95% CI 1% to 32%).")
    rise = dict(F, admissions_rate_ratio=1.10, admissions_rate_ratio_ci_lower=1.02, admissions_rate_ratio_ci_upper=1.2)
    assert break_even_sentence(rise).endswith("; instead they rose by 10% (95% CI 2% to 20%).")


def test_break_even_out_of_reach():
    f = dict(F, break_even_pct_reduction=141.2, break_even_achievable=False, admissions_expected=0.271)
    assert break_even_sentence(f).startswith(
        "Even avoiding every emergency admission expected without the programme (0.27 per person-year at £2,771 "
        "each) would not cover its cost, so it cannot pay for itself through emergency admissions alone")
    assert break_even_sentence({"break_even_pct_reduction": 50}) == ""


def test_cost_per_admission_avoided_branches():
    assert cost_per_admission_sentence(F).startswith("A cost per emergency admission avoided is not given: the "
                                                     "interval for admissions avoided includes zero")
    ok = dict(F, cost_per_admission_avoided=21170.3, cost_per_admission_avoided_status="ok")
    assert cost_per_admission_sentence(ok) == "The programme cost £21,170 for each emergency admission avoided."
    more = dict(F, cost_per_admission_avoided_status="more_admissions")
    assert cost_per_admission_sentence(more).endswith("emergency admissions rose.")
    assert cost_per_admission_sentence({}) == ""


CU = {"qaly_design": "matched", "qaly_gain": 0.0221, "qaly_gain_ci_lower": 0.0086, "qaly_gain_ci_upper": 0.0384,
      "qaly_horizon_years": 1.0, "icer": 42848.4, "icer_status": "icer",
      "thresholds": [{"value": 20000.0, "label": "NICE £20,000 per QALY"}, {"value": 30000.0, "label": "x"}],
      "probability_cost_effective_20000": 0.011, "probability_cost_effective_30000": 0.1455}


def test_cost_utility_icer():
    s = cost_utility_sentence(CU)
    assert s.startswith("On quality of life (EQ-5D), enrolled patients gained 0.022 QALYs each over a year (95% CI "
                        "0.009 to 0.038), compared with matched patients")
    assert "Each QALY gained cost £42,848 (the incremental cost-effectiveness ratio)." in s
    assert s.endswith("The probability that it is cost-effective is 1% at £20,000 per QALY and 15% at £30,000 per "
                      "QALY (NICE's thresholds).")


def test_cost_utility_dominant_dominated_unstable_and_before_after():
    assert "it dominates" in cost_utility_sentence(dict(CU, icer=None, icer_status="dominant"))
    assert "dominated by usual care" in cost_utility_sentence(dict(CU, icer=None, icer_status="dominated"))
    s = cost_utility_sentence(dict(CU, icer=None, icer_status="unstable", qaly_gain_ci_lower=-0.01))
    assert "there was no clear change in QALYs over a year" in s and "the ratio is unstable" in s
    ba = cost_utility_sentence(dict(CU, qaly_design="before_after"))
    assert "compared with their own health at enrolment" in ba and "regression" not in ba
    assert "overstate" in ba
    lost = cost_utility_sentence(dict(CU, qaly_gain=-0.02, qaly_gain_ci_lower=-0.03, qaly_gain_ci_upper=-0.01))
    assert "enrolled patients lost 0.020 QALYs each" in lost
    assert cost_utility_sentence({"qaly_design": None}) == ""


def test_budget_impact_cost_and_saving():
    f = {"bi_years": 5, "bi_eligible": 3827.1, "bi_net_cost_estimate": 14.47e6, "bi_net_cost_favourable": 9.94e6,
         "bi_net_cost_unfavourable": 19.59e6, "bi_net_cost_grows": 14.0e6, "bi_net_cost_fades": 15.1e6,
         "bi_admissions_avoided_estimate": 628.4}
    assert budget_impact_sentence(f) == (
        "Extending the programme to about 3,827 eligible people would cost a net £14.47 million over 5 years "
        "(£9.94 million to £19.59 million across the interval of the effect; £14.00 million if the effect grows, "
        "£15.10 million if it fades), avoiding about 628 emergency admissions.")
    saving = dict(f, bi_net_cost_estimate=-2e6, bi_admissions_avoided_estimate=-3.0)
    s = budget_impact_sentence(saving)
    assert "would save a net £2.00 million" in s and "avoiding" not in s


def test_subgroups_and_section():
    f = dict(F, **{"under_65.net_cost": 898.4, "under_65.net_cost_ci_lower": 773.6, "under_65.net_cost_ci_upper": 1014.6,
                   "under_65.probability_pays_for_itself": 0.0, "65_plus.net_cost": 1095.3,
                   "65_plus.net_cost_ci_lower": 223.6, "65_plus.net_cost_ci_upper": 2024.0,
                   "65_plus.probability_pays_for_itself": 0.0075})
    s = subgroup_sentence(f)
    assert s.startswith("By age: for enrolled patients under 65 the net cost was £898 per person-year")
    assert "for enrolled patients aged 65 and over the net cost was £1,095" in s
    assert subgroup_sentence(F) == ""
    sec = section_sentences(dict(f, sensitivity_top_parameter="Staff: Case manager (band 6)",
                                 sensitivity_top_low=892.3, sensitivity_top_high=1005.6))
    assert sec[-1] == ("Of the cost figures tested one at a time (each 20% either way unless the plan gives a range), "
                       "“Staff: Case manager (band 6)” moves the net cost most (£892 to £1,006 per enrolled person-year); "
                       "the statistical uncertainty in the change in hospital costs moves it more (see the tornado "
                       "diagram).")


def test_display_tables():
    from evaltool.report.sentences_economics import (
        budget_impact_display,
        cost_effectiveness_display,
    )

    ce = pd.DataFrame([
        {"measure": "Incremental cost per patient", "estimate": 948.9, "ci_lower": 660.1, "ci_upper": 1275.4, "note": ""},
        {"measure": "QALYs gained per patient (baseline-adjusted)", "estimate": 0.0221, "ci_lower": 0.0086,
         "ci_upper": 0.0384, "note": "matched"},
        {"measure": "Incremental cost per QALY gained (ICER)", "estimate": None, "ci_lower": None, "ci_upper": None,
         "note": "not reported: unstable"},
        {"measure": "Probability cost-effective at NICE £20,000 per QALY", "estimate": 0.011, "ci_lower": None,
         "ci_upper": None, "note": ""}])
    d = cost_effectiveness_display(ce)["Estimate (95% CI)"].tolist()
    assert d == ["£949 (£660 to £1,275)", "0.022 (0.009 to 0.038)", "–", "1%"]
    bi = pd.DataFrame([{"scenario": "effect fades", "programme_cost": 16.2e6, "activity_cost_change": -1.2e6,
                        "net_cost": 15.0e6, "net_cost_present_value": 14.1e6, "emergency_admissions_avoided": -12.4}])
    assert budget_impact_display(bi).iloc[0].tolist() == ["Effect fades", "£16.20 million", "\u2212£1.20 million",
                                                          "£15.00 million", "£14.10 million", "\u221212"]


def test_key_points_paragraph_answers_the_four_questions():
    p = key_points_paragraph(F)
    assert p.startswith("The programme cost £3.19 million")
    for bit in ("emergency admissions", "did not pay for itself", "less than 1%", "cut them by 61%"):
        assert bit in p
    assert key_points_paragraph({}) == ""


def test_cost_consequence_display():
    t = pd.DataFrame([
        {"group": "everyone", "measure": "Change in emergency admissions", "unit": "admissions",
         "per_person_year": -0.04, "ci_lower": -0.113, "ci_upper": 0.028, "whole_cohort": -120.4,
         "cohort_ci_lower": -338.5, "cohort_ci_upper": 85.3, "per_1000_population_year": -0.384,
         "population_ci_lower": -1.08, "population_ci_upper": 0.272},
        {"group": "everyone", "measure": "Programme cost", "unit": "£", "per_person_year": 1060.8, "ci_lower": None,
         "ci_upper": None, "whole_cohort": 3190125.6, "cohort_ci_lower": None, "cohort_ci_upper": None,
         "per_1000_population_year": 10178.2, "population_ci_lower": None, "population_ci_upper": None},
        {"group": "under 65", "measure": "Programme cost", "unit": "£", "per_person_year": 1060.8, "ci_lower": None,
         "ci_upper": None, "whole_cohort": None, "cohort_ci_lower": None, "cohort_ci_upper": None,
         "per_1000_population_year": None, "population_ci_lower": None, "population_ci_upper": None}])
    d = cost_consequence_display(t)
    assert len(d) == 2
    assert d.iloc[0].tolist() == ["Change in emergency admissions", "\u22120.04 (\u22120.11 to 0.03)",
                                  "\u2212120 (\u2212338 to 85)", "\u22120.4 (\u22121.1 to 0.3)"]
    assert d.iloc[1].tolist() == ["Programme cost", "£1,061", "£3.19 million", "£10,178"]


def test_return_on_investment_wording():
    from evaltool.report.sentences_economics import return_sentence

    assert return_sentence({"roi": -0.893, "roi_ci_lower": -1.202, "roi_ci_upper": -0.622}) == (
        "For each £1 spent on the programme, hospital costs fell by about 11p (95% CI a rise of 20p to a fall of "
        "38p): a return on investment of \u221289%.")
    assert return_sentence({"roi": 0.25, "roi_ci_lower": 0.05, "roi_ci_upper": 0.5}).startswith(
        "For each £1 spent on the programme, hospital costs fell by about £1.25 (95% CI a fall of £1.05 to a fall of "
        "£1.50)")
    assert "hospital costs rose by about 10p" in return_sentence({"roi": -1.1, "roi_ci_lower": -1.3, "roi_ci_upper": -0.9})
    assert return_sentence({}) == ""


def test_economic_percentages_pass_the_gate_as_estimates():
    """The break-even reduction, ROI, discount rates and the staff share of costs are not shares of people:
    the gate once hid them ("not published") and the key points then said break-even was out of reach."""
    from evaltool.report.publish import _fact_kind

    for key in ("break_even_pct_reduction", "under_65.break_even_pct_reduction", "roi_pct",
                "discount_rate_costs_pct", "discount_rate_effects_pct", "staff_cost_share_pct"):
        assert _fact_kind(key, 61.4) == "estimate", key
    assert _fact_kind("retained_pct", 53.0) == "share"  # a share of people still goes through the table cell
