"""Slow checks: CI coverage over simulated replications; Southvale against truth.json."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from evaltool.effects.matched import matched_did, simulate_matched_cohort
from evaltool.errors import EvaltoolWarning

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_poisson_did_ci_coverage_200_replications():
    covered, est = [], []
    for rep in range(200):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EvaltoolWarning)
            coh, act, pop = simulate_matched_cohort(300, rr_under65=0.8, rr_65plus=1.0, base_rate=0.15,
                                                    seed=10_000 + rep)
            r = matched_did(coh, act, pop, subgroups=["age_band"], cluster="subclass")
        for s, truth in (("under 65", 0.8), ("65+", 1.0)):
            e = r.effect(s)
            covered.append(e["ci_lower"] <= truth <= e["ci_upper"])
            est.append(np.log(e["estimate"] / truth))
    assert 0.93 <= np.mean(covered) <= 0.97
    assert abs(np.mean(est)) < 0.02  # bias on the log scale


@pytest.mark.slow
def test_southvale_matched_did_recovers_truth():
    data = ROOT / "example_data" / "southvale"
    if not (data / "population.parquet").exists():
        pytest.skip("Southvale example data not generated")
    pytest.importorskip("evaltool.matching")
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks" / "did"))
    from southvale import run

    r, truth = run(data)
    u65, o65 = r.effect("under 65"), r.effect("65+")
    assert truth["true_rate_ratios"]["emergency_admission"]["under_65"] == 0.8
    # Both intervals contain the truth; with ~2,500 enrolled and trajectory matching the under-65 interval
    # (0.74 to 1.09 with these settings) is too wide to exclude no change, and the report says so.
    assert u65["ci_lower"] < 0.8 < u65["ci_upper"] and u65["estimate"] < 1
    assert o65["ci_lower"] < 1 < o65["ci_upper"]
    naive = r.effect("all", analysis="naive_before_after")
    assert naive["estimate"] < 0.75  # the false fall the matched design removes
    json.dumps(r.to_dict(), default=str)
