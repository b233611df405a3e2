"""Krippendorff's alpha for nominal, ordinal, interval and ratio data.

Built on the coincidence matrix (Krippendorff K. Computing Krippendorff's alpha-reliability. University
of Pennsylvania, 2011; https://repository.upenn.edu/asc_papers/43): each unit with ``m_u >= 2`` values
adds ``(n_uc n_uk - [c=k] n_uc) / (m_u - 1)`` to ``o_ck``; ``n_c`` are its margins and ``n`` its total;

    alpha = 1 - (n - 1) * sum_ck o_ck d2_ck / sum_ck n_c n_k d2_ck

with the squared difference ``d2_ck`` of the level of measurement:

* nominal: 0 when ``c == k``, else 1;
* ordinal: ``(sum_{g=c..k} n_g - (n_c + n_k) / 2)^2`` over the values in their order (so only the
  ranks of the values matter, weighted by how often each is used);
* interval: ``(c - k)^2``;
* ratio: ``((c - k) / (c + k))^2`` (values must be >= 0).

Units with fewer than two values are not pairable and are dropped. tests/test_qual_alpha.py checks
Krippendorff (2011)'s worked example (section C; published nominal .743, ordinal .815, interval .849,
ratio .797) and the ``krippendorff`` package on random data with missing values.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from evaltool.errors import DataValidationError

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _coincidences(data: np.ndarray | pd.DataFrame, weights: np.ndarray | None, numeric: bool
                  ) -> tuple[np.ndarray, pd.Index]:
    d = pd.DataFrame(data)
    values = d.stack().dropna()  # (coder, unit) -> value
    if numeric:
        num = pd.to_numeric(values, errors="coerce")
        if num.isna().any():
            bad = values[num.isna()].astype(str).unique()[:5].tolist()
            raise DataValidationError(f"`data`: ordinal, interval and ratio alpha need numbers; found {bad}")
        values = num.astype(float)
        cats = pd.Index(np.sort(values.unique()))
    else:
        cats = pd.Index(sorted(values.unique(), key=str))
    # counts[u, c]: how many coders gave value c to unit u
    codes = cats.get_indexer(values.to_numpy())
    unit_idx = pd.Index(d.columns).get_indexer(values.index.get_level_values(1))
    counts = np.zeros((d.shape[1], len(cats)))
    np.add.at(counts, (unit_idx, codes), 1.0)
    m = counts.sum(axis=1)
    w = np.ones(d.shape[1]) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != d.shape[1]:
        raise DataValidationError(f"`weights` must have one value per unit ({d.shape[1]}); found {len(w)}")
    keep = m >= 2
    counts, m, w = counts[keep], m[keep], w[keep]
    scale = (w / (m - 1))[:, None, None]
    o = (scale * (counts[:, :, None] * counts[:, None, :])).sum(axis=0)
    o -= np.diag((w[:, None] * counts / (m - 1)[:, None]).sum(axis=0))
    return o, cats


def _squared_differences(level: str, cats: pd.Index, n_c: np.ndarray) -> np.ndarray:
    k = len(cats)
    if level == "nominal":
        return 1.0 - np.eye(k)
    v = cats.to_numpy(dtype=float)
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        if (v < 0).any():
            raise DataValidationError(f"`data`: ratio alpha needs values >= 0; found {v[v < 0][:5].tolist()}")
        s = v[:, None] + v[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s > 0, ((v[:, None] - v[None, :]) / np.where(s > 0, s, 1)) ** 2, 0.0)
    # ordinal: cumulative margins between the two ranks
    cum = np.concatenate([[0.0], np.cumsum(n_c)])
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    between = cum[hi + 1] - cum[lo]
    return (between - (n_c[i] + n_c[j]) / 2.0) ** 2


def krippendorff_alpha(data: np.ndarray | pd.DataFrame, level: Level = "nominal",
                       weights: np.ndarray | None = None) -> float:
    """Krippendorff's alpha, any number of coders, missing values allowed.

    Parameters
    ----------
    data:
        Coders x units; NaN (or None) marks a missing value. Nominal: any hashable values; ordinal,
        interval and ratio: numbers (ordinal uses only their order).
    level:
        ``"nominal"``, ``"ordinal"``, ``"interval"`` or ``"ratio"``.
    weights:
        Optional unit weights (a unit of weight w counts as w identical units).

    Returns
    -------
    float
        NaN when fewer than two distinct values are pairable (no expected disagreement).

    Examples
    --------
    >>> x = np.array([[1, 2, 3, 3], [1, 2, 3, 4]])
    >>> round(krippendorff_alpha(x, "nominal"), 4), round(krippendorff_alpha(x, "interval"), 4)
    (0.6957, 0.8889)
    """
    if level not in LEVELS:
        raise DataValidationError(f"`level` must be one of {list(LEVELS)}; found {level!r}")
    o, cats = _coincidences(data, weights, numeric=level != "nominal")
    if len(cats) < 2:
        return float("nan")
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d2 = _squared_differences(level, cats, n_c)
    expected = float((n_c[:, None] * n_c[None, :] * d2).sum())
    if expected <= 0:
        return float("nan")
    return float(1.0 - (n - 1.0) * float((o * d2).sum()) / expected)


def krippendorff_alpha_nominal(data: np.ndarray | pd.DataFrame, weights: np.ndarray | None = None) -> float:
    """Krippendorff's alpha for nominal data (:func:`krippendorff_alpha` with ``level="nominal"``).

    Examples
    --------
    >>> round(krippendorff_alpha_nominal(np.array([[1, 1, 2, 2], [1, 1, 2, 1]])), 4)
    0.5333
    """
    return krippendorff_alpha(data, "nominal", weights)
