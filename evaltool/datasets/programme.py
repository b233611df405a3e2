"""A second synthetic programme, built on rules that differ from Southvale's, with a known effect.

Southvale (:mod:`evaltool.datasets.southvale`) enrols people by a logistic function of a risk score and
of emergency admissions in the last three months, on top of an AR(1) monthly shock. A design tuned on
Southvale can pass its own checks for the wrong reasons, so this generator changes every one of those
choices:

- **hospital use**: a persistent level times a two-state Markov *crisis* process (stable / crisis,
  crises last about three months and multiply the admission rate), not a Gaussian shock;
- **enrolment rules** (``rule``):

  ``"admissions"``
      eligible in a month with two or more emergency admissions in the previous six months (a common
      case-finding rule);
  ``"risk_threshold"``
      eligible while the risk score is at or above a threshold (the top ``risk_top`` share of adults);

  eligible people are enrolled up to each live practice's monthly capacity, chosen at random
  (capacity left unused carries over to the practice's next month), so the number enrolled is
  ``n_enrolled`` whenever enough people become eligible (``truth["n_enrolled"]`` says how many were);
- a different window (2020-01-01 to 2023-12-31), practice count and roll-out.

The true effect is one rate ratio, ``true_rate_ratio``, on emergency admissions (and, through them,
emergency bed days) from the index month on, for enrolled people; every other outcome is unaffected.
Untreated potential outcomes are drawn first and the effect is applied by binomial thinning, so the
truth is exact: ``truth["true_rate_ratios"]``.

Examples
--------
>>> d = simulate_programme(n_people=3000, n_enrolled=40, seed=1)
>>> int(d.population["treated"].sum()), d.truth["rule"]
(40, 'admissions')
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool.errors import EvaltoolError

__all__ = ["ProgrammeData", "simulate_programme", "RULES"]

RULES = ("admissions", "risk_threshold")
WINDOW_START = "2020-01-01"
WINDOW_END = "2023-12-31"
N_MONTHS = 48
_MONTHS = np.arange("2020-01", "2024-01", dtype="datetime64[M]")
_MSTART = _MONTHS.astype("datetime64[D]")
_MLEN = ((_MONTHS + np.timedelta64(1, "M")).astype("datetime64[D]") - _MSTART).astype(np.int64)


@dataclass(frozen=True)
class ProgrammeData:
    """Tables in the evaltool input contract and the known truth."""

    population: pd.DataFrame
    activity: pd.DataFrame
    practices: pd.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)
    window_start: str = WINDOW_START
    window_end: str = WINDOW_END


def simulate_programme(
    n_people: int = 40_000,
    n_enrolled: int = 600,
    *,
    rule: str = "admissions",
    true_rate_ratio: float = 0.85,
    n_practices: int = 16,
    risk_top: float = 0.04,
    first_go_live: int = 14,
    last_go_live: int = 30,
    enrol_last: int = 35,
    seed: int = 0,
) -> ProgrammeData:
    """Simulate a population, its hospital use and a case-management programme with a known effect.

    Parameters
    ----------
    n_people : registered people (all ages; adults are eligible).
    n_enrolled : people to enrol in total (spread over live practice-months as monthly capacity).
    rule : {"admissions", "risk_threshold"}, the eligibility rule (see the module notes).
    true_rate_ratio : effect on emergency admissions of the enrolled from the index month on.
    n_practices : practices; a quarter of them never go live (their people stay available as controls).
    risk_top : share of adults at or above the risk-score threshold (``rule="risk_threshold"``).
    first_go_live, last_go_live : months (0 = January 2020) of the first and last go-live.
    enrol_last : last month in which anyone is enrolled (leaves 12 months of follow-up).
    seed : seed of every random draw.

    Returns
    -------
    ProgrammeData

    Examples
    --------
    >>> d = simulate_programme(n_people=3000, n_enrolled=30, rule="risk_threshold", seed=2)
    >>> d.truth["true_rate_ratios"]["emergency_admission"]
    0.85
    """
    if rule not in RULES:
        raise EvaltoolError(f"`rule`: expected one of {list(RULES)}, got {rule!r}")
    if not 0 < true_rate_ratio <= 1.5:
        raise EvaltoolError(f"`true_rate_ratio`: expected a number in (0, 1.5], got {true_rate_ratio!r}")
    if n_people < 500 or n_enrolled < 1:
        raise EvaltoolError("`n_people` must be at least 500 and `n_enrolled` at least 1")
    ss = np.random.SeedSequence(seed)
    g_pop, g_use, g_enrol, g_thin, g_detail = (np.random.default_rng(s) for s in ss.spawn(5))
    n, T = int(n_people), N_MONTHS

    # ---- people ------------------------------------------------------------------------
    age0 = np.clip(np.where(g_pop.random(n) < 0.2, g_pop.uniform(0, 18, n), 18 + g_pop.gamma(2.2, 14.0, n)), 0, 99)
    birth = _MSTART[0] - (age0 * 365.25).astype("timedelta64[D]")
    sex = np.where(g_pop.random(n) < 0.51, "F", "M")
    imd = g_pop.integers(1, 6, n)
    ltc = g_pop.poisson(np.clip((age0 - 30) / 18, 0.05, None))
    practice = g_pop.integers(0, n_practices, n)
    u = g_pop.normal(0, 0.75, n)  # persistent level (log scale)
    log_lvl = -5.1 + 0.028 * (age0 - 50) + 0.22 * np.minimum(ltc, 6) + 0.12 * (5 - imd) / 4 + u
    lvl = np.exp(log_lvl)  # stable-state monthly emergency admission rate
    frail_idx = np.clip(np.floor((age0 - 55) / 12 + 0.35 * ltc + g_pop.normal(0, 0.6, n)), 0, 3).astype(int)
    frailty = np.where(age0 >= 18, np.array(["fit", "mild", "moderate", "severe"], dtype=object)[frail_idx], None)
    # Risk score: a noisy prediction of the chance of an admission in a year.
    risk = np.clip(1 - np.exp(-12 * lvl * 1.6 * np.exp(g_pop.normal(0, 0.35, n))), 0.0005, 0.9995).round(4)
    # Death and de-registration (monthly hazards), registration churn at the start.
    death_m = np.where(g_pop.random(n) < 1 - (1 - np.clip(0.00004 * np.exp(0.085 * (age0 - 40)), 0, 0.05)) ** T,
                       g_pop.integers(0, T, n), -1)
    leave_m = np.where(g_pop.random(n) < 0.06, g_pop.integers(6, T, n), -1)
    join_m = np.where(g_pop.random(n) < 0.05, g_pop.integers(1, 24, n), 0)

    # ---- untreated hospital use: level x crisis state --------------------------------------
    crisis = np.zeros((n, T), dtype=bool)
    state = g_use.random(n) < 0.03
    p_enter = np.clip(0.012 * np.exp(0.6 * u), 0, 0.2)
    for m in range(T):
        draw = g_use.random(n)
        state = np.where(state, draw > 0.33, draw < p_enter)
        crisis[:, m] = state
    season = 1 + 0.12 * np.cos(2 * np.pi * (np.arange(T) % 12) / 12)
    in_reg = _registered(n, T, join_m, leave_m, death_m)
    lam_em = lvl[:, None] * np.where(crisis, 7.0, 1.0) * season[None, :] * in_reg
    y_em0 = g_use.poisson(lam_em)
    y_ae = g_use.poisson(lvl[:, None] * np.where(crisis, 4.0, 1.0) * 1.6 * in_reg + 0.01 * in_reg)
    y_el = g_use.poisson(0.25 * lvl[:, None] * in_reg + 0.002 * in_reg)

    # ---- roll-out and enrolment ------------------------------------------------------------
    n_never = max(1, n_practices // 4)
    go = np.full(n_practices, -1)
    go[n_never:] = np.sort(g_enrol.integers(first_go_live, last_go_live + 1, n_practices - n_never))
    go = g_enrol.permutation(go)
    months_live = [(p, m) for m in range(T) if m <= enrol_last for p in range(n_practices) if 0 <= go[p] <= m]
    cap = np.zeros(len(months_live), dtype=np.int64)
    if months_live:
        np.add.at(cap, g_enrol.integers(0, len(months_live), n_enrolled), 1)
    capacity = {pm: int(c) for pm, c in zip(months_live, cap)}
    adult_m = (age0[:, None] + np.arange(T)[None, :] / 12) >= 18
    thr = float(np.quantile(risk[age0 >= 18], 1 - risk_top))
    enrol_m = np.full(n, -1)
    spare = 0  # capacity a practice could not fill: used next by eligible people in any live practice
    for m in range(T):
        if m > enrol_last:
            break
        if rule == "admissions":
            elig = y_em0[:, max(m - 6, 0):m].sum(axis=1) >= 2 if m >= 6 else np.zeros(n, bool)
        else:
            elig = risk >= thr
        elig = elig & (enrol_m < 0) & adult_m[:, m] & in_reg[:, m].astype(bool)
        live = np.flatnonzero((go >= 0) & (go <= m))
        for p in live:
            k = capacity.get((int(p), m), 0)
            cand = np.flatnonzero(elig & (practice == p))
            take = min(k, cand.size)
            if take:
                enrol_m[g_enrol.choice(cand, size=take, replace=False)] = m
            spare += k - take
        rest = np.flatnonzero(elig & (enrol_m < 0) & np.isin(practice, live))
        take = min(spare, rest.size)
        if take:
            enrol_m[g_enrol.choice(rest, size=take, replace=False)] = m
            spare -= take
    treated = enrol_m >= 0

    # ---- effect: thin the enrolled's post-index admissions ---------------------------------
    post = treated[:, None] & (np.arange(T)[None, :] >= enrol_m[:, None])
    y_em = y_em0.copy()
    rows = np.flatnonzero(treated)
    y_em[rows] = np.where(post[rows], g_thin.binomial(y_em0[rows], true_rate_ratio), y_em0[rows])

    # ---- events ------------------------------------------------------------------------------
    frames = []
    for setting, y in (("emergency_admission", y_em), ("ae_attendance", y_ae), ("elective_admission", y_el)):
        i, m = np.nonzero(y)
        reps = y[i, m]
        i, m = np.repeat(i, reps), np.repeat(m, reps)
        day = _MSTART[m] + (g_detail.random(i.size) * _MLEN[m]).astype("timedelta64[D]")
        if setting == "emergency_admission":
            bed = 1.0 + g_detail.poisson(np.clip(2.0 + 0.09 * (age0[i] - 50) + 0.8 * frail_idx[i], 0.5, None))
        elif setting == "elective_admission":
            bed = g_detail.poisson(0.6, i.size).astype(float)
        else:
            bed = np.zeros(i.size)
        cost = np.round({"emergency_admission": 1500.0, "ae_attendance": 180.0, "elective_admission": 2600.0}[setting]
                        + 420.0 * bed, 2)
        frames.append(pd.DataFrame({"_i": i, "date": day, "setting": setting, "bed_days": bed, "cost": cost}))
    ev = pd.concat(frames, ignore_index=True).sort_values(["_i", "date", "setting"], kind="stable")
    pid = np.array([f"Q{i:06d}" for i in range(n)], dtype=object)
    activity = pd.DataFrame({"person_id": pid[ev["_i"].to_numpy()], "date": pd.to_datetime(ev["date"].to_numpy()),
                             "setting": ev["setting"].astype(object).to_numpy(), "bed_days": ev["bed_days"].to_numpy(),
                             "cost": ev["cost"].to_numpy()})

    def month_date(k: np.ndarray, ok: np.ndarray) -> pd.Series:
        return pd.Series(pd.to_datetime(np.where(ok, _MSTART[np.clip(k, 0, T - 1)], np.datetime64("NaT", "D"))))

    prac_ids = np.array([f"GP{p:02d}" for p in range(n_practices)], dtype=object)
    population = pd.DataFrame({
        "person_id": pid, "practice_id": prac_ids[practice], "sex": sex.astype(object),
        "birth_date": pd.to_datetime(birth), "treated": treated.astype(np.int64),
        "index_date": month_date(enrol_m, treated), "imd_quintile": pd.array(imd, dtype="Int64"),
        "ltc_count": pd.array(ltc, dtype="Int64"), "frailty": pd.Series(frailty, dtype=object),
        "risk_score": risk, "registration_start": month_date(join_m, join_m > 0),
        # Leavers de-register on the first day of their leaving month; deaths fall mid-month.
        "registration_end": month_date(leave_m, leave_m >= 0),
        "death_date": month_date(death_m, death_m >= 0) + pd.Timedelta(days=14),
    })
    practices = pd.DataFrame({"practice_id": prac_ids,
                              "go_live_date": month_date(go, go >= 0),
                              "list_size": np.bincount(practice, minlength=n_practices).astype(np.int64)})
    truth = {
        "rule": rule, "n_people": n, "n_enrolled": int(treated.sum()), "n_enrolled_requested": int(n_enrolled),
        "true_rate_ratios": {"emergency_admission": float(true_rate_ratio), "ae_attendance": 1.0,
                             "elective_admission": 1.0},
        "risk_threshold": thr if rule == "risk_threshold" else None,
        "window": {"start": WINDOW_START, "end": WINDOW_END}, "seed": seed,
        "note": "emergency bed days fall with admissions (length of stay is unaffected)",
    }
    return ProgrammeData(population=population, activity=activity, practices=practices, truth=truth)


def _registered(n: int, T: int, join_m: np.ndarray, leave_m: np.ndarray, death_m: np.ndarray) -> np.ndarray:
    """1 in months a person is registered and alive for the whole month's events (0 otherwise)."""
    m = np.arange(T)[None, :]
    ok = m >= join_m[:, None]
    ok &= (leave_m[:, None] < 0) | (m < leave_m[:, None])
    ok &= (death_m[:, None] < 0) | (m < death_m[:, None])
    return ok.astype(np.float64)
