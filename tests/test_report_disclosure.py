"""Disclosure control on hand-made tables (HES convention, secondary suppression, FFT rule)."""
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.errors import ReportError
from evaltool.report.disclosure import (
    DisclosureConfig,
    apply_disclosure,
    disclosure_note,
    round_count,
)


def test_hes_primary_and_rounding():
    # 0 stays 0; 1-7 hidden; others rounded to the nearest 5 (12 -> 10, 13 -> 15, 12.5-style halves go up).
    t = pd.DataFrame({"site": list("ABCDEF"), "n": [0, 3, 12, 40, 7, 13]})
    out = apply_disclosure(t, ["n"]).table
    assert out["n"].tolist() == [0, "*", 10, 40, "*", 15]


def test_input_not_mutated():
    t = pd.DataFrame({"n": [3, 40, 52]})
    before = t.copy()
    apply_disclosure(t, ["n"])
    pd.testing.assert_frame_equal(t, before)


def test_secondary_suppression_hides_next_smallest():
    # One hidden cell (3) could be recovered from the column total 95, so the next smallest (40) goes too.
    res = apply_disclosure(pd.DataFrame({"n": [3, 40, 52, 0]}), ["n"])
    assert res.table["n"].tolist() == ["*", "*", 50, 0]
    assert (res.n_primary, res.n_secondary) == (1, 1)


def test_secondary_skips_zeros():
    # A zero is not a protective choice ("*" means 1 or more), so 9 is hidden rather than 0.
    res = apply_disclosure(pd.DataFrame({"n": [2, 0, 9, 100]}), ["n"])
    assert res.table["n"].tolist() == ["*", 0, "*", 100]


def test_secondary_by_group():
    t = pd.DataFrame({"g": ["x", "x", "x", "y", "y"], "n": [2, 30, 50, 20, 25]})
    res = apply_disclosure(t, ["n"], group_by=("g",))
    # Group x: 2 hidden -> 30 hidden too; group y has no small cell and keeps its values.
    assert res.table["n"].tolist() == ["*", "*", 50, 20, 25]


def test_secondary_rows_and_columns_iterate():
    # 2x2 with published row and column totals: hiding the 3 forces 30 (column), 20 (row), then 40 (column b).
    t = pd.DataFrame({"a": [3, 30], "b": [20, 40]})
    res = apply_disclosure(t, ["a", "b"], additive_rows=True)
    assert res.hidden[["a", "b"]].to_numpy().all()
    # Without row totals only the column is protected.
    res2 = apply_disclosure(t, ["a", "b"])
    assert res2.table["a"].tolist() == ["*", "*"] and res2.table["b"].tolist() == [20, 40]


def test_derived_percentages_from_rounded_parts_and_suppressed():
    t = pd.DataFrame({"n": [12, 40, 48], "pct": [12.0, 40.0, 48.0]})
    out = apply_disclosure(t, ["n"], [("pct", "n")]).table
    assert out["n"].tolist() == [10, 40, 50]
    assert out["pct"].tolist() == pytest.approx([10.0, 40.0, 50.0])  # 10/100, 40/100, 50/100
    t2 = pd.DataFrame({"n": [3, 45, 52], "rate": [0.5, 7.5, 8.7]})
    out2 = apply_disclosure(t2, ["n"], [("rate", "n")]).table
    # A rate (not a share of the total) is left as computed unless its count is hidden.
    assert out2["rate"].tolist() == ["*", "*", 8.7]


def test_fft_rule():
    cfg = DisclosureConfig.fft()
    assert apply_disclosure(pd.DataFrame({"n": [2, 3, 10, 25]}), ["n"], config=cfg).table["n"].tolist() == \
        ["*", "*", 10, 25]
    # 1-4 hidden, no rounding, and the next smallest in the group (10) hidden as well.
    assert apply_disclosure(pd.DataFrame({"n": [4, 10, 25]}), ["n"], config=cfg).table["n"].tolist() == \
        ["*", "*", 25]


def test_configurable_threshold_and_disabled():
    t = pd.DataFrame({"n": [9, 11, 22, 0]})
    out = apply_disclosure(t, ["n"], config=DisclosureConfig(min_count=10, round_to=10)).table
    assert out["n"].tolist() == ["*", "*", 20, 0]
    off = apply_disclosure(t, ["n"], config=DisclosureConfig(enabled=False)).table
    assert off["n"].tolist() == [9, 11, 22, 0]


def test_model_estimates_untouched():
    t = pd.DataFrame({"n_units": [5, 300], "estimate": [0.81, 1.02], "ci_lower": [0.5, 0.9]})
    out = apply_disclosure(t, ["n_units"]).table
    assert out["estimate"].tolist() == [0.81, 1.02] and out["ci_lower"].tolist() == [0.5, 0.9]


def test_round_count_and_note():
    assert round_count(1234) == "1,235" and round_count(1232) == "1,230"
    assert round_count(7) == "*" and round_count(8) == "10" and round_count(0) == "0"
    note = disclosure_note(DisclosureConfig(), 3)
    assert "1 to 7" in note and "nearest 5" in note and "3 table cells are hidden" in note
    assert "Friends and Family" in disclosure_note(DisclosureConfig.fft())


def test_errors_name_columns():
    with pytest.raises(ReportError, match="count_columns.*'nope'"):
        apply_disclosure(pd.DataFrame({"n": [1]}), ["nope"])
    with pytest.raises(ReportError, match="numeric"):
        apply_disclosure(pd.DataFrame({"n": ["a"]}), ["n"])


def test_result_contract():
    check_result_contract(apply_disclosure(pd.DataFrame({"n": [3, 40, 52]}), ["n"]))
