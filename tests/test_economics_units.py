"""Economics building blocks: costs and inflation, intervals, decisions, budget impact, sensitivity, config."""
from __future__ import annotations

import ast
import doctest
import importlib
import pathlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from evaltool._result import check_result_contract
from evaltool.economics.bootstrap import (
    bca_interval,
    bootstrap_sets,
    percentile_interval,
    resample_counts,
)
from evaltool.economics.breakeven import (
    break_even,
    cost_per_admission_avoided,
    return_on_investment,
)
from evaltool.economics.budget_impact import budget_impact
from evaltool.economics.cea import ceac, icer_decision, quadrant
from evaltool.economics.cheers import cheers_checklist
from evaltool.economics.config import EconomicsConfig, ProgrammeCostsConfig
from evaltool.economics.costs import enrolled_person_time, financial_year, inflate, programme_costs
from evaltool.economics.discounting import annuity_factor
from evaltool.economics.evaluation import economic_evaluation
from evaltool.economics.qalys import timepoint_years
from evaltool.economics.sensitivity import one_way_sensitivity
from evaltool.economics.simulate import simulate_economics
from evaltool.economics.stage import load_unit_cost_table
from evaltool.errors import DataValidationError, SpecError

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = "s"  # a source text


def _pt(rows):
    return pd.DataFrame(rows, columns=["person_id", "index_date", "entry", "exit", "years"])


# ---------------------------------------------------------------- costs and inflation
def test_inflation_uses_the_ratio_of_index_values():
    idx = {2022: 100.0, 2023: 105.9, 2024: 109.6}
    assert inflate(1000.0, 2022, 2024, idx) == pytest.approx(1096.0)
    assert inflate(1000.0, 2024, 2023, idx) == pytest.approx(1000 * 105.9 / 109.6)
    with pytest.raises(SpecError, match="no value for year"):
        inflate(1.0, 2019, 2024, idx)


def test_financial_year_boundaries():
    assert financial_year(pd.Timestamp("2023-04-01")) == 2023
    assert financial_year(pd.Timestamp("2024-03-31")) == 2023


def test_programme_costs_by_hand():
    cfg = ProgrammeCostsConfig(
        staff=[{"role": "Nurse", "wte": 2, "cost_per_wte_year": 40000, "source": SRC, "price_year": 2023,
                "start": "2023-10-01"}],
        non_staff=[{"item": "Licence", "annual_amount": 10000, "source": SRC, "price_year": 2024}],
        setup=[{"item": "Training", "amount": 50000, "date": "2023-04-01", "useful_life_years": 5, "source": SRC,
                "price_year": 2023}],
        per_patient=[{"item": "Kit", "amount": 100, "source": SRC, "price_year": 2024},
                     {"item": "Visits", "amount": 30, "basis": "per_patient_year", "source": SRC, "price_year": 2024}])
    start, end = pd.Timestamp("2023-04-01"), pd.Timestamp("2025-03-31")
    pt = _pt([["a", pd.Timestamp("2023-06-01"), pd.Timestamp("2023-06-01"), pd.Timestamp("2024-06-01"), 1.0],
              ["b", pd.Timestamp("2024-05-01"), pd.Timestamp("2024-05-01"), pd.Timestamp("2025-04-01"), 0.9]])
    r = programme_costs(cfg, price_year=2024, inflation={2023: 100.0, 2024: 104.0}, start=start, end=end,
                        person_time=pt, discount_rate=0.035)
    cost = dict(zip(r.lines["item"], r.lines["cost"]))
    days_nurse = (pd.Timestamp("2025-04-01") - pd.Timestamp("2023-10-01")).days
    assert cost["Nurse"] == pytest.approx(2 * 40000 * days_nurse / 365.25 * 1.04)
    days_all = (pd.Timestamp("2025-04-01") - start).days
    assert cost["Licence"] == pytest.approx(10000 * days_all / 365.25)
    # Set-up: equivalent annual cost 50,000 / A(5, 3.5%) for the 2 years inside the period, inflated.
    assert cost["Training"] == pytest.approx(50000 / annuity_factor(5, 0.035) * days_all / 365.25 * 1.04)
    assert cost["Kit"] == pytest.approx(200.0)  # two enrolments in the period
    py = ((pd.Timestamp("2024-06-01") - pd.Timestamp("2023-06-01")).days
          + (pd.Timestamp("2025-04-01") - pd.Timestamp("2024-05-01")).days) / 365.25
    assert cost["Visits"] == pytest.approx(30 * py)
    assert r.enrolled_years == pytest.approx(py)
    assert r.by_year["cost"].sum() == pytest.approx(r.total)
    assert set(r.by_year["financial_year"]) == {2023, 2024}
    check_result_contract(r)


