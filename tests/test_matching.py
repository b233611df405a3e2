"""evaltool.matching.match against R MatchIt (stored reference output), simulations and bad inputs."""
from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaltool.matching as M
from evaltool._result import check_result_contract
from evaltool.errors import DataValidationError, MatchingError, MatchingWarning, SpecError

HERE = Path(__file__).parent
REF = HERE / "reference" / "matchit"
COV = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
BAL_COLS = {"Means Treated": "mean_treated", "Means Control": "mean_control_after", "Std. Mean Diff.": "smd_after",
            "Var. Ratio": "var_ratio_after", "eCDF Mean": "ecdf_mean_after", "eCDF Max": "ecdf_max_after"}


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(HERE / "data" / "lalonde.csv")


def _att(res: M.MatchResult, y: str = "re78") -> float:
    md = res.matched_data()
    t = md[res.treatment] == 1
    return float(np.average(md.loc[t, y], weights=md.loc[t, "weights"])
                 - np.average(md.loc[~t, y], weights=md.loc[~t, "weights"]))


def _compare_balance(res: M.MatchResult, ref_csv: Path, part: str = "after") -> None:
    ref = pd.read_csv(ref_csv).set_index("covariate")
    ours = res.balance().set_index("covariate")
    for rcol, ocol in BAL_COLS.items():
        if rcol not in ref.columns:
            continue
        if part == "before":
            ocol = {"mean_control_after": "mean_control_before"}.get(ocol, ocol.replace("_after", "_before"))
        a = ref[rcol].astype(float)
        b = ours.loc[a.index, ocol].astype(float)
        both_na = a.isna() & b.isna()
        np.testing.assert_allclose(b[~both_na].round(4), a[~both_na].round(4), atol=1.01e-4, err_msg=f"{rcol} ({part})")


def test_lalonde_nearest_reproduces_matchit_documentation(lalonde):
    res = M.match(lalonde, "treat", COV)
    assert (res.n_treated_matched, res.n_control_matched) == (185, 185)
    assert round(_att(res), 2) == 894.37  # MatchIt's documented ATT for this call
    # The treatment coefficient of lm(re78 ~ treat, weights) equals the weighted difference in means.
    _compare_balance(res, REF / "evaltool_nearest_balance_matched.csv")  # MatchIt's bal1var on our set
    _compare_balance(res, REF / "nearest_balance_all.csv", part="before")  # summary(m)$sum.all


def test_propensity_score_matches_glm(lalonde):
    ref = pd.read_csv(REF / "nearest_units.csv")
    res = M.match(lalonde, "treat", COV)
    np.testing.assert_allclose(res.distance, ref["distance"], atol=1e-8)


def test_matchit_451_emulation_reproduces_its_pairs_exactly(lalonde):
    """Same sort, order and skip logic with 4.5.1's integer abs() (bug #163) gives its exact output."""
    res = M.match(lalonde, "treat", COV, _matchit_451=True)
    ref = pd.read_csv(REF / "nearest_units.csv")
    np.testing.assert_array_equal(res.weights, ref["weights"])
    assert round(_att(res), 6) == 770.390168
    _compare_balance(res, REF / "nearest_balance_matched.csv")
    r2 = M.match(lalonde, "treat", COV, ratio=2, _matchit_451=True)
    np.testing.assert_array_equal(r2.weights, pd.read_csv(REF / "ratio2_units.csv")["weights"])
    _compare_balance(r2, REF / "ratio2_balance_matched.csv")


@pytest.mark.parametrize("case,kwargs", [
    ("mahal_exact", {"distance": "mahalanobis", "exact": ["married", "nodegree"]}),
    ("cem", {"method": "cem"}),
])
def test_methods_unaffected_by_163_match_matchit(lalonde, case, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatchingWarning)
        res = M.match(lalonde, "treat", COV, **kwargs)
    np.testing.assert_allclose(res.weights, pd.read_csv(REF / f"{case}_units.csv")["weights"], atol=1e-12)
    _compare_balance(res, REF / f"{case}_balance_matched.csv")


def test_caliper_sanity(lalonde):
    """4.5.1 ignores PS calipers (#163): check the caliper itself, not its pair choices."""
    with pytest.warns(MatchingWarning, match="not matched"):
        res = M.match(lalonde, "treat", COV, caliper=0.2)
    sd = np.std(res.distance, ddof=1)
    assert res.caliper_abs == pytest.approx(0.2 * sd)
    md = res.matched_data()
    t = md[md.treat == 1].set_index("subclass")["distance"]
    c = md[md.treat == 0].set_index("subclass")["distance"]
    assert (np.abs(t - c.loc[t.index]) <= res.caliper_abs + 1e-15).all()
    assert res.unmatched == {"no_control_within_caliper": 185 - res.n_treated_matched}
    assert res.n_treated_matched == 113
    nocal = M.match(lalonde, "treat", COV)
    assert res.max_abs_smd_after < 0.2 < nocal.max_abs_smd_after


