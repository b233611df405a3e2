"""PDF, Word and Excel outputs (rendered once, from a bundle full of hostile text)."""
import html
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from test_report_escape import MALICIOUS

from evaltool._result import check_result_contract
from evaltool.report import render_report

FIXTURE = Path(__file__).parent / "fixtures" / "bundle"
TITLE = "Review " + " ".join(MALICIOUS[:5])
SITE = " ".join(MALICIOUS[5:])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    b = tmp_path_factory.mktemp("esc") / "bundle"
    shutil.copytree(FIXTURE, b, ignore=shutil.ignore_patterns("make_fixture.py", "report*", "pages"))
    mpath = b / "results" / "manifest.json"
    m = json.loads(mpath.read_text())
    m["title"] = TITLE
    m["programme"] = SITE
    mpath.write_text(json.dumps(m))
    ro = b / "results" / "rollout_practices.csv"
    ro.write_text(ro.read_text().replace("Riverside Surgery", '"=HYPERLINK(""http://evil"")"'))
    res = render_report(b, formats=("html", "pdf", "docx", "xlsx"), engine="pandoc")
    return b, res


def test_result_and_files(hostile):
    b, res = hostile
    check_result_contract(res)
    assert set(res.paths) == {"html", "pdf", "docx", "xlsx"} and res.engine == "pandoc"
    assert all(res.seconds[f] > 0 for f in res.paths)
    assert (b / "report.pdf").read_bytes()[:5] == b"%PDF-"
    # Written atomically: no temporary files or build directories left behind.
    assert not [p for p in b.iterdir() if p.name.startswith(".")]


def test_html_shows_text_not_markup(hostile):
    b, _ = hostile
    raw = (b / "report.html").read_text()
    assert "<script" not in raw  # nothing executable at all
    assert "<b>raw html</b>" not in raw
    text = html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", raw)))
    for s in MALICIOUS:
        assert s in text, s
    assert "&lt;script&gt;" in re.search(r"<title>(.*?)</title>", raw, re.DOTALL).group(1)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_pdf_shows_text_not_commands(hostile):
    b, _ = hostile
    txt = subprocess.run(["pdftotext", "-layout", str(b / "report.pdf"), "-"], capture_output=True,
                         text=True, check=True).stdout
    flat = re.sub(r"\s+", " ", txt)
    # Typst commands are printed as text (had "#set page(...)" run, it would have been consumed, not shown).
    for s in MALICIOUS:
        assert s in flat, s
    for heading in ("Summary of findings", "What this evaluation cannot tell you", "Technical appendix"):
        assert heading in flat


def test_docx_text_headings_and_alt(hostile):
    b, _ = hostile
    with zipfile.ZipFile(b / "report.docx") as z:
        doc = z.read("word/document.xml").decode()
    text = html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", "", doc)))
    for s in MALICIOUS:
        assert s in text, s
    for heading in ("Summary of findings", "What happened to hospital use", "What this evaluation cannot tell you",
                    "Technical appendix"):
        assert heading in text
    manifest = json.loads((b / "results" / "manifest.json").read_text())
    assert doc.count("<pic:pic") == len(manifest["figures"]) + 2  # bundle figures + SPC chart + cohort flow
    descr = [html.unescape(d) for d in re.findall(r'<wp:docPr [^>]*descr="([^"]*)"', doc)]
    assert all(f["alt"] in descr for f in manifest["figures"])  # alt text reaches Word too


def test_workbook(hostile):
    from openpyxl import load_workbook

    b, _ = hostile
    wb = load_workbook(b / "report_tables.xlsx")
    manifest = json.loads((b / "results" / "manifest.json").read_text())
    published = [t["name"] for t in manifest["tables"] if t["publish"]]
    assert wb.sheetnames[0] == "About" and sorted(wb.sheetnames[1:]) == sorted(published)
    ws = wb["rollout_practices"]
    assert [c.value for c in ws[3]] == ["practice", "go_live", "patients_enrolled", "pct_of_enrolled"]
    # Disclosure applied: 412 -> 410, 5 hidden, 288 hidden to protect it, 0 stays 0.
    assert [ws.cell(r, 3).value for r in range(4, 8)] == [410, "*", "*", 0]
    # A site name that looks like a formula stays text.
    cell = ws.cell(4, 1)
    assert cell.value == '=HYPERLINK("http://evil")' and cell.data_type == "s"


@pytest.mark.slow
def test_pdf_docx_xlsx_byte_stable(hostile):
    b, _ = hostile
    before = {n: (b / n).read_bytes() for n in ("report.pdf", "report.docx", "report_tables.xlsx")}
    render_report(b, formats=("pdf", "docx", "xlsx"))
    for n, data in before.items():
        assert (b / n).read_bytes() == data, n
