"""Simulated matched cohorts with known true incremental costs and QALYs (tests, benchmarks, examples).

The rules differ from the Southvale example's on purpose: matched sets of one enrolled patient
and 1 to 4 controls (weights ``1/k``), a set-level need ``lambda_s ~ Gamma(0.9, 1.4)`` shared by
the set with person noise ``exp(N(0, 0.35))``, a spike of use before enrolment in both arms
(x ``spike``), a common secular change after (x ``trend``), deaths that shorten follow-up at
random, two kinds of activity (emergency admissions and A&E attendances) with gamma-distributed
costs per event, and EQ-5D-like utilities whose enrolled patients start lower than their
controls (so an unadjusted QALY difference is biased; the baseline-adjusted one is not).

Truth per enrolled person-year (exposure independent of need, so ratio-of-means = means)::

    change in admissions   = trend x (rr - 1) x E[lambda] x adm_per_need
    change in activity cost = sum over types of change x mean cost per event
    net cost               = programme cost + change in activity cost
    incremental QALYs      = qaly_effect x 0.5   (utility slope x area of t over 0..1 year)
    NMB(l)                 = l x incremental QALYs - net cost

Examples
--------
>>> sim = simulate_economics(n_sets=100, seed=3)
>>> sorted(sim.truth)[:3]
['activity_cost_delta', 'admissions_delta', 'ae_delta']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaltool.economics.consequences import SetStatistics, set_statistics
from evaltool.economics.qalys import person_qalys, qaly_set_statistics

__all__ = ["SimulatedEconomics", "simulate_economics"]

ADM_COST, AE_COST = 2300.0, 250.0
_MEAN_NOISE = float(np.exp(0.35 ** 2 / 2))


@dataclass(frozen=True)
class SimulatedEconomics:
    """A simulated matched cohort: panel-like persons/events, PROM scores, per-set totals and the truth."""

    persons: pd.DataFrame
    events: pd.DataFrame
    scores: pd.DataFrame
    stats: SetStatistics
    programme_cost: float
    unit_costs: dict[str, float]
    truth: dict[str, float]
    params: dict[str, Any]


def simulate_economics(n_sets: int = 400, *, rr: float = 0.85, ae_rr: float = 0.9, trend: float = 0.8,
                       spike: float = 1.7, programme_cost: float = 600.0, qaly_effect: float = 0.06,
                       response: float = 0.6, death_rate: float = 0.08, seed: int = 0) -> SimulatedEconomics:
    """Simulate matched sets with a known effect on activity, costs and QALYs.

    Parameters
    ----------
    n_sets:
        Matched sets (one enrolled patient each).
    rr, ae_rr:
        True rate ratios for emergency admissions and A&E attendances after enrolment.
    trend, spike:
        Common change after the index date; pre-index spike in both arms (regression to the mean).
    programme_cost:
        Programme cost per enrolled person-year.
    qaly_effect:
        Extra utility gained per year by enrolled patients (utility slope), so the true
        incremental QALYs over one year are half of it.
    response, death_rate:
        Share answering the PROMs; share dying (uniformly) during the year after the index date.
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 5, n_sets)
    n_units = int(n_sets + k.sum())
    set_of = np.concatenate([np.full(1 + kk, s) for s, kk in enumerate(k)])
    treated = np.concatenate([np.r_[1, np.zeros(kk, dtype=int)] for kk in k])
    weights = np.where(treated == 1, 1.0, 1.0 / k[set_of])
    need = rng.gamma(0.9, 1.4, n_sets)[set_of] * np.exp(rng.normal(0, 0.35, n_units))
    dies = rng.random(n_units) < death_rate
    exit_day = np.where(dies, rng.integers(1, 366, n_units), 366)
    entry_day = np.full(n_units, -365)
    e0, e1 = 365 / 365.25, exit_day / 365.25
    adm_mult = np.where(treated == 1, rr, 1.0)
    ae_mult = np.where(treated == 1, ae_rr, 1.0)
    rate_ae = 1.6
    y = {
        ("emergency_admission", -1): rng.poisson(need * spike * e0),
        ("emergency_admission", 0): rng.poisson(need * trend * adm_mult * e1),
        ("ae_attendance", -1): rng.poisson(rate_ae * need * spike * e0),
        ("ae_attendance", 0): rng.poisson(rate_ae * need * trend * ae_mult * e1),
    }
    rows = []
    for p in (-1, 0):
        adm, ae = y[("emergency_admission", p)], y[("ae_attendance", p)]
        # Cost per event: gamma with the unit cost as its mean (sum of n gammas = gamma(n x shape)).
        cost = rng.gamma(np.maximum(adm, 1e-12) * 1.5, ADM_COST / 1.5) * (adm > 0) + \
            rng.gamma(np.maximum(ae, 1e-12) * 2.0, AE_COST / 2.0) * (ae > 0)
        rows.append(pd.DataFrame({"unit_id": np.arange(n_units), "period": p, "emergency_admission": adm.astype(float),
                                  "ae_attendance": ae.astype(float), "cost": cost}))
    events = pd.concat(rows, ignore_index=True)
    ids = np.array([f"u{i:06d}" for i in range(n_units)])
    persons = pd.DataFrame({"unit_id": np.arange(n_units), "person_id": ids, "treated": treated, "weights": weights,
                            "entry_day": entry_day, "exit_day": exit_day, "subclass": [f"s{s:05d}" for s in set_of]})
    # Utilities: baseline lower among the enrolled; slope per year + qaly_effect for the enrolled.
    u0 = np.clip(rng.normal(0.62 - 0.06 * treated, 0.18), -0.2, 1.0)
    slope = -0.02 + qaly_effect * treated
    resp = (rng.random(n_units) < response) & ~dies
    tp = {"baseline": 0.0, "6m": 0.5, "12m": 1.0}
    srows = []
    for lab, t in tp.items():
        u = u0 if t == 0 else u0 + slope * t + rng.normal(0, 0.08, n_units)
        srows.append(pd.DataFrame({"person_id": ids[resp], "timepoint": lab, "eq5d_index": u[resp]}))
    scores = pd.concat(srows, ignore_index=True)
    stats = set_statistics(persons, events, ["emergency_admission", "ae_attendance", "cost"], pre_months=12,
                           post_months=12, cluster="subclass")
    q = person_qalys(scores, tp)
    names, vals, _ = qaly_set_statistics(persons, q, stats.set_ids, cluster="subclass")
    stats = stats.extend(names, vals)
    mean_need = 0.9 * 1.4 * _MEAN_NOISE
    adm_d = trend * (rr - 1) * mean_need
    ae_d = trend * (ae_rr - 1) * mean_need * rate_ae
    cost_d = adm_d * ADM_COST + ae_d * AE_COST
    dq = qaly_effect * 0.5
    truth = {"admissions_delta": adm_d, "ae_delta": ae_d, "activity_cost_delta": cost_d,
             "net_cost": programme_cost + cost_d, "incremental_qalys": dq,
             "nmb_20000": 20000 * dq - (programme_cost + cost_d), "nmb_30000": 30000 * dq - (programme_cost + cost_d)}
    return SimulatedEconomics(persons=persons, events=events, scores=scores, stats=stats,
                              programme_cost=programme_cost,
                              unit_costs={"emergency_admission": ADM_COST, "ae_attendance": AE_COST}, truth=truth,
                              params={"n_sets": n_sets, "rr": rr, "ae_rr": ae_rr, "trend": trend, "spike": spike,
                                      "qaly_effect": qaly_effect, "seed": seed})
