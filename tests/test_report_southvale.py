"""The Southvale report as a reader meets it: length, layout in a real browser, accessibility, PDF, labels.

One small Southvale run (the shipped spec, with its narrative and the example brand) is rendered in
every format, then:

* the main report is at most 16 A4 pages with the key points on page 1 (at most two pages) and a
  glossary; the technical appendix is a separate document;
* headless Chromium (Debian's ``chromium``) finds no table, figure or image wider than the text
  column, and axe-core (npm) finds no serious or critical WCAG 2.2 AA violation;
* pdfplumber finds no text outside the page and no overlapping words in either PDF;
* no published table (HTML, Word, workbook) holds a raw identifier.

CI installs chromium and axe-core (``.ci/run``), so there these tests never skip.
"""
from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from evaltool.report.labels import raw_identifiers

ROOT = Path(__file__).resolve().parents[1]
SCALE = 0.06
AXE_VERSION = "4.14.1"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need(tool_ok: bool, what: str) -> None:
    if not tool_ok:
        if IN_CI:
            pytest.fail(f"{what} is missing in CI (.ci/run installs it)")
        pytest.skip(f"{what} not installed")


@pytest.fixture(scope="module")
def southvale(tmp_path_factory) -> Path:
    from evaltool.datasets.example import write_example_data
    from evaltool.pipeline import run
    from evaltool.report import render_report

    root = tmp_path_factory.mktemp("southvale_report")
    data = root / "example_data" / "southvale"
    write_example_data(data, seed=7, scale=SCALE)
    raw = yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text())
    (root / "analyses").mkdir()
    shutil.copytree(ROOT / "templates", root / "templates")
    if raw.get("rollout"):
        raw["rollout"]["bootstrap_reps"] = 99
    raw["report"]["brand"] = "../templates/brand-example/_brand.yml"
    # A Word reference document of the evaluators' own (here: the brand's styles with a marker colour).
    from evaltool.report._reference_docx import branded
    from evaltool.report.brand import load_brand

    ref = load_brand(root / "templates" / "brand-example" / "_brand.yml")
    branded(dataclasses.replace(ref, heading="#5A2D82"), root / "analyses" / "styles.docx")
    raw["report"]["reference_docx"] = "styles.docx"
    spec = root / "analyses" / "southvale.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = run(spec, output_dir=root / "reports", render=False)
    render_report(res.bundle_dir, engine="pandoc")
    return res.bundle_dir


def _pdf_pages(path: Path) -> int:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return len(pdf.pages)


def test_length_key_points_glossary(southvale):
    import pdfplumber

    from evaltool.report.typst_pdf import font_dirs

    if not font_dirs():  # the page count is the report font's (README: optional system packages)
        pytest.skip("the Liberation fonts (Debian: fonts-liberation) are not installed: the PDF is set in Typst's "
                    "fallback font, whose page count differs; CI installs them")
    with pdfplumber.open(southvale / "report.pdf") as pdf:
        n = len(pdf.pages)
        first = pdf.pages[0].extract_text() or ""
        first_two = first + (pdf.pages[1].extract_text() or "")
        body = "\n".join(p.extract_text() or "" for p in pdf.pages)
    assert n <= 16, n
    assert "Key points" in first and "What happened to hospital use" in first
    assert "What this evaluation cannot yet tell" in first_two  # the key points end within two pages
    assert "Glossary" in body and "Technical appendix" not in body.split("Contents", 1)[0]
    assert _pdf_pages(southvale / "appendix.pdf") > 3
    # The brand reached the documents.
    assert "Southvale Council Public Health" in first


def _html_text(path: Path) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", path.read_text())))


def test_brand_narrative_and_reference_document(southvale):
    raw = (southvale / "report.html").read_text()
    assert "--brand-primary: #00695C" in raw and "Southvale Council Public Health" in raw
    assert re.search(r'<img [^>]*(alt|aria-label)="Southvale Council logo"[^>]*src="data:image/png;base64,', raw) or \
        re.search(r'<img src="data:image/png;base64,[^"]+" [^>]*alt="Southvale Council logo"', raw)
    text = _html_text(southvale / "report.html")
    # The evaluators' own words, in their sections.
    assert "catch problems early" in text or "caught early" in text
    assert "Recommendations" in text and "Continue the programme while the evaluation follows people" in text
    with zipfile.ZipFile(southvale / "report.docx") as z:
        styles = z.read("word/styles.xml").decode()
    assert "5A2D82" in styles  # the spec's reference document, not the default
    assert (southvale / "report_source" / "_brand.yml").is_file()
    assert (southvale / "report_source" / "brand" / "logo.png").is_file() or \
        (southvale / "report_source" / "logo.png").is_file()


