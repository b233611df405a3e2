"""Designs with few distinct rows, kept as codes: ``X = [D[codes], Z]``.

DiD designs are mostly indicators of (period, subgroup level, arm): a panel of millions of rows has
at most a few hundred distinct design rows. :class:`CodedDesign` stores the row code and the small
matrix ``D`` of distinct rows (plus optional dense columns ``Z``, e.g. a continuous time-varying
covariate), and :func:`fepois_coded` fits the Poisson model with an absorbed unit effect without
ever forming the dense ``n x k`` matrix: the Hessian of the concentrated likelihood is

    H = D' (diag(W_g) - M' diag(1/s) M) D        (+ the Z blocks)

with ``W_g`` the fitted weights summed per distinct row, ``M`` the (unit x distinct row) sums of the
weights and ``s`` their unit totals, so one Newton step costs a few passes over the rows and a
sparse product. Results equal :func:`evaltool.effects.poisson.fepois` on ``cd.dense()`` (tested to
1e-10).

Examples
--------
>>> import numpy as np
>>> unit = np.repeat(np.arange(3), 2)
>>> cd = CodedDesign(np.tile([0, 1], 3), np.array([[0.0], [1.0]]))
>>> cd.dense()[:, 0].tolist()
[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

__all__ = ["CodedDesign", "as_dense", "xt_dot"]


@dataclass(frozen=True)
class CodedDesign:
    """``X = [D[codes], Z]``: ``codes`` (n,) int, ``D`` (G, kd) distinct rows, ``Z`` (n, kz) or None."""

    codes: np.ndarray
    D: np.ndarray
    Z: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.codes), self.D.shape[1] + (0 if self.Z is None else self.Z.shape[1])

    @property
    def ndim(self) -> int:
        return 2

    @property
    def kd(self) -> int:
        return self.D.shape[1]

    def dense(self) -> np.ndarray:
        X = self.D[self.codes]
        return X if self.Z is None else np.column_stack([X, self.Z])

    def rows(self, mask: np.ndarray) -> CodedDesign:
        mask = np.asarray(mask)
        return CodedDesign(self.codes[mask], self.D, None if self.Z is None else self.Z[mask])

    def cols(self, keep: list[int]) -> CodedDesign:
        kd = self.kd
        kd_keep = [j for j in keep if j < kd]
        kz_keep = [j - kd for j in keep if j >= kd]
        Z = None if self.Z is None or not kz_keep else self.Z[:, kz_keep]
        return CodedDesign(self.codes, self.D[:, kd_keep], Z)

    def any_nonzero(self, cols: list[int]) -> np.ndarray:
        """Rows where any of ``cols`` is non-zero."""
        kd = self.kd
        out = np.zeros(len(self.codes), dtype=bool)
        dc = [j for j in cols if j < kd]
        if dc:
            out |= (self.D[:, dc] != 0).any(axis=1)[self.codes]
        zc = [j - kd for j in cols if j >= kd]
        if zc and self.Z is not None:
            out |= (self.Z[:, zc] != 0).any(axis=1)
        return out


def xt_dot(X: Any, v: np.ndarray) -> np.ndarray:
    """``X' v`` for a dense array or a :class:`CodedDesign`."""
    if isinstance(X, CodedDesign):
        g = np.bincount(X.codes, weights=v, minlength=X.D.shape[0])
        out = X.D.T @ g
        return out if X.Z is None else np.concatenate([out, X.Z.T @ v])
    return np.asarray(X).T @ v


def as_dense(X: Any) -> np.ndarray:
    return X.dense() if isinstance(X, CodedDesign) else np.asarray(X, dtype=float)


