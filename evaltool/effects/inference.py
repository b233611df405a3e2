"""Inference for effect estimates: cluster-robust variances and bootstraps for few clusters.

Conventions (documented once, used everywhere in :mod:`evaltool.effects`):

* **Cluster-robust variance (CR1, fixest convention).**
  ``V = c * (X'X)^-1 (sum_g X_g' u_g u_g' X_g) (X'X)^-1`` with
  ``c = G/(G-1) * (n-1)/(n-K)``, where ``K`` counts only the parameters *not nested*
  in the clusters. Fixed effects nested in the clusters (unit effects when units are
  clustered on themselves or on a coarser id) cost no degrees of freedom: this is
  fixest's / pyfixest's default (``ssc(adj=TRUE, fixef.K="nested", cluster.adj=TRUE)``)
  and reproduces the published Card & Krueger (1994) DiD standard error (2.75, SE 1.34).
  linearmodels and statsmodels with unit dummies come out larger by about
  ``sqrt(T/(T-1))``. Inference with the CR1 variance uses t(G-1) critical values.
* **Wild cluster bootstrap** (:func:`wild_cluster_bootstrap`): restricted (WCR, the
  default: the null is imposed when generating bootstrap samples, which is what keeps
  rejection rates honest with 10-50 clusters, MacKinnon & Webb 2017) or unrestricted
  (WCU); Rademacher or Webb six-point weights drawn per cluster from
  ``numpy.random.default_rng(seed)``; bootstrap-t statistics with the same CR1 variance;
  symmetric p-values ``P(|t*| >= |t|)``; confidence intervals by inverting the
  restricted test (bisection on the null value, same draws for every null).
* **Multiplier bootstrap** (:func:`multiplier_bootstrap`) on influence functions, as in
  Callaway & Sant'Anna (2021, Algorithm 1): per-cluster sums of the influence function
  multiplied by Rademacher (or Webb) weights; standard errors from the bootstrap
  interquartile range (as R's did) and a uniform (sup-t) critical value for simultaneous
  bands.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool._result import ResultMixin, Summary
from evaltool.errors import EstimationError

WeightType = Literal["rademacher", "webb"]

_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def draw_weights(rng: np.random.Generator, n: int, reps: int, kind: WeightType = "rademacher") -> np.ndarray:
    """Draw an ``(n, reps)`` matrix of bootstrap weights (mean 0, variance 1).

    Examples
    --------
    >>> w = draw_weights(np.random.default_rng(1), 3, 4, "webb")
    >>> w.shape
    (3, 4)
    """
    if kind == "rademacher":
        return rng.integers(0, 2, size=(n, reps)).astype(float) * 2.0 - 1.0
    if kind == "webb":
        return _WEBB[rng.integers(0, 6, size=(n, reps))]
    raise EstimationError(f"`weights` must be 'rademacher' or 'webb', found {kind!r}")


def cluster_codes(clusters: Any) -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 for a cluster vector, and G."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(clusters)), sort=True)
    if (codes < 0).any():
        raise EstimationError("cluster variable has missing values; every row needs a cluster id")
    return codes.astype(np.int64), len(uniques)


def cluster_sums(values: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum rows of ``values`` (n, ...) within clusters -> (G, ...)."""
    values = np.asarray(values, dtype=float)
    out = np.zeros((n_clusters,) + values.shape[1:])
    np.add.at(out, codes, values)
    return out


@dataclass(frozen=True)
class OLSFit:
    """A least-squares fit with its variance (internal building block)."""

    coef: np.ndarray
    vcov: np.ndarray
    resid: np.ndarray
    n: int
    k: int
    n_clusters: int | None
    df_resid: float
    vcov_type: str

    @property
    def std_error(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))


