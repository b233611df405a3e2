"""Two-way fixed effects DiD (for comparison) and the classic two-group regression DiD.

:func:`twfe` fits ``y_it = a_i + l_t + beta * D_it (+ x_it'g) + e_it``. Under staggered
adoption with heterogeneous effects ``beta`` is a weighted average of cell effects whose
weights can be negative (de Chaisemartin & D'Haultfoeuille 2020): we compute those weights
(``w_it`` proportional to the residual of ``D_it`` on both sets of fixed effects, over treated
cells) and warn with :class:`evaltool.errors.EstimationWarning` when any is negative.

Standard errors are cluster-robust CR1 with fixest's default small-sample correction,
``ssc(adj = TRUE, fixef.K = "nested", cluster.adj = TRUE)``: ``G/(G-1) * (N-1)/(N-K)`` with ``K`` the
coefficients, the period dummies and one for the unit effect nested in the clusters (its other levels
cost no degrees of freedom; equal to fixest/pyfixest to 1e-8), with t(G-1) intervals; optionally a
restricted wild cluster bootstrap p-value and CI.

:func:`did_2x2` is the textbook regression ``y ~ post + treated + post:treated (+ x)`` with
classical, HC1 or CR1 variance (Wooldridge, Introductory Econometrics, Examples 13.3-13.4).
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
from evaltool.effects.inference import WildBootstrapResult, ols, wild_cluster_bootstrap
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning


def _check_cols(data: pd.DataFrame, cols: list[str]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"`data` must be a pandas DataFrame, found {type(data).__name__}")
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataValidationError(f"`data` lacks column(s) {missing}; found {list(data.columns)}")
    na = data[cols].isna().any(axis=1)
    if na.any():
        rows = np.flatnonzero(na.to_numpy())[:10] + 1
        raise DataValidationError(f"missing values in {cols} at rows {', '.join(map(str, rows))} ({int(na.sum())} rows)")


def demean_within(M: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Subtract group means from each column of ``M`` (exact one-way within transform)."""
    M = np.asarray(M, dtype=float)
    two_d = M.ndim == 2
    M2 = M if two_d else M[:, None]
    sums = np.zeros((n_groups, M2.shape[1]))
    np.add.at(sums, codes, M2)
    cnt = np.bincount(codes, minlength=n_groups).astype(float)
    out = M2 - (sums / cnt[:, None])[codes]
    return out if two_d else out[:, 0]


@dataclass(frozen=True)
class _Design:
    y: np.ndarray
    X: np.ndarray  # unit-demeaned [D, time dummies (first dropped), covariates]
    names: list[str]
    unit_codes: np.ndarray
    n_units: int
    time_codes: np.ndarray
    times: np.ndarray
    D: np.ndarray


def _design(df: pd.DataFrame, outcome: str, unit: str, time: str, treatment: str, covariates: list[str]) -> _Design:
    ucodes, uniq = pd.factorize(df[unit], sort=True)
    tcodes, tuniq = pd.factorize(df[time], sort=True)
    T = len(tuniq)
    D = df[treatment].to_numpy(dtype=float)
    Tm = np.zeros((len(df), max(T - 1, 0)))
    if T > 1:
        Tm[np.arange(len(df)), np.clip(tcodes - 1, 0, None)] = (tcodes > 0).astype(float)
    cov = df[covariates].to_numpy(dtype=float) if covariates else np.zeros((len(df), 0))
    X = np.column_stack([D, Tm, cov])
    Xd = demean_within(X, ucodes, len(uniq))
    yd = demean_within(df[outcome].to_numpy(dtype=float), ucodes, len(uniq))
    names = [treatment] + [f"time[{t}]" for t in tuniq[1:]] + list(covariates)
    # drop columns that vanish after demeaning (time-invariant covariates are absorbed)
    keep = np.ones(Xd.shape[1], bool)
    for j in range(1 + Tm.shape[1], Xd.shape[1]):
        if np.allclose(Xd[:, j], 0):
            keep[j] = False
    if np.allclose(Xd[:, 0], 0):
        raise EstimationError(f"`{treatment}` does not vary within units: the TWFE effect is not identified")
    return _Design(y=yd, X=Xd[:, keep], names=[n for n, k in zip(names, keep) if k], unit_codes=ucodes,
                   n_units=len(uniq), time_codes=tcodes, times=np.asarray(tuniq), D=D)


