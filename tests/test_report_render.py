"""Rendering the hand-made fixture bundle: sections, figures with alt text, formats, byte stability."""
import html
import json
import re
import shutil
from pathlib import Path

import pytest

from evaltool.errors import ReportError
from evaltool.report import render_report
from evaltool.report.bundle_io import load_bundle

FIXTURE = Path(__file__).parent / "fixtures" / "bundle"
SECTION_IDS = ["sec-summary", "sec-programme", "sec-cohort", "sec-matching", "sec-effects", "sec-rollout", "sec-spc",
               "sec-proms", "sec-qual", "sec-joint-display", "sec-limits", "sec-about", "sec-appendix"]


def copy_bundle(tmp: Path) -> Path:
    dest = tmp / "bundle"
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("make_fixture.py", "report*", "pages"))
    return dest


@pytest.fixture(scope="module")
def html_bundle(tmp_path_factory):
    b = copy_bundle(tmp_path_factory.mktemp("html"))
    res = render_report(b, formats=("html",), engine="pandoc")
    return b, res


def test_html_has_every_section_in_order(html_bundle):
    b, res = html_bundle
    text = (b / "report.html").read_text()
    pos = [text.find(f'id="{s}"') for s in SECTION_IDS]
    assert all(p > 0 for p in pos), dict(zip(SECTION_IDS, pos))
    assert pos == sorted(pos)
    # Headings are numbered in order and never skip a level (h1 -> h2 only).
    levels = [int(m) for m in re.findall(r"<h([1-6])[ >]", text.split("</header>", 1)[1])]
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:]))


def test_html_every_figure_with_alt_text(html_bundle):
    b, _ = html_bundle
    text = (b / "report.html").read_text()
    alts = [html.unescape(a) for a in re.findall(r'<img [^>]*alt="([^"]*)"', text)]
    manifest = json.loads((b / "results" / "manifest.json").read_text())
    for f in manifest["figures"]:
        assert f["alt"] in alts, f["name"]
    assert any(a.startswith("XmR chart of monthly emergency admissions") for a in alts)
    assert any(a.startswith("Flow diagram in 5 steps: Registered in the study window (166,010)") for a in alts)
    assert len(re.findall(r"<img ", text)) == len(manifest["figures"]) + 2  # + SPC chart and cohort flow
    assert all(a.strip() for a in alts)
    # Embedded (self-contained): no image is fetched from disk.
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]*)"', text))


def test_html_content_from_bundle(html_bundle):
    b, res = html_bundle
    text = html.unescape(re.sub(r"\s+", " ", (b / "report.html").read_text()))
    assert "emergency admissions were 19% lower (95% CI 8% to 29%)" in text
    assert "for those 65 and over there was no clear difference" in text
    # Failed stage reported plainly, not as a finding.
    assert "This analysis failed" in text and "eq5d_mo" in text
    # Regression to the mean uses the naive and matched numbers; follow-up against 3-5 years; pre-trend p.
    assert "42% lower (95% CI 38% to 46%)" in text and "14% lower (95% CI 5% to 22%)" in text
    assert "up to 18 months" in text and "3 to 5 years" in text and "p = 0.41" in text
    # Cross-references resolved and tables numbered; appendix numbered A1...
    assert "Table 1: Cohort flow" in text and "Figure 1: Who was included and who was excluded" in text
    assert "Figure 2: Balance before and after matching" in text
    assert "Table A1:" in text
    raw = (b / "report.html").read_text()
    assert '<a href="#sec-limits">Section 12</a>' in raw
    assert re.search(r'See <a href="#fig-cohort-flow">Figure 1</a> and\s+<a href="#tbl-cohort-flow">Table 1</a>', raw)
    assert "@fig-" not in raw and "@tbl-" not in raw and "@sec-" not in raw  # every reference resolved
    # Disclosure: 3311 -> 3,310 (rounded) and the 5-patient practice hidden with its percentage.
    assert "3,310" in text and "3,311" not in text
    assert "counts of 1 to 7 are shown as *" in text
    assert res.hidden_cells > 0
    # The only time shown is manifest.created.
    assert "22 November 2026, 16:00 UTC" in text


def test_rerender_is_byte_stable_apart_from_timestamp(html_bundle, tmp_path):
    b, _ = html_bundle
    first = (b / "report.html").read_bytes()
    render_report(b, formats=("html",), engine="pandoc")
    assert (b / "report.html").read_bytes() == first
    # Changing manifest.created changes only the lines that show it.
    b2 = copy_bundle(tmp_path)
    mpath = b2 / "results" / "manifest.json"
    m = json.loads(mpath.read_text())
    m["created"] = "2027-01-05T09:30:00Z"
    mpath.write_text(json.dumps(m))
    render_report(b2, formats=("html",), engine="pandoc")
    a = first.decode().splitlines()
    c = (b2 / "report.html").read_text().splitlines()
    assert len(a) == len(c)
    diff = [(x, y) for x, y in zip(a, c) if x != y]
    assert diff and all("2026" in x and "2027" in y for x, y in diff), diff[:3]


