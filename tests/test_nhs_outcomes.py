"""Coded outcomes on hand-built validated tables: code lists (shipped and a user's CSV), the age
limit of the falls list, emergency admissions in the last 100 days of life; and SUS APC field names."""
from __future__ import annotations

import io

import ibis
import pandas as pd
import pytest

from evaltool.errors import DataValidationError
from evaltool.nhs.codes import icd10_expr
from evaltool.nhs.mapping import SourceMapping
from evaltool.nhs.outcomes import CodedOutcome, derive_rows
from evaltool.nhs.presets import prepare, resolve

POP = pd.DataFrame({"person_id": ["a", "b"], "birth_date": pd.to_datetime(["1950-06-15", "1990-01-01"]),
                    "death_date": pd.to_datetime(["2023-06-30", None])})
ACT = pd.DataFrame({
    "person_id": ["a", "a", "a", "a", "b", "b"],
    "date": pd.to_datetime(["2015-06-14", "2015-06-15", "2023-03-23", "2023-03-24", "2023-01-01", "2023-02-01"]),
    "setting": ["emergency_admission", "emergency_admission", "emergency_admission", "elective_admission",
                "emergency_admission", "emergency_admission"],
    "bed_days": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "spell_id": ["s1", "s2", "s3", "s4", "s5", "s6"]})
DX = pd.DataFrame({"spell_id": ["s1", "s2", "s3", "s4", "s5", "s6", "s6"],
                   "position": [1, 1, 1, 1, 1, 1, 2],
                   "raw": ["S72.0", "S72.0", "J45.9", "J45.9", "R07.4", "R07.4", "J45.9"]})


@pytest.fixture(scope="module")
def tables():
    con = ibis.duckdb.connect()
    dx = ibis.memtable(DX)
    dx = dx.mutate(code=icd10_expr(dx.raw))
    return con, con.create_table("act", ACT), con.create_table("pop", POP), dx


def _rows(con, t):
    r = con.execute(t.order_by(["person_id", "date"]))
    return list(zip(r["person_id"], r["date"].dt.strftime("%Y-%m-%d"), r["bed_days"]))


def test_falls_list_applies_its_age_limit(tables):
    con, act, pop, dx = tables
    # a turns 65 on 2015-06-15: the hip fracture the day before does not count, the one on the birthday does.
    got = _rows(con, derive_rows("falls65", CodedOutcome(codelist="falls_fractures"), act, pop, dx))
    assert got == [("a", "2015-06-15", 2.0)]


def test_acs_emergency_primary_only(tables):
    con, act, pop, dx = tables
    # s3 emergency asthma counts; s4 is elective; s6 has asthma only in second place.
    assert _rows(con, derive_rows("acs", CodedOutcome(codelist="acs_chronic"), act, pop, dx)) == [
        ("a", "2023-03-23", 3.0)]
    assert _rows(con, derive_rows("acs_b", CodedOutcome(codelist="acs_bardsley"), act, pop, dx)) == [
        ("a", "2023-03-23", 3.0), ("b", "2023-02-01", 6.0)]


def test_user_code_list_without_code_changes(tables, tmp_path):
    con, act, pop, dx = tables
    p = tmp_path / "asthma.csv"
    p.write_text("code,condition\nJ45,asthma\n")
    oc = CodedOutcome(codelist={"path": p, "position": "any"}, admissions="all")
    assert [r[2] for r in _rows(con, derive_rows("asthma_any", oc, act, pop, dx))] == [3.0, 4.0, 6.0]


def test_end_of_life_admissions(tables):
    con, act, pop, dx = tables
    # a died 2023-06-30: the emergency admission of 2023-03-23 is 99 days before (the death day is day 0,
    # so it is inside the last 100 days and outside the last 90); b did not die.
    assert _rows(con, derive_rows("eol100", CodedOutcome(end_of_life=100), act, pop, None)) == [
        ("a", "2023-03-23", 3.0)]
    assert _rows(con, derive_rows("eol90", CodedOutcome(end_of_life=90), act, pop, None)) == []


def test_code_list_outcome_needs_diagnoses(tables):
    con, act, pop, _ = tables
    with pytest.raises(DataValidationError, match="needs diagnoses"):
        derive_rows("acs", CodedOutcome(codelist="acs_chronic"), act, pop, None)
    with pytest.raises(ValueError, match="exactly one"):
        CodedOutcome(codelist="acs_chronic", end_of_life=100)


