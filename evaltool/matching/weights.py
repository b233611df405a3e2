"""Matching weights for the ATT as MatchIt computes them, subclasses and effective sample size."""
from __future__ import annotations

import numpy as np

__all__ = ["weights_from_pairs", "weights_from_strata", "ess"]


def weights_from_pairs(mm: np.ndarray, idx1: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """ATT weights and subclasses from a match matrix (rows = treated units in data order).

    A matched treated unit gets weight 1; a control gets, summed over the treated units it serves,
    1 / (number of controls matched to that treated unit); control weights are then scaled to sum to
    the number of distinct matched controls (MatchIt's ``weights.matrix``). Subclass k+1 is the
    matched set of the k-th matched treated unit (-1 = unmatched; with replacement controls can sit
    in several sets, so only treated units get a subclass there).

    Examples
    --------
    >>> w, sc = weights_from_pairs(np.array([[2, 3], [3, -1]]), np.array([0, 1]), 4)
    >>> w.round(3).tolist()
    [1.0, 1.0, 0.5, 1.5]
    """
    w = np.zeros(n)
    sub = np.full(n, -1, dtype=np.int64)
    found = mm >= 0
    k = found.sum(axis=1)
    has = k > 0
    w[idx1[has]] = 1.0
    rows = np.repeat(np.arange(mm.shape[0]), mm.shape[1]).reshape(mm.shape)
    ctrl = mm[found]
    np.add.at(w, ctrl, 1.0 / k[rows[found]])
    c_used = np.unique(ctrl)
    if c_used.size:
        w[c_used] *= c_used.size / w[c_used].sum()
    set_no = np.cumsum(has) * has  # 1.. for matched treated, in data order
    sub[idx1[has]] = set_no[has]
    if ctrl.size == np.unique(ctrl).size:  # without replacement: controls join their treated unit's set
        sub[ctrl] = set_no[rows[found]]
    return w, sub


def weights_from_strata(strata: np.ndarray, treat: np.ndarray) -> np.ndarray:
    """ATT weights from subclasses (exact / coarsened exact matching), as MatchIt's ``weights.subclass``:
    treated 1, controls n_treated(s) / n_control(s), scaled to sum to the number of matched controls.
    ``strata`` < 0 marks unmatched units.

    Examples
    --------
    >>> weights_from_strata(np.array([0, 0, 0, 1, 1]), np.array([1, 0, 0, 1, 0])).tolist()
    [1.0, 0.75, 0.75, 1.0, 1.5]
    """
    t = np.asarray(treat, dtype=bool)
    ok = strata >= 0
    w = np.zeros(strata.size)
    if not ok.any():
        return w
    m = int(strata[ok].max()) + 1
    n1 = np.bincount(strata[ok & t], minlength=m).astype(float)
    n0 = np.bincount(strata[ok & ~t], minlength=m).astype(float)
    w[ok & t] = 1.0
    c = ok & ~t
    w[c] = n1[strata[c]] / n0[strata[c]]
    if w[c].sum() > 0:
        w[c] *= c.sum() / w[c].sum()
    return w


def ess(w: np.ndarray) -> float:
    """Kish effective sample size ``sum(w)^2 / sum(w^2)`` over positive weights.

    Examples
    --------
    >>> ess(np.array([1.0, 1.0, 2.0]))
    2.6666666666666665
    """
    w = np.asarray(w, dtype=float)
    w = w[w > 0]
    return float(w.sum() ** 2 / (w**2).sum()) if w.size else 0.0
