"""Imputation estimator for staggered adoption (Borusyak, Jaravel & Spiess 2024), linear and Poisson.

Linear: fit ``y_it = a_i + l_t (+ x_it'g)`` on untreated observations only (never treated and
not-yet-treated periods), impute ``Y_it(0)`` for treated observations, and average
``tau_it = y_it - yhat_it(0)`` over the treated observations of each estimand (overall and
per event time). The estimator is linear in ``y`` (weights ``v``); its standard error is the
BJS conservative cluster variance ``sum_c (sum_{i in c} v_i e_i)^2`` with ``e_i`` the
untreated residuals and, for treated observations, ``tau_it`` minus the mean of ``tau`` at the
same event time in *other* clusters (leave-cluster-out, so that cells with a single practice do not
get zero residuals). Intervals use t(G-1). Optionally a wild cluster bootstrap-t (unrestricted: samples
``yhat + w_c e``, every draw re-estimated with its own variance; Rademacher or Webb).

Poisson (``family="poisson"``, counts with an exposure offset): fit a fixed-effects Poisson
model with ``log(exposure)`` offset on untreated observations, impute the expected count
``mu_it(0)`` for treated observations, and report the rate ratio
``sum y / sum mu(0)`` (and the excess per 1,000 person-years) with a leave-one-cluster-out
jackknife standard error on the log scale.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool._regression import COEF_COLUMNS, RegressionResultsMixin
from evaltool._result import ResultMixin, Summary
from evaltool.effects.inference import cluster_codes, cluster_sums, draw_weights
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning


@dataclass(frozen=True)
class _Prep:
    df: pd.DataFrame
    Z: np.ndarray  # design: unit dummies, time dummies (first dropped), covariates
    treated: np.ndarray  # bool per row
    event: np.ndarray  # t - g (nan for never treated)
    ccodes: np.ndarray
    G: int


def _prepare(data: pd.DataFrame, outcome: str, unit: str, time: str, group: str, covariates: list[str],
             cluster: str | None, extra: list[str]) -> _Prep:
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"`data` must be a pandas DataFrame, found {type(data).__name__}")
    cols = list(dict.fromkeys([outcome, unit, time, group] + covariates + ([cluster] if cluster else []) + extra))
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataValidationError(f"`data` lacks column(s) {missing}; found {list(data.columns)}")
    df = data[cols].copy()
    df["_g"] = pd.to_numeric(df[group], errors="coerce").fillna(0.0)
    na = df[[outcome, time] + covariates].isna().any(axis=1)
    if na.any():
        rows = np.flatnonzero(na.to_numpy())[:10] + 1
        raise DataValidationError(f"missing `{outcome}`/`{time}`/covariates at rows {', '.join(map(str, rows))}")
    df = df.sort_values([unit, time], kind="mergesort").reset_index(drop=True)
    t = df[time].to_numpy(dtype=float)
    g = df["_g"].to_numpy()
    treated = (g > 0) & (t >= g)
    if not treated.any():
        raise EstimationError(f"no treated observations: no unit reaches its `{group}` period within the data")
    pre_units = df.loc[~treated, unit].unique()
    no_pre = np.setdiff1d(df.loc[treated, unit].unique(), pre_units)
    if len(no_pre):
        raise EstimationError(
            f"{len(no_pre)} treated units have no pre-period (untreated observation), so their fixed effect cannot"
            f" be imputed: {list(no_pre[:10])}; drop them or use a window starting before their go-live"
        )
    t_untr = np.unique(t[~treated])
    bad_t = np.setdiff1d(np.unique(t[treated]), t_untr)
    if len(bad_t):
        raise EstimationError(
            f"no untreated (never-treated or not-yet-treated) observations in period(s) {list(bad_t[:10])}:"
            " the period effect cannot be imputed; shorten the window or add comparison units"
        )
    ucodes, uu = pd.factorize(df[unit], sort=True)
    tcodes, tu = pd.factorize(df[time], sort=True)
    U = np.zeros((len(df), len(uu)))
    U[np.arange(len(df)), ucodes] = 1.0
    Tm = np.zeros((len(df), len(tu)))
    Tm[np.arange(len(df)), tcodes] = 1.0
    Z = np.column_stack([U, Tm[:, 1:]] + [df[c].to_numpy(dtype=float)[:, None] for c in covariates])
    cl = df[cluster].to_numpy() if cluster else df[unit].to_numpy()
    ccodes, G = cluster_codes(cl)
    event = np.where(g > 0, t - g, np.nan)
    return _Prep(df=df, Z=Z, treated=treated, event=event, ccodes=ccodes, G=G)


def _inv(A: np.ndarray) -> np.ndarray:
    # inv is far cheaper than pinv (SVD) and the design is full rank when every unit has an
    # untreated period and every period an untreated unit (checked in _prepare); pinv is the fallback.
    try:
        Ai = np.linalg.inv(A)
        if np.all(np.isfinite(Ai)) and np.allclose(A @ Ai, np.eye(len(A)), atol=1e-6):
            return Ai
    except np.linalg.LinAlgError:
        pass
    return np.linalg.pinv(A)


def _estimand_weights(prep: _Prep, horizons: list[int] | None) -> tuple[list[str], np.ndarray]:
    tr = prep.treated
    e = prep.event[tr]
    labels = ["overall"]
    cols = [np.full(tr.sum(), 1.0 / tr.sum())]
    hs = sorted(np.unique(e).astype(int)) if horizons is None else horizons
    for h in hs:
        m = e == h
        if m.any():
            labels.append(str(int(h)))
            cols.append(m / m.sum())
    return labels, np.column_stack(cols)


@dataclass(frozen=True, repr=False)
class ImputationResult(ResultMixin, RegressionResultsMixin):
    """Imputation-estimator effects (overall and by event time); immutable.

    ``params`` and friends are indexed ``"overall"`` then event times (integers); ``nobs`` counts
    unit-periods.
    """

    def _coef_frame(self) -> pd.DataFrame:
        f = self.to_frame()
        idx = pd.Index([lab if lab == "overall" else int(float(lab)) for lab in f["label"]], name="event_time")
        return f[COEF_COLUMNS].set_axis(idx)

    def _nobs(self) -> int:
        return self.n_obs

    table: pd.DataFrame
    family: str
    n_obs: int
    n_treated_obs: int
    n_units: int
    n_clusters: int
    settings: dict[str, Any]

    @property
    def overall(self) -> dict[str, float]:
        return self.table.iloc[0].to_dict()

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        o = self.table.iloc[0]
        scale = "rate ratio" if self.family == "poisson" else "ATT"
        lines = (
            ("estimator", f"imputation (Borusyak, Jaravel & Spiess), {self.family}"),
            (f"overall {scale}", (f"{o['estimate']:.4f} (95% CI {o['ci_lower']:.4f} to {o['ci_upper']:.4f}),"
                                  f" p = {o['p_value']:.4f}")),
            ("observations / treated / units / clusters",
             f"{self.n_obs} / {self.n_treated_obs} / {self.n_units} / {self.n_clusters}"),
            ("inference", self.settings.get("inference", "")),
        )
        return Summary(title="Imputation DiD estimator", lines=lines,
                       tables=(("effects", self.table.round(4)),))

    def to_dict(self) -> dict[str, Any]:
        return {"estimator": "imputation", "family": self.family, "n_obs": self.n_obs,
                "n_treated_obs": self.n_treated_obs, "n_units": self.n_units, "n_clusters": self.n_clusters,
                "effects": [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                            for r in self.table.to_dict(orient="records")],
                "settings": self.settings}

    def plot(self) -> Any:
        from plotnine import aes, geom_errorbar, geom_hline, geom_point, ggplot, labs

        from evaltool.plotting import theme_evaltool

        d = self.table[self.table["label"] != "overall"].copy()
        d["event_time"] = d["label"].astype(int)
        ref = 1.0 if self.family == "poisson" else 0.0
        return (ggplot(d, aes("event_time", "estimate")) + geom_hline(yintercept=ref, linetype="dashed")
                + geom_errorbar(aes(ymin="ci_lower", ymax="ci_upper"), width=0.2) + geom_point()
                + labs(x="Periods since go-live", y="Rate ratio" if self.family == "poisson" else "ATT")
                + theme_evaltool())


def imputation(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    group: str,
    *,
    covariates: list[str] | None = None,
    family: Literal["linear", "poisson"] = "linear",
    exposure: str | None = None,
    horizons: list[int] | None = None,
    cluster: str | None = None,
    alpha: float = 0.05,
    wild_bootstrap: bool = False,
    reps: int = 999,
    weights: Literal["rademacher", "webb"] = "webb",
    seed: int | None = None,
    jackknife: bool = True,
) -> ImputationResult:
    """Imputation estimator of staggered-adoption effects (BJS 2024), linear or Poisson with exposure.

    Parameters
    ----------
    data:
        Long panel, one row per unit and period (never modified).
    outcome, unit, time, group:
        Columns; ``group`` = first treated period (0/missing = never).
    covariates:
        Time-varying controls in the untreated-outcome model (linear only).
    family:
        ``"linear"`` (ATT in outcome units) or ``"poisson"`` (rate ratio; needs ``exposure``).
    exposure:
        Exposure column (e.g. person-years) for the Poisson offset.
    horizons:
        Event times to report (default: all observed).
    cluster:
        Cluster column (default ``unit``).
    wild_bootstrap:
        Linear only: wild cluster bootstrap-t p-values and CIs (``reps``, ``weights``, ``seed``).
    jackknife:
        Poisson only: compute the leave-one-cluster-out jackknife SE (``False``: point estimates only,
        e.g. inside a leave-one-out loop).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"u": np.repeat(np.arange(40), 6), "t": np.tile(np.arange(1, 7), 40)})
    >>> d["g"] = np.where(d.u < 20, 3 + d.u % 3, 0)
    >>> d["y"] = d.u * 0.1 + d.t * 0.2 + 2.0 * ((d.g > 0) & (d.t >= d.g)) + rng.normal(0, 0.1, len(d))
    >>> round(imputation(d, "y", "u", "t", "g").overall["estimate"], 1)
    2.0
    """
    covariates = list(covariates or [])
    if family == "poisson":
        if exposure is None:
            raise EstimationError("`exposure` is required for family='poisson'")
        return _poisson(data, outcome, unit, time, group, exposure, horizons, cluster, alpha, jackknife)
    if family != "linear":
        raise EstimationError(f"`family` must be 'linear' or 'poisson', found {family!r}")
    P = _prepare(data, outcome, unit, time, group, covariates, cluster, [])
    y = P.df[outcome].to_numpy(dtype=float)
    tr = P.treated
    Z0, Z1 = P.Z[~tr], P.Z[tr]
    A = Z0.T @ Z0
    A_pinv = _inv(A)
    labels, W1 = _estimand_weights(P, horizons)
    # implied weights on untreated outcomes: est = W1' y1 + V0' y0
    V0 = -Z0 @ (A_pinv @ (Z1.T @ W1))
    # Residuals of treated observations: tau minus the leave-cluster-out mean of tau at the same event time
    # (BJS 2024, Sec. 4.2: a leave-out average keeps the variance conservative when a cell has few units;
    # with one unit per cell a plain cell mean would set its residuals to zero and understate the SE).
    part = pd.factorize(pd.Series(P.event[tr]))[0]
    n_part = part.max() + 1
    cnt = np.bincount(part, minlength=n_part).astype(float)
    c1 = P.ccodes[tr]
    key = part * P.G + c1
    cnt_pc = np.bincount(key, minlength=n_part * P.G).astype(float)
    cnt_c = np.bincount(c1, minlength=P.G).astype(float)
    lo_cnt = cnt[part] - cnt_pc[key]
    fb_cnt = len(c1) - cnt_c[c1]
    if np.any((lo_cnt == 0) & (fb_cnt == 0)):
        warnings.warn("all treated observations are in one cluster: the imputation variance is not estimable",
                      EstimationWarning, stacklevel=2)

    def leave_out_mean(tau: np.ndarray) -> np.ndarray:
        S_pc = np.zeros((n_part * P.G, tau.shape[1]))
        np.add.at(S_pc, key, tau)
        S_p = S_pc.reshape(n_part, P.G, -1).sum(axis=1)
        S_c = S_pc.reshape(n_part, P.G, -1).sum(axis=0)
        S_all = S_c.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = (S_p[part] - S_pc[key]) / lo_cnt[:, None]
            fb = (S_all[None, :] - S_c[c1]) / fb_cnt[:, None]
        return np.where((lo_cnt > 0)[:, None], lo, np.nan_to_num(fb))

    def estimate(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimates (m, B) and BJS SEs (m, B) for outcome columns Y (n, B)."""
        Y0, Y1 = Y[~tr], Y[tr]
        b = A_pinv @ (Z0.T @ Y0)
        e0 = Y0 - Z0 @ b
        tau = Y1 - Z1 @ b
        e1 = tau - leave_out_mean(tau)
        est = W1.T @ tau  # (m, B)
        se = np.empty_like(est)
        c0, c1 = P.ccodes[~tr], P.ccodes[tr]
        for j in range(W1.shape[1]):
            s = cluster_sums(V0[:, j:j + 1] * e0, c0, P.G) + cluster_sums(W1[:, j:j + 1] * e1, c1, P.G)
            se[j] = np.sqrt((s**2).sum(axis=0))
        return est, se

    est, se = estimate(y[:, None])
    est, se = est[:, 0], se[:, 0]
    q = float(dist.t_ppf(1 - alpha / 2, max(P.G - 1, 1)))
    table = pd.DataFrame({"label": labels, "estimate": est, "std_error": se, "ci_lower": est - q * se,
                          "ci_upper": est + q * se, "p_value": 2 * dist.t_sf(np.abs(est / se), max(P.G - 1, 1)),
                          "n_obs": [int((W1[:, j] > 0).sum()) for j in range(W1.shape[1])]})
    inference = f"BJS conservative cluster variance, t({P.G - 1})"
    if wild_bootstrap:
        # fitted values under the model: untreated fitted, treated fitted(0) + event-time mean effect
        Y0 = y[~tr]
        b = A_pinv @ (Z0.T @ Y0)
        tau = y[tr] - Z1 @ b
        tbar = (np.bincount(part, weights=tau, minlength=n_part) / cnt)[part]
        fitted = np.empty_like(y)
        fitted[~tr] = Z0 @ b
        fitted[tr] = Z1 @ b + tbar
        resid = y - fitted
        rng = np.random.default_rng(seed)
        V = draw_weights(rng, P.G, reps, weights)
        Ystar = fitted[:, None] + V[P.ccodes] * resid[:, None]
        bs_est, bs_se = estimate(Ystar)
        with np.errstate(divide="ignore", invalid="ignore"):
            tstar = (bs_est - est[:, None]) / bs_se
        tobs = est / se
        pw = (np.abs(tstar) >= np.abs(tobs)[:, None]).mean(axis=1)
        qw = np.quantile(np.abs(np.nan_to_num(tstar, nan=np.inf)), 1 - alpha, axis=1)
        table["p_value"] = pw
        table["ci_lower"] = est - qw * se
        table["ci_upper"] = est + qw * se
        inference = f"wild cluster bootstrap-t (unrestricted, {weights}, {reps} reps) on the BJS variance"
    settings = {"outcome": outcome, "covariates": covariates, "cluster": cluster or unit, "alpha": alpha,
                    "inference": inference, "family": "linear"}
    return ImputationResult(table=table, family="linear", n_obs=len(y), n_treated_obs=int(tr.sum()),
                            n_units=int(P.df[unit].nunique()), n_clusters=P.G, settings=settings)


