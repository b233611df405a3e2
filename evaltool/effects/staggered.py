"""Callaway & Sant'Anna (2021) group-time average treatment effects and their aggregations.

Estimate first, aggregate second (as R's ``did``): :func:`att_gt` returns an
:class:`AttGtResult` whose :meth:`AttGtResult.aggregate` returns a new
:class:`~evaltool.effects.staggered_results.AggregateResult`.

Each ATT(g, t) is a two-period, two-group DiD between cohort ``g`` and its comparison
group (never treated, or not yet treated by ``max(t, base) + anticipation``) using the
panel estimators of Sant'Anna & Zhao (2020) as R's ``did`` calls them from ``DRDID``:
``"dr"`` = ``drdid_panel`` (logit propensity score + OLS outcome regression on the
comparison group, locally efficient doubly robust), ``"ipw"`` = ``std_ipw_did_panel``
(normalised IPW), ``"reg"`` = ``reg_did_panel`` (outcome regression). Influence functions
are kept per unit so that standard errors, the multiplier bootstrap, uniform bands, the
Wald pre-test and every aggregation (with the estimated-weights correction ``wif``)
follow R's ``did`` exactly. Numbers are pinned against R ``did``'s published mpdta output
in ``tests/test_effects_staggered.py``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool._regression import int_labels
from evaltool.effects.drdid import cell_guard, did_panel
from evaltool.effects.inference import analytic_se, analytic_vcov, multiplier_bootstrap
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning
from evaltool.effects.staggered_results import AttGtResult

ControlGroup = Literal["never_treated", "not_yet_treated"]
Method = Literal["dr", "ipw", "reg"]


# --------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Panel:
    units: np.ndarray  # unit ids (n,)
    Y: np.ndarray  # (n, T)
    X: np.ndarray  # (n, T, k) covariates incl. intercept
    G: np.ndarray  # first-treated period per unit; 0 = never
    times: np.ndarray  # sorted periods (T,)
    cluster: np.ndarray | None
    n_dropped_unbalanced: int


def _prepare(
    data: pd.DataFrame, outcome: str, unit: str, time: str, group: str,
    covariates: list[str] | None, cluster: str | None, anticipation: int,
    missing_group: str = "drop", no_never_treated: str = "keep_periods",
) -> _Panel:
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"`data` must be a pandas DataFrame, found {type(data).__name__}")
    cols = [outcome, unit, time, group] + list(covariates or []) + ([cluster] if cluster else [])
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"`data` lacks column(s) {missing}; expected {cols}, found {list(data.columns)}"
        )
    df = data[list(dict.fromkeys(cols))].copy()
    for c in [outcome, time] + list(covariates or []):
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise DataValidationError(f"column `{c}` must be numeric, found dtype {df[c].dtype}")
    g = pd.to_numeric(df[group], errors="coerce")
    bad_g = g.isna() & df[group].notna()
    if bad_g.any():
        rows = np.flatnonzero(bad_g.to_numpy())[:10] + 2
        raise DataValidationError(f"`{group}` must be the first treated period (a number; 0 = never treated); "
                                  f"found non-numeric values at rows {', '.join(map(str, rows))}")
    if g.isna().any():
        lost = df.loc[g.isna(), unit].unique()
        if missing_group == "drop":
            # R did drops rows with a missing group: a treated unit whose date was lost must not become a control.
            warnings.warn(
                f"{len(lost)} units have no `{group}` (first treated period missing) and were dropped; if a blank "
                "means never treated, pass missing_group='never_treated' (or code it 0)", EstimationWarning,
                stacklevel=3)
            df = df[~df[unit].isin(lost)]
            g = g[df.index]
        else:
            warnings.warn(f"{len(lost)} units have no `{group}` and are analysed as never treated "
                          "(missing_group='never_treated')", EstimationWarning, stacklevel=3)
    df["_g"] = g.fillna(0.0)
    bad = df[[outcome, time] + list(covariates or [])].isna().any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:10] + 1
        raise DataValidationError(
            f"missing values in `{outcome}`, `{time}` or covariates at rows {', '.join(map(str, rows))}"
            f" ({int(bad.sum())} rows): drop or impute them first"
        )
    if df.duplicated([unit, time]).any():
        raise DataValidationError(f"`data` has duplicated ({unit}, {time}) rows; expected one row per unit and period")
    varies = df.groupby(unit)["_g"].nunique()
    if (varies > 1).any():
        raise DataValidationError(
            f"`{group}` must be constant within `{unit}`; it varies for {int((varies > 1).sum())} units"
            f" (e.g. {list(varies[varies > 1].index[:5])})"
        )
    if cluster:
        cv = df.groupby(unit)[cluster].nunique()
        if (cv > 1).any():
            raise DataValidationError(f"`cluster` column `{cluster}` must be constant within `{unit}`")
    times = np.sort(df[time].unique())
    T = len(times)
    if T < 2:
        raise EstimationError(f"`{time}` has {T} distinct period(s); at least 2 are needed")
    # Balance the panel (R did's default): drop units not observed in every period, with a warning.
    counts = df.groupby(unit)[time].transform("size")
    n_units_all = df[unit].nunique()
    df = df[counts == T]
    n_drop = n_units_all - df[unit].nunique()
    if n_drop:
        warnings.warn(
            f"{n_drop} of {n_units_all} units are not observed in all {T} periods and were dropped (balanced panel)",
            EstimationWarning, stacklevel=3,
        )
    # Cohorts treated after the last period are never treated within the data.
    df.loc[df["_g"] > times[-1], "_g"] = 0.0
    if no_never_treated == "last_cohort" and not (df["_g"] == 0).any():
        # R did: the last cohort to be treated serves as the comparison group; periods from its go-live
        # (less anticipation) on are dropped, as no comparison is left there.
        latest = float(df["_g"].max())
        warnings.warn(
            f"no never-treated units: the last cohort ({latest:g}) serves as the comparison group and periods "
            f"from {latest - anticipation:g} on are dropped (no_never_treated='last_cohort', as R's did)",
            EstimationWarning, stacklevel=3)
        df = df[df[time] < latest - anticipation].copy()
        times = np.sort(df[time].unique())
        T = len(times)
        if T < 2:
            raise EstimationError(f"fewer than 2 periods before the last cohort's go-live ({latest:g})")
        df.loc[df["_g"] > times[-1], "_g"] = 0.0  # the last cohort: untreated in every period left
    # Units treated in (or before) the first period, allowing for anticipation, have no pre-period.
    always = (df["_g"] > 0) & (df["_g"] <= times[0] + anticipation)
    if always.any():
        k = df.loc[always, unit].nunique()
        warnings.warn(
            f"{k} units are treated in or before the first period ({times[0]}) and have no pre-period;"
            " they were dropped", EstimationWarning, stacklevel=3,
        )
        df = df[~always]
    df = df.sort_values([unit, time], kind="mergesort")
    units = df[unit].to_numpy()[::T]
    n = len(units)
    if n == 0:
        raise EstimationError("no units left after balancing the panel")
    Y = df[outcome].to_numpy(dtype=float).reshape(n, T)
    cov = list(covariates or [])
    X = np.ones((n, T, 1 + len(cov)))
    if cov:
        X[:, :, 1:] = df[cov].to_numpy(dtype=float).reshape(n, T, len(cov))
    G = df["_g"].to_numpy(dtype=float)[::T]
    clus = df[cluster].to_numpy()[::T] if cluster else None
    return _Panel(units=units, Y=Y, X=X, G=G, times=times, cluster=clus, n_dropped_unbalanced=n_drop)


def att_gt(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    group: str,
    *,
    covariates: list[str] | None = None,
    xformla: str | None = None,
    control_group: ControlGroup = "never_treated",
    method: Method = "dr",
    anticipation: int = 0,
    base_period: Literal["varying", "universal"] = "varying",
    cluster: str | None = None,
    bootstrap: bool = True,
    reps: int = 999,
    seed: int | None = None,
    alpha: float = 0.05,
    weights: Literal["rademacher", "webb"] = "rademacher",
    missing_group: Literal["drop", "never_treated"] = "drop",
    no_never_treated: Literal["keep_periods", "last_cohort"] = "keep_periods",
) -> AttGtResult:
    """Group-time average treatment effects (Callaway & Sant'Anna 2021) on a balanced panel.

    Parameters
    ----------
    data:
        Long panel, one row per unit and period (never modified).
    outcome, unit, time, group:
        Column names. ``time`` is numeric (e.g. year, quarter index); ``group`` is the first
        treated period, 0 or missing for never treated.
    covariates:
        Time-invariant (or base-period) covariates for the propensity score / outcome model;
        values are taken from the base period of each 2x2 comparison, as R's did.
    xformla:
        The same as a formula, as R's did: ``"~ lpop"`` (column names joined by ``+``).
    control_group:
        ``"never_treated"`` or ``"not_yet_treated"`` (never treated plus cohorts first treated
        after ``max(t, base) + anticipation``).
    method:
        ``"dr"`` (doubly robust, default), ``"ipw"`` or ``"reg"``.
    anticipation:
        Periods before go-live in which units may already respond.
    base_period:
        ``"varying"`` (pre-period pseudo-ATTs against the previous period) or ``"universal"``
        (every period against ``g - anticipation - 1``).
    cluster:
        Column to cluster on (constant within unit); units otherwise.
    bootstrap:
        Multiplier bootstrap SEs and a uniform confidence band (``ci_lower``/``ci_upper``);
        ``False`` gives analytic SEs and pointwise intervals.
    reps, seed, alpha, weights:
        Bootstrap replications, seed, 1 - coverage, and multiplier weights.
    missing_group:
        Units whose ``group`` is missing: ``"drop"`` them with a warning and a count (R's did; a treated
        unit whose date was lost must not become a control), or analyse them as ``"never_treated"``
        (when the data declare a blank as never treated).
    no_never_treated:
        With no never-treated units: ``"keep_periods"`` (default) keeps every period -- with
        ``control_group="never_treated"`` it stops with an error; with ``"not_yet_treated"`` cells with no
        comparison units are skipped with a warning, and the last cohort gets pre-period estimates only --;
        ``"last_cohort"`` does as R's ``did``: the last cohort to be treated becomes the comparison group and
        the periods from its go-live (less anticipation) on are dropped, with a warning.

    Notes
    -----
    Cells that R's ``did`` cannot estimate are set to NA with a warning, as it does: for ``"dr"`` and
    ``"ipw"`` when a preliminary logit of treatment on the covariates gives a propensity score of 0.999 or
    more (no overlap); for ``"dr"`` and ``"reg"`` when the comparison units' covariate matrix is singular.
    Aggregations leave NA cells out (R's ``aggte(..., na.rm = TRUE)``) and say so.

    Returns
    -------
    AttGtResult

    Examples
    --------
    >>> import pandas as pd, evaltool.effects as ef  # doctest: +SKIP
    >>> mpdta = pd.read_csv("tests/data/mpdta.csv")  # doctest: +SKIP
    >>> res = ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", bootstrap=False)  # doctest: +SKIP
    >>> round(res.aggregate("simple").overall["estimate"], 4)  # doctest: +SKIP
    -0.04
    """
    from evaltool.formula import formula_covariates

    covariates = formula_covariates(xformla, data, covariates)
    if control_group not in ("never_treated", "not_yet_treated"):
        raise EstimationError(f"`control_group` must be 'never_treated' or 'not_yet_treated', found {control_group!r}")
    if method not in ("dr", "ipw", "reg"):
        raise EstimationError(f"`method` must be 'dr', 'ipw' or 'reg', found {method!r}")
    if base_period not in ("varying", "universal"):
        raise EstimationError(f"`base_period` must be 'varying' or 'universal', found {base_period!r}")
    if anticipation < 0:
        raise EstimationError(f"`anticipation` must be >= 0, found {anticipation}")
    if missing_group not in ("drop", "never_treated"):
        raise EstimationError(f"`missing_group` must be 'drop' or 'never_treated', found {missing_group!r}")
    if no_never_treated not in ("keep_periods", "last_cohort"):
        raise EstimationError(f"`no_never_treated` must be 'keep_periods' or 'last_cohort', found {no_never_treated!r}")
    P = _prepare(data, outcome, unit, time, group, covariates, cluster, anticipation, missing_group,
                 no_never_treated)
    tl = P.times
    glist = np.sort(np.unique(P.G[P.G > 0]))
    if len(glist) == 0:
        raise EstimationError(f"no treated cohorts: `{group}` is 0/missing (never treated) for every unit")
    n = len(P.G)
    never = P.G == 0
    if control_group == "never_treated" and not never.any():
        raise EstimationError(
            "no never-treated units: `control_group='never_treated'` needs units with"
            f" `{group}` 0 or missing; use control_group='not_yet_treated'"
        )
    sizes = {g: int((P.G == g).sum()) for g in glist}
    small = [g for g, k in sizes.items() if k == 1]
    if small:
        warnings.warn(
            f"cohort(s) {small} contain a single unit: their ATT(g,t) rest on one unit and their"
            " standard errors are unreliable", EstimationWarning, stacklevel=2,
        )
    rows: list[dict[str, Any]] = []
    infs: list[np.ndarray] = []
    na_cells: list[tuple[float, float, str]] = []
    tfac = 0 if base_period == "universal" else 1
    for g in glist:
        pre_idx = np.flatnonzero(tl + anticipation < g)
        if len(pre_idx) == 0:
            continue
        g_base = int(pre_idx[-1])
        for ti in range(len(tl) - tfac):
            cur = ti + tfac
            post = g <= tl[cur]
            base = g_base if (base_period == "universal" or post) else ti
            if base_period == "universal" and base == cur:
                rows.append({"group": g, "time": tl[cur], "estimate": 0.0, "post": False, "n_treated": sizes[g], "n_control": 0,
                                 "_ref": True})
                infs.append(np.zeros(n))
                continue
            treated = P.G == g
            if control_group == "never_treated":
                control = never
            else:
                control = never | ((P.G > tl[max(cur, base)] + anticipation) & (P.G != g))
            if control.sum() == 0:
                warnings.warn(
                    f"no comparison units for group {g} at time {tl[cur]} (control_group={control_group!r});"
                    " ATT(g,t) not estimated", EstimationWarning, stacklevel=2,
                )
                continue
            sub = treated | control
            D = treated[sub].astype(float)
            y1 = P.Y[sub, cur]
            y0 = P.Y[sub, base]
            Xs = P.X[sub, min(cur, base)]
            why = cell_guard(D, Xs, method)
            if why is not None:
                na_cells.append((g, tl[cur], why))
                rows.append({"group": g, "time": tl[cur], "estimate": np.nan, "post": bool(post),
                             "n_treated": int(treated.sum()), "n_control": int(control.sum()), "_ref": False})
                infs.append(np.full(n, np.nan))
                continue
            att, inf = did_panel(y1, y0, D, Xs, method)
            full = np.zeros(n)
            full[sub] = (n / sub.sum()) * inf
            rows.append({"group": g, "time": tl[cur], "estimate": att, "post": bool(post), "n_treated": int(treated.sum()),
                             "n_control": int(control.sum()), "_ref": False})
            infs.append(full)
    if not rows:
        raise EstimationError("no group-time effect could be estimated: no cohort has a pre-period and comparison units")
    if na_cells:
        why = {"overlap": "no overlap (a preliminary propensity score reached 0.999)",
               "singular": "the comparison units' covariates are collinear"}
        listed = "; ".join(f"group {g:g}, period {t:g}: {why[w]}" for g, t, w in na_cells[:12])
        warnings.warn(f"{len(na_cells)} group-time effect(s) set to NA, as R's did does ({listed}"
                      f"{' ...' if len(na_cells) > 12 else ''}); aggregations leave them out",
                      EstimationWarning, stacklevel=2)
    table = pd.DataFrame(rows)
    IF = np.column_stack(infs)
    na_col = ~np.isfinite(IF).all(axis=0)
    se = analytic_se(np.where(na_col[None, :], 0.0, IF), P.cluster)
    se[(se <= np.sqrt(np.finfo(float).eps) * 10) | table["_ref"].to_numpy() | na_col] = np.nan
    crit = float(dist.norm_ppf(1 - alpha / 2))
    if bootstrap:
        mb = multiplier_bootstrap(np.where(na_col[None, :], 0.0, IF), clusters=P.cluster, reps=reps, seed=seed,
                                  alpha=alpha, weights=weights)
        se = np.where(np.isfinite(se), mb.std_error, np.nan)
        if np.isfinite(mb.crit_value):
            crit = mb.crit_value
    est = table["estimate"].to_numpy()
    table["std_error"] = se
    table["ci_lower"] = est - crit * se
    table["ci_upper"] = est + crit * se
    table["p_value"] = 2 * dist.norm_sf(np.abs(est / se))
    table["event_time"] = table["time"] - table["group"]
    # Wald pre-test of parallel trends on pre-treatment ATT(g,t) (analytic variance, as R's did).
    V = analytic_vcov(np.where(na_col[None, :], 0.0, IF), P.cluster)
    pre = np.flatnonzero((table["group"] > table["time"]).to_numpy() & np.isfinite(se))
    W = pval = float("nan")
    if len(pre):
        Vp = V[np.ix_(pre, pre)]
        a = est[pre]
        if np.linalg.cond(Vp) < 1 / np.finfo(float).eps:
            W = float(a @ np.linalg.solve(Vp, a))
            pval = float(dist.chi2_sf(W, len(pre)))
    table = table[["group", "time", "event_time", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "post",
                   "n_treated", "n_control"]]
    for c in ("group", "time", "event_time"):  # labels as integers where they are (2004, not 2004.0)
        table[c] = int_labels(table[c]).to_numpy()
    settings = {"outcome": outcome, "control_group": control_group, "method": method, "anticipation": anticipation,
                    "base_period": base_period, "covariates": list(covariates or []), "cluster": cluster,
                    "bootstrap": bootstrap, "reps": reps, "seed": seed, "alpha": alpha, "weights": weights,
                    "uniform_band": bool(bootstrap), "missing_group": missing_group,
                    "no_never_treated": no_never_treated,
                    "na_cells": [{"group": float(g), "time": float(t), "reason": w} for g, t, w in na_cells]}
    return AttGtResult(
        table=table.reset_index(drop=True), settings=settings, n_units=n,
        n_clusters=(len(np.unique(P.cluster)) if P.cluster is not None else None),
        pretest_stat=W, pretest_df=len(pre), pretest_p_value=pval, crit_value=crit,
        _inffunc=IF, _G=P.G, _cluster=P.cluster, _groups=glist,
    )


