"""Small programmes: matching and the matched DiD at 30, 100 and 300 enrolled people, the month that one
enrolled person used to separate, and a distinct message for each reason matching cannot run."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evaltool.datasets.programme import simulate_programme
from evaltool.effects.matched_config import MatchedDidConfig
from evaltool.effects.matched_stage import run_stage as effects_stage
from evaltool.errors import EvaltoolError, EvaltoolWarning, MatchingError, MatchingWarning
from evaltool.matching import risk_set_match
from evaltool.matching.config import MatchingConfig
from evaltool.matching.stage import run_stage as matching_stage

COVS = ["age", "sex", "imd_quintile", "ltc_count", "frailty", "risk_score", "emergency_admission_12m",
        "emergency_admission_3m", "ae_attendance_12m", "bed_days_12m"]


@pytest.mark.parametrize("n_enrolled,n_people", [(30, 6000), (100, 12_000), (300, 25_000)])
def test_matching_and_did_run_for_small_programmes(n_enrolled, n_people):
    d = simulate_programme(n_people=n_people, n_enrolled=n_enrolled, seed=n_enrolled)
    assert d.truth["n_enrolled"] == n_enrolled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaltoolWarning)
        m = matching_stage(d.population, d.activity, d.practices, MatchingConfig(), window_start=d.window_start,
                           window_end=d.window_end, seed=1, pre_months=12)
        # Most enrolled people find a control; the rest are counted with their reason.
        assert m.facts["n_matched"] >= 0.6 * n_enrolled
        assert m.facts["n_matched"] + m.facts["n_unmatched"] == n_enrolled
        try:
            e = effects_stage(m.objects["matched_cohort"], d.population, d.activity,
                              MatchedDidConfig(outcomes=("emergency_admission", "ae_attendance")), seed=1,
                              window_start=d.window_start, window_end=d.window_end)
        except EvaltoolError as err:  # allowed only with a message that names the cause
            pytest.fail(f"the matched DiD stopped: {err}")
    rr = e.facts["emergency_admission.did.all.rate_ratio"]
    lo, hi = (e.facts[f"emergency_admission.did.all.{k}"] for k in ("ci_lower", "ci_upper"))
    assert lo < rr < hi and np.isfinite(hi)
    # Any outcome or subgroup that could not be estimated is named, never silently blank.
    for o, why in e.facts["failed_outcomes"].items():
        assert o in ("emergency_admission", "ae_attendance") and why


def test_one_enrolled_person_at_the_edge_of_a_month_no_longer_stops_matching():
    """Issue 14: 17 candidates, the one enrolled person the oldest; per-month models were separated."""
    d = simulate_programme(n_people=3000, n_enrolled=40, seed=3)
    pop = d.population.copy()
    first = pop.loc[pop.treated == 1, "index_date"].min()
    one = pop.index[(pop.treated == 1) & (pop.index_date == first)][0]
    pop.loc[one, "birth_date"] = pd.Timestamp("1920-01-01")  # older than anyone else
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaltoolWarning)
        res = risk_set_match(pop, d.activity, window_start=d.window_start, window_end=d.window_end,
                             covariates=COVS, distance="linear_logit", seed=1,
                             trajectory=["emergency_admission"], trajectory_months=12)
    assert res.n_treated == 40
    assert res.n_treated_matched >= 20  # the rest are counted with their reason (no control within the caliper)
    assert res.n_treated_matched + sum(res.unmatched.values()) == 40


def _tiny(n_controls: int = 50, dead: bool = False, same_month: bool = False):
    rng = np.random.default_rng(0)
    n_t = 6
    n = n_t + n_controls
    pop = pd.DataFrame({
        "person_id": [f"p{i}" for i in range(n)], "practice_id": "A", "sex": rng.choice(["F", "M"], n),
        "birth_date": pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 9000, n), unit="D"),
        "treated": [1] * n_t + [0] * n_controls,
        "index_date": [pd.Timestamp("2022-03-01") if same_month else pd.Timestamp(f"2022-{k + 2:02d}-01")
                       for k in range(n_t)] + [pd.NaT] * n_controls,
        "risk_score": rng.random(n),
        "death_date": [pd.NaT] * n_t + ([pd.Timestamp("2020-06-01")] * n_controls if dead else [pd.NaT] * n_controls),
    })
    act = pd.DataFrame({"person_id": rng.choice(pop.person_id, 200),
                        "date": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, 200), unit="D"),
                        "setting": "emergency_admission"})
    return pop, act


def _match(pop, act, covs=("age", "risk_score", "emergency_admission_12m")):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaltoolWarning)
        return risk_set_match(pop, act, window_start="2021-01-01", window_end="2023-12-31", covariates=list(covs),
                              seed=1)


def test_distinct_messages_for_each_reason_matching_cannot_run():
    pop, act = _tiny(n_controls=0, same_month=True)
    with pytest.raises(MatchingError, match=r"^no untreated people: all 6 people in `population` have `treated` = 1"):
        _match(pop, act)
    pop, act = _tiny(dead=True, same_month=True)
    with pytest.raises(MatchingError, match=r"^no eligible controls: 50 people were never enrolled.*dead: 50\)"):
        _match(pop, act)
    pop, act = _tiny(n_controls=3, same_month=True)
    with pytest.raises(MatchingError, match=r"^too few candidates to fit the propensity model: 3 candidate "):
        _match(pop, act)
    pop, act = _tiny(n_controls=8, same_month=True)
    with pytest.warns(MatchingWarning, match=r"too few candidates: 8 people could serve as controls for 6 enrolled "
                                             r"people at 2 controls each"):
        risk_set_match(pop, act, window_start="2021-01-01", window_end="2023-12-31", ratio=2,
                       covariates=["age", "risk_score"], caliper=None, exact=None, seed=1)
    pop, act = _tiny(same_month=True)
    pop["flag"] = np.where(pop.treated == 1, 5.0, 1.0) + np.arange(len(pop)) * 1e-3
    with pytest.raises(MatchingError, match=r"^perfect separation: .*`flag` on its own"):
        _match(pop, act, covs=("age", "flag"))