class _Coded:
    """Sums that the coded Newton steps need, for fixed row structure (codes, units, clusters)."""

    def __init__(self, cd: CodedDesign, ucodes: np.ndarray, n_units: int):
        self.cd = cd
        self.u = ucodes
        self.n_units = n_units
        self.G = cd.D.shape[0]
        key = ucodes.astype(np.int64) * self.G + cd.codes
        uniq, self.pair = np.unique(key, return_inverse=True)
        self.pu, self.pg = uniq // self.G, uniq % self.G
        self.n_pairs = len(uniq)

    def M(self, wm: np.ndarray) -> sparse.csr_matrix:
        vals = np.bincount(self.pair, weights=wm, minlength=self.n_pairs)
        return sparse.csr_matrix((vals, (self.pu, self.pg)), shape=(self.n_units, self.G))

    def unit_sums(self, v: np.ndarray) -> np.ndarray:
        if v.ndim == 1:
            return np.bincount(self.u, weights=v, minlength=self.n_units)
        return np.column_stack([np.bincount(self.u, weights=v[:, j], minlength=self.n_units)
                                for j in range(v.shape[1])])

    def eta(self, theta: np.ndarray) -> np.ndarray:
        cd = self.cd
        out = (cd.D @ theta[: cd.kd])[cd.codes]
        if cd.Z is not None:
            out = out + cd.Z @ theta[cd.kd:]
        return out

    def hessian(self, wm: np.ndarray, sw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The Hessian, and the unit sums ``MD = M D`` (units x kd) and ``Uz`` the scores reuse."""
        cd = self.cd
        D = cd.D
        MD = np.asarray(self.M(wm) @ D)  # unit sums of the weighted design rows: no G x G product
        Wg = np.bincount(cd.codes, weights=wm, minlength=self.G)
        MDs = MD / np.sqrt(sw)[:, None]
        Hdd = (D * Wg[:, None]).T @ D - MDs.T @ MDs
        if cd.Z is None:
            return Hdd, MD, None
        Z = cd.Z
        Uz = self.unit_sums(Z * wm[:, None])
        Gz = np.column_stack([np.bincount(cd.codes, weights=Z[:, j] * wm, minlength=self.G)
                              for j in range(Z.shape[1])])
        Hdz = D.T @ Gz - MD.T @ (Uz / sw[:, None])
        Hzz = (Z * wm[:, None]).T @ Z - Uz.T @ (Uz / sw[:, None])
        H = np.block([[Hdd, Hdz], [Hdz.T, Hzz]])
        return H, MD, Uz

    def cluster_scores(self, r: np.ndarray, sw: np.ndarray, MD: np.ndarray, Uz: np.ndarray | None,
                       ccodes: np.ndarray, n_cl: int) -> np.ndarray:
        """Cluster sums of the scores ``r (x - xbar_unit)`` (n_clusters x k)."""
        cd = self.cd
        n = len(r)
        Ac = sparse.csr_matrix((r, (ccodes, cd.codes)), shape=(n_cl, self.G))
        S = sparse.csr_matrix((r / sw[self.u], (ccodes, self.u)), shape=(n_cl, self.n_units))
        sd = np.asarray(Ac @ cd.D) - np.asarray(S @ MD)
        if cd.Z is None:
            return sd
        Cz = sparse.csr_matrix((np.ones(n), (ccodes, np.arange(n))), shape=(n_cl, n)) @ (cd.Z * r[:, None])
        return np.column_stack([sd, np.asarray(Cz) - S @ Uz])

    def row_scores(self, r: np.ndarray, sw: np.ndarray, MD: np.ndarray, Uz: np.ndarray | None) -> np.ndarray:
        """Per-row scores (dense; only for heteroskedasticity-robust SEs without clusters)."""
        cd = self.cd
        xbar = MD / sw[:, None]
        X = cd.D[cd.codes] - xbar[self.u]
        if cd.Z is not None:
            X = np.column_stack([X, cd.Z - (Uz / sw[:, None])[self.u]])
        return X * r[:, None]


def fepois_coded(
    y: np.ndarray, cd: CodedDesign, unit: np.ndarray, *, exposure: np.ndarray | None = None,
    weights: np.ndarray | None = None, cluster: np.ndarray | None = None, names: Any = None,
    n_obs: int | None = None, n_clusters: int | None = None, tol: float = 1e-12, maxiter: int = 100,
) -> Any:
    """:func:`evaltool.effects.poisson.fepois` for a :class:`CodedDesign` (same model, same SEs)."""
    from evaltool.effects.poisson import FEFit, _codes, _nested, newton, poisson_inputs, small_sample_factor
    from evaltool.errors import EstimationError

    y = np.asarray(y, dtype=float)
    n, k = cd.shape
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(k))
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    e, ucodes, n_units_all, Y = poisson_inputs(y, w, exposure, unit, n)
    keep_u = Y > 0
    if not keep_u.any():
        raise EstimationError("the outcome is zero for every unit: nothing to estimate")
    keep = keep_u[ucodes]
    cl = None if cluster is None else np.asarray(cluster)
    if not keep.all():
        ucodes, n_units = _codes(ucodes[keep])
        y, e, w = y[keep], e[keep], w[keep]
        cd = cd.rows(keep)
        cl = None if cl is None else cl[keep]
        Y = Y[keep_u]
    else:
        n_units = n_units_all
    S_ = _Coded(cd, ucodes, n_units)
    loge = np.log(e)

    def state(th: np.ndarray) -> tuple[np.ndarray, float]:
        eta = S_.eta(th) + loge
        m = np.exp(eta - eta.max())
        s = np.bincount(ucodes, weights=m, minlength=n_units)
        mu = Y[ucodes] * m / s[ucodes] / w
        pos = y > 0
        return mu, float(np.sum(w[pos] * y[pos] * np.log(mu[pos])) - np.sum(w * mu))

    def hess_grad(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wm = w * mu
        H, _, _ = S_.hessian(wm, np.bincount(ucodes, weights=wm, minlength=n_units))
        return H, xt_dot(cd, w * (y - mu))

    theta, mu, ll, it, converged = newton(np.zeros(k), state, hess_grad, names, tol, maxiter)
    wm = w * mu
    sw = np.bincount(ucodes, weights=wm, minlength=n_units)
    H, M, Uz = S_.hessian(wm, sw)
    r = w * (y - mu)
    N = int(n_obs) if n_obs is not None else len(y)
    if cl is None:
        df_k, G = k + n_units, None
        sc = S_.row_scores(r, sw, M, Uz)
        meat = sc.T @ sc
    else:
        ccodes, n_cl = _codes(cl)
        df_k = k + 1 if _nested(ucodes, ccodes) else k + n_units
        G = int(n_clusters) if n_clusters is not None else n_cl
        sg = S_.cluster_scores(r, sw, M, Uz, ccodes, n_cl)
        meat = sg.T @ sg
    try:
        Hinv = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        raise EstimationError(
            "the information matrix is singular: some coefficients are not identified (e.g. an event-study "
            "month or subgroup with no events); use fewer periods or subgroups for this outcome") from None
    c = small_sample_factor(N, df_k, G)
    V = c * Hinv @ meat @ Hinv
    mu_full = np.zeros(len(keep))
    mu_full[keep] = mu
    return FEFit(coef=theta, vcov=(V + V.T) / 2, names=names, n_obs=N, n_units=n_units,
                 n_clusters=0 if G is None else G, df_k=df_k, ssc=c, iterations=it, converged=converged,
                 loglik=ll, mu=mu_full)
