"""Subclassification on the propensity score (MatchIt's ``method = "subclass"``), for the ATT.

Cut points are quantiles (R's default type 7) of the treated units' score, so each subclass holds about the
same number of treated units; every unit falls in the interval that holds its score (the lowest and highest
intervals are open-ended, as ``findInterval(..., all.inside = TRUE)``). A subclass without a unit of one
group borrows, from the nearest subclass on the side that can spare most, the unit whose score is closest
(MatchIt's "scooting", ``min.n = 1``). Weights: 1 for treated units; for controls, the subclass's number of
treated over its number of controls, then divided by the mean of those weights so that they sum to the
number of controls (MatchIt's ``normalize = TRUE``).
"""
from __future__ import annotations

import warnings

import numpy as np

from evaltool.errors import MatchingError, MatchingWarning

__all__ = ["subclassify", "subclass_weights"]


def subclassify(distance: np.ndarray, treat: np.ndarray, n_subclasses: int = 6, *, min_n: int = 1) -> np.ndarray:
    """Subclass (1..S) of every unit.

    Examples
    --------
    >>> subclassify(np.array([0.1, 0.2, 0.3, 0.4, 0.15, 0.35]), np.array([1, 1, 1, 1, 0, 0]), 2).tolist()
    [1, 1, 2, 2, 1, 2]
    """
    d = np.asarray(distance, dtype=float)
    t = np.asarray(treat).astype(bool)
    if n_subclasses < 2:
        raise MatchingError(f"`subclass`: expected at least 2 subclasses, got {n_subclasses}")
    qu = np.quantile(d[t], np.linspace(0, 1, int(round(n_subclasses)) + 1))  # type 7, as R's quantile()
    sub = np.clip(np.searchsorted(qu, d, side="right"), 1, qu.size - 1)
    if np.unique(sub).size < n_subclasses:
        warnings.warn("due to discreteness in the distance measure, fewer subclasses were generated than were "
                      "requested", MatchingWarning, stacklevel=3)
    return _scoot(sub, t, d, min_n) if min_n > 0 else sub


def _scoot(sub: np.ndarray, t: np.ndarray, d: np.ndarray, min_n: int) -> np.ndarray:
    """Give every subclass at least ``min_n`` units of each group by moving the nearest units across."""
    levels = np.unique(sub)
    code = np.searchsorted(levels, sub)
    nsub = levels.size
    for grp in (True, False):  # the order does not matter: each group is filled independently
        idx = np.flatnonzero(t == grp)
        tab = np.bincount(code[idx], minlength=nsub).astype(float)
        for _ in range(min_n):
            while tab.min() <= 0:
                s = int(np.flatnonzero(tab <= 0)[0])
                if s == nsub - 1:
                    left = True
                elif s == 0:
                    left = False
                else:
                    score = sum((tab[s2] - 1) / (s2 - s) for s2 in range(nsub) if tab[s2] > 1 and s2 != s)
                    left = score <= 0
                rng = range(s - 1, -1, -1) if left else range(s + 1, nsub)
                s2 = next((k for k in rng if tab[k] > 0), None)
                if s2 is None:
                    raise MatchingError("subclassification: a group has no units to spread over the subclasses")
                # the unit nearest to subclass s: the largest score when taking from the left, the smallest from
                # the right
                best = _nearest(idx[code[idx] == s2], d, left)
                code[best] = s
                tab[s] += 1
                tab[s2] -= 1
            tab -= 1
    return levels[code]


def _nearest(cand: np.ndarray, d: np.ndarray, left: bool) -> int:
    """MatchIt's pick: scanning in data order, a later unit replaces the best unless strictly worse."""
    best = int(cand[0])
    for i in cand[1:]:
        if (left and d[i] < d[best]) or (not left and d[i] > d[best]):
            continue
        best = int(i)
    return best


def subclass_weights(sub: np.ndarray, treat: np.ndarray) -> np.ndarray:
    """ATT weights from subclasses (MatchIt's, normalised so control weights average 1).

    Examples
    --------
    >>> subclass_weights(np.array([1, 1, 1, 2, 2]), np.array([1, 0, 0, 1, 0])).tolist()
    [1.0, 0.75, 0.75, 1.0, 1.5]
    """
    s = np.asarray(sub)
    t = np.asarray(treat).astype(bool)
    levels, code = np.unique(s, return_inverse=True)
    n1 = np.bincount(code[t], minlength=levels.size).astype(float)
    n0 = np.bincount(code[~t], minlength=levels.size).astype(float)
    w = np.where(t, 1.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w[~t] = (n1 / n0)[code[~t]]
    w[~np.isfinite(w)] = 0.0
    pos = (~t) & (w > 0)
    if pos.any():
        w[pos] = w[pos] / w[pos].mean()
    return w
