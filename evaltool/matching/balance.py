"""Balance statistics: one registry read by tables and plots (in the spirit of cobalt).

Conventions (those of MatchIt's ``summary()`` with ``standardize = TRUE``, checked against its output):

* ``smd``: difference in (weighted) means divided by the standard deviation of the treated group in
  the full, unmatched sample (the ATT convention); the same denominator before and after matching.
  Binary (0/1) variables are standardised too, with sd = sqrt(p (1 - p)).
* ``var_ratio``: weighted variance treated / control (not computed for binary variables).
* ``ecdf_mean`` / ``ecdf_max``: mean and maximum absolute difference of the weighted empirical CDFs at the
  observed values; for binary variables both equal the absolute difference in proportions.
* thresholds: |SMD| < 0.1 and variance ratio within [0.5, 2] are flagged as balanced.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["BALANCE_STATS", "covariate_balance", "balance_table", "SMD_THRESHOLD"]

SMD_THRESHOLD = 0.1
VAR_RATIO_RANGE = (0.5, 2.0)
_EPS = np.sqrt(np.finfo(float).eps)
_THREADED_ROWS = 200_000  # from this many rows the columns are summarised on two threads
_COUNTED_RANGE = 100_000  # whole-number covariates spanning at most this many values: eCDFs by counting


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    sw = w.sum()
    return float((x * w).sum() / sw) if sw > 0 else np.nan


def _wvar(x: np.ndarray, w: np.ndarray, binary: bool) -> float:
    sw = w.sum()
    if sw <= 0:
        return np.nan
    wn = w / sw
    m = (wn * x).sum()
    if binary:
        return float(m * (1 - m))
    denom = 1 - (wn**2).sum()
    return float((wn * (x - m) ** 2).sum() / denom) if denom > 0 else np.nan


def _ecdf(x: np.ndarray, t: np.ndarray, w: np.ndarray, binary: bool,
          order: np.ndarray | None = None) -> tuple[float, float]:
    if binary:
        diff = abs(_wmean(x[t], w[t]) - _wmean(x[~t], w[~t]))
        return diff, diff
    w = w.astype(float).copy()
    totals = {}
    for g in (True, False):
        s = w[t == g].sum()
        if s <= 0:
            return np.nan, np.nan
        totals[g] = s
    if x.size and _whole_range(x):
        return _counted_ecdf(x, t, w, totals[True], totals[False])
    for g in (True, False):
        w[t == g] /= totals[g]
    # Order within tied values does not matter: statistics are read at the last position of each value.
    o = np.argsort(x) if order is None else order
    xs, ws, ts = x[o], w[o], t[o]
    signed = np.where(ts == ts[0], -ws, ws)
    cs = np.abs(np.cumsum(signed))
    last_of_value = np.append(np.diff(xs) != 0, True)
    e = cs[last_of_value]
    return float(e.mean()), float(e.max())


def _whole_range(x: np.ndarray) -> bool:
    """Whole numbers over a modest range (ages, counts, look-back totals): eCDFs by counting, not sorting."""
    return bool(x.max() - x.min() <= _COUNTED_RANGE and np.all(x == np.floor(x)))


def _counted_ecdf(x: np.ndarray, t: np.ndarray, w: np.ndarray | None, total_t: float,
                  total_c: float) -> tuple[float, float]:
    """Mean and maximum |eCDF difference| of whole numbers: each eCDF from the weight at each value (the
    count, when ``w`` is None), cumulated over values, without sorting millions of rows. With unit weights the
    cumulated counts are whole numbers, so each difference is exact to one rounding."""
    lo = x.min()
    size = int(x.max() - lo) + 1
    cell = (x - lo).astype(np.int64) * 2 + t  # value, then group: one pass over the rows
    counts = np.bincount(cell, minlength=2 * size).reshape(size, 2)
    per = counts if w is None else np.bincount(cell, weights=w, minlength=2 * size).reshape(size, 2)
    seen = counts.sum(axis=1) > 0
    e = np.abs(np.cumsum(per[:, 1]) / total_t - np.cumsum(per[:, 0]) / total_c)[seen]
    return float(e.mean()), float(e.max())


def _stats(x: np.ndarray, t: np.ndarray, w: np.ndarray, sd_denom: float, binary: bool,
           order: np.ndarray | None = None) -> dict[str, float]:
    c = ~t
    xt, wt, xc, wc = x[t], w[t], x[c], w[c]  # each group's rows taken once (millions in a risk-set sample)
    mt, mc = _wmean(xt, wt), _wmean(xc, wc)
    diff = mt - mc
    smd = diff / sd_denom if abs(diff) > _EPS and np.isfinite(sd_denom) and sd_denom > _EPS else diff
    v1, v0 = (np.nan, np.nan) if binary else (_wvar(xt, wt, False), _wvar(xc, wc, False))
    vr = v1 / v0 if np.isfinite(v0) and v0 > 0 else np.nan
    em, ex = _ecdf(x, t, w, binary, order)
    return {"mean_treated": mt, "mean_control": mc, "smd": smd, "var_ratio": vr, "ecdf_mean": em, "ecdf_max": ex}


def _unit_stats(x: np.ndarray, t: np.ndarray, ti: np.ndarray, sd_denom: float | None,
                binary: bool) -> tuple[float, dict[str, float]]:
    """:func:`_stats` with unit weights (an unweighted sample: risk-set matching's millions of candidate
    rows before matching), and the treated group's SD. The controls' rows are never gathered: their sums
    are the whole column's less the treated rows'; the eCDFs come from counts at each value (whole numbers
    over a modest range) or from one sort of the values (no argsort, no reordered copies)."""
    n, nt = x.size, ti.size
    nc = n - nt
    xt = x[ti]
    st = xt.sum()
    mt = float(st / nt) if nt else np.nan
    mc = float((x.sum() - st) / nc) if nc else np.nan
    if binary:
        vt = mt * (1 - mt)
        v1 = v0 = np.nan
    else:
        dev_t = ((xt - mt) ** 2).sum()
        vt = float(dev_t / (nt - 1)) if nt > 1 else np.nan
        v1 = vt
        # The controls' squared deviations from their mean: the whole column's less the treated rows'.
        dev_c = ((x - mc) ** 2).sum() - ((xt - mc) ** 2).sum() if nc else np.nan
        v0 = float(dev_c / (nc - 1)) if nc > 1 else np.nan
    sd = np.sqrt(vt) if sd_denom is None else sd_denom
    diff = mt - mc
    smd = diff / sd if abs(diff) > _EPS and np.isfinite(sd) and sd > _EPS else diff
    vr = v1 / v0 if np.isfinite(v0) and v0 > 0 else np.nan
    if binary or not (nt and nc):
        em = ex = abs(diff) if nt and nc else np.nan
    else:
        em, ex = _unit_ecdf(x, t, xt, nt, nc)
    return sd, {"mean_treated": mt, "mean_control": mc, "smd": smd, "var_ratio": vr, "ecdf_mean": em,
                "ecdf_max": ex}


def _unit_ecdf(x: np.ndarray, t: np.ndarray, xt: np.ndarray, nt: int, nc: int) -> tuple[float, float]:
    """Mean and maximum |eCDF difference| at the observed values, unit weights: counts at or below each
    value over the group's size (exact to one rounding)."""
    if _whole_range(x):
        return _counted_ecdf(x, t, None, nt, nc)
    xs = np.sort(x)
    last = np.flatnonzero(np.append(xs[1:] != xs[:-1], True))  # the last position of each value
    at_or_below_t = np.searchsorted(np.sort(xt), xs[last], side="right")
    e = np.abs(at_or_below_t / nt - (last + 1 - at_or_below_t) / nc)
    return float(e.mean()), float(e.max())