def test_defects_of_the_old_report_stay_fixed(southvale):
    text = _html_text(southvale / "report.html")
    app = _html_text(southvale / "appendix.html")
    both = text + " " + app
    # No developer to-do in any caption; no grammar error "no clear difference ... than".
    assert "Confirm:" not in both
    assert not re.search(r"no clear difference[^.]{0,80} than ", both)
    # The roll-out headline: one estimator (Poisson imputation), by quarter.
    ro = text.split("Across whole practice populations", 1)[-1][:900]
    assert "quarter by quarter" in ro and "month by month" not in ro and "Poisson imputation" in ro
    assert "two-way fixed effects" not in text.lower()
    # The SPC chart: go-live marked, seasonally adjusted or saying seasons drive the signals, no effect claim.
    araw = (southvale / "appendix.html").read_text()
    start = araw.index('id="sec-monitoring"')
    mon = html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", araw[start:araw.find("<h1", start)])))
    assert "roll-out" in mon and ("seasonally adjusted" in mon or "signals here mostly reflect the seasons" in mon)
    assert "does not show whether the programme caused" in mon and "worth investigating" not in both
    # The funnel draws the exclusions; the flow table does not repeat its description as the reason.
    raw = (southvale / "report.html").read_text()
    alt = html.unescape(re.search(r'alt="(Flow of people[^"]*)"', raw).group(1))
    assert "not matched" in alt and "Could be followed for 6 months" in alt
    flow = re.search(r"Cohort flow.*?</table>", (southvale / "appendix.html").read_text(), re.S).group(0)
    for row in re.findall(r"<tr.*?</tr>", flow, re.S):
        cells = [html.unescape(re.sub("<[^>]+>", "", c)).strip() for c in re.findall(r"<td.*?</td>", row, re.S)]
        if len(cells) >= 2 and cells[-1]:
            assert cells[-1] not in cells[0], cells
    # The interaction test is stated with the subgroup results, never a subgroup alone.
    kp = text.split("Key points", 1)[1].split("Contents", 1)[0]
    assert "For whom." in kp and ("test of whether the effect differs by age gave" in kp
                                  or "no evidence that it differs by age" in kp)
    # Quotes are unique in every table.
    for name in ("report.html", "appendix.html"):
        for t in re.findall(r"<table.*?</table>", (southvale / name).read_text(), re.S):
            quotes = re.findall(r"\u201c([^\u201d]{20,})\u201d", html.unescape(t))
            assert len(quotes) == len(set(quotes)), name


def _words_overlap(a: dict, b: dict) -> float:
    w = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
    h = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    if w <= 0 or h <= 0:
        return 0.0
    return (w * h) / min((a["x1"] - a["x0"]) * (a["bottom"] - a["top"]), (b["x1"] - b["x0"]) * (b["bottom"] - b["top"]))


@pytest.mark.parametrize("name", ["report.pdf", "appendix.pdf"])
def test_pdf_text_inside_page_and_not_overlapping(southvale, name):
    import pdfplumber

    outside, overlaps = [], []
    with pdfplumber.open(southvale / name) as pdf:
        for i, page in enumerate(pdf.pages, start=1):
            for ch in page.chars:
                if ch["x0"] < 0 or ch["x1"] > page.width + 0.5 or ch["top"] < 0 or ch["bottom"] > page.height + 0.5:
                    outside.append((i, ch["text"]))
            words = page.extract_words(use_text_flow=False, keep_blank_chars=False)
            words.sort(key=lambda w: (round(w["top"]), w["x0"]))
            for j, a in enumerate(words):
                for b in words[j + 1:j + 40]:
                    if b["top"] > a["bottom"]:
                        break
                    if _words_overlap(a, b) > 0.25:
                        overlaps.append((i, a["text"], b["text"]))
    assert not outside, outside[:10]
    assert not overlaps, overlaps[:10]


def _table_texts_html(path: Path) -> list[str]:
    raw = path.read_text()
    return [html.unescape(re.sub("<[^>]+>", " | ", t)) for t in re.findall(r"<table.*?</table>", raw, re.S)]


