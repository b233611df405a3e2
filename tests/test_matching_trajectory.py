"""Trajectory-aware matching: profile bins, their covariates and per-month balance against brute force,
Mahalanobis within calipers against a direct search, and the design on data whose enrolment rules differ
from Southvale's (two admissions in six months; a risk-score threshold)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evaltool.datasets.programme import simulate_programme
from evaltool.effects.matched import matched_did
from evaltool.errors import EvaltoolWarning
from evaltool.matching.config import MatchingConfig
from evaltool.matching.nearest import mahalanobis_caliper_match
from evaltool.matching.riskset import activity_covariates, parse_activity_covariates
from evaltool.matching.stage import run_stage, trajectory_settings
from evaltool.matching.trajectory import profile_bins, profile_covariates, spanned_by

# The pre-period margin the design must meet on data it was not tuned on: the bias implied by the pre-period
# trend (evaltool.effects.pretrend: the GLS line through months -12..-2 against month -1, extrapolated over
# the 12 months between the mean pre- and post-period month) within a factor of exp(+-0.2) = 0.82-1.22 on the
# rate ratio, every month's pre-period rate ratio within 0.5-2, and the joint pre-trend test not rejecting
# at 1%. Totals-only matching misses all three on the same data (test below).
TREND_BIAS_MARGIN = 0.2
PRE_MONTH_RANGE = (0.5, 2.0)


def test_profile_bins_and_names():
    assert profile_bins(12) == [(1, 1), (2, 2), (3, 3), (4, 6), (7, 9), (10, 12)]
    assert profile_bins(24, monthly=1)[-1] == (23, 24)
    assert profile_bins(2) == [(1, 1), (2, 2)]
    assert list(profile_covariates(["bed_days"], 6)) == ["bed_days_m1", "bed_days_m2", "bed_days_m3", "bed_days_m4_6"]
    assert spanned_by(1, 3, profile_bins(12)) and spanned_by(1, 12, profile_bins(12))
    assert not spanned_by(1, 5, profile_bins(12)) and not spanned_by(1, 24, profile_bins(12))
    assert parse_activity_covariates(["ae_attendance_m7_9", "ae_attendance_m0", "age"]) == {
        "ae_attendance_m7_9": ("ae_attendance", 7, 9)}


def test_profile_covariates_equal_brute_force():
    d = simulate_programme(n_people=2000, n_enrolled=20, seed=4)
    act, ws = d.activity, pd.Timestamp(d.window_start)
    periods = np.array([14, 27])
    wanted = profile_covariates(["emergency_admission", "bed_days"], 12)
    got = activity_covariates(act, periods, ws, wanted).set_index(["period", "person_id"]).sort_index()
    mi = (act.date.dt.year - ws.year) * 12 + act.date.dt.month - ws.month
    for p in periods:
        for name, (ms, first, last) in wanted.items():
            sel = act[(mi >= p - last) & (mi <= p - first) & (act.setting == "emergency_admission")]
            ref = sel.groupby("person_id").size() if ms != "bed_days" else sel.groupby("person_id")["bed_days"].sum()
            mine = got.loc[p, name]
            pd.testing.assert_series_equal(mine[mine > 0].sort_index(), ref[ref > 0].astype(float).sort_index(),
                                           check_names=False, check_index_type=False)


def test_mahalanobis_within_caliper_equals_direct_search():
    rng = np.random.default_rng(3)
    n = 400
    t = rng.random(n) < 0.15
    Z = rng.normal(size=(n, 3))
    ps = rng.normal(size=n) + t
    cal = 0.3
    got = mahalanobis_caliper_match(Z, ps, t, caliper=cal, ratio=2)
    # direct: treated in decreasing score, each round picks the nearest available control within the caliper
    idx1 = np.flatnonzero(t)
    order = idx1[np.argsort(-ps[idx1], kind="stable")]
    used = np.zeros(n, bool)
    ref = {i: [-1, -1] for i in idx1}
    for r in range(2):
        for i in order:
            if r and ref[i][0] < 0:
                continue
            c = np.flatnonzero(~t & ~used & (np.abs(ps - ps[i]) <= cal))
            if c.size:
                dist = ((Z[c] - Z[i]) ** 2).sum(axis=1)
                j = c[np.lexsort((c, np.abs(ps[c] - ps[i]), dist))[0]]
                ref[i][r] = j
                used[j] = True
    np.testing.assert_array_equal(got, np.array([ref[i] for i in idx1]))


def _run(d, config: MatchingConfig):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaltoolWarning)
        out = run_stage(d.population, d.activity, d.practices, config, window_start=d.window_start,
                        window_end=d.window_end, seed=1, pre_months=12)
        r = matched_did(out.objects["matched_cohort"], d.activity, d.population, event_study=True,
                        window_start=d.window_start, window_end=d.window_end)
    return out, r


def _pre(r):
    es = r.event_study
    return es[es["period"] < -1]


@pytest.mark.parametrize("rule,seed", [("admissions", 12), ("risk_threshold", 12)])
def test_default_trajectory_matching_holds_on_other_enrolment_rules(rule, seed):
    d = simulate_programme(n_people=25_000, n_enrolled=400, rule=rule, seed=seed)
    truth = d.truth["true_rate_ratios"]["emergency_admission"]
    out, r = _run(d, MatchingConfig())
    assert out.facts["trajectory_outcomes"] == ["emergency_admission", "ae_attendance", "bed_days"]
    assert out.facts["trajectory_months"] == 12
    tb = out.tables["trajectory_balance"]
    assert set(tb["month"]) == set(range(-12, 0))
    pre = _pre(r)
    assert abs(np.log(r.pretrend_test["bias_ratio"])) < TREND_BIAS_MARGIN
    assert pre["rate_ratio"].between(*PRE_MONTH_RANGE).all()
    assert r.pretrend_test["p_value"] > 0.01
    e = r.effect("all")
    assert e["ci_lower"] < truth < e["ci_upper"]
    assert out.facts["max_abs_smd_trajectory_after"] < 0.2


def test_totals_only_matching_fails_the_same_check():
    """The check has power: the old matching set (12- and 3-month totals, no profile) fails it."""
    d = simulate_programme(n_people=25_000, n_enrolled=400, rule="admissions", seed=12)
    _, r = _run(d, MatchingConfig(trajectory=None))
    pre = _pre(r)
    assert abs(np.log(r.pretrend_test["bias_ratio"])) > TREND_BIAS_MARGIN
    assert not pre["rate_ratio"].between(*PRE_MONTH_RANGE).all()
    assert r.pretrend_test["p_value"] < 1e-6


def test_trajectory_settings_follow_the_spec():
    cfg = MatchingConfig(covariates=("age", "cost_12m"), trajectory={"months": 6, "monthly": 1})
    assert trajectory_settings(cfg, pre_months=12) == {
        "trajectory": ["cost"], "trajectory_months": 6, "trajectory_monthly": 1, "trajectory_match": "propensity",
        "trajectory_thresholds": [1, 2, 3]}
    assert trajectory_settings(MatchingConfig(trajectory=False)) == {}
    assert trajectory_settings(MatchingConfig(), pre_months=18)["trajectory_months"] == 18
    with pytest.raises(ValueError, match="outcomes: expected some of"):
        MatchingConfig(trajectory={"outcomes": ["admissions"]})


def test_trajectory_balance_equals_brute_force():
    from evaltool.matching import risk_set_match

    d = simulate_programme(n_people=4000, n_enrolled=60, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaltoolWarning)
        res = risk_set_match(d.population, d.activity, window_start=d.window_start, window_end=d.window_end,
                             covariates=["age", "sex", "emergency_admission_12m"], seed=1, ratio=2,
                             trajectory=["emergency_admission", "bed_days"], trajectory_months=6)
    tb = res.trajectory_balance().set_index(["outcome", "month"])
    coh = res.matched_cohort
    act = d.activity[d.activity.setting == "emergency_admission"]
    a = act.merge(coh[["person_id", "index_date", "treated", "weights", "subclass"]], on="person_id")
    rel = (a.date.dt.year - a.index_date.dt.year) * 12 + a.date.dt.month - a.index_date.dt.month
    a = a.assign(month=rel)[(rel >= -6) & (rel <= -1)]
    for ms, v in (("emergency_admission", None), ("bed_days", "bed_days")):
        val = a["weights"] * (1.0 if v is None else a[v])
        s = val.groupby([a["treated"], a["month"]]).sum()
        wt = coh.groupby("treated")["weights"].sum()
        for m in range(-6, 0):
            assert tb.loc[(ms, m), "mean_treated"] == pytest.approx(s.get((1, m), 0.0) / wt[1], abs=1e-12)
            assert tb.loc[(ms, m), "mean_control_after"] == pytest.approx(s.get((0, m), 0.0) / wt[0], abs=1e-12)
    assert res.max_abs_smd_trajectory == pytest.approx(tb["smd_after"].abs().max())
    p = res.plot("trajectory")
    assert p is not None


def test_profile_balance_added_in_a_thread_equals_added_in_turn():
    """``add_soon`` (each risk set's sums in a thread while the next is matched) gives the same table, bit for
    bit, as ``add``; an error in the thread is raised when the table is asked for."""
    from evaltool.matching import trajectory as tr

    rng = np.random.default_rng(11)
    inline, soon = tr.ProfileBalance(["a", "b"], 4), tr.ProfileBalance(["a", "b"], 4)
    kept_rows = []
    for p in range(6, 12):
        rows = np.sort(rng.choice(5000, 1500, replace=False))
        t = rng.random(rows.size) < 0.05
        values = rng.poisson(0.3, size=(rows.size, 8)).astype(float) * rng.random((rows.size, 8))
        keep = t | (rng.random(rows.size) < 0.05)
        inline.add(p, rows, t, values, keep=keep)
        soon.add_soon(p, rows, t, values, keep=keep)
        kept_rows += [(p, r, int(tt)) for r, tt, k in zip(rows, t, keep) if k]
    coh = pd.DataFrame(kept_rows, columns=["_period", "_row", "treated"]).assign(weights=1.0)
    pd.testing.assert_frame_equal(inline.table(coh), soon.table(coh), check_exact=True)

    bad = tr.ProfileBalance(["a"], 2)
    bad.add_soon(1, np.arange(3), np.array([True, False, False]), np.ones((3, 5)))  # 5 columns, not 2
    with pytest.raises(ValueError):
        bad.table(coh.iloc[:0])
