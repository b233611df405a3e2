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
