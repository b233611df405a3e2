"""Callaway & Sant'Anna att_gt / aggregate: pinned to R did's published mpdta output, plus simulations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaltool.effects as ef
from evaltool._result import check_result_contract
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning

HERE = Path(__file__).parent
REF = HERE / "reference" / "did"
SPECS = {
    "nocov_never": {"covariates": None, "control_group": "never_treated"},
    "lpop_never": {"covariates": ["lpop"], "control_group": "never_treated"},
    "lpop_notyet": {"covariates": ["lpop"], "control_group": "not_yet_treated"},
}
TOL4 = 0.5e-4 + 1e-9  # agreement to the 4 printed decimals


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(HERE / "data" / "mpdta.csv")


@pytest.fixture(scope="module")
def fits(mpdta):
    return {k: ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", bootstrap=False, **v)
            for k, v in SPECS.items()}


@pytest.mark.parametrize("spec", list(SPECS))
def test_att_gt_matches_r_did(fits, spec):
    ref = pd.read_csv(REF / "att_gt_mpdta.csv").query("spec == @spec")
    got = fits[spec].to_frame().merge(ref, on=["group", "time"], validate="1:1")
    assert len(got) == 12
    np.testing.assert_allclose(got["estimate"], got["att"], atol=TOL4)
    # R prints bootstrap SEs (Monte Carlo noise); analytic SEs agree within 15% cell by cell, 8% on average
    rel = (got["std_error"] / got["se_boot"] - 1).abs()
    assert rel.max() < 0.15 and rel.mean() < 0.08


@pytest.mark.parametrize("spec", list(SPECS))
def test_pretest_matches_r_did(fits, spec):
    ref = pd.read_csv(REF / "pretest_mpdta.csv").set_index("spec")["p_value"]
    assert fits[spec].pretest_p_value == pytest.approx(ref[spec], abs=0.5e-5 + 1e-9)
    assert fits[spec].pretest_df == 5


@pytest.mark.parametrize("kind", ["simple", "dynamic", "group", "calendar"])
def test_aggregations_match_r_did(fits, kind):
    ref = pd.read_csv(REF / "aggte_mpdta.csv").query("kind == @kind")
    agg = fits["nocov_never"].aggregate(kind)
    fr = agg.to_frame()
    assert fr.loc[0, "level"] == "overall"
    o = ref.query("label == 'overall'").iloc[0]
    assert fr.loc[0, "estimate"] == pytest.approx(o["estimate"], abs=TOL4)
    assert fr.loc[0, "std_error"] == pytest.approx(o["se_boot"], rel=0.15)
    comp = ref.query("label != 'overall'").assign(label=lambda d: d["label"].astype(float))
    if len(comp):
        got = fr.iloc[1:].assign(label=lambda d: d["label"].astype(float)).merge(comp, on="label", validate="1:1")
        assert len(got) == len(comp)
        np.testing.assert_allclose(got["estimate_x"], got["estimate_y"], atol=TOL4)
        assert ((got["std_error"] / got["se_boot"] - 1).abs() < 0.15).all()


def test_published_headline_numbers(fits):
    r = fits["nocov_never"]
    vals = {k: round(r.aggregate(k).overall["estimate"], 4) for k in ["simple", "dynamic", "group", "calendar"]}
    assert vals == {"simple": -0.0400, "dynamic": -0.0772, "group": -0.0310, "calendar": -0.0417}
    assert round(r.pretest_p_value, 3) == 0.168


def test_analytic_se_is_influence_function_formula(fits, mpdta):
    # same identity R did's own tests pin: se = sqrt(colSums(IF^2))/n, and cluster sums with a cluster
    r = fits["nocov_never"]
    IF = r._inffunc
    np.testing.assert_allclose(r.to_frame()["std_error"], np.sqrt((IF**2).sum(0)) / IF.shape[0], rtol=1e-12)
    d = mpdta.assign(state=mpdta["countyreal"] // 1000)
    rc = ef.att_gt(d, "lemp", "countyreal", "year", "first.treat", cluster="state", bootstrap=False)
    S = pd.DataFrame(rc._inffunc).groupby(rc._cluster).sum().to_numpy()
    np.testing.assert_allclose(rc.to_frame()["std_error"], np.sqrt((S**2).sum(0)) / IF.shape[0], rtol=1e-12)
    assert rc.n_clusters == d["state"].nunique()


def test_methods_coincide_without_covariates(mpdta):
    ests = [ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", method=m, bootstrap=False)
            .to_frame()["estimate"].to_numpy() for m in ["dr", "ipw", "reg"]]
    np.testing.assert_allclose(ests[0], ests[1], atol=1e-12)
    np.testing.assert_allclose(ests[0], ests[2], atol=1e-12)


def test_ipw_and_reg_with_covariate_close_to_dr(fits, mpdta):
    dr = fits["lpop_never"].to_frame()["estimate"].to_numpy()
    for m in ["ipw", "reg"]:
        e = ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", covariates=["lpop"], method=m,
                      bootstrap=False).to_frame()["estimate"].to_numpy()
        assert np.max(np.abs(e - dr)) < 0.01


def test_bootstrap_seeded_and_uniform_band(mpdta, fits):
    a = ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", reps=999, seed=7)
    b = ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", reps=999, seed=7)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    fa, fn = a.to_frame(), fits["nocov_never"].to_frame()
    assert ((fa["std_error"] / fn["std_error"] - 1).abs() < 0.15).all()
    # uniform band: critical value above the pointwise 1.96 (R reports ~2.7 for 12 cells)
    assert 2.2 < a.crit_value < 3.3
    np.testing.assert_allclose(fa["ci_upper"] - fa["estimate"], a.crit_value * fa["std_error"])


def test_universal_base_period(mpdta, fits):
    u = ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", base_period="universal", bootstrap=False)
    fu = u.to_frame()
    post_u = fu[fu["post"]].set_index(["group", "time"])["estimate"]
    fv = fits["nocov_never"].to_frame()
    post_v = fv[fv["post"]].set_index(["group", "time"])["estimate"]
    pd.testing.assert_series_equal(post_u.sort_index(), post_v.sort_index())
    ref_rows = fu[fu["time"] == fu["group"] - 1]
    assert (ref_rows["estimate"] == 0).all() and ref_rows["std_error"].isna().all()
    assert len(fu) == 15


def simulate_staggered(seed: int, n: int = 600, T: int = 8) -> tuple[pd.DataFrame, dict[int, float]]:
    """Staggered adoption with dynamic, cohort-specific effects; returns data and true dynamic ATT(e)."""
    rng = np.random.default_rng(seed)
    cohorts = rng.choice([0, 3, 5, 7], size=n, p=[0.3, 0.25, 0.25, 0.2])
    unit_fe = rng.normal(size=n) + 0.3 * (cohorts > 0)
    t = np.arange(1, T + 1)
    e = t[None, :] - cohorts[:, None]
    treated = (cohorts[:, None] > 0) & (e >= 0)
    # effect grows with exposure and is larger for early cohorts -> TWFE is biased
    effect = np.where(treated, (0.5 + 0.3 * e) * np.where(cohorts[:, None] == 3, 1.5, 1.0), 0.0)
    y = unit_fe[:, None] + 0.2 * t[None, :] + effect + rng.normal(0, 0.5, size=(n, T))
    d = pd.DataFrame({"id": np.repeat(np.arange(n), T), "t": np.tile(t, n), "g": np.repeat(cohorts, T),
                      "y": y.ravel(), "D": treated.ravel().astype(int)})
    truth = {}
    eff = effect[treated]
    ee = e[treated]
    for k in np.unique(ee):
        truth[int(k)] = float(eff[ee == k].mean())
    return d, truth


def test_simulation_recovers_dynamic_truth_and_twfe_warns():
    d, truth = simulate_staggered(1)
    r = ef.att_gt(d, "y", "id", "t", "g", control_group="not_yet_treated", bootstrap=False)
    dyn = r.aggregate("dynamic").to_frame().iloc[1:]
    dyn["label"] = dyn["label"].astype(int)
    for e, tv in truth.items():
        row = dyn[dyn["label"] == e].iloc[0]
        assert abs(row["estimate"] - tv) < 4 * row["std_error"]
    pre = dyn[dyn["label"] < 0]
    assert (pre["estimate"].abs() < 4 * pre["std_error"]).all()
    pt = r.aggregate("dynamic").pretest()
    assert pt["df"] == (dyn["label"] < 0).sum() and pt["p_value"] > 0.001
    simple_truth = float(np.mean([v for v in d.loc[d.D == 1].pipe(lambda x: x.assign(
        e=x.t - x.g)).e.map(truth)]))
    s = r.aggregate("simple").overall
    assert abs(s["estimate"] - simple_truth) < 4 * s["std_error"]
    with pytest.warns(EstimationWarning, match="negative"):
        tw = ef.twfe(d, "y", "id", "t", "D")
    assert tw.n_negative_weights > 0
    # TWFE is pulled away from the simple ATT by the forbidden comparisons
    assert abs(tw.estimate - simple_truth) > abs(s["estimate"] - simple_truth)


def test_caller_data_unchanged(mpdta):
    before = mpdta.copy()
    ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", covariates=["lpop"], bootstrap=False)
    pd.testing.assert_frame_equal(before, mpdta)


def test_bad_inputs(mpdta):
    with pytest.raises(DataValidationError, match="lacks column"):
        ef.att_gt(mpdta, "nope", "countyreal", "year", "first.treat")
    no_never = mpdta[mpdta["first.treat"] > 0]
    with pytest.raises(EstimationError, match="no never-treated units"):
        ef.att_gt(no_never, "lemp", "countyreal", "year", "first.treat", bootstrap=False)
    # not-yet-treated still works without never-treated units (last cohort serves as comparison)
    with pytest.warns(EstimationWarning, match="no comparison units for group 2007"):
        r = ef.att_gt(no_never, "lemp", "countyreal", "year", "first.treat", control_group="not_yet_treated",
                      bootstrap=False)
    assert set(r.to_frame()["group"]) == {2004, 2006, 2007} and len(r.to_frame()) == 8
    with pytest.raises(EstimationError, match="no treated cohorts"):
        ef.att_gt(mpdta.assign(g=0), "lemp", "countyreal", "year", "g")
    # a cohort treated in the first period has no pre-period: dropped with a warning
    d = mpdta.copy()
    d.loc[d["countyreal"].isin(d["countyreal"].unique()[:3]), "first.treat"] = 2003
    with pytest.warns(EstimationWarning, match="no pre-period"):
        ef.att_gt(d, "lemp", "countyreal", "year", "first.treat", bootstrap=False)
    # a cohort with a single unit warns
    d = mpdta.copy()
    d.loc[d["countyreal"] == d["countyreal"].iloc[0], "first.treat"] = 2005
    with pytest.warns(EstimationWarning, match="single unit"):
        ef.att_gt(d, "lemp", "countyreal", "year", "first.treat", bootstrap=False)
    with pytest.raises(DataValidationError, match="constant within"):
        d = mpdta.copy()
        d.loc[0, "first.treat"] = 2006
        ef.att_gt(d, "lemp", "countyreal", "year", "first.treat")
    # unbalanced units are dropped with a count
    with pytest.warns(EstimationWarning, match="1 of 500 units"):
        ef.att_gt(mpdta.iloc[1:], "lemp", "countyreal", "year", "first.treat", bootstrap=False)
    with pytest.raises(EstimationError, match="control_group"):
        ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", control_group="nevertreated")


def test_result_contract(fits):
    r = fits["nocov_never"]
    check_result_contract(r)
    for k in ["simple", "dynamic", "group", "calendar"]:
        check_result_contract(r.aggregate(k))
    s = str(r.summary())
    assert "0.16812" in s


def test_anticipation_shifts_base_period():
    # units respond one period before go-live; with anticipation=1 the base period is g-2 and the effects
    # from go-live on are recovered, while ignoring anticipation understates them
    rng = np.random.default_rng(11)
    n, T = 800, 8
    cohorts = rng.choice([0, 4, 6], size=n, p=[0.4, 0.3, 0.3])
    t = np.arange(1, T + 1)
    e = t[None, :] - cohorts[:, None]
    eff = np.where((cohorts[:, None] > 0) & (e >= -1), 1.0, 0.0)
    y = rng.normal(size=n)[:, None] + 0.1 * t[None, :] + eff + rng.normal(0, 0.3, (n, T))
    d = pd.DataFrame({"id": np.repeat(np.arange(n), T), "t": np.tile(t, n), "g": np.repeat(cohorts, T),
                      "y": y.ravel()})
    with_ant = ef.att_gt(d, "y", "id", "t", "g", anticipation=1, bootstrap=False).aggregate("dynamic").table
    without = ef.att_gt(d, "y", "id", "t", "g", bootstrap=False).aggregate("dynamic").table
    w = with_ant.set_index(with_ant["label"].astype(int))["estimate"]
    wo = without.set_index(without["label"].astype(int))["estimate"]
    assert abs(w.loc[0] - 1.0) < 0.06 and abs(w.loc[-1] - 1.0) < 0.06  # e = -1 is the anticipation period
    assert abs(wo.loc[0]) < 0.06  # the base period g-1 is already affected: effect differenced away


def _r_has_did() -> bool:
    import shutil
    import subprocess

    if shutil.which("Rscript") is None:
        return False
    r = subprocess.run(["Rscript", "-e", "quit(status = !requireNamespace('did', quietly = TRUE))"],
                       capture_output=True, check=False)
    return r.returncode == 0


@pytest.mark.needs_r
def test_analytic_numbers_match_live_r_did(tmp_path, fits):
    """With R's did installed, every ATT(g,t), aggregation and analytic SE matches to 1e-6."""
    import subprocess

    if not _r_has_did():
        pytest.skip("Rscript or the R package did is not installed")
    out = tmp_path / "r_did.csv"
    subprocess.run(["Rscript", str(REF / "att_gt_mpdta.R"), str(HERE / "data" / "mpdta.csv"), str(out)], check=True)
    r = pd.read_csv(out)
    for spec, res in fits.items():  # noqa: PERF102 (spec is used inside query strings)
        ours = res.to_frame()
        theirs = r.query("spec == @spec and kind == 'att_gt'")
        m = ours.merge(theirs, on=["group", "time"])
        np.testing.assert_allclose(m["estimate_x"], m["estimate_y"], atol=1e-6)
        np.testing.assert_allclose(m["std_error_x"], m["std_error_y"], rtol=1e-5)
        for k in ["simple", "dynamic", "group", "calendar"]:
            fr = res.aggregate(k).to_frame()
            th = r.query("spec == @spec and kind == @k")
            o = th[th["label"] == "overall"].iloc[0]
            assert fr.loc[0, "estimate"] == pytest.approx(o["estimate"], abs=1e-6)
            assert fr.loc[0, "std_error"] == pytest.approx(o["std_error"], rel=1e-5)