def test_replace_weights_follow_matchit_rule(lalonde):
    res = M.match(lalonde, "treat", COV, replace=True, ratio=2)
    w = res.weights[~res.treat]
    assert w[w > 0].sum() == pytest.approx(res.n_control_matched)
    assert res.n_treated_matched == 185 and res.n_control_matched < 370


def test_exact_strata_and_order(lalonde):
    res = M.match(lalonde, "treat", COV, exact=["married"], order="random", seed=3)
    md = res.matched_data()
    per_set = md.groupby("subclass")["married"].nunique()
    assert (per_set == 1).all()
    again = M.match(lalonde, "treat", COV, exact=["married"], order="random", seed=3)
    np.testing.assert_array_equal(res.weights, again.weights)


def test_caller_data_unchanged(lalonde):
    before = lalonde.copy()
    M.match(lalonde, "treat", COV, caliper=0.5)
    pd.testing.assert_frame_equal(before, lalonde)


def _simulate(rng, n=4000, effect=2.0):
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, size=n)
    x3 = rng.normal(size=n)
    lin = -2.5 + 0.8 * x1 + 0.7 * x2 - 0.5 * x3
    t = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    y = 1.0 + 1.5 * x1 + 1.0 * x2 - 1.0 * x3 + effect * t + rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "treat": t, "y": y})


def test_simulation_att_unbiased():
    rng = np.random.default_rng(20261122)
    naive, matched = [], []
    for _ in range(20):
        df = _simulate(rng, n=4000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MatchingWarning)  # a few treated fall outside the caliper
            res = M.match(df, "treat", ["x1", "x2", "x3"], caliper=0.2)
        matched.append(_att(res, "y"))
        naive.append(df.y[df.treat == 1].mean() - df.y[df.treat == 0].mean())
    matched, naive = np.array(matched), np.array(naive)
    se = matched.std(ddof=1) / np.sqrt(matched.size)
    assert abs(matched.mean() - 2.0) < max(3 * se, 0.03)
    assert naive.mean() - 2.0 > 0.5  # the confounding is real


# --- bad input ------------------------------------------------------------------------------------
def test_no_treated_no_controls(lalonde):
    with pytest.raises(MatchingError, match="no treated"):
        M.match(lalonde.assign(treat=0), "treat", COV)
    with pytest.raises(MatchingError, match="no control"):
        M.match(lalonde.assign(treat=1), "treat", COV)


def test_constant_covariate(lalonde):
    with pytest.raises(MatchingError, match=r"\['k'\] are constant"):
        M.match(lalonde.assign(k=1.0), "treat", COV + ["k"])


def test_perfect_separation(lalonde):
    df = lalonde.assign(sep=np.where(lalonde.treat == 1, 1.0, 0.0) + np.arange(len(lalonde)) * 1e-4)
    with pytest.raises(MatchingError, match="perfect separation"):
        M.match(df, "treat", ["sep", "age"])


def test_missing_policy(lalonde):
    df = lalonde.copy()
    df.loc[[3, 10, 400], "age"] = np.nan
    with pytest.raises(DataValidationError, match=r"missing values in column\(s\) \['age'\] at rows 4, 11, 401"):
        M.match(df, "treat", COV)
    with pytest.warns(MatchingWarning, match="excluded 3 rows"):
        res = M.match(df, "treat", COV, missing="exclude")
    assert res.discarded == {"missing_covariate": 3}
    assert res.n_treated + res.n_control == len(df) - 3


def test_caliper_leaving_nobody(lalonde):
    dist = np.where(lalonde.treat == 1, 0.9, 0.1) + np.arange(len(lalonde)) * 1e-6
    with pytest.raises(MatchingError, match="nobody was matched.*widen `caliper`"):
        M.match(lalonde, "treat", COV, distance=dist, caliper=0.1, std_caliper=False)


def test_spec_messages(lalonde):
    with pytest.raises(SpecError, match=r"`caliper`: expected a number > 0, got -1"):
        M.match(lalonde, "treat", COV, caliper=-1)
    with pytest.raises(SpecError, match="`ratio`"):
        M.match(lalonde, "treat", COV, ratio=0)
    with pytest.raises(DataValidationError, match="lacks column"):
        M.match(lalonde, "treat", ["nope"])


