"""Person-level covariate columns stored in the smallest dtype that holds them exactly.

Matching keeps the propensity design and the balance covariates of every person in the population, one
row per person: at national scale (10 million people) a float64 matrix of ~20 columns is 1.6 GB, most of it
indicators and small integers. :class:`CompactColumns` stores each column losslessly -- 0/1 indicators and
small integers as 1-, 2- or 4-byte integers, values that survive a round trip through float32 as float32,
anything else as float64 -- and gives back float64 rows on demand, equal bit for bit to the matrix it
replaces (so matches, estimates and tables do not change).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["CompactColumns", "compact_column"]

_INTS = (np.int8, np.int16, np.int32)


def compact_column(col: np.ndarray) -> np.ndarray:
    """``col`` (float64) in the smallest dtype that converts back to exactly the same float64 values.

    Examples
    --------
    >>> compact_column(np.array([0.0, 1.0, 1.0])).dtype
    dtype('int8')
    >>> compact_column(np.array([0.5, 1000.25])).dtype
    dtype('float32')
    >>> compact_column(np.array([0.1, 2.0])).dtype
    dtype('float64')
    >>> compact_column(np.array([1.0, np.nan])).dtype
    dtype('float32')
    """
    col = np.asarray(col, dtype=np.float64)
    if col.size == 0:
        return col
    finite = np.isfinite(col)
    if finite.all():
        lo, hi = col.min(), col.max()
        for t in _INTS:
            info = np.iinfo(t)
            if info.min <= lo and hi <= info.max:
                c = col.astype(t)
                if np.array_equal(c.astype(np.float64), col):
                    return c
                break  # not integer-valued: no wider integer type will do either
    c32 = col.astype(np.float32)
    back = c32.astype(np.float64)
    if np.array_equal(back, col, equal_nan=True) and np.array_equal(np.signbit(back), np.signbit(col)):
        return c32
    return col


class CompactColumns:
    """Named float64 columns of equal length, each stored by :func:`compact_column`.

    Examples
    --------
    >>> cc = CompactColumns.from_columns([("a", np.array([1.0, 0.0, 1.0])), ("b", np.array([0.1, 0.2, 0.3]))])
    >>> cc.names, cc.take(np.array([2, 0])).tolist()
    (['a', 'b'], [[1.0, 0.3], [1.0, 0.1]])
    >>> cc.column("b", np.array([1])).tolist(), cc.nbytes
    ([0.2], 27)
    """

    def __init__(self, names: list[str], columns: list[np.ndarray], n: int) -> None:
        self.names = list(names)
        self._cols = columns
        self._pos = {nm: j for j, nm in enumerate(self.names)}
        self.n = n

    @classmethod
    def from_columns(cls, columns: Iterable[tuple[str, np.ndarray]], n: int | None = None) -> CompactColumns:
        """Store ``(name, column)`` pairs as they come (one float64 column in memory at a time)."""
        names, cols = [], []
        for name, col in columns:
            names.append(name)
            cols.append(compact_column(col))
            n = len(col) if n is None else n
        return cls(names, cols, 0 if n is None else n)

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, len(self.names)

    @property
    def nbytes(self) -> int:
        return int(sum(c.nbytes for c in self._cols))

    def take(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The float64 matrix of ``rows`` (C order, as indexing the full float64 matrix gives); ``out`` (a
        ``len(rows)`` x ``len(names)`` float64 array or view) receives it instead of a new array."""
        if out is None:
            out = np.empty((len(rows), len(self._cols)), dtype=np.float64)
        for j, c in enumerate(self._cols):
            out[:, j] = c[rows]
        return out

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Column ``name`` at ``rows`` as float64."""
        return self._cols[self._pos[name]][rows].astype(np.float64)