@dataclass(frozen=True, repr=False)
class TwfeResult(ResultMixin, RegressionResultsMixin):
    """Two-way fixed effects estimate with negative-weight diagnostics (immutable).

    ``params``/``bse``/``pvalues``/``conf_int()`` give the treatment coefficient with CR1 inference;
    ``nobs`` counts unit-periods.
    """

    def _coef_frame(self) -> pd.DataFrame:
        f = self.to_frame()
        return f[f["inference"] == "cr1_t"].set_index("term")[COEF_COLUMNS]

    def _nobs(self) -> int:
        return self.n_obs

    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    n_obs: int
    n_units: int
    n_clusters: int
    weights_table: pd.DataFrame
    n_negative_weights: int
    sum_negative_weights: float
    wild: WildBootstrapResult | None
    settings: dict[str, Any]

    def to_frame(self) -> pd.DataFrame:
        rows = [{"term": self.settings["treatment"], "inference": "cr1_t", "estimate": self.estimate,
                     "std_error": self.std_error, "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "p_value": self.p_value,
                     "n_obs": self.n_obs, "n_clusters": self.n_clusters}]
        if self.wild is not None:
            w = self.wild
            rows.append({"term": self.settings["treatment"], "inference": f"wild_cluster_bootstrap_{w.weights}",
                             "estimate": w.estimate, "std_error": w.std_error, "ci_lower": w.ci_lower, "ci_upper": w.ci_upper,
                             "p_value": w.p_value, "n_obs": self.n_obs, "n_clusters": w.n_clusters})
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        lines = [
            ("estimator", "two-way fixed effects (unit and period), OLS"),
            ("estimate", f"{self.estimate:.4f} (SE {self.std_error:.4f}, CR1 fixest convention, t({self.n_clusters - 1}))"),
            ("95% CI", f"{self.ci_lower:.4f} to {self.ci_upper:.4f}; p = {self.p_value:.4f}"),
            ("observations / units / clusters", f"{self.n_obs} / {self.n_units} / {self.n_clusters}"),
            ("negative implicit weights", (f"{self.n_negative_weights} treated cells, summing to "
                                           f"{self.sum_negative_weights:.3f} (de Chaisemartin & D'Haultfoeuille)")),
        ]
        if self.wild is not None:
            w = self.wild
            lines.append(("wild cluster bootstrap", (
                f"p = {w.p_value:.4f}, 95% CI {w.ci_lower:.4f} to {w.ci_upper:.4f}"
                f" ({'restricted' if w.restricted else 'unrestricted'}, {w.weights}, {w.reps} reps)")))
        return Summary(title="TWFE difference-in-differences", lines=tuple(lines))

    def to_dict(self) -> dict[str, Any]:
        return {"estimator": "twfe", "estimate": self.estimate, "std_error": self.std_error,
                "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "p_value": self.p_value,
                "n_obs": self.n_obs, "n_units": self.n_units, "n_clusters": self.n_clusters,
                "n_negative_weights": self.n_negative_weights, "sum_negative_weights": self.sum_negative_weights,
                "wild": None if self.wild is None else self.wild.to_dict(), "settings": self.settings}

    def plot(self) -> Any:
        from plotnine import aes, geom_col, geom_hline, ggplot, labs

        from evaltool.plotting import theme_evaltool

        d = self.weights_table.assign(sign=np.where(self.weights_table["weight"] < 0, "negative", "positive"))
        d["cell"] = d["cohort"].astype(str) + ":" + d["time"].astype(str)
        return (ggplot(d, aes("cell", "weight", fill="sign")) + geom_col() + geom_hline(yintercept=0)
                + labs(x="Treated cell (cohort:period)", y="Implicit TWFE weight", fill="") + theme_evaltool())


