"""EQ-5D against R's eq5d (github.com/fragla/eq5d bfdc7ca, built from source; reference output and the script
that made it in tests/reference/eq5d/): every state of the new UK 5L value set, the UK 3L VAS set and the EuroQol
reverse crosswalk; the Paretian classification with its "No problems" class; the probability of superiority."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool.proms import eq5d_index, pchc, pchc_summary, probability_of_superiority

REF = Path(__file__).parent / "reference" / "eq5d"


def test_uk_5l_2026_every_state():
    ref = pd.read_csv(REF / "eq5d_uk_5l_vt_all_states.csv", dtype={"state": str})
    assert len(ref) == 3125
    ours = eq5d_index(ref["state"].tolist(), value_set="uk_5l_2026")
    np.testing.assert_allclose(ours.to_numpy(), ref["uk_5l_vt"].to_numpy(), atol=1e-12, rtol=0)
    assert ours.min() == pytest.approx(-0.567)


@pytest.mark.parametrize("value_set,col", [("uk_3l_vas", "uk_3l_vas"), ("reverse_crosswalk_england", "england_rcw_eq")])
def test_uk_3l_sets_every_state(value_set, col):
    ref = pd.read_csv(REF / "eq5d_uk_3l_all_states.csv", dtype={"state": str})
    assert len(ref) == 243
    ours = eq5d_index(ref["state"].tolist(), value_set=value_set)
    np.testing.assert_allclose(ours.to_numpy(), ref[col].to_numpy(), atol=1e-12, rtol=0)


@pytest.fixture(scope="module")
def pairs() -> pd.DataFrame:
    return pd.read_csv(REF / "eq5d_pairs_5l.csv", dtype={"pre": str, "post": str})


def test_pchc_no_problems_equals_eq5d(pairs):
    ours = pchc_summary(pairs["pre"], pairs["post"]).set_index("category")
    ref = pd.read_csv(REF / "eq5d_pchc_no_problems.csv").set_index("class")
    names = {"No change": "no_change", "Improve": "better", "Worsen": "worse", "Mixed change": "mixed",
             "Total with problems": "total_with_problems", "No problems": "no_problems"}
    for r, o in names.items():
        assert ours.loc[o, "n"] == ref.loc[r, "number"]
        assert round(ours.loc[o, "percent"], 1) == ref.loc[r, "percent"]  # eq5d rounds to 1 decimal
    # the invalid profile (pair 396) is left out, as eq5d's ignore.invalid = TRUE
    assert ours.loc[["total_with_problems", "no_problems"], "n"].sum() == len(pairs) - 1
    plain = pchc(pairs["pre"], pairs["post"]).value_counts()
    ref2 = pd.read_csv(REF / "eq5d_pchc.csv").set_index("class")
    assert plain["no_change"] == ref2.loc["No change", "number"]  # without the class, 11111 -> 11111 is no change


def test_probability_of_superiority_equals_eq5d(pairs):
    ours = probability_of_superiority(pairs["pre"], pairs["post"]).set_index("dimension")
    ref = pd.read_csv(REF / "eq5d_ps.csv").set_index("dimension")
    for d in ("MO", "SC", "UA", "PD", "AD"):
        assert ours.loc[d.lower(), "ps"] == pytest.approx(ref.loc[d, "ps"], abs=1e-10)  # eq5d printed to 10 digits
