"""Simulated matched cohorts with a known effect and regression to the mean (tests, examples, benchmarks)."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_matched_cohort"]


def simulate_matched_cohort(
    n_treated: int = 2000,
    *,
    rr_under65: float = 0.8,
    rr_65plus: float = 1.0,
    base_rate: float = 0.04,
    spike: float = 2.5,
    n_practices: int = 25,
    months: int = 12,
    death_rate: float = 0.004,
    dereg_rate: float = 0.002,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Simulate a 1:1 matched cohort with a known rate ratio and regression to the mean built in.

    Each matched pair shares an index date; both members had a transient spike in
    emergency admissions (``spike`` x their usual rate) in the 6 months before it (they were
    selected/matched on recent high use), so the treated's naive before/after shows a false
    fall. After the index date the treated's rate is multiplied by ``rr_under65`` or
    ``rr_65plus``. Deaths and de-registration censor follow-up.

    Returns
    -------
    cohort, activity, population
        In the evaltool input contract (cohort as produced by ``evaltool.matching``).

    Examples
    --------
    >>> coh, act, pop = simulate_matched_cohort(n_treated=50, seed=2)
    >>> len(coh), int(coh["treated"].sum())
    (100, 50)
    """
    rng = np.random.default_rng(seed)
    n = 2 * n_treated
    pair = np.repeat(np.arange(n_treated), 2)
    treated = np.tile([1, 0], n_treated)
    idx = pd.Timestamp("2022-06-01") + pd.to_timedelta(rng.integers(0, 365, n_treated), unit="D")
    index_date = idx[pair]
    age = np.clip(rng.normal(66, 14, n_treated), 18, 100).astype(int)[pair] + rng.integers(-2, 3, n)
    practice = rng.integers(0, n_practices, n)
    frailty = rng.normal(0, 0.7, n_treated)[pair] + rng.normal(0, 0.3, n)  # matched on propensity to use
    lam = base_rate * np.exp(frailty - 0.245)  # per 30.44 days
    # Follow-up: from -months to +months; deaths and de-registration only after index (they were alive
    # and registered at selection).
    L = 365.25 / 12
    lo, hi = -int(np.ceil(months * L)), int(np.ceil(months * L))
    t_death = rng.exponential(L / death_rate, n).astype(int)
    t_dereg = rng.exponential(L / dereg_rate, n).astype(int)
    reg_start_off = np.where(rng.random(n) < 0.05, rng.integers(lo, -1, n), lo - 400)
    death_off = np.where(t_death < hi, t_death, 10**6)
    dereg_off = np.where(t_dereg < hi, t_dereg, 10**6)
    entry = np.maximum(reg_start_off, lo)
    exit_ = np.minimum.reduce([death_off + 1, dereg_off + 1, np.full(n, hi)])
    # Daily event process in 3 segments: pre (before -6 months), spike (-6..-1 months), post.
    eff = np.where(age < 65, rr_under65, rr_65plus)
    seg_bounds = [(lo, -int(np.ceil(6 * L)), 1.0), (-int(np.ceil(6 * L)), 0, spike), (0, hi, None)]
    pid_all, day_all = [], []
    for a, b, mult in seg_bounds:
        s = np.maximum(entry, a)
        e = np.minimum(exit_, b)
        days = np.clip(e - s, 0, None)
        m = np.where(treated == 1, eff, 1.0) if mult is None else np.full(n, mult)
        cnt = rng.poisson(lam / L * m * days)
        who = np.repeat(np.arange(n), cnt)
        day = s[who] + np.floor(rng.random(len(who)) * days[who]).astype(int)
        pid_all.append(who)
        day_all.append(day)
    who = np.concatenate(pid_all)
    day = np.concatenate(day_all)
    ids = np.array([f"p{i:06d}" for i in range(n)])
    activity = pd.DataFrame({
        "person_id": ids[who],
        "date": index_date[who] + pd.to_timedelta(day, unit="D"),
        "setting": "emergency_admission",
        "bed_days": rng.gamma(1.5, 3.0, len(who)).round(0),
        "cost": rng.gamma(2.0, 900.0, len(who)).round(2),
    }).sort_values(["person_id", "date"]).reset_index(drop=True)
    off = lambda v: index_date + pd.to_timedelta(v, unit="D")
    population = pd.DataFrame({
        "person_id": ids,
        "practice_id": [f"P{p:02d}" for p in practice],
        "sex": np.where(rng.random(n) < 0.5, "F", "M"),
        "age": age,
        "treated": treated,
        "index_date": pd.Series(off(np.zeros(n, dtype=int))).where(treated == 1),
        "registration_start": off(reg_start_off),
        "registration_end": pd.Series(off(np.minimum(dereg_off, 10**4))).where(dereg_off < 10**6),
        "death_date": pd.Series(off(np.minimum(death_off, 10**4))).where(death_off < 10**6),
    })
    cohort = pd.DataFrame({
        "person_id": ids, "treated": treated, "index_date": index_date, "subclass": [f"s{p}" for p in pair],
        "weights": 1.0, "practice_id": population["practice_id"], "age_at_index": age,
        "sex": population["sex"], "censor_date": pd.NaT,
    })
    return cohort, activity, population