def ols(
    y: np.ndarray,
    X: np.ndarray,
    *,
    vcov: Literal["iid", "hc1", "cluster"] = "iid",
    clusters: Any = None,
    k_nested: int = 0,
    k_absorbed: int = 0,
) -> OLSFit:
    """Ordinary least squares with iid, HC1 or CR1 (fixest convention) variance.

    Parameters
    ----------
    y, X:
        Outcome (n,) and full design matrix (n, k) including any fixed-effect dummies.
    vcov:
        ``"iid"`` (classical), ``"hc1"`` or ``"cluster"`` (CR1).
    clusters:
        Cluster ids (n,), required for ``vcov="cluster"``.
    k_nested:
        Number of columns of ``X`` that are fixed effects nested in the clusters; they
        are not counted in the small-sample factor's ``K`` (see module docstring).
    k_absorbed:
        Parameters absorbed before the fit (``X`` demeaned) that count in ``K``. fixest's default
        ``ssc(adj = TRUE, fixef.K = "nested", cluster.adj = TRUE)`` counts a fixed effect nested in the
        clusters as one parameter, so a unit-demeaned design passes 1.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0, 1, 2, 3]])
    >>> fit = ols(np.array([1.0, 3.0, 5.0, 7.0]), X)
    >>> np.round(fit.coef, 6).tolist()
    [1.0, 2.0]
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    n, k = X.shape
    XtX = X.T @ X
    try:
        XtX_inv = np.linalg.inv(XtX)
    except np.linalg.LinAlgError as exc:
        raise EstimationError(f"design matrix is singular ({k} columns, {n} rows): collinear regressors") from exc
    if np.linalg.matrix_rank(XtX) < k:
        raise EstimationError(f"design matrix is rank deficient ({k} columns, rank {np.linalg.matrix_rank(XtX)})")
    coef = XtX_inv @ (X.T @ y)
    resid = y - X @ coef
    G = None
    if vcov == "iid":
        s2 = resid @ resid / (n - k)
        V = s2 * XtX_inv
        df = n - k
    elif vcov == "hc1":
        meat = (X * resid[:, None] ** 2).T @ X
        V = n / (n - k) * XtX_inv @ meat @ XtX_inv
        df = n - k
    elif vcov == "cluster":
        if clusters is None:
            raise EstimationError("`clusters` is required when vcov='cluster'")
        codes, G = cluster_codes(clusters)
        if G < 2:
            raise EstimationError(f"cluster-robust variance needs at least 2 clusters, found {G}")
        scores = cluster_sums(X * resid[:, None], codes, G)
        meat = scores.T @ scores
        k_eff = k - k_nested + k_absorbed
        c = G / (G - 1) * (n - 1) / (n - k_eff)
        V = c * XtX_inv @ meat @ XtX_inv
        df = G - 1
    else:
        raise EstimationError(f"`vcov` must be 'iid', 'hc1' or 'cluster', found {vcov!r}")
    return OLSFit(coef=coef, vcov=V, resid=resid, n=n, k=k, n_clusters=G, df_resid=df, vcov_type=vcov)


@dataclass(frozen=True, repr=False)
class WildBootstrapResult(ResultMixin):
    """Wild cluster bootstrap test and confidence interval for one coefficient (immutable)."""

    estimate: float
    std_error: float
    t_stat: float
    p_value: float
    ci_lower: float
    ci_upper: float
    n_clusters: int
    reps: int
    weights: str
    restricted: bool
    null: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in self.__dict__.items()}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])

    def summary(self) -> Summary:
        kind = "restricted (null imposed)" if self.restricted else "unrestricted"
        return Summary(title="Wild cluster bootstrap", lines=(
            ("estimate", f"{self.estimate:.4f} (CR1 SE {self.std_error:.4f})"),
            (f"p-value (H0: coefficient = {self.null:g})", f"{self.p_value:.4f}"),
            ("95% CI (test inversion)" if self.restricted else "95% CI (bootstrap-t)",
             f"{self.ci_lower:.4f} to {self.ci_upper:.4f}"),
            ("bootstrap", f"{kind}, {self.weights} weights, {self.reps} reps, {self.n_clusters} clusters"),
        ))

    def plot(self) -> Any:
        from plotnine import aes, coord_flip, geom_errorbar, geom_hline, geom_point, ggplot, labs

        from evaltool.plotting import theme_evaltool

        d = self.to_frame().assign(term="estimate")
        return (ggplot(d, aes("term", "estimate")) + geom_hline(yintercept=self.null, linetype="dashed")
                + geom_errorbar(aes(ymin="ci_lower", ymax="ci_upper"), width=0.2) + geom_point() + coord_flip()
                + labs(x="", y="Estimate (wild cluster bootstrap 95% CI)") + theme_evaltool())


class _WCRCore:
    """Precomputed pieces of a linear model for fast wild cluster bootstrap draws."""

    def __init__(self, y: np.ndarray, X: np.ndarray, col: int, codes: np.ndarray, G: int, k_nested: int):
        self.y, self.X, self.col, self.codes, self.G = y, X, col, codes, G
        n, k = X.shape
        self.XtX_inv = np.linalg.inv(X.T @ X)
        self.a = (self.XtX_inv @ X.T)[col]  # beta_col = a @ y
        self.c = G / (G - 1) * (n - 1) / (n - (k - k_nested))
        self.xk = X[:, col]
        self.Xr = np.delete(X, col, axis=1)
        self.Xr_pinv = np.linalg.pinv(self.Xr)

    def se_of(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficient and CR1 SE for each column of Y (n, B)."""
        beta = self.a @ Y
        E = Y - self.X @ (self.XtX_inv @ (self.X.T @ Y))
        S = cluster_sums(self.a[:, None] * E, self.codes, self.G)
        return beta, np.sqrt(self.c * (S**2).sum(axis=0))

    def tstats(self, beta0: float, V: np.ndarray, restricted: bool) -> tuple[float, np.ndarray]:
        """Observed t and bootstrap t* under null beta_col = beta0."""
        b_hat, se_hat = self.se_of(self.y[:, None])
        t_obs = float((b_hat[0] - beta0) / se_hat[0])
        if restricted:
            yt = self.y - beta0 * self.xk
            br = self.Xr_pinv @ yt
            fit = self.Xr @ br + beta0 * self.xk
            u = yt - self.Xr @ br
            center = beta0
        else:
            fit = self.X @ (self.XtX_inv @ (self.X.T @ self.y))
            u = self.y - fit
            center = float(b_hat[0])
        Ystar = fit[:, None] + V[self.codes] * u[:, None]
        bs, ses = self.se_of(Ystar)
        with np.errstate(divide="ignore", invalid="ignore"):
            tstar = (bs - center) / ses
        return t_obs, tstar


