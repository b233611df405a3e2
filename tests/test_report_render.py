"""Rendering the hand-made fixture bundle: the report and its separate appendix, from the published bundle."""
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from evaltool.errors import ReportError
from evaltool.report import render_report
from evaltool.report.bundle_io import load_bundle
from evaltool.report.labels import raw_identifiers

FIXTURE = Path(__file__).parent / "fixtures" / "bundle"
MAIN_IDS = ["sec-key-points", "sec-programme", "sec-questions", "sec-deviations", "sec-who", "sec-difference",
            "sec-for-whom", "sec-how-sure", "sec-limits", "sec-about", "sec-glossary"]
APPENDIX_IDS = ["sec-methods", "sec-plan", "sec-run-record", "sec-diagnostics", "sec-full-results", "sec-data",
                "sec-checklist"]


def copy_bundle(tmp: Path) -> Path:
    dest = tmp / "bundle"
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("make_fixture.py", "report*", "pages"))
    return dest


def text_of(path: Path) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", path.read_text())))


def section(path: Path, ident: str) -> str:
    """The text of one top-level section of a rendered HTML document."""
    raw = path.read_text()
    start = re.search(rf'<h1[^>]*id="{ident}"', raw).start()
    nxt = raw.find("<h1 ", start + 10)
    return html.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", raw[start:nxt if nxt > 0 else None])))


@pytest.fixture(scope="module")
def html_bundle(tmp_path_factory):
    b = copy_bundle(tmp_path_factory.mktemp("html"))
    res = render_report(b, formats=("html",), engine="pandoc")
    return b, res


def test_two_documents_sections_in_order(html_bundle):
    b, res = html_bundle
    assert set(res.paths) == {"html", "appendix_html"}
    for name, ids in (("report.html", MAIN_IDS), ("appendix.html", APPENDIX_IDS)):
        text = (b / name).read_text()
        pos = [text.find(f'id="{s}"') for s in ids]
        assert all(p > 0 for p in pos), dict(zip(ids, pos))
        assert pos == sorted(pos)
        levels = [int(m) for m in re.findall(r"<h([1-6])[ >]", text.split("</header>", 1)[1])]
        assert all(y - x <= 1 for x, y in zip(levels, levels[1:]))
    # The key points come first, before the contents list.
    raw = (b / "report.html").read_text()
    assert raw.find('id="sec-key-points"') < raw.find('id="TOC"') < raw.find('id="sec-programme"')


def test_key_points_from_published_values(html_bundle):
    b, _ = html_bundle
    kp = section(b / "report.html", "sec-key-points")
    # Per 1,000 people a year and per cent, with intervals, from the one estimator per analysis.
    assert "31 fewer (9 fewer to 53 fewer)" in kp and "14% lower (5% lower to 22% lower)" in kp
    assert "For whom." in kp and "How strong is the evidence." in kp and "Maryland Scientific Methods Scale" in kp
    assert re.search(r"Our confidence in the main findings is (high|moderate|low)", kp)
    assert "3 to 5 years" in kp and "up to 18 months" in kp
    assert "Costs." in kp


def test_failures_and_deviations_reach_the_reader(html_bundle):
    b, _ = html_bundle
    dev = section(b / "report.html", "sec-questions").split("Changes to the plan", 1)[1]
    # The failed stage (from the run record) and the analyst's declared deviation.
    assert "Patient-reported outcomes" in dev and "eq5d" not in dev.lower().replace("eq-5d", "")
    assert "Follow-up" in dev and "24 months" in dev and "18 months" in dev
    lim = section(b / "report.html", "sec-limits")
    assert "Part not run: patient-reported outcomes" in lim and "proms" not in lim


