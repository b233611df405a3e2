"""User text (titles, site names, codes, quotes) appears as text in Markdown, HTML, Typst/PDF and Word."""
import html
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from evaltool.report import render_report
from evaltool.report.escape import escape_html, escape_markdown, escape_typst, typst_string

FIXTURE = Path(__file__).parent / "fixtures" / "bundle"

MALICIOUS = [
    "<script>alert(1)</script>",
    "<b>raw html</b>",
    "#set page(fill: red)",
    "{{< pagebreak >}}",
    "`rm -rf /`",
    "$x^2$",
    "*not bold* and _not italic_",
    "[click](http://evil.example)",
    "@fig-love-plot",
    "a | b",
]
TITLE = "Review " + " ".join(MALICIOUS[:5])
SITE = " ".join(MALICIOUS[5:])


def _pandoc(md: str, to: str) -> str:
    import pypandoc

    return subprocess.run([pypandoc.get_pandoc_path(), "-f", "markdown", "-t", to], input=md, text=True,
                          capture_output=True, check=True).stdout


@pytest.mark.parametrize("s", MALICIOUS)
def test_escape_markdown_reads_back_as_the_same_text(s):
    assert _pandoc(escape_markdown(s), "plain").strip() == s
    out_html = _pandoc(escape_markdown(s), "html")
    assert "<script" not in out_html and "<b>" not in out_html and "<a " not in out_html and "<code" not in out_html
    assert html.unescape(re.sub("<[^>]+>", "", out_html)).strip() == s
    # No Quarto shortcode opener survives in the Markdown source.
    assert "{{<" not in escape_markdown(s)


def test_escape_helpers():
    assert escape_html('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert escape_typst("#exit()") == "\\#exit()"
    assert typst_string('a"b') == '"a\\"b"'
    assert escape_markdown("line one\n# heading") == "line one \\# heading"


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
    render_report(b, formats=("html", "pdf", "docx", "xlsx"), engine="pandoc")
    return b


def test_html_shows_text_not_markup(hostile):
    raw = (hostile / "report.html").read_text()
    assert "<script" not in raw  # nothing executable at all
    assert "<b>raw html</b>" not in raw
    text = html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", raw)))
    for s in MALICIOUS:
        assert s in text, s
    # The title reaches <title> escaped too.
    assert "&lt;script&gt;" in re.search(r"<title>(.*?)</title>", raw, re.S).group(1)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_pdf_shows_text_not_commands(hostile):
    txt = subprocess.run(["pdftotext", "-layout", str(hostile / "report.pdf"), "-"], capture_output=True,
                         text=True, check=True).stdout
    flat = re.sub(r"\s+", " ", txt)
    for s in MALICIOUS:
        assert s in flat, s
    # The Typst command is printed as text (had it run, it would have been consumed, not shown).


def test_docx_shows_text(hostile):
    with zipfile.ZipFile(hostile / "report.docx") as z:
        doc = z.read("word/document.xml").decode()
    text = html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", "", doc)))
    for s in MALICIOUS:
        assert s in text, s


def test_workbook_never_writes_formulas(hostile):
    from openpyxl import load_workbook

    ws = load_workbook(hostile / "report_tables.xlsx")["rollout_practices"]
    cell = ws.cell(4, 1)
    assert cell.value == '=HYPERLINK("http://evil")' and cell.data_type == "s"
