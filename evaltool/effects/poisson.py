"""Fast fixed-effects Poisson and linear fits with one absorbed unit effect.

The engine behind :func:`evaltool.effects.matched.matched_did` and ``benchmarks/did``.

Poisson with unit fixed effects
-------------------------------
For a Poisson model ``E[y_it] = e_it * exp(alpha_i + x_it' theta)`` the score for
``alpha_i`` gives the unit effect in closed form given ``theta``::

    alpha_i = log(sum_t y_it / sum_t e_it exp(x_it' theta))

so ``mu_it = Y_i * pi_it`` with ``pi_it = e_it exp(x_it' theta) / sum_s e_is exp(x_is' theta)``.
We maximise the concentrated (multinomial) log-likelihood by Newton's method. Its
Hessian is ``X~' W X~`` where ``X~`` is ``X`` demeaned within unit with weights
``w * mu`` (the Frisch-Waugh-Lovell form fixest uses), so the sandwich below is the
same one fixest/pyfixest report with the unit effect absorbed. Other fixed effects
(periods, period x subgroup) enter ``X`` as dummy columns: they are few.

Units whose outcome is zero throughout (``Y_i = 0``) carry no information about
``theta`` (their ``alpha_i`` is ``-inf``); like fixest we drop them, which also
changes ``N`` and ``G`` in the small-sample factor.

Standard errors (the fixest convention, checked against pyfixest 0.60)
----------------------------------------------------------------------
``vcov = c * H^-1 (sum_g s_g s_g') H^-1`` with ``s_g`` the cluster sum of the scores
``w (y - mu) x~``, and, as fixest's default ``ssc(adj = TRUE, fixef.K = "nested",
cluster.adj = TRUE)`` and pyfixest's ``get_ssc``::

    c = G / (G - 1) * (N - 1) / (N - K)

where ``N`` counts observations after dropping all-zero units, ``G`` the clusters
left, and ``K = k + 1`` when the unit effect is nested in the clusters (``k`` = columns
of ``X``, i.e. coefficients plus non-nested fixed-effect dummies, the nested effect
counting once), else ``K = k + n_units``. Without clusters (heteroskedasticity-robust)
``c = N / (N - K)`` with ``K = k + n_units``. This equals pyfixest's ``K = k + sum(levels) - (n_fe - 1)
- nested + n_nested`` for unit + period effects (tested to 1e-6). When period effects are
interacted with subgroups, ``X`` holds only the free dummies (one reference per subgroup level),
so our ``K`` is one smaller per extra level than pyfixest's one-reference-per-effect rule (a
relative SE difference of about ``1 / (2N)``; tested). Plain cluster-robust SEs are
anti-conservative with few clusters: see the wild cluster bootstrap in
``evaltool.effects.inference``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> unit = np.repeat(np.arange(200), 4)
>>> x = rng.normal(size=(800, 1))
>>> y = rng.poisson(np.exp(0.3 * x[:, 0] + rng.normal(size=200)[unit]))
>>> fit = fepois(y, x, unit, cluster=unit)
>>> bool(abs(fit.coef[0] - 0.3) < 0.15)
True
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaltool.errors import EstimationError, EstimationWarning

__all__ = ["FEFit", "feols_fe", "fepois", "group_sums", "small_sample_factor"]


@dataclass(frozen=True)
class FEFit:
    """A fitted fixed-effects model (coefficients of ``X``; the unit effect absorbed).

    Attributes
    ----------
    coef, vcov:
        Estimates and their (cluster-)robust covariance (small-sample factor applied).
    names:
        Column names of ``X``.
    n_obs, n_units, n_clusters:
        ``N``, units and ``G`` used (after dropping all-zero units for Poisson).
    df_k:
        ``K`` in the small-sample factor.
    ssc:
        The small-sample factor applied.
    iterations, converged, loglik:
        Newton iterations, convergence flag and log-likelihood (up to a constant).
    mu:
        Fitted means for every input row (0 for dropped units).
    """

    coef: np.ndarray
    vcov: np.ndarray
    names: tuple[str, ...]
    n_obs: int
    n_units: int
    n_clusters: int
    df_k: int
    ssc: float
    iterations: int
    converged: bool
    loglik: float
    mu: np.ndarray

    def std_error(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.vcov), 0.0, None))

    def index(self, name: str) -> int:
        return self.names.index(name)


def group_sums(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Column-wise sums of ``values`` (n x p or n) within integer ``codes`` (0..n_groups-1)."""
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=n_groups)
    # One pass of a sparse indicator product beats a strided bincount per column.
    from scipy import sparse

    n = len(codes)
    S = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))
    return np.asarray(S @ values)


