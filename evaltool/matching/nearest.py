"""Greedy nearest-neighbour matching on a scalar distance (propensity score) or Mahalanobis distance.

Scalar distance: all units are sorted once by (exact stratum, distance) - ties keep data order, as
R's stable ``order()`` - and each treated unit looks for the nearest still-available control to its
left and right in that order. Used controls are skipped with union-find "next available" pointers, so
the whole match costs O(n log n) for the sort plus near-constant work per treated unit; no pairwise
distance matrix is ever formed. Choices follow MatchIt (>= 4.5.4; see issue #163 for 4.5.1):
treated units are processed in ``order`` (``largest`` = decreasing distance, ties in data order),
each round gives every treated unit one more control (rounds 1..ratio), the nearer side wins and an
exact tie goes to the candidate reached first by MatchIt's alternating left/right scan.
"""
from __future__ import annotations

import numpy as np

from evaltool.errors import MatchingError

__all__ = ["nearest_match", "mahalanobis_match", "mahalanobis_caliper_match", "treated_order"]


def treated_order(distance: np.ndarray | None, n1: int, order: str, rng: np.random.Generator | None) -> np.ndarray:
    """Positions (0..n1-1, into the treated units in data order) in the order they are matched.

    Examples
    --------
    >>> treated_order(np.array([0.2, 0.9, 0.5]), 3, "largest", None).tolist()
    [1, 2, 0]
    """
    if order == "data" or distance is None and order != "random":
        return np.arange(n1)
    if order == "random":
        if rng is None:
            raise MatchingError("`order`='random' needs a `seed`")
        return rng.permutation(n1)
    if order == "largest":
        return np.argsort(-distance, kind="stable")
    if order == "smallest":
        return np.argsort(distance, kind="stable")
    raise MatchingError(f"`order`: expected one of largest, smallest, random, data; got {order!r}")


def _strata_codes(strata: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)


