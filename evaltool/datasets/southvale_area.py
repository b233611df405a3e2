"""Simulated donor areas for a whole-area evaluation of Southvale, with the known truth.

The whole of Southvale is the evaluated area; its monthly emergency admissions and person-years come from
the person-level example data. Donor (comparison) areas are simulated around Southvale's own pre-go-live
pattern (trend and seasonality from a Poisson fit to April 2021 - March 2023) with area-specific levels,
trends, seasonal amplitude and AR(1) shocks, so that no area design is handed the answer. Southvale sits at
the edge of the pool: most donors have lower rates (it is among the most deprived), which a synthetic
control without an intercept cannot reproduce but synthetic DiD can. Donors have no programme.

The truth for Southvale as a whole comes from the person-level generator (``truth.json``,
``practice_level_emergency``): case management of ~2% of adults averts ~115 of ~25,000 emergency
admissions after go-live, a whole-area rate ratio of about 0.995, i.e. a change far smaller than any
whole-area design can detect. The honest finding is "no detectable change".
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool.datasets._io import _atomic_write_bytes, write_json_atomic

__all__ = ["simulate_donor_areas", "southvale_monthly_series", "write_southvale_area"]

FIRST_GO_LIVE = "2023-04-01"


def southvale_monthly_series(population: pd.DataFrame, activity: pd.DataFrame, *, start: str = "2021-04-01",
                             end: str = "2025-03-31", setting: str = "emergency_admission") -> pd.DataFrame:
    """Monthly events and person-years (registered and alive) for the whole area, from the person-level tables.

    Examples
    --------
    >>> pop = pd.DataFrame({"person_id": ["a"], "registration_start": [pd.NaT], "registration_end": [pd.NaT],
    ...                     "death_date": [pd.NaT]})
    >>> act = pd.DataFrame({"person_id": ["a"], "date": [pd.Timestamp("2021-04-03")],
    ...                     "setting": ["emergency_admission"]})
    >>> southvale_monthly_series(pop, act, end="2021-05-31")["events"].tolist()
    [1, 0]
    """
    ws, we1 = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1)
    months = pd.date_range(ws, we1 - pd.Timedelta(days=1), freq="MS")
    m_end = months + pd.DateOffset(months=1)
    s = pd.to_datetime(population["registration_start"]).fillna(ws).clip(lower=ws).to_numpy()
    e = pd.to_datetime(population["registration_end"]).fillna(we1).clip(upper=we1)
    dd = pd.to_datetime(population["death_date"])
    e = e.where(dd.isna() | (dd >= e), dd).to_numpy()
    py = []
    for a, b in zip(months.to_numpy(), m_end.to_numpy()):
        lo = np.maximum(s, a)
        hi = np.minimum(e, b)
        py.append(float(np.clip((hi - lo) / np.timedelta64(1, "D"), 0, None).sum() / 365.25))
    ev = pd.to_datetime(activity.loc[activity["setting"] == setting, "date"])
    counts = ev.dt.to_period("M").value_counts().reindex(months.to_period("M"), fill_value=0).to_numpy()
    return pd.DataFrame({"month": months, "events": counts.astype(int), "person_years": py})


def _poisson_fit(y: np.ndarray, X: np.ndarray, off: np.ndarray) -> np.ndarray:
    b = np.zeros(X.shape[1])
    b[0] = np.log(y.sum() / np.exp(off).sum())
    for _ in range(50):
        mu = np.exp(X @ b + off)
        step = np.linalg.solve(X.T @ (mu[:, None] * X), X.T @ (y - mu))
        b += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return b


def _design(t: np.ndarray, cal_month: np.ndarray) -> np.ndarray:
    w = 2 * np.pi * cal_month / 12
    return np.column_stack([np.ones_like(t), (t - t.mean()) / 12, np.sin(w), np.cos(w), np.sin(2 * w),
                            np.cos(2 * w)])


def simulate_donor_areas(series: pd.DataFrame, *, n_donors: int = 30, seed: int = 20261122,
                         go_live: str = FIRST_GO_LIVE, edge: bool = True) -> pd.DataFrame:
    """Donor areas' monthly panel (``area_id, month, events, population, outcome, go_live_date, deprivation,
    pct_65_plus``) simulated around ``series`` (the evaluated area's months, events, person-years)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    t = np.arange(len(series), dtype=float)
    cal = series["month"].dt.month.to_numpy(dtype=float)
    X = _design(t, cal)
    pre = (series["month"] < pd.Timestamp(go_live)).to_numpy()
    y = series["events"].to_numpy(dtype=float)
    off = np.log(series["person_years"].to_numpy(dtype=float))
    b = _poisson_fit(y[pre], X[pre], off[pre])
    base = X @ b  # log rate per person-year, Southvale's pre-period pattern extended
    rows = []
    # Southvale is among the most deprived areas: most donors sit below it (log-rate offsets mostly < 0)
    alpha = rng.normal(-0.18 if edge else 0.0, 0.12, n_donors)
    trend = rng.normal(0.0, 0.015, n_donors)
    amp = rng.normal(1.0, 0.25, n_donors)
    pop = np.exp(rng.normal(np.log(150_000), 0.45, n_donors)).round(-2)
    season = X[:, 2:] @ b[2:]
    for j in range(n_donors):
        u = np.zeros(len(t))
        eps = rng.normal(0, 0.025, len(t))
        for k in range(len(t)):
            u[k] = (0.4 * u[k - 1] if k else 0.0) + eps[k]
        lr = base - season + amp[j] * season + alpha[j] + trend[j] * (t - t.mean()) / 12 + u
        growth = np.exp(rng.normal(0.003, 0.002) * t)
        popm = pop[j] * growth
        py = popm * series["month"].dt.days_in_month.to_numpy() / 365.25
        ev = rng.poisson(np.exp(lr) * py)
        dep = 0.5 + 2.5 * alpha[j] + rng.normal(0, 0.15)
        rows.append(pd.DataFrame({"area_id": f"Area {j + 1:02d}", "month": series["month"].dt.strftime("%Y-%m-%d"),
                                  "events": ev, "population": popm.round(0).astype(int),
                                  "outcome": "emergency_admission", "go_live_date": "",
                                  "deprivation": round(float(dep), 3),
                                  "pct_65_plus": round(float(rng.normal(19, 2.5)), 1)}))
    return pd.concat(rows, ignore_index=True)


def write_southvale_area(out_dir: str | os.PathLike[str], population: pd.DataFrame, activity: pd.DataFrame,
                         truth: dict[str, Any] | None = None, *, seed: int = 20261122,
                         n_donors: int = 30) -> dict[str, Path]:
    """Write ``area_panel.csv`` (donor areas) and ``truth_area.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    series = southvale_monthly_series(population, activity)
    donors = simulate_donor_areas(series, n_donors=n_donors, seed=seed)
    _atomic_write_bytes(out / "area_panel.csv", lambda tmp: donors.to_csv(tmp, index=False, lineterminator="\n"))
    post = series["month"] >= pd.Timestamp(FIRST_GO_LIVE)
    tr: dict[str, Any] = {
        "dataset": "southvale_area", "generator": "evaltool.datasets.southvale_area", "seed": seed,
        "n_donors": n_donors, "first_go_live": FIRST_GO_LIVE, "donor_effect": "none (donors have no programme)",
        "southvale_post_events": int(series.loc[post, "events"].sum()),
        "southvale_post_person_years": round(float(series.loc[post, "person_years"].sum()), 1),
        "description": "Southvale as a whole is the evaluated area; the true whole-area effect comes from the"
                       " person-level generator: events averted by case management after go-live.",
    }
    ple = (truth or {}).get("practice_level_emergency") or {}
    if ple:
        averted = float(ple.get("expected_averted", 0.0))
        ev = tr["southvale_post_events"]
        tr["expected_averted"] = round(averted, 1)
        tr["true_whole_area_rate_ratio"] = round(ev / (ev + averted), 4)
        tr["true_difference_per_1000py"] = round(-1000 * averted / tr["southvale_post_person_years"], 3)
    write_json_atomic(tr, out / "truth_area.json")
    return {"area_panel": out / "area_panel.csv", "truth_area": out / "truth_area.json"}
