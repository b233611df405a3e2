"""QualCoder's coded-text export (Reports > Coding reports, CSV/XLSX) with its real headers and case attributes.

The shapes come from QualCoder's source (ccbogel/QualCoder c3204641, src/qualcoder/report_codes.py,
export_csv_file / export_xlsx_file): by file ``File, Coder, Coded, Id, Codename, Coded_Memo, Category...,
FileVar_...``; by case ``Case, Filename, Coder, Coded, Id, Codename, Coded_Memo, Category..., FileVar_...,
CaseVar_...``; CSV in UTF-8 with BOM, all cells quoted, rows of codes with fewer categories short.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evaltool.errors import DataValidationError
from evaltool.qual import read_codebook, read_qdpx, read_qualcoder

DATA = Path(__file__).parent / "data" / "qual"
EX = Path(__file__).resolve().parents[1] / "example_data" / "southvale" / "qual"


def test_case_report_with_short_rows_media_and_case_attributes():
    res = read_qualcoder(DATA / "qualcoder_coding_report_by_case.csv")
    s = res.segments.set_index(["document_id", "coder", "code"])
    assert len(s) == 4  # 6 rows less one image and one a/v coding
    assert s.loc[("D01", "coder_a", "learning_mdt"), ["participant_id", "role", "site"]].tolist() == \
        ["P01", "GP", "Northgate"]
    # One category (a field short in the CSV): the attributes are re-aligned, not read as a category.
    assert s.loc[("D02", "coder_a", "records_fragmented"), ["role", "site"]].tolist() == ["Social worker", "Riverside"]
    assert s.loc[("D02", "coder_a", "records_fragmented"), "text"] == \
        'She said "we can\'t see the GP record"\nso we ring the surgery.'
    # No category (two fields short) and a blank attribute: role read, site missing (not "Carer").
    row = s.loc[("D03", "coder_a", "care_continuity")]
    assert row["role"] == "Carer" and pd.isna(row["site"])
    ex = res.exclusions.set_index("reason")
    assert ex.loc["coding of an image or audio/video (QualCoder export)", "n_segments"] == 2
    assert ex.loc["coding of an image or audio/video (QualCoder export)", "detail"] == "audio/video (1), image (1)"
    assert res.segments["start"].isna().all()  # QualCoder does not export positions


def test_participants_fill_only_what_the_export_lacks():
    parts = pd.DataFrame({"participant_id": ["P01", "P03"], "role": ["Nurse", "Carer"], "site": ["X", "Westmoor"]})
    res = read_qualcoder(DATA / "qualcoder_coding_report_by_case.csv", participants=parts)
    s = res.segments.set_index(["document_id", "coder"])
    assert s.loc[("D01", "coder_a"), "role"] == "GP"  # the export's attribute wins
    assert s.loc[("D03", "coder_a"), "site"] == "Westmoor"  # blank in the export: filled


def test_file_report_xlsx_with_file_attributes_and_custom_attribute_names(tmp_path):
    df = pd.DataFrame({"File": ["D01.txt", "D02.txt", "D02.txt"], "Coder": ["coder_a"] * 3,
                       "Coded": ["We share the plan.", "image", "They never call back."],
                       "Id": ["ctid:1", "imid:1", "ctid:2"], "Codename": ["care_planning_personalised"] * 3,
                       "Coded_Memo": ["", "", ""], "Category": ["Care planning"] * 3,
                       "FileVar_Stakeholder": ["GP", "Patient", "Patient"], "FileVar_Area": ["North", "South", "South"]})
    df.to_excel(tmp_path / "report.xlsx", index=False)
    res = read_qualcoder(tmp_path / "report.xlsx", role_attribute="Stakeholder", site_attribute="area")
    assert res.segments[["document_id", "role", "site"]].values.tolist() == [["D01", "GP", "North"],
                                                                             ["D02", "Patient", "South"]]
    assert res.segments["participant_id"].isna().all()  # by-file results carry no case
    assert int(res.exclusions["n_segments"].sum()) == 1


def test_southvale_export_is_qualcoders_case_report_and_matches_the_qdpx():
    raw = pd.read_csv(EX / "qualcoder_export.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(raw.columns) == ["Case", "Filename", "Coder", "Coded", "Id", "Codename", "Coded_Memo", "Category",
                                 "CaseVar_Role", "CaseVar_Site"]
    assert (EX / "qualcoder_export.csv").read_bytes().startswith(b'\xef\xbb\xbf"Case","Filename"')
    codebook = read_codebook(EX / "codebook.yaml")
    qc = read_qualcoder(EX / "qualcoder_export.csv", codebook)  # role and site from CaseVar_ without participants
    ref = read_qdpx(EX / "southvale.qdpx", codebook=codebook)
    cols = ["document_id", "participant_id", "role", "site", "coder", "code", "text"]
    key = lambda d: d[cols].sort_values(cols).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(key(qc.segments), key(ref.segments))


def test_malformed_report_rows_are_named(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text('"File","Coder","Coded","Id","Codename"\n"D1.txt","a","x","ctid:1","c","extra"\n', encoding="utf-8")
    with pytest.raises(DataValidationError, match="row 2 has 6 fields but the header has 5"):
        read_qualcoder(p)
    p.write_text('"File","Coder","Text"\n"D1.txt","a","x"\n', encoding="utf-8")
    with pytest.raises(DataValidationError, match="cannot find column"):
        read_qualcoder(p)
