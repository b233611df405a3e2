"""The critical value and p-value of an area estimate: t on ``dof`` degrees of freedom, normal when infinite."""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["critical_and_p"]


def critical_and_p(estimate: float, std_error: float, dof: float, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided critical value and p-value for ``estimate / std_error``.

    Examples
    --------
    >>> [round(x, 4) for x in critical_and_p(2.0, 1.0, float("inf"))]
    [1.96, 0.0455]
    >>> round(critical_and_p(2.0, 1.0, 19.0)[0], 4)
    2.093
    """
    dist = stats.t(dof) if np.isfinite(dof) else stats.norm
    crit = float(dist.ppf(1 - alpha / 2))
    p = float(2 * dist.sf(abs(estimate / std_error))) if std_error > 0 else float("nan")
    return crit, p
