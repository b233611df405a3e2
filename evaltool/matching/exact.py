"""Exact and coarsened exact matching (CEM): subclasses defined by covariate values or bins."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["exact_codes", "coarsen", "strata_match"]


def exact_codes(data: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Integer code of each row's combination of ``columns`` values (0..k-1, in sorted order).

    Examples
    --------
    >>> exact_codes(pd.DataFrame({"s": ["M", "F", "M"]}), ["s"]).tolist()
    [1, 0, 1]
    """
    if not columns:
        return np.zeros(len(data), dtype=np.int64)
    return data.groupby(list(columns), sort=True, dropna=False).ngroup().to_numpy(dtype=np.int64)


def coarsen(x: pd.Series, cutpoints: str | int | Sequence[float] = "sturges") -> np.ndarray:
    """Bin a numeric variable as MatchIt's CEM does: Sturges' number of equal-width bins between the
    minimum and maximum (outer bins open), or a given number of bins, or explicit cut points.

    Examples
    --------
    >>> coarsen(pd.Series([0.0, 1, 2, 3, 4, 5, 6, 7]), 2).tolist()
    [1, 1, 1, 1, 2, 2, 2, 2]
    """
    v = pd.to_numeric(x).to_numpy(dtype=float)
    if isinstance(cutpoints, str):
        if cutpoints != "sturges":
            raise ValueError(f"`cutpoints`: expected 'sturges', a number of bins or cut points; got {cutpoints!r}")
        bins = int(np.ceil(np.log2(v.size) + 1))
    elif np.isscalar(cutpoints):
        bins = int(cutpoints)
    else:
        breaks = np.concatenate([[-np.inf], np.unique(np.asarray(cutpoints, dtype=float)), [np.inf]])
        return np.searchsorted(breaks, v, side="right")
    breaks = np.linspace(v.min(), v.max(), bins + 1)
    breaks[0], breaks[-1] = -np.inf, np.inf
    return np.searchsorted(breaks, v, side="right")  # R's findInterval


def strata_match(codes: np.ndarray, treat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep strata holding both treated and controls; return (subclass per row, -1 = dropped; empty-stratum flag
    for treated rows whose stratum has no control).

    Examples
    --------
    >>> strata_match(np.array([0, 0, 1, 2]), np.array([True, False, True, False]))[0].tolist()
    [0, 0, -1, -1]
    """
    t = np.asarray(treat, dtype=bool)
    m = int(codes.max()) + 1 if codes.size else 0
    has1 = np.bincount(codes[t], minlength=m) > 0
    has0 = np.bincount(codes[~t], minlength=m) > 0
    keep = has1 & has0
    new = np.full(m, -1, dtype=np.int64)
    new[keep] = np.arange(int(keep.sum()))
    sub = new[codes]
    empty = t & ~has0[codes]
    return sub, empty