def test_result_contract(lalonde):
    res = M.match(lalonde, "treat", COV)
    check_result_contract(res)
    assert "1:1 nearest neighbour matching without replacement" in str(res.summary())
    d = res.to_dict()
    assert d["n_treated_matched"] == 185 and "balance" in d
    res.plot("distance")


@pytest.mark.slow
@pytest.mark.needs_r
def test_rerun_matchit_reference(tmp_path, lalonde):
    """Rerun the R script when R + MatchIt are present and check the stored output is what R gives."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed")
    ok = subprocess.run(["Rscript", "-e", "library(MatchIt)"], capture_output=True)
    if ok.returncode != 0:
        pytest.skip("R package MatchIt not installed")
    out = subprocess.run(["Rscript", str(REF / "lalonde_matchit.R")], capture_output=True, text=True,
                         cwd=HERE.parent, check=True)
    stored = (REF / "lalonde_matchit.Rout").read_text()
    assert out.stdout == stored


def test_prognostic_score_as_distance(lalonde):
    """Matching on a prognostic score (outcome model on controls' pre-period earnings) balances that score."""
    score = M.prognostic_score(lalonde, "treat", "re75", ["age", "educ", "race", "married", "nodegree", "re74"])
    res = M.match(lalonde, "treat", COV, distance=score)
    bt = res.balance().set_index("covariate")
    assert abs(bt.loc["distance", "smd_after"]) < 0.05 < abs(bt.loc["distance", "smd_before"])


def test_ecdf_of_whole_numbers_counted_exactly_and_as_sorting_would():
    """Whole-number covariates (ages, counts) get their eCDF statistics by counting per value rather than by
    sorting the rows: exact to one rounding with unit weights (the cumulated sum of 1/n over millions of rows
    is not), and the same as the sorted computation with weights."""
    from fractions import Fraction

    from evaltool.matching.balance import _ecdf

    rng = np.random.default_rng(11)
    n = 300_000
    t = rng.random(n) < 0.03
    x = rng.poisson(np.where(t, 2.5, 1.5)).astype(float) - 1.0  # a negative value too
    em, ex = _ecdf(x, t, np.ones(n), False)
    vals = np.unique(x)
    ct = np.searchsorted(np.sort(x[t]), vals, side="right")
    cc = np.searchsorted(np.sort(x[~t]), vals, side="right")
    diffs = [abs(Fraction(int(a), int(t.sum())) - Fraction(int(b), int((~t).sum()))) for a, b in zip(ct, cc)]
    assert abs(Fraction(em) - sum(diffs) / len(diffs)) < Fraction(1, 10**15)
    assert abs(Fraction(ex) - max(diffs)) < Fraction(1, 10**15)
    # Weighted (a matched sample) and on a range too wide to count: the sorted computation, to rounding.
    w = rng.random(n) * (rng.random(n) < 0.5)
    w[t] = 1.0
    sorted_em, sorted_ex = _ecdf(x + 0.5, t, w, False)  # not whole numbers: sorted
    counted_em, counted_ex = _ecdf(x, t, w, False)
    assert counted_em == pytest.approx(sorted_em, abs=1e-12) and counted_ex == pytest.approx(sorted_ex, abs=1e-12)
    wide = x * 1_000_000.0  # whole numbers over 10^7 values: sorted
    assert _ecdf(wide, t, w, False) == pytest.approx((counted_em, counted_ex), abs=1e-12)


def test_unweighted_balance_fast_path_equals_the_weighted_computation():
    """An unweighted sample (risk-set matching's candidates before matching) is summarised without gathering
    the controls' rows or argsorting: the same statistics as the weighted computation with unit weights (to
    rounding), including groups of one and of none."""
    from evaltool.matching.balance import _stats, _unit_stats, _wvar

    rng = np.random.default_rng(5)
    n = 20_000
    t = rng.random(n) < 0.05
    cols = {"float": rng.normal(size=n) * 3, "float_ties": np.round(rng.gamma(2.0, size=n), 2),
            "whole": rng.poisson(3, size=n).astype(float), "binary": (rng.random(n) < 0.3).astype(float)}
    for tt in (t, np.zeros(n, bool), np.eye(1, n, 7, dtype=bool)[0], np.ones(n, bool)):
        for name, x in cols.items():
            binary = name == "binary"
            sd = np.sqrt(_wvar(x[tt], np.ones(int(tt.sum())), binary))
            want = _stats(x, tt, np.ones(n), sd, binary)
            got_sd, got = _unit_stats(x, tt, np.flatnonzero(tt), None, binary)
            np.testing.assert_allclose(got_sd, sd, rtol=1e-12, equal_nan=True)
            for k, v in want.items():
                np.testing.assert_allclose(got[k], v, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=f"{name} {k}")