def twfe(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    *,
    covariates: list[str] | None = None,
    cluster: str | None = None,
    alpha: float = 0.05,
    wild_bootstrap: bool = False,
    reps: int = 999,
    weights: Literal["rademacher", "webb"] = "webb",
    seed: int | None = None,
) -> TwfeResult:
    """Two-way fixed effects DiD with CR1 inference and negative-weight diagnostics.

    Parameters
    ----------
    data:
        Long panel (never modified).
    outcome, unit, time, treatment:
        Columns; ``treatment`` is the 0/1 indicator D_it (1 from go-live on).
    covariates:
        Time-varying controls (time-invariant ones are absorbed by the unit effects).
    cluster:
        Cluster column (default: ``unit``); units must be nested in clusters.
    wild_bootstrap:
        Add a restricted wild cluster bootstrap p-value and CI (``reps``, ``weights``, ``seed``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"u": np.repeat(np.arange(30), 6), "t": np.tile(np.arange(6), 30)})
    >>> d["D"] = ((d.u < 15) & (d.t >= 3)).astype(int)
    >>> d["y"] = d.u * 0.1 + d.t * 0.2 + 1.0 * d.D + rng.normal(0, 0.1, len(d))
    >>> round(twfe(d, "y", "u", "t", "D").estimate, 1)
    1.0
    """
    covariates = list(covariates or [])
    cluster = cluster or unit
    _check_cols(data, [outcome, unit, time, treatment, cluster] + covariates)
    df = data[list(dict.fromkeys([outcome, unit, time, treatment, cluster] + covariates))].copy()
    nest = df.groupby(unit)[cluster].nunique()
    if (nest > 1).any():
        raise DataValidationError(f"units (`{unit}`) must be nested in clusters (`{cluster}`); "
                                  f"{int((nest > 1).sum())} units span several clusters")
    des = _design(df, outcome, unit, time, treatment, covariates)
    # fixest's default ssc: the unit effect (nested in the clusters) counts as one parameter in K.
    fit = ols(des.y, des.X, vcov="cluster", clusters=df[cluster].to_numpy(), k_absorbed=1)
    G = int(fit.n_clusters or 0)
    est, se = float(fit.coef[0]), float(fit.std_error[0])
    q = float(dist.t_ppf(1 - alpha / 2, G - 1))
    p = float(2 * dist.t_sf(abs(est / se), G - 1))
    # de Chaisemartin & D'Haultfoeuille weights: residual of D on unit and period effects.
    Tm = des.X[:, 1:len(des.times)]
    if Tm.shape[1]:
        g = np.linalg.lstsq(Tm, des.X[:, 0], rcond=None)[0]
        eps = des.X[:, 0] - Tm @ g
    else:
        eps = des.X[:, 0]
    tr = des.D == 1
    w = eps[tr] / eps[tr].sum()
    wt = pd.DataFrame({"unit": df[unit].to_numpy()[tr], "time": df[time].to_numpy()[tr], "weight": w})
    first = df.loc[df[treatment] == 1].groupby(unit)[time].min()
    wt["cohort"] = wt["unit"].map(first)
    wtab = wt.groupby(["cohort", "time"], as_index=False).agg(weight=("weight", "sum"), n_units=("unit", "size"))
    neg = w < -1e-12
    if neg.any():
        warnings.warn(
            f"TWFE implicit weights are negative for {int(neg.sum())} of {int(tr.sum())} treated observations"
            f" (sum {w[neg].sum():.3f}): with heterogeneous or dynamic effects the TWFE coefficient can be"
            " misleading; prefer att_gt() or imputation()", EstimationWarning, stacklevel=2,
        )
    wild = None
    if wild_bootstrap:
        wild = wild_cluster_bootstrap(des.y, des.X, df[cluster].to_numpy(), 0, weights=weights, reps=reps,
                                      seed=seed, alpha=alpha)
    settings = {"outcome": outcome, "unit": unit, "time": time, "treatment": treatment, "covariates": covariates,
                    "cluster": cluster, "alpha": alpha, "vcov": "CR1 (fixest default ssc: nested unit FE counts 1 in K), t(G-1)"}
    return TwfeResult(estimate=est, std_error=se, ci_lower=est - q * se, ci_upper=est + q * se, p_value=p,
                      n_obs=len(df), n_units=des.n_units, n_clusters=G, weights_table=wtab,
                      n_negative_weights=int(neg.sum()), sum_negative_weights=float(w[neg].sum()), wild=wild,
                      settings=settings)


