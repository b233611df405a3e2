"""CSV injection: bundle CSVs keep values exact (documented risk); the workbook people open stores text as text."""
from __future__ import annotations

import zipfile
from datetime import datetime

import pandas as pd

from evaltool.bundle import write_csv
from evaltool.report.workbook import write_workbook

HOSTILE = ["=HYPERLINK(\"http://x.example\",\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
           "\tTAB", "ordinary"]


def test_bundle_csv_keeps_values_exact(tmp_path):
    df = pd.DataFrame({"site": HOSTILE, "n": range(len(HOSTILE))})
    write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)
    assert back["site"].tolist() == HOSTILE  # analysts' data round-trip unchanged


def test_workbook_stores_formula_like_text_as_text(tmp_path):
    df = pd.DataFrame({"site": HOSTILE, "n": range(len(HOSTILE))})
    path = write_workbook(tmp_path / "w.xlsx", [("t", "Sites", df, "")], {"title": "Title"}, "note",
                          datetime(2026, 1, 1))
    with zipfile.ZipFile(path) as zf:
        sheets = [zf.read(n).decode() for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
    assert sheets and not any("<f>" in s or "<f " in s for s in sheets)  # no formula anywhere
    from openpyxl import load_workbook

    ws = load_workbook(path)["T01_t"]
    cells = [ws.cell(row=4 + i, column=1) for i in range(len(HOSTILE))]
    assert [c.value for c in cells] == HOSTILE and all(c.data_type == "s" for c in cells)
