"""What academics expect of the API: statsmodels-style accessors, formulas, etable, ValueError, R's names."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaltool
from evaltool.effects import att_gt, imputation, twfe
from evaltool.errors import EstimationError, SpecError
from evaltool.formula import parse_formula
from evaltool.matching import match

DATA = Path(__file__).parent / "data"
COV = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    d = pd.read_csv(DATA / "mpdta.csv")
    d["D"] = ((d["first.treat"] > 0) & (d["year"] >= d["first.treat"])).astype(int)
    return d


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(DATA / "lalonde.csv")


# ---- statsmodels-style accessors ----------------------------------------------------------------

def test_att_gt_accessors_are_views_of_to_frame_with_integer_labels(mpdta):
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", bootstrap=False)
    f = res.to_frame()
    assert f["group"].dtype.kind == "i" and f["event_time"].dtype.kind == "i"  # 2004, not 2004.0
    assert res.params.index.names == ["group", "time"] and res.params.loc[(2004, 2004)] == f.estimate.iloc[0]
    np.testing.assert_array_equal(res.bse.to_numpy(), f.std_error.to_numpy())
    np.testing.assert_array_equal(res.pvalues.to_numpy(), f.p_value.to_numpy())
    ci = res.conf_int()
    assert list(ci.columns) == [0, 1] and np.allclose(ci[0], f.ci_lower) and np.allclose(ci[1], f.ci_upper)
    np.testing.assert_allclose(res.tvalues, f.estimate / f.std_error)
    assert res.nobs == 500  # counties, as R's did reports n
    with pytest.raises(ValueError, match="alpha=0.05"):
        res.conf_int(alpha=0.1)
    dyn = res.aggregate("dynamic")
    assert list(dyn.params.index[:3]) == ["overall", -3, -2]
    assert dyn.params["overall"] == pytest.approx(-0.0772, abs=5e-5)  # R did's dynamic overall ATT
    assert str(dyn.to_frame()["label"].iloc[1]) == "-3"


def test_twfe_matches_linearmodels_panelols(mpdta):
    """linearmodels as an independent reference for the linear two-way FE fit (coefficient and SE convention)."""
    from linearmodels.panel import PanelOLS

    ours = twfe(mpdta, "lemp", "countyreal", "year", "D")
    panel = mpdta.set_index(["countyreal", "year"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm = PanelOLS(panel["lemp"], panel[["D"]], entity_effects=True, time_effects=True).fit(
            cov_type="clustered", cluster_entity=True, group_debias=True, debiased=False)
    assert ours.params["D"] == pytest.approx(lm.params["D"], rel=1e-12)
    assert ours.nobs == lm.nobs == 2500
    # Clustered by county, unit effects nested in clusters: on a balanced panel (T = 5 years) linearmodels'
    # SE is sqrt(T / (T - 1)) times the SE with K = 5 (D and 4 years) in (N - 1) / (N - K); fixest's default
    # (ours, issue 14) also counts the nested unit effect as one parameter (K = 6), so one more factor
    # sqrt((N - 6) / (N - 5)).
    n = 2500
    assert lm.std_errors["D"] / ours.bse["D"] == pytest.approx(np.sqrt(5 / 4 * (n - 6) / (n - 5)), rel=1e-9)


def test_imputation_and_matched_did_accessors():
    from evaltool.effects.matched import matched_did, simulate_matched_cohort

    cohort, activity, population = simulate_matched_cohort(600, seed=3)
    res = matched_did(cohort, activity, population, "emergency_admission", subgroups=["age_band"])
    rr = res.effect("under 65")
    # Poisson: params are log rate ratios, bse their SEs, conf_int on the same scale.
    assert res.params["under 65"] == pytest.approx(np.log(rr["estimate"]))
    assert res.bse["under 65"] == pytest.approx(rr["std_error"])
    assert np.exp(res.conf_int().loc["under 65", 1]) == pytest.approx(rr["ci_upper"])
    assert list(res.params.index) == ["all", *[s for s in res.params.index if s != "all"]]
    assert res.nobs == res.info["n_people"]


def test_etable_side_by_side(mpdta):
    cs = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", bootstrap=False).aggregate("dynamic")
    imp = imputation(mpdta, "lemp", "countyreal", "year", "first.treat", jackknife=False)
    tw = twfe(mpdta, "lemp", "countyreal", "year", "D")
    tab = evaltool.etable(tw, cs, imp, names=["TWFE", "C&S", "BJS"])
    t = tab.table()
    assert list(t.columns) == ["TWFE", "C&S", "BJS"]
    assert t.loc["Observations"].tolist() == ["2,500", "500", "2,500"]
    assert t.loc["overall", "C&S"].startswith("-0.077")
    long = tab.to_frame()
    assert set(long["model"]) == {"TWFE", "C&S", "BJS"}
    assert "<table" in tab._repr_html_() and "| Observations |" in tab.to_markdown()
    from evaltool._result import check_result_contract

    check_result_contract(tab)
    with pytest.raises(ValueError, match="names"):
        evaltool.etable(tw, cs, names=["a"])
    with pytest.raises(ValueError, match="has no"):
        evaltool.etable(tw, object())


# ---- formulas ------------------------------------------------------------------------------------

def test_match_formula_equals_column_arguments(lalonde):
    a = match("treat ~ " + " + ".join(COV), lalonde, ratio=1)
    b = match(lalonde, "treat", COV, ratio=1)
    pd.testing.assert_frame_equal(a.matched_data(), b.matched_data())


def test_att_gt_xformla_equals_covariates(mpdta):
    a = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", xformla="~ lpop", bootstrap=False)
    b = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", covariates=["lpop"], bootstrap=False)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    with pytest.raises(ValueError, match="not both"):
        att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", xformla="~ lpop", covariates=["lpop"])


@pytest.mark.parametrize("text, message", [
    ("treat ~ __import__('os').system('echo hi')", "unexpected '\\('"),
    ("treat ~ age * sex", "unexpected '\\*'"),
    ("treat ~ I(age**2)", "unexpected '\\('"),
    ("treat ~ age + ", "expected a column name after"),
    ("treat ~ age - 1", "removing the intercept"),
    ("treat age", "exactly one '~'"),
    ("a + b ~ c", "one column name"),
    ("treat ~ `age", "unclosed backquote"),
])
def test_formula_refuses_anything_but_column_names(text, message):
    with pytest.raises(ValueError, match=message):
        parse_formula(text)


def test_formula_names_unknown_columns_with_a_hint(lalonde):
    with pytest.raises(SpecError, match="'eduk' \\(did you mean 'educ'\\?\\)"):
        match("treat ~ age + eduk", lalonde)
    assert parse_formula("y ~ `risk score` + x.1 + 1").terms == ("risk score", "x.1")


# ---- errors and conventions ---------------------------------------------------------------------

def test_argument_errors_are_value_errors(mpdta, lalonde):
    with pytest.raises(ValueError):
        att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", control_group="everyone")
    with pytest.raises(ValueError):
        match(lalonde, "treat", COV, method="optimal")
    with pytest.raises(ValueError):
        evaltool.load_spec(DATA / "no_such_spec.yaml")
    assert issubclass(EstimationError, ValueError) and not issubclass(evaltool.errors.ReportError, ValueError)


def test_eq5d_index_accepts_r_column_names():
    from evaltool.proms import eq5d_index

    lower = pd.DataFrame({"mo": [1, 5, 3], "sc": [1, 5, 3], "ua": [1, 5, 3], "pd": [1, 5, 3], "ad": [1, 5, 3]})
    upper = lower.rename(columns=str.upper)  # R's eq5d package: MO SC UA PD AD
    a = eq5d_index(lower, value_set="england_5l_2018")
    b = eq5d_index(upper, value_set="england_5l_2018")
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.round(np.asarray(b, dtype=float), 3).tolist()[:2] == [1.0, -0.285]  # Devlin et al. 2018


def test_column_name_arguments_as_r_did():
    """risk_set_match and matched_did on data with the user's own column names (R did's idname/tname)."""
    from evaltool.effects.matched import matched_did, simulate_matched_cohort

    cohort, activity, population = simulate_matched_cohort(400, seed=5)
    a = matched_did(cohort, activity, population, "emergency_admission")
    names = {"person_id": "pid", "date": "event_date", "setting": "kind"}
    b = matched_did(cohort.rename(columns={"person_id": "pid"}),
                    activity.rename(columns={"person_id": "pid", "date": "event_date", "setting": "kind"}),
                    population.rename(columns={"person_id": "pid"}), "emergency_admission", columns=names)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert "pid" in activity.rename(columns={"person_id": "pid"}).columns  # callers' frames untouched
    with pytest.raises(ValueError, match="has no column\\(s\\) 'visit_date' \\(for date\\)"):
        matched_did(cohort, activity, population, "emergency_admission", columns={"date": "visit_date"})
    with pytest.raises(ValueError, match="keys are contract names"):
        matched_did(cohort, activity, population, "emergency_admission", columns={"idname": "pid"})


def test_risk_set_match_with_own_column_names():
    from evaltool.datasets import southvale
    from evaltool.matching import risk_set_match

    d = southvale(scale=0.03, seed=4)
    kw = dict(window_start="2021-04-01", window_end="2025-03-31", covariates=["age", "emergency_admission_12m"],
              lookback_months=[12], seed=1)
    a = risk_set_match(d.population, d.activity, **kw)
    pop = d.population.rename(columns={"person_id": "nhs_pseudo", "treated": "enrolled", "index_date": "start"})
    act = d.activity.rename(columns={"person_id": "nhs_pseudo", "date": "event_date"})
    b = risk_set_match(pop, act, columns={"person_id": "nhs_pseudo", "treated": "enrolled", "index_date": "start",
                                          "date": "event_date"}, **kw)
    pd.testing.assert_frame_equal(a.matched_data(), b.matched_data())