def test_sus_apc_field_names():
    con = ibis.duckdb.connect()
    t = con.create_table("sus", pd.DataFrame({
        "Der_Pseudo_NHS_Number": ["TOKEN1", "TOKEN1", "TOKEN2"], "APCS_Ident": ["100", "100", "200"],
        "Episode_Number": ["1", "2", "1"], "Admission_Date": ["2023-01-05", "2023-01-05", "2023-02-01"],
        "Episode_Start_Date": ["2023-01-05", "2023-01-06", "2023-02-01"],
        "Discharge_Date": ["", "2023-01-09", "2023-02-01"], "Admission_Method": ["21", "21", "12"],
        "Primary_Diagnosis_Code": ["J441", "R69X", "H259"], "Secondary_Diagnosis_Code_1": ["I10X", "", ""]}))
    p = prepare(t, SourceMapping(preset="sus_apc", nhs_number="opaque"), "sus.csv", "activity")
    r = con.execute(p.table.order_by("date"))
    assert list(zip(r["person_id"], r["setting"], r["bed_days"])) == [
        ("TOKEN1", "emergency_admission", 4.0), ("TOKEN2", "elective_admission", 0.0)]
    steps = {s.step: s for s in resolve(p, con.execute)}
    assert steps["episodes_collapsed"].n_excluded == 1
    dx = con.execute(p.extras["diagnoses"].filter(ibis._.first).order_by(["date", "position"]))
    assert dx["code"].tolist()[:2] == ["J441", "I10"]


# ---- what the report calls a coded outcome -----------------------------------------------------------
def test_coded_outcome_words_from_the_list_the_spec_and_end_of_life():
    from evaltool.nhs.outcomes import outcome_words

    assert outcome_words("acs_chronic_admission", CodedOutcome(codelist="acs_chronic")) == {
        "label": "Emergency admissions for chronic ambulatory care sensitive conditions",
        "short": "ACS admissions, chronic", "unit": "admissions"}
    # Other admissions or bed days than the list's: the title is reworded, its short label dropped.
    w = outcome_words("acs_all", CodedOutcome(codelist="acs_chronic", admissions="all", measure="bed_days"))
    assert w == {"label": "Bed days: emergency admissions for chronic ambulatory care sensitive conditions",
                 "short": "", "unit": "bed days"}
    assert outcome_words("eol", CodedOutcome(end_of_life=100))["label"] == \
        "Emergency admissions in the last 100 days of life"
    # The spec's label wins (and a label without a short one is not paired with the list's short label).
    own = outcome_words("x", CodedOutcome(codelist="acs_acute", label="Avoidable admissions"))
    assert own == {"label": "Avoidable admissions", "short": "", "unit": "admissions"}
    with pytest.raises(ValueError, match="one line"):
        CodedOutcome(codelist="acs_acute", label="two\nlines")


def test_report_sentence_uses_the_coded_outcome_label_from_the_bundle():
    from evaltool.nhs.load import outcome_labels_frame
    from evaltool.nhs.outcomes import outcome_words, resolve_list
    from evaltool.report.labels import bundle_outcome_labels, run_labels, value_label
    from evaltool.report.sentences import headline

    specs = {"acs_chronic_admission": CodedOutcome(codelist="acs_chronic"),
             "eol_bed_days_90d": CodedOutcome(end_of_life=90, measure="bed_days", short="End-of-life bed days")}
    lists = [{"outcome": k, **outcome_words(k, oc), **(resolve_list(k, oc).provenance() if oc.codelist else {})}
             for k, oc in specs.items()]
    table = pd.read_csv(io.StringIO(outcome_labels_frame(lists).to_csv(index=False)))  # as the bundle holds it
    rr = dict(estimate=0.57, ci_lower=0.31, ci_upper=1.05)
    diff = dict(estimate=-52.4, ci_lower=-155.0, ci_upper=4.2)
    with run_labels(*bundle_outcome_labels(table)):
        s = headline("acs_chronic_admission", rr, diff)
        b = headline("eol_bed_days_90d", dict(estimate=0.8, ci_lower=0.7, ci_upper=0.9),
                     dict(estimate=-120.0, ci_lower=-200.0, ci_upper=-40.0))
        assert value_label("outcome", "acs_chronic_admission", short=True) == "ACS admissions, chronic"
        assert value_label("outcome", "eol_bed_days_90d", short=True) == "End-of-life bed days"
    assert s == ("Emergency admissions for chronic ambulatory care sensitive conditions: no clear difference; the "
                 "best estimate is 52 fewer admissions per 1,000 people a year, but the 95% CI runs from 155 fewer "
                 "to 4 more (69% lower to 5% higher).")
    assert b.startswith("Emergency bed days in the last 90 days of life: 120 fewer bed days per 1,000 people a year")
    # Outside the render the registry is as before (labels do not leak between bundles).
    assert value_label("outcome", "acs_chronic_admission") == "Acs chronic admission"