def test_limitations_read_the_before_after_rows_wherever_they_are(html_bundle, tmp_path):
    # Regression: limitations looked for before/after rows only in effects.csv and said there were none while
    # a figure showed them. Here they are in effects.csv; below, only in naive_before_after.csv.
    b, _ = html_bundle
    lim = section(b / "report.html", "sec-limits")
    assert "falling by 42%" in lim and "no before-and-after estimate" not in lim
    b2 = copy_bundle(tmp_path)
    eff = (b2 / "results" / "effects.csv").read_text().splitlines()
    (b2 / "results" / "effects.csv").write_text("\n".join(x for x in eff if not x.startswith("naive")) + "\n")
    (b2 / "results" / "naive_before_after.csv").write_text(
        eff[0] + "\n" + "\n".join(x for x in eff if x.startswith("naive")) + "\n")
    m = json.loads((b2 / "results" / "manifest.json").read_text())
    m["tables"].append({"name": "naive_before_after", "path": "results/naive_before_after.csv", "section": "effects",
                        "title": "Before and after only", "appendix": True})
    (b2 / "results" / "manifest.json").write_text(json.dumps(m))
    render_report(b2, formats=("html",))
    lim2 = section(b2 / "report.html", "sec-limits")
    assert "falling by 42%" in lim2


def test_figures_alt_text_and_cross_references(html_bundle):
    b, _ = html_bundle
    raw = (b / "report.html").read_text()
    alts = [html.unescape(a) for a in re.findall(r'<img [^>]*alt="([^"]*)"', raw)]
    assert any(a.startswith("Flow of people in") for a in alts)
    assert any(a.startswith("Forest plot of") for a in alts)
    assert all(a.strip() for a in alts)
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]*)"', raw))
    for name in ("report.html", "appendix.html"):
        r = (b / name).read_text()
        assert "@fig-" not in r and "@tbl-" not in r and "@sec-" not in r
    app = (b / "appendix.html").read_text()
    manifest = json.loads((b / "results" / "manifest.json").read_text())
    app_alts = [html.unescape(a) for a in re.findall(r'<img [^>]*alt="([^"]*)"', app)]
    for f in manifest["figures"]:
        assert f["alt"] in app_alts + alts, f["name"]
    assert "Table A1:" in text_of(b / "appendix.html")


def test_no_raw_identifier_in_any_table(html_bundle):
    b, _ = html_bundle
    for name in ("report.html", "appendix.html"):
        raw = (b / name).read_text()
        for table in re.findall(r"<table.*?</table>", raw, re.S):
            cells = html.unescape(re.sub("<[^>]+>", " | ", table))
            assert raw_identifiers(cells) == [], (name, raw_identifiers(cells)[:5])


def test_glossary_lists_terms_used(html_bundle):
    b, _ = html_bundle
    gl = section(b / "report.html", "sec-glossary")
    for term in ("Rate ratio.", "95% confidence interval.", "Regression to the mean.", "Maryland Scientific Methods Scale."):
        assert term in gl, term


def test_source_kept_and_renders_unchanged(html_bundle, tmp_path):
    import pypandoc

    b, _ = html_bundle
    src = b / "report_source"
    for f in ("report.qmd", "appendix.qmd", "report.css", "brand.css", "report.typst", "reference.docx",
              "_brand.yml"):
        assert (src / f).is_file(), f
    qmd = (src / "report.qmd").read_text()
    assert qmd.startswith("---\ntitle: ") and "embed-resources: true" in qmd and "{{<" not in qmd
    # Rendering the kept source as it is gives the same text (here with pandoc; Quarto below when present).
    out = tmp_path / "again.html"
    subprocess.run([pypandoc.get_pandoc_path(), "report.qmd", "--from", "markdown", "--lua-filter",
                    str(Path(__file__).parents[1] / "evaltool" / "report" / "filters" / "crossref.lua"),
                    "--standalone", "--number-sections", "--embed-resources", "--css", "report.css", "--css",
                    "brand.css", "-o", str(out)], cwd=src, check=True, capture_output=True)
    assert text_of(out) == text_of(b / "report.html")