def _table_texts_docx(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        doc = z.read("word/document.xml").decode()
    return [html.unescape(re.sub("<[^>]+>", " | ", t)) for t in re.findall(r"<w:tbl>.*?</w:tbl>", doc, re.S)]


def test_no_raw_identifier_in_any_published_table(southvale):
    from openpyxl import load_workbook

    found = {}
    for name in ("report.html", "appendix.html"):
        for t in _table_texts_html(southvale / name):
            if raw_identifiers(t):
                found.setdefault(name, []).extend(raw_identifiers(t))
    for name in ("report.docx", "appendix.docx"):
        for t in _table_texts_docx(southvale / name):
            if raw_identifiers(t):
                found.setdefault(name, []).extend(raw_identifiers(t))
    wb = load_workbook(southvale / "report_tables.xlsx")
    for ws in wb.worksheets[3:]:
        heads = " | ".join(str(c.value) for c in ws[3])
        cells = " | ".join(str(c.value) for row in ws.iter_rows(min_row=4) for c in row if isinstance(c.value, str))
        bad = raw_identifiers(heads + " | " + cells)
        if bad:
            found.setdefault(ws.title, []).extend(bad)
    assert not found, {k: sorted(set(v))[:8] for k, v in found.items()}
    # Nor does the main report's prose (a stage status such as "partial: matched_did ..." once leaked there).
    body = (southvale / "report.html").read_text().split("</header>", 1)[1]
    prose = html.unescape(re.sub("<[^>]+>", " ", re.sub(r"<img[^>]*>", "", body)))
    assert raw_identifiers(prose) == [], sorted(set(raw_identifiers(prose)))[:10]


def _axe_path() -> Path | None:
    env = os.environ.get("EVALTOOL_AXE")
    if env and Path(env).is_file():
        return Path(env)
    cache = ROOT / ".cache" / "npm"
    p = cache / "node_modules" / "axe-core" / "axe.min.js"
    if p.is_file():
        return p
    if shutil.which("npm") is None:
        return None
    subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(cache),
                    f"axe-core@{AXE_VERSION}"], check=False, capture_output=True, timeout=300)
    return p if p.is_file() else None


_PROBE = """<script>%s</script><script>
window.addEventListener('load', function () {
  var out = {overflow: [], width: 0, violations: []};
  var body = document.body, br = body.getBoundingClientRect();
  var cs = getComputedStyle(body);
  var right = br.right - parseFloat(cs.paddingRight) + 1, left = br.left + parseFloat(cs.paddingLeft) - 1;
  out.width = right - left;
  document.querySelectorAll('table, figure, img, pre, nav').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.right > right || r.left < left || el.scrollWidth > el.clientWidth + 1)
      out.overflow.push({tag: el.tagName, id: el.id || (el.closest('[id]') || {}).id || '', right: r.right, limit: right});
  });
  axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})
    .then(function (res) {
      out.violations = res.violations.map(function (v) {
        return {id: v.id, impact: v.impact, nodes: v.nodes.length, target: (v.nodes[0] || {}).target};
      });
      var pre = document.createElement('pre'); pre.id = 'evaltool-probe';
      pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
    });
});
</script>"""


def _probe(page: Path, tmp: Path, width: int) -> dict:
    axe = _axe_path()
    _need(axe is not None, "axe-core (npm)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    _need(chromium is not None, "chromium")
    raw = page.read_text()
    probe = tmp / f"probe-{page.stem}-{width}.html"
    probe.write_text(raw.replace("</body>", _PROBE % axe.read_text(encoding="utf-8") + "</body>"), encoding="utf-8")
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}",
                           f"--window-size={width},1000", "--virtual-time-budget=60000", "--dump-dom",
                           probe.as_uri()], capture_output=True, text=True, timeout=240)
    m = re.search(r'<pre id="evaltool-probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"the probe did not report (chromium exit {proc.returncode}): {proc.stderr[-500:]}"
    return json.loads(html.unescape(m.group(1)))


@pytest.mark.parametrize("name", ["report.html", "appendix.html"])
def test_browser_layout_and_accessibility(southvale, tmp_path, name):
    for width in ((1280, 820) if name == "report.html" else (1280,)):
        res = _probe(southvale / name, tmp_path, width)
        assert res["overflow"] == [], (width, res["overflow"][:5])
        serious = [v for v in res["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], (width, serious)
