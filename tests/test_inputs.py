"""Bad input data: every problem names the file, the column and the rows, and nothing is dropped silently."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evaltool.cohort import build_cohort
from evaltool.errors import DataValidationError
from evaltool.inputs import read_table, validate_frames

WINDOW = ("2021-04-01", "2025-03-31")


def _population() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
        "practice_id": ["P1", "P1", "P2", "P2", "P1", "P2"],
        "sex": ["F", "M", "F", "M", "F", "M"],
        "birth_date": ["1950-02-01", "1970-06-30", "1985-01-15", "1940-12-31", "2000-05-05", "1960-07-07"],
        "treated": ["1", "0", "1", "0", "0", "0"],
        "index_date": ["2023-05-01", "", "2023-07-01", "", "", ""],
        "imd_quintile": ["1", "2", "3", "4", "5", "1"],
        "frailty": ["mild", "fit", "fit", "severe", "fit", "moderate"],
        "registration_start": ["2010-01-01", "2010-01-01", "2010-01-01", "2022-01-01", "2010-01-01", "2010-01-01"],
        "registration_end": ["", "", "", "", "2023-01-01", ""],
        "death_date": ["", "", "", "2024-01-01", "", ""],
    })


def _activity() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": ["A1", "A1", "A2", "A3", "A4", "A5"],
        "date": ["2022-01-05", "2023-08-09", "2021-06-01", "2024-02-02", "2023-03-03", "2022-09-09"],
        "setting": ["emergency_admission", "ae_attendance", "elective_admission", "emergency_admission",
                    "ae_attendance", "outpatient_attendance"],
        "bed_days": ["3", "", "1", "0", "", ""],
        "cost": ["2500.5", "180", "1200", "900", "180", "150"],
    })


def _practices() -> pd.DataFrame:
    return pd.DataFrame({"practice_id": ["P1", "P2"], "neighbourhood": ["North", "South"],
                         "go_live_date": ["2023-04-01", ""], "list_size": ["5000", "7000"]})


def _write(tmp_path: Path, pop=None, act=None, prac=None) -> dict[str, Path]:
    paths = {}
    for name, df in (("population", pop if pop is not None else _population()),
                     ("activity", act if act is not None else _activity()),
                     ("practices", prac if prac is not None else _practices())):
        p = tmp_path / f"{name}.csv"
        df.to_csv(p, index=False)
        paths[name] = p
    return paths


def _validate(tmp_path, pop=None, act=None, prac=None, actions=None):
    paths = _write(tmp_path, pop, act, prac)
    return validate_frames(read_table(paths["population"]), read_table(paths["activity"]),
                           read_table(paths["practices"]), window=WINDOW, actions=actions,
                           files={k: p.name for k, p in paths.items()})


def _only_error(v, check):
    errs = [p for p in v.problems if p.check == check]
    assert errs, f"expected a {check} problem, got {[p.check for p in v.problems]}"
    return errs[0]


def test_valid_data_passes_with_counted_exclusions(tmp_path):
    v = _validate(tmp_path)
    assert v.ok, [p.describe() for p in v.problems]
    # A5 left the practice on 2023-01-01; its 2022 activity is kept. A4 registered 2022-01-01.
    assert len(v.population) == 6 and len(v.activity) == 6
    assert v.flow[0].n_remaining == 6 and v.flow[-1].n_remaining == 6


def test_missing_required_column(tmp_path):
    v = _validate(tmp_path, pop=_population().drop(columns=["sex"]))
    p = _only_error(v, "missing_column")
    assert (p.file, p.column, p.action) == ("population.csv", "sex", "error")
    assert "required column `sex` is missing" in p.describe()
    assert "person_id, practice_id" in p.message
    with pytest.raises(DataValidationError, match=r"population.csv, column `sex`"):
        v.raise_for_errors()


def test_wrong_type_treated(tmp_path):
    pop = _population()
    pop.loc[2, "treated"] = "yes"
    p = _only_error(_validate(tmp_path, pop=pop), "invalid_treated")
    assert p.column == "treated" and p.rows == (3,) and p.n == 1
    assert "expected 0 or 1; found e.g. 'yes'" in p.describe()
    assert "row 3 (1 row in all)" in p.describe()


def test_unparseable_date(tmp_path):
    pop = _population()
    pop.loc[[0, 2], "index_date"] = ["2023-13-45", "01/07/2023x"]
    p = _only_error(_validate(tmp_path, pop=pop), "unparseable_date")
    assert (p.file, p.column, p.rows, p.n) == ("population.csv", "index_date", (1, 3), 2)
    assert "expected dates as YYYY-MM-DD; found e.g. '2023-13-45'" in p.message


def test_non_numeric_cost(tmp_path):
    act = _activity()
    act.loc[4, "cost"] = "£180"
    p = _only_error(_validate(tmp_path, act=act), "not_numeric")
    assert (p.file, p.column, p.rows) == ("activity.csv", "cost", (5,))


def test_duplicate_person_id_error_and_exclude(tmp_path):
    pop = _population()
    pop.loc[3, "person_id"] = "A2"
    v = _validate(tmp_path, pop=pop)
    p = _only_error(v, "duplicate_person_id")
    assert (p.column, p.rows, p.n, p.action) == ("person_id", (2, 4), 2, "error")
    # A4's activity now names nobody in the population: excluded and counted too.
    v2 = _validate(tmp_path, pop=pop, actions={"duplicate_person_id": "exclude", "activity_unknown_person": "exclude"})
    assert v2.ok and len(v2.population) == 4
    assert [f for f in v2.activity_flow if f.step == "activity_unknown_person"][0].n_excluded == 1
    step = [f for f in v2.flow if f.step == "duplicate_person_id"][0]
    assert step.n_excluded == 2 and step.n_remaining == 4


def test_unknown_practice(tmp_path):
    pop = _population()
    pop.loc[5, "practice_id"] = "P9"
    p = _only_error(_validate(tmp_path, pop=pop), "unknown_practice_id")
    assert (p.column, p.rows) == ("practice_id", (6,))
    assert "practice_id not found in practices.csv" in p.message


def test_treated_without_index_date(tmp_path):
    pop = _population()
    pop.loc[2, "index_date"] = ""
    p = _only_error(_validate(tmp_path, pop=pop), "treated_without_index_date")
    assert (p.column, p.rows) == ("index_date", (3,))


def test_index_date_outside_window_is_excluded_and_counted(tmp_path):
    pop = _population()
    pop.loc[0, "index_date"] = "2019-05-01"
    v = _validate(tmp_path, pop=pop)
    p = _only_error(v, "index_date_outside_window")
    assert (p.column, p.rows, p.action) == ("index_date", (1,), "exclude")
    assert v.ok and "A1" not in set(v.population.person_id)
    step = [f for f in v.flow if f.step == "index_date_outside_window"][0]
    assert step.n_excluded == 1
    # A1's activity leaves with A1, and is counted.
    assert [f for f in v.activity_flow if f.step == "person_excluded"][0].n_excluded == 2
    with pytest.raises(DataValidationError):
        _validate(tmp_path, pop=pop, actions={"index_date_outside_window": "error"}).raise_for_errors()


def test_activity_for_unknown_person(tmp_path):
    act = _activity()
    act.loc[[1, 3], "person_id"] = ["ZZ", "YY"]
    p = _only_error(_validate(tmp_path, act=act), "activity_unknown_person")
    assert (p.file, p.column, p.rows, p.n) == ("activity.csv", "person_id", (2, 4), 2)


def test_activity_after_death(tmp_path):
    act = _activity()
    act.loc[4, "date"] = "2024-06-01"  # A4 died 2024-01-01
    v = _validate(tmp_path, act=act, actions={"activity_after_death": "error"})
    p = _only_error(v, "activity_after_death")
    assert (p.column, p.rows, p.action) == ("date", (5,), "error")
    v2 = _validate(tmp_path, act=act)  # default: exclude and count
    assert v2.ok and len(v2.activity) == 5
    assert [f for f in v2.activity_flow if f.step == "activity_after_death"][0].n_excluded == 1


def test_activity_outside_registration(tmp_path):
    act = _activity()
    act.loc[5, "date"] = "2024-02-01"  # A5 left on 2023-01-01
    p = _only_error(_validate(tmp_path, act=act, actions={"activity_outside_registration": "error"}),
                    "activity_outside_registration")
    assert (p.file, p.column, p.rows) == ("activity.csv", "date", (6,))


def test_unknown_setting(tmp_path):
    act = _activity()
    act.loc[2, "setting"] = "walk_in_centre"
    p = _only_error(_validate(tmp_path, act=act), "unknown_setting")
    assert (p.column, p.rows) == ("setting", (3,))
    assert "found e.g. 'walk_in_centre'" in p.message and "emergency_admission" in p.message


def test_negative_bed_days_and_cost(tmp_path):
    act = _activity()
    act.loc[0, "bed_days"] = "-2"
    act.loc[3, "cost"] = "-900"
    v = _validate(tmp_path, act=act)
    b, c = _only_error(v, "negative_bed_days"), _only_error(v, "negative_cost")
    assert (b.column, b.rows) == ("bed_days", (1,)) and (c.column, c.rows) == ("cost", (4,))


def test_invalid_imd_and_frailty(tmp_path):
    pop = _population()
    pop.loc[1, "imd_quintile"] = "7"
    pop.loc[4, "frailty"] = "very frail"
    v = _validate(tmp_path, pop=pop)
    assert _only_error(v, "invalid_imd").rows == (2,)
    f = _only_error(v, "invalid_frailty")
    assert f.rows == (5,) and "fit, mild, moderate, severe" in f.message


def test_registration_end_before_start(tmp_path):
    pop = _population()
    pop.loc[1, "registration_end"] = "2005-01-01"
    p = _only_error(_validate(tmp_path, pop=pop), "registration_order")
    assert (p.column, p.rows) == ("registration_end", (2,))


def test_many_rows_listed_to_ten_with_total(tmp_path):
    act = pd.concat([_activity()] * 5, ignore_index=True)
    act["setting"] = "unknown"
    p = _only_error(_validate(tmp_path, act=act), "unknown_setting")
    assert p.n == 30 and len(p.rows) == 10
    assert "rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 20 more (30 rows in all)" in p.describe()


def test_age_instead_of_birth_date_and_min_age(tmp_path):
    pop = _population().drop(columns=["birth_date"])
    pop["age"] = ["71", "50", "15", "80", "21", "60"]
    v = _validate(tmp_path, pop=pop)
    assert v.ok
    c = build_cohort(v, min_age=18)
    # A3 is 15 at window start (about 17 at enrolment) -> not eligible, counted.
    step = [f for f in c.flow if f.step == "under_min_age"][0]
    assert step.n_excluded == 1 and "A3" not in set(c.population.person_id)


def test_inputs_not_modified(tmp_path):
    pop, act, prac = _population(), _activity(), _practices()
    before = (pop.copy(), act.copy(), prac.copy())
    validate_frames(pop, act, prac, window=WINDOW)
    for a, b in zip((pop, act, prac), before):
        pd.testing.assert_frame_equal(a, b)


def test_unreadable_file(tmp_path):
    p = tmp_path / "population.xls"
    p.write_text("nope")
    with pytest.raises(DataValidationError, match=r"population.xls: unsupported file type '.xls'"):
        read_table(p)
