"""Break-even, return on investment and cost per admission avoided.

All per enrolled person-year, in the common price year:

* the programme pays for itself when the fall in activity cost covers its cost:
  ``net cost = programme cost + change in activity cost <= 0``;
* the *break-even effect on admissions* is the fall in emergency admissions that would cover
  the programme's cost on its own (other activity unchanged): ``P / c`` admissions per
  person-year, i.e. ``100 x P / (c x r)`` per cent of the ``r`` admissions expected without
  the programme, with ``c`` the cost of one admission;
* return on investment ``= (savings - programme cost) / programme cost`` with savings the
  fall in activity cost (-100% means nothing came back);
* programme cost per admission avoided, reported only where the interval for admissions
  avoided excludes zero: otherwise the denominator may be zero or negative and the ratio
  means nothing.

Examples
--------
>>> b = break_even(900.0, 2300.0, 0.62)
>>> round(b["admissions_needed"], 4), round(b["pct_reduction_needed"], 1), b["achievable"]
(0.3913, 63.1, True)
>>> float(return_on_investment(900.0, -450.0))
-0.5
>>> cost_per_admission_avoided(900.0, 0.05, (0.01, 0.09))
(18000.0, 'ok')
>>> cost_per_admission_avoided(900.0, 0.05, (-0.01, 0.09))
(None, 'interval_includes_zero')
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["break_even", "cost_per_admission_avoided", "return_on_investment"]


def break_even(programme_cost: float, cost_per_admission: float, counterfactual_rate: float) -> dict[str, Any]:
    """The fall in emergency admissions per person-year at which the programme pays for itself.

    Returns ``admissions_needed`` (per enrolled person-year), ``pct_reduction_needed`` (of the
    admissions expected without the programme), ``rate_ratio_needed`` and ``achievable`` (False
    when more than every expected admission would have to be avoided).
    """
    if not (np.isfinite(programme_cost) and np.isfinite(cost_per_admission) and cost_per_admission > 0):
        return {"admissions_needed": float("nan"), "pct_reduction_needed": float("nan"),
                "rate_ratio_needed": float("nan"), "achievable": False}
    need = float(programme_cost) / float(cost_per_admission)
    pct = 100.0 * need / counterfactual_rate if counterfactual_rate > 0 else float("inf")
    return {"admissions_needed": need, "pct_reduction_needed": pct, "rate_ratio_needed": 1 - pct / 100,
            "achievable": bool(pct <= 100)}


def return_on_investment(programme_cost: np.ndarray | float, activity_cost_change: np.ndarray | float) -> np.ndarray:
    """``(savings - programme cost) / programme cost`` with savings ``= -activity_cost_change``."""
    p = np.asarray(programme_cost, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, (-np.asarray(activity_cost_change, dtype=float) - p) / p, np.nan)


def cost_per_admission_avoided(programme_cost: float, avoided: float,
                               avoided_interval: tuple[float, float]) -> tuple[float | None, str]:
    """Programme cost per emergency admission avoided, only when the avoided count's interval excludes zero.

    Returns ``(value, "ok")``, or ``(None, "interval_includes_zero")`` / ``(None, "more_admissions")``
    (the interval lies wholly on the side of *more* admissions) / ``(None, "not_estimable")``.
    """
    lo, hi = avoided_interval
    if not all(np.isfinite([programme_cost, avoided, lo, hi])):
        return None, "not_estimable"
    if lo <= 0 <= hi:
        return None, "interval_includes_zero"
    if hi < 0:
        return None, "more_admissions"
    return float(programme_cost) / float(avoided), "ok"
