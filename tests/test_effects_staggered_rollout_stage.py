"""Roll-out stage on a simulated practice population with a known rate ratio; bad input."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from evaltool.effects.config import RolloutConfig
from evaltool.effects.rollout_stage import build_practice_panel, period_table, run_stage
from evaltool.errors import EstimationError, EstimationWarning
from evaltool.stage import StageOutput

WS, WE = pd.Timestamp("2021-04-01"), pd.Timestamp("2024-03-31")
TRUE_RR = 0.75


def simulate_practices(seed: int = 1, n_prac: int = 25, per_prac: int = 300, rate: float = 0.2,
                       rr: float = TRUE_RR, n_never: int = 6) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """People registered at practices (with joiners, leavers and deaths); emergency admissions arrive as a
    Poisson process with a practice-specific rate, multiplied by ``rr`` after the practice's go-live."""
    rng = np.random.default_rng(seed)
    n = n_prac * per_prac
    prac = np.repeat(np.arange(n_prac), per_prac)
    pid = np.array([f"S{p:03d}" for p in range(n_prac)])
    days = (WE - WS).days + 1
    start = WS + pd.to_timedelta(np.where(rng.random(n) < 0.85, -100, rng.integers(0, days, n)), unit="D")
    leave = np.where(rng.random(n) < 0.15, rng.integers(0, days, n), 10**5)
    end = WS + pd.to_timedelta(np.minimum(leave, days + 50), unit="D")
    end = pd.Series(end).where(leave < days, pd.NaT)
    dies = rng.random(n) < 0.03
    death = pd.Series(WS + pd.to_timedelta(rng.integers(0, days, n), unit="D")).where(dies, pd.NaT)
    go = np.full(n_prac, None, dtype=object)
    live_q = rng.integers(4, 11, n_prac - n_never)  # go-live between quarters 5 and 11
    go[: n_prac - n_never] = [WS + pd.DateOffset(months=3 * int(q)) for q in live_q]
    practices = pd.DataFrame({"practice_id": pid, "go_live_date": pd.to_datetime(pd.Series(go)),
                              "list_size": per_prac, "neighbourhood": "N"})
    population = pd.DataFrame({"person_id": [f"P{i:06d}" for i in range(n)], "practice_id": pid[prac],
                               "registration_start": start, "registration_end": end, "death_date": death})
    # person-time intervals (clipped to window), split at go-live
    s = population["registration_start"].clip(lower=WS)
    e = population["registration_end"].fillna(WE + pd.Timedelta(days=1)).clip(upper=WE + pd.Timedelta(days=1))
    e = e.where(population["death_date"].isna() | (population["death_date"] >= e), population["death_date"])
    gl = practices.set_index("practice_id")["go_live_date"].reindex(population["practice_id"]).to_numpy()
    gl = pd.Series(pd.to_datetime(gl)).fillna(pd.Timestamp("2100-01-01"))
    lam = rate * np.exp(rng.normal(0, 0.3, n_prac))[prac] * np.exp(rng.normal(0, 0.5, n))
    rows = []
    for a, b, mult in [(s, pd.concat([e, gl], axis=1).min(axis=1), 1.0), (pd.concat([s, gl], axis=1).max(axis=1), e, rr)]:
        yrs = ((b - a).dt.days.clip(lower=0)).to_numpy() / 365.25
        k = rng.poisson(lam * mult * yrs)
        idx = np.repeat(np.arange(n), k)
        off = rng.random(len(idx)) * (b - a).dt.days.to_numpy()[idx]
        rows.append(pd.DataFrame({"person_id": population["person_id"].to_numpy()[idx],
                                  "date": (a.to_numpy()[idx] + pd.to_timedelta(off.astype(int), unit="D")),
                                  "setting": "emergency_admission"}))
    activity = pd.concat(rows, ignore_index=True)
    activity["date"] = pd.to_datetime(activity["date"]).dt.normalize()
    activity["bed_days"] = 1.0
    activity["cost"] = 1000.0
    return population, activity, practices


@pytest.fixture(scope="module")
def sim():
    return simulate_practices()


