"""Risk-set matching: a simulation with a known regression-to-the-mean spike, covariates vs a brute-force
reference, follow-up policies, the stage contract, and Southvale."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.errors import DataValidationError, MatchingError, MatchingWarning
from evaltool.matching import pre_trajectory, risk_set_match
from evaltool.matching.config import MatchingConfig
from evaltool.matching.riskset import activity_covariates
from evaltool.stage import StageOutput

WS, WE = pd.Timestamp("2021-01-01"), pd.Timestamp("2023-12-31")
COVS = ["age", "sex", "risk_score", "emergency_admission_12m", "emergency_admission_3m"]


def simulate(seed: int = 7, n: int = 4000, months: int = 36):
    """People with a persistent admission rate plus AR(1) monthly shocks; from month 15 on, each month the
    few not-yet-enrolled people with most admissions in the last 3 months are enrolled. No true effect, so any
    post-index fall is regression to the mean."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(0.6, 0.05, size=n)  # persistent monthly rate
    shock = np.zeros((n, months))
    z = np.zeros(n)
    for m in range(months):  # loop over months only
        z = 0.5 * z + rng.normal(0, 0.9, size=n)
        shock[:, m] = z
    rate = level[:, None] * np.exp(shock - 0.9 ** 2 / (2 * (1 - 0.25)))
    counts = rng.poisson(rate)
    enrol = np.full(n, -1)
    recent = np.zeros(n)
    for m in range(15, 30):
        recent = counts[:, m - 3:m].sum(axis=1)
        cand = np.flatnonzero(enrol < 0)
        w = np.exp(1.5 * np.minimum(recent[cand], 4))
        top = rng.choice(cand, size=12, replace=False, p=w / w.sum())
        enrol[top] = m
    month_start = pd.DatetimeIndex((np.datetime64("2021-01", "M") + np.arange(months)).astype("datetime64[D]"))
    pid, mon = np.nonzero(counts)
    reps = counts[pid, mon]
    pid, mon = np.repeat(pid, reps), np.repeat(mon, reps)
    day = rng.integers(0, 28, size=pid.size)
    act = pd.DataFrame({"person_id": [f"P{i:05d}" for i in pid],
                        "date": month_start[mon] + pd.to_timedelta(day, unit="D"),
                        "setting": "emergency_admission", "bed_days": 2.0, "cost": 1000.0})
    birth = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 60 * 365, size=n), unit="D")
    pop = pd.DataFrame({
        "person_id": [f"P{i:05d}" for i in range(n)],
        "practice_id": [f"S{k:02d}" for k in rng.integers(0, 10, size=n)],
        "sex": np.where(rng.random(n) < 0.5, "F", "M"),
        "birth_date": birth,
        "treated": (enrol >= 0).astype(int),
        "index_date": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"),
        "risk_score": np.clip(level * 5 + rng.normal(0, 0.02, n), 0, 1),
        "registration_start": pd.Timestamp("2015-01-01"),
        "registration_end": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"),
        "death_date": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"),
    })
    pop.loc[enrol >= 0, "index_date"] = month_start[enrol[enrol >= 0]]
    return pop, act


@pytest.fixture(scope="module")
def sim():
    return simulate()


@pytest.fixture(scope="module")
def matched(sim):
    pop, act = sim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatchingWarning)
        return risk_set_match(pop, act, window_start=WS, window_end=WE, covariates=COVS, caliper=0.2, seed=1)


def test_activity_covariates_equal_brute_force(sim):
    pop, act = sim
    periods = np.array([15, 20])
    got = activity_covariates(act, periods, WS, {"emergency_admission_12m": ("emergency_admission", 12),
                                                 "emergency_admission_3m": ("emergency_admission", 3)})
    got = got.set_index(["period", "person_id"]).sort_index()
    mi = (act.date.dt.year - 2021) * 12 + act.date.dt.month - 1
    for p in periods:
        for L, col in ((12, "emergency_admission_12m"), (3, "emergency_admission_3m")):
            ref = act[(mi >= p - L) & (mi < p)].groupby("person_id").size()
            mine = got.loc[p, col]
            mine = mine[mine > 0]
            pd.testing.assert_series_equal(mine.sort_index(), ref.astype(float).sort_index(), check_names=False,
                                           check_index_type=False)


