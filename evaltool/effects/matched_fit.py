"""Fitting the matched-cohort DiD models on (compressed) cells: Poisson/linear with unit effects, and Wald tests.

Shared by :mod:`evaltool.effects.matched` (the DiD and subgroup effects) and
:mod:`evaltool.effects.matched_event` (the event study).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from evaltool import dist

from evaltool.effects.coded import CodedDesign, as_dense, xt_dot
from evaltool.effects.compress import CellPanel
from evaltool.effects.poisson import FEFit, feols_fe, fepois
from evaltool.errors import EstimationError

__all__ = ["PY_DAYS", "events_label", "fit_cells", "wald"]

PY_DAYS = 365.25


def wald(b: np.ndarray, V: np.ndarray, R: np.ndarray) -> tuple[float, int, float]:
    cols = np.flatnonzero(np.any(R != 0, axis=0))  # dropped (separated) columns hold NaN: leave them out
    b, V, R = b[cols], V[np.ix_(cols, cols)], R[:, cols]
    rb = R @ b
    RVR = R @ V @ R.T
    stat = float(rb @ np.linalg.solve(RVR, rb))
    df = R.shape[0]
    return stat, df, float(dist.chi2_sf(stat, df))


def fit_cells(cp: CellPanel, X: CodedDesign, names: list[str], model: str, cluster_col: str | None, mask=None) -> FEFit:
    fr = cp.frame if mask is None else cp.frame.loc[mask]
    Xm = X if mask is None else X.rows(np.asarray(mask))
    if model == "poisson":
        # Separation: a period (x subgroup) dummy whose rows have no events has an MLE at -inf. As
        # fixest does, drop those rows and that dummy; the effect columns must not be separated.
        ysum = xt_dot(Xm, fr["y"].to_numpy())
        sep = [j for j, n in enumerate(names) if ysum[j] <= 0]
        bad = [names[j] for j in sep if not names[j].startswith("period[")]
        if bad:
            raise EstimationError(f"no events where {bad} apply (e.g. a subgroup level with no events in the "
                                  "treated post-period): the effect is not identified; merge or drop that level")
        if sep:
            keep_rows = ~Xm.any_nonzero(sep)
            keep_cols = [j for j in range(len(names)) if j not in sep]
            sub = fit_cells(CellPanel(frame=fr.loc[keep_rows], by=cp.by, n_people=cp.n_people,
                                 n_obs_nonzero=cp.n_obs_nonzero, n_clusters_nonzero=cp.n_clusters_nonzero,
                                 groups=cp.groups),
                       Xm.rows(keep_rows).cols(keep_cols), [names[j] for j in keep_cols], model, cluster_col)
            coef = np.full(len(names), np.nan)
            V = np.full((len(names), len(names)), np.nan)
            coef[keep_cols] = sub.coef
            V[np.ix_(keep_cols, keep_cols)] = sub.vcov
            return replace(sub, coef=coef, vcov=V, names=tuple(names))
    cl = fr["cluster"].to_numpy() if cluster_col else None
    if model == "poisson":
        if cp.by == "cell":
            n_pos = fr["n_pos"].to_numpy()
            keep_units = fr.groupby("unit")["y"].transform("sum").to_numpy() > 0
            n_obs = int(n_pos[keep_units].sum())
            n_cl = int(fr.loc[keep_units, "cluster"].nunique()) if cluster_col else None
            return fepois(fr["y"].to_numpy(), Xm, fr["unit"].to_numpy(), exposure=fr["exposure"].to_numpy(),
                          cluster=cl, names=names, n_obs=n_obs, n_clusters=n_cl)
        return fepois(fr["y"].to_numpy(), Xm, fr["unit"].to_numpy(), exposure=fr["exposure"].to_numpy(),
                      cluster=cl, names=names)
    rate = fr["y"].to_numpy() / fr["exposure"].to_numpy() * PY_DAYS * 1000
    return feols_fe(rate, as_dense(Xm), fr["unit"].to_numpy(), weights=fr["exposure"].to_numpy(), cluster=cl,
                    names=names)


def events_label(outcome: str, events: str | None = None) -> str:
    """Plain words for an outcome's events in messages: 'care_home_admission' -> 'care-home admissions'
    (``events``: the words a coded outcome's label gives, used as they are)."""
    if events:
        return events
    special = {"bed_days": "bed days", "cost": "costs", "care_home_admission": "care-home admissions",
               "ae_attendance": "A&E attendances"}
    return special.get(outcome, outcome.replace("_", " ") + "s")
