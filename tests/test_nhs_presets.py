"""Presets on hand-built extracts: every episode collapsed, duplicate removed and invalid NHS number
counted; admission methods, discharge destinations and methods, attendance codes; GP list, caseload,
IMD from deciles and LSOAs; date formats; clear errors for missing columns."""
from __future__ import annotations

import ibis
import pandas as pd
import pytest

from evaltool.errors import DataValidationError, SpecError
from evaltool.nhs.mapping import SourceMapping, date_expr
from evaltool.nhs.presets import prepare, resolve
from evaltool.nhs.presets.population import imd_from_lookup, quintile_from_decile

A, B, BAD = "943 476 5919", "401-023-2137", "123 456 7890"  # B has hyphens; BAD fails Modulus 11


def _apc() -> pd.DataFrame:
    rows = [
        # key, person, order, status, admidate, start, end, disdate, meth, sorc, dmeth, dest, prov, diag1, diag2
        ("1", A, "1", "3", "05/01/2023", "05/01/2023", "07/01/2023", "", "21", "19", "8", "98", "RXX", "J20.9", "J44.1"),
        ("2", A, "2", "3", "05/01/2023", "07/01/2023", "12/01/2023", "12/01/2023", "21", "19", "1", "54", "RXX", "R69X", ""),
        ("2", A, "2", "3", "05/01/2023", "07/01/2023", "12/01/2023", "12/01/2023", "21", "19", "1", "54", "RXX", "R69X", ""),
        ("3", B, "1", "3", "10/02/2023", "10/02/2023", "10/02/2023", "10/02/2023", "11", "19", "1", "19", "RXX", "I10X", ""),
        ("4", BAD, "1", "3", "01/03/2023", "01/03/2023", "02/03/2023", "02/03/2023", "2A", "19", "4", "79", "RYY", "J441", ""),
        ("5", B, "1", "3", "20/03/2023", "20/03/2023", "25/03/2023", "25/03/2023", "81", "54", "1", "54", "RXX", "S720", "W19X"),
        ("6", B, "1", "1", "01/04/2023", "01/04/2023", "", "", "21", "19", "", "", "RXX", "N39.0", ""),
        ("7", B, "1", "3", "02/04/2023", "02/04/2023", "09/04/2023", "09/04/2023", "2D", "19", "4", "79", "RXX", "I500", "?"),
        ("8", A, "1", "3", "30/02/2023", "30/02/2023", "30/02/2023", "30/02/2023", "21", "19", "1", "19", "RXX", "R074", ""),
        ("9", A, "1", "3", "15/05/2023", "15/05/2023", "15/05/2023", "15/05/2023", "31", "19", "1", "19", "RXX", "O47", ""),
    ]
    cols = ["EPIKEY", "NEWNHSNO", "EPIORDER", "EPISTAT", "ADMIDATE", "EPISTART", "EPIEND", "DISDATE", "ADMIMETH",
            "ADMISORC", "DISMETH", "DISDEST", "PROCODE3", "DIAG_4_01", "DIAG_4_02"]
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture(scope="module")
def apc():
    con = ibis.duckdb.connect()
    t = con.create_table("apc", _apc())
    p = prepare(t, SourceMapping(preset="hes_apc", date_format="%d/%m/%Y"), "hes_apc.csv", "activity")
    steps = {s.step: s for s in resolve(p, con.execute)}
    return con, p, steps


def test_apc_spells_and_settings(apc):
    con, p, _ = apc
    r = con.execute(p.table.order_by(["date", "setting"]))
    got = list(zip(r["person_id"], r["date"].dt.strftime("%Y-%m-%d"), r["setting"], r["bed_days"]))
    assert got == [
        ("9434765919", "2023-01-05", "emergency_admission", 7.0),   # two episodes, one spell, discharged 12/01
        ("9434765919", "2023-01-12", "care_home_admission", 0.0),   # discharged to a care home (54)
        ("4010232137", "2023-02-10", "elective_admission", 0.0),    # same-day elective
        ("4010232137", "2023-04-02", "emergency_admission", 7.0),   # 2D emergency; died (DISMETH 4)
    ]