def test_risk_set_removes_regression_to_the_mean(sim, matched):
    pop, act = sim
    traj = pre_trajectory(matched.matched_cohort, act, window_start=WS, window_end=WE)
    r = traj.pivot(index="month_relative", columns="group", values="rate_per_1000")
    pre_t, pre_c = r.loc[-3:-1, "treated"].mean(), r.loc[-3:-1, "matched controls"].mean()
    post_t, post_c = r.loc[1:6, "treated"].mean(), r.loc[1:6, "matched controls"].mean()
    # the artefact: the enrolled fall sharply after a selected spike, with no true effect
    assert pre_t > 2.5 * post_t
    # the matched controls show the same spike and the same fall
    assert pre_c == pytest.approx(pre_t, rel=0.2)
    assert abs(post_t - post_c) < 0.2 * (pre_t - post_t)
    assert matched.max_abs_smd_after < 0.1


def test_controls_eligible_and_no_post_index_information(sim, matched):
    pop, act = sim
    coh = matched.matched_cohort
    ctrl = coh[coh.treated == 0].merge(pop[["person_id", "index_date"]], on="person_id", suffixes=("", "_own"))
    # a control was not enrolled at (or before) the index month it inherited
    assert ((ctrl.index_date_own.isna()) | (ctrl.index_date_own > ctrl.index_date)).all()
    # the control's 3-month count equals a count of events strictly before the inherited index date
    a = act.merge(ctrl[["person_id", "index_date", "subclass"]], on="person_id")
    a = a[(a.date < a.index_date) & (a.date >= a.index_date - pd.DateOffset(months=3))]
    n3 = a.groupby("subclass").size().reindex(ctrl.subclass, fill_value=0).to_numpy()
    np.testing.assert_array_equal(n3, ctrl.emergency_admission_3m.to_numpy())
    # without replacement, each person is a control once
    assert ctrl.person_id.is_unique
    # crossovers: controls enrolled later are counted
    assert matched.crossovers == int(ctrl.index_date_own.notna().sum())
    assert matched.crossovers > 0


def test_followup_policies(sim):
    pop, act = sim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatchingWarning)
        keep = risk_set_match(pop, act, window_start=WS, window_end=WE, covariates=COVS, seed=1, followup="keep")
        cens = risk_set_match(pop, act, window_start=WS, window_end=WE, covariates=COVS, seed=1, followup="censor")
    k, c = keep.matched_cohort, cens.matched_cohort
    pd.testing.assert_frame_equal(pop, simulate()[0])  # the caller's data are unchanged
    pd.testing.assert_frame_equal(k.drop(columns="censor_date"), c.drop(columns="censor_date"))
    x = c[c.crossover].merge(pop[["person_id", "index_date"]], on="person_id", suffixes=("", "_own"))
    assert (x.censor_date == x.index_date_own - pd.Timedelta(days=1)).all()
    assert (k.censor_date == WE).all()


def test_bad_inputs(sim):
    pop, act = sim
    with pytest.raises(MatchingError, match="no treated"):
        risk_set_match(pop.assign(treated=0), act, window_start=WS, window_end=WE, covariates=COVS)
    bad = pop.copy()
    bad.loc[[1, 2], "risk_score"] = np.nan
    with pytest.raises(DataValidationError, match=r"missing values in matching variable\(s\) \['risk_score'\] for 2"):
        risk_set_match(bad, act, window_start=WS, window_end=WE, covariates=COVS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatchingWarning)
        res = risk_set_match(bad, act, window_start=WS, window_end=WE, covariates=COVS, missing="exclude")
    assert res.excluded == {"missing_covariate": 2}
    lonely = pop.assign(practice_id=np.where(pop.treated == 1, pop.person_id, pop.practice_id))
    with pytest.raises(MatchingError, match="nobody was matched"), warnings.catch_warnings():
        warnings.simplefilter("ignore", MatchingWarning)
        risk_set_match(lonely, act, window_start=WS, window_end=WE, covariates=COVS, exact=["practice_id"])