def test_setup_in_full_is_charged_when_incurred():
    cfg = ProgrammeCostsConfig(setup_costs="in_full", setup=[
        {"item": "IT", "amount": 9000, "date": "2024-01-15", "source": SRC, "price_year": 2024},
        {"item": "Before", "amount": 5000, "date": "2022-01-15", "source": SRC, "price_year": 2024}])
    pt = _pt([["a", pd.Timestamp("2023-06-01"), pd.Timestamp("2023-06-01"), pd.Timestamp("2024-06-01"), 1.0]])
    r = programme_costs(cfg, price_year=2024, inflation=None, start=pd.Timestamp("2023-04-01"),
                        end=pd.Timestamp("2025-03-31"), person_time=pt)
    assert r.total == pytest.approx(9000.0)  # the earlier set-up cost falls outside the period
    assert r.by_year.set_index("financial_year")["cost"].to_dict() == {2023: 9000.0}


def test_enrolled_person_time_stops_at_death_leaving_caseload_and_period_end():
    pop = pd.DataFrame({"person_id": ["a", "b", "c", "d"], "treated": [1, 1, 1, 0],
                        "index_date": pd.to_datetime(["2023-01-01", "2024-01-01", "2024-01-01", None]),
                        "death_date": pd.to_datetime([None, "2024-03-01", None, None]),
                        "registration_end": pd.to_datetime([None, None, "2024-06-30", None])})
    t = enrolled_person_time(pop, pd.Timestamp("2023-04-01"), pd.Timestamp("2024-12-31"), caseload_months=12)
    days = dict(zip(t["person_id"], (t["exit"] - t["entry"]).dt.days))
    assert days == {"a": (pd.Timestamp("2024-01-01") - pd.Timestamp("2023-04-01")).days,  # caseload ends 12 months on
                    "b": (pd.Timestamp("2024-03-02") - pd.Timestamp("2024-01-01")).days,  # death day counts
                    "c": (pd.Timestamp("2024-07-01") - pd.Timestamp("2024-01-01")).days}


# ---------------------------------------------------------------- config
def _cfg(**kw):
    base = {"price_year": 2024, "programme_costs": {"staff": [
        {"role": "Nurse", "wte": 1, "cost_per_wte_year": 50000, "source": SRC, "price_year": 2024}]}}
    base.update(kw)
    return EconomicsConfig(**base)


def test_config_defaults_cite_nice_and_green_book():
    c = _cfg()
    assert c.discount_rate_costs == 0.035 and c.discount_rate_effects == 0.035
    assert [t.value for t in c.thresholds] == [20000.0, 30000.0]
    assert "PMG36" in c.thresholds[0].source and "April 2026" in c.thresholds[0].source
    assert "Green Book" in c.discount_source


@pytest.mark.parametrize("kw, msg", [
    ({"programme_costs": {"staff": [{"role": "N", "wte": 1, "cost_per_wte_year": 1, "source": SRC,
                                     "price_year": 2022}]}}, "give `inflation`"),
    ({"programme_costs": {"staff": [{"role": "N", "wte": 1, "cost_per_wte_year": 1, "source": " ",
                                     "price_year": 2024}]}}, "non-empty text"),
    ({"programme_costs": {}}, "at least one of"),
    ({"inflation": {"source": SRC, "values": {2024: 100.0}},
      "programme_costs": {"staff": [{"role": "N", "wte": 1, "cost_per_wte_year": 1, "source": SRC,
                                     "price_year": 2021}]}}, "no value for price year"),
    ({"activity_costs": {"source": "unit_costs"}}, "no unit costs are given"),
    ({"budget_impact": {"eligible_count": 10, "eligible_share_of_adults": 0.1}}, "not both"),
])
def test_config_errors_name_the_problem(kw, msg):
    with pytest.raises(ValueError, match=msg):
        _cfg(**kw)


def test_unit_cost_table(tmp_path):
    p = tmp_path / "uc.csv"
    p.write_text("setting,cost,source,price_year,low\nemergency_admission,2300,NCC,2023,1800\nae_attendance,250,NCC,2023,\n")
    uc = load_unit_cost_table(p)
    assert uc["emergency_admission"].cost == 2300 and uc["emergency_admission"].low == 1800
    assert uc["ae_attendance"].low is None
    p.write_text("setting,cost,source,price_year\nemergency_admission,lots,NCC,2023\n")
    with pytest.raises(DataValidationError, match="row 2 .*emergency_admission"):
        load_unit_cost_table(p)
    p.write_text("setting,cost\nx,1\n")
    with pytest.raises(DataValidationError, match="lacks column"):
        load_unit_cost_table(p)


