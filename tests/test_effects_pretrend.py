"""The parallel-trends judgement by magnitude: the statistic, and its wording on a tiny deviation with a
very large sample (p near 0, but too small to matter) and on a real violation."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evaltool.effects.matched_config import MatchedDidConfig
from evaltool.effects.matched_stage import run_stage
from evaltool.effects.pretrend import pretrend_assessment
from evaltool.errors import EvaltoolWarning
from evaltool.report.sentences_pretrend import pretrend_sentence, pretrend_verdict

PRE = np.arange(-12, -1)


def _two_group_event_study(n_per_month: float, slope: float, rr: float, seed: int, blip: float = 0.0):
    """Monthly event counts of two large groups; the enrolled group's log rate drifts by ``slope`` a month
    (and ``blip`` in month -6) before enrolment. Returns the pre-period log rate ratios against month -1,
    their exact large-sample covariance and the DiD log rate ratio."""
    rng = np.random.default_rng(seed)
    months = np.arange(-12, 12)
    drift = slope * (months + 1) + blip * (months == -6)
    lam_c = np.full(months.size, n_per_month)
    lam_t = n_per_month * np.exp(drift) * np.where(months >= 0, rr, 1.0)
    yc, yt = rng.poisson(lam_c), rng.poisson(lam_t)
    lr = np.log(yt) - np.log(yc)
    ref = months == -1
    pre = (months < -1)
    b = lr[pre] - lr[ref][0]
    var = 1 / yt + 1 / yc
    V = np.diag(var[pre]) + var[ref][0]  # the shared reference month
    did = np.log(yt[months >= 0].sum() / yc[months >= 0].sum()) - np.log(yt[months < 0].sum() / yc[months < 0].sum())
    # joint Wald test of the pre-period coefficients
    from scipy import stats

    stat = float(b @ np.linalg.solve(V, b))
    return b, V, did, float(stats.chi2.sf(stat, b.size))


def _facts(b, V, did, p, outcome="emergency_admission"):
    a = pretrend_assessment(b, V, PRE, post_months=12, effect=did)
    f = {f"{outcome}.pretrend.{k}": v for k, v in a.items()}
    f[f"{outcome}.pretrend_p_value"] = p
    f[f"{outcome}.pretrend.scale"] = "rate_ratio"
    f[f"{outcome}.did.all.rate_ratio"] = float(np.exp(did))
    return a, f


def test_tiny_deviation_in_a_very_large_sample_is_called_small_not_failed():
    # ~2 million events a month per group; the enrolled drift by 0.05% a month and have a 1% blip in one month.
    b, V, did, p = _two_group_event_study(2e6, slope=0.0005, rr=0.8, seed=1, blip=0.01)
    a, f = _facts(b, V, did, p)
    assert p < 1e-6  # the joint test rejects...
    assert a["bias_ratio_ci_upper"] < 1.02 and a["bias_ratio_ci_lower"] > 0.98  # ...for a bias under 2%
    assert a["equivalent"] is True
    assert pretrend_verdict(f) == "similar"
    s = pretrend_sentence(f)
    assert "almost exactly the same way" in s and "statistically detectable (p < 0.001)" in s
    assert "too small to change the finding" in s and "caution" not in s


def test_real_violation_is_called_diverged():
    # A modest sample whose enrolled group's rate rises 3% a month before enrolment (and on after it).
    b, V, did, p = _two_group_event_study(400, slope=0.03, rr=1.0, seed=2)
    a, f = _facts(b, V, did, p)
    assert a["bias_significant"] and a["bias_ratio"] > 1.2
    assert pretrend_verdict(f) == "diverged"
    s = pretrend_sentence(f)
    assert "did not follow the same path" in s and "caution" in s


def test_imprecise_null_is_uncertain_and_no_facts_is_said_plainly():
    b, V, did, p = _two_group_event_study(25, slope=0.0, rr=0.8, seed=3)
    a, f = _facts(b, V, did, p)
    assert not a["bias_significant"] and not a["equivalent"]
    assert pretrend_verdict(f) == "uncertain"
    assert "cannot be ruled out" in pretrend_sentence(f)
    assert pretrend_verdict({}) is None
    assert "could not be checked" in pretrend_sentence({})


def test_trend_statistic_against_direct_gls():
    rng = np.random.default_rng(4)
    b = rng.normal(0, 0.05, PRE.size) + 0.01 * (PRE + 1)
    A = rng.normal(size=(PRE.size, PRE.size))
    V = A @ A.T * 1e-4 + np.eye(PRE.size) * 1e-3
    a = pretrend_assessment(b, V, PRE, post_months=6, effect=-0.2)
    X = np.column_stack([np.ones(PRE.size), PRE + 1.0])
    Vi = np.linalg.inv(V)
    cov = np.linalg.inv(X.T @ Vi @ X)
    theta = cov @ X.T @ Vi @ b
    assert a["slope"] == pytest.approx(theta[1], rel=1e-10)
    assert a["slope_se"] == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-10)
    assert a["gap_months"] == pytest.approx(2.5 + 6.5)  # mean of 0..5 minus mean of -12..-1
    assert a["bias"] == pytest.approx(theta[1] * 9.0, rel=1e-10)
    assert a["margin"] == pytest.approx(max(np.log(1.05), 0.05))


def _violating_cohort(n_pairs: int, slope: float, seed: int):
    """Matched pairs sharing an index date; the enrolled's admission rate drifts by ``slope`` a month."""
    rng = np.random.default_rng(seed)
    n = 2 * n_pairs
    treated = np.tile([1, 0], n_pairs)
    idx = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 180, n_pairs), unit="D")
    index_date = np.repeat(idx.values, 2)
    level = np.repeat(rng.gamma(2.0, 0.06, n_pairs), 2)
    months = np.arange(-12, 12)
    lam = level[:, None] * np.exp(slope * (months + 1)[None, :] * treated[:, None])
    y = rng.poisson(lam)
    i, m = np.nonzero(y)
    reps = y[i, m]
    i, m = np.repeat(i, reps), np.repeat(m, reps)
    day = pd.to_timedelta(np.floor((months[m] + rng.random(i.size)) * 30.4).astype(int), unit="D")
    ids = np.array([f"v{k:05d}" for k in range(n)])
    act = pd.DataFrame({"person_id": ids[i], "date": pd.DatetimeIndex(index_date[i]) + day,
                        "setting": "emergency_admission"})
    coh = pd.DataFrame({"person_id": ids, "treated": treated, "index_date": pd.DatetimeIndex(index_date),
                        "subclass": np.repeat(np.arange(n_pairs), 2), "weights": 1.0, "age_at_index": 60,
                        "censor_date": pd.NaT})
    pop = pd.DataFrame({"person_id": ids, "treated": treated})
    return coh, act, pop


def test_stage_publishes_the_magnitude_and_the_sentence_reads_it():
    coh, act, pop = _violating_cohort(1500, slope=0.04, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaltoolWarning)
        out = run_stage(coh, pop, act, MatchedDidConfig(outcomes=("emergency_admission",), subgroups=()), seed=1)
    f = out.facts
    for k in ("bias_ratio", "bias_ratio_ci_lower", "bias_ratio_ci_upper", "margin_ratio", "equivalent",
              "bias_significant", "slope", "gap_months", "max_abs_deviation_pct"):
        assert f"emergency_admission.pretrend.{k}" in f
    # the enrolled's rate rises 4% a month: continued over the 12-month gap, a bias of about exp(0.48) = 1.6
    assert f["emergency_admission.pretrend.bias_ratio"] == pytest.approx(np.exp(0.04 * 12), rel=0.15)
    assert pretrend_verdict(f) == "diverged"
    assert "did not follow the same path" in pretrend_sentence(f)
    tab = out.tables["pretrend_assessment"]
    assert tab.loc[0, "outcome"] == "emergency_admission" and bool(tab.loc[0, "bias_significant"])