def test_config_messages():
    with pytest.raises(ValueError, match="caliper: expected a number > 0, got -1"):
        MatchingConfig(caliper=-1)
    with pytest.raises(ValueError, match="extra"):
        MatchingConfig(calliper=0.1)


def test_stage_contract(sim, matched):
    from evaltool.matching.stage import run_stage

    pop, act = sim
    cfg = MatchingConfig(covariates=tuple(COVS))
    out = run_stage(pop, act, None, cfg, window_start=WS, window_end=WE, seed=1)
    assert isinstance(out, StageOutput) and out.section == "matching"
    # ps_bins: the data of the propensity score figure, which the report draws after disclosure control.
    assert set(out.tables) == {"balance", "matching_summary", "pre_trajectory", "ps_bins", "trajectory_balance"}
    assert out.table_meta["ps_bins"].publish is False and out.table_meta["ps_bins"].count_columns == ("n",)
    assert set(out.figures) == {"love_plot", "ps_distribution", "pre_trajectory", "trajectory_balance"}
    assert out.facts["trajectory_outcomes"] == ["emergency_admission"]
    assert out.facts["max_abs_smd_trajectory_after"] == pytest.approx(
        out.tables["trajectory_balance"]["smd_after"].abs().max(), abs=1e-4)
    res = out.objects["match_result"]
    assert out.facts["n_matched"] == res.n_treated_matched >= 0.9 * matched.n_treated_matched
    coh = out.objects["matched_cohort"]
    for c in ["person_id", "treated", "index_date", "subclass", "weights", "distance", "practice_id",
              "age_at_index", "sex", "censor_date", *COVS[2:]]:
        assert c in coh.columns
    assert out.tables["balance"].set_index("covariate").loc["risk_score", "smd_after"] == pytest.approx(
        res.balance_frame.set_index("covariate").loc["risk_score", "smd_after"])
    check_result_contract(out.objects["match_result"])


SOUTHVALE = Path(__file__).parents[1] / "example_data" / "southvale" / "population.parquet"


@pytest.mark.slow
@pytest.mark.skipif(not SOUTHVALE.exists(), reason="Southvale example data not generated")
def test_southvale_rtm_removed():
    pop = pd.read_parquet(SOUTHVALE)
    act = pd.read_parquet(SOUTHVALE.with_name("activity.parquet"))
    from evaltool.matching.config import DEFAULT_COVARIATES

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatchingWarning)
        res = risk_set_match(pop, act, window_start="2021-04-01", window_end="2025-03-31",
                             covariates=list(DEFAULT_COVARIATES), seed=1)
    traj = pre_trajectory(res.matched_cohort, act, window_start="2021-04-01", window_end="2025-03-31")
    r = traj.pivot(index="month_relative", columns="group", values="rate_per_1000")
    pre_t, pre_c = r.loc[-3:-1, "treated"].mean(), r.loc[-3:-1, "matched controls"].mean()
    base_t = r.loc[-24:-13, "treated"].mean()
    assert pre_t > 3 * base_t  # selection on a recent spike
    assert pre_c > 0.75 * pre_t  # the matched controls share the spike
    post_c = r.loc[1:12, "matched controls"].mean()
    assert post_c < 0.5 * pre_c  # and fall back afterwards, as the enrolled do
    assert res.max_abs_smd_after < 0.1


