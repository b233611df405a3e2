"""Coded designs give the dense fit's estimates and SEs; with a continuous covariate, pyfixest's coefficients."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaltool.effects.coded import CodedDesign, xt_dot
from evaltool.effects.poisson import fepois


def _panel(n_units=600, T=10, seed=3):
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), T)
    per = np.tile(np.arange(T), n_units)
    tr = (rng.random(n_units) < 0.5)[unit].astype(int)
    codes = per * 2 + tr
    D = np.zeros((2 * T, T))
    for g in range(2 * T):
        p, t = divmod(g, 2)
        if p > 0:
            D[g, p - 1] = 1.0
        D[g, T - 1] = t * (p >= T // 2)
    z = rng.normal(size=(len(unit), 1)) + 0.2 * per[:, None] / T
    lam = np.exp(-1.0 + 0.25 * z[:, 0] - 0.3 * D[codes, -1] + rng.normal(0, 0.7, n_units)[unit] + 0.03 * per)
    y = rng.poisson(lam).astype(float)
    e = rng.uniform(0.5, 1.5, len(y))
    w = rng.uniform(0.5, 2.0, n_units)[unit]
    return y, e, w, unit, per, codes, D, z


@pytest.mark.parametrize("with_z", [False, True])
@pytest.mark.parametrize("clustered", [False, True])
def test_coded_equals_dense(with_z, clustered):
    y, e, w, unit, _, codes, D, z = _panel()
    cd = CodedDesign(codes, D, z if with_z else None)
    cl = unit // 4 if clustered else None
    a = fepois(y, cd.dense(), unit, exposure=e, weights=w, cluster=cl)
    b = fepois(y, cd, unit, exposure=e, weights=w, cluster=cl)
    assert np.allclose(a.coef, b.coef, rtol=0, atol=1e-10)
    assert np.allclose(a.vcov, b.vcov, rtol=1e-9, atol=1e-14)
    assert (a.n_obs, a.df_k, a.n_clusters) == (b.n_obs, b.df_k, b.n_clusters)
    v = np.arange(len(y), dtype=float)
    assert np.allclose(xt_dot(cd, v), cd.dense().T @ v)


def test_coded_with_covariate_matches_pyfixest():
    pf = pytest.importorskip("pyfixest")
    y, e, w, unit, per, codes, D, z = _panel(n_units=400, T=8)
    T = 8
    cd = CodedDesign(codes, D, z)
    f = fepois(y, cd, unit, cluster=unit // 4)
    df = pd.DataFrame({"y": y, "d": D[codes, -1], "x": z[:, 0], "unit": unit, "per": per, "cl": unit // 4})
    m = pf.fepois("y ~ d + x | unit + per", data=df, vcov={"CRV1": "cl"})
    assert f.coef[T - 1] == pytest.approx(float(m.coef()["d"]), abs=1e-7)
    assert f.coef[T] == pytest.approx(float(m.coef()["x"]), abs=1e-7)
    # SEs: same convention up to the count of fixed-effect levels in K (relative difference ~1e-4 here).
    assert f.std_error()[T] == pytest.approx(float(m.se()["x"]), rel=2e-3)
