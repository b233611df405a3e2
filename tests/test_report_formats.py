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
    assert set(res.paths) == {"html", "pdf", "docx", "xlsx", "appendix_html", "appendix_pdf", "appendix_docx"}
    assert res.engine == "pandoc"
    assert all(res.seconds[f] > 0 for f in res.paths)
    assert (b / "report.pdf").read_bytes()[:5] == b"%PDF-"
    # Written atomically: no temporary files or build directories left behind.
    assert not [p for p in b.iterdir() if p.name.startswith(".")]
    assert (b / "appendix.pdf").read_bytes()[:5] == b"%PDF-" and (b / "report_source" / "report.qmd").is_file()


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
    for heading in ("Key points", "What this evaluation cannot tell you", "Glossary"):
        assert heading in flat
    app = subprocess.run(["pdftotext", "-layout", str(b / "appendix.pdf"), "-"], capture_output=True, text=True,
                         check=True).stdout
    assert "Technical appendix" in app and "Methods and estimands" in app


def test_docx_text_headings_and_alt(hostile):
    b, _ = hostile
    with zipfile.ZipFile(b / "report.docx") as z:
        doc = z.read("word/document.xml").decode()
    text = html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", "", doc)))
    for s in MALICIOUS:
        assert s in text, s
    for heading in ("Key points", "Did it make a difference?", "What this evaluation cannot tell you", "Glossary"):
        assert heading in text
    descr = [html.unescape(d) for d in re.findall(r'<wp:docPr [^>]*descr="([^"]*)"', doc)]
    assert any(d.startswith("Flow of people") for d in descr) and any(d.startswith("Forest plot") for d in descr)
    # A table of contents (a TOC field), page numbers and a header from the reference document, captions.
    assert "TOC \\o" in doc and 'w:pStyle w:val="TableCaption"' in doc or "Table 1:" in text
    with zipfile.ZipFile(b / "report.docx") as z:
        names = z.namelist()
        footer = "".join(z.read(n).decode() for n in names if n.startswith("word/footer"))
        header = "".join(z.read(n).decode() for n in names if n.startswith("word/header"))
    assert "PAGE" in footer and "NUMPAGES" in footer and "TITLE" in header
    with zipfile.ZipFile(b / "appendix.docx") as z:
        adoc = z.read("word/document.xml").decode()
    manifest = json.loads((b / "results" / "manifest.json").read_text())
    adescr = [html.unescape(d) for d in re.findall(r'<wp:docPr [^>]*descr="([^"]*)"', adoc)]
    assert all(f["alt"] in adescr for f in manifest["figures"])  # every bundle figure, with its alt text


def test_workbook(hostile):
    from openpyxl import load_workbook

    b, _ = hostile
    wb = load_workbook(b / "report_tables.xlsx")
    # Analysis Function guidance: cover, contents, notes, then one table per sheet as an Excel Table.
    assert wb.sheetnames[:3] == ["Cover", "Contents", "Notes"]
    notes = [c.value for c in wb["Notes"]["B"] if c.value]
    assert any(str(n).startswith("[c]") for n in notes)
    contents = [r[0].value for r in wb["Contents"].iter_rows(min_row=4) if r[0].value]
    assert contents == wb.sheetnames[3:]
    for name in wb.sheetnames[1:]:
        ws = wb[name]
        assert len(ws.tables) == 1, name
        assert ws["A1"].value and ws["A2"].value  # title, then what the sheet holds: no blank rows
        for row in ws.iter_rows(min_row=1, max_row=ws.max_row):
            assert any(c.value is not None for c in row), (name, row[0].row)
    ro = next(wb[n] for n in wb.sheetnames if n.endswith("rollout_practices"))
    heads = [c.value for c in ro[3]]
    assert heads[:2] == ["Practice", "Go live"]
    # Disclosure applied: 412 -> 410, 5 hidden, 288 hidden to protect it, 0 stays 0; numbers are numbers.
    col = heads.index("Patients enrolled") + 1
    assert [ro.cell(r, col).value for r in range(4, 8)] == [410, "[c]", "[c]", 0]
    # A site name that looks like a formula stays text.
    cell = ro.cell(4, 1)
    assert cell.value == '=HYPERLINK("http://evil")' and cell.data_type == "s"


@pytest.mark.slow
def test_pdf_docx_xlsx_byte_stable(hostile):
    b, _ = hostile
    before = {n: (b / n).read_bytes() for n in ("report.pdf", "report.docx", "report_tables.xlsx", "appendix.pdf")}
    render_report(b, formats=("pdf", "docx", "xlsx"))
    for n, data in before.items():
        assert (b / n).read_bytes() == data, n