def small_sample_factor(n_obs: int, df_k: int, n_clusters: int | None) -> float:
    """fixest's default small-sample factor: ``G/(G-1) * (N-1)/(N-K)`` (clustered) or ``N/(N-K)``.

    Examples
    --------
    >>> round(small_sample_factor(1000, 11, 50), 6)
    1.030726
    """
    if n_obs <= df_k:
        raise EstimationError(f"too few observations: N = {n_obs} but K = {df_k} parameters")
    if n_clusters is None:
        return n_obs / (n_obs - df_k)
    if n_clusters < 2:
        raise EstimationError(
            f"cluster-robust standard errors need at least 2 clusters; found {n_clusters}. "
            "Choose another `cluster` (e.g. 'subclass') or cluster=None for robust SEs."
        )
    return n_clusters / (n_clusters - 1) * (n_obs - 1) / (n_obs - df_k)


def _codes(a: np.ndarray) -> tuple[np.ndarray, int]:
    import pandas as pd

    codes, uniq = pd.factorize(np.asarray(a), sort=True)  # hashing: no O(n log n) sort of the rows
    return codes.astype(np.int64), len(uniq)


def _nested(unit: np.ndarray, cluster: np.ndarray) -> bool:
    """True when every unit lies within one cluster (unit and cluster given as 0-based codes)."""
    first = np.full(int(unit.max()) + 1, -1, dtype=np.int64)
    first[unit[::-1]] = cluster[::-1]
    return bool(np.all(first[unit] == cluster))


def _check_x(X: np.ndarray, names: Sequence[str], H: np.ndarray) -> None:
    # A column constant within every unit (e.g. `treated`) is absorbed by the unit effect.
    d = np.diag(H)
    bad = [names[j] for j in range(len(d)) if d[j] <= 1e-12 * max(1.0, d.max())]
    if bad:
        raise EstimationError(
            f"columns {bad} are constant within every unit (absorbed by the unit fixed effect) "
            "or have no variation where the outcome is observed; drop them."
        )
    rank = np.linalg.matrix_rank(H)
    if rank < H.shape[0]:
        raise EstimationError(
            f"the design is rank deficient (rank {rank} < {H.shape[0]} columns {list(names)}): "
            "some regressors are perfectly collinear (e.g. a subgroup level with no treated or "
            "no comparison units, or two identical subgroup columns)."
        )


def _as_design(y, X, names, weights) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray]:
    """Float arrays, a 2-D design, default column names and unit weights (shared by the fitters)."""
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(X.shape[1]))
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    return y, X, names, w


def _vcov(
    H: np.ndarray,
    scores: np.ndarray,
    cluster: np.ndarray | None,
    n_obs: int,
    df_k: int,
    n_clusters: int | None,
) -> tuple[np.ndarray, float]:
    try:
        Hinv = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        # Reached when the fit converged but the information matrix is singular in floating point
        # (e.g. an event-study month or subgroup cell with no events for a rare outcome).
        raise EstimationError(
            "the information matrix is singular: some coefficients are not identified (e.g. an event-study "
            "month or subgroup with no events); use fewer periods or subgroups for this outcome"
        ) from None
    if cluster is None:
        meat = scores.T @ scores
    else:
        ccodes, g = _codes(cluster)
        sg = group_sums(ccodes, scores, g)
        meat = sg.T @ sg
    c = small_sample_factor(n_obs, df_k, n_clusters)
    V = c * Hinv @ meat @ Hinv
    return (V + V.T) / 2, c


def poisson_inputs(y: np.ndarray, w: np.ndarray, exposure: np.ndarray | None, unit: np.ndarray, n: int):
    """Checked exposure, unit codes, their number and the weighted unit totals of ``y``."""
    e = np.ones(n) if exposure is None else np.asarray(exposure, dtype=float)
    if len(y) != n or len(e) != n or len(w) != n or len(unit) != n:
        raise EstimationError("`y`, `X`, `unit`, `exposure` and `weights` must have the same length")
    if np.any(e <= 0) or not np.all(np.isfinite(e)):
        raise EstimationError(f"`exposure` must be positive and finite; found {int(np.sum(~(e > 0)))} rows <= 0")
    if np.any(y < 0) or not np.all(np.isfinite(y)):
        raise EstimationError("`y` must be non-negative and finite for a Poisson model")
    ucodes, n_units_all = _codes(unit)
    return e, ucodes, n_units_all, np.bincount(ucodes, weights=w * y, minlength=n_units_all)


