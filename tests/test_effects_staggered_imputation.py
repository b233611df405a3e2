"""Imputation estimator (BJS): equivalence with extended TWFE, simulation truth, Poisson variant, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.effects.imputation import imputation
from evaltool.errors import EstimationError, EstimationWarning

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(HERE / "data" / "mpdta.csv")


def test_equals_extended_twfe_on_mpdta(mpdta):
    # Without covariates the imputation ATT(g,t) equal the cohort x period interaction coefficients of the
    # saturated TWFE regression (Wooldridge 2021; BJS 2024 Prop.), so the overall ATT is their count-weighted mean.
    d = mpdta.copy()
    d["cell"] = np.where((d["first.treat"] > 0) & (d["year"] >= d["first.treat"]),
                         d["first.treat"].astype(str) + "_" + d["year"].astype(str), "none")
    cells = sorted(c for c in d["cell"].unique() if c != "none")
    X = np.column_stack(
        [(d["cell"] == c).to_numpy(float) for c in cells]
        + [(d["year"] == y).to_numpy(float) for y in sorted(d["year"].unique())[1:]]
    )
    # absorb county effects by within-county demeaning (Frisch-Waugh-Lovell, exact)
    Xd = X - pd.DataFrame(X).groupby(d["countyreal"].to_numpy()).transform("mean").to_numpy()
    yd = d["lemp"] - d.groupby("countyreal")["lemp"].transform("mean")
    coef = np.linalg.lstsq(Xd, yd.to_numpy(), rcond=None)[0][: len(cells)]
    counts = np.array([(d["cell"] == c).sum() for c in cells])
    r = imputation(mpdta, "lemp", "countyreal", "year", "first.treat")
    assert r.overall["estimate"] == pytest.approx(float(coef @ counts / counts.sum()), abs=1e-10)
    assert round(r.overall["estimate"], 4) == -0.0477
    ev = r.to_frame().set_index("label")
    # the by-horizon estimates average (by count) to the overall estimate
    w = ev.loc[["0", "1", "2", "3"], "n_obs"]
    assert float((ev.loc[w.index, "estimate"] * w).sum() / w.sum()) == pytest.approx(r.overall["estimate"])
    check_result_contract(r)


def _sim(seed: int, G: int = 40, T: int = 10, sd: float = 1.0):
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(G), T)
    t = np.tile(np.arange(1, T + 1), G)
    first = np.where(np.arange(G) < int(0.7 * G), 4 + np.arange(G) % 5, 0)
    g = first[u]
    e = t - g
    D = (g > 0) & (e >= 0)
    eff = np.where(D, 1.0 + 0.25 * e, 0.0)
    y = rng.normal(size=G)[u] + 0.3 * t + eff + rng.normal(0, sd, len(u))
    return pd.DataFrame({"u": u, "t": t, "g": g, "y": y}), float(eff[D].mean())


def test_simulation_unbiased_and_ci_covers():
    ests, covers = [], []
    for s in range(40):
        d, truth = _sim(s)
        r = imputation(d, "y", "u", "t", "g").overall
        ests.append(r["estimate"] - truth)
        covers.append(r["ci_lower"] <= truth <= r["ci_upper"])
    assert abs(np.mean(ests)) < 0.05
    assert np.mean(covers) >= 0.85  # conservative BJS variance: coverage at or above nominal


def test_wild_bootstrap_option(mpdta):
    d, truth = _sim(3, G=25)
    r = imputation(d, "y", "u", "t", "g", wild_bootstrap=True, reps=299, seed=5)
    r2 = imputation(d, "y", "u", "t", "g", wild_bootstrap=True, reps=299, seed=5)
    pd.testing.assert_frame_equal(r.to_frame(), r2.to_frame())
    o = r.overall
    assert o["ci_lower"] < truth < o["ci_upper"] and o["p_value"] < 0.05
    assert "wild cluster bootstrap" in r.settings["inference"]


def _pois(seed: int, rr: float = 0.8, G: int = 25, T: int = 16):
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(G), T)
    t = np.tile(np.arange(T), G)
    g = np.where(np.arange(G) < 18, 4 + np.arange(G) % 10, 0)[u]
    expo = rng.uniform(1000, 3000, G)[u] / 4
    lam = np.exp(np.log(0.1) + rng.normal(0, 0.2, G)[u] + 0.02 * t) * expo * np.where((g > 0) & (t >= g), rr, 1.0)
    return pd.DataFrame({"u": u, "t": t, "g": g, "y": rng.poisson(lam), "py": expo})


def test_poisson_recovers_rate_ratio():
    ests, cover = [], []
    for s in range(6):
        r = imputation(_pois(s), "y", "u", "t", "g", family="poisson", exposure="py").overall
        ests.append(np.log(r["estimate"]))
        cover.append(r["ci_lower"] <= 0.8 <= r["ci_upper"])
    assert abs(np.exp(np.mean(ests)) - 0.8) < 0.02
    assert np.mean(cover) >= 0.8


def test_poisson_bad_input():
    d = _pois(1)
    with pytest.raises(EstimationError, match="exposure"):
        imputation(d, "y", "u", "t", "g", family="poisson")
    with pytest.raises(EstimationError, match="zero in every row"):
        imputation(d.assign(y=0), "y", "u", "t", "g", family="poisson", exposure="py")
    d2 = d.copy()
    d2.loc[d2.index[d2["u"] == 24][:2], "py"] = 0.0  # a never-treated practice with two empty quarters
    with pytest.warns(EstimationWarning, match="zero or missing exposure"):
        imputation(d2, "y", "u", "t", "g", family="poisson", exposure="py")


def test_no_pre_period_and_no_comparison_errors():
    d, _ = _sim(1)
    d1 = d.copy()
    d1.loc[d1["u"] == 0, "g"] = 1  # treated from the first period
    with pytest.raises(EstimationError, match="no pre-period"):
        imputation(d1, "y", "u", "t", "g")
    d2 = d[d["g"] > 0]  # no never-treated: last periods have no untreated observations
    with pytest.raises(EstimationError, match="no untreated"):
        imputation(d2, "y", "u", "t", "g")
    with pytest.raises(EstimationError, match="no treated observations"):
        imputation(d.assign(g=0), "y", "u", "t", "g")


def test_regression_bjs_variance_with_single_practice_cohorts():
    # Bug found by benchmarks/did_staggered/coverage.py: with one practice per cohort the cohort x event-time
    # mean made treated residuals zero, the SE too small and 95% CIs covered only 76%. Leave-cluster-out means fix it.
    rng = np.random.default_rng(7)
    G, T, hits, reps = 25, 12, 0, 80
    for _ in range(reps):
        u = np.repeat(np.arange(G), T)
        t = np.tile(np.arange(1, T + 1), G)
        first = np.zeros(G, int)
        first[rng.choice(G, 5, replace=False)] = rng.choice(np.arange(5, 12), 5, replace=False)
        g = first[u]
        e = np.empty((G, T))
        e[:, 0] = rng.normal(size=G)
        for k in range(1, T):
            e[:, k] = 0.6 * e[:, k - 1] + 0.8 * rng.normal(size=G)
        y = rng.normal(size=G)[u] + 0.1 * t + 0.5 * ((g > 0) & (t >= g)) + (np.exp(rng.normal(0, 0.8, G))[:, None]
                                                                          * e).ravel()
        r = imputation(pd.DataFrame({"u": u, "t": t, "g": g, "y": y}), "y", "u", "t", "g", horizons=[]).overall
        hits += r["ci_lower"] <= 0.5 <= r["ci_upper"]
    assert hits / reps >= 0.88
