"""Whole-document codings (a REFI-QDA coding with no text selection, or a selection over the whole text) are
kept apart from passages: document-level codes, out of character-level agreement, reported.

Regression: before, a single whole-document coding was read as a passage over the whole text, and one
interview's character-level kappa for that code fell from 0.91 to 0.00.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool.qual import QualConfig, agreement, frequencies, read_qdpx, read_segments
from evaltool.qual.stage import run_stage

TEXT = ("Interviewer: How has joint working changed? " + "The weekly meeting helps us plan care together. " * 19
        ).ljust(1000, ".")
assert len(TEXT) == 1000
A, B, X, Y = "AAAAAAAA-0000-0000-0000-000000000001", "BBBBBBBB-0000-0000-0000-000000000002", \
    "CCCCCCCC-0000-0000-0000-000000000003", "DDDDDDDD-0000-0000-0000-000000000004"
SRC = "EEEEEEEE-0000-0000-0000-000000000005"


def _selection(n: int, user: str, start: int, end: int, code: str) -> str:
    return (f'<PlainTextSelection guid="F{n:07d}-0000-0000-0000-000000000000" name="s" startPosition="{start}" '
            f'endPosition="{end}" creatingUser="{user}"><Coding guid="1{n:07d}-0000-0000-0000-000000000000" '
            f'creatingUser="{user}"><CodeRef targetGUID="{code}"/></Coding></PlainTextSelection>')


def _qdpx(path: Path, *, whole_coding: bool = False, whole_selection: bool = False) -> Path:
    """One interview coded by two users: code x on [100, 400) by A and [135, 400) by B (kappa 0.9138),
    code y on the same passage by both; optionally B also codes x on the whole document."""
    sels = [_selection(1, A, 100, 400, X), _selection(2, B, 135, 400, X),
            _selection(3, A, 500, 600, Y), _selection(4, B, 500, 600, Y)]
    if whole_selection:
        sels.append(_selection(5, B, 0, len(TEXT), X))
    whole = (f'<Coding guid="20000000-0000-0000-0000-000000000000" creatingUser="{B}"><CodeRef targetGUID="{X}"/>'
             "</Coding>") if whole_coding else ""
    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="whole-document test">
<Users><User guid="{A}" name="coder_a"/><User guid="{B}" name="coder_b"/></Users>
<CodeBook><Codes><Code guid="{X}" name="x" isCodable="true"/><Code guid="{Y}" name="y" isCodable="true"/></Codes>
</CodeBook>
<Sources><TextSource guid="{SRC}" name="D01.txt" plainTextPath="internal://{SRC}.txt">{''.join(sels)}{whole}
</TextSource></Sources></Project>"""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr(f"sources/{SRC}.txt", TEXT)
    return path


def _kappa_x(project) -> float:
    return float(agreement(project).to_frame().set_index("code").loc["x", "kappa_char"])


def test_one_whole_document_coding_no_longer_sets_kappa_to_zero(tmp_path):
    plain = read_qdpx(_qdpx(tmp_path / "plain.qdpx"))
    assert round(_kappa_x(plain), 2) == 0.91
    # By hand: a11 = 265, a10 = 35, a01 = 0, a00 = 700 -> po .965, pe .3 x .265 + .7 x .735 = .594.
    assert _kappa_x(plain) == pytest.approx((0.965 - 0.594) / (1 - 0.594), abs=1e-12)
    for kind in ("whole_coding", "whole_selection"):
        project = read_qdpx(_qdpx(tmp_path / f"{kind}.qdpx", **{kind: True}))
        seg = project.segments
        doc = seg[seg["scope"] == "document"]
        assert len(doc) == 1 and doc.iloc[0][["coder", "code"]].tolist() == ["coder_b", "x"], kind
        assert doc["start"].isna().all() and (doc["text"] == "").all()  # no offsets, no transcript as text
        # Before the fix this was 0.00 (coder B "coded" every character of the interview).
        assert round(_kappa_x(project), 2) == 0.91, kind
        res = agreement(project)
        t = res.to_frame().set_index("code")
        assert res.document_codings == 1 and t.loc["x", "n_document_codings"] == 1 and t.loc["y", "n_document_codings"] == 0
        assert t.loc["x", "chars_coder_2"] == 265  # the passage only
        assert "whole-document codings" in str(res.summary())


def test_document_level_counts_and_csv_contract_scope(tmp_path):
    project = read_qdpx(_qdpx(tmp_path / "w.qdpx", whole_coding=True))
    seg = project.segments.assign(participant_id="P01", role="GP", site="North")
    f = frequencies(seg, level="code", primary_coder="coder_b").to_frame().set_index("item")
    assert f.loc["x", "n_segments"] == 1 and f.loc["x", "n_documents"] == 1  # the coding is not a segment
    # The contract CSV can carry scope itself; a passage over the whole text found from document lengths.
    csv = seg.drop(columns="scope").copy()
    csv.loc[csv["start"].isna(), ["start", "end"]] = [0, len(TEXT)]
    csv.to_csv(tmp_path / "s.csv", index=False)
    read = read_segments(tmp_path / "s.csv")
    assert (read.segments["scope"] == "span").all()  # offsets only: the importer cannot know the length
    res = agreement(read, document_lengths={"D01": len(TEXT)})
    assert res.document_codings == 1
    assert round(float(res.to_frame().set_index("code").loc["x", "kappa_char"]), 2) == 0.91
    seg.to_csv(tmp_path / "scoped.csv", index=False)
    assert (read_segments(tmp_path / "scoped.csv").segments["scope"] == "document").sum() == 1


@pytest.mark.filterwarnings("ignore::evaltool.errors.DataWarning")
def test_stage_reports_whole_document_codings(tmp_path):
    project = _qdpx(tmp_path / "w.qdpx", whole_coding=True)
    cb = tmp_path / "cb.yaml"
    cb.write_text("name: t\nsource: test\nthemes:\n  - theme: t1\n    label: Theme one\n    codes:\n"
                  "      - {code: x, label: Code x, definition: d}\n      - {code: y, label: Code y, definition: d}\n",
                  encoding="utf-8")
    out = run_stage(cb, project, QualConfig(quotes_per_theme=1), seed=1)
    msgs = out.messages()
    assert any("whole-document coding" in m and "character" in m for m in msgs), msgs
    assert out.facts["n_document_codings"] == 1
    agree = out.tables["qual_agreement"].set_index("code")
    assert round(float(agree.loc["x", "kappa_char"]), 2) == 0.91 and agree.loc["x", "n_document_codings"] == 1
    assert np.isfinite(out.facts["kappa_pooled"])
    assert not out.tables["qual_quotes"]["quote"].str.len().gt(400).any()  # the transcript is never a quote
    assert isinstance(out.tables["qual_exclusions"], pd.DataFrame)