def nearest_match(
    distance: np.ndarray,
    treat: np.ndarray,
    *,
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    strata: np.ndarray | None = None,
    order: str = "largest",
    rng: np.random.Generator | None = None,
    _matchit_451: bool = False,
) -> np.ndarray:
    """Match each treated unit to ``ratio`` controls on a scalar ``distance``.

    Parameters
    ----------
    distance : array (n,)
        The matching distance (e.g. propensity score), one per unit.
    treat : array of bool (n,)
    ratio, replace, caliper, strata, order, rng :
        As in :func:`evaltool.matching.match`; ``caliper`` is on the distance's own scale;
        ``strata`` are integer codes of exact-matching cells.
    _matchit_451 : bool
        Reproduce MatchIt 4.5.1's bug #163 (``abs`` on doubles truncated to integers: caliper ignored,
        the left neighbour always chosen). Used only to check this implementation against stored 4.5.1 output.

    Returns
    -------
    numpy.ndarray (n1, ratio)
        Row i holds indices (into the data) of the controls matched to the i-th treated unit in data
        order; -1 where no control was found.

    Examples
    --------
    >>> nearest_match(np.array([0.5, 0.45, 0.8, 0.52]), np.array([True, False, False, False])).tolist()
    [[3]]
    """
    d = np.asarray(distance, dtype=float)
    t = np.asarray(treat, dtype=bool)
    n = d.size
    s = _strata_codes(strata, n)
    idx1 = np.flatnonzero(t)
    n1 = idx1.size
    mm = np.full((n1, ratio), -1, dtype=np.int64)
    ord_all = np.lexsort((d, s))  # stable: ties in data order
    pos_all = np.empty(n, dtype=np.int64)
    pos_all[ord_all] = np.arange(n)
    is_c_sorted = ~t[ord_all]
    c_idx = ord_all[is_c_sorted]  # controls in sorted order -> data index
    c_pos = np.flatnonzero(is_c_sorted)  # their positions in the combined order
    c_d = d[c_idx]
    c_s = s[c_idx]
    n0 = c_idx.size
    if n0 == 0:
        return mm
    split = np.searchsorted(c_pos, pos_all[idx1])  # controls [0, split) lie left of each treated unit
    t_s = s[idx1]
    lo = np.searchsorted(c_s, t_s, side="left")
    hi = np.searchsorted(c_s, t_s, side="right")
    cal = np.inf if caliper is None else float(caliper)
    t_ord = treated_order(d[idx1] if ratio >= 1 else None, n1, order, rng)

    if replace:
        return _nearest_replace(d, idx1, c_idx, c_pos, c_d, pos_all, split, lo, hi, cal, ratio)

    # Union-find pointers over controls in sorted order: nxt -> next available index >= j (n0 = none);
    # prv over j+1 -> previous available index <= j, stored +1 (0 = none).
    nxt = np.arange(n0 + 1).tolist()
    prv = np.arange(n0 + 1).tolist()
    dt_l = d[idx1].tolist()
    c_d_l = c_d  # numpy: only ~2 lookups per treated unit, cheaper than converting 1M values to a list
    c_pos_l = c_pos
    split_l = split.tolist()
    lo_l = lo.tolist()
    hi_l = hi.tolist()
    pos_t_l = pos_all[idx1].tolist()
    c_idx_l = c_idx
    got = [0] * n1
    mm_l = mm.tolist()

    def find_r(j: int) -> int:
        root = j
        while nxt[root] != root:
            root = nxt[root]
        while nxt[j] != root:
            nxt[j], j = root, nxt[j]
        return root

    def find_l(j: int) -> int:  # j is the +1-shifted index
        root = j
        while prv[root] != root:
            root = prv[root]
        while prv[j] != root:
            prv[j], j = root, prv[j]
        return root

    for r in range(ratio):
        for i in t_ord.tolist():
            if got[i] < r:
                continue  # found nothing in an earlier round: nothing new can appear
            dt = dt_l[i]
            sp = split_l[i]
            jl = find_l(sp) - 1  # previous available control < sp, or -1
            if jl < lo_l[i]:
                jl = -1
            jr = find_r(sp)
            if jr >= hi_l[i]:
                jr = -1
            if _matchit_451:
                # int(abs(x)) for |x| < 1 is 0: caliper never binds and the left side always wins ties.
                dl = float(int(dt - c_d_l[jl])) if jl >= 0 else None
                dr = float(int(c_d_l[jr] - dt)) if jr >= 0 else None
            else:
                dl = dt - c_d_l[jl] if jl >= 0 else None
                dr = c_d_l[jr] - dt if jr >= 0 else None
                if dl is not None and dl > cal:
                    dl = None
                if dr is not None and dr > cal:
                    dr = None
            if dl is None and dr is None:
                continue
            if dr is None:
                j = jl
            elif dl is None:
                j = jr
            elif dl < dr:
                j = jl
            elif dr < dl:
                j = jr
            elif _matchit_451:
                j = jl
            else:
                # Exact tie: MatchIt alternates left/right one sorted position at a time, starting left;
                # the candidate reached first is kept.
                a = pos_t_l[i] - c_pos_l[jl]
                b = c_pos_l[jr] - pos_t_l[i]
                j = jl if a <= b else jr
            mm_l[i][r] = c_idx_l[j]
            got[i] += 1
            nxt[j] = j + 1
            prv[j + 1] = j
    return np.asarray(mm_l, dtype=np.int64).reshape(n1, ratio)


