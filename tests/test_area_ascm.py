"""Augmented synthetic control (ridge ASCM): against pysyncon's AugSynth, and on simulated panels.

Reference: ``pysyncon.AugSynth`` (PyPI ``pysyncon`` 1.7, an independent implementation of the ``augsynth``
R package's ridge ASCM, ``progfunc = "Ridge", scm = TRUE``), run for real on California's Proposition 99
(``tests/data/california_prop99.csv``, the ``synthdid`` package's data; 38 donor states, 19 pre-periods).
Values it gives (pysyncon 1.7.0): cross-validated lambda 429.8376, ATT -15.95260 packs per capita, plain SCM
-19.51365.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool.area.ascm import augmented_synthetic_control, ridge_ascm_weights
from evaltool.datasets.area_sim import simulate_area_panel
from evaltool.errors import DataValidationError, EstimationError

DATA = Path(__file__).parent / "data" / "california_prop99.csv"


@pytest.fixture(scope="module")
def prop99() -> pd.DataFrame:
    return pd.read_csv(DATA, sep=";")


@pytest.fixture(scope="module")
def ours(prop99):
    return augmented_synthetic_control(prop99, "PacksPerCapita", "State", "Year", "California", 1989)


def test_prop99_recorded_pysyncon_values(ours):
    # recorded from pysyncon 1.7.0 (the live comparison is the next test)
    assert ours.lam == pytest.approx(429.837582813449, rel=1e-9)
    assert ours.estimate == pytest.approx(-15.95260, abs=2e-4)
    assert ours.sc_estimate == pytest.approx(-19.51365, abs=2e-4)
    assert ours.weights["weight"].sum() == pytest.approx(1.0, abs=1e-8)
    assert ours.weights["sc_weight"].min() >= 0 and (ours.weights["weight"] < 0).any()  # ridge extrapolates
    assert ours.pre_rmspe < ours.sc_pre_rmspe
    assert ours.df == 37 and len(ours.placebos) == 38
    assert ours.ci_lower < ours.estimate < ours.ci_upper


def test_prop99_matches_pysyncon_augsynth(prop99, ours):
    pysyncon = pytest.importorskip("pysyncon")
    states = sorted(prop99["State"].unique())
    ctrl = [s for s in states if s != "California"]
    pre = list(range(1970, 1989))
    dp = pysyncon.Dataprep(foo=prop99, predictors=[], predictors_op="mean", dependent="PacksPerCapita",
                           unit_variable="State", time_variable="Year", treatment_identifier="California",
                           controls_identifier=ctrl, time_predictors_prior=pre, time_optimize_ssr=pre)
    a = pysyncon.AugSynth()
    a.fit(dp, use_covariates=False)
    Z0, Z1 = dp.make_outcome_mats(time_period=a.post_periods)
    att = float((Z1 - (Z0 * a.W).sum(axis=1)).mean())
    att_sc = float((Z1 - (Z0 * a.synw).sum(axis=1)).mean())
    assert ours.lam == pytest.approx(a.lambda_, rel=1e-9)
    np.testing.assert_allclose(ours.cv["lambda"], a.cv_result.lambdas, rtol=1e-9)
    np.testing.assert_allclose(ours.cv["cv_error"], a.cv_result.errors_mean, rtol=1e-3)
    w = ours.weights.set_index("area_id").loc[ctrl]
    np.testing.assert_allclose(w["weight"], np.asarray(a.W), atol=2e-5)
    np.testing.assert_allclose(w["sc_weight"], np.asarray(a.synw), atol=2e-5)
    assert ours.estimate == pytest.approx(att, abs=1e-3)
    assert ours.sc_estimate == pytest.approx(att_sc, abs=1e-3)
    # the same lambda given explicitly gives the same weights
    _, waug, lam, cv = ridge_ascm_weights(
        prop99[(prop99.State == "California") & (prop99.Year < 1989)]["PacksPerCapita"].to_numpy(),
        prop99[(prop99.State != "California") & (prop99.Year < 1989)].pivot(
            index="Year", columns="State", values="PacksPerCapita")[ctrl].to_numpy(), lam=a.lambda_)
    assert cv.empty and lam == a.lambda_
    np.testing.assert_allclose(waug, np.asarray(a.W), atol=2e-5)


def test_corrects_synthetic_control_at_the_edge():
    # generated with rules unlike Southvale's (evaltool.datasets.area_sim): the treated area 0.08 above every
    # donor on the log scale; plain SC is biased upwards (towards no effect), the augmented estimate is not
    sc, aug = [], []
    for seed in range(6):
        s = simulate_area_panel(n_donors=15, n_months=40, go_live_month=28, rate_ratio=0.9, edge=True, seed=seed)
        p = s.panel.assign(log_rate=lambda d: np.log(d["events"] / d["person_years"]))
        go = sorted(p["month"].unique())[28]
        r = augmented_synthetic_control(p, "log_rate", "area_id", "month", "T", go, placebos=False)
        sc.append(r.sc_estimate)
        aug.append(r.estimate)
    assert np.mean(sc) - np.log(0.9) > 0.04
    assert abs(np.mean(aug) - np.log(0.9)) < 0.03


def test_fixed_effects_remove_a_constant_gap_exactly():
    rng = np.random.default_rng(0)
    T, J = 20, 8
    donors = rng.normal(0, 1, (J, T)).cumsum(axis=1)
    w = np.array([0.5, 0.5] + [0] * (J - 2))
    treated = w @ donors + 5.0  # far above: a constant gap
    treated[15:] -= 1.0
    rows = [{"u": f"D{j}", "t": t, "y": donors[j, t]} for j in range(J) for t in range(T)]
    rows += [{"u": "T", "t": t, "y": treated[t]} for t in range(T)]
    r = augmented_synthetic_control(pd.DataFrame(rows), "y", "u", "t", "T", 15, fixed_effects=True,
                                    placebos=False)
    assert r.estimate == pytest.approx(-1.0, abs=0.05)
    assert r.sc_estimate == pytest.approx(-1.0, abs=0.05)  # demeaned, plain SC reaches it too


def test_bad_inputs():
    s = simulate_area_panel(n_donors=3, n_months=12, go_live_month=8, seed=1).panel
    with pytest.raises(DataValidationError, match="lacks column"):
        augmented_synthetic_control(s, "nope", "area_id", "month", "T", "2020-09-01")
    with pytest.raises(DataValidationError, match="not in"):
        augmented_synthetic_control(s, "events", "area_id", "month", "X", "2020-09-01")
    with pytest.raises(EstimationError, match="pre-period"):
        augmented_synthetic_control(s, "events", "area_id", "month", "T", "2020-02-01")
    with pytest.raises(EstimationError, match="3 donor"):
        augmented_synthetic_control(s[s.area_id.isin(["T", "D01", "D02"])], "events", "area_id", "month", "T",
                                    "2020-09-01")
    before = s.copy()
    augmented_synthetic_control(s, "events", "area_id", "month", "T", "2020-09-01")
    pd.testing.assert_frame_equal(s, before)
