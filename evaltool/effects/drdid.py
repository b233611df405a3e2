"""The 2x2 panel DiD estimators of Sant'Anna and Zhao (2020) as R's ``did`` calls them from ``DRDID``, and
the per-cell guards R's ``did`` (2.x) runs before each of them.

``"dr"`` = ``drdid_panel`` (logit propensity score + OLS outcome regression on the comparison group, locally
efficient doubly robust), ``"ipw"`` = ``std_ipw_did_panel`` (normalised IPW), ``"reg"`` = ``reg_did_panel``.
Each returns the ATT and its influence function (unit weights all 1).

:func:`cell_guard` is R ``did``'s check before a group-time cell is estimated (``compute.att_gt``): for the
propensity-score methods, a preliminary logit of treatment on the covariates whose largest fitted value
reaches 0.999 means no overlap (the cell is set to NA with a warning, ``overlap_check_fail``); for the
regression methods, a comparison-group covariate matrix with reciprocal condition number below machine
epsilon is singular (NA with a warning, ``rcond_check_fail``).
"""
from __future__ import annotations

import numpy as np

from evaltool.errors import EstimationError

__all__ = ["did_panel", "cell_guard", "OVERLAP_LIMIT"]

#: R did's overlap limit: a preliminary propensity score at or above this value makes the cell NA.
OVERLAP_LIMIT = 0.999


