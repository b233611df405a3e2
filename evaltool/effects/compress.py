"""Exact compression of person-period panels to sufficient statistics.

When it is exact
----------------
With person fixed effects, the Poisson fit depends on a person only through
``Y_i = sum_t y_it`` and the exposure *profile* ``pi_it = e_it exp(x_it'theta) / sum_s ...``
(see :mod:`evaltool.effects.poisson`). If a set of people share

* the regressors in every period (regressors are functions of ``treated``, the subgroup
  columns and the period only: period dummies, treated x post, interactions),
* the cluster (so cluster score sums are unchanged), and
* the exposure profile (same entry and exit day offsets, because every person's relative
  periods have identical lengths: :func:`evaltool.effects.panels.period_bounds`),

then summing their (weighted) counts and exposure into one *cell unit* per period gives
the same score equations, the same bread ``X~'WX~`` and the same cluster score sums,
hence the same coefficients and cluster-robust covariance; only ``N`` and ``G`` in the
small-sample factor must be carried from the person level (people with ``Y_i = 0`` are
dropped, as fixest does). Deaths and de-registration do not break this: they only split
people into more cells (one per distinct entry/exit offset). Weights constant within a
person enter as ``w * y`` and ``w * e``.

It is *not* exact for heteroskedasticity-robust SEs without clusters, for clusters that
cut across cells (e.g. clustering on person, which then forces ``by="person"``), for
regressors varying between people within a cell (continuous covariates), or for the
linear and negative binomial models: those fall back to the person-level panel
(``by="person"``). ``tests/test_effects_panels.py`` checks the equality to 1e-8 on a
cohort with deaths, de-registration and censoring.

Examples
--------
>>> import pandas as pd
>>> from evaltool.effects.panels import build_panel
>>> cohort = pd.DataFrame({"person_id": list("abcd"), "treated": [1, 1, 0, 0],
...     "index_date": pd.to_datetime(["2023-01-01"] * 4), "practice_id": ["P"] * 4})
>>> act = pd.DataFrame({"person_id": ["a", "c"], "setting": ["emergency_admission"] * 2,
...     "date": pd.to_datetime(["2023-02-01", "2022-12-10"])})
>>> p = build_panel(cohort, act, pre_months=1, post_months=2, keep=["practice_id"])
>>> c = cells(p, "emergency_admission", cluster="practice_id")
>>> len(c.frame), c.n_people
(6, 4)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaltool.effects.panels import OutcomePanel, period_bounds
from evaltool.errors import DataValidationError

__all__ = ["CellPanel", "cells"]


@dataclass(frozen=True)
class CellPanel:
    """A (possibly compressed) unit-period panel ready for estimation.

    ``frame`` columns: ``unit`` (int code), ``period``, ``y`` (weighted count), ``exposure``
    (weighted person-days), ``n_people`` (people in the unit), ``n_pos`` (people in the unit
    with any event, the rows fixest would keep), ``treated``, the group columns and
    ``cluster`` when given.
    """

    frame: pd.DataFrame
    by: str
    n_people: int
    n_obs_nonzero: int
    n_clusters_nonzero: int | None
    groups: tuple[str, ...]


def cells(
    panel: OutcomePanel,
    outcome: str,
    *,
    by: str = "cell",
    cluster: str | None = None,
    groups: Sequence[str] = (),
) -> CellPanel:
    """Collapse a sparse outcome panel into unit x period rows with exposure > 0.

    Parameters
    ----------
    panel:
        From :func:`evaltool.effects.panels.build_panel`.
    outcome:
        One of ``panel.outcomes``.
    by:
        ``"cell"``: people sharing cluster, ``treated``, ``groups`` and entry/exit offsets form
        one unit (exact for the clustered Poisson fit, see module notes); ``"person"``: one unit
        per person.
    cluster:
        Column of ``panel.persons`` defining clusters (kept within cells).
    groups:
        Person-level categorical columns the regressors depend on (subgroups).

    Returns
    -------
    CellPanel
    """
    if outcome not in panel.outcomes:
        raise DataValidationError(f"outcome {outcome!r} not in the panel; it has {list(panel.outcomes)}")
    if by not in ("cell", "person"):
        raise DataValidationError(f"`by` must be 'cell' or 'person'; found {by!r}")
    per = panel.persons
    needed = [c for c in [cluster, *groups] if c is not None]
    miss = [c for c in needed if c not in per.columns]
    if miss:
        raise DataValidationError(f"panel persons lack columns {miss}")
    if groups:
        # Subgroup levels as text, missing as its own level (matched_did warns about it).
        per = per.copy()
        for g in groups:
            na = per[g].isna()
            per[g] = per[g].astype(object).where(~na, "missing").astype(str)
    y_person = (
        panel.events.groupby("unit_id", sort=False)[outcome].sum()
        if len(panel.events) else pd.Series(dtype=float)
    )
    Y = per["unit_id"].map(y_person).fillna(0.0).to_numpy()
    w = per["weights"].to_numpy(dtype=float)
    if by == "person":
        ucode = np.arange(len(per))
        n_units = len(per)
    else:
        key = [c for c in dict.fromkeys([cluster, "treated", *groups, "entry_day", "exit_day"]) if c is not None]
        ucode = per.groupby(key, sort=True, dropna=False).ngroup().to_numpy()
        n_units = int(ucode.max()) + 1
    first = np.zeros(n_units, dtype=np.int64)
    first[ucode[::-1]] = np.arange(len(per))[::-1]  # a representative person per unit
    W = np.bincount(ucode, weights=w, minlength=n_units)
    n_people = np.bincount(ucode, minlength=n_units)
    n_pos = np.bincount(ucode, weights=(Y > 0).astype(float), minlength=n_units)

    k = panel.periods
    b0, b1 = period_bounds(k), period_bounds(k + 1)
    entry = per["entry_day"].to_numpy()[first]
    exit_ = per["exit_day"].to_numpy()[first]
    days = np.clip(np.minimum(exit_[:, None], b1[None, :]) - np.maximum(entry[:, None], b0[None, :]), 0, None)
    E = days * W[:, None]  # weighted person-days, unit x period (units are few when compressed)

    yw = np.zeros_like(E)
    if len(panel.events):
        ev = panel.events
        pos = pd.Index(per["unit_id"]).get_indexer(ev["unit_id"])
        ok = pos >= 0
        pidx = pos[ok]
        flat = ucode[pidx] * len(k) + (ev["period"].to_numpy()[ok] - k[0])
        yw = np.bincount(flat, weights=ev[outcome].to_numpy()[ok] * w[pidx], minlength=E.size).reshape(E.shape)
    uu, pp = np.nonzero(E > 0)
    frame = pd.DataFrame({
        "unit": uu, "period": k[pp], "y": yw[uu, pp], "exposure": E[uu, pp],
        "n_people": n_people[uu], "n_pos": n_pos[uu],
    })
    if by == "person":
        frame["person_id"] = per["person_id"].to_numpy()[first][uu]
    for c in dict.fromkeys(["treated", *groups] + ([cluster] if cluster else [])):
        frame[c] = per[c].to_numpy()[first][uu]
    if cluster:
        frame["cluster"] = frame[cluster]
    n_obs_nonzero = int(frame.loc[frame["n_pos"] > 0, "n_pos"].sum())
    g = None
    if cluster:
        g = int(per.loc[Y > 0, cluster].nunique())
    return CellPanel(
        frame=frame, by=by, n_people=len(per), n_obs_nonzero=n_obs_nonzero,
        n_clusters_nonzero=g, groups=tuple(groups),
    )


@dataclass(frozen=True)
class DenseCells:
    """Cells from a dense unit x period panel (see :func:`compress_dense`)."""

    cell_unit: np.ndarray  # cell-unit code per row of the cell table
    period: np.ndarray
    y: np.ndarray
    exposure: np.ndarray
    n_people: np.ndarray  # people in the cell-unit (all rows, for OLS weights)
    n_pos: np.ndarray  # people in the cell-unit with a positive total
    cluster: np.ndarray
    covariates: np.ndarray  # covariate code per cell row
    n_obs_nonzero: int
    n_obs: int
    n_clusters_nonzero: int
    n_clusters: int
    balanced: bool


def compress_dense(
    unit: np.ndarray,
    period: np.ndarray,
    y: np.ndarray,
    unit_cluster: np.ndarray,
    unit_covariate: np.ndarray,
    *,
    exposure: np.ndarray | None = None,
    seed: int = 0,
) -> DenseCells:
    """Compress a dense long panel (units coded 0..n-1, periods 0..T-1) to exact cells.

    Units sharing cluster, covariate code (whatever the regressors depend on besides the
    period) and exposure profile (identical exposure in every period; compared through two
    random projections of the profile, a hash whose collision probability is negligible)
    become one cell unit; counts and exposure are summed per cell unit and period.

    Examples
    --------
    >>> unit = np.repeat(np.arange(4), 2); period = np.tile([0, 1], 4)
    >>> c = compress_dense(unit, period, np.array([1, 2, 0, 1, 3, 0, 1, 1]), np.zeros(4, int), np.array([0, 0, 1, 1]))
    >>> c.y.tolist(), c.n_people.tolist()
    ([1.0, 3.0, 4.0, 1.0], [2, 2, 2, 2])
    """
    unit = np.asarray(unit)
    period = np.asarray(period)
    n_units = len(unit_cluster)
    T = int(period.max()) + 1
    rows_per_unit = np.bincount(unit, minlength=n_units)
    if exposure is None and np.all(rows_per_unit == T):
        # Balanced with unit exposure: every profile is identical, no hashing needed.
        e = None
        h1 = h2 = np.zeros(n_units)
    else:
        e = np.ones(len(unit)) if exposure is None else np.asarray(exposure, dtype=float)
        rng = np.random.default_rng(seed)
        r1, r2 = rng.random(T), rng.random(T)
        h1 = np.bincount(unit, weights=e * r1[period], minlength=n_units)
        h2 = np.bincount(unit, weights=e * r2[period], minlength=n_units)
    # Combine per-column codes in mixed radix (a MultiIndex of 1M tuples is ~50x slower).
    cu = np.zeros(n_units, dtype=np.int64)
    for col in (unit_cluster, unit_covariate, h1, h2):
        codes, uniq = pd.factorize(np.asarray(col))
        cu = cu * len(uniq) + codes
        cu, uniq_cu = pd.factorize(cu)  # re-code after each step so the radix product never overflows
    n_cu = len(uniq_cu)
    Y = np.bincount(unit, weights=y, minlength=n_units)
    flat = cu[unit].astype(np.int64) * T + period
    ysum = np.bincount(flat, weights=y, minlength=n_cu * T)
    esum = (np.bincount(flat, minlength=n_cu * T) if e is None else np.bincount(flat, weights=e, minlength=n_cu * T))
    esum = esum.astype(float)
    rows = np.flatnonzero(esum > 0)
    n_people = np.bincount(cu, minlength=n_cu)
    n_pos = np.bincount(cu, weights=(Y > 0), minlength=n_cu).astype(np.int64)
    first = np.zeros(n_cu, dtype=np.int64)
    first[cu[::-1]] = np.arange(n_units)[::-1]
    c_of = np.asarray(unit_cluster)[first]
    x_of = np.asarray(unit_covariate)[first]
    u = rows // T
    return DenseCells(
        cell_unit=u, period=rows % T, y=ysum[rows], exposure=esum[rows], n_people=n_people[u], n_pos=n_pos[u],
        cluster=c_of[u], covariates=x_of[u],
        n_obs_nonzero=int(rows_per_unit[Y > 0].sum()), n_obs=len(unit),
        n_clusters_nonzero=len(np.unique(np.asarray(unit_cluster)[Y > 0])), n_clusters=len(np.unique(unit_cluster)),
        balanced=bool(np.all(rows_per_unit == T)),
    )
