"""Importers: REFI-QDA .qdpx, QualCoder and Taguette exports, the CSV contract; malformed input."""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from evaltool.errors import DataValidationError
from evaltool.qual import read_codebook, read_qdpx, read_qualcoder, read_segments, read_taguette

EX = Path(__file__).resolve().parents[1] / "example_data" / "southvale" / "qual"
DATA = Path(__file__).parent / "data" / "qual"
KEY = ["document_id", "coder", "code", "text"]
N_SEGMENTS = sum(json.loads((EX / "truth.json").read_text())["n_segments"].values())


@pytest.fixture(scope="module")
def codebook():
    return read_codebook(EX / "codebook.yaml")


@pytest.fixture(scope="module")
def participants():
    return pd.read_csv(EX / "participants.csv", dtype=str)


@pytest.fixture(scope="module")
def qdpx(codebook):
    return read_qdpx(EX / "southvale.qdpx", codebook=codebook)


def _members() -> dict[str, bytes]:
    with zipfile.ZipFile(EX / "southvale.qdpx") as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return path


def _sorted(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return df[cols].sort_values(cols).reset_index(drop=True)


def test_qdpx_matches_the_contract_csv_exactly(qdpx, codebook):
    csv = read_segments(EX / "segments.csv", codebook=codebook)
    cols = ["document_id", "participant_id", "role", "site", "coder", "code", "text", "start", "end"]
    a = _sorted(qdpx.segments, cols)
    b = _sorted(csv.segments, cols)
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))
    assert len(a) == sum(json.loads((EX / "truth.json").read_text())["n_segments"].values())
    assert qdpx.exclusions.empty and csv.exclusions.empty
    assert set(qdpx.documents["n_chars"]) == {len((EX / "transcripts" / f"{d}.txt").read_text("utf-8"))
                                              for d in qdpx.documents["document_id"]}


def test_offsets_are_code_points_with_exclusive_end(qdpx):
    # Text with non-ASCII characters: slicing the UTF-8 transcript by code points must give the segment.
    texts = {d: (EX / "transcripts" / f"{d}.txt").read_text("utf-8") for d in qdpx.segments["document_id"].unique()}
    seg = qdpx.segments
    sliced = [texts[d][s:e] for d, s, e in zip(seg["document_id"], seg["start"], seg["end"])]
    assert sliced == seg["text"].tolist()
    non_ascii = seg["text"].str.contains("[’–£é]", regex=True)
    assert non_ascii.sum() > 100
    # ...and byte offsets would differ for those documents.
    d, s, e = seg.loc[non_ascii].iloc[-1][["document_id", "start", "end"]]
    raw = texts[d].encode("utf-8")
    assert raw[s:e].decode("utf-8", errors="replace") != texts[d][s:e]


def test_qualcoder_and_taguette_give_the_same_segments_within_what_they_carry(qdpx, codebook, participants):
    qc = read_qualcoder(EX / "qualcoder_export.csv", codebook, participants)
    tg = read_taguette(EX / "taguette_highlights.csv", codebook, participants, coder="coder_a")
    cols = ["document_id", "participant_id", "role", "site", "coder", "code", "text"]
    pd.testing.assert_frame_equal(_sorted(qc.segments, cols), _sorted(qdpx.segments, cols))
    a_only = qdpx.segments[qdpx.segments["coder"] == "coder_a"]
    pd.testing.assert_frame_equal(_sorted(tg.segments, cols), _sorted(a_only, cols))
    assert qc.segments["start"].isna().all() and tg.segments["end"].isna().all()  # no offsets carried


def test_taguette_without_participants_keeps_rows_and_has_no_role(codebook):
    tg = read_taguette(EX / "taguette_highlights.csv", codebook)
    assert tg.segments["role"].isna().all() and len(tg.segments) > 900
    assert (tg.segments["coder"] == "unknown").all()


def test_unknown_codes_are_counted_not_dropped_silently(tmp_path, codebook):
    seg = pd.read_csv(EX / "segments.csv", dtype=str)
    seg.loc[:4, "code"] = "made_up_code"
    seg.loc[5:6, "code"] = "another"
    seg.to_csv(tmp_path / "s.csv", index=False)
    res = read_segments(tmp_path / "s.csv", codebook=codebook)
    ex = res.exclusions.set_index("reason")
    assert ex.loc["code not in codebook", "n_segments"] == 7
    assert ex.loc["code not in codebook", "detail"] == "another (2), made_up_code (5)"
    assert len(res.segments) == len(seg) - 7


