"""statsmodels-style accessors for regression-like results: ``params``, ``bse``, ``tvalues``,
``pvalues``, ``conf_int()``, ``nobs``.

They are views of one coefficient table (pyfixest's idea: one source of truth), which each result
class provides through ``_coef_frame()``: one row per coefficient, indexed by term, with
``estimate, std_error, p_value, ci_lower, ci_upper``. ``to_frame()`` stays the tidy, complete
table; these accessors are for code written against statsmodels, linearmodels or pyfixest.

Coefficients are on the model's scale: log rate ratios for Poisson and negative binomial models,
differences for linear ones. ``conf_int()`` returns the intervals the estimator computed (which
may be bootstrap or uniform bands); ask for another level by re-fitting with ``alpha``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from evaltool.errors import SpecError

__all__ = ["COEF_COLUMNS", "RegressionResultsMixin", "int_labels"]

#: The columns of ``_coef_frame()``.
COEF_COLUMNS = ["estimate", "std_error", "p_value", "ci_lower", "ci_upper"]


class RegressionResultsMixin:
    """Adds ``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()`` and ``nobs``.

    Subclasses implement ``_coef_frame()`` and ``_nobs()``; ``_alpha()`` defaults to 0.05.
    """

    def _coef_frame(self) -> pd.DataFrame:  # pragma: no cover - implemented by each result class
        raise NotImplementedError

    def _nobs(self) -> int:  # pragma: no cover
        raise NotImplementedError

    def _alpha(self) -> float:
        settings = getattr(self, "settings", None) or {}
        return float(settings.get("alpha", getattr(self, "alpha", 0.05)) or 0.05)

    @property
    def params(self) -> pd.Series:
        """Coefficients, indexed by term (the model's scale: log rate ratios for count models)."""
        return self._coef_frame()["estimate"].rename("params")

    @property
    def bse(self) -> pd.Series:
        """Standard errors of :attr:`params`."""
        return self._coef_frame()["std_error"].rename("bse")

    @property
    def tvalues(self) -> pd.Series:
        """``params / bse`` (z or t statistics, as the estimator's inference uses)."""
        f = self._coef_frame()
        return (f["estimate"] / f["std_error"]).rename("tvalues")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of :attr:`params`."""
        return self._coef_frame()["p_value"].rename("pvalues")

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Confidence intervals: columns ``0`` (lower) and ``1`` (upper), as statsmodels.

        Parameters
        ----------
        alpha : float, optional
            Must equal the level the result was estimated at (intervals may come from a bootstrap,
            so they are not recomputed here); re-fit with ``alpha=...`` for another level.
        """
        fitted = self._alpha()
        if alpha is not None and not np.isclose(alpha, fitted):
            raise SpecError(f"`alpha`: this result's intervals are at alpha={fitted:g}, got {alpha:g}; "
                            f"re-fit with alpha={alpha:g} for that level")
        f = self._coef_frame()
        return pd.DataFrame({0: f["ci_lower"], 1: f["ci_upper"]}, index=f.index)

    @property
    def nobs(self) -> int:
        """Number of observations the estimate uses (see the class docs for what one is)."""
        return int(self._nobs())


def int_labels(values: pd.Series | list | np.ndarray) -> pd.Index:
    """Labels as integers where every one is a whole number (``2004.0`` -> ``2004``), else unchanged.

    Examples
    --------
    >>> list(int_labels([2004.0, 2006.0]))
    [2004, 2006]
    >>> list(int_labels(["-3.0", "2"]))
    [-3, 2]
    >>> list(int_labels(["overall", "1"]))
    ['overall', '1']
    """
    s = pd.Series(list(values))
    num = pd.to_numeric(s, errors="coerce")
    if len(s) and num.notna().all() and np.all(np.mod(num.to_numpy(float), 1) == 0):
        return pd.Index(num.astype("int64").to_list())
    return pd.Index(s.to_list())
