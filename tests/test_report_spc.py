"""XmR limits and Making Data Count rules against hand-computed examples."""
import numpy as np
import pytest

from evaltool._result import check_result_contract
from evaltool.errors import ReportError
from evaltool.report.spc import xmr


def test_limits_hand_computed():
    # Alternating 10, 12: every moving range is 2, mean 11 -> limits 11 +/- 2.66 * 2 = 5.68 and 16.32.
    r = xmr([10, 12] * 6)
    assert r.mean == pytest.approx(11.0)
    assert r.mr_bar == pytest.approx(2.0)
    assert (r.lcl, r.ucl) == pytest.approx((5.68, 16.32))
    assert not r.special_cause.any()


def test_point_outside_limits():
    # [10, 12] x 5 then 30: mean 140/11 = 12.727; moving ranges 9 x 2 + 18 = 36 over 10 -> 3.6;
    # UCL = 12.727 + 2.66 * 3.6 = 22.303, so 30 is outside.
    r = xmr([10, 12] * 5 + [30])
    assert r.mean == pytest.approx(140 / 11)
    assert r.mr_bar == pytest.approx(3.6)
    assert r.ucl == pytest.approx(140 / 11 + 2.66 * 3.6)
    assert np.flatnonzero(r.outside).tolist() == [10]


def test_shift_needs_seven():
    # mean = 46 / 15 = 3.07: the first 9 points are below (a run of 9 -> flagged), the last 6 above (not enough).
    r = xmr([1, 2, 1, 2, 1, 2, 1, 2, 1, 5, 6, 5, 6, 5, 6])
    assert r.shift.tolist() == [True] * 9 + [False] * 6


def test_point_on_mean_breaks_run():
    # mean is exactly 3; the point equal to 3 splits the six-point runs.
    v = [1, 1, 1, 1, 1, 1, 3, 5, 5, 5, 5, 5, 5]
    assert xmr(v).mean == pytest.approx(3.0)
    assert not xmr(v).shift.any()


def test_trend_of_seven_points():
    r = xmr([5, 5, 5, 1, 2, 3, 4, 5, 6, 7, 5, 5])
    assert np.flatnonzero(r.trend).tolist() == [3, 4, 5, 6, 7, 8, 9]
    # Six rising points are not a trend; an equal neighbour breaks one.
    assert not xmr([5, 5, 1, 2, 3, 4, 5, 6, 5]).trend.any()
    assert not xmr([5, 1, 2, 3, 3, 4, 5, 6, 7, 5]).trend.any()


def test_two_of_three_beyond_two_thirds():
    # [10, 12] x 8 then 16, 11, 16, 12, 10: mean 241/21 = 11.476; moving ranges 15 x 2 + 4 + 5 + 5 + 4 + 2 = 50
    # over 20 -> 2.5; UCL = 11.476 + 6.65 = 18.126; two-thirds line = 11.476 + 4.433 = 15.910.
    v = [10, 12] * 8 + [16, 11, 16, 12, 10]
    r = xmr(v)
    assert r.mean == pytest.approx(241 / 21) and r.mr_bar == pytest.approx(2.5)
    assert not r.outside.any()
    assert np.flatnonzero(r.two_of_three).tolist() == [16, 18]


def test_errors_and_contract():
    with pytest.raises(ReportError, match="at least 2"):
        xmr([1])
    with pytest.raises(ReportError, match="positions \\[1\\]"):
        xmr([1, float("nan"), 3])
    r = xmr([10, 12, 11, 13, 12, 14, 9], [f"m{i}" for i in range(7)], improvement="down")
    check_result_contract(r)
    assert r.to_frame()["moving_range"].iloc[1] == 2


def test_phased_chart_seasonal_adjustment_and_go_live():
    """Regression: raw monthly rates with winter peaks flagged 27 of 48 months as 'special cause'. The chart
    now marks go-live, computes limits per phase and removes the seasons (factors from the baseline)."""
    from evaltool.report.spc import phased_chart, seasonal_factors

    rng = np.random.default_rng(1)
    months = np.tile(np.arange(1, 13), 4)
    season = 1 + 0.12 * np.cos(2 * np.pi * (months - 1) / 12)  # winter peak, like emergency admissions
    values = 10 * season * (1 + rng.normal(0, 0.015, months.size))
    labels = [f"{2021 + (i + 3) // 12}-{(i + 3) % 12 + 1:02d}" for i in range(48)]
    raw = phased_chart(values, labels, change_start=24, change_end=35, seasonal=False)
    adj = phased_chart(values, labels, change_start=24, change_end=35)
    assert adj.adjusted and not raw.adjusted
    assert sum(raw.signals().values()) > 10 and sum(adj.signals().values()) <= 2
    assert [p[0] for p in adj.phases] == ["Before go-live", "During roll-out", "After roll-out"]
    assert (adj.phases[1][1], adj.phases[1][2]) == (24, 35)
    # Factors from the baseline only; a baseline shorter than two years is not adjusted.
    f = seasonal_factors(values, months, np.arange(48) < 24)
    assert f[0] == pytest.approx(values[[0, 12]].mean() / values[:24].mean())
    assert seasonal_factors(values, months, np.arange(48) < 12) is None
    assert phased_chart(values[:30], labels[:30], change_start=12).adjusted is False
    p = adj.plot("Admissions per 1,000")
    assert p is not None
