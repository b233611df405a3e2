"""evaltool.dist gives exactly what scipy.stats gives for the distributions the statistics use."""
from __future__ import annotations

import itertools
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaltool import dist

XS = [-np.inf, -50, -3.2, -1.96, -1e-300, -0.0, 0.0, 1e-300, 0.3, 1.0, 1.959964, 3.84, 7.5, 40, 1e5, np.inf, np.nan]
QS = [-0.1, 0.0, 1e-300, 1e-12, 0.025, 0.25, 0.5, 0.6, 0.975, 0.999999, 1.0, 1.1, np.nan]
DFS = [-1, 0, 0.5, 1, 2, 3, 7, 24, 29.5, 100, 1e6, np.inf, np.nan]


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
        return False
    live = ~np.isnan(a)
    return bool(np.array_equal(np.signbit(a)[live], np.signbit(b)[live]))  # -0.0 and 0.0 told apart


def _check(ours, theirs, grid):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad = [args for args in grid if not _same(ours(*args), theirs(*args))]
    assert not bad, bad[:5]


@pytest.mark.parametrize("ours, theirs", [(dist.norm_sf, stats.norm.sf), (dist.norm_cdf, stats.norm.cdf)])
def test_normal_tails(ours, theirs):
    _check(ours, theirs, [(x,) for x in XS])


def test_normal_quantiles():
    _check(dist.norm_ppf, stats.norm.ppf, [(q,) for q in QS])


@pytest.mark.parametrize("ours, theirs", [(dist.t_sf, stats.t.sf), (dist.chi2_sf, stats.chi2.sf)])
def test_t_and_chi_squared_tails(ours, theirs):
    _check(ours, theirs, list(itertools.product(XS, DFS)))


def test_t_quantiles():
    _check(dist.t_ppf, stats.t.ppf, list(itertools.product(QS, DFS)))


def test_f_tail():
    _check(dist.f_sf, stats.f.sf, list(itertools.product(XS, DFS, DFS)))


def test_arrays_series_and_whole_numbers_come_back_as_from_scipy_stats():
    x, q = np.array(XS), np.array(QS)
    df = pd.Series([2, 3, 1, 0, 5])
    pairs = [(dist.norm_sf(x), stats.norm.sf(x)), (dist.norm_ppf(q), stats.norm.ppf(q)),
             (dist.t_sf(x, 7), stats.t.sf(x, 7)), (dist.t_ppf(q, np.full(q.size, 3)), stats.t.ppf(q, np.full(q.size, 3))),
             (dist.t_ppf(0.975, df), stats.t.ppf(0.975, df)), (dist.t_ppf(0.975, 5), stats.t.ppf(0.975, 5))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours, theirs in pairs:
            assert type(ours) is type(theirs) and _same(ours, theirs)


def test_a_run_does_not_import_scipy_stats():
    # The point of the module: the statistics and the report do not pay for scipy.stats (about 0.8 s).
    code = ("import sys, evaltool.pipeline, evaltool.effects.matched_stage, evaltool.effects.rollout_stage, "
            "evaltool.economics.stage, evaltool.proms.stage, evaltool.area.stage, evaltool.report.render; "
            "print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