def _logit(D: np.ndarray, X: np.ndarray, max_iter: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Logit by Newton-Raphson; returns fitted probabilities and (X'WX)^-1 (unscaled vcov)."""
    beta = np.zeros(X.shape[1])
    pbar = D.mean()
    beta[0] = np.log(pbar / (1 - pbar)) if 0 < pbar < 1 else 0.0
    for _ in range(max_iter):
        eta = np.clip(X @ beta, -35, 35)
        p = 1.0 / (1.0 + np.exp(-eta))
        W = p * (1 - p)
        H = (X * W[:, None]).T @ X
        step = np.linalg.solve(H, X.T @ (D - p))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    eta = np.clip(X @ beta, -35, 35)
    p = 1.0 / (1.0 + np.exp(-eta))
    W = p * (1 - p)
    H = (X * W[:, None]).T @ X
    return p, np.linalg.inv(H)


def _ols_controls(dy: np.ndarray, X: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS of dy on X among controls; returns fitted values for all, and the OLS linear rep."""
    c = D == 0
    Xc = X[c]
    XtX = Xc.T @ Xc
    if np.linalg.matrix_rank(XtX) < X.shape[1]:
        raise EstimationError("outcome regression on the comparison group is rank deficient: covariates are collinear")
    coef = np.linalg.solve(XtX, Xc.T @ dy[c])
    fitted = X @ coef
    n = len(dy)
    wols_eX = ((1 - D) * (dy - fitted))[:, None] * X
    XpX_inv = np.linalg.inv(XtX / n)
    return fitted, wols_eX @ XpX_inv, coef


def did_panel(y1: np.ndarray, y0: np.ndarray, D: np.ndarray, X: np.ndarray, method: str) -> tuple[float, np.ndarray]:
    """ATT and influence function of one 2x2 panel DiD (unit weights all 1)."""
    n = len(D)
    dy = y1 - y0
    if method == "reg":
        out_delta, lin_ols, _ = _ols_controls(dy, X, D)
        w_treat = D
        w_cont = D
        att_treat = w_treat * dy
        att_cont = w_cont * out_delta
        eta_t = att_treat.mean() / w_treat.mean()
        eta_c = att_cont.mean() / w_cont.mean()
        inf_treat = (att_treat - w_treat * eta_t) / w_treat.mean()
        M1 = (w_cont[:, None] * X).mean(axis=0)
        inf_cont = (att_cont - w_cont * eta_c + lin_ols @ M1) / w_cont.mean()
        return float(eta_t - eta_c), inf_treat - inf_cont
    ps, Hinv = _logit(D, X)
    lin_ps = ((D - ps)[:, None] * X) @ (Hinv * n)
    if method == "ipw":
        ps = np.minimum(ps, 1 - 1e-6)
        w_treat = D
        w_cont = ps * (1 - D) / (1 - ps)
        att_treat = w_treat * dy
        att_cont = w_cont * dy
        eta_t = att_treat.mean() / w_treat.mean()
        eta_c = att_cont.mean() / w_cont.mean()
        inf_treat = (att_treat - w_treat * eta_t) / w_treat.mean()
        M2 = (w_cont * (dy - eta_c))[:, None] * X
        inf_cont = (att_cont - w_cont * eta_c + lin_ps @ M2.mean(axis=0)) / w_cont.mean()
        return float(eta_t - eta_c), inf_treat - inf_cont
    if method == "dr":
        ps = np.minimum(ps, 1 - 1e-6)
        # DRDID trims comparison units with propensity above 0.995 (trim.level default).
        trim = np.where(D == 0, ps < 0.995, True).astype(float)
        out_delta, lin_ols, _ = _ols_controls(dy, X, D)
        w_treat = trim * D
        w_cont = trim * ps * (1 - D) / (1 - ps)
        resid = dy - out_delta
        dr_treat = w_treat * resid
        dr_cont = w_cont * resid
        eta_t = dr_treat.mean() / w_treat.mean()
        eta_c = dr_cont.mean() / w_cont.mean()
        M1 = (w_treat[:, None] * X).mean(axis=0)
        inf_treat = (dr_treat - w_treat * eta_t - lin_ols @ M1) / w_treat.mean()
        M2 = ((w_cont * (resid - eta_c))[:, None] * X).mean(axis=0)
        M3 = (w_cont[:, None] * X).mean(axis=0)
        inf_cont = (dr_cont - w_cont * eta_c + lin_ps @ M2 - lin_ols @ M3) / w_cont.mean()
        return float(eta_t - eta_c), inf_treat - inf_cont
    raise EstimationError(f"`method` must be 'dr', 'ipw' or 'reg', found {method!r}")


def cell_guard(D: np.ndarray, X: np.ndarray, method: str) -> str | None:
    """``"overlap"``, ``"singular"`` or None: why R's ``did`` would set this cell to NA.

    Examples
    --------
    >>> X = np.column_stack([np.ones(6), [0.0, 1, 2, 3, 4, 9]])
    >>> cell_guard(np.array([0, 0, 0, 0, 0, 1.0]), X, "dr")  # the one treated unit is separated
    'overlap'
    >>> cell_guard(np.array([0, 1, 0, 1, 0, 1.0]), X, "reg") is None
    True
    """
    if method in ("dr", "ipw"):
        if X.shape[1] == 1:
            if D.mean() >= OVERLAP_LIMIT:
                return "overlap"
        else:
            ps = _logit_fitted(D, X)
            if np.max(ps) >= OVERLAP_LIMIT:
                return "overlap"
    if method in ("dr", "reg"):
        Xc = X[D == 0]
        if Xc.shape[0] == 0:
            return "singular"
        XtX = Xc.T @ Xc
        if 1.0 / np.linalg.cond(XtX, 1) < np.finfo(float).eps:
            return "singular"
    return None


def _logit_fitted(D: np.ndarray, X: np.ndarray, max_iter: int = 100, tol: float = 1e-8) -> np.ndarray:
    """Fitted values of the preliminary logit, iterated as ``glm``/``fastglm`` (deviance change below ``tol``):
    under separation the fitted values of the separated units run towards 1 and cross the limit."""
    beta = np.zeros(X.shape[1])
    pbar = D.mean()
    beta[0] = np.log(pbar / (1 - pbar)) if 0 < pbar < 1 else 0.0
    dev_old = np.inf
    for _ in range(max_iter):
        eta = X @ beta
        p = 1.0 / (1.0 + np.exp(-np.clip(eta, -700, 700)))
        W = np.maximum(p * (1 - p), 1e-300)
        try:
            step = np.linalg.lstsq((X * W[:, None]).T @ X, X.T @ (D - p), rcond=None)[0]
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        eta = X @ beta
        dev = -2 * float(np.sum(D * eta - np.logaddexp(0.0, eta)))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            break
        dev_old = dev
    return 1.0 / (1.0 + np.exp(-np.clip(X @ beta, -700, 700)))
