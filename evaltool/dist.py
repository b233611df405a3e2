"""The distribution functions the statistics use: normal, Student's t, chi-squared and F tails and quantiles.

Each is the function of :mod:`scipy.special` that :mod:`scipy.stats` itself calls for these distributions
(``norm``, ``t``, ``chi2``, ``f`` in ``scipy/stats/_continuous_distns.py``: ``ndtr``, ``ndtri``, ``stdtr``,
``stdtrit``, ``chdtrc``, ``fdtrc``), so the values are the same bit for bit (a test compares them over a grid
with the edge cases: probabilities 0 and 1, infinite and missing values, degrees of freedom 0 or infinite).
Importing :mod:`scipy.stats` builds its hundred-odd distribution objects, about 0.8 s of every run's time, for
these seven functions; :mod:`scipy.special` is imported anyway (the propensity model and the fits use it).

Arguments are numbers or arrays (a pandas Series is read as its array); the result is a NumPy float for
numbers and an array for arrays, as from :mod:`scipy.stats`.

Examples
--------
>>> round(float(norm_ppf(0.975)), 6), round(float(t_ppf(0.975, 10)), 6)
(1.959964, 2.228139)
>>> float(norm_sf(0.0)), round(float(chi2_sf(3.841458820694124, 1)), 6)
(0.5, 0.05)
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special as sc

__all__ = ["chi2_sf", "f_sf", "norm_cdf", "norm_ppf", "norm_sf", "t_ppf", "t_sf"]


def _a(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _out(value: np.ndarray) -> Any:
    value = np.asarray(value, dtype=float)
    return value[()] if value.ndim == 0 else value


def _tail(x: np.ndarray, ok: np.ndarray, lower: float, f: Any, *params: np.ndarray) -> Any:
    """P(X > x) as scipy.stats gives it: ``f(*params, x)`` inside the support, 1 at or below its lower end, 0 at
    +inf, NaN for a missing ``x`` or invalid parameters (``ok`` False)."""
    inside = ok & (x > lower) & (x < np.inf)
    with np.errstate(all="ignore"):
        val = f(*(np.where(inside, p, 1.0) for p in params), np.where(inside, x, 1.0))
    return _out(np.where(inside, val, np.where(ok & (x <= lower), 1.0, np.where(ok & (x == np.inf), 0.0, np.nan))))


def _quantile(q: np.ndarray, ok: np.ndarray, lower: float, f: Any, *params: np.ndarray) -> Any:
    """The quantile of probability ``q`` as scipy.stats gives it: ``f(*params, q)`` for 0 < q < 1, the support's
    ends at 0 and 1, NaN otherwise."""
    inside = ok & (q > 0) & (q < 1)
    with np.errstate(all="ignore"):
        val = f(*(np.where(inside, p, 1.0) for p in params), np.where(inside, q, 0.5)) + 0.0  # as loc + scale * x
    return _out(np.where(inside, val, np.where(ok & (q == 0), lower, np.where(ok & (q == 1), np.inf, np.nan))))


def _positive(*df: np.ndarray) -> np.ndarray:
    ok = np.ones(np.broadcast(*df).shape, bool)
    for d in df:
        ok = ok & (d > 0)
    return ok


def norm_cdf(x: Any) -> Any:
    """P(Z <= x) for a standard normal Z."""
    x = _a(x)
    return _out(np.where(np.isnan(x), np.nan, sc.ndtr(x)))


def norm_sf(x: Any) -> Any:
    """P(Z > x) for a standard normal Z."""
    x = _a(x)
    return _tail(x, np.ones(x.shape, bool), -np.inf, lambda v: sc.ndtr(-v))


def norm_ppf(q: Any) -> Any:
    """The standard normal quantile of probability ``q`` (NaN outside 0-1)."""
    q = _a(q)
    return _quantile(q, np.ones(q.shape, bool), -np.inf, sc.ndtri)


def t_sf(x: Any, df: Any) -> Any:
    """P(T > x) for Student's t with ``df`` degrees of freedom (NaN when ``df`` is not positive)."""
    x, df = _a(x), _a(df)
    return _tail(x, _positive(df), -np.inf, lambda d, v: sc.stdtr(d, -v), df)


def t_ppf(q: Any, df: Any) -> Any:
    """The quantile of probability ``q`` of Student's t with ``df`` degrees of freedom (NaN when ``df`` is not
    positive or ``q`` is outside 0-1)."""
    q, df = _a(q), _a(df)
    return _quantile(q, _positive(df), -np.inf, sc.stdtrit, df)


def chi2_sf(x: Any, df: Any) -> Any:
    """P(X > x) for a chi-squared X with ``df`` degrees of freedom (1 for x <= 0)."""
    x, df = _a(x), _a(df)
    return _tail(x, _positive(df), 0.0, sc.chdtrc, df)


def f_sf(x: Any, dfn: Any, dfd: Any) -> Any:
    """P(F > x) for an F distribution with ``dfn`` and ``dfd`` degrees of freedom (1 for x <= 0)."""
    x, dfn, dfd = _a(x), _a(dfn), _a(dfd)
    return _tail(x, _positive(dfn, dfd), 0.0, sc.fdtrc, dfn, dfd)