def test_person_month_window_sums_equal_engine_sums(sim):
    # The window sums risk-set matching computes in numpy from person-month totals equal the engine's own
    # look-back sums bit for bit (counts, bed days, costs in pence), for totals, profile bins and single months.
    from evaltool.matching.person_months import PersonMonths

    pop, act = sim
    rng = np.random.default_rng(3)
    act = act.assign(cost=np.round(rng.gamma(2.0, 350.0, len(act)), 2), bed_days=rng.integers(0, 9, len(act)))
    wanted = {"emergency_admission_12m": ("emergency_admission", 1, 12), "bed_days_m4_6": ("bed_days", 4, 6),
              "cost_12m": ("cost", 1, 12), "cost_m1": ("cost", 1, 1), "emergency_admission_m7_9": ("emergency_admission", 7, 9)}
    periods = np.array([15, 16, 22, 29])
    ref = activity_covariates(act, periods, WS, wanted).set_index(["period", "person_id"])
    rows = np.arange(len(pop))
    pm = PersonMonths(act, pop["person_id"].to_numpy(), rows, periods, WS, wanted)
    for p in periods:
        got = pd.DataFrame(pm.at(p, rows), columns=list(wanted), index=pop["person_id"])
        exp = ref.loc[p].reindex(got.index).fillna(0.0)
        np.testing.assert_array_equal(got.to_numpy(), exp.to_numpy())
        assert (got.to_numpy() > 0).any(axis=0).all()


def test_candidate_sampling_draws_once_per_risk_set(sim, monkeypatch):
    # candidates_per_treated: each risk set's candidates are drawn once (the pooled propensity model is fitted on
    # them and matching uses them, less controls already used); every matched control was drawn for its risk set.
    import evaltool.matching.riskset as rsm

    pop, act = sim
    draws: list[np.ndarray] = []
    real = rsm.sample_candidates

    def spy(cand, tmask, k, rng, strata=None):
        out = real(cand, tmask, k, rng, strata)
        draws.append(np.flatnonzero(out))
        return out

    monkeypatch.setattr(rsm, "sample_candidates", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatchingWarning)
        res = risk_set_match(pop, act, window_start=WS, window_end=WE, covariates=COVS, caliper=0.2, seed=1,
                             ratio=2, candidates_per_treated=15)
        again = risk_set_match(pop, act, window_start=WS, window_end=WE, covariates=COVS, caliper=0.2, seed=1,
                               ratio=2, candidates_per_treated=15)
    pd.testing.assert_frame_equal(res.matched_cohort, again.matched_cohort)
    per = res.periods
    assert len(draws) == 2 * len(per)  # once per risk set and run, not once per pass
    assert (per["n_candidates"] <= 15 * per["n_treated"]).all() and (per["n_eligible"] > per["n_candidates"]).all()
    coh = res.matched_cohort
    month = (coh.index_date.dt.year - WS.year) * 12 + coh.index_date.dt.month - WS.month
    pos = pd.Series(np.arange(len(pop)), index=pop.person_id)
    per_month = [(pd.Timestamp(f"{m}-01").year - WS.year) * 12 + pd.Timestamp(f"{m}-01").month - WS.month
                 for m in per["index_month"]]
    drawn = dict(zip(per_month, draws[:len(per)]))
    ctrl = coh.treated == 0
    assert all(pos[pid] in set(drawn[m]) for pid, m in zip(coh.person_id[ctrl], month[ctrl]))
    # Sampled pools still remove the regression-to-the-mean spike (no true effect in these data).
    traj = pre_trajectory(coh, act, window_start=WS, window_end=WE)
    r = traj.pivot(index="month_relative", columns="group", values="rate_per_1000")
    assert r.loc[-3:-1, "matched controls"].mean() == pytest.approx(r.loc[-3:-1, "treated"].mean(), rel=0.25)
    assert res.max_abs_smd_after < 0.15