def _pois_fit(y: np.ndarray, Z: np.ndarray, off: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Poisson GLM by IRLS (dense, small designs); returns coefficients."""
    mu = (y + y.mean()) / 2 + 1e-3
    eta = np.log(mu)
    b = np.zeros(Z.shape[1])
    for _ in range(max_iter):
        z = eta - off + (y - mu) / mu
        WZ = Z * mu[:, None]
        b_new = np.linalg.lstsq(WZ.T @ Z, WZ.T @ z, rcond=None)[0]
        eta = np.clip(Z @ b_new + off, -50, 50)
        mu = np.exp(eta)
        if np.max(np.abs(b_new - b)) < 1e-10:
            b = b_new
            break
        b = b_new
    return b


def _poisson(data: pd.DataFrame, outcome: str, unit: str, time: str, group: str, exposure: str,
             horizons: list[int] | None, cluster: str | None, alpha: float, jackknife: bool = True
             ) -> ImputationResult:
    d = data.copy()
    if exposure not in d.columns:
        raise DataValidationError(f"`data` lacks the exposure column `{exposure}`")
    nonpos = ~(d[exposure] > 0)
    if nonpos.any():
        warnings.warn(f"{int(nonpos.sum())} rows have zero or missing exposure `{exposure}` and were dropped",
                      EstimationWarning, stacklevel=3)
        d = d[~nonpos]
    if (d[outcome] < 0).any():
        raise DataValidationError(f"`{outcome}` must be a non-negative count for family='poisson'")
    if d[outcome].sum() == 0:
        raise EstimationError(f"`{outcome}` is zero in every row: a rate ratio cannot be estimated")
    P0 = _prepare(d, outcome, unit, time, group, [], cluster, [exposure])
    # units whose untreated outcomes are all zero have an unbounded fixed effect: drop them
    df = P0.df
    untr_sum = df.loc[~P0.treated].groupby(unit)[outcome].sum()
    zero_units = untr_sum.index[untr_sum == 0]
    if len(zero_units):
        warnings.warn(f"{len(zero_units)} units have no events in their untreated periods and were dropped"
                      " (their fixed effect is not estimable)", EstimationWarning, stacklevel=3)
        d = d[~d[unit].isin(zero_units)]
        P0 = _prepare(d, outcome, unit, time, group, [], cluster, [exposure])
    P = P0
    y = P.df[outcome].to_numpy(dtype=float)
    off = np.log(P.df[exposure].to_numpy(dtype=float))
    tr = P.treated
    labels, W1 = _estimand_weights(P, horizons)
    ind = (W1 > 0).astype(float)

    def rr(keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k0 = keep & ~tr
        b = _pois_fit(y[k0], P.Z[k0], off[k0])
        k1 = keep[tr]
        mu1 = np.exp(np.clip(P.Z[tr] @ b + off[tr], -50, 50)) * k1
        y1 = y[tr] * k1
        num = ind.T @ y1
        den = ind.T @ mu1
        expo = ind.T @ (np.exp(off[tr]) * k1)
        return num, den, expo

    # Units must be nested in clusters for the jackknife; drop all rows of a cluster at a time.
    num, den, expo = rr(np.ones(len(y), bool))
    est = num / den
    # identify which design columns belong to each cluster's units so we can drop them
    jk = []
    for c in range(P.G if jackknife else 0):
        keep = P.ccodes != c
        Zk = P.Z[keep]
        cols = Zk.any(axis=0)
        Zs = P.Z[:, cols]
        k0 = keep & ~tr
        b = _pois_fit(y[k0], Zs[k0], off[k0])
        k1 = keep[tr]
        mu1 = np.exp(np.clip(Zs[tr] @ b + off[tr], -50, 50)) * k1
        with np.errstate(divide="ignore", invalid="ignore"):
            jk.append(np.log((ind.T @ (y[tr] * k1)) / (ind.T @ mu1)))
    G = P.G
    if jackknife:
        J = np.array(jk)
        with np.errstate(invalid="ignore"):
            se_log = np.sqrt((G - 1) / G * np.nansum((J - np.nanmean(J, axis=0)) ** 2, axis=0))
    else:
        se_log = np.full(len(labels), np.nan)
    q = float(dist.t_ppf(1 - alpha / 2, max(G - 1, 1)))
    log_est = np.log(est)
    table = pd.DataFrame({
        "label": labels, "estimate": est, "std_error": est * se_log,
        "ci_lower": np.exp(log_est - q * se_log), "ci_upper": np.exp(log_est + q * se_log),
        "p_value": 2 * dist.t_sf(np.abs(log_est / se_log), max(G - 1, 1)),
        "observed": num, "expected": den, "excess_per_1000": 1000 * (num - den) / expo,
        "n_obs": ind.sum(axis=0).astype(int),
    })
    settings = {"outcome": outcome, "exposure": exposure, "cluster": cluster or unit, "alpha": alpha, "family": "poisson",
                    "inference": f"leave-one-cluster-out jackknife on log rate ratio, t({G - 1})"}
    return ImputationResult(table=table, family="poisson", n_obs=len(y), n_treated_obs=int(tr.sum()),
                            n_units=int(P.df[unit].nunique()), n_clusters=G, settings=settings)