def test_qualcoder_missing_column_is_named(tmp_path):
    pd.DataFrame({"Codename": ["x"], "Coder": ["a"]}).to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(DataValidationError, match=r"cannot find column\(s\) for \['document_id', 'text'\]"):
        read_qualcoder(tmp_path / "q.csv")


def test_contract_csv_bad_offsets_name_rows(tmp_path):
    seg = pd.read_csv(EX / "segments.csv", dtype=str).head(5)
    seg.loc[2, "end"] = "0"
    seg.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(DataValidationError, match=r"0 <= start < end .* row 3 \(1 row in all\)"):
        read_segments(tmp_path / "s.csv")


def test_qualcoder_xlsx(tmp_path, codebook, participants):
    qc = pd.read_csv(EX / "qualcoder_export.csv").head(50)
    qc.to_excel(tmp_path / "q.xlsx", index=False)
    res = read_qualcoder(tmp_path / "q.xlsx", codebook, participants)
    assert len(res.segments) == 50 and res.segments["role"].notna().all()


# ---- malformed and vendor-deviant .qdpx -------------------------------------------------------

def test_bad_xml_is_a_clear_error(tmp_path):
    m = _members()
    m["project.qde"] = m["project.qde"][:5000]
    with pytest.raises(DataValidationError, match=r"project.qde: not well-formed XML"):
        read_qdpx(_zip(tmp_path / "bad.qdpx", m))


def test_dtd_and_entities_are_refused(tmp_path):
    m = _members()
    m["project.qde"] = m["project.qde"].replace(
        b'<?xml version="1.0" encoding="utf-8"?>',
        b'<?xml version="1.0" encoding="utf-8"?><!DOCTYPE Project [<!ENTITY a "aaaaaaaaaa">]>', 1)
    with pytest.raises(DataValidationError, match="document type declaration"):
        read_qdpx(_zip(tmp_path / "dtd.qdpx", m))


def test_offsets_past_the_end_of_a_document(tmp_path):
    m = _members()
    qde = m["project.qde"].decode()
    qde = qde.replace('endPosition="', 'endPosition="99999', 1)
    m["project.qde"] = qde.encode()
    with pytest.raises(DataValidationError, match=r"endPosition=99999\d*; expected 0 <= start < end <= \d+"):
        read_qdpx(_zip(tmp_path / "past.qdpx", m))


def test_unknown_code_guid_errors_or_is_counted(tmp_path):
    m = _members()
    qde = m["project.qde"].decode()
    first = re.search(r'<CodeRef targetGUID="([0-9A-F-]+)"/>', qde).group(1)
    n = qde.count(f'<CodeRef targetGUID="{first}"/>')
    qde = qde.replace(f'<CodeRef targetGUID="{first}"/>', '<CodeRef targetGUID="DEADBEEF-0000-4000-8000-000000000000"/>')
    m["project.qde"] = qde.encode()
    path = _zip(tmp_path / "unknown.qdpx", m)
    with pytest.raises(DataValidationError, match=r"cite code GUID\(s\) not in the code book: DEADBEEF"):
        read_qdpx(path)
    res = read_qdpx(path, on_unknown_code="exclude")
    ex = res.exclusions.set_index("reason")
    assert ex.loc["coding cites unknown code GUID", "n_segments"] == n
    assert len(res.segments) == N_SEGMENTS - n


def test_missing_source_file(tmp_path):
    m = _members()
    gone = sorted(k for k in m if k.startswith("sources/"))[0]
    del m[gone]
    path = _zip(tmp_path / "missing.qdpx", m)
    with pytest.raises(DataValidationError, match=r"text source `D\d\d.txt` .* is missing from the archive"):
        read_qdpx(path)
    res = read_qdpx(path, missing_sources="exclude")
    ex = res.exclusions.set_index("reason")
    assert ex.loc["source file missing from archive", "n_segments"] == N_SEGMENTS - len(res.segments) > 0


