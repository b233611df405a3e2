"""The front door: :func:`match` validates its inputs and dispatches to one module per method."""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from evaltool.errors import DataValidationError, MatchingError, MatchingWarning, SpecError

from .distance import balance_matrix, design_matrix, logistic_ps
from .exact import coarsen, exact_codes, strata_match
from .mahalanobis import matchit_mahalanobis_covariates, scan_mahalanobis_match
from .nearest import nearest_match, treated_order
from .result import MatchResult
from .subclass import subclass_weights, subclassify
from .weights import weights_from_pairs, weights_from_strata

__all__ = ["match"]

METHODS = ("nearest", "exact", "cem", "subclass")
DISTANCES = ("logit", "linear_logit", "mahalanobis")
ORDERS = ("largest", "smallest", "random", "data")


def match(
    data: pd.DataFrame | str,
    treatment: str | pd.DataFrame | None = None,
    covariates: Sequence[str] | None = None,
    *,
    method: str = "nearest",
    distance: str | np.ndarray | pd.Series = "logit",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    std_caliper: bool = True,
    exact: Sequence[str] | None = None,
    order: str = "largest",
    seed: int | None = None,
    missing: str = "error",
    cutpoints: str | int | dict = "sturges",
    subclass: int = 6,
    _matchit_451: bool = False,
) -> MatchResult:
    """Match treated units to controls and return a :class:`MatchResult` (ATT).

    Parameters
    ----------
    data : DataFrame or str
        One row per unit; not modified. Or a formula ``"treat ~ age + sex + prior_admissions"``
        (column names joined by ``+``; see :mod:`evaltool.formula`), with the DataFrame second.
    treatment : str
        Column holding 0/1 (or boolean) treatment.
    covariates : list of str
        Columns for the propensity model / Mahalanobis distance / CEM, and for the balance table.
        Text or categorical columns are expanded to indicators.
    method : {"nearest", "exact", "cem", "subclass"}
        ``"subclass"``: subclassification on the propensity score into ``subclass`` groups cut at quantiles of
        the treated units' score, with MatchIt's ATT weights (:mod:`evaltool.matching.subclass`).
    distance : {"logit", "linear_logit", "mahalanobis"} or array
        ``"logit"``: logistic propensity score on the probability scale (MatchIt's default);
        ``"linear_logit"``: its logit; ``"mahalanobis"``: pooled within-group Mahalanobis distance on
        ``covariates``; an array (e.g. a prognostic score) is used as given.
    ratio : int
        Controls per treated unit (nearest).
    replace : bool
        Match with replacement (then treated units are processed in data order, as MatchIt).
    caliper : float, optional
        Maximum distance; in SD of the distance over all units when ``std_caliper`` (MatchIt's convention).
    exact : list of str, optional
        Columns that must match exactly (nearest: matching runs within strata).
    order : {"largest", "smallest", "random", "data"}
        Order in which treated units choose controls (``random`` needs ``seed``).
    missing : {"error", "exclude"}
        Rows with a missing covariate/exact/treatment value raise, or are excluded with a warning and count.
    cutpoints : "sturges", int, or dict column -> bins / cut points (CEM).
    subclass : number of subclasses (``method="subclass"``).

    Returns
    -------
    MatchResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300)})
    >>> df["t"] = (rng.random(300) < 1 / (1 + np.exp(1.5 - df["x"]))).astype(int)
    >>> res = match(df, "t", ["x"])
    >>> res.n_treated_matched == res.n_treated
    True
    >>> res.matched_data().columns.tolist()
    ['x', 't', 'weights', 'subclass', 'distance']
    """
    from evaltool.formula import formula_call

    data, treatment, covariates = formula_call(data, treatment, covariates)
    if method not in METHODS:
        raise SpecError(f"`method`: expected one of {', '.join(METHODS)}; got {method!r}")
    if order not in ORDERS:
        raise SpecError(f"`order`: expected one of {', '.join(ORDERS)}; got {order!r}")
    if not isinstance(ratio, (int, np.integer)) or isinstance(ratio, bool) or ratio < 1:
        raise SpecError(f"`ratio`: expected an integer >= 1, got {ratio!r}")
    if caliper is not None and (not np.isscalar(caliper) or not np.isfinite(caliper) or caliper <= 0):
        raise SpecError(f"`caliper`: expected a number > 0, got {caliper!r}")
    if missing not in ("error", "exclude"):
        raise SpecError(f"`missing`: expected 'error' or 'exclude', got {missing!r}")
    covariates = list(covariates)
    exact = list(exact or [])
    user_distance = not isinstance(distance, str)
    if not user_distance and distance not in DISTANCES:
        raise SpecError(f"`distance`: expected one of {', '.join(DISTANCES)} or an array; got {distance!r}")
    need = [treatment, *covariates, *[e for e in exact if e not in covariates]]
    absent = [c for c in need if c not in data.columns]
    if absent:
        raise DataValidationError(f"`data` lacks column(s) {absent}; it has {list(data.columns)[:20]}")

    df = data.copy()
    dist_in = None
    if user_distance:
        dist_in = np.asarray(distance, dtype=float)
        if dist_in.shape != (len(df),):
            raise SpecError(f"`distance`: expected an array of length {len(df)}, got shape {dist_in.shape}")
    # Missing values: explicit policy.
    na = df[need].isna()
    if dist_in is not None:
        na = na.assign(_distance=~np.isfinite(dist_in))
    discarded: dict[str, int] = {}
    if na.to_numpy().any():
        bad_rows = np.flatnonzero(na.to_numpy().any(axis=1))
        cols = [c for c in na.columns if na[c].any()]
        if missing == "error":
            from evaltool.errors import format_rows

            raise DataValidationError(
                f"missing values in column(s) {cols} at {format_rows((bad_rows + 1).tolist())}; "
                "impute them or pass `missing='exclude'`"
            )
        keep = ~na.to_numpy().any(axis=1)
        discarded["missing_covariate"] = int((~keep).sum())
        warnings.warn(
            f"excluded {int((~keep).sum())} rows with missing values in {cols} before matching",
            MatchingWarning, stacklevel=2,
        )
        df = df.loc[keep].copy()
        if dist_in is not None:
            dist_in = dist_in[keep]

    tv = df[treatment]
    if tv.dtype == bool:
        tv = tv.astype(int)
    vals = set(pd.unique(tv).tolist())
    if not vals <= {0, 1}:
        raise DataValidationError(f"`{treatment}`: expected 0/1 values, found {sorted(vals, key=str)[:10]}")
    t = tv.to_numpy().astype(bool)
    if not t.any():
        raise MatchingError(f"no treated units: `{treatment}` is 0 in all {len(df)} rows")
    if t.all():
        raise MatchingError(f"no control units: `{treatment}` is 1 in all {len(df)} rows")
    const = [c for c in covariates
             if (np.ptp(df[c].to_numpy(dtype=float)) == 0 if pd.api.types.is_numeric_dtype(df[c])
                 and df[c].dtype != bool else df[c].nunique(dropna=True) <= 1)]
    if const:
        raise MatchingError(
            f"covariate(s) {const} are constant (a single value in every row): drop them from `covariates`"
        )

    rng = np.random.default_rng(seed) if seed is not None else None
    n = len(df)
    idx1 = np.flatnonzero(t)
    Xbal = balance_matrix(df, covariates)
    ps_coef: dict[str, float] = {}
    dvec: np.ndarray | None = None
    dist_name = "user-supplied distance" if user_distance else {
        "logit": "propensity score (logistic)", "linear_logit": "linear propensity score (logit)",
        "mahalanobis": "Mahalanobis distance"}[distance]
    if user_distance:
        dvec = dist_in
    elif distance in ("logit", "linear_logit") and method in ("nearest", "subclass"):
        X, names = design_matrix(df, covariates)
        p, b = logistic_ps(X, t.astype(float))
        ps_coef = dict(zip(names, b.tolist()))
        dvec = p if distance == "logit" else np.log(p / (1 - p))

    unmatched: dict[str, int] = {}
    caliper_abs = None
    mm = None
    if method == "nearest":
        strata = exact_codes(df, exact) if exact else None
        empty = np.zeros(n, dtype=bool)
        if strata is not None:
            _, empty = strata_match(strata, t)
        if not user_distance and distance == "mahalanobis":
            if caliper is not None:
                raise SpecError("`caliper` is not available with distance='mahalanobis' (no scalar distance)")
            Z, key = matchit_mahalanobis_covariates(df, covariates, t)
            o = treated_order(None, idx1.size, "random" if order == "random" else "data", rng)
            mm = scan_mahalanobis_match(Z, key, t, ratio=ratio, replace=replace, strata=strata, order_idx=o)
            ordname = "data" if order != "random" else "random"
        else:
            if caliper is not None:
                caliper_abs = float(caliper * np.std(dvec, ddof=1)) if std_caliper else float(caliper)
            ordname = "data" if replace else order
            mm = nearest_match(dvec, t, ratio=ratio, replace=replace, caliper=caliper_abs, strata=strata,
                               order=ordname, rng=rng, _matchit_451=_matchit_451)
        w, sub = weights_from_pairs(mm, idx1, n)
        no_match = (mm[:, 0] < 0)
        n_empty = int((no_match & empty[idx1]).sum())
        n_rest = int(no_match.sum()) - n_empty
        if n_empty:
            unmatched["empty_exact_stratum"] = n_empty
        if n_rest:
            unmatched["no_control_within_caliper" if caliper is not None else "controls_exhausted"] = n_rest
        order_used: str | None = ordname
    elif method == "subclass":
        if dvec is None:
            raise SpecError("`method`='subclass' needs a propensity score: distance 'logit' or 'linear_logit' (or an array)")
        order_used = None
        sub = subclassify(dvec, t, int(subclass))
        w = subclass_weights(sub, t)
    else:
        order_used = None
        if method == "exact":
            codes = exact_codes(df, covariates + [e for e in exact if e not in covariates])
        else:
            parts = []
            for c in covariates + [e for e in exact if e not in covariates]:
                s = df[c]
                if c in exact or not pd.api.types.is_numeric_dtype(s) or s.dtype == bool:
                    parts.append(pd.Series(exact_codes(df, [c]), index=df.index, name=c))
                else:
                    cp = cutpoints.get(c, "sturges") if isinstance(cutpoints, dict) else cutpoints
                    parts.append(pd.Series(coarsen(s, cp), index=df.index, name=c))
            codes = exact_codes(pd.concat(parts, axis=1), [p.name for p in parts])
        sub, empty = strata_match(codes, t)
        w = weights_from_strata(sub, t)
        sub = np.where(sub >= 0, sub + 1, -1)
        n_empty = int(empty.sum())
        if n_empty:
            unmatched["no_control_in_stratum"] = n_empty
    if not (w[t] > 0).any():
        raise MatchingError(
            "nobody was matched: "
            + (f"no control lies within the caliper ({caliper} SD) of any treated unit; widen `caliper`"
               if caliper is not None else "no stratum holds both treated and control units; coarsen or drop `exact`")
        )
    n_un = sum(unmatched.values())
    if n_un:
        warnings.warn(
            f"{n_un} of {int(t.sum())} treated units were not matched ({unmatched})", MatchingWarning, stacklevel=2
        )
    if dvec is not None:
        Xbal_show = pd.concat([pd.DataFrame({"distance": dvec}, index=df.index), Xbal], axis=1)
    else:
        Xbal_show = Xbal
    return MatchResult(
        method=method, distance_name=dist_name, estimand="ATT", ratio=int(ratio), replace=bool(replace),
        order=order_used, caliper=None if caliper is None else float(caliper), std_caliper=bool(std_caliper),
        caliper_abs=caliper_abs, exact=tuple(exact), covariates=tuple(covariates), treatment=treatment,
        weights=w, subclass=sub, distance=dvec, treat=t, unmatched=unmatched, _balance_X=Xbal_show,
        match_matrix=mm if method == "nearest" else None,
        ps_coefficients=ps_coef, discarded=discarded, _data=df,
    )