#: The registry: statistic name -> (description, function of (x, treat, weights, sd_denom, binary)).
BALANCE_STATS: dict[str, tuple[str, Callable[..., float]]] = {
    "mean_treated": ("weighted mean, treated", lambda x, t, w, sd, b: _wmean(x[t], w[t])),
    "mean_control": ("weighted mean, controls", lambda x, t, w, sd, b: _wmean(x[~t], w[~t])),
    "smd": ("standardised mean difference (SD of treated, unmatched sample)",
            lambda x, t, w, sd, b: _stats(x, t, w, sd, b)["smd"]),
    "var_ratio": ("variance ratio treated / control (continuous only)",
                  lambda x, t, w, sd, b: _stats(x, t, w, sd, b)["var_ratio"]),
    "ecdf_mean": ("mean eCDF difference", lambda x, t, w, sd, b: _ecdf(x, t, w, b)[0]),
    "ecdf_max": ("maximum eCDF difference", lambda x, t, w, sd, b: _ecdf(x, t, w, b)[1]),
}


def covariate_balance(
    X: pd.DataFrame, treat: np.ndarray, weights: np.ndarray | None = None, *, sd_denoms: dict | None = None,
    orders: dict | None = None,
) -> pd.DataFrame:
    """Balance statistics for each column of ``X`` (one sample: unweighted when ``weights`` is None).

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
    >>> covariate_balance(X, np.array([1, 1, 0, 0]))["smd"].round(4).tolist()
    [-2.8284]
    """
    t = np.asarray(treat).astype(bool)
    w_full = np.ones(t.size)
    w = w_full if weights is None else np.asarray(weights, dtype=float)
    ti = np.flatnonzero(t)

    def row(c) -> dict:
        x = X[c].to_numpy(dtype=float)
        binary = bool(np.all((x == 0) | (x == 1)))
        if weights is None and orders is None:
            _, stats = _unit_stats(x, t, ti, None if sd_denoms is None else sd_denoms[c], binary)
            return {"covariate": c, "binary": binary, **stats}
        sd = sd_denoms[c] if sd_denoms is not None else np.sqrt(_wvar(x[t], w_full[t], binary))
        o = None if orders is None else orders.get(c)
        return {"covariate": c, "binary": binary, **_stats(x, t, w, sd, binary, o)}

    if len(X) < _THREADED_ROWS or len(X.columns) < 2:
        return pd.DataFrame([row(c) for c in X.columns])
    # Millions of candidate rows (risk-set matching's "before" sample): columns two at a time. Each column's
    # statistics are computed exactly as above; numpy's sorts and sums release the GIL, so threads overlap.
    import os
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        return pd.DataFrame(list(pool.map(row, X.columns)))


