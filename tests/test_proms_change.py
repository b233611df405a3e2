"""Change statistics against scipy/statsmodels computed independently, and by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from evaltool.errors import DataValidationError
from evaltool.proms import activation_summary, ancova, attrition, paired_change, pam_levels

BASE = np.array([0.50, 0.62, 0.71, 0.80, 0.45, 0.90, 0.33, 0.58, 0.66, 0.72])
FOLL = np.array([0.61, 0.62, 0.80, 0.78, 0.60, 0.95, 0.40, 0.70, 0.66, 0.85])


def _long(base, foll, ids=None):
    ids = np.arange(len(base)) if ids is None else ids
    return pd.DataFrame({"person_id": np.r_[ids, ids], "timepoint": ["baseline"] * len(base) + ["6m"] * len(foll),
                         "eq5d_index": np.r_[base, foll]})


def test_paired_change_matches_scipy_and_hand():
    df = _long(BASE, FOLL)
    before = df.copy()
    r = paired_change(df, mid=0.074, mid_source="test")
    pd.testing.assert_frame_equal(df, before)
    row = r.table.iloc[0]
    d = FOLL - BASE
    ref = stats.ttest_rel(FOLL, BASE)
    ci = ref.confidence_interval(0.95)
    assert row["n_pairs"] == 10
    assert row["estimate"] == pytest.approx(d.mean(), abs=1e-12)
    assert row["ci_lower"] == pytest.approx(ci.low, abs=1e-12)
    assert row["ci_upper"] == pytest.approx(ci.high, abs=1e-12)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    # Wilcoxon with the two zero differences dropped: hand ranks of |d| among the 8 non-zero
    nz = d[~np.isclose(d, 0)]
    ranks = stats.rankdata(np.abs(nz))
    w_minus = ranks[nz < 0].sum()
    assert row["n_zero_changes"] == 2
    assert row["wilcoxon_statistic"] == pytest.approx(min(w_minus, ranks[nz > 0].sum()))
    assert row["wilcoxon_p_value"] == pytest.approx(stats.wilcoxon(nz).pvalue)
    # SRM and Kazis ES by hand
    assert row["srm"] == pytest.approx(d.mean() / d.std(ddof=1))
    assert row["kazis_es"] == pytest.approx(d.mean() / BASE.std(ddof=1))
    # MID 0.074: changes .11 0 .09 -.02 .15 .05 .07 .12 0 .13 -> five improve by >= .074, none worsen
    assert row["n_improved_mid"] == 5
    assert row["n_worse_mid"] == 0
    assert row["pct_improved_mid"] == pytest.approx(50.0)


def test_exact_zero_changes_are_counted_with_float_data():
    base = np.array([0.848, 0.5, 0.7])
    foll = np.array([0.848, 0.6, 0.9])
    r = paired_change(_long(base, foll))
    assert r.table["n_zero_changes"].iloc[0] == 1


def test_paired_change_unpaired_people_and_groups():
    df = _long(BASE, FOLL)
    df = df[~((df.person_id == 0) & (df.timepoint == "6m"))]  # person 0 lost to follow-up
    df["group"] = np.where(df.person_id < 5, "a", "b")
    r = paired_change(df, group_col="group")
    t = r.table.set_index("group")
    assert t.loc["a", "n_baseline"] == 5 and t.loc["a", "n_followup"] == 4 and t.loc["a", "n_pairs"] == 4
    d = (FOLL - BASE)[1:5]
    assert t.loc["a", "estimate"] == pytest.approx(d.mean())


def test_duplicate_responses_are_an_error():
    df = pd.concat([_long(BASE, FOLL), _long(BASE[:1], FOLL[:1])])
    with pytest.raises(DataValidationError, match="more than one eq5d_index per person_id"):
        paired_change(df)


def test_ancova_matches_statsmodels_with_covariates():
    rng = np.random.default_rng(11)
    n = 120
    base = rng.normal(0.6, 0.2, n)
    grp = np.where(np.arange(n) < 60, "enrolled", "comparison")
    age = rng.integers(40, 90, n).astype(float)
    sex = rng.choice(["F", "M"], n)
    foll = 0.1 + 0.7 * base + 0.08 * (grp == "enrolled") - 0.001 * age + rng.normal(0, 0.1, n)
    df = pd.DataFrame({"person_id": np.r_[np.arange(n), np.arange(n)], "group": np.r_[grp, grp],
                       "timepoint": ["baseline"] * n + ["12m"] * n, "eq5d_index": np.r_[base, foll]})
    cov = pd.DataFrame({"person_id": np.arange(n), "age": age, "sex": sex})
    r = ancova(df, covariates=cov)
    X = sm.add_constant(np.column_stack([base, (grp == "enrolled").astype(float), age, (sex == "M").astype(float)]))
    fit = sm.OLS(foll, X).fit()
    row = r.table.iloc[0]
    assert row["estimate"] == pytest.approx(fit.params[2], abs=1e-10)
    assert row["std_error"] == pytest.approx(fit.bse[2], rel=1e-8)
    lo, hi = fit.conf_int()[2]
    assert row["ci_lower"] == pytest.approx(lo, abs=1e-10) and row["ci_upper"] == pytest.approx(hi, abs=1e-10)
    assert row["p_value"] == pytest.approx(fit.pvalues[2], rel=1e-8)
    assert row["n_treated"] == 60 and row["n_comparison"] == 60
    ch = foll - base
    assert row["unadjusted_difference"] == pytest.approx(ch[:60].mean() - ch[60:].mean())


def test_attrition_welch_matches_scipy():
    rng = np.random.default_rng(3)
    n = 40
    base = rng.normal(0.6, 0.2, n)
    keep = np.arange(n) % 3 != 0
    df = pd.DataFrame({"person_id": np.r_[np.arange(n), np.arange(n)[keep]],
                       "timepoint": ["baseline"] * n + ["6m"] * int(keep.sum()),
                       "eq5d_index": np.r_[base, base[keep] + 0.05]})
    r = attrition(df)
    row = r.attrition.iloc[0]
    ref = stats.ttest_ind(base[keep], base[~keep], equal_var=False)
    ci = ref.confidence_interval()
    assert row["n_completers"] == keep.sum() and row["n_non_completers"] == (~keep).sum()
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert row["ci_lower"] == pytest.approx(ci.low) and row["ci_upper"] == pytest.approx(ci.high)
    flow = r.flow.set_index("timepoint")
    assert flow.loc["6m", "n_both"] == keep.sum()
    assert flow.loc["6m", "pct_retained"] == pytest.approx(100 * keep.mean())


def test_pam_levels_cut_points_and_movement():
    assert pam_levels([0, 47.0, 47.05, 55.1, 55.2, 67.0, 67.1, 100]).tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert pam_levels([50, 60], cut_points=(40, 50, 60)).tolist() == [2, 3]
    with pytest.raises(DataValidationError, match="0-100"):
        pam_levels([101])
    df = pd.DataFrame({"person_id": [1, 1, 2, 2, 3, 3, 4], "timepoint": ["baseline", "12m"] * 3 + ["baseline"],
                       "pam_score": [45, 56, 60, 58, 70, 50, 40], "pam_level": [None, None, None, 4, None, None, None]})
    r = activation_summary(df)
    mv = r.movement.iloc[0]
    # person 1: 1 -> 2 (up); person 2: 3 -> 4 (supplied level wins, up); person 3: 4 -> 2 (down)
    assert (mv["n_pairs"], mv["n_up"], mv["n_down"]) == (3, 2, 1)
    assert mv["pct_up"] == pytest.approx(200 / 3)
    assert r.score_change.table["estimate"].iloc[0] == pytest.approx(np.mean([11, -2, -20]))
    lv = r.levels.query("timepoint == 'baseline'").set_index("level")
    assert lv.loc[1, "n"] == 2 and lv.loc[4, "n"] == 1 and lv.loc[1, "pct"] == 50.0