def test_not_run_section_and_errors(tmp_path):
    b = copy_bundle(tmp_path)
    mpath = b / "results" / "manifest.json"
    m = json.loads(mpath.read_text())
    m["tables"] = [t for t in m["tables"] if t["section"] != "joint_display"]
    m["stages"]["joint_display"] = {"status": "not_run", "reason": "no joint display in the spec"}
    # A Friends and Family Test table in a section the report does not know: published under "Other results"
    # with the FFT rule (1-4 hidden, next smallest hidden too, no rounding).
    (b / "results" / "prem_fft.csv").write_text("answer,responses\nVery good,41\nGood,26\nPoor,3\nVery poor,12\n")
    m["tables"].append({"name": "prem_fft", "path": "results/prem_fft.csv", "section": "experience",
                        "title": "Friends and Family Test answers", "count_columns": ["responses"]})
    mpath.write_text(json.dumps(m))
    render_report(b, formats=("html",))
    raw = (b / "report.html").read_text()
    text = html.unescape(re.sub(r"\s+", " ", raw))
    assert "This part of the evaluation was not run: no joint display in the spec." in text
    assert "Other results" in text and "1 to 4 responses are suppressed" in text
    fft = re.search(r"Friends and Family Test answers.*?</table>", raw, re.S).group(0)
    cells = re.findall(r'<td style="text-align: right;">([^<]*)</td>', fft)
    assert cells == ["41", "26", "*", "*"]
    with pytest.raises(ReportError, match="formats"):
        render_report(b, formats=("pptx",))
    if shutil.which("quarto") is None:
        with pytest.raises(ReportError, match="quarto"):
            render_report(b, formats=("html",), engine="quarto")
    with pytest.raises(ReportError, match="not a directory"):
        render_report(tmp_path / "nope")
    m["figures"][0]["alt"] = ""
    mpath.write_text(json.dumps(m))
    with pytest.raises(ReportError, match="alt text"):
        load_bundle(b)


@pytest.mark.skipif(shutil.which("quarto") is None, reason="quarto not on PATH")
def test_quarto_route_same_sections(tmp_path):
    b = copy_bundle(tmp_path)
    render_report(b, formats=("html",), engine="quarto")
    text = (b / "report.html").read_text()
    assert all(f'id="{s}"' in text for s in SECTION_IDS)


def test_flow_diagram_funnel_and_split():
    import pandas as pd

    from evaltool.report.figures import cohort_flow_plot, forest_plot

    # Funnel 1000 -> 900 (100 excluded), then the 900 split into 40 enrolled and 860 comparison.
    flow = pd.DataFrame({"step": [1, 2, 3, 4], "description": ["All", "Adults", "Enrolled", "Comparison pool"],
                         "n_remaining": [1000, 900, 40, 860], "n_excluded": [0, 100, 0, 0],
                         "reason": ["", "under 18", "", ""]})
    _, alt = cohort_flow_plot(flow)
    assert alt == ("Flow diagram in 2 steps: All (1,000); Adults (900). Excluded: 100 under 18. "
                   "The last box divides into Enrolled (40) and Comparison pool (860).")
    eff = pd.DataFrame({"analysis": ["matched_did"] * 2, "outcome": ["emergency_admission"] * 2,
                        "subgroup": ["all", "age_under_65"], "estimate": [0.86, 0.81], "ci_lower": [0.78, 0.71],
                        "ci_upper": [0.95, 0.92], "scale": ["rate_ratio"] * 2})
    _, alt = forest_plot(eff)
    assert "emergency admissions: everyone 0.86 (0.78 to 0.95)" in alt
    assert "emergency admissions: under 65 0.81 (0.71 to 0.92)" in alt


def test_quarto_document_is_valid_markdown(tmp_path):
    """The .qmd handed to Quarto parses (front matter with format options, attributes, callouts)."""
    import subprocess

    import pypandoc

    from evaltool.report.render import build_markdown

    text, _ = build_markdown(load_bundle(copy_bundle(tmp_path)), tmp_path, engine="quarto")
    assert text.startswith("---\ntitle: ") and "embed-resources: true" in text and "{{<" not in text
    out = subprocess.run([pypandoc.get_pandoc_path(), "-f", "markdown", "-t", "json"], input=text, text=True,
                         capture_output=True, check=True).stdout
    doc = json.loads(out)
    assert doc["meta"]["format"]["c"]["html"]["c"]["embed-resources"]["c"] is True
    assert '"fig-cohort-flow"' in out and '"callout-note"' in out