def test_not_a_zip_and_no_qde(tmp_path):
    (tmp_path / "x.qdpx").write_bytes(b"hello")
    with pytest.raises(DataValidationError, match="not a zip archive"):
        read_qdpx(tmp_path / "x.qdpx")
    with pytest.raises(DataValidationError, match="no project.qde"):
        read_qdpx(_zip(tmp_path / "e.qdpx", {"sources/a.txt": b"x"}))


def test_vendor_deviations_renamed_qde_and_crlf(tmp_path, qdpx):
    m = _members()
    m["Southvale Export.qde"] = m.pop("project.qde")
    # CR LF line endings in the sources, offsets counted on LF text (CR LF as one position).
    for k in [k for k in m if k.startswith("sources/")]:
        m[k] = m[k].replace(b"\n", b"\r\n")
    res = read_qdpx(_zip(tmp_path / "dev.qdpx", m))
    cols = ["document_id", "coder", "code", "text", "start", "end"]
    pd.testing.assert_frame_equal(_sorted(res.segments, cols).astype(str), _sorted(qdpx.segments, cols).astype(str))
    kept = read_qdpx(tmp_path / "dev.qdpx", line_endings="keep")
    assert (kept.segments["text"] != res.segments["text"]).any()  # wrong reading shifts the text


def test_atlas_ti_example_missing_sources_reported_and_parsable(tmp_path):
    qde = (DATA / "atlasti_standard_project_example.qde").read_bytes()
    path = _zip(tmp_path / "atlas.qdpx", {"project.qde": qde})
    with pytest.raises(DataValidationError, match=r"text source `.*` \(plainTextPath='internal://.*\.txt'\) is missing"):
        read_qdpx(path)
    res = read_qdpx(path, missing_sources="exclude")
    assert res.segments.empty
    ex = res.exclusions.groupby("reason")["n_segments"].sum()
    # Codings are accounted for: on text sources lacking files, and on non-text sources.
    n_codings = qde.count(b"<Coding ")
    assert ex.sum() == n_codings
    assert any(r.startswith("coding of a non-text source") for r in ex.index)
    assert len(res.codebook.codes) == 14


def test_external_sources_only_from_the_named_folder(tmp_path):
    m = _members()
    qde = m["project.qde"].decode()
    src = sorted(k for k in m if k.startswith("sources/"))[0]
    name = src.split("/", 1)[1]
    qde = qde.replace(f"internal://{name}", f"relative://{name}")
    m["project.qde"] = qde.encode()
    text = m.pop(src)
    path = _zip(tmp_path / "ext.qdpx", m)
    ext = tmp_path / "external"
    ext.mkdir()
    (ext / name).write_bytes(text)
    with pytest.raises(DataValidationError, match="missing from the archive"):
        read_qdpx(path)  # not read from disk unless asked
    assert len(read_qdpx(path, sources_dir=ext).segments) == N_SEGMENTS
    # A reference escaping the folder is not followed.
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    m["project.qde"] = qde.replace(f"relative://{name}", "relative://../secret.txt").encode()
    with pytest.raises(DataValidationError, match="missing from the archive"):
        read_qdpx(_zip(tmp_path / "escape.qdpx", m), sources_dir=ext)


def test_documents_missing_from_participants_are_counted(tmp_path, codebook, participants):
    few = participants[participants["document_id"] != "D03"]
    res = read_qualcoder(EX / "qualcoder_export.csv", codebook, few)
    ex = res.exclusions.set_index("reason")
    n = int((pd.read_csv(EX / "segments.csv")["document_id"] == "D03").sum())
    assert ex.loc["document not in project", "n_segments"] == n
    assert ex.loc["document not in project", "detail"] == "D03"
    assert "D03" not in set(res.segments["document_id"])


def test_oversized_member_is_refused(tmp_path, monkeypatch):
    import evaltool.qual.qdpx as q

    monkeypatch.setattr(q, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(DataValidationError, match="expand beyond"):
        read_qdpx(EX / "southvale.qdpx")


def test_duplicate_codings_are_counted_once(tmp_path, codebook):
    seg = pd.read_csv(EX / "segments.csv", dtype=str)
    doubled = pd.concat([seg, seg.iloc[:9]], ignore_index=True)
    doubled.to_csv(tmp_path / "d.csv", index=False)
    res = read_segments(tmp_path / "d.csv", codebook=codebook)
    assert len(res.segments) == len(seg)
    assert res.exclusions.set_index("reason").loc["duplicate coding (same coder, code and span)", "n_segments"] == 9