def wild_cluster_bootstrap(
    y: np.ndarray,
    X: np.ndarray,
    clusters: Any,
    column: int,
    *,
    weights: WeightType = "webb",
    reps: int = 999,
    seed: int | None = None,
    null: float = 0.0,
    restricted: bool = True,
    alpha: float = 0.05,
    ci: bool = True,
    k_nested: int = 0,
) -> WildBootstrapResult:
    """Wild cluster bootstrap-t test (and CI) for coefficient ``column`` of ``y ~ X``.

    ``X`` is the full dense design (fixed-effect dummies included), so time effects that
    cut across clusters are handled exactly. The restricted bootstrap (default) imposes
    ``beta[column] = null`` when generating samples; the CI inverts that test (the set of
    nulls not rejected at ``alpha``), found by bisection with the same weight draws.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(20), 10)
    >>> x = (g < 10).astype(float) * rng.integers(0, 2, 200)
    >>> y = 0.5 * x + rng.normal(size=20)[g] + rng.normal(size=200)
    >>> res = wild_cluster_bootstrap(y, np.column_stack([np.ones(200), x]), g, 1, seed=1)
    >>> 0 <= res.p_value <= 1
    True
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    codes, G = cluster_codes(clusters)
    if G < 2:
        raise EstimationError(f"wild cluster bootstrap needs at least 2 clusters, found {G}")
    rng = np.random.default_rng(seed)
    V = draw_weights(rng, G, reps, weights)
    core = _WCRCore(y, X, column, codes, G, k_nested)
    b_hat, se_hat = core.se_of(y[:, None])
    est, se = float(b_hat[0]), float(se_hat[0])

    def pval(beta0: float) -> float:
        t_obs, tstar = core.tstats(beta0, V, restricted)
        return float(np.mean(np.abs(tstar) >= abs(t_obs)))

    p = pval(null)
    lo = hi = float("nan")
    if ci and np.isfinite(se) and se > 0:
        if restricted:
            lo = _invert(pval, est, -se, alpha)
            hi = _invert(pval, est, se, alpha)
        else:
            _, tstar = core.tstats(est, V, False)
            q = float(np.quantile(np.abs(tstar[np.isfinite(tstar)]), 1 - alpha))
            lo, hi = est - q * se, est + q * se
    return WildBootstrapResult(
        estimate=est, std_error=se, t_stat=(est - null) / se if se > 0 else float("nan"), p_value=p,
        ci_lower=lo, ci_upper=hi, n_clusters=G, reps=reps, weights=weights, restricted=restricted, null=null,
    )


def _invert(pval: Any, est: float, step: float, alpha: float, tol: float = 1e-3) -> float:
    """Bisection for the null value where the bootstrap p-value crosses ``alpha``."""
    inner = est
    outer = est + 2.0 * step
    k = 0
    while pval(outer) > alpha and k < 30:  # widen until rejected
        inner = outer
        outer = est + (outer - est) * 2.0
        k += 1
    for _ in range(60):
        mid = 0.5 * (inner + outer)
        if pval(mid) > alpha:
            inner = mid
        else:
            outer = mid
        if abs(outer - inner) < tol * abs(step):
            break
    return 0.5 * (inner + outer)


@dataclass(frozen=True)
class MultiplierBootstrap:
    """Output of :func:`multiplier_bootstrap`."""

    std_error: np.ndarray
    crit_value: float
    draws: np.ndarray  # (reps, k) bootstrap draws of the estimate minus estimate


def multiplier_bootstrap(
    inffunc: np.ndarray,
    *,
    clusters: Any = None,
    reps: int = 999,
    seed: int | None = None,
    alpha: float = 0.05,
    weights: WeightType = "rademacher",
) -> MultiplierBootstrap:
    """Multiplier bootstrap of asymptotically linear estimators (Callaway & Sant'Anna 2021).

    ``inffunc`` is (n, k): estimate_j - truth_j ~ mean_i inffunc[i, j]. Units are
    perturbed by cluster (cluster sums of the influence function times one weight per
    cluster). Standard errors come from the bootstrap IQR / (z_.75 - z_.25), as in R's
    did; ``crit_value`` is the 1 - alpha quantile of ``max_j |draw_j / se_j|`` (uniform band).

    Examples
    --------
    >>> inf = np.random.default_rng(0).normal(size=(500, 2))
    >>> mb = multiplier_bootstrap(inf, seed=1)
    >>> bool(abs(mb.std_error[0] - 1 / np.sqrt(500)) < 0.01)
    True
    """
    inffunc = np.asarray(inffunc, dtype=float)
    if inffunc.ndim == 1:
        inffunc = inffunc[:, None]
    n = inffunc.shape[0]
    if clusters is None:
        S, G = inffunc, n
    else:
        codes, G = cluster_codes(clusters)
        S = cluster_sums(inffunc, codes, G)
    rng = np.random.default_rng(seed)
    # Draw in blocks to bound memory with many units.
    draws = np.empty((reps, inffunc.shape[1]))
    block = max(1, int(2e7 // max(G, 1)))
    for start in range(0, reps, block):
        stop = min(reps, start + block)
        V = draw_weights(rng, G, stop - start, weights)
        draws[start:stop] = (V.T @ S) / n
    q75, q25 = np.quantile(draws, [0.75, 0.25], axis=0, method="inverted_cdf")
    se = (q75 - q25) / (dist.norm_ppf(0.75) - dist.norm_ppf(0.25))
    ok = np.isfinite(se) & (se > np.sqrt(np.finfo(float).eps) * 10 / np.sqrt(n))
    se = np.where(ok, se, np.nan)
    if ok.any():
        tmax = np.max(np.abs(draws[:, ok] / se[ok]), axis=1)
        crit = float(np.quantile(tmax, 1 - alpha, method="inverted_cdf"))
    else:
        crit = float("nan")
    return MultiplierBootstrap(std_error=se, crit_value=crit, draws=draws)


def analytic_se(inffunc: np.ndarray, clusters: Any = None) -> np.ndarray:
    """Standard errors from influence functions: sqrt(sum_i IF_i^2)/n, or cluster sums.

    With clusters: ``sqrt(sum_g (sum_{i in g} IF_i)^2) / n`` (R did >= 2.2 convention,
    no small-sample factor).
    """
    inffunc = np.asarray(inffunc, dtype=float)
    if inffunc.ndim == 1:
        inffunc = inffunc[:, None]
    n = inffunc.shape[0]
    if clusters is None:
        return np.sqrt((inffunc**2).sum(axis=0)) / n
    codes, G = cluster_codes(clusters)
    S = cluster_sums(inffunc, codes, G)
    return np.sqrt((S**2).sum(axis=0)) / n


def analytic_vcov(inffunc: np.ndarray, clusters: Any = None) -> np.ndarray:
    """Variance matrix of the estimates from influence functions (see :func:`analytic_se`)."""
    inffunc = np.asarray(inffunc, dtype=float)
    n = inffunc.shape[0]
    if clusters is None:
        return inffunc.T @ inffunc / n**2
    codes, G = cluster_codes(clusters)
    S = cluster_sums(inffunc, codes, G)
    return S.T @ S / n**2