def newton(theta: np.ndarray, state, hess_grad, names, tol: float, maxiter: int):
    """Newton's method with step halving on the concentrated Poisson log-likelihood.

    ``state(theta) -> (mu, loglik)``; ``hess_grad(mu) -> (H, g)``. Returns
    ``theta, mu, loglik, iterations, converged`` (warns when not converged).
    """
    mu, ll = state(theta)
    converged, it, step = False, 0, np.zeros(len(theta))
    for it in range(1, maxiter + 1):
        H, g = hess_grad(mu)
        if it == 1:
            _check_x(None, names, H)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError as err:
            raise EstimationError(
                f"the Poisson Hessian became singular at iteration {it} (separation: some regressor's "
                "rows have no events); drop sparse subgroup levels or periods"
            ) from err
        # Step halving keeps Newton monotone on the concave concentrated likelihood.
        t = 1.0
        for _ in range(30):
            mu_new, ll_new = state(theta + t * step)
            if ll_new >= ll - 1e-10 * abs(ll):
                break
            t /= 2
        theta = theta + t * step
        mu, ll = mu_new, ll_new
        if np.max(np.abs(t * step)) < tol:
            converged = True
            break
    if not converged:
        import warnings

        warnings.warn(
            f"Poisson fit did not converge in {maxiter} iterations (last step {np.max(np.abs(step)):.2e})",
            EstimationWarning,
            stacklevel=3,
        )
    return theta, mu, ll, it, converged