@dataclass(frozen=True, repr=False)
class DidRegressionResult(ResultMixin, RegressionResultsMixin):
    """Classic two-group, two-period regression DiD (immutable); ``params`` has every coefficient."""

    def _coef_frame(self) -> pd.DataFrame:
        return self.table.set_index("term")[COEF_COLUMNS]

    def _nobs(self) -> int:
        return self.n_obs

    table: pd.DataFrame
    n_obs: int
    vcov: str
    term: str

    @property
    def estimate(self) -> float:
        return float(self.table.loc[self.table.term == self.term, "estimate"].iloc[0])

    @property
    def std_error(self) -> float:
        return float(self.table.loc[self.table.term == self.term, "std_error"].iloc[0])

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        return Summary(title="Regression difference-in-differences",
                       lines=(("DiD term", self.term), ("variance", self.vcov), ("observations", str(self.n_obs))),
                       tables=(("coefficients", self.table.round(4)),))

    def to_dict(self) -> dict[str, Any]:
        return {"estimator": "did_2x2", "vcov": self.vcov, "n_obs": self.n_obs,
                "coefficients": self.table.to_dict(orient="records")}

    def plot(self) -> Any:
        from plotnine import aes, coord_flip, geom_errorbar, geom_point, ggplot, labs

        from evaltool.plotting import theme_evaltool

        return (ggplot(self.table, aes("term", "estimate")) + geom_errorbar(aes(ymin="ci_lower", ymax="ci_upper"))
                + geom_point() + coord_flip() + labs(x="", y="Coefficient") + theme_evaltool())


def did_2x2(
    data: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    *,
    covariates: list[str] | None = None,
    vcov: Literal["iid", "hc1", "cluster"] = "iid",
    cluster: str | None = None,
    alpha: float = 0.05,
) -> DidRegressionResult:
    """Regression DiD ``outcome ~ 1 + post + treated + post:treated (+ covariates)``.

    Examples
    --------
    >>> d = pd.DataFrame({"y": [1., 2., 3., 6.], "tr": [0, 0, 1, 1], "po": [0, 1, 0, 1]})
    >>> did_2x2(d, "y", "tr", "po").estimate
    2.0
    """
    covariates = list(covariates or [])
    _check_cols(data, [outcome, treated, post] + covariates + ([cluster] if cluster else []))
    y = data[outcome].to_numpy(dtype=float)
    tr = data[treated].to_numpy(dtype=float)
    po = data[post].to_numpy(dtype=float)
    term = f"{post}:{treated}"
    X = np.column_stack([np.ones(len(y)), po, tr, po * tr] + [data[c].to_numpy(dtype=float) for c in covariates])
    names = ["intercept", post, treated, term] + covariates
    fit = ols(y, X, vcov=vcov, clusters=data[cluster].to_numpy() if cluster else None)
    se = fit.std_error
    q = float(dist.t_ppf(1 - alpha / 2, fit.df_resid))
    tab = pd.DataFrame({"term": names, "estimate": fit.coef, "std_error": se, "ci_lower": fit.coef - q * se,
                        "ci_upper": fit.coef + q * se,
                        "p_value": 2 * dist.t_sf(np.abs(fit.coef / se), fit.df_resid)})
    return DidRegressionResult(table=tab, n_obs=len(y), vcov=vcov, term=term)
