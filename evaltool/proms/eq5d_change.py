"""Change between paired EQ-5D profiles: the Paretian Classification of Health Change and the probability of
superiority, as R's eq5d package computes them (Devlin, Parkin and Browne 2010; Devlin et al. 2020, "Methods
for Analyzing and Reporting EQ-5D Data", chapter 3).

* :func:`pchc` classifies each pair: ``better`` (some dimension better, none worse), ``worse``, ``mixed`` and
  ``no_change``; with ``no_problems=True`` (eq5d's default) a pair in full health (11111) both times is
  ``no_problems`` rather than ``no_change``.
* :func:`pchc_summary` counts them as eq5d's ``pchc(..., no.problems = TRUE, totals = TRUE)``: the four change
  classes as percentages of the pairs *with problems*, and "total with problems" against "no problems" as
  percentages of all pairs.
* :func:`probability_of_superiority` is eq5d's ``ps()``: for each dimension, the share of pairs that improved
  plus half the share that did not change, (improved + 0.5 x unchanged) / valid pairs; 0.5 = no change on
  balance, above 0.5 = improvement.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaltool.errors import DataValidationError
from evaltool.proms.eq5d import DIMENSIONS, validate_profiles

__all__ = ["PCHC_CATEGORIES", "pchc", "pchc_summary", "probability_of_superiority"]

PCHC_CATEGORIES = ("no_change", "better", "worse", "mixed", "no_problems")


def _paired(before: Any, after: Any, instrument: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b, ok_b = validate_profiles(before, instrument, on_invalid="mask")
    a, ok_a = validate_profiles(after, instrument, on_invalid="mask")
    if len(b) != len(a):
        raise DataValidationError(f"`before` and `after` must be paired (same length); found {len(b)} and {len(a)}.")
    return a.to_numpy() - b.to_numpy(), np.asarray(ok_a & ok_b), b.to_numpy()


def pchc(before: Any, after: Any, instrument: str = "EQ-5D-5L", *, no_problems: bool = False) -> pd.Series:
    """Paretian Classification of Health Change of each pair (``<NA>`` where a profile is unusable).

    Examples
    --------
    >>> pchc(["21111", "11111", "12111", "11111"], ["11111", "11112", "21111", "11111"]).tolist()
    ['better', 'worse', 'mixed', 'no_change']
    >>> pchc(["11111"], ["11111"], no_problems=True).tolist()
    ['no_problems']
    """
    diff, ok, b = _paired(before, after, instrument)
    better = (diff < 0).any(axis=1)  # a higher level is worse
    worse = (diff > 0).any(axis=1)
    cat = np.select([better & worse, better, worse], ["mixed", "better", "worse"], default="no_change")
    if no_problems:
        cat = np.where((cat == "no_change") & (b == 1).all(axis=1), "no_problems", cat)
    out = pd.Series(cat, dtype="object")
    out[~ok] = None
    return out


def pchc_summary(before: Any, after: Any, instrument: str = "EQ-5D-5L") -> pd.DataFrame:
    """Counts and percentages as eq5d's ``pchc(no.problems = TRUE, totals = TRUE)``, unrounded.

    Rows: no_change, better, worse, mixed (percent of pairs with problems), total_with_problems and
    no_problems (percent of all valid pairs).

    Examples
    --------
    >>> t = pchc_summary(["11111", "11111", "21111", "21111"], ["11111", "11111", "11111", "31111"])
    >>> t.set_index("category")["percent"].round(1).to_dict()
    {'no_change': 0.0, 'better': 50.0, 'worse': 50.0, 'mixed': 0.0, 'total_with_problems': 50.0, 'no_problems': 50.0}
    """
    cat = pchc(before, after, instrument, no_problems=True).dropna()
    n = {c: int((cat == c).sum()) for c in PCHC_CATEGORIES}
    with_p = n["no_change"] + n["better"] + n["worse"] + n["mixed"]
    total = with_p + n["no_problems"]
    rows = [(c, n[c], 100 * n[c] / with_p if with_p else np.nan) for c in ("no_change", "better", "worse", "mixed")]
    rows += [("total_with_problems", with_p, 100 * with_p / total if total else np.nan),
             ("no_problems", n["no_problems"], 100 * n["no_problems"] / total if total else np.nan)]
    return pd.DataFrame(rows, columns=["category", "n", "percent"])


def probability_of_superiority(before: Any, after: Any, instrument: str = "EQ-5D-5L") -> pd.DataFrame:
    """Per dimension: (improved + 0.5 x unchanged) / valid pairs, as eq5d's ``ps()`` (unrounded).

    Examples
    --------
    >>> probability_of_superiority(["21111", "11111"], ["11111", "11111"]).set_index("dimension")["ps"].tolist()
    [0.75, 0.5, 0.5, 0.5, 0.5]
    """
    diff, ok, _ = _paired(before, after, instrument)
    d = diff[ok]
    rows = []
    for j, dim in enumerate(DIMENSIONS):
        better, same = int((d[:, j] < 0).sum()), int((d[:, j] == 0).sum())
        worse = int((d[:, j] > 0).sum())
        n = better + same + worse
        rows.append({"dimension": dim, "n_better": better, "n_same": same, "n_worse": worse, "n_pairs": n,
                     "ps": (better + 0.5 * same) / n if n else np.nan})
    return pd.DataFrame(rows)