def test_timepoint_labels():
    assert timepoint_years(["baseline", "3m", "26w", "2y"]) == pytest.approx(
        {"baseline": 0.0, "3m": 0.25, "26w": 26 * 7 / 365.25, "2y": 2.0})
    with pytest.raises(DataValidationError, match="timepoints_years"):
        timepoint_years(["baseline", "discharge"])
    assert timepoint_years(["baseline", "discharge"], {"discharge": 0.1})["discharge"] == 0.1


# ---------------------------------------------------------------- intervals
def test_bca_matches_scipy_on_a_skewed_mean():
    x = np.random.default_rng(5).lognormal(0, 1, 150)
    stats = np.column_stack([x, np.ones_like(x)])
    res = bootstrap_sets(stats, lambda t: {"mean": t[:, 0] / t[:, 1]}, replicates=20000, seed=1)
    ref = sps.bootstrap((x,), np.mean, n_resamples=20000, method="BCa", random_state=2).confidence_interval
    lo, hi = res.interval("mean", "bca")
    assert lo == pytest.approx(ref.low, rel=0.02) and hi == pytest.approx(ref.high, rel=0.02)
    _, p_hi = res.interval("mean", "percentile")
    assert hi - p_hi > 0  # right skew: BCa moves the upper end out
    check_result_contract(res)


def test_resampling_is_seeded():
    assert np.array_equal(resample_counts(50, 20, 3), resample_counts(50, 20, 3))
    assert not np.array_equal(resample_counts(50, 20, 3), resample_counts(50, 20, 4))


def test_undefined_replicates_are_left_out():
    d = np.r_[np.arange(100.0), np.nan, np.inf]
    assert percentile_interval(d, 0.5) == pytest.approx((24.75, 74.25))
    assert np.isnan(bca_interval(np.full(5, 1.0), 1.0, np.ones(5))[0])


# ---------------------------------------------------------------- decisions
@pytest.mark.parametrize("dc, dq, ci, expected", [
    (500.0, 0.05, (0.01, 0.09), (10000.0, "icer")),
    (-500.0, -0.05, (-0.09, -0.01), (10000.0, "icer")),
    (-100.0, 0.05, (0.01, 0.09), (None, "dominant")),
    (100.0, -0.05, (-0.09, -0.01), (None, "dominated")),
    (500.0, 0.05, (-0.01, 0.09), (None, "unstable")),
    (float("nan"), 0.05, (0.01, 0.09), (None, "not_estimable")),
])
def test_icer_only_when_meaningful(dc, dq, ci, expected):
    assert icer_decision(dc, dq, ci) == expected


def test_quadrants_and_ceac():
    assert [quadrant(1, 1), quadrant(-1, 1), quadrant(1, -1), quadrant(-1, -1)] == ["NE", "SE", "NW", "SW"]
    c = ceac(np.array([100.0, 200.0, 300.0, np.nan]), np.array([0.01, 0.01, 0.01, 0.01]), [0, 15000, 25000, 40000])
    assert c["probability"].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])


def test_break_even_and_return():
    assert break_even(1000.0, 2500.0, 0.3)["achievable"] is False  # would need 0.4 of 0.3 admissions
    assert break_even(1000.0, 2500.0, 0.8)["pct_reduction_needed"] == pytest.approx(50.0)
    assert np.isnan(break_even(1000.0, 0.0, 0.8)["admissions_needed"])
    assert return_on_investment(1000.0, -1500.0) == pytest.approx(0.5)
    assert cost_per_admission_avoided(900.0, -0.02, (-0.05, -0.01)) == (None, "more_admissions")


def test_budget_impact_scenarios():
    bi = budget_impact(eligible=1000, years=2, uptake=[0.5, 1.0], running_cost=1000.0, cost_change=(-200.0, -400.0, 0.0),
                       admissions_change=(-0.1, -0.2, 0.0), grow=0.1, setup_cost=5000.0, population=100000)
    t = bi.table.set_index(["scenario", "year"])
    assert t.loc[("estimate", 1), "net_cost"] == pytest.approx(500 * 800.0 + 5000)
    assert t.loc[("effect grows", 2), "activity_cost_change"] == pytest.approx(1000 * -200.0 * 1.1)
    assert t.loc[("interval: favourable", 2), "emergency_admissions_avoided"] == pytest.approx(200.0)
    assert t.loc[("estimate", 2), "net_cost_per_1000_population"] == pytest.approx(1000 * 800000.0 / 100000)
    check_result_contract(bi)