def _nearest_replace(d, idx1, c_idx, c_pos, c_d, pos_all, split, lo, hi, cal, ratio):
    """With replacement: every treated unit takes its ``ratio`` nearest controls; vectorised over a
    window of ``ratio`` candidates on each side of its sorted position."""
    n1 = idx1.size
    offs = np.concatenate([-np.arange(1, ratio + 1), np.arange(ratio)])  # left then right candidates
    cand = split[:, None] + offs[None, :]
    ok = (cand >= lo[:, None]) & (cand < hi[:, None])
    cand_c = np.clip(cand, 0, max(c_idx.size - 1, 0))
    dist = np.abs(c_d[cand_c] - d[idx1][:, None])
    ok &= dist <= cal
    dist = np.where(ok, dist, np.inf)
    scan = np.abs(c_pos[cand_c] - pos_all[idx1][:, None]) * 2 - (offs[None, :] < 0)  # left reached first
    o = np.lexsort((scan, dist), axis=1)[:, :ratio]
    chosen = np.take_along_axis(cand_c, o, axis=1)
    chosen_ok = np.take_along_axis(ok, o, axis=1)
    mm = np.where(chosen_ok, c_idx[chosen], -1)
    # Keep found matches first in each row.
    mm = -np.sort(-mm, axis=1) if ratio > 1 else mm
    return mm.reshape(n1, ratio).astype(np.int64)


def mahalanobis_match(
    Z: np.ndarray,
    treat: np.ndarray,
    *,
    ratio: int = 1,
    replace: bool = False,
    strata: np.ndarray | None = None,
    order_idx: np.ndarray | None = None,
    caliper_distance: np.ndarray | None = None,
    caliper: float | None = None,
) -> np.ndarray:
    """Nearest neighbour on whitened covariates ``Z`` (Euclidean = Mahalanobis) with a KD-tree per
    exact stratum; controls already used are skipped by widening the query.

    Examples
    --------
    >>> Z = np.array([[0.0], [0.9], [0.1], [1.0]])
    >>> mahalanobis_match(Z, np.array([True, True, False, False])).tolist()
    [[2], [3]]
    """
    from scipy.spatial import cKDTree

    t = np.asarray(treat, dtype=bool)
    n = t.size
    s = _strata_codes(strata, n)
    idx1 = np.flatnonzero(t)
    n1 = idx1.size
    mm = np.full((n1, ratio), -1, dtype=np.int64)
    order_idx = np.arange(n1) if order_idx is None else order_idx
    cal = np.inf if caliper is None else float(caliper)
    row_of = {int(i): k for k, i in enumerate(idx1)}
    for code in np.unique(s[idx1]):
        c_here = np.flatnonzero(~t & (s == code))
        if c_here.size == 0:
            continue
        tree = cKDTree(Z[c_here])
        used = np.zeros(c_here.size, dtype=bool)
        t_here = set(np.flatnonzero(t & (s == code)).tolist())
        rows = [k for k in order_idx.tolist() if int(idx1[k]) in t_here]
        for r in range(ratio):
            for k in rows:
                if r > 0 and mm[k, r - 1] < 0:
                    continue
                q = min(c_here.size, 8 + r)
                while True:
                    _, nb = tree.query(Z[idx1[k]], k=q)
                    nb = np.atleast_1d(nb)
                    nb = nb[nb < c_here.size]
                    okm = ~used[nb] if not replace else ~np.isin(c_here[nb], mm[k, :r])
                    if caliper_distance is not None:
                        okm &= np.abs(caliper_distance[c_here[nb]] - caliper_distance[idx1[k]]) <= cal
                    if okm.any() or q >= c_here.size:
                        break
                    q = min(c_here.size, q * 4)
                if not okm.any():
                    continue
                j = nb[np.argmax(okm)]
                mm[k, r] = c_here[j]
                if not replace:
                    used[j] = True
    del row_of
    return mm


