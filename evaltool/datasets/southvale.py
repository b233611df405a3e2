"""Southvale: a fictional integrated-care area with a known true effect.

Southvale is modelled on a real integrated-care programme: ~166,000 people
registered with 25 GP practices in 5 neighbourhoods, followed monthly from
2021-04-01 to 2025-03-31 (48 months). Neighbourhood teams go live in practices
at staggered dates in year 3 and enrol ~2% of adults into case management,
chosen by a risk score and by *recent* emergency admissions. Because each
person's admission rate has a persistent level *and* a transient monthly AR(1)
shock, people picked on a recent spell of high use would fall back towards
their usual level anyway: a naive before/after comparison shows a large false
fall (regression to the mean), while the true effect is modest and known.

True effect (rate ratio on the monthly rate, from the index month on, for
enrolled patients only):

========================  ==========  ========
outcome                   under 65    65 and over
========================  ==========  ========
emergency admissions      0.80        1.00
A&E attendances           0.85        1.00
emergency bed days        0.80 (through fewer admissions; length of stay unchanged)
elective, outpatient,     1.00        1.00
care-home admissions
deaths                    1.00        1.00
========================  ==========  ========

Everything is vectorised over people (the only Python loops run over the 48
months or the handful of settings) and every random draw comes from its own
child of ``numpy.random.SeedSequence(seed)``, so switching the effect off (a
private argument used by the tests) changes nothing but the treated patients'
post-index counts: their untreated potential outcomes are the same draws.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool.datasets._io import write_json_atomic, write_parquet_atomic
from evaltool.errors import EvaltoolError
from evaltool.datasets.southvale_params import (
    DEFAULT_SEED,
    WINDOW_START,
    N_MONTHS,
    _N_DAYS,
    _MS,
    _ME,
    _MLEN,
    _CAL_MONTH,
    _ENROL_LAST_M,
    POPULATION_TARGET,
    N_PRACTICES,
    NEIGHBOURHOODS,
    _NB_GO_LIVE,
    _NB_DEPRIVATION,
    _PRACTICE_GO_LIVE_OVERRIDES,
    TRUE_RATE_RATIOS,
    _PYRAMID,
    _AGE_KNOTS,
    _ANNUAL,
    _LOADINGS,
    _SIGMA_U,
    _SIGMA_E,
    _RHO,
    _SEASON_AMPLITUDE,
    FRAILTY_LEVELS,
    _FRAILTY_RATE_MULT,
    _FRAILTY_DEATH_MULT,
    _FRAILTY_LOS_ADD,
    _ENROL_INTERCEPT,
    _ENROL_RISK,
    _ENROL_RECENT,
    _ENROL_UNDER65,
    SETTINGS,
    _STREAMS,
)
from evaltool.datasets.southvale_truth import truth_record

__all__ = ["SouthvaleData", "southvale", "write_southvale", "DEFAULT_SEED"]

@dataclass(frozen=True)
class SouthvaleData:
    """The generated Southvale tables and their true parameters.

    Attributes
    ----------
    population, activity, practices : pandas.DataFrame
        Tables in the evaltool input contract (docs/architecture.md).
    truth : dict
        JSON-able true parameters and the checks computed from the data
        (the same content as ``truth.json``).
    """

    population: pd.DataFrame
    activity: pd.DataFrame
    practices: pd.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"SouthvaleData(population={len(self.population)} rows, "
            f"activity={len(self.activity)} rows, practices={len(self.practices)} rows, "
            f"n_enrolled={self.truth.get('n_enrolled', {}).get('total')})"
        )


# --------------------------------------------------------------------------- helpers
def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, children)}


def _annual_rate(setting: str, age: np.ndarray) -> np.ndarray:
    return np.exp(np.interp(age, _AGE_KNOTS, np.log(_ANNUAL[setting])))


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    nums = np.char.zfill(np.arange(1, n + 1).astype(str), width)
    return np.char.add(prefix, nums).astype(object)


def _to_dates(days: np.ndarray) -> np.ndarray:
    """Day offsets from the window start (NaN = missing) -> datetime64[ns]."""
    days = np.asarray(days, dtype=np.float64)
    out = np.full(days.shape, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    ok = ~np.isnan(days)
    out[ok] = (WINDOW_START + days[ok].astype(np.int64)).astype("datetime64[ns]")
    return out


def _largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    raw = shares / shares.sum() * total
    base = np.floor(raw).astype(np.int64)
    rest = total - base.sum()
    base[np.argsort(-(raw - base), kind="stable")[:rest]] += 1
    return base


def _practices(rng: np.random.Generator, scale: float) -> pd.DataFrame:
    u = rng.beta(1.2, 1.8, N_PRACTICES)
    size = 2500 + 11500 * u
    for _ in range(50):  # rescale to the target total while keeping 2,500-14,000
        size = np.clip(size * POPULATION_TARGET / size.sum(), 2600, 13900)
    ids = _ids("S", N_PRACTICES, 3)
    nb_idx = np.repeat(np.arange(len(NEIGHBOURHOODS)), N_PRACTICES // len(NEIGHBOURHOODS))
    go = np.array([_NB_GO_LIVE[k] for k in nb_idx], dtype=object)
    for pid, date in _PRACTICE_GO_LIVE_OVERRIDES.items():
        go[np.flatnonzero(ids == pid)[0]] = date
    deprivation = np.asarray(_NB_DEPRIVATION)[nb_idx] + rng.normal(0, 0.35, N_PRACTICES)
    effect = rng.normal(0, 0.12, N_PRACTICES)  # practice random effect on log rates
    return pd.DataFrame(
        {
            "practice_id": ids,
            "neighbourhood": np.asarray(NEIGHBOURHOODS, dtype=object)[nb_idx],
            "go_live_date": pd.to_datetime(pd.Series(go, dtype=object)).astype("datetime64[ns]"),
            "_size": size * scale,
            "_deprivation": deprivation,
            "_effect": effect,
        }
    )


def _check_args(seed: Any, scale: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EvaltoolError(f"`seed`: expected a non-negative integer, got {seed!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0.005 <= scale <= 5:
        raise EvaltoolError(
            f"`scale`: expected a number between 0.005 and 5 (1.0 = ~166,000 people), got {scale!r}"
        )


# --------------------------------------------------------------------------- generator
def southvale(
    seed: int = DEFAULT_SEED, *, scale: float = 1.0, _effect: bool = True
) -> SouthvaleData:
    """Generate the Southvale example data.

    Parameters
    ----------
    seed : int, default 20261122
        Seed for ``numpy.random.SeedSequence``; the same seed gives identical frames.
    scale : float, default 1.0
        Population multiplier: 1.0 gives ~166,000 registered people at the window
        start (~183,000 ever registered); 0.1 gives a tenth, for fast tests.
        Practices, go-live dates and all rates are unchanged.
    _effect : bool, default True
        Private (tests only): ``False`` sets every true rate ratio to 1, leaving
        every other draw unchanged, so each enrolled patient's untreated
        potential outcomes can be compared with the treated ones.

    Returns
    -------
    SouthvaleData
        ``population``, ``activity``, ``practices`` (input contract) and ``truth``.

    Examples
    --------
    >>> from evaltool.datasets import southvale
    >>> d = southvale(scale=0.02)
    >>> sorted(d.practices.columns)
    ['go_live_date', 'list_size', 'neighbourhood', 'practice_id']
    >>> d.truth["true_rate_ratios"]["emergency_admission"]["under_65"]
    0.8
    """
    _check_args(seed, scale)
    seed = int(seed)
    rng = _streams(seed)
    prac = _practices(rng["practices"], float(scale))
    n_prac = len(prac)

    # ---- people: practice, age, sex ------------------------------------------------
    g = rng["people"]
    n_start_by_p = _largest_remainder(prac["_size"].to_numpy(), round(POPULATION_TARGET * scale))
    n_start = int(n_start_by_p.sum())
    n_in = int(round(0.10 * n_start))  # move in during the window
    practice_idx = np.r_[
        np.repeat(np.arange(n_prac), n_start_by_p),
        g.choice(n_prac, size=n_in, p=n_start_by_p / n_start),
    ]
    incomer = np.r_[np.zeros(n_start, bool), np.ones(n_in, bool)]
    order = g.permutation(n_start + n_in)  # ids carry no information about practice
    practice_idx, incomer = practice_idx[order], incomer[order]
    n = practice_idx.size

    ga = rng["age"]
    w = _PYRAMID / _PYRAMID.sum()
    w_in = _PYRAMID * np.where((np.arange(19) >= 4) & (np.arange(19) <= 7), 2.5, 1.0)
    band = np.where(
        incomer, ga.choice(19, size=n, p=w_in / w_in.sum()), ga.choice(19, size=n, p=w)
    )
    age_years = np.where(
        band < 18, band * 5 + ga.random(n) * 5, np.minimum(90 + ga.exponential(4.5, n), 104.9)
    )
    birth_day = -np.round(age_years * 365.25).astype(np.int64)  # day offset, <= 0
    age0 = np.floor(-birth_day / 365.25).astype(np.int64)  # whole years at window start
    p_female = np.interp(age_years, [0, 60, 90, 105], [0.488, 0.50, 0.62, 0.75])
    sex = np.where(ga.random(n) < p_female, "F", "M").astype(object)

    # ---- registration ---------------------------------------------------------------
    gr = rng["registration"]
    reg_start = np.where(
        incomer,
        gr.integers(1, _N_DAYS, n),
        -np.minimum(np.floor(gr.random(n) * np.minimum(-birth_day, 25 * 365)), -birth_day),
    ).astype(np.int64)
    reg_start = np.maximum(reg_start, birth_day)
    leave_rate = np.where((age_years >= 18) & (age_years < 35), 0.08, 0.025)  # per year
    leave_day = np.maximum(reg_start, 0) + np.ceil(gr.exponential(365.25 / leave_rate))
    leaves = leave_day <= _N_DAYS - 1
    last_day = np.where(leaves, leave_day, _N_DAYS - 1).astype(np.int64)
    first_day = np.maximum(reg_start, 0)

    # ---- deprivation, long-term conditions, frailty --------------------------------
    gc = rng["clinical"]
    dep_latent = prac["_deprivation"].to_numpy()[practice_idx] + gc.normal(0, 1, n)
    # National quintile cut-points (latent sd ~1.1 nationally), so Southvale's
    # mix is not forced to 20% each: it is a little more deprived than England.
    cut = np.array([-0.842, -0.253, 0.253, 0.842]) * 1.1
    imd = 5 - np.searchsorted(cut, dep_latent)  # 1 = most deprived (English convention)
    dep = (3 - imd).astype(float)  # +2 most deprived ... -2 least
    ltc_mean = np.exp(-2.4 + 0.042 * age_years + 0.10 * dep)
    ltc = np.minimum(gc.poisson(ltc_mean), 10)
    frail_latent = (
        0.075 * (age_years - 70) + 0.35 * (ltc - ltc_mean) + 0.12 * dep + gc.normal(0, 1, n)
    )
    frail_idx = np.searchsorted([0.35, 1.35, 2.3], frail_latent)  # 0 fit ... 3 severe
    adult0 = age_years >= 18
    frail_idx = np.where(adult0, frail_idx, 0)  # children carry no frailty category

    # ---- persistent level and transient shocks -------------------------------------
    u = rng["latent"].normal(0, _SIGMA_U, n)
    gs = rng["shock"]
    shock = np.empty((n, N_MONTHS), dtype=np.float64)
    prev = gs.normal(0, _SIGMA_E, n)  # start from the stationary distribution
    innov_sd = _SIGMA_E * np.sqrt(1 - _RHO**2)
    for m in range(N_MONTHS):  # loop over months, vectorised over people
        prev = _RHO * prev + gs.normal(0, innov_sd, n)
        shock[:, m] = prev

    # Age at each month (years), exposure (fraction of each month registered).
    age_t = age_years[:, None] + (_MS[None, :] + 15) / 365.25
    season = np.exp(_SEASON_AMPLITUDE * np.cos(2 * np.pi * (_CAL_MONTH - 1) / 12))
    season = season / season.mean()
    prac_eff = prac["_effect"].to_numpy()[practice_idx]
    ltc_dev = ltc - ltc_mean

    # ---- deaths (only observed while registered) ----------------------------------
    def exposure(first: np.ndarray, last: np.ndarray) -> np.ndarray:
        lo = np.maximum(_MS[None, :], first[:, None])
        hi = np.minimum(_ME[None, :], last[:, None])
        return np.clip(hi - lo + 1, 0, None) / _MLEN[None, :]

    expo_reg = exposure(first_day, last_day)
    gd = rng["death"]
    death_mult = _FRAILTY_DEATH_MULT[frail_idx] * np.exp(0.10 * ltc_dev + 0.25 * u)
    hazard = np.exp(-10.9 + 0.094 * age_t) / 12 * death_mult[:, None] * expo_reg
    die = gd.random((n, N_MONTHS)) < hazard
    died = die.any(axis=1)
    death_m = np.where(died, die.argmax(axis=1), -1)
    lo = np.maximum(_MS[np.maximum(death_m, 0)], first_day)
    hi = np.minimum(_ME[np.maximum(death_m, 0)], last_day)
    death_day = np.where(died, lo + np.floor(gd.random(n) * (hi - lo + 1)), np.nan)
    last_day = np.where(died, death_day, last_day).astype(np.int64)
    expo = exposure(first_day, last_day)
    del die, hazard, expo_reg

    # ---- untreated monthly rates and counts ----------------------------------------
    base_log = np.log(_FRAILTY_RATE_MULT[frail_idx]) + 0.12 * ltc_dev + 0.07 * dep + prac_eff
    lam0: dict[str, np.ndarray] = {}
    y0: dict[str, np.ndarray] = {}
    for s in ("emergency_admission", "ae_attendance", "elective_admission", "outpatient_attendance"):
        a_u, a_e = _LOADINGS[s]
        person_log = base_log + a_u * u - (a_u * _SIGMA_U) ** 2 / 2
        lam = _annual_rate(s, age_t) / 12 * np.exp(person_log[:, None])
        if a_e:
            lam *= np.exp(a_e * shock - (a_e * _SIGMA_E) ** 2 / 2)
        if s in ("emergency_admission", "ae_attendance"):
            lam *= season[None, :]
        lam0[s] = lam
        y0[s] = rng[s].poisson(lam * expo).astype(np.int16)

    # Care-home admission: rare, older and frail; at most one per person.
    ch_annual = np.exp(np.interp(age_t, [0, 65, 75, 85, 100], np.log([1e-6, 0.002, 0.008, 0.03, 0.07])))
    ch_mult = np.array([0.3, 1.0, 2.5, 5.0])[frail_idx] * np.exp(0.3 * u)
    ch_h = ch_annual / 12 * ch_mult[:, None] * expo
    ch = rng["care_home_admission"].random((n, N_MONTHS)) < ch_h
    ch_first = np.where(ch.any(axis=1), ch.argmax(axis=1), -1)
    y0["care_home_admission"] = np.zeros((n, N_MONTHS), dtype=np.int16)
    has_ch = ch_first >= 0
    y0["care_home_admission"][np.flatnonzero(has_ch), ch_first[has_ch]] = 1
    del ch, ch_h, ch_annual

    # ---- risk score (a commissioner's predicted risk of admission, at window start) --
    static_annual = _annual_rate("emergency_admission", age_years) * np.exp(
        base_log + 0.75 * u - (0.75 * _SIGMA_U) ** 2 / 2 + rng["risk"].normal(0, 0.35, n)
    )
    risk = np.round(1 - np.exp(-static_annual), 4)
    risk = np.clip(risk, 0.0005, 0.9995)

    # ---- roll-out and case-management enrolment --------------------------------------
    go_day = (prac["go_live_date"].to_numpy().astype("datetime64[D]") - WINDOW_START)
    go_m_p = np.where(
        pd.isna(prac["go_live_date"]).to_numpy(),
        N_MONTHS + 99,
        np.searchsorted(_MS, go_day.astype("int64").clip(0), "right") - 1,
    )
    go_m = go_m_p[practice_idx]
    ge = rng["enrolment"]
    enrol_m = np.full(n, -1, dtype=np.int64)
    logit_risk = np.log(risk / (1 - risk))
    em0 = y0["emergency_admission"]
    first_live = int(go_m_p.min())
    for m in range(first_live, _ENROL_LAST_M + 1):  # months, vectorised over people
        draw = ge.random(n)
        recent = np.minimum(em0[:, max(m - 3, 0):m].sum(axis=1), 3)
        age_m = age_years + _MS[m] / 365.25
        elig = (
            (enrol_m < 0)
            & (go_m <= m)
            & (age_m >= 18)
            & (first_day <= _MS[m])
            & (last_day >= _MS[m])
        )
        eta = (
            _ENROL_INTERCEPT
            + _ENROL_RISK * logit_risk
            + _ENROL_RECENT * recent
            + _ENROL_UNDER65 * (age_m < 65)
        )
        p = 1 / (1 + np.exp(-eta))
        enrol_m[elig & (draw < p)] = m
    treated = enrol_m >= 0
    index_day = np.where(treated, _MS[np.maximum(enrol_m, 0)], np.nan)
    age_index = np.where(treated, np.floor((index_day - birth_day) / 365.25), np.nan)
    under65 = treated & (age_index < 65)

    # ---- treated potential outcomes: thin the untreated counts ---------------------
    # Binomial thinning of a Poisson(lam) count with probability RR gives a
    # Poisson(RR * lam) count, coupled to the untreated one for the same person.
    post = treated[:, None] & (np.arange(N_MONTHS)[None, :] >= enrol_m[:, None])
    y = dict(y0)
    for s, stream in (("emergency_admission", "thin_emergency"), ("ae_attendance", "thin_ae")):
        rr_u65 = TRUE_RATE_RATIOS[s]["under_65"] if _effect else 1.0
        rr_65 = TRUE_RATE_RATIOS[s]["65_and_over"] if _effect else 1.0
        rr_i = np.where(under65, rr_u65, rr_65)
        rows = np.flatnonzero(treated)
        sub = y0[s][rows].astype(np.int64)
        thinned = rng[stream].binomial(sub, np.broadcast_to(rr_i[rows, None], sub.shape))
        new = y0[s].copy()
        new[rows] = np.where(post[rows], thinned, sub).astype(np.int16)
        y[s] = new

    # ---- events: dates, bed days, cost ----------------------------------------------
    gx = rng["event_detail"]
    frames = []
    for s in SETTINGS:
        i, m = np.nonzero(y[s])
        reps = y[s][i, m].astype(np.int64)
        i, m = np.repeat(i, reps), np.repeat(m, reps)
        lo = np.maximum(_MS[m], first_day[i])
        hi = np.minimum(_ME[m], last_day[i])
        day = lo + np.floor(gx.random(i.size) * (hi - lo + 1)).astype(np.int64)
        age_e = age_years[i] + day / 365.25
        bed, cost = _bed_days_and_cost(s, age_e, frail_idx[i], gx)
        frames.append(
            pd.DataFrame(
                {"_i": i, "_day": day, "setting": s, "bed_days": bed, "cost": cost}
            )
        )
    ev = pd.concat(frames, ignore_index=True)
    ev["_s"] = pd.Categorical(ev["setting"], categories=list(SETTINGS)).codes
    ev = ev.sort_values(["_i", "_day", "_s"], kind="stable").reset_index(drop=True)

    person_id = _ids("P", n, 6)
    activity = pd.DataFrame(
        {
            "person_id": pd.Series(person_id[ev["_i"].to_numpy()], dtype=object),
            "date": _to_dates(ev["_day"].to_numpy()),
            "setting": ev["setting"].astype(object),
            "bed_days": ev["bed_days"].astype(np.float64),
            "cost": ev["cost"].astype(np.float64),
        }
    )

    population = pd.DataFrame(
        {
            "person_id": pd.Series(person_id, dtype=object),
            "practice_id": pd.Series(prac["practice_id"].to_numpy()[practice_idx], dtype=object),
            "sex": pd.Series(sex, dtype=object),
            "birth_date": _to_dates(birth_day),
            "age": age0.astype(np.int64),
            "treated": treated.astype(np.int64),
            "index_date": _to_dates(index_day),
            "imd_quintile": pd.array(imd, dtype="Int64"),
            "ltc_count": pd.array(ltc, dtype="Int64"),
            "frailty": pd.Series(
                np.where(adult0, np.asarray(FRAILTY_LEVELS, dtype=object)[frail_idx], np.nan),
                dtype=object,
            ),
            "risk_score": risk.astype(np.float64),
            "registration_start": _to_dates(reg_start),
            "registration_end": _to_dates(
                np.where(leaves | died, last_day, np.nan).astype(np.float64)
            ),
            "death_date": _to_dates(death_day),
        }
    )

    reg_at_start = (first_day <= 0) & (reg_start <= 0)
    list_size = np.bincount(practice_idx[reg_at_start], minlength=n_prac)
    practices = pd.DataFrame(
        {
            "practice_id": prac["practice_id"].astype(object),
            "neighbourhood": prac["neighbourhood"].astype(object),
            "go_live_date": prac["go_live_date"].astype("datetime64[ns]"),
            "list_size": list_size.astype(np.int64),
        }
    )
    for frame in (population, activity, practices):
        for col in frame.columns:
            if frame[col].dtype == object or str(frame[col].dtype) == "str":
                frame[col] = frame[col].astype(object)

    truth = truth_record(
        seed=seed,
        scale=float(scale),
        effect=_effect,
        prac=prac,
        practice_idx=practice_idx,
        go_m_p=go_m_p,
        adult_at_start=adult0,
        n=n,
        n_start=n_start,
        treated=treated,
        under65=under65,
        enrol_m=enrol_m,
        expo=expo,
        y=y,
        y0=y0,
        lam0=lam0,
        post=post,
        died=died,
        leaves=leaves,
        incomer=incomer,
        frail_idx=frail_idx,
        age_years=age_years,
    )
    return SouthvaleData(population=population, activity=activity, practices=practices, truth=truth)


def _bed_days_and_cost(
    setting: str, age: np.ndarray, frail: np.ndarray, g: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Length of stay (zero-heavy) and a tariff-like cost for each event."""
    k = age.size
    if setting == "emergency_admission":
        p_zero = np.clip(0.45 - 0.004 * (age - 40), 0.15, 0.50)  # same-day discharge
        mu = np.exp(0.8 + 0.022 * np.clip(age - 40, 0, None) + _FRAILTY_LOS_ADD[frail])
        size = 1.1
        los = 1 + g.negative_binomial(size, size / (size + mu))
        los = np.where(g.random(k) < p_zero, 0, np.minimum(los, 120)).astype(float)
        # Tariff: same-day rate, else spell price plus excess bed days past a trim point.
        cost = np.where(los == 0, 720.0, 1850.0 + 390.0 * np.clip(los - 4, 0, None))
        cost = cost * np.where(age >= 75, 1.12, 1.0)
        return los, np.round(cost, 2)
    if setting == "elective_admission":
        day_case = g.random(k) < 0.78
        los = np.where(day_case, 0, 1 + g.poisson(2.0, k)).astype(float)
        cost = np.where(day_case, 1150.0, 3800.0 + 420.0 * np.clip(los - 4, 0, None))
        return los, np.round(cost, 2)
    if setting == "ae_attendance":
        major = g.random(k) < np.clip(0.10 + 0.004 * age, 0.1, 0.5)
        minor = ~major & (g.random(k) < 0.4)
        cost = np.where(major, 395.0, np.where(minor, 145.0, 235.0))
        return np.zeros(k), cost
    if setting == "outpatient_attendance":
        first = g.random(k) < 0.3
        return np.zeros(k), np.where(first, 185.0, 112.0)
    # Care-home admission: a social-care placement, not costed here.
    return np.zeros(k), np.zeros(k)


def write_southvale(
    out_dir: str | os.PathLike[str], seed: int = DEFAULT_SEED, scale: float = 1.0
) -> dict[str, Path]:
    """Generate Southvale and write it to ``out_dir`` (Parquet + truth.json).

    Files are written atomically (temporary file, then ``os.replace``) and
    deterministically: the same seed and scale give byte-identical files.

    Parameters
    ----------
    out_dir : path-like
        Directory to write to (created if missing).
    seed : int, default 20261122
    scale : float, default 1.0

    Returns
    -------
    dict of str to pathlib.Path
        ``{"population": ..., "activity": ..., "practices": ..., "truth": ...}``.

    Examples
    --------
    >>> import tempfile
    >>> from evaltool.datasets import write_southvale
    >>> paths = write_southvale(tempfile.mkdtemp(), scale=0.02)
    >>> sorted(paths)
    ['activity', 'population', 'practices', 'truth']
    """
    data = southvale(seed, scale=scale)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "population": write_parquet_atomic(data.population, out / "population.parquet"),
        "activity": write_parquet_atomic(data.activity, out / "activity.parquet"),
        "practices": write_parquet_atomic(data.practices, out / "practices.parquet"),
        "truth": write_json_atomic(data.truth, out / "truth.json"),
    }
