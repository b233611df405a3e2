"""Paretian classification of health change and probability of superiority against the R package eq5d.

References: tests/reference/eq5d/ (eq5d 0.16.3.9000 run in R 4.2.2 on 2026-12-01; eq5d_reference.R and
its .Rout): pchc() with no.problems and totals TRUE/FALSE, whole profiles and by dimension; pchc(summary =
FALSE); ps() -- on eq5d's own 3L test pairs and on 400 generated 5L pairs (two groups, missing and
out-of-range profiles).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.proms import paretian_analysis, pchc, pchc_table, probability_of_superiority
from evaltool.proms.paretian import R_LABELS

REF = Path(__file__).parent / "reference" / "eq5d"
R_DIMS = {"MO": "mo", "SC": "sc", "UA": "ua", "PD": "pd", "AD": "ad", "profile": "profile"}


def _pairs(dataset: str, group: str) -> tuple[list, list, str]:
    if dataset == "eq5d_testdata_3l":
        pre = pd.read_csv(REF / "eq5d_testdata_pre.csv", dtype=str)["x"]
        post = pd.read_csv(REF / "eq5d_testdata_post.csv", dtype=str)["x"]
        return pre.tolist(), post.tolist(), "EQ-5D-3L"
    d = pd.read_csv(REF / "pairs_5l.csv", dtype=str)
    if group != "all":
        d = d[d["group"] == group]
    return d["pre"].tolist(), d["post"].tolist(), "EQ-5D-5L"


REF_SUMMARY = pd.read_csv(REF / "pchc_summary.csv")
CASES = sorted(set(zip(REF_SUMMARY["dataset"], REF_SUMMARY["group"])))


@pytest.mark.parametrize("dataset,group", CASES)
@pytest.mark.parametrize("no_problems", [True, False])
def test_pchc_counts_and_percentages_equal_r_eq5d(dataset, group, no_problems):
    pre, post, instrument = _pairs(dataset, group)
    ours = pd.concat([pchc_table(pre, post, instrument, no_problems=no_problems),
                      pchc_table(pre, post, instrument, no_problems=no_problems, by_dimension=True)])
    r = REF_SUMMARY[(REF_SUMMARY["dataset"] == dataset) & (REF_SUMMARY["group"] == group)
                    & (REF_SUMMARY["no_problems"] == no_problems)]
    assert len(r) > 0
    by_label = {v: k for k, v in R_LABELS.items()}
    for (dim, totals), rt in r.groupby(["dimension", "totals"]):
        mine = ours[ours["dimension"] == R_DIMS[dim]].set_index("category")
        n_pairs = int(mine["n_pairs"].iloc[0])
        for _, row in rt.iterrows():
            where = f"{dataset}/{group} {dim} no.problems={no_problems} totals={totals} {row['category']}"
            if row["category"] == "Total with problems":
                assert mine["n_with_problems"].iloc[0] == row["number"], where
                assert abs(100 * row["number"] / n_pairs - row["percent"]) <= 0.05 + 1e-9, where
                continue
            if row["category"] == "Total":  # no.problems = FALSE, totals = TRUE: all pairs
                # (R's Percent here is the sum of the rounded percentages, e.g. 99.9)
                assert n_pairs == row["number"] and abs(row["percent"] - 100) <= 0.2, where
                continue
            cat = by_label[row["category"]]
            assert mine.loc[cat, "n"] == row["number"], where
            pct = mine.loc[cat, "pct"] if totals else mine.loc[cat, "pct_all_pairs"]
            assert abs(pct - row["percent"]) <= 0.05 + 1e-9, where  # R rounds to 1 decimal
        # Every class eq5d reports is reported here, and nothing else (no Mixed change by dimension).
        r_cats = {by_label[c] for c in rt["category"] if c in by_label}
        assert r_cats == set(mine.index), (dim, r_cats, set(mine.index))


def test_eq5d_published_test_table_exactly():
    # eq5d's tests/testdata/pchc_noprob_true_totals_true.csv on its pre/post data: 8, 46, 11, 10, 75 (97.4%), 2.
    pre, post, _ = _pairs("eq5d_testdata_3l", "all")
    t = pchc_table(pre, post, "EQ-5D-3L").set_index("category")
    assert t["n"].to_dict() == {"no_change": 8, "better": 46, "worse": 11, "mixed": 10, "no_problems": 2}
    assert t.loc["better", "pct"] == pytest.approx(100 * 46 / 75)  # 61.3: over the 75 pairs with problems
    assert t.loc["no_problems", "pct"] == pytest.approx(100 * 2 / 77)  # 2.6: over all 77 valid pairs
    assert t["n_with_problems"].iloc[0] == 75 and t["n_pairs"].iloc[0] == 77


def test_individual_classes_equal_r_eq5d():
    ref = pd.read_csv(REF / "pchc_individual.csv", dtype={"pre": str, "post": str})
    by_label = {v: k for k, v in R_LABELS.items()}
    for (dataset, group), r in ref.groupby(["dataset", "group"]):
        pre, post, instrument = _pairs(dataset, group)
        got = pchc(pre, post, instrument)
        want = r["pchc_no_problems_true"].map(by_label)
        assert got.isna().tolist() == want.isna().tolist(), (dataset, group)
        assert got.dropna().tolist() == want.dropna().tolist(), (dataset, group)


def test_no_problems_regression_11111_is_not_no_change():
    t = pchc_table(["11111", "11111", "21111"], ["11111", "11111", "11111"], "EQ-5D-5L").set_index("category")
    assert t.loc["no_problems", "n"] == 2 and t.loc["no_change", "n"] == 0
    assert t.loc["better", "pct"] == 100.0  # 1 of the 1 pair with problems
    old = pchc_table(["11111", "11111", "21111"], ["11111", "11111", "11111"], no_problems=False).set_index("category")
    assert old.loc["no_change", "n"] == 2 and old.loc["better", "pct"] == pytest.approx(100 / 3)


def test_probability_of_superiority_equals_r_eq5d():
    ref = pd.read_csv(REF / "ps.csv")
    for (dataset, group), r in ref.groupby(["dataset", "group"]):
        pre, post, instrument = _pairs(dataset, group)
        got = probability_of_superiority(pre, post, instrument).set_index("dimension")["ps"]
        want = r.assign(dimension=r["dimension"].map(R_DIMS)).set_index("dimension")
        np.testing.assert_allclose(got.loc[want.index], want["ps"], atol=1e-12, err_msg=f"{dataset}/{group}")
        np.testing.assert_allclose(got.loc[want.index].round(2), want["ps_digits2"], atol=1e-12)
    # eq5d's own test expectations (tests/testthat/test-eqps.R): MO .59, SC .62, UA .61, PD .66, AD .56.
    pre, post, _ = _pairs("eq5d_testdata_3l", "all")
    assert probability_of_superiority(pre, post, "EQ-5D-3L")["ps"].round(2).tolist() == [0.59, 0.62, 0.61, 0.66, 0.56]


def test_superiority_interval_covers_known_truth():
    # Per dimension a pair is better with prob .3, worse .2, the same .5: PS = .3 + .25 = .55.
    rng = np.random.default_rng(7)
    hits = np.zeros(5)
    reps, n = 300, 150
    for _ in range(reps):
        pre = rng.integers(2, 5, (n, 5))
        u = rng.random((n, 5))
        post = pre - (u < 0.3) + ((u >= 0.3) & (u < 0.5))
        b = pd.DataFrame(pre, columns=["mo", "sc", "ua", "pd", "ad"])
        a = pd.DataFrame(post, columns=["mo", "sc", "ua", "pd", "ad"])
        r = probability_of_superiority(b, a)
        hits += ((r["ci_lower"] <= 0.55) & (0.55 <= r["ci_upper"])).to_numpy()
    coverage = hits / reps
    assert ((coverage > 0.91) & (coverage < 0.985)).all(), coverage


def test_long_form_analysis_by_group_matches_pairs_and_contract():
    d = pd.read_csv(REF / "pairs_5l.csv", dtype=str)
    long = []
    for tp, col in (("baseline", "pre"), ("6m", "post")):
        lv = d[col].fillna("").str.pad(5, fillchar=" ")
        part = pd.DataFrame({"person_id": d["id"], "group": d["group"], "timepoint": tp})
        for i, dim in enumerate(["mo", "sc", "ua", "pd", "ad"]):
            part[f"eq5d_{dim}"] = pd.to_numeric(lv.str[i], errors="coerce")
        long.append(part[d[col].notna()])
    res = paretian_analysis(pd.concat(long), group_col="group")
    check_result_contract(res)
    ref = REF_SUMMARY[(REF_SUMMARY["dataset"] == "pairs_5l") & REF_SUMMARY["no_problems"] & REF_SUMMARY["totals"]
                      & (REF_SUMMARY["dimension"] == "profile")]
    by_label = {v: k for k, v in R_LABELS.items()}
    for g in ("A", "B"):
        mine = res.profile[res.profile["group"] == g].set_index("category")["n"]
        r = ref[(ref["group"] == g) & ref["category"].isin(list(by_label))]
        assert {by_label[c]: int(n) for c, n in zip(r["category"], r["number"])} == mine.to_dict()
    ps = res.superiority.set_index(["group", "dimension"])["ps"]
    rps = pd.read_csv(REF / "ps.csv").query("dataset == 'pairs_5l' and group == 'A'")
    np.testing.assert_allclose(ps.loc["A"].loc[[R_DIMS[x] for x in rps["dimension"]]], rps["ps"], atol=1e-12)