def test_sensitivity_uses_spec_ranges_and_defaults():
    lines = pd.DataFrame({"category": ["Staff", "Staff"], "item": ["A", "B"], "value": [100.0, 50.0],
                          "multiplier": [10.0, 10.0], "inflation_factor": [1.0, 1.0], "low": [80.0, None],
                          "high": [150.0, None], "cost": [1000.0, 500.0], "kind": ["staff", "staff"]})
    t = one_way_sensitivity(lines, enrolled_years=10.0, activity_cost_change=-20.0, activity_interval=(-50.0, 10.0),
                            unit_cost_terms={"emergency_admission": (-0.01, 2000.0, None, 3000.0)}).set_index("parameter")
    assert t.loc["Staff: A", ["result_low", "result_high"]].tolist() == pytest.approx([110.0, 180.0])
    assert t.loc["Staff: B", ["result_low", "result_high"]].tolist() == pytest.approx([120.0, 140.0])
    assert t.loc["Unit cost: emergency admission", ["result_low", "result_high"]].tolist() == pytest.approx([134.0, 120.0])
    assert t.loc["Change in activity cost (interval)", ["result_low", "result_high"]].tolist() == [100.0, 160.0]


def test_cheers_has_28_items_and_leaves_funding_to_the_authors():
    t = cheers_checklist({"perspective": "NHS", "qaly_design": "matched"})
    assert t["item"].tolist() == list(range(1, 29))
    assert t.set_index("item").loc[[19, 21, 25, 27, 28], "status"].eq("authors").all()
    assert "NHS" in t.set_index("item").loc[8, "in_this_report"]


def test_result_contracts():
    sim = simulate_economics(n_sets=150, seed=4)
    res = economic_evaluation(sim.stats, programme_cost=sim.programme_cost, unit_costs=sim.unit_costs,
                              qaly_design="matched", replicates=200, seed=1)
    check_result_contract(res)
    check_result_contract(res.cost_effectiveness())


# ---------------------------------------------------------------- layering and docs
def test_economics_imports_only_core_and_data_layer():
    allowed = {"evaltool._result", "evaltool.errors", "evaltool.stage", "evaltool.engine", "evaltool.inputs",
               "evaltool.cohort", "evaltool.plotting", "evaltool.dist"}
    for f in (ROOT / "evaltool" / "economics").glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for n in names:
                if n.startswith("evaltool") and not n.startswith("evaltool.economics"):
                    assert n in allowed, f"{f.name} imports {n}"


@pytest.mark.parametrize("mod", ["evaltool.economics." + p.stem for p in
                                 sorted((ROOT / "evaltool" / "economics").glob("*.py"))]
                         + ["evaltool.report.sentences_economics"])
def test_docstring_examples_run(mod):
    m = importlib.import_module(mod)
    fails, _ = doctest.testmod(m, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert fails == 0


def test_crossover_answers_join_only_the_enrolled_unit():
    from evaltool.economics.qalys import qaly_set_statistics

    units = pd.DataFrame({"person_id": ["a", "b", "b"], "treated": [1, 0, 1], "weights": [1.0, 1.0, 1.0],
                          "subclass": ["1", "1", "2"]})  # b was a's control, then enrolled (set 2)
    q = pd.DataFrame({"person_id": ["a", "b"], "u0": [0.5, 0.6], "qaly": [0.6, 0.7], "qaly_baseline": [0.5, 0.6]})
    _, _, counts = qaly_set_statistics(units, q, np.array(["1", "2"]), enrolled={"a", "b"})
    assert counts == {"n_treated": 2, "n_control": 0}
    _, _, counts = qaly_set_statistics(units, q, np.array(["1", "2"]))
    assert counts == {"n_treated": 2, "n_control": 1}


def test_mean_event_cost_in_the_engine_equals_pandas():
    from evaltool.economics.stage import mean_event_cost
    from evaltool.engine import as_table, connect

    act = pd.DataFrame({"person_id": ["a", "a", "b", "c"], "setting": ["emergency_admission"] * 3 + ["ae_attendance"],
                        "cost": [1000.25, 3000.0, 9999.0, 5.0]})
    con = connect()
    t = as_table(con, act, "_t_econ_cost")
    assert mean_event_cost(t, "emergency_admission", {"a", "c"}) == mean_event_cost(act, "emergency_admission",
                                                                                    {"a", "c"}) == (2000.125, 2)
    assert mean_event_cost(t, "emergency_admission", {"zzz"}) is None
    assert mean_event_cost(act.drop(columns="cost"), "emergency_admission", {"a"}) is None
