"""Charlson, Elixhauser and the Hospital Frailty Risk Score for hand-built patients, against values
worked out by hand from the published weights (Charlson 1987, Quan 2011, van Walraven 2009,
Gilbert 2018): look-back windows, the hierarchy of conditions, codes counted once."""
from __future__ import annotations

import ibis
import pandas as pd
import pytest

from evaltool.nhs.codes import icd10_expr
from evaltool.nhs.comorbidity import scores_as_of

AS_OF = "2023-06-01"
# person, spell date, codes in position order
SPELLS = [
    # Patient A
    ("A", "2023-01-10", ["I50.0", "E11.2", "E11.9", "M05.9"]),  # chf, diabetes with and without complications, RA
    ("A", "2023-02-01", ["G30.9"]),                             # Alzheimer's (Charlson dementia; HFRS G30 4.0)
    ("A", "2022-08-01", ["C78.0", "C34.9"]),                    # metastatic and primary lung cancer
    ("A", "2022-03-01", ["F00.0", "W19X", "R29.6"]),            # > 1 year: HFRS only (7.1 + 3.2 + 3.6)
    ("A", "2022-04-02", ["F00.1"]),                             # F00 again: counts once in HFRS
    ("A", "2021-05-01", ["J44.1", "N18.3"]),                    # > 2 years: nothing
    ("A", "2023-06-01", ["F03X"]),                              # on the index date: not before it
    # Patient B: liver disease, mild superseded by severe
    ("B", "2023-05-01", ["K70.3", "I85.0"]),
    # Patient D: HIV and chronic kidney disease
    ("D", "2022-12-24", ["B20.0", "N18.3"]),
]
# Worked by hand:
#   A Charlson 1987: chf 1 + diabwc 2 (diab superseded) + rheumd 1 + dementia 1 + metacanc 6 (canc superseded) = 11
#   A Quan 2011:     chf 2 + diabwc 1 + rheumd 1 + dementia 2 + metacanc 6 = 12
#   A Elixhauser vW: chf 7 + diabc 0 + rheumd 0 + metacanc 12 (solidtum superseded) = 19
#   A HFRS (2 y):    I50, E11, M05, C78, C34: none; G30 4.0 + F00 7.1 + W19 3.2 + R29 3.6 = 17.9
#   B Charlson: msld 3 (mld superseded); Quan: msld 4; Elixhauser: ld 11 + alcohol 0 = 11; HFRS 0
#   C (no spells): 0 everywhere
#   D Charlson: aids 6 + rend 2 = 8; Quan: aids 4 + rend 1 = 5; Elixhauser: aids 0 + rf 5 = 5; HFRS N18 1.4
EXPECTED = {
    ("charlson", "charlson_1987"): {"A": 11.0, "B": 3.0, "C": 0.0, "D": 8.0},
    ("charlson", "quan_2011"): {"A": 12.0, "B": 4.0, "C": 0.0, "D": 5.0},
    ("elixhauser", None): {"A": 19.0, "B": 11.0, "C": 0.0, "D": 5.0},
    ("hfrs", None): {"A": 17.9, "B": 0.0, "C": 0.0, "D": 1.4},
}


@pytest.fixture(scope="module")
def tables():
    rows = []
    for k, (pid, d, codes) in enumerate(SPELLS):
        rows += [{"spell_id": f"s{k}", "person_id": pid, "date": pd.Timestamp(d), "position": i + 1, "raw": c}
                 for i, c in enumerate(codes)]
    dx = ibis.memtable(pd.DataFrame(rows))
    dx = dx.mutate(code=icd10_expr(dx.raw))
    at = ibis.memtable(pd.DataFrame({"person_id": ["A", "B", "C", "D"], "as_of": pd.Timestamp(AS_OF)}))
    return ibis.duckdb.connect(), dx, at


@pytest.mark.parametrize("score,scheme", sorted(EXPECTED, key=str))
def test_scores_equal_hand_values(tables, score, scheme):
    con, dx, at = tables
    r = con.execute(scores_as_of(dx, at, score, scheme=scheme).order_by("person_id"))
    got = dict(zip(r["person_id"], r["score"].round(4)))
    assert got == EXPECTED[(score, scheme)]


