"""Frank-Wolfe on the simplex for synthetic DiD weights, many problems at once.

``frank_wolfe`` solves, for each problem ``j`` of a batch, ``min ||A_j x - b_j||^2 / n + zeta_j^2 ||x||^2`` over
the simplex by Frank-Wolfe with exact line search, with the stopping rule of the authors' R package
``synthdid`` (stop once an iteration, from the second on, lowers the loss by no more than ``min_decrease^2``).
The problems are stacked so that one Python-level iteration advances all of them: the placebo variance of
synthetic DiD re-fits the same-sized problem for every placebo assignment, and a batch of 20-200 problems costs
little more per iteration than one. Each problem follows exactly the iterates it would follow alone (the same
arithmetic, element by element), so batching changes speed, never results.
"""
from __future__ import annotations

import numpy as np

__all__ = ["frank_wolfe", "sparsify"]


def sparsify(v: np.ndarray) -> np.ndarray:
    """Weights at or below a quarter of the largest set to zero and the rest rescaled (per row).

    Examples
    --------
    >>> sparsify(np.array([[0.5, 0.1, 0.4]])).round(3).tolist()
    [[0.556, 0.0, 0.444]]
    """
    v = np.where(v <= v.max(axis=-1, keepdims=True) / 4, 0.0, v)
    return v / v.sum(axis=-1, keepdims=True)


def frank_wolfe(A: np.ndarray, b: np.ndarray, zeta: np.ndarray | float, x: np.ndarray,
                min_decrease: np.ndarray | float, max_iter: int, intercept: bool) -> np.ndarray:
    """Solve a batch of simplex-constrained penalised least-squares problems.

    Parameters
    ----------
    A, b:
        ``(B, n, k)`` and ``(B, n)``: ``B`` problems with ``n`` rows and ``k`` weights.
    zeta, min_decrease:
        Ridge penalty and stopping tolerance, one per problem (or one for all).
    x:
        ``(B, k)`` starting weights (each row on the simplex).
    max_iter:
        Iteration cap per problem.
    intercept:
        Centre the columns of ``A`` and ``b`` first (synthetic DiD's unit fixed effect).

    Returns
    -------
    ``(B, k)`` weights.

    Examples
    --------
    >>> A = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> frank_wolfe(A, np.array([[0.25, 0.75]]), 0.0, np.array([[0.5, 0.5]]), 1e-8, 1000, False).round(3).tolist()
    [[0.25, 0.75]]
    """
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    if intercept:
        A = A - A.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
    B, n, k = A.shape
    zeta = np.broadcast_to(np.asarray(zeta, dtype=float), (B,))
    thr = np.broadcast_to(np.asarray(min_decrease, dtype=float), (B,)) ** 2
    eta = n * zeta**2
    z2 = zeta**2
    G = np.matmul(A.transpose(0, 2, 1), A)
    Ab = np.einsum("bnk,bn->bk", A, b)
    bb = np.einsum("bn,bn->b", b, b)
    H = G - Ab[:, :, None]  # H[j, :, i] = G_j e_i - Ab_j
    dG = np.einsum("bkk->bk", G)
    x = np.array(x, dtype=float, copy=True)
    Gx = np.einsum("bkl,bl->bk", G, x)
    hg = Gx - Ab + eta[:, None] * x
    xGx = np.einsum("bk,bk->b", x, Gx)
    xAb = np.einsum("bk,bk->b", x, Ab)
    xx = np.einsum("bk,bk->b", x, x)
    prev = np.full(B, np.inf)
    active = np.ones(B, dtype=bool)
    rB = np.arange(B)
    it = 0
    # batched iterations while many problems are active; the few slow ones finish one by one (cheaper per
    # iteration than a batch); both follow the same arithmetic
    while it < max_iter and active.sum() > _TAIL:
        i = np.argmin(hg, axis=1)
        hgi = hg[rB, i]
        xi = x[rB, i]
        dGi = dG[rB, i]
        gxi = hgi + Ab[rB, i] - eta * xi
        num = hgi - (xGx - xAb + eta * xx)
        denom = dGi - 2 * gxi + xGx + eta * (1 - 2 * xi + xx)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.minimum(1.0, np.maximum(0.0, -num / denom))
        step[(denom <= 0) | ~active] = 0.0
        u = 1 - step
        x *= u[:, None]
        x[rB, i] += step
        hg = u[:, None] * hg + step[:, None] * H[rB, :, i]
        hg[rB, i] += step * eta
        xGx = u * u * xGx + 2 * step * u * gxi + step * step * dGi
        xAb = u * xAb + step * Ab[rB, i]
        xx = u * u * xx + 2 * step * u * xi + step * step
        val = z2 * xx + (xGx - 2 * xAb + bb) / n
        if it >= 1:
            active &= ~(prev - val <= thr)
        prev = np.where(active, val, prev)
        it += 1
    if it < max_iter:
        for j in np.flatnonzero(active):
            x[j] = _one(x[j], hg[j], H[j], dG[j], Ab[j], float(xGx[j]), float(xAb[j]), float(xx[j]),
                        float(prev[j]), float(eta[j]), float(z2[j]), float(bb[j]), n, float(thr[j]), it, max_iter)
    return x


_TAIL = 5  # problems left when the batch hands over to one-by-one iterations


def _one(x: np.ndarray, hg: np.ndarray, H: np.ndarray, dG: np.ndarray, Ab: np.ndarray, xGx: float, xAb: float,
         xx: float, prev: float, eta: float, z2: float, bb: float, n: int, thr: float, it0: int,
         max_iter: int) -> np.ndarray:
    """The remaining iterations of one problem (scalars as Python floats: the same arithmetic as the batch)."""
    x = x.copy()
    dGl, Abl = dG.tolist(), Ab.tolist()
    for it in range(it0, max_iter):
        i = int(np.argmin(hg))
        xi = float(x[i])
        hgi = float(hg[i])
        gxi = hgi + Abl[i] - eta * xi
        num = hgi - (xGx - xAb + eta * xx)
        denom = dGl[i] - 2 * gxi + xGx + eta * (1 - 2 * xi + xx)
        step = 0.0 if denom <= 0 else min(1.0, max(0.0, -num / denom))
        if step > 0:
            u = 1 - step
            x *= u
            x[i] += step
            hg = u * hg + step * H[:, i]
            hg[i] += step * eta
            xGx = u * u * xGx + 2 * step * u * gxi + step * step * dGl[i]
            xAb = u * xAb + step * Abl[i]
            xx = u * u * xx + 2 * step * u * xi + step * step
        val = z2 * xx + (xGx - 2 * xAb + bb) / n
        if it >= 1 and prev - val <= thr:
            break
        prev = val
    return x
