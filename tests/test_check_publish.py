"""`evaltool check-publish`: a report passes; a deliberately leaky one fails naming sheet, cell and rule."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from evaltool._result import check_result_contract
from evaltool.identifiers import digest, identifier_record
from evaltool.report import render_report
from evaltool.report.check import check_publish, scan_text
from evaltool.report.rules import DisclosureRules

FIXTURE = Path(__file__).parent / "fixtures" / "bundle"


def leaky_workbook(path: Path) -> Path:
    """The deliberately leaky workbook: what the report layer published before issue 11.

    * ``eq5d_levels``: a count of 3 printed (row 6, column E) and percentages to full precision;
    * ``theme_by_role``: "1/5" social workers raised a theme;
    * ``flow``: a person identifier in a text cell.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = "About"
    ws["A1"] = "Tables"
    ws = wb.create_sheet("eq5d_levels")
    ws["A1"] = "EQ-5D levels"
    for j, h in enumerate(["group", "dimension", "level", "n_valid", "n", "pct"], start=1):
        ws.cell(3, j, h)
    rows = [("enrolled", "mo", 1, 1825, 1520, 83.2), ("enrolled", "mo", 2, 1825, 222, 12.2),
            ("enrolled", "mo", 3, 1825, 3, 0.1095290251)]
    for i, r in enumerate(rows, start=4):
        for j, v in enumerate(r, start=1):
            ws.cell(i, j, v)
    ws = wb.create_sheet("theme_by_role")
    ws["A1"] = "Themes by role"
    ws.cell(3, 1, "theme")
    ws.cell(3, 2, "Social worker")
    ws.cell(4, 1, "Shared records")
    ws.cell(4, 2, "1/5")
    ws = wb.create_sheet("flow")
    ws["A1"] = "Flow"
    ws.cell(3, 1, "note")
    ws.cell(4, 1, "Excluded: P000123 (moved away)")
    wb.save(path)
    return path


def test_leaky_workbook_fails_naming_sheet_cell_and_rule(tmp_path):
    p = leaky_workbook(tmp_path / "report_tables.xlsx")
    res = check_publish(p, ids=["P000123", "P000124"])
    check_result_contract(res)
    assert not res.passed
    f = res.to_frame()
    small = f[(f.kind == "small_count") & (f["where"] == "eq5d_levels!E6")]
    assert len(small) == 1 and small["rule"].iloc[0] == "hes: 1 to 7 suppressed" and "n = 3" in small["text"].iloc[0]
    assert ((f.kind == "exact_percentage") & (f["where"] == "eq5d_levels!F6")).any()
    assert ((f.kind == "small_count") & (f["where"] == "theme_by_role!B4")).any()
    assert ((f.kind == "identifier") & (f["where"] == "flow!A4")).any()
    # Rounded, suppressed and whole-percent cells are not findings.
    assert not f["where"].isin(["eq5d_levels!E4", "eq5d_levels!E5", "eq5d_levels!F4", "eq5d_levels!D4"]).any()


def test_cli_from_another_directory_with_relative_path(tmp_path):
    (tmp_path / "out").mkdir()
    leaky_workbook(tmp_path / "out" / "report_tables.xlsx")
    (tmp_path / "ids.txt").write_text("P000123\n")
    proc = subprocess.run([sys.executable, "-m", "evaltool.cli", "check-publish", "out/report_tables.xlsx",
                           "--ids", "ids.txt"], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "COLUMNS": "200"})
    assert proc.returncode == 1, proc.stderr
    assert "eq5d_levels!E6: small_count (hes: 1 to 7 suppressed): n = 3" in proc.stdout
    assert "flow!A4: identifier" in proc.stdout and "do not publish" in proc.stdout
    missing = subprocess.run([sys.executable, "-m", "evaltool.cli", "check-publish", "nowhere"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    b = tmp_path_factory.mktemp("chk") / "bundle"
    shutil.copytree(FIXTURE, b, ignore=shutil.ignore_patterns("make_fixture.py", "report*", "pages"))
    render_report(b, formats=("html", "docx", "xlsx"), engine="pandoc")
    return b


def test_rendered_report_passes_and_lists_suppressed_cells(rendered):
    res = check_publish(rendered, ids=["P000001"])
    assert res.passed, res.to_frame().to_string()
    assert {"report.html", "report.docx", "report_tables.xlsx"} <= set(res.files)
    sup = res.suppressed
    assert len(sup) and {"table", "row", "column", "kind", "rule", "reason"} <= set(sup.columns)
    # The 5-patient practice is suppressed under the HES rule, and so is its percentage.
    row = sup[(sup.table == "rollout_practices") & (sup.column == "patients_enrolled")]
    assert set(row["kind"]) >= {"primary"} and set(row["rule"]) == {"hes"}


def test_published_suppressed_cell_is_a_finding(rendered, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(rendered, b)
    wb = load_workbook(b / "report_tables.xlsx")
    sheet = next(n for n in wb.sheetnames if n.endswith("_rollout_practices"))
    ws = wb[sheet]
    # Row 5 is the 5-patient practice (suppressed as [c]): put the number back.
    assert ws.cell(3, 3).value == "Patients enrolled" and ws.cell(5, 3).value == "[c]"
    ws.cell(5, 3).value = 5
    wb.save(b / "report_tables.xlsx")
    res = check_publish(b)
    f = res.to_frame()
    hit = f[(f.kind == "suppressed_published") & (f["where"] == f"{sheet}!C5")]
    assert len(hit) == 1 and hit["rule"].iloc[0].startswith("hes: primary"), f.to_string()


def test_identifiers_found_through_keyed_hashes(rendered, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(rendered, b)
    import pandas as pd

    rec = identifier_record([pd.DataFrame({"person_id": ["P000777", "P000778"]})], 1, {})
    assert "P000777" not in json.dumps(rec) and len(rec["digests"]) == 2 and rec["digest_chars"] == 16
    assert digest("P000777", bytes.fromhex(rec["key"])) in rec["digests"]
    (b / "results" / "identifiers.json").write_text(json.dumps(rec))
    html = (b / "report.html").read_text()
    (b / "report.html").write_text(html.replace("</body>", "<p>Case P000777 was excluded.</p></body>"))
    res = check_publish(b)
    assert res.identifier_source == "results/identifiers.json"
    assert [(x.file, x.kind) for x in res.findings] == [("report.html", "identifier")]


def test_scan_text_rules():
    r = DisclosureRules()
    kinds = [f.kind for f in scan_text("Of 5 patients, 2 improved; n = 3. 1/4 carers. 12.34% agreed.", "x", r)]
    assert kinds.count("small_count") >= 3 and kinds.count("exact_percentage") == 1
    assert scan_text("About 10 patients; fewer than 8 carers; 1 to 7 responses are suppressed; 95% CI 0.8 to 1.1.",
                     "x", r) == []


def test_identifier_json_from_an_engine_table_equals_the_frame_record():
    """The pipeline's record is built from the engine's table column by column (never a whole pandas
    population); it is the same record as from a frame, and byte-identical across runs."""
    import pandas as pd

    from evaltool.engine import connect
    from evaltool.identifiers import identifier_json

    df = pd.DataFrame({"person_id": ["P2", " P1", "P2", None, "P3"], "x": [1, 2, 3, 4, 5]})
    t = connect().upload(df, "pop_ids")
    a = identifier_json([t], 7, {"population": {"sha256": "ab"}})
    assert a == identifier_json([t], 7, {"population": {"sha256": "ab"}})
    assert json.loads(a) == identifier_record([df], 7, {"population": {"sha256": "ab"}})
    assert len(json.loads(a)["digests"]) == 3
