"""The UK EQ-5D-5L (2026), UK 3L VAS and EuroQol reverse-crosswalk value sets, on every state.

References: R eq5d 0.16.3.9000 on all 3,125 / 243 states (tests/reference/eq5d/, see its README);
published anchor states; the coefficient tables in the project's shared folder (copied here as literals
with their source, so CI needs no shared folder).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool.errors import DataValidationError
from evaltool.proms import PromsConfig, eq5d_index
from evaltool.proms.valuesets import VALUE_SETS, _UK_3L_VAS, _UK_5L_2026

REF = Path(__file__).parent / "reference" / "eq5d"
SHARED = Path("/work/shared/eq5d")


def test_uk_5l_2026_all_3125_states_equal_r_eq5d():
    ref = pd.read_csv(REF / "valueset_uk_5l_vt.csv", dtype={"state": str})
    assert len(ref) == 3125 and ref["state"].is_unique
    got = eq5d_index(ref["state"].tolist(), value_set="uk_5l_2026")
    np.testing.assert_allclose(got.to_numpy(), ref["index_uk_5l_vt"].to_numpy(), atol=1e-12)
    assert got.attrs["value_set_label"] == "EQ-5D-5L value set for the UK (Rowen et al. 2026)"


def test_uk_5l_2026_anchor_states():
    # eq5d's published-state checks (tests/testthat/test-eq5d5l.R) and 1 - sum of the decrements by hand.
    states = {"11111": 1.0, "22222": 0.784, "33333": 0.604, "44444": -0.209, "55555": -0.567,
              "21111": 0.968,   # 1 - .032
              "11112": 0.959,   # 1 - .041
              "12345": 0.114,   # 1 - (.038 + .086 + .371 + .391)
              "54321": 0.417}   # 1 - (.279 + .162 + .086 + .056 + 0)
    got = eq5d_index(list(states), value_set="uk_5l_2026")
    np.testing.assert_allclose(got.to_numpy(), list(states.values()), atol=1e-12)
    # The abstract (Rowen et al. 2026): the worst state's value is comparable to the UK 3L's (-0.594).
    assert abs(got.iloc[4] - -0.594) < 0.05


def test_uk_3l_vas_and_reverse_crosswalk_all_243_states_equal_r_eq5d():
    ref = pd.read_csv(REF / "valueset_uk_3l_vas_rcw.csv", dtype={"state": str})
    assert len(ref) == 243 and ref["state"].is_unique
    vas = eq5d_index(ref["state"].tolist(), value_set="uk_3l_vas")
    np.testing.assert_allclose(vas.to_numpy(), ref["index_uk_3l_vas"].to_numpy(), atol=1e-12)
    rcw = eq5d_index(ref["state"].tolist(), value_set="reverse_crosswalk_euroqol")
    np.testing.assert_allclose(rcw.to_numpy(), ref["index_england_rcw_eq"].to_numpy(), atol=1e-12)


def test_uk_3l_vas_and_reverse_crosswalk_anchor_states():
    # UK VAS (MVH model, Szende et al. 2007), as eq5d's tests check: 11111 1, 11211 .814, 22222 .503,
    # 32323 .066, 33333 -.073; by hand 11211 = 1 - .155 - .031.
    got = eq5d_index(["11111", "11211", "22222", "32323", "33333"], value_set="uk_3l_vas")
    np.testing.assert_allclose(got.to_numpy(), [1.0, 0.814, 0.503, 0.066, -0.073], atol=1e-12)
    # EuroQol reverse crosswalk (England): 11111 .965, 22222 .540, 32123 .289, 33333 -.172.
    got = eq5d_index(["11111", "22222", "32123", "33333"], value_set="reverse_crosswalk_euroqol")
    np.testing.assert_allclose(got.to_numpy(), [0.965, 0.540, 0.289, -0.172], atol=1e-12)


def test_coefficients_equal_the_shared_tables():
    # /work/shared/eq5d/eq5d5l_uk_2026_vt_coefficients.csv (eq5d data-raw/VT.csv column UK) and
    # eq5d3l_uk_vas_coefficients.csv (data-raw/VAS.csv column UK), written out:
    uk5 = {"MO": (-0.032, -0.058, -0.179, -0.279), "SC": (-0.038, -0.06, -0.162, -0.206),
           "UA": (-0.049, -0.086, -0.184, -0.212), "PD": (-0.056, -0.066, -0.371, -0.479),
           "AD": (-0.041, -0.126, -0.313, -0.391)}
    for dim, coefs in uk5.items():
        assert tuple(-c for c in _UK_5L_2026[dim.lower()]) == coefs
    vas = {"MO": (-0.071, -0.182), "SC": (-0.093, -0.145), "UA": (-0.031, -0.081), "PD": (-0.084, -0.171),
           "AD": (-0.063, -0.124)}
    for dim, coefs in vas.items():
        assert tuple(-c for c in _UK_3L_VAS[dim.lower()]) == coefs
    if (SHARED / "eq5d5l_uk_2026_vt_coefficients.csv").exists():  # and the shared files themselves, when present
        t = pd.read_csv(SHARED / "eq5d5l_uk_2026_vt_coefficients.csv")
        for dim, g in t[t["level"] > 1].groupby("dimension"):
            assert tuple(g.sort_values("level")["coefficient"]) == uk5[dim]
        v = pd.read_csv(SHARED / "eq5d3l_uk_vas_coefficients.csv").set_index("term")["coefficient"]
        assert (v["FullHealth"], v["AtLeastOne2Or3"], v["AtLeastOne3"]) == (1.0, -0.155, -0.215)
        for dim, coefs in vas.items():
            assert (v[f"{dim}2"], v[f"{dim}3"]) == coefs
    if (SHARED / "eq5d3l_to_5l_reverse_crosswalk_england_euroqol.csv").exists():
        s = pd.read_csv(SHARED / "eq5d3l_to_5l_reverse_crosswalk_england_euroqol.csv", dtype={"state": str})
        got = eq5d_index(s["state"].tolist(), value_set="reverse_crosswalk_euroqol")
        np.testing.assert_allclose(got.to_numpy(), s["index_5l_england_reverse_crosswalk"].to_numpy(), atol=0)


def test_new_value_sets_check_their_instrument_and_are_spec_options():
    with pytest.raises(DataValidationError, match="1-3"):
        eq5d_index(["11114"], value_set="uk_3l_vas")
    with pytest.raises(DataValidationError, match="1-3"):
        eq5d_index(["11114"], value_set="reverse_crosswalk_euroqol")
    for key in ("uk_5l_2026", "uk_3l_vas", "reverse_crosswalk_euroqol"):
        assert PromsConfig(value_set=key, instrument=VALUE_SETS[key].instrument).value_set == key
        assert VALUE_SETS[key].caveat  # each carries what a reader must know