def test_apc_counts_every_step(apc):
    _, _, s = apc
    assert (s["episodes"].n_in, s["invalid_nhs_number"].n_excluded) == (10, 1)
    assert s["duplicate_episodes"].n_excluded == 1
    assert s["unfinished_episodes"].n_excluded == 1
    assert s["episode_without_admission_date"].n_excluded == 1  # 30/02/2023 is not a date
    assert s["episodes_collapsed"].n_excluded == 1              # episode 2 joins episode 1's spell
    assert s["other_admission_method"].n_excluded == 2          # 81 (transfer) and 31 (maternity)
    assert s["care_home_admissions"].n_affected == 1            # the transfer came from a care home: not counted
    assert s["deaths_in_hospital"].n_affected == 1
    assert s["invalid_diagnosis_codes"].n_excluded == 1         # "?"


def test_apc_deaths_and_diagnoses(apc):
    con, p, _ = apc
    d = con.execute(p.extras["deaths"])
    assert d.to_dict("records") == [{"person_id": "4010232137", "death_date": pd.Timestamp("2023-04-09")}]
    dx = con.execute(p.extras["diagnoses"].filter(ibis._.first).order_by(["date", "position"]))
    assert dx[dx["date"] == pd.Timestamp("2023-01-05")]["code"].tolist() == ["J209", "J441"]


def test_outpatients_keep_attended_only():
    con = ibis.duckdb.connect()
    t = con.create_table("op", pd.DataFrame({
        "ATTENDKEY": ["1", "2", "3", "4", "4", "5"], "NEWNHSNO": [A, A, A, B, B, B],
        "APPTDATE": ["2023-01-01", "2023-01-02", "2023-01-03", "2023-01-04", "2023-01-04", "2023-01-05"],
        "ATTENDED": ["5", "6", "3", "5", "5", "2"]}))
    p = prepare(t, SourceMapping(preset="hes_op"), "op.csv", "activity")
    s = {x.step: x for x in resolve(p, con.execute)}
    assert len(con.execute(p.table)) == 3
    assert s["duplicate_appointments"].n_excluded == 1 and s["not_attended"].n_excluded == 2


def test_ecds_unplanned_attendances():
    con = ibis.duckdb.connect()
    t = con.create_table("ae", pd.DataFrame({
        "EC_IDENT": ["1", "2", "3", "4"], "NHS_NUMBER": [A, A, B, B],
        "ARRIVAL_DATE": pd.to_datetime(["2023-01-01", "2023-01-02", "2023-01-03", "2023-01-04"]).date,
        "EC_ATTENDANCE_CATEGORY": ["1", "2", "4", "3"], "EC_DEPARTMENT_TYPE": ["01", "01", "01", "03"]}))
    p = prepare(t, SourceMapping(preset="ecds"), "ecds", "activity")
    assert len(con.execute(p.table)) == 3
    p2 = prepare(t, SourceMapping(preset="ecds", options={"department_types": ["01"]}), "ecds", "activity")
    assert len(con.execute(p2.table)) == 2


def test_gp_list_sex_codes_and_repeat_registrations():
    con = ibis.duckdb.connect()
    t = con.create_table("gp", pd.DataFrame({
        "NHS_NUMBER": [A, A, B, BAD, "999 000 0018"], "GP_PRACTICE_CODE": [" z99001", "Z99002", "Z99001", "Z99001", "Z99003"],
        "DATE_OF_BIRTH": ["01/01/1950"] * 5, "GENDER": ["2", "2", "1", "1", "9"],
        "REGISTRATION_START_DATE": ["01/01/2000", "01/01/2010", "01/01/2000", "01/01/2000", "01/01/2000"],
        "LSOA_CODE": ["E01000001"] * 5, "IMD_DECILE": ["1", "1", "10", "5", ""]}))
    p = prepare(t, SourceMapping(preset="gp_list", date_format="%d/%m/%Y"), "gp.csv", "population")
    s = {x.step: x for x in resolve(p, con.execute)}
    r = con.execute(p.table.order_by("person_id"))
    assert r["person_id"].tolist() == ["4010232137", "9434765919", "9990000018"]
    assert r["practice_id"].tolist() == ["Z99001", "Z99002", "Z99003"]  # A's latest registration, upper-cased
    assert r["sex"].fillna("-").tolist() == ["M", "F", "-"]
    assert s["invalid_nhs_number"].n_excluded == 1 and s["repeat_registrations"].n_excluded == 1
    assert s["sex_not_known"].n_affected == 1


