"""Critical values and p-values of area estimates: t on ``df`` degrees of freedom, normal when ``df`` is infinite."""
from __future__ import annotations

import numpy as np
from evaltool import dist

__all__ = ["critical", "critical_and_p", "p_value"]


def critical(alpha: float, df: float) -> float:
    """Two-sided critical value.

    Examples
    --------
    >>> round(critical(0.05, float("inf")), 4), round(critical(0.05, 19.0), 4)
    (1.96, 2.093)
    """
    return float(dist.norm_ppf(1 - alpha / 2) if not np.isfinite(df) else dist.t_ppf(1 - alpha / 2, df))


def p_value(z: float, df: float) -> float:
    """Two-sided p-value of the statistic ``z`` (NaN when ``z`` is not finite)."""
    if not np.isfinite(z):
        return float("nan")
    return float(2 * (dist.norm_sf(abs(z)) if not np.isfinite(df) else dist.t_sf(abs(z), df)))


def critical_and_p(estimate: float, std_error: float, dof: float, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided critical value and p-value for ``estimate / std_error`` (p NaN when the SE is not positive).

    Examples
    --------
    >>> [round(x, 4) for x in critical_and_p(2.0, 1.0, float("inf"))]
    [1.96, 0.0455]
    """
    return critical(alpha, dof), (p_value(estimate / std_error, dof) if std_error > 0 else float("nan"))