@pytest.mark.skipif(shutil.which("quarto") is None, reason="quarto not on PATH")
def test_quarto_renders_kept_source(html_bundle):
    b, _ = html_bundle
    subprocess.run(["quarto", "render", "report.qmd", "--to", "html"], cwd=b / "report_source", check=True)
    assert "Key points" in text_of(b / "report_source" / "report.html")


def test_rerender_is_byte_stable_apart_from_timestamp(html_bundle, tmp_path):
    b, _ = html_bundle
    first = (b / "report.html").read_bytes()
    render_report(b, formats=("html",), engine="pandoc")
    assert (b / "report.html").read_bytes() == first
    b2 = copy_bundle(tmp_path)
    mpath = b2 / "results" / "manifest.json"
    m = json.loads(mpath.read_text())
    m["created"] = "2027-01-05T09:30:00Z"
    mpath.write_text(json.dumps(m))
    render_report(b2, formats=("html",), engine="pandoc")
    a, c = first.decode().splitlines(), (b2 / "report.html").read_text().splitlines()
    assert len(a) == len(c)
    diff = [(x, y) for x, y in zip(a, c) if x != y]
    assert diff and all("2026" in x and "2027" in y for x, y in diff), diff[:3]


def test_not_run_stage_and_errors(tmp_path):
    b = copy_bundle(tmp_path)
    mpath = b / "results" / "manifest.json"
    m = json.loads(mpath.read_text())
    m["stages"]["rollout"] = {"status": "not_run", "reason": "no practices file with go_live_date"}
    mpath.write_text(json.dumps(m))
    render_report(b, formats=("html",))
    text = text_of(b / "report.html")
    assert "The practice roll-out analysis was not run: no practices file with go_live_date." in text
    with pytest.raises(ReportError, match="formats"):
        render_report(b, formats=("pptx",))
    if shutil.which("quarto") is None:
        with pytest.raises(ReportError, match="quarto"):
            render_report(b, formats=("html",), engine="quarto")
    with pytest.raises(ReportError, match="not a directory"):
        render_report(tmp_path / "nope")
    m["report"]["materials"] = {"brand": "../../../etc/passwd"}
    mpath.write_text(json.dumps(m))
    with pytest.raises(ReportError, match="outside the bundle"):
        render_report(b, formats=("html",))
    m["report"]["materials"] = {}
    m["figures"][0]["alt"] = ""
    mpath.write_text(json.dumps(m))
    with pytest.raises(ReportError, match="alt text"):
        load_bundle(b)


def test_funnel_and_forest_figures():
    import pandas as pd

    from evaltool.report.figures import forest_plot, funnel_plot

    _, alt = funnel_plot([("People", "1,000", [("100", "under 18")]), ("Enrolled", "40", [])])
    assert alt == "Flow of people in 2 steps: People 1,000 (then 100 left: under 18); Enrolled 40."
    eff = pd.DataFrame({"analysis": ["matched_did"] * 2, "outcome": ["emergency_admission"] * 2,
                        "subgroup": ["all", "age_under_65"], "estimate": [0.86, 0.81], "ci_lower": [0.78, 0.71],
                        "ci_upper": [0.95, 0.92], "scale": ["rate_ratio"] * 2})
    _, alt = forest_plot(eff)
    assert "emergency admissions, everyone: 0.86 (0.78 to 0.95)" in alt
    assert "emergency admissions, under 65: 0.81 (0.71 to 0.92)" in alt


def test_relative_bundle_path_from_another_directory(tmp_path, monkeypatch):
    """Regression: `evaltool run spec -o out` (a relative path) failed in pandoc, which runs in the build dir."""
    import shutil

    from evaltool.report import render_report

    shutil.copytree(Path(__file__).parent / "fixtures" / "bundle", tmp_path / "out" / "b")
    monkeypatch.chdir(tmp_path)
    res = render_report(Path("out/b"), formats=("html",))
    assert (tmp_path / "out" / "b" / "report.html").stat().st_size > 1000
    assert "html" in res.paths
