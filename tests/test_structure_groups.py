"""The publication gate's row groups (evaltool.report.structure._row_groups) are pandas' groupby groups, on
tables with missing values, repeated labels and every dtype a results table read from its CSV has, in order of their first row
(the order pandas 3 gives; pandas 2 put some groups with a missing key elsewhere, so the gate's order no longer
depends on the pandas version)."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from evaltool.report.structure import _row_groups


def test_row_groups_equal_pandas_groupby_indices():
    rng = np.random.default_rng(1)
    pools = [["a", "b", "c", None, np.nan, "All"], [1, 2, 3], [1.5, 2.5, np.nan], ["x", "y"], [True, False]]
    compared = 0
    for trial in range(150):
        n = int(rng.integers(2, 40))
        df = pd.DataFrame({f"k{j}": [pools[p][i] for i in rng.integers(0, len(pools[p]), n)]
                           for j, p in enumerate(rng.integers(0, len(pools), 4))})
        codes = {k: pd.factorize(df[k], use_na_sentinel=False)[0] for k in df}
        rows = np.flatnonzero(rng.random(n) < 0.7)
        if len(rows) < 2:
            continue
        for r in range(1, 4):
            for by in itertools.combinations(df.columns, r):
                ref = [rows[np.asarray(ix)] for ix in df.iloc[rows].reset_index(drop=True).groupby(
                    list(by), sort=False, dropna=False).indices.values()]
                ref = sorted((sorted(g.tolist()) for g in ref), key=lambda g: g[0])  # by first row
                got = [g.tolist() for g in _row_groups(codes, rows, by)]
                assert got == ref, (df.iloc[rows], by)
                compared += 1
    assert compared > 1000
    assert [g.tolist() for g in _row_groups({}, np.array([3, 5]), ())] == [[3, 5]]