def test_lookback_is_configurable(tables):
    con, dx, at = tables
    # Two years for Charlson brings in A's COPD? No: 2021-05-01 is more than two years before; F00 (dementia,
    # already counted) and W19/R29 (not Charlson) come in: A stays 11.
    r = con.execute(scores_as_of(dx, at, "charlson", lookback_days=730).order_by("person_id"))
    assert dict(zip(r["person_id"], r["score"]))["A"] == 11.0
    # Three years reaches 2021-05-01: + copd 1 + rend 2 = 14.
    r = con.execute(scores_as_of(dx, at, "charlson", lookback_days=1095).order_by("person_id"))
    assert dict(zip(r["person_id"], r["score"]))["A"] == 14.0


# ---- the scores as matching covariates ------------------------------------------------------------------
def test_score_covariates_at_a_risk_set_equal_the_hand_values(tables):
    from evaltool.nhs.comorbidity import ScoreCovariates

    _, dx, _ = tables
    sc = ScoreCovariates(dx, ["charlson", "charlson_quan", "elixhauser", "hfrs"])
    r = sc.at(pd.Timestamp(AS_OF))
    got = {c: dict(zip(r["person_id"], r[c].round(4))) for c in sc.names}
    # People without a scoring condition are left out (risk-set matching fills 0): C here.
    for (score, scheme), want in EXPECTED.items():
        name = {"charlson_1987": "charlson", "quan_2011": "charlson_quan"}.get(scheme or "", score)
        assert {k: v for k, v in want.items() if k != "C"} == {k: got[name].get(k, 0.0) for k in "ABD"}, name
    assert "C" not in set(r["person_id"])
    # Only the people asked for (a sampled risk set).
    assert ScoreCovariates(dx, ["charlson"]).at(pd.Timestamp(AS_OF), ["B", "C"])["person_id"].tolist() == ["B"]
    with pytest.raises(ValueError, match="unknown comorbidity covariate"):
        ScoreCovariates(dx, ["charlston"])


def test_risk_set_matching_on_charlson_picks_controls_with_the_same_score():
    """Enrolled people all have heart failure and diabetes with complications (Charlson 3) in the year before
    their enrolment month; of 30 possible controls, 6 have the same codes and 24 none. Matching on the
    Charlson index alone (1:1, no caliper) must pick the six with 3 first, and the matched cohort carries
    the score as of each risk set's first day (a spell on that day or later does not count)."""
    from evaltool.matching.riskset import risk_set_match
    from evaltool.nhs.comorbidity import ScoreCovariates

    ids = [f"t{i}" for i in range(6)] + [f"c{i}" for i in range(30)]
    pop = pd.DataFrame({
        "person_id": ids, "treated": [1] * 6 + [0] * 30,
        "index_date": [pd.Timestamp("2023-06-15")] * 6 + [pd.NaT] * 30,
        "sex": ["F", "M"] * 18, "practice_id": "P1",
        "birth_date": pd.Timestamp("1950-01-01"),
    })
    rows = []
    for k, pid in enumerate(ids[:12]):  # t0-t5 and c0-c5: chf + diabetes with complications in January 2023
        rows += [{"spell_id": f"s{k}", "person_id": pid, "date": pd.Timestamp("2023-01-10"), "position": i + 1,
                  "raw": c} for i, c in enumerate(["I50.0", "E11.2"])]
    # c6: the same codes on the risk set's first day: not yet part of its history.
    rows += [{"spell_id": "s99", "person_id": "c6", "date": pd.Timestamp("2023-06-01"), "position": 1, "raw": "I50.0"}]
    dx = ibis.memtable(pd.DataFrame(rows))
    dx = dx.mutate(code=icd10_expr(dx.raw))
    act = pd.DataFrame({"person_id": ["c20"], "date": [pd.Timestamp("2022-01-01")], "setting": ["ae_attendance"]})
    res = risk_set_match(pop, act, window_start="2021-04-01", window_end="2025-03-31", covariates=["charlson"],
                         lookback_months=(12,), distance="mahalanobis", ratio=1, caliper=None, exact=None,
                         seed=1, period_covariates=ScoreCovariates(dx, ["charlson"]))
    coh = res.matched_cohort
    assert sorted(coh.loc[coh.treated == 1, "person_id"]) == ids[:6]
    assert sorted(coh.loc[coh.treated == 0, "person_id"]) == [f"c{i}" for i in range(6)]
    assert (coh["charlson"] == 3.0).all()
    bal = res.balance_frame.set_index("covariate")
    assert bal.loc["charlson", "smd_after"] == pytest.approx(0.0)
