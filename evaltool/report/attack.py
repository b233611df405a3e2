"""The attacker's arithmetic: how closely can a suppressed count be worked out from what is published?

Published values and the relations between them (a total is the sum of its parts, the same quantity in
two tables, a flow where each count is the previous count less the exclusions) are linear constraints
on the unknown true counts. A published count rounded to the nearest ``b`` says the true value lies
within ``[r - b/2, r + b/2)``; a suppressed count says only that it is at least 1. Minimising and
maximising each suppressed count subject to all of that (an integer programme: scipy's ``milp``, or
``linprog`` for the continuous relaxation) gives the narrowest range an attacker can prove. The gate
(:mod:`evaltool.report.suppress`) hides more cells until every range is at least as wide as the rule's
protection; the tests run the same attack on published output.

Examples
--------
>>> import numpy as np
>>> # x + y = total; x is hidden, y is published as 40 (rounded), the total as 45 (rounded).
>>> prob = LinearProblem(n=3, lower=np.array([1, 38, 43.]), upper=np.array([np.inf, 42, 47]))
>>> prob.add_equation([0, 1, 2], [1, 1, -1])
>>> lo, hi = feasible_range(prob, 0)
>>> (lo, hi)
(1.0, 9.0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LinearProblem", "RangeSolver", "feasible_range", "published_interval"]


def published_interval(published: float, round_to: int, min_count: int) -> tuple[float, float]:
    """The true counts consistent with a published count (rounding halves up).

    Examples
    --------
    >>> published_interval(40, 5, 8), published_interval(10, 5, 8), published_interval(0, 5, 8)
    ((38.0, 42.0), (8.0, 12.0), (0.0, 0.0))
    >>> published_interval(12, 1, 5)
    (12.0, 12.0)
    """
    r = float(published)
    if r == 0:
        return 0.0, 0.0
    b = max(1, int(round_to))
    lo = math.ceil(r - b / 2)
    hi = math.ceil(r + b / 2) - 1
    return float(max(lo, min_count)), float(max(hi, min_count))


@dataclass
class LinearProblem:
    """Unknown true counts ``x`` with bounds and linear equations ``sum(coef * x[idx]) = rhs``."""

    n: int
    lower: np.ndarray
    upper: np.ndarray
    rows: list[tuple[tuple[int, ...], tuple[float, ...], float]] = field(default_factory=list)

    def add_equation(self, idx, coef, rhs: float = 0.0) -> None:
        self.rows.append((tuple(int(i) for i in idx), tuple(float(c) for c in coef), float(rhs)))

    def matrix(self):
        from scipy.sparse import coo_matrix

        r, c, v, b = [], [], [], []
        for k, (idx, coef, rhs) in enumerate(self.rows):
            r += [k] * len(idx)
            c += list(idx)
            v += list(coef)
            b.append(rhs)
        return coo_matrix((v, (r, c)), shape=(len(self.rows), self.n)).tocsr(), np.asarray(b, float)


def feasible_range(problem: LinearProblem, k: int, *, integer: bool = True,
                   _cache: dict | None = None) -> tuple[float, float]:
    """Smallest and largest value of ``x[k]`` consistent with the problem.

    Each bound is first found by linear programming (``scipy.optimize.linprog``, HiGHS); when the
    optimal solution is not whole numbers and ``integer`` is true, the integer programme is solved
    (``scipy.optimize.milp``), because true counts are whole numbers and the integer range can be
    narrower. An unbounded maximum is returned as ``inf``. Published values that contradict each
    other raise ``ValueError``.
    """
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp

    if _cache is not None and "A" in _cache:
        A, b = _cache["A"], _cache["b"]
    else:
        A, b = problem.matrix()
        if _cache is not None:
            _cache["A"], _cache["b"] = A, b
    has_rows = A.shape[0] > 0
    bounds = list(zip(problem.lower, [None if not np.isfinite(u) else u for u in problem.upper]))
    out = []
    for sign in (1.0, -1.0):
        c = np.zeros(problem.n)
        c[k] = sign
        res = linprog(c, A_eq=A if has_rows else None, b_eq=b if has_rows else None, bounds=bounds, method="highs")
        if res.status == 0 and integer and not np.allclose(res.x, np.round(res.x), atol=1e-7):
            cons = [LinearConstraint(A, b, b)] if has_rows else []
            res = milp(c, constraints=cons, integrality=np.ones(problem.n),
                       bounds=Bounds(problem.lower, problem.upper))
        if res.status == 0 and res.x is not None:
            out.append(sign * float(res.x[k]))
        elif res.status == 3 or "unbounded" in str(getattr(res, "message", "")).lower():
            out.append(-math.inf)  # the objective (sign * x[k]) has no lower limit
        else:
            raise ValueError(f"the published values are inconsistent (no solution): {getattr(res, 'message', '')}")
    lo, neg_hi = out
    return round(lo, 6), round(-neg_hi, 6)


_BANNER_DONE = False


def _new_highs():
    """A silent HiGHS instance (HiGHS prints a banner on stdout the first time one is built)."""
    global _BANNER_DONE
    import os
    import sys

    import highspy

    if _BANNER_DONE:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_DONE = True
    h.silent()
    return h


class RangeSolver:
    """Feasible ranges of many unknowns of one problem, re-using the solver between them.

    One HiGHS model is built; each bound changes only the objective, so the simplex starts from the
    previous basis (about ten times faster than a fresh ``linprog`` per bound). Bounds are those of the
    linear programme (the standard attacker of tabular disclosure control), rounded inward because
    counts are whole numbers; :func:`feasible_range` solves the integer programme when that is needed.

    Examples
    --------
    >>> prob = LinearProblem(n=3, lower=np.array([1, 38, 43.]), upper=np.array([np.inf, 42, 47]))
    >>> prob.add_equation([0, 1, 2], [1, 1, -1])
    >>> RangeSolver(prob).range(0)
    (1.0, 9.0)
    """

    def __init__(self, problem: LinearProblem):
        import highspy

        self.problem = problem
        A, b = problem.matrix()
        self._A, self._b = A, b
        self._hs = highspy
        h = _new_highs()
        lp = highspy.HighsLp()
        lp.num_col_ = problem.n
        lp.num_row_ = A.shape[0]
        lp.col_cost_ = np.zeros(problem.n)
        lp.col_lower_ = np.asarray(problem.lower, float)
        lp.col_upper_ = np.where(np.isfinite(problem.upper), problem.upper, highspy.kHighsInf)
        lp.row_lower_ = b
        lp.row_upper_ = b
        csc = A.tocsc()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr
        lp.a_matrix_.index_ = csc.indices
        lp.a_matrix_.value_ = csc.data
        h.passModel(lp)
        self._h = h

    def _bound(self, k: int, maximise: bool) -> float:
        hs, h = self._hs, self._h
        h.changeColCost(k, 1.0)
        h.changeObjectiveSense(hs.ObjSense.kMaximize if maximise else hs.ObjSense.kMinimize)
        h.run()
        status = h.getModelStatus()
        v = float(h.getInfo().objective_function_value)
        h.changeColCost(k, 0.0)
        if status == hs.HighsModelStatus.kOptimal:
            # True counts are whole numbers: the attacker rounds the LP bound inward.
            return math.floor(v + 1e-7) if maximise else math.ceil(v - 1e-7)
        if status in (hs.HighsModelStatus.kUnbounded, hs.HighsModelStatus.kUnboundedOrInfeasible):
            return math.inf if maximise else -math.inf
        raise ValueError(f"the published values are inconsistent (no solution): {h.modelStatusToString(status)}")

    def range(self, k: int) -> tuple[float, float]:
        """The LP bounds of ``x[k]``, rounded inward to whole numbers."""
        return float(self._bound(k, False)), float(self._bound(k, True))
