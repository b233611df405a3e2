"""EQ-5D index values against published values, hand calculations and the shared mapping tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool.errors import DataValidationError
from evaltool.proms import eq5d_index, level_frequencies, pchc, profile_summary, validate_profiles

SHARED = Path("/work/shared/eq5d")

# England 5L (Devlin et al. 2018): 1 - sum of decrements; decrements
# MO .058 .076 .207 .274 | SC .050 .080 .164 .203 | UA .050 .063 .162 .184 |
# PD .063 .084 .276 .335 | AD .078 .104 .285 .289 (levels 2..5). Sums worked by hand.
ENGLAND_5L_HAND = {
    "11111": 1.000,   # published
    "55555": -0.285,  # published
    "21111": 0.942,   # 1 - .058
    "11112": 0.922,   # 1 - .078
    "11121": 0.937,   # 1 - .063
    "22222": 0.701,   # 1 - (.058+.050+.050+.063+.078)
    "33333": 0.593,   # 1 - (.076+.080+.063+.084+.104)
    "44444": -0.094,  # 1 - (.207+.164+.162+.276+.285)
    "12345": 0.322,   # 1 - (.050+.063+.276+.289)
    "54321": 0.436,   # 1 - (.274+.164+.063+.063)
    "15151": 0.462,   # 1 - (.203+.335)
    "21345": 0.314,   # 1 - (.058+.063+.276+.289)
    "32123": 0.707,   # 1 - (.076+.050+.063+.104)
    "55551": 0.004,   # 1 - (.274+.203+.184+.335)
}

# UK 3L TTO (Dolan 1997): 1 - .081 (any problem) - decrements - .269 (any level 3);
# MO .069 .314 | SC .104 .214 | UA .036 .094 | PD .123 .386 | AD .071 .236.
UK_3L_HAND = {
    "11111": 1.000,
    "33333": -0.594,  # published
    "11112": 0.848,   # 1 - .081 - .071
    "21111": 0.850,   # 1 - .081 - .069
    "12111": 0.815,   # 1 - .081 - .104
    "11211": 0.883,   # 1 - .081 - .036
    "11121": 0.796,   # 1 - .081 - .123
    "22222": 0.516,   # 1 - .081 - (.069+.104+.036+.123+.071)
    "11113": 0.414,   # 1 - .081 - .236 - .269
    "31111": 0.336,   # 1 - .081 - .314 - .269
    "11131": 0.264,   # 1 - .081 - .386 - .269
    "12321": 0.329,   # 1 - .081 - (.104+.094+.123) - .269
    "23232": -0.126,  # 1 - .081 - (.069+.214+.036+.386+.071) - .269
    "33332": -0.429,  # 1 - .081 - (.314+.214+.094+.386+.071) - .269
}


def test_england_5l_published_and_hand_states():
    states = list(ENGLAND_5L_HAND)
    got = eq5d_index(states, value_set="england_5l_2018")
    np.testing.assert_allclose(got.to_numpy(), list(ENGLAND_5L_HAND.values()), atol=1e-12)
    assert got.attrs["value_set_label"].startswith("EQ-5D-5L value set for England (Devlin")


def test_uk_3l_published_and_hand_states():
    got = eq5d_index(list(UK_3L_HAND), value_set="uk_3l_tto_1997")
    np.testing.assert_allclose(got.to_numpy(), list(UK_3L_HAND.values()), atol=1e-12)


def test_dataframe_input_with_either_column_spelling_keeps_index():
    df = pd.DataFrame({"eq5d_mo": [1, 5], "eq5d_sc": [1, 5], "eq5d_ua": [1, 5], "eq5d_pd": [1, 5],
                       "eq5d_ad": [1, 5]}, index=[10, 20])
    got = eq5d_index(df)
    assert list(got.index) == [10, 20]
    np.testing.assert_allclose(got, [1.0, -0.285])
    short = df.rename(columns=lambda c: c.replace("eq5d_", ""))
    np.testing.assert_allclose(eq5d_index(short), got)


@pytest.mark.skipif(not (SHARED / "dsu_5l_to_3l_uk_hernandezalava2023.csv").exists(), reason="shared tables absent")
def test_england_5l_matches_devlin_index_of_all_3125_states_in_dsu_table():
    t = pd.read_csv(SHARED / "dsu_5l_to_3l_uk_hernandezalava2023.csv", dtype={"state": str}).drop_duplicates("state")
    assert len(t) == 3125
    got = eq5d_index(t["state"].tolist())
    np.testing.assert_allclose(got.to_numpy(), t["source_5l_index_england"].to_numpy(), atol=1e-9)


def test_crosswalk_spot_checks_and_full_table():
    got = eq5d_index(["11111", "11112", "55555"], value_set="crosswalk_vanhout_2012")
    np.testing.assert_allclose(got, [1.0, 0.879, -0.594])
    path = SHARED / "eq5d5l_to_3l_crosswalk_vanhout2012_uk.csv"
    if path.exists():
        t = pd.read_csv(path, dtype={"state": str})
        got = eq5d_index(t["state"].tolist(), value_set="crosswalk_vanhout_2012")
        np.testing.assert_allclose(got.to_numpy(), t["index_3l_uk_crosswalk_vanhout2012"].to_numpy(), atol=1e-12)


def test_dsu_mapping_spot_checks_against_shared_tables():
    # Literal values from the shared table (NICE DSU, Hernandez Alava et al. 2023).
    got = eq5d_index(["11111", "11112"], value_set="dsu_5l_to_3l_2023", age=[20, 34], sex=["M", "M"])
    np.testing.assert_allclose(got, [0.986651549218558, 0.893071147265691], atol=1e-12)
    path = SHARED / "dsu_5l_to_3l_uk_hernandezalava2023.csv"
    if path.exists():
        t = pd.read_csv(path, dtype={"state": str})
        rng = np.random.default_rng(5)
        rows = t.iloc[rng.choice(len(t), 300, replace=False)]
        lo = {"18-34": 18, "35-44": 35, "45-54": 45, "55-64": 55, "65+": 65}
        age = rows["age_band"].map(lo).to_numpy() + rng.integers(0, 10, len(rows))
        age = np.where(rows["age_band"] == "18-34", np.minimum(age, 34), age)
        sex = rows["sex"].map({"male": "M", "female": "F"}).to_numpy()
        got = eq5d_index(rows["state"].tolist(), value_set="dsu_5l_to_3l_2023", age=age, sex=sex)
        np.testing.assert_allclose(got.to_numpy(), rows["mapped_3l_uk_index"].to_numpy(), atol=1e-12)
    path3 = SHARED / "dsu_3l_to_5l_uk_hernandezalava2023.csv"
    if path3.exists():
        t3 = pd.read_csv(path3, dtype={"state": str})
        r = t3[(t3["age_band"] == "65+") & (t3["sex"] == "female")].head(20)
        got = eq5d_index(r["state"].tolist(), value_set="dsu_3l_to_5l_2023", age=[80] * 20, sex=["F"] * 20)
        np.testing.assert_allclose(got.to_numpy(), r["mapped_5l_england_index"].to_numpy(), atol=1e-12)
        # its source column is the Dolan 1997 index of all 243 states: a second check of our 3L value set
        allst = t3.drop_duplicates("state")
        assert len(allst) == 243
        np.testing.assert_allclose(eq5d_index(allst["state"].tolist(), value_set="uk_3l_tto_1997").to_numpy(),
                                   allst["source_3l_index_uk_tto"].to_numpy(), atol=1e-9)


def test_dsu_mapping_needs_age_and_sex():
    with pytest.raises(DataValidationError, match="needs `age` and `sex`"):
        eq5d_index(["11111"], value_set="dsu_5l_to_3l_2023")
    with pytest.raises(DataValidationError, match="under-18"):
        eq5d_index(["11111"], value_set="dsu_5l_to_3l_2023", age=[16], sex=["F"])


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({"mo": [1, 0, 1]}, r"levels outside 1-5 in row 2 "),
        ({"mo": [1, 1, 6]}, r"levels outside 1-5 in row 3 "),
        ({"sc": [1, 1.5, 1]}, r"non-integer levels in row 2 "),
        ({"ad": [np.nan, 1, 1]}, r"some dimensions missing in row 1 "),
        ({"pd": ["1", "x", "2"]}, r"non-integer levels in row 2 "),
    ],
)
def test_bad_profiles_name_rows(bad, expected):
    df = pd.DataFrame({d: [1, 1, 1] for d in ("mo", "sc", "ua", "pd", "ad")}, dtype=object)
    for k, v in bad.items():
        df[k] = v
    with pytest.raises(DataValidationError, match=expected):
        eq5d_index(df)


def test_missing_dimension_column_and_3l_range():
    with pytest.raises(DataValidationError, match="missing: ad"):
        eq5d_index(pd.DataFrame({"mo": [1], "sc": [1], "ua": [1], "pd": [1]}))
    with pytest.raises(DataValidationError, match="levels outside 1-3 in row 1 "):
        eq5d_index(["41111"], value_set="uk_3l_tto_1997")
    with pytest.raises(DataValidationError, match="5-digit"):
        eq5d_index(["1111"])


def test_mask_mode_and_non_response():
    df = pd.DataFrame({"mo": [1, np.nan, 7], "sc": [1, np.nan, 1], "ua": [1, np.nan, 1],
                       "pd": [1, np.nan, 1], "ad": [2, np.nan, 1]})
    got = eq5d_index(df, on_invalid="mask")
    assert got.iloc[0] == pytest.approx(0.922) and got.iloc[1:].isna().all()
    # all-blank row is non-response: not an error even in raise mode
    assert eq5d_index(df.iloc[:2]).isna().tolist() == [False, True]
    lv, ok = validate_profiles(df, on_invalid="mask")
    assert ok.tolist() == [True, False, False]


def test_input_not_mutated():
    df = pd.DataFrame({"eq5d_mo": [1, 2], "eq5d_sc": [1, 2], "eq5d_ua": [1, 2], "eq5d_pd": [1, 2], "eq5d_ad": [1, 2]})
    before = df.copy()
    eq5d_index(df)
    level_frequencies(df.assign(timepoint="b"))
    pd.testing.assert_frame_equal(df, before)


def test_level_frequencies_ceiling_and_pchc():
    df = pd.DataFrame({"timepoint": ["b", "b", "b", "f"], "mo": [1, 2, 2, 1], "sc": [1, 1, 1, 1],
                       "ua": [1, 1, 3, 1], "pd": [1, 1, 1, 1], "ad": [1, 1, 1, 1]})
    lf = level_frequencies(df)
    mo_b = lf[(lf.timepoint == "b") & (lf.dimension == "mo")].set_index("level")
    assert mo_b.loc[1, "n"] == 1 and mo_b.loc[2, "n"] == 2 and mo_b.loc[5, "n"] == 0
    assert mo_b.loc[2, "pct"] == pytest.approx(200 / 3)
    res = profile_summary(df)
    ce = res.ceiling_table.set_index("timepoint")
    assert ce.loc["b", "n_full_health"] == 1 and ce.loc["f", "pct_full_health"] == 100.0
    before, after = ["11111", "21111", "11112", "21111", "11111"], ["11111", "11111", "11111", "12111", None]
    cats = pchc(before, after, no_problems=False)
    assert cats.tolist()[:4] == ["no_change", "better", "better", "mixed"] and pd.isna(cats.iloc[4])
    assert pchc(before, after).iloc[0] == "no_problems"  # R eq5d's default no.problems = TRUE
