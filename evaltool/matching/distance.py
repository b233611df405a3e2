"""Distances for matching: covariate design matrices, the logistic propensity score, Mahalanobis.

The propensity score is fitted by Newton-Raphson (iteratively reweighted least squares) on
standardised columns, vectorised in numpy, iterated to convergence so that fitted values agree with
R's ``glm(..., family = binomial)`` to ~1e-10 (glm stops at a relative deviance change of 1e-8).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from evaltool.errors import MatchingError, MatchingWarning

__all__ = ["design_matrix", "design_columns", "row_dot", "row_matmul", "balance_matrix", "balance_columns", "logistic_ps", "mahalanobis_transform", "prognostic_score"]


def row_dot(X: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``X @ b`` computed row by row the same way wherever the row sits, so identical rows (people with the
    same covariates) get bit-identical scores, as R's ``glm`` gives them. A BLAS matrix-vector product may
    treat rows differently by their position (blocks and remainders, CPU-specific kernels), and a difference
    in the last bit breaks ties that matching and the eCDF statistics depend on.

    Examples
    --------
    >>> X = np.tile([[16.0, 9, 1, 0, 0.1]], (7, 1)); b = np.array([0.3, -1.1, 0.7, 2.0, 1e-3])
    >>> len(set(row_dot(X, b).tolist()))
    1
    """
    X = np.asarray(X, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if X.ndim != 2:
        return X @ b
    # Column by column, in column order: every row sums its terms in the same order (that of the reference
    # BLAS matrix-vector product R uses), whatever its position.
    out = np.zeros(X.shape[0])
    cols = X.T if X.flags.f_contiguous else np.ascontiguousarray(X.T) if X.shape[0] > 4096 else X.T
    for j in range(X.shape[1]):
        out += cols[j] * b[j]
    return out


def row_matmul(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``X @ W`` with every output column by :func:`row_dot`: identical rows give identical rows.

    Examples
    --------
    >>> X = np.tile([[1.5, -2.0, 0.3]], (9, 1)); W = np.arange(6.0).reshape(3, 2) / 7
    >>> out = row_matmul(X, W); bool((out == out[0]).all()), np.allclose(out, X @ W)
    (True, True)
    """
    W = np.asarray(W, dtype=np.float64)
    out = np.empty((np.shape(X)[0], W.shape[1]))
    for j in range(W.shape[1]):
        out[:, j] = row_dot(X, W[:, j])
    return out


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s)


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [lv for lv in s.cat.categories if (s == lv).any()]
    return sorted(pd.unique(s.dropna()).tolist(), key=str)


def design_columns(data: pd.DataFrame, covariates: Sequence[str]) -> Iterator[tuple[str, np.ndarray]]:
    """The columns of :func:`design_matrix` after its intercept, one at a time (name, float64 column):
    a national population's design can be stored column by column without the whole float64 matrix.

    Examples
    --------
    >>> [n for n, _ in design_columns(pd.DataFrame({"a": [1.0, 2.0], "g": ["x", "y"]}), ["a", "g"])]
    ['a', 'gy']
    """
    for c in covariates:
        s = data[c]
        if _is_categorical(s):
            for lv in _levels(s)[1:]:
                yield f"{c}{lv}", (s == lv).to_numpy(dtype=float)
        else:
            yield c, pd.to_numeric(s).to_numpy(dtype=float)


def design_matrix(data: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Model matrix for the propensity model: an intercept, numeric columns as they are, and
    categorical columns as treatment-contrast dummies (first level dropped, as R's ``model.matrix``).

    Examples
    --------
    >>> X, names = design_matrix(pd.DataFrame({"a": [1.0, 2.0], "g": ["x", "y"]}), ["a", "g"])
    >>> names
    ['(intercept)', 'a', 'gy']
    """
    cols = [np.ones(len(data))]
    names = ["(intercept)"]
    for name, col in design_columns(data, covariates):
        cols.append(col)
        names.append(name)
    return np.column_stack(cols), names


def balance_columns(data: pd.DataFrame, covariates: Sequence[str]) -> Iterator[tuple[str, np.ndarray]]:
    """The columns of :func:`balance_matrix`, one at a time (name, float64 column).

    Examples
    --------
    >>> [n for n, _ in balance_columns(pd.DataFrame({"g": ["a", "b"]}), ["g"])]
    ['gb']
    """
    for c in covariates:
        s = data[c]
        if _is_categorical(s):
            lv = _levels(s)
            use = lv[1:] if len(lv) == 2 else lv
            for v in use:
                yield f"{c}{v}", (s == v).to_numpy(dtype=float)
        else:
            yield c, pd.to_numeric(s).to_numpy(dtype=float)


def balance_matrix(data: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Covariates as MatchIt's ``summary()`` shows them: numeric columns as they are, a categorical
    column with two levels as one indicator of its second level, with more levels as one indicator per level.

    Examples
    --------
    >>> list(balance_matrix(pd.DataFrame({"g": ["a", "b", "c"]}), ["g"]).columns)
    ['ga', 'gb', 'gc']
    """
    return pd.DataFrame(dict(balance_columns(data, covariates)), index=data.index)


def logistic_ps(
    X: np.ndarray, y: np.ndarray, *, max_iter: int = 50, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a logistic regression by Newton-Raphson; return (fitted probabilities, coefficients).

    Columns are standardised for numerical stability (fitted values do not depend on it). A column
    with no variation besides the intercept raises :class:`MatchingError`; complete separation of the
    groups raises :class:`MatchingError`; fitted probabilities of 0 or 1 warn as glm does.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=500); y = (rng.random(500) < 1 / (1 + np.exp(-x))).astype(float)
    >>> p, b = logistic_ps(np.column_stack([np.ones(500), x]), y)
    >>> bool(0.5 < b[1] < 1.5)
    True
    """
    n, k = X.shape
    mu = X[:, 1:].mean(axis=0)
    sd = X[:, 1:].std(axis=0)
    if k > 1 and np.any(sd == 0):
        raise MatchingError(
            "the propensity model has a constant column (no variation): drop it from `covariates`"
        )
    Z = X.copy()
    Z[:, 1:] = (X[:, 1:] - mu) / sd
    if k > 1:
        # Rank check once, on a small cross-product (cheap even at millions of rows).
        if np.linalg.matrix_rank(Z.T @ Z / n, tol=1e-10) < k:
            raise MatchingError(
                "the propensity model is not identifiable (collinear covariates): "
                "remove redundant columns from `covariates`"
            )
    beta = np.zeros(k)
    ybar = y.mean()
    beta[0] = np.log(ybar / (1 - ybar))

    def _newton(Zs: np.ndarray, ys: np.ndarray, beta: np.ndarray, tol_: float):
        def _dev(b_: np.ndarray) -> tuple[float, np.ndarray]:
            eta_ = np.clip(Zs @ b_, -700, 700)
            # logaddexp keeps the deviance finite at extreme scores.
            ll = ys * eta_ - np.logaddexp(0.0, eta_)
            return float(-2 * ll.sum()), eta_

        dev, eta = _dev(beta)
        for _ in range(max_iter):
            p = 1.0 / (1.0 + np.exp(-eta))
            w = p * (1 - p)
            grad = Zs.T @ (ys - p)
            H = (Zs * w[:, None]).T @ Zs
            try:
                step = np.linalg.solve(H, grad)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(H, grad, rcond=None)[0]
            # Step halving, as glm does, if the deviance does not fall.
            for _h in range(30):
                new_dev, new_eta = _dev(beta + step)
                if np.isfinite(new_dev) and new_dev <= dev + 1e-12 * abs(dev):
                    break
                step = step / 2
            beta = beta + step
            done = abs(new_dev - dev) / (abs(new_dev) + 0.1) < tol_
            dev, eta = new_dev, new_eta
            if done:
                return beta, eta, True
        return beta, eta, False

    if n > 250_000:
        # Warm start from a systematic 1-in-s subsample (deterministic): Newton then needs only a couple of
        # full-data iterations, which dominate the cost at millions of rows.
        sub = slice(0, n, n // 100_000)
        ys = y[sub]
        if 0 < ys.sum() < ys.size:
            beta, _, _ = _newton(Z[sub], ys, beta, 1e-8)
    beta, eta, converged = _newton(Z, y, beta, tol)
    p = 1.0 / (1.0 + np.exp(-eta))
    treated = y == 1
    if not converged or np.max(np.abs(beta)) > 15:
        if eta[treated].min() >= eta[~treated].max():
            raise MatchingError(
                "perfect separation: the propensity model separates treated from controls completely "
                "(no common support); remove the covariate that defines treatment from `covariates`"
            )
    if np.any((p < 1e-10) | (p > 1 - 1e-10)):
        warnings.warn(
            "fitted propensity scores numerically 0 or 1 occurred (quasi-separation): check overlap",
            MatchingWarning,
            stacklevel=3,
        )
    # Back to the original scale of the covariates.
    b = beta.copy()
    b[1:] = beta[1:] / sd
    b[0] = beta[0] - np.sum(beta[1:] * mu / sd)
    # Fitted values from the original-scale coefficients, as glm computes them: units with identical
    # covariates then get bit-identical scores as in R (ties matter for eCDF statistics) -- row by row
    # (row_dot), not by a BLAS product whose last bit can depend on the row's position and the CPU.
    p = 1.0 / (1.0 + np.exp(-np.clip(row_dot(X, b), -700, 700)))
    return p, b


def mahalanobis_transform(X: np.ndarray, treat: np.ndarray, *, allow_constant: bool = False) -> np.ndarray:
    """Whiten covariates so Euclidean distance equals the Mahalanobis distance with the pooled
    within-group covariance (treatment-group means removed before the covariance), as MatchIt >= 4.4.

    A covariate constant within groups raises :class:`MatchingError` unless ``allow_constant`` (then it
    is left out: e.g. a profile month in which nobody in a small risk set had an admission).

    Examples
    --------
    >>> Z = mahalanobis_transform(np.array([[0.0, 1], [1, 0], [2, 5], [3, 1]]), np.array([1, 0, 1, 0]))
    >>> Z.shape
    (4, 2)
    """
    Xc = X.astype(float).copy()
    for g in (0, 1):
        m = treat == g
        Xc[m] -= Xc[m].mean(axis=0)
    S = np.cov(Xc, rowvar=False).reshape(X.shape[1], X.shape[1])
    if allow_constant and np.any(np.diag(S) == 0):
        var = np.diag(S) > 0
        if not var.any():
            return np.zeros((X.shape[0], 1))
        return mahalanobis_transform(X[:, var], treat)
    if np.any(np.diag(S) == 0):
        raise MatchingError("Mahalanobis distance: a covariate is constant within treatment groups")
    # Generalised inverse square root (MatchIt uses a generalised inverse for singular covariance).
    vals, vecs = np.linalg.eigh(S)
    keep = vals > vals.max() * 1e-10
    W = vecs[:, keep] / np.sqrt(vals[keep])
    return row_matmul(X, W)


def prognostic_score(data: pd.DataFrame, treatment: str, outcome: str, covariates: Sequence[str]) -> np.ndarray:
    """Prognostic score: the outcome predicted from ``covariates`` by least squares fitted on the controls only
    (use a pre-period outcome, never the follow-up outcome), for every row. Pass it to
    ``match(..., distance=score)`` or as an extra covariate next to the propensity score.

    Examples
    --------
    >>> df = pd.DataFrame({"t": [0, 0, 0, 1], "x": [0.0, 1, 2, 3], "y": [1.0, 3, 5, 0]})
    >>> prognostic_score(df, "t", "y", ["x"]).round(6).tolist()
    [1.0, 3.0, 5.0, 7.0]
    """
    X, _ = design_matrix(data, covariates)
    y = pd.to_numeric(data[outcome]).to_numpy(dtype=float)
    c = data[treatment].to_numpy() == 0
    if c.sum() <= X.shape[1]:
        raise MatchingError(f"prognostic score: {int(c.sum())} controls are too few for {X.shape[1]} coefficients")
    beta = np.linalg.lstsq(X[c], y[c], rcond=None)[0]
    return X @ beta
