"""Value checks as engine queries: sex vocabulary, infinite numbers, contradictory dates, empty tables."""
from __future__ import annotations

import pandas as pd

from evaltool.inputs import validate_frames

WINDOW = ("2021-04-01", "2025-03-31")


def _pop(**cols):
    base = {"person_id": ["a", "b", "c", "d"], "practice_id": ["p"] * 4, "sex": ["F", "male", "2", "1"],
            "birth_date": ["1950-01-01", "1960-01-01", "1970-01-01", "1980-01-01"], "treated": ["1", "0", "0", "0"],
            "index_date": ["2023-01-01", "", "", ""]}
    base.update(cols)
    return pd.DataFrame(base)


ACT = pd.DataFrame({"person_id": ["a"], "date": ["2022-01-05"], "setting": ["ae_attendance"]})


def _checks(v):
    return {p.check: p for p in v.problems}


def test_sex_vocabulary_and_not_known():
    v = validate_frames(_pop(), ACT, window=WINDOW)
    assert v.ok and v.population["sex"].tolist() == ["F", "M", "F", "M"]
    v = validate_frames(_pop(sex=["F", "9", "Missing", ""]), ACT, window=WINDOW)
    c = _checks(v)
    assert c["sex_not_known"].rows == (2,) and c["sex_not_known"].n == 1
    assert c["invalid_sex"].rows == (3, 4) and "found e.g. 'Missing'" in c["invalid_sex"].message


def test_infinite_numbers_and_contradictory_dates():
    v = validate_frames(_pop(risk_score=["0.5", "inf", "-Infinity", "0.1"],
                             death_date=["", "1959-01-01", "", ""]), ACT, window=WINDOW)
    c = _checks(v)
    assert c["not_finite"].rows == (2, 3) and c["not_finite"].column == "risk_score"
    v = validate_frames(_pop(death_date=["", "1959-01-01", "", ""], birth_date=["2023-06-01", "1960-01-01",
                                                                                "1970-01-01", "1980-01-01"]),
                        ACT, window=WINDOW, actions={"death_before_birth": "exclude", "birth_after_index": "exclude"})
    steps = {f.step: f.n_excluded for f in v.flow}
    assert steps["birth_after_index"] == 1 and steps["death_before_birth"] == 1 and len(v.population) == 2


def test_empty_table():
    v = validate_frames(_pop().iloc[:0], ACT, window=WINDOW)
    assert [p.check for p in v.errors] == ["empty_table"]