def balance_table(
    X: pd.DataFrame, treat: np.ndarray, weights: np.ndarray, *, after_subset: bool = False
) -> pd.DataFrame:
    """Before/after balance table, tidy, with threshold flags.

    Columns: covariate, binary, mean_treated, mean_control_before, mean_control_after, smd_before,
    smd_after, var_ratio_before, var_ratio_after, ecdf_mean_before, ecdf_mean_after, ecdf_max_before,
    ecdf_max_after, balanced (|smd_after| < 0.1 and variance ratio within [0.5, 2]).
    ``after_subset=True`` computes the matched-sample statistics on the rows with positive weight only
    (faster for large pools; eCDF statistics then ignore values seen only in unmatched rows, where MatchIt
    includes them with weight 0).

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 2.0]})
    >>> bt = balance_table(X, np.array([1, 1, 0, 0]), np.array([1, 1, 0, 1.0]))
    >>> bool(bt["smd_after"].abs().iloc[0] < bt["smd_before"].abs().iloc[0])
    True
    """
    t = np.asarray(treat).astype(bool)
    orders = None
    if not after_subset:
        orders = {}
        for c in X.columns:
            x = X[c].to_numpy(dtype=float)
            if not np.all((x == 0) | (x == 1)):
                orders[c] = np.argsort(x)  # one sort per covariate, shared by before and after
    b = covariate_balance(X, treat, orders=orders)
    if after_subset:
        keep = np.asarray(weights) > 0
        sd = {c: np.sqrt(_wvar(X[c].to_numpy(dtype=float)[t], np.ones(int(t.sum())),
                              bool(np.all((X[c].to_numpy() == 0) | (X[c].to_numpy() == 1))))) for c in X.columns}
        a = covariate_balance(X.loc[keep], t[keep], np.asarray(weights)[keep], sd_denoms=sd)
    else:
        a = covariate_balance(X, treat, weights, orders=orders)
    out = pd.DataFrame({
        "covariate": b["covariate"],
        "binary": b["binary"],
        "mean_treated": a["mean_treated"],
        "mean_control_before": b["mean_control"],
        "mean_control_after": a["mean_control"],
        "smd_before": b["smd"],
        "smd_after": a["smd"],
        "var_ratio_before": b["var_ratio"],
        "var_ratio_after": a["var_ratio"],
        "ecdf_mean_before": b["ecdf_mean"],
        "ecdf_mean_after": a["ecdf_mean"],
        "ecdf_max_before": b["ecdf_max"],
        "ecdf_max_after": a["ecdf_max"],
    })
    vr_ok = out["var_ratio_after"].isna() | out["var_ratio_after"].between(*VAR_RATIO_RANGE)
    out["balanced"] = (out["smd_after"].abs() < SMD_THRESHOLD) & vr_ok
    return out


