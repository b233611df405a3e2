"""Reader-friendly versions of the ``economics_*`` tables: pure functions of published tables.

Each takes a published table (numbers as numbers, labels in plain English) and returns a small
DataFrame of text cells: estimates with their 95% intervals, money in pounds, no codes.

Examples
--------
>>> t = pd.DataFrame([{"financial_year": "2023/24", "category": "Staff", "cost": 1377739.0}])
>>> costs_by_year_display(t).iloc[0].tolist()
['2023/24', 'Staff', '£1.38 million']
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.sentences_economics import _MINUS, _ok, money, probability_phrase

__all__ = ["break_even_display", "budget_impact_years_display", "cheers_display", "cost_consequence_by_group_display",
           "costs_by_year_display", "qalys_display", "sensitivity_display"]

_STATUS = {"reported": "Reported here", "partly": "Partly (the authors add the rest)", "authors": "For the authors"}
_GROUP = {"everyone": "Everyone", "under 65": "Under 65", "65+": "65 and over"}


def _n(x: Any, d: int = 2) -> str:
    if not _ok(x):
        return "–"
    t = f"{abs(float(x)):,.{d}f}"
    return (_MINUS + t) if float(x) < 0 and t.strip("0.,") else t


def _ci(e: Any, lo: Any, hi: Any, fmt) -> str:
    if not _ok(e):
        return "–"
    return fmt(e) + (f" ({fmt(lo)} to {fmt(hi)})" if _ok(lo, hi) else "")


def _pounds(ref: float):
    return lambda x: money(float(x), ref)


def costs_by_year_display(table: pd.DataFrame) -> pd.DataFrame:
    """Programme cost by financial year and category."""
    return pd.DataFrame({"Financial year": table["financial_year"].astype(str), "Category": table["category"].astype(str),
                         "Cost": [money(float(c)) if _ok(c) else "–" for c in table["cost"]]})


def cost_consequence_by_group_display(table: pd.DataFrame) -> pd.DataFrame:
    """Every group's costs and consequences per enrolled person-year, with intervals.

    Examples
    --------
    >>> t = pd.DataFrame([{"group": "under 65", "measure": "Net cost", "unit": "£", "per_person_year": 898.4,
    ...                    "ci_lower": 773.6, "ci_upper": 1014.6}])
    >>> cost_consequence_by_group_display(t).iloc[0].tolist()
    ['Under 65', 'Net cost', '£898 (£774 to £1,015)']
    """
    rows = []
    for r in table.itertuples(index=False):
        if str(r.unit) == "£":
            ref = max(abs(float(x)) for x in (r.per_person_year, r.ci_lower, r.ci_upper) if _ok(x))
            cell = _ci(r.per_person_year, r.ci_lower, r.ci_upper, _pounds(ref))
        else:
            cell = _ci(r.per_person_year, r.ci_lower, r.ci_upper, lambda x: _n(x, 3))
        rows.append({"Group": _GROUP.get(str(r.group), str(r.group)), "Measure": str(r.measure),
                     "Per enrolled person-year (95% CI)": cell})
    return pd.DataFrame(rows)


def break_even_display(table: pd.DataFrame) -> pd.DataFrame:
    """Break-even, the probability of paying for itself and return on investment, by group."""
    rows = []
    for r in table.itertuples(index=False):
        need = f"{float(r.pct_reduction_needed):.0f}%" if _ok(r.pct_reduction_needed) else "–"
        if _ok(r.pct_reduction_needed) and float(r.pct_reduction_needed) > 100:
            need += " (out of reach)"
        cpa = money(float(r.cost_per_admission_avoided)) if _ok(r.cost_per_admission_avoided) else {
            "interval_includes_zero": "Not given: admissions avoided may be none",
            "more_admissions": "Not given: admissions rose"}.get(str(r.cost_per_admission_avoided_note), "–")
        rows.append({
            "Group": _GROUP.get(str(r.group), str(r.group)),
            "Emergency admissions expected per person-year": _n(r.admissions_expected_per_year),
            "Fall needed to break even": need,
            "Estimated fall (95% CI)": _ci(r.pct_reduction_estimated, r.pct_ci_lower, r.pct_ci_upper,
                                           lambda x: f"{float(x):.0f}%".replace("-", _MINUS)),
            "Probability it pays for itself": probability_phrase(float(r.probability_pays_for_itself)),
            "Return on investment (95% CI)": _ci(r.roi_pct, r.roi_ci_lower, r.roi_ci_upper,
                                                 lambda x: f"{float(x):.0f}%".replace("-", _MINUS)),
            "Programme cost per admission avoided": cpa})
    return pd.DataFrame(rows)


def qalys_display(table: pd.DataFrame) -> pd.DataFrame:
    """Respondents, mean baseline utility and mean QALYs by group (counts already rounded by the gate)."""
    return pd.DataFrame({
        "Group": [str(g).capitalize() for g in table["group"]],
        "People with EQ-5D at baseline and the last time point": [str(n) for n in table["n_respondents"]],
        "Mean EQ-5D index at baseline": [_n(x, 3) for x in table["mean_baseline_utility"]],
        "Mean QALYs over the horizon": [_n(x, 3) for x in table["mean_qalys"]]})


def budget_impact_years_display(table: pd.DataFrame) -> pd.DataFrame:
    """Budget impact year by year under each scenario."""
    ref = 1e6
    return pd.DataFrame({
        "Scenario": [str(s).capitalize() for s in table["scenario"]], "Year": [str(int(y)) for y in table["year"]],
        "Caseload (person-years)": [_n(x, 0) for x in table["caseload_person_years"]],
        "Programme cost": [money(float(x), ref) for x in table["programme_cost"]],
        "Change in activity cost": [money(float(x), ref) for x in table["activity_cost_change"]],
        "Net cost": [money(float(x), ref) for x in table["net_cost"]],
        "Cumulative net cost": [money(float(x), ref) for x in table["cumulative_net_cost"]],
        "Emergency admissions avoided": [_n(x, 0) for x in table["emergency_admissions_avoided"]]})


def sensitivity_display(table: pd.DataFrame) -> pd.DataFrame:
    """The one-way sensitivity analysis: each input's range and the net cost at each end."""
    def val(x: Any, cat: str) -> str:
        if not _ok(x):
            return "–"
        if cat == "discount rate":
            return f"{100 * float(x):g}%"
        if cat == "unit cost" and float(x) <= 2:
            return f"{float(x):.0%} of recorded"
        return money(float(x))

    return pd.DataFrame({
        "Input": table["parameter"].astype(str),
        "Base": [val(b, c) for b, c in zip(table["base_value"], table["category"])],
        "Low": [val(b, c) for b, c in zip(table["low_value"], table["category"])],
        "High": [val(b, c) for b, c in zip(table["high_value"], table["category"])],
        "Net cost per person-year at low": [money(float(x)) for x in table["result_low"]],
        "At high": [money(float(x)) for x in table["result_high"]]})


def cheers_display(table: pd.DataFrame) -> pd.DataFrame:
    """The CHEERS 2022 checklist for reading."""
    return pd.DataFrame({"Item": [str(int(i)) for i in table["item"]], "Topic": table["topic"].astype(str),
                         "What to report": table["guidance"].astype(str),
                         "Status": [_STATUS.get(str(s), str(s)) for s in table["status"]],
                         "In this report": table["in_this_report"].astype(str)})