def mahalanobis_caliper_match(
    Z: np.ndarray,
    distance: np.ndarray,
    treat: np.ndarray,
    *,
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    strata: np.ndarray | None = None,
    order: str = "largest",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Mahalanobis matching within propensity-score calipers (Rubin & Thomas 2000; MatchIt's ``mahvars``).

    Treated units are taken in ``order`` of ``distance``; each picks, among available controls in its
    exact stratum whose ``distance`` lies within ``caliper``, the one nearest on the whitened
    covariates ``Z`` (ties: nearer on ``distance``, then data order). Rounds give every treated unit one
    more control, as :func:`nearest_match`. Controls are found by a sorted window on ``distance``, so no
    pairwise matrix is formed; each treated unit keeps its nearest candidates between rounds.

    Returns
    -------
    numpy.ndarray (n1, ratio): control indices per treated unit in data order, -1 where none was found.

    Examples
    --------
    >>> Z = np.array([[0.0], [5.0], [0.2], [4.0], [0.1]])
    >>> ps = np.array([0.5, 0.52, 0.51, 0.9, 0.7])
    >>> t = np.array([True, True, False, False, False])
    >>> mahalanobis_caliper_match(Z, ps, t, caliper=0.1).tolist()  # unit 1 (larger score) takes control 2 first
    [[-1], [2]]
    >>> mahalanobis_caliper_match(Z, ps, t, caliper=0.1, replace=True).tolist()
    [[2], [2]]
    """
    t = np.asarray(treat, dtype=bool)
    d = np.asarray(distance, dtype=float)
    n = t.size
    s = _strata_codes(strata, n)
    idx1 = np.flatnonzero(t)
    n1 = idx1.size
    mm = np.full((n1, ratio), -1, dtype=np.int64)
    c_idx = np.flatnonzero(~t)
    if c_idx.size == 0 or n1 == 0:
        return mm
    c_idx = c_idx[np.lexsort((d[c_idx], s[c_idx]))]  # controls sorted by (stratum, distance), ties in data order
    c_s, c_d = s[c_idx], d[c_idx]
    cal = np.inf if caliper is None else float(caliper)
    s_lo = np.searchsorted(c_s, s[idx1], side="left")
    s_hi = np.searchsorted(c_s, s[idx1], side="right")
    lo = np.empty(n1, dtype=np.int64)
    hi = np.empty(n1, dtype=np.int64)
    for code in np.unique(s[idx1]):
        m = s[idx1] == code
        a, b = int(s_lo[m][0]), int(s_hi[m][0])
        lo[m] = a + np.searchsorted(c_d[a:b], d[idx1[m]] - cal, side="left")
        hi[m] = a + np.searchsorted(c_d[a:b], d[idx1[m]] + cal, side="right")
    used = np.zeros(c_idx.size, dtype=bool)
    keep_k = max(8, 4 * ratio)
    short: dict[int, np.ndarray] = {}  # treated position -> its nearest candidates (sorted-control positions)
    t_ord = treated_order(d[idx1], n1, order, rng).tolist()
    Zc = Z[c_idx]

    def ranked(i: int, exclude: np.ndarray) -> np.ndarray:
        cand = np.arange(lo[i], hi[i])
        cand = cand[~exclude[cand]]
        if cand.size == 0:
            return cand
        diff = Zc[cand] - Z[idx1[i]]
        md = np.einsum("ij,ij->i", diff, diff)
        o = np.lexsort((cand, np.abs(c_d[cand] - d[idx1[i]]), md))
        return cand[o[:keep_k]]

    no_excl = np.zeros(c_idx.size, dtype=bool)
    for r in range(ratio):
        for i in t_ord:
            if r > 0 and mm[i, r - 1] < 0:
                continue
            lst = short.get(i)
            if replace:
                # Only this unit's own earlier matches are excluded: the cached list always has enough.
                if lst is None:
                    lst = short[i] = ranked(i, no_excl)
                ok = lst[~np.isin(c_idx[lst], mm[i, :r])]
            else:
                # A cached list is the best of what was available when made; once all of it is used, re-rank.
                ok = np.empty(0, dtype=np.int64) if lst is None else lst[~used[lst]]
                if ok.size == 0:
                    lst = short[i] = ranked(i, used)
                    ok = lst
            if ok.size == 0:
                continue
            j = int(ok[0])
            mm[i, r] = c_idx[j]
            if not replace:
                used[j] = True
    return mm
