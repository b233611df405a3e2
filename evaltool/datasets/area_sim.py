"""Simulated area-by-month panels with a known programme effect (for tests and coverage benchmarks).

The data-generating rules differ from Southvale's: a latent two-factor model on the log rate with area
loadings, a shared seasonal cycle (area-specific amplitude), area trends, AR(1) area shocks and Poisson counts
on area populations. The treated area can sit at the edge of the donor pool (the highest level, beyond the
donors' convex hull). The effect multiplies the treated area's rate by ``rate_ratio`` from go-live on, so the
true difference per 1,000 person-years is known exactly in expectation (``truth``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SimulatedAreas", "comparative_series", "simulate_area_panel"]


@dataclass(frozen=True)
class SimulatedAreas:
    """``panel`` (area_id, month, events, person_years, go_live_date) and ``truth``."""

    panel: pd.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)


def simulate_area_panel(*, n_donors: int = 20, n_months: int = 48, go_live_month: int = 30,
                        rate_ratio: float = 0.9, base_rate: float = 100.0, edge: bool = True,
                        population: float = 150_000, ar: float = 0.3, shock_sd: float = 0.02,
                        walk_sd: float = 0.015, cycle: float = 0.04, seed: int = 0) -> SimulatedAreas:
    """One simulated panel; area ``"T"`` is treated from month index ``go_live_month`` (0-based).

    Examples
    --------
    >>> s = simulate_area_panel(n_donors=3, n_months=24, go_live_month=18, seed=1)
    >>> sorted(s.panel["area_id"].unique())
    ['D01', 'D02', 'D03', 'T']
    >>> round(s.truth["rate_ratio"], 2)
    0.9
    """
    rng = np.random.default_rng(seed)
    months = pd.date_range("2020-01-01", periods=n_months, freq="MS")
    t = np.arange(n_months)
    f1 = np.cumsum(rng.normal(0, walk_sd, n_months))  # common random-walk factor
    f2 = cycle * np.sin(2 * np.pi * t / 37)  # a slow common cycle
    season = 0.08 * np.cos(2 * np.pi * (months.month.to_numpy() - 1) / 12) + 0.03 * np.sin(
        4 * np.pi * (months.month.to_numpy() - 1) / 12)
    n = n_donors + 1
    level = rng.normal(0.0, 0.15, n)
    if edge:
        level[0] = level[1:].max() + 0.08  # the treated area above every donor
    load1 = rng.normal(1.0, 0.3, n)
    load2 = rng.normal(1.0, 0.5, n)
    amp = rng.normal(1.0, 0.2, n)
    trend = rng.normal(-0.01, 0.01, n)
    pops = population * np.exp(rng.normal(0, 0.4, n))
    rows, mu0_t, mu1_t, py_t = [], None, None, None
    for j in range(n):
        u = np.zeros(n_months)
        e = rng.normal(0, shock_sd, n_months)
        for k in range(n_months):
            u[k] = (ar * u[k - 1] if k else 0.0) + e[k]
        lr = np.log(base_rate / 1000) + level[j] + load1[j] * f1 + load2[j] * f2 + amp[j] * season \
            + trend[j] * t / 12 + u
        py = pops[j] * months.days_in_month.to_numpy() / 365.25
        mu0 = np.exp(lr) * py
        mu = mu0 * (rate_ratio if j == 0 else 1.0) ** (t >= go_live_month) if j == 0 else mu0
        ev = rng.poisson(mu)
        aid = "T" if j == 0 else f"D{j:02d}"
        rows.append(pd.DataFrame({"area_id": aid, "month": months, "events": ev, "person_years": py,
                                  "go_live_date": months[go_live_month] if j == 0 else pd.NaT}))
        if j == 0:
            mu0_t, mu1_t, py_t = mu0, mu, py
    post = t >= go_live_month
    # expected difference per 1,000 person-years, as the estimators define it: the mean over post months of
    # the monthly rate difference (synthetic DiD) and the person-year weighted one (ITS)
    diff_mean = float(np.mean(1000 * (mu1_t[post] - mu0_t[post]) / py_t[post]))
    diff_py = float(1000 * (mu1_t[post].sum() - mu0_t[post].sum()) / py_t[post].sum())
    truth = {"rate_ratio": float(rate_ratio), "difference_per_1000py_mean": diff_mean,
             "difference_per_1000py_weighted": diff_py, "go_live": str(months[go_live_month].date()),
             "edge": edge, "n_donors": n_donors}
    return SimulatedAreas(pd.concat(rows, ignore_index=True), truth)


def comparative_series(panel: pd.DataFrame, treated: str = "T", go_live_month: int | None = None) -> pd.DataFrame:
    """The treated area's series stacked with the total of the other areas (a comparative ITS's input).

    Columns ``month``, ``events``, ``person_years``, ``series`` (``"treated"`` / ``"control"``) and, with
    ``go_live_month`` (0-based index of the first live month), ``live``.

    Examples
    --------
    >>> s = simulate_area_panel(n_donors=3, n_months=24, go_live_month=18, seed=1)
    >>> d = comparative_series(s.panel, go_live_month=18)
    >>> d.groupby("series")["live"].sum().to_dict()
    {'control': 6.0, 'treated': 6.0}
    """
    tr = panel[panel["area_id"] == treated][["month", "events", "person_years"]].assign(series="treated")
    ct = panel[panel["area_id"] != treated].groupby("month", as_index=False)[["events", "person_years"]].sum()
    d = pd.concat([tr, ct.assign(series="control")], ignore_index=True)
    if go_live_month is not None:
        d["live"] = (d["month"] >= sorted(d["month"].unique())[go_live_month]).astype(float)
    return d
