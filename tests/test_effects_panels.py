"""Outcome panels, exact compression and the FE Poisson engine against pyfixest."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaltool.effects.compress import cells
from evaltool.effects.matched import simulate_matched_cohort
from evaltool.effects.panels import build_panel, end_of_life_admissions, period_bounds
from evaltool.effects.poisson import feols_fe, fepois, small_sample_factor
from evaltool.errors import DataValidationError, DataWarning, EstimationError

pf = pytest.importorskip("pyfixest")


def _toy():
    idx = pd.Timestamp("2023-01-01")
    cohort = pd.DataFrame({
        "person_id": ["a", "b", "c", "d"], "treated": [1, 0, 1, 0], "index_date": [idx] * 4,
        "subclass": ["1", "1", "2", "2"], "weights": 1.0, "practice_id": ["P1", "P1", "P2", "P2"],
        "censor_date": [pd.NaT, pd.NaT, pd.NaT, pd.Timestamp("2023-03-01")],
    })
    pop = pd.DataFrame({
        "person_id": ["a", "b", "c", "d"],
        "registration_start": pd.to_datetime(["2000-01-01", "2022-12-15", None, None]),
        "registration_end": pd.to_datetime([None, None, "2023-01-20", None]),
        "death_date": pd.to_datetime(["2023-02-10", None, None, None]),
    })
    act = pd.DataFrame({
        "person_id": ["a", "a", "a", "b", "b", "c", "c", "d", "d"],
        "setting": ["emergency_admission"] * 7 + ["ae_attendance", "emergency_admission"],
        "date": pd.to_datetime(["2022-12-31", "2023-02-10", "2023-02-11",  # a: day -1, death day, after death
                                "2022-12-01", "2023-01-05",  # b: before registration (dropped), day 4
                                "2023-01-20", "2023-01-21",  # c: last registered day, after
                                "2023-02-28", "2023-03-01"]),  # d: day before censor, censor day (dropped)
        "bed_days": [1.0, 2, 3, 4, 5, 6, 7, np.nan, 9], "cost": [10.5, 20, 30, 40, 50, 60, 70, 80, 90],
    })
    return cohort, pop, act


def test_period_bounds_and_exposure_by_hand():
    assert period_bounds(np.array([-2, -1, 0, 1, 2])).tolist() == [-60, -30, 0, 31, 61]
    cohort, pop, act = _toy()
    p = build_panel(cohort, act, pop, pre_months=2, post_months=2, keep=["practice_id", "subclass"])
    per = p.persons.set_index("person_id")
    # a dies 2023-02-10 (day 40; the day counts), b registers on day -17, c leaves on day 19 (inclusive),
    # d is censored from 2023-03-01 (day 59, exclusive).
    assert per.loc["a", ["entry_day", "exit_day"]].tolist() == [-60, 41]
    assert per.loc["b", ["entry_day", "exit_day"]].tolist() == [-17, 61]
    assert per.loc["c", ["entry_day", "exit_day"]].tolist() == [-60, 20]
    assert per.loc["d", ["entry_day", "exit_day"]].tolist() == [-60, 59]
    ev = p.events.set_index(["person_id", "period"])
    assert ev.loc[("a", -1), "emergency_admission"] == 1 and ev.loc[("a", 1), "emergency_admission"] == 1
    assert p.events.loc[p.events.person_id == "a", "emergency_admission"].sum() == 2  # after death dropped
    assert p.events.loc[p.events.person_id == "b", "emergency_admission"].sum() == 1  # before registration dropped
    assert p.events.loc[p.events.person_id == "c", "emergency_admission"].sum() == 1
    assert p.events.loc[p.events.person_id == "d", "emergency_admission"].sum() == 0
    assert p.events.loc[p.events.person_id == "d", "ae_attendance"].sum() == 1
    assert p.events.loc[p.events.person_id == "a", "bed_days"].sum() == 3.0
    assert p.events.loc[p.events.person_id == "a", "cost"].sum() == pytest.approx(30.5)
    d = cells(p, "emergency_admission", by="person").frame
    ex = d.groupby("person_id")["exposure"].sum()
    assert ex.to_dict() == {"a": 101.0, "b": 78.0, "c": 80.0, "d": 119.0}
    # Period 1 of a: days 31..40 observed = 10 days.
    assert d.loc[(d.person_id == "a") & (d.period == 1), "exposure"].item() == 10.0


def test_end_of_life_admissions():
    cohort, pop, act = _toy()
    out = end_of_life_admissions(cohort, act, pop, days=100)
    assert out["person_id"].tolist() == ["a"]
    # Admissions on 2022-12-31 and the death day 2023-02-10 fall within the last 100 days.
    assert out["emergency_admissions_last_days"].item() == 2


def test_panel_bad_input():
    cohort, pop, act = _toy()
    with pytest.raises(DataValidationError, match="pre-period"):
        build_panel(cohort, act, pop, pre_months=0)
    bad = cohort.copy()
    bad.loc[1, "index_date"] = pd.NaT
    with pytest.raises(DataValidationError, match="row 2"):
        build_panel(bad, act, pop)
    # Registered only after the window: zero exposure -> dropped with a warning.
    pop2 = pop.copy()
    pop2.loc[1, "registration_start"] = pd.Timestamp("2024-01-01")
    with pytest.warns(DataWarning, match="1 cohort member"):
        p = build_panel(cohort, act, pop2, pre_months=2, post_months=2)
    assert "b" not in set(p.persons.person_id)


def test_caller_data_unchanged():
    cohort, pop, act = _toy()
    c0, p0, a0 = cohort.copy(), pop.copy(), act.copy()
    build_panel(cohort, act, pop, pre_months=2, post_months=2, keep=["practice_id"])
    pd.testing.assert_frame_equal(cohort, c0)
    pd.testing.assert_frame_equal(pop, p0)
    pd.testing.assert_frame_equal(act, a0)


def _sim_panel(weights: bool = False):
    coh, act, pop = simulate_matched_cohort(600, seed=11, death_rate=0.02, dereg_rate=0.01)
    coh = coh.copy()
    coh.loc[coh.index[:50], "censor_date"] = coh.loc[coh.index[:50], "index_date"] + pd.Timedelta(days=100)
    if weights:
        coh["weights"] = np.where(coh["treated"] == 1, 1.0, np.random.default_rng(1).uniform(0.5, 2, len(coh)))
    coh["age_band"] = np.where(coh["age_at_index"] < 65, "u65", "65+")
    return build_panel(coh, act, pop, pre_months=6, post_months=6, keep=["practice_id", "age_band"])


def _design(fr):
    per = pd.get_dummies(fr["period"], drop_first=True).to_numpy(float)
    d = (fr["treated"].to_numpy() * (fr["period"].to_numpy() >= 0)).astype(float)
    return np.column_stack([d, per])


@pytest.mark.parametrize("weights", [False, True])
def test_compression_exact_with_deaths_churn_and_weights(weights):
    p = _sim_panel(weights)
    c = cells(p, "emergency_admission", by="cell", cluster="practice_id")
    q = cells(p, "emergency_admission", by="person", cluster="practice_id")
    assert len(c.frame) < len(q.frame) / 5  # a real compression
    fc = fepois(c.frame.y, _design(c.frame), c.frame.unit, exposure=c.frame.exposure, cluster=c.frame.cluster,
                n_obs=c.n_obs_nonzero, n_clusters=c.n_clusters_nonzero)
    fp = fepois(q.frame.y, _design(q.frame), q.frame.unit, exposure=q.frame.exposure, cluster=q.frame.cluster)
    assert fc.n_obs == fp.n_obs and fc.n_clusters == fp.n_clusters and fc.df_k == fp.df_k
    np.testing.assert_allclose(fc.coef, fp.coef, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fc.vcov, fp.vcov, rtol=1e-8, atol=1e-12)


def test_fepois_and_feols_match_pyfixest_on_cohort_panel():
    p = _sim_panel()
    q = cells(p, "emergency_admission", by="person", cluster="practice_id").frame
    q = q.assign(D=(q.treated * (q.period >= 0)).astype(float), loge=np.log(q.exposure),
                 rate=q.y / q.exposure * 365250)
    f = fepois(q.y, _design(q), q.unit, exposure=q.exposure, cluster=q.cluster)
    m = pf.fepois("y ~ D | unit + period", data=q, vcov={"CRV1": "cluster"}, offset="loge")
    assert f.coef[0] == pytest.approx(m.coef()["D"], abs=1e-6)
    assert f.std_error()[0] == pytest.approx(m.se()["D"], abs=1e-6)
    fh = fepois(q.y, _design(q), q.unit, exposure=q.exposure)
    mh = pf.fepois("y ~ D | unit + period", data=q, vcov="hetero", offset="loge")
    assert fh.std_error()[0] == pytest.approx(mh.se()["D"], abs=1e-6)
    g = feols_fe(q.rate, _design(q), q.unit, weights=q.exposure, cluster=q.cluster)
    mo = pf.feols("rate ~ D | unit + period", data=q, vcov={"CRV1": "cluster"}, weights="exposure")
    assert g.coef[0] == pytest.approx(mo.coef()["D"], abs=1e-6)
    assert g.std_error()[0] == pytest.approx(mo.se()["D"], rel=1e-6)


def test_fepois_bad_input():
    unit = np.repeat(np.arange(4), 2)
    X = np.tile([0.0, 1.0], 4)[:, None]
    with pytest.raises(EstimationError, match="zero for every unit"):
        fepois(np.zeros(8), X, unit)
    with pytest.raises(EstimationError, match="exposure"):
        fepois(np.ones(8), X, unit, exposure=np.zeros(8))
    with pytest.raises(EstimationError, match="constant within every unit"):
        fepois(np.arange(8.0), np.repeat([0.0, 1.0], 4)[:, None], unit)
    with pytest.raises(EstimationError, match="at least 2 clusters"):
        small_sample_factor(100, 3, 1)


def test_window_clips_person_time_and_reused_people_are_separate_units():
    cohort, pop, act = _toy()
    # Data start 2022-12-20 (day -12) and end 2023-01-31 (day 30, inclusive).
    p = build_panel(cohort, act, pop, pre_months=2, post_months=2, window_start="2022-12-20",
                    window_end="2023-01-31")
    per = p.persons.set_index("person_id")
    assert per.loc["a", ["entry_day", "exit_day"]].tolist() == [-12, 31]
    assert per.loc["c", ["entry_day", "exit_day"]].tolist() == [-12, 20]
    # Risk-set matching can use a person twice (as a control, then enrolled later): two units.
    twice = pd.concat([cohort, cohort.iloc[[1]].assign(treated=1, index_date=pd.Timestamp("2023-02-01"))])
    p2 = build_panel(twice, act, pop, pre_months=2, post_months=2)
    b = p2.persons[p2.persons.person_id == "b"]
    assert len(b) == 2 and b["unit_id"].nunique() == 2
    ev = p2.events[p2.events.person_id == "b"]
    # b's event on 2023-01-05 is day 4 for the first unit and day -27 (period -1) for the second.
    assert sorted(ev["period"].tolist()) == [-1, 0]
    with pytest.raises(DataValidationError, match="repeats"):
        build_panel(pd.concat([cohort, cohort.iloc[[1]]]), act, pop)


def test_regression_singular_information_matrix_is_estimation_error():
    """Bug found on Southvale: a rare outcome's event study gave a singular information matrix and
    the stage crashed with numpy's LinAlgError instead of reporting that outcome as failed."""
    import numpy as np

    from evaltool.effects.poisson import _vcov
    from evaltool.errors import EstimationError

    H = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(EstimationError, match="information matrix is singular"):
        _vcov(H, np.ones((4, 2)), None, 4, 2, None)
