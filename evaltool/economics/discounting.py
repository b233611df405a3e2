"""Discounting: present values, annuities and equivalent annual costs.

Convention (NICE reference case; HM Treasury Green Book): costs and effects in year ``k``
(``k = 1`` the first year) are multiplied by ``(1 + r) ** -(k - 1)``, so the first year is
not discounted. A flow spread evenly over a horizon of ``H`` years is split by calendar
year of follow-up and each part discounted with its year's factor.

Examples
--------
>>> round(present_value([100, 100, 100], 0.035), 2)
289.97
>>> round(equivalent_annual_cost(10000, 5, 0.035), 2)
2214.81
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["annual_factors", "annuity_factor", "equivalent_annual_cost", "horizon_factor", "present_value"]


def _rate(rate: float) -> float:
    if not 0 <= rate < 1:
        raise ValueError(f"`rate` must be a yearly rate in [0, 1) such as 0.035; found {rate!r}")
    return float(rate)


def annual_factors(n_years: int, rate: float) -> np.ndarray:
    """Discount factors for years 1..n: ``(1 + rate) ** -(k - 1)``.

    Examples
    --------
    >>> annual_factors(3, 0.035).round(4).tolist()
    [1.0, 0.9662, 0.9335]
    """
    if n_years < 0:
        raise ValueError(f"`n_years` must be >= 0; found {n_years}")
    return (1.0 + _rate(rate)) ** -np.arange(int(n_years), dtype=float)


def present_value(flows: Sequence[float] | np.ndarray, rate: float) -> float:
    """Present value of yearly flows (the first undiscounted).

    Examples
    --------
    >>> present_value([1000.0], 0.035)
    1000.0
    """
    f = np.asarray(flows, dtype=float)
    return float(np.sum(f * annual_factors(len(f), rate)))


def annuity_factor(years: float, rate: float) -> float:
    """Present value of 1 a year for ``years`` years, paid at the end of each year.

    ``(1 - (1 + r) ** -n) / r`` (``n`` when ``r = 0``); used to annuitise set-up costs
    (Drummond et al., *Methods for the Economic Evaluation of Health Care Programmes*).

    Examples
    --------
    >>> round(annuity_factor(5, 0.035), 4)
    4.5151
    """
    r = _rate(rate)
    if years <= 0:
        raise ValueError(f"`years` must be > 0; found {years}")
    return float(years) if r == 0 else float((1 - (1 + r) ** -years) / r)


def equivalent_annual_cost(amount: float, years: float, rate: float) -> float:
    """The yearly charge that repays ``amount`` over ``years`` at ``rate``: amount / annuity factor."""
    return float(amount) / annuity_factor(years, rate)


def horizon_factor(horizon_years: float, rate: float) -> float:
    """Average discount factor of an even flow over ``horizon_years`` (annual convention).

    The flow in follow-up year ``k`` (its part of the horizon) takes factor ``(1 + r) ** -(k - 1)``;
    a horizon of one year or less is not discounted.

    Examples
    --------
    >>> horizon_factor(1.0, 0.035)
    1.0
    >>> round(horizon_factor(2.0, 0.035), 4)
    0.9831
    """
    h = float(horizon_years)
    if h <= 0:
        raise ValueError(f"`horizon_years` must be > 0; found {horizon_years}")
    n = int(np.ceil(h - 1e-12))
    share = np.minimum(1.0, h - np.arange(n))  # part of each year inside the horizon
    return float(np.sum(share * annual_factors(n, rate)) / h)