def love_plot(table: pd.DataFrame, threshold: float = SMD_THRESHOLD):
    """Love plot of absolute SMDs before and after matching (plotnine).

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 2.0]})
    >>> p = love_plot(balance_table(X, np.array([1, 1, 0, 0]), np.array([1, 1, 0, 1.0])))
    """
    from plotnine import aes, coord_flip, geom_hline, geom_point, ggplot, labs, scale_color_manual

    from evaltool.plotting import PALETTE, theme_evaltool

    long = pd.concat([
        pd.DataFrame({"covariate": table["covariate"], "sample": "Before matching", "abs_smd": table["smd_before"].abs()}),
        pd.DataFrame({"covariate": table["covariate"], "sample": "After matching", "abs_smd": table["smd_after"].abs()}),
    ])
    order = table.assign(a=table["smd_before"].abs()).sort_values("a")["covariate"].tolist()
    long["covariate"] = pd.Categorical(long["covariate"], categories=order)
    long["sample"] = pd.Categorical(long["sample"], categories=["Before matching", "After matching"])
    return (
        ggplot(long, aes("covariate", "abs_smd", color="sample"))
        + geom_point(size=2.5)
        + geom_hline(yintercept=threshold, linetype="dashed", color="#768692")
        + coord_flip()
        + scale_color_manual(values=[PALETTE[1], PALETTE[0]])
        + labs(x="", y="Absolute standardised mean difference", color="",
               caption=f"Dashed threshold |SMD| = {threshold}")
        + theme_evaltool()
    )


def distance_histograms(distance: np.ndarray, treat: np.ndarray, weights: np.ndarray
                        ) -> tuple[np.ndarray, list[tuple[str, str, np.ndarray]]]:
    """30 equal bins over the distance's range; (sample, group, weighted counts) before and after matching.

    Examples
    --------
    >>> edges, h = distance_histograms(np.array([0.2, 0.4, 0.3]), np.array([1, 0, 1]), np.ones(3))
    >>> len(edges), [(s, g, int(c.sum())) for s, g, c in h][:2]
    (31, [('Before matching', 'Treated', 2), ('Before matching', 'Control', 1)])
    """
    d = np.asarray(distance, dtype=float)
    t = np.asarray(treat).astype(bool)
    w = np.asarray(weights, dtype=float)
    ok = np.isfinite(d)
    edges = np.linspace(d[ok].min(), d[ok].max(), 31) if ok.any() else np.linspace(0, 1, 31)
    out = []
    for sample, ww in (("Before matching", np.ones_like(d)), ("After matching", w)):
        for g, name in ((True, "Treated"), (False, "Control")):
            m = ok & (t == g) & (ww > 0)
            out.append((sample, name, np.histogram(d[m], bins=edges, weights=ww[m])[0]))
    return edges, out


def ps_distribution_plot(distance: np.ndarray, treat: np.ndarray, weights: np.ndarray, label: str = "Propensity score"):
    """Distribution of the distance (propensity score) by group, before and after matching.

    Bins are counted in numpy first (30 bins over the range of the distance), so the plot stays light at
    millions of candidates; bars show the share of each group's (weighted) units per bin.

    Examples
    --------
    >>> p = ps_distribution_plot(np.array([0.2, 0.4, 0.3, 0.6]), np.array([1, 0, 1, 0]), np.array([1, 1, 1, 0.0]))
    """
    from plotnine import aes, facet_wrap, geom_col, ggplot, labs, position_dodge, scale_fill_manual

    from evaltool.plotting import PALETTE, theme_evaltool

    edges, hists = distance_histograms(distance, treat, weights)
    mids = (edges[:-1] + edges[1:]) / 2
    df = pd.concat([pd.DataFrame({"distance": mids, "share": h / h.sum() if h.sum() > 0 else h, "group": name,
                                  "sample": sample}) for sample, name, h in hists], ignore_index=True)
    df["sample"] = pd.Categorical(df["sample"], categories=["Before matching", "After matching"])
    df["group"] = pd.Categorical(df["group"], categories=["Treated", "Control"])
    width = float(edges[1] - edges[0])
    return (
        ggplot(df, aes("distance", "share", fill="group"))
        + geom_col(position=position_dodge(width=width), width=width * 0.9, alpha=0.85)
        + facet_wrap("~sample")
        + scale_fill_manual(values=[PALETTE[0], PALETTE[1]])
        + labs(x=label, y="Share of group", fill="")
        + theme_evaltool()
    )