@pytest.fixture(scope="module")
def stage_out(sim):
    pop, act, prac = sim
    cfg = RolloutConfig(bootstrap_reps=199, placebo_shifts=(1,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_stage(pop, act, prac, cfg, window_start=WS, window_end=WE, seed=3)


def test_panel_exposure_and_events_match_pandas(sim):
    pop, act, prac = sim
    panel = build_practice_panel(pop, act, prac, outcomes=("emergency_admission",), window_start=WS, window_end=WE)
    per = period_table(WS, WE, "quarter")
    assert len(per) == 12 and len(panel) == 25 * 12
    # independent person-level computation for two practice-quarters
    s = pop["registration_start"].clip(lower=WS)
    e = pop["registration_end"].fillna(WE + pd.Timedelta(days=1)).clip(upper=WE + pd.Timedelta(days=1))
    e = e.where(pop["death_date"].isna() | (pop["death_date"] >= e), pop["death_date"])
    for prac_id, q in [("S003", 2), ("S020", 11)]:
        ps, pe = per.loc[per.period == q, ["p_start", "p_end"]].iloc[0]
        m = pop["practice_id"] == prac_id
        lo = s[m].where(s[m] > ps, ps)
        hi = e[m].where(e[m] < pe, pe)
        py = (hi - lo).dt.days.clip(lower=0).sum() / 365.25
        row = panel[(panel.practice_id == prac_id) & (panel.period == q)].iloc[0]
        assert row["person_years"] == pytest.approx(py, rel=1e-9)
        a = act.merge(pop[["person_id", "practice_id"]].assign(s=s, e=e), on="person_id")
        a = a[(a.practice_id == prac_id) & (a.date >= ps) & (a.date < pe) & (a.date >= a.s) & (a.date < a.e)]
        assert row["events_emergency_admission"] == len(a)


def test_stage_recovers_rate_ratio(stage_out):
    out = stage_out
    assert isinstance(out, StageOutput) and out.section == "rollout"
    eff = out.tables["rollout_effects"].set_index("estimator")
    pois = eff.loc["imputation_poisson"]
    # quarters containing go-live count as treated, so allow a little dilution towards 1
    assert pois["ci_lower"] < TRUE_RR * 1.04 and pois["ci_upper"] > TRUE_RR * 0.96 or abs(pois["estimate"] - TRUE_RR) < 0.05
    assert pois["ci_upper"] < 1.0
    assert abs(pois["estimate"] - TRUE_RR) < 0.06
    # rate-scale estimators agree in sign and roughly in size (rate ~120/1000py -> ~30 fewer per 1000py)
    for est in ["twfe", "callaway_santanna", "imputation"]:
        assert eff.loc[est, "estimate"] < 0
        assert eff.loc[est, "n_clusters"] == 25
    assert eff.loc["imputation", "ci_upper"] < 0
    er = out.tables["effects_rollout"]
    assert list(er.columns) == ["analysis", "outcome", "subgroup", "estimate", "std_error", "ci_lower", "ci_upper",
                                "p_value", "scale", "method", "n_units", "n_clusters"]
    assert set(er["scale"]) == {"rate_ratio", "difference_per_1000py"}
    json.dumps(out.facts)
    assert out.facts["n_practices"] == 25 and out.facts["n_never_treated_practices"] == 6
    assert "rollout_event_study" in out.figures
    sens = out.tables["rollout_sensitivity"]
    placebo = sens[sens.analysis == "placebo_go_live"].iloc[0]
    assert placebo["ci_lower"] < 1 < placebo["ci_upper"]
    assert (sens.analysis == "leave_one_out").sum() == 25
    rm = sens[sens.analysis == "relative_magnitude_bounds"]
    assert len(rm) == 5 and (rm["ci_upper"] - rm["ci_lower"]).is_monotonic_increasing
    es = out.tables["rollout_event_study"]
    pre = es[(es.estimator == "callaway_santanna") & (es.event_time < 0)]
    assert ((pre.ci_lower < 0) & (pre.ci_upper > 0)).mean() >= 0.8


def test_config_rejects_bad_values():
    with pytest.raises(ValidationError, match="unknown rollout outcome"):
        RolloutConfig(outcomes=("bed_nights",))
    with pytest.raises(ValidationError, match="period"):
        RolloutConfig(period="week")
    with pytest.raises(ValidationError, match="extra"):
        RolloutConfig(extra_field=1)


def test_stage_bad_inputs(sim):
    pop, act, prac = sim
    cfg = RolloutConfig(bootstrap_reps=99, estimators=("imputation_poisson",), placebo=False, leave_one_out=False)
    # nobody goes live
    with pytest.raises(EstimationError, match="no practice goes live"):
        run_stage(pop, act, prac.assign(go_live_date=pd.NaT), cfg, window_start=WS, window_end=WE, seed=1)
    # all practices go live and never-treated comparison requested
    allp = prac.assign(go_live_date=pd.Timestamp("2022-10-01"))
    with pytest.raises(EstimationError, match="no never-treated"):
        run_stage(pop, act, allp, cfg.model_copy(update={"control_group": "never_treated"}), window_start=WS,
                  window_end=WE, seed=1)
    # all go live in the same quarter, none never: no comparison for post periods -> clear error
    with pytest.raises(EstimationError):
        run_stage(pop, act, allp, cfg, window_start=WS, window_end=WE, seed=1)
    # a practice live before the window: no pre-period -> excluded with a warning
    early = prac.copy()
    early.loc[0, "go_live_date"] = pd.Timestamp("2020-01-01")
    out = run_stage(pop, act, early, cfg, window_start=WS, window_end=WE, seed=1)
    assert out.facts["n_practices"] == 24
    ev = [e for e in out.events if e.code == "practices_excluded_no_pre_period"]
    assert len(ev) == 1 and "no pre-period" in ev[0].message and ev[0].counts == {"practices": 1}
    # a cohort with a single practice: warned by Callaway & Sant'Anna
    one = prac.copy()
    one.loc[0, "go_live_date"] = pd.Timestamp("2022-01-15")
    one.loc[1:, "go_live_date"] = one.loc[1:, "go_live_date"].where(
        one.loc[1:, "go_live_date"].isna() | (one.loc[1:, "go_live_date"] >= pd.Timestamp("2022-04-01")),
        pd.Timestamp("2022-04-01"))
    out = run_stage(pop, act, one, cfg.model_copy(update={"estimators": ("callaway_santanna",)}), window_start=WS,
                    window_end=WE, seed=1)
    assert any(e.code == "estimation_warning" and "single unit" in e.message for e in out.events)
    # zero exposure: a practice with nobody registered is excluded with a warning
    noone = pd.concat([prac, pd.DataFrame({"practice_id": ["S999"], "go_live_date": [pd.NaT], "list_size": [0],
                                           "neighbourhood": ["N"]})], ignore_index=True)
    out = run_stage(pop, act, noone, cfg, window_start=WS, window_end=WE, seed=1)
    assert [e.counts for e in out.events if e.code == "practices_excluded_zero_exposure"][0]["practices"] == 1
    # all-zero outcome: the error names the reason
    with pytest.raises(EstimationError, match="no roll-out estimator.*no events in any practice-period"):
        run_stage(pop, act.iloc[:0], prac, cfg, window_start=WS, window_end=WE, seed=1)


def test_caller_data_unchanged(sim):
    pop, act, prac = sim
    before = [x.copy() for x in sim]
    cfg = RolloutConfig(bootstrap_reps=99, estimators=("twfe",), placebo=False, leave_one_out=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_stage(pop, act, prac, cfg, window_start=WS, window_end=WE, seed=1)
    for a, b in zip(before, sim):
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_monthly_periods(sim):
    pop, act, prac = sim
    cfg = RolloutConfig(period="month", estimators=("imputation_poisson",), placebo=False, leave_one_out=False)
    out = run_stage(pop, act, prac, cfg, window_start=WS, window_end=WE, seed=2)
    assert out.facts["n_periods"] == 36
    rr = out.tables["rollout_effects"].iloc[0]
    assert rr["scale"] == "rate_ratio" and abs(rr["estimate"] - TRUE_RR) < 0.06


def test_go_live_mapped_to_period_containing_it():
    from evaltool.effects.rollout_stage import _cohorts

    per = period_table("2021-04-01", "2025-03-31", "quarter")
    prac = pd.DataFrame({"practice_id": ["A", "B", "C", "D", "E"],
                         "go_live_date": pd.to_datetime(["2023-04-01", "2023-05-01", None, "2025-06-01",
                                                         "2021-04-01"])})
    g, early = _cohorts(prac, per, "2021-04-01")
    assert g.to_dict() == {"A": 9, "B": 9, "C": 0, "D": 0, "E": 1}
    assert early == ["E"]
