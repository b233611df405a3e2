"""Sensitivity analyses: placebo go-live, leave-one-out, pre-period length, relative-magnitude bounds."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.effects.imputation import imputation
from evaltool.effects.sensitivity import (
    leave_one_out,
    placebo_go_live,
    relative_magnitude_bounds,
    vary_pre_periods,
)
from evaltool.errors import EstimationError


def _panel(seed: int, pretrend: float = 0.0, G: int = 30, T: int = 12):
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(G), T)
    t = np.tile(np.arange(1, T + 1), G)
    first = np.where(np.arange(G) < 20, 6 + np.arange(G) % 4, 0)
    g = first[u]
    D = (g > 0) & (t >= g)
    # optional differential trend for treated units (violates parallel trends)
    y = rng.normal(size=G)[u] + 0.2 * t + 1.0 * D + pretrend * (g > 0) * t + rng.normal(0, 0.3, len(u))
    return pd.DataFrame({"u": u, "t": t, "g": g, "y": y})


def test_placebo_null_when_parallel_and_detects_pretrend():
    ok = placebo_go_live(_panel(1), "y", "u", "t", "g", shifts=[1, 2]).to_frame()
    assert ((ok["ci_lower"] < 0) & (ok["ci_upper"] > 0)).all()
    assert (ok["estimate"].abs() < 0.2).all()
    bad = placebo_go_live(_panel(1, pretrend=0.3), "y", "u", "t", "g", shifts=[2]).to_frame()
    assert bad["p_value"].iloc[0] < 0.01 and bad["estimate"].iloc[0] > 0.2


def test_placebo_uses_pre_period_data_only():
    d = _panel(2)
    # post-go-live outcomes are irrelevant to the placebo: scrambling them changes nothing
    d2 = d.copy()
    post = (d2.g > 0) & (d2.t >= d2.g)
    d2.loc[post, "y"] = 1e6
    a = placebo_go_live(d, "y", "u", "t", "g", shifts=[1]).to_frame()
    b = placebo_go_live(d2, "y", "u", "t", "g", shifts=[1]).to_frame()
    pd.testing.assert_frame_equal(a, b)


def test_leave_one_out_and_pre_periods():
    d = _panel(3)
    ref = imputation(d, "y", "u", "t", "g").overall["estimate"]
    res = leave_one_out(d, "u", lambda x: imputation(x, "y", "u", "t", "g", horizons=[]).overall, reference=ref)
    fr = res.to_frame()
    assert len(fr) == 30 and fr["estimate"].between(ref - 0.1, ref + 0.1).all()
    vpr = vary_pre_periods(d, "y", "u", "t", "g", lengths=[1, 3, 5], reference=ref)
    vp = vpr.to_frame()
    assert list(vp["pre_periods"]) == [1, 3, 5]
    assert (vp["estimate"] - 1.0).abs().max() < 0.15
    for r in (res, vpr):
        check_result_contract(r)


def test_relative_magnitude_bounds():
    es = pd.DataFrame({"label": [-3, -2, -1, 0, 1, 2], "estimate": [0.02, -0.01, 0.01, -0.3, -0.4, -0.5],
                       "std_error": [0.02] * 3 + [0.05] * 3})
    rm = relative_magnitude_bounds(es, mbar=[0, 1, 2])
    fr = rm.to_frame()
    # Mbar = 0 is the usual interval; the bound grows linearly with Mbar: M * max|pre| * mean(e + 1)
    assert fr.loc[0, "bias_bound"] == 0
    assert fr.loc[1, "bias_bound"] == pytest.approx(1 * 0.02 * 2.0)
    assert fr.loc[2, "bias_bound"] == pytest.approx(2 * 0.02 * 2.0)
    assert fr.loc[0, "ci_upper"] == pytest.approx(-0.4 + 1.959964 * 0.05, abs=1e-5)
    assert not fr["includes_zero"].iloc[0]
    assert "breakdown Mbar" in rm.note
    bd = float(rm.note.split("= ")[-1])
    assert bd == pytest.approx((0.4 - 1.959964 * 0.05) / (0.02 * 2.0), rel=1e-4)
    check_result_contract(rm)
    with pytest.raises(EstimationError, match="no pre-period"):
        relative_magnitude_bounds(es[es.label >= 0])