def fepois(
    y: np.ndarray,
    X: np.ndarray,
    unit: np.ndarray,
    *,
    exposure: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    n_obs: int | None = None,
    n_clusters: int | None = None,
    tol: float = 1e-12,
    maxiter: int = 100,
) -> FEFit:
    """Poisson regression with an absorbed unit fixed effect and a log-exposure offset.

    Parameters
    ----------
    y:
        Counts (or non-negative totals: pseudo-Poisson), length n.
    X:
        Regressors (n x k), excluding the unit effect; add other fixed effects as dummies. A
        :class:`~evaltool.effects.coded.CodedDesign` (distinct rows + codes, optional dense columns)
        fits the same model without forming the dense matrix.
    unit:
        Unit identifiers (any hashable codes), length n.
    exposure:
        Person-time (the offset is ``log(exposure)``); must be > 0. Default 1.
    weights:
        Observation weights, constant within unit (e.g. matching weights).
    cluster:
        Cluster identifiers for cluster-robust SEs; ``None`` gives heteroskedasticity-robust SEs.
    n_obs, n_clusters:
        ``N`` and ``G`` for the small-sample factor when rows are compressed cells
        standing for more observations (see :mod:`evaltool.effects.compress`).
    tol, maxiter:
        Newton convergence tolerance (max absolute step) and iteration cap.

    Returns
    -------
    FEFit

    Examples
    --------
    >>> import numpy as np
    >>> unit = np.repeat(np.arange(3), 2)
    >>> post = np.tile([0.0, 1.0], 3)[:, None]
    >>> fit = fepois(np.array([2, 4, 1, 2, 3, 6]), post, unit, cluster=unit)
    >>> round(float(np.exp(fit.coef[0])), 6)
    2.0
    """
    from evaltool.effects.coded import CodedDesign, fepois_coded

    if isinstance(X, CodedDesign):
        # Indicator designs with few distinct rows: never form the dense n x k matrix.
        return fepois_coded(y, X, unit, exposure=exposure, weights=weights, cluster=cluster, names=names,
                            n_obs=n_obs, n_clusters=n_clusters, tol=tol, maxiter=maxiter)
    y, X, names, w = _as_design(y, X, names, weights)
    n, k = X.shape
    e, ucodes, n_units_all, Y = poisson_inputs(y, w, exposure, unit, n)
    keep_u = Y > 0
    if not keep_u.any():
        raise EstimationError("the outcome is zero for every unit: nothing to estimate")
    keep = keep_u[ucodes]
    dropped_units = int((~keep_u).sum())
    if dropped_units:
        # Re-code the kept units so sums stay dense.
        ucodes, n_units = _codes(ucodes[keep])
        y_, X_, e_, w_ = y[keep], X[keep], e[keep], w[keep]
        cl_ = None if cluster is None else np.asarray(cluster)[keep]
        Y = Y[keep_u]
    else:
        n_units = n_units_all
        y_, X_, e_, w_ = y, X, e, w
        cl_ = None if cluster is None else np.asarray(cluster)
    loge = np.log(e_)
    theta = np.zeros(k)

    def state(th: np.ndarray) -> tuple[np.ndarray, float]:
        eta = X_ @ th + loge
        # Subtract the unit max for numerical stability; it cancels in pi.
        umax = np.full(n_units, -np.inf)
        np.maximum.at(umax, ucodes, eta)
        m = np.exp(eta - umax[ucodes])
        S = np.bincount(ucodes, weights=m, minlength=n_units)
        mu = Y[ucodes] * m / S[ucodes] / w_  # per-observation mean (Y is the weighted unit total)
        pos = y_ > 0
        ll = float(np.sum(w_[pos] * y_[pos] * np.log(mu[pos])) - np.sum(w_ * mu))
        return mu, ll

    def hess_grad(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wm = w_ * mu
        sw = np.bincount(ucodes, weights=wm, minlength=n_units)
        xbar = group_sums(ucodes, X_ * wm[:, None], n_units) / sw[:, None]
        Xt = X_ - xbar[ucodes]
        return (Xt * wm[:, None]).T @ Xt, X_.T @ (w_ * (y_ - mu))

    theta, mu, ll, it, converged = newton(theta, state, hess_grad, names, tol, maxiter)
    # Final bread and scores at the solution.
    wm = w_ * mu
    sw = np.bincount(ucodes, weights=wm, minlength=n_units)
    xbar = group_sums(ucodes, X_ * wm[:, None], n_units) / sw[:, None]
    Xt = X_ - xbar[ucodes]
    H = (Xt * wm[:, None]).T @ Xt
    scores = Xt * (w_ * (y_ - mu))[:, None]
    N = int(n_obs) if n_obs is not None else len(y_)
    if cl_ is None:
        df_k = k + n_units
        G = None
    else:
        df_k = k + 1 if _nested(ucodes, _codes(cl_)[0]) else k + n_units
        G = int(n_clusters) if n_clusters is not None else len(np.unique(cl_))
    V, c = _vcov(H, scores, cl_, N, df_k, G)
    mu_full = np.zeros(n)
    mu_full[keep] = mu
    return FEFit(
        coef=theta, vcov=V, names=names, n_obs=N, n_units=n_units,
        n_clusters=0 if G is None else G, df_k=df_k, ssc=c, iterations=it,
        converged=converged, loglik=ll, mu=mu_full,
    )


def feols_fe(
    y: np.ndarray,
    X: np.ndarray,
    unit: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    n_obs: int | None = None,
    n_clusters: int | None = None,
) -> FEFit:
    """Weighted least squares with an absorbed unit fixed effect (within transformation).

    Same small-sample convention as :func:`fepois` (fixest's default). ``n_obs`` and
    ``n_clusters`` override ``N`` and ``G`` when rows are cell means standing for more
    observations (weights = people per cell, balanced cells: exact).

    Examples
    --------
    >>> import numpy as np
    >>> unit = np.repeat(np.arange(3), 2)
    >>> post = np.tile([0.0, 1.0], 3)[:, None]
    >>> fit = feols_fe(np.array([1.0, 3, 2, 4, 0, 2]), post, unit, cluster=unit)
    >>> round(float(fit.coef[0]), 6)
    2.0
    """
    y, X, names, w = _as_design(y, X, names, weights)
    n, k = X.shape
    ucodes, n_units = _codes(unit)
    sw = np.bincount(ucodes, weights=w, minlength=n_units)
    Xt = X - (group_sums(ucodes, X * w[:, None], n_units) / sw[:, None])[ucodes]
    yt = y - (np.bincount(ucodes, weights=w * y, minlength=n_units) / sw)[ucodes]
    H = (Xt * w[:, None]).T @ Xt
    _check_x(X, names, H)
    coef = np.linalg.solve(H, (Xt * w[:, None]).T @ yt)
    resid = yt - Xt @ coef
    scores = Xt * (w * resid)[:, None]
    if cluster is None:
        df_k, G = k + n_units, None
    else:
        cl = np.asarray(cluster)
        df_k = k + 1 if _nested(ucodes, _codes(cl)[0]) else k + n_units
        G = int(n_clusters) if n_clusters is not None else len(np.unique(cl))
    N = int(n_obs) if n_obs is not None else n
    V, c = _vcov(H, scores, None if cluster is None else np.asarray(cluster), N, df_k, G)
    return FEFit(
        coef=coef, vcov=V, names=names, n_obs=N, n_units=n_units, n_clusters=0 if G is None else G,
        df_k=df_k, ssc=c, iterations=1, converged=True, loglik=float("nan"), mu=y - resid,
    )