def test_enrolment_first_date_kept():
    con = ibis.duckdb.connect()
    t = con.create_table("en", pd.DataFrame({"NHS_NUMBER": [A, A, B], "ENROLMENT_DATE": ["01/05/2023", "01/02/2023", ""]}))
    p = prepare(t, SourceMapping(date_format="%d/%m/%Y"), "caseload.csv", "enrolment")
    r = con.execute(p.table)
    assert r.to_dict("records") == [{"person_id": "9434765919", "index_date": pd.Timestamp("2023-02-01")}]


def test_imd_deciles_ranks_and_quintiles():
    con = ibis.duckdb.connect()
    t = ibis.memtable(pd.DataFrame({"d": ["1", "2", "3", "10", "0", "", None]}))
    assert con.execute(t.select(q=quintile_from_decile(t.d)))["q"].fillna(-1).tolist() == [1, 1, 2, 5, -1, -1, -1]
    lk = ibis.memtable(pd.DataFrame({"LSOA11CD": ["E01000001", "E01000002"], "imd_rank": ["1", "32844"]}))
    r = con.execute(imd_from_lookup(lk, "lookup.csv").order_by("lsoa"))
    assert r["imd_decile"].tolist() == [1, 10]


@pytest.mark.parametrize("fmt,text,iso", [("%d/%m/%Y", "31/12/2024", "2024-12-31"), ("%d/%m/%Y", "1/2/2023", "2023-02-01"),
                                         ("%Y%m%d", "20240229", "2024-02-29"), ("%d-%m-%y", "05-06-21", "2021-06-05"),
                                         ("%d/%m/%Y %H:%M", "05/06/2021 13:45", "2021-06-05"),
                                         ("%d/%m/%Y", "29/02/2023", None), (None, "2023-03-01", "2023-03-01")])
def test_date_formats(fmt, text, iso):
    t = ibis.memtable(pd.DataFrame({"d": [text]}))
    v = ibis.duckdb.connect().execute(t.select(v=date_expr(t.d, fmt)))["v"].iloc[0]
    assert (None if pd.isna(v) else str(v)[:10]) == iso


def test_clear_errors():
    con = ibis.duckdb.connect()
    t = con.create_table("x", pd.DataFrame({"ADMIDATE": ["01/01/2023"], "ADMIMETH": ["21"]}))
    with pytest.raises(DataValidationError, match=r"required column\(s\) not found: `person`"):
        prepare(t, SourceMapping(preset="hes_apc"), "apc.csv", "activity")
    with pytest.raises(SpecError, match="unknown preset"):
        prepare(t, SourceMapping(preset="hes_apcc"), "apc.csv", "activity")
    with pytest.raises(SpecError, match="feeds `data.population`"):
        prepare(t, SourceMapping(preset="gp_list"), "apc.csv", "activity")
    with pytest.raises(ValueError, match="needs a day"):
        SourceMapping(date_format="%m/%Y")
    with pytest.raises(DataValidationError, match="names a column that is not there"):
        prepare(t, SourceMapping(preset="hes_apc", columns={"person": "NHS"}), "apc.csv", "activity")


def test_invalid_nhs_numbers_can_stop_the_run():
    con = ibis.duckdb.connect()
    t = con.create_table("apc2", _apc())
    with pytest.raises(DataValidationError, match="1 row"):
        prepare(t, SourceMapping(preset="hes_apc", date_format="%d/%m/%Y", nhs_number={"invalid": "error"}),
                "hes_apc.csv", "activity")
