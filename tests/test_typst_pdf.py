"""The PDF's font substitutions are said, never silent (evaltool.report.typst_pdf)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evaltool.report import render_report
from evaltool.report.brand import DEFAULT_BRAND
from evaltool.report.typst_pdf import font_dirs, font_warnings

FIXTURE = Path(__file__).parent / "fixtures" / "bundle"


def test_nothing_said_when_a_body_font_is_there():
    assert font_warnings([], "Arial") == []
    # Arial missing, Liberation Sans (metric-compatible) used: the same line breaks, nothing to say.
    assert font_warnings(["unknown font family: arial"], "Arial") == []
    assert font_warnings(["unknown font family: arial"], None) == []


def test_a_missing_brand_font_is_named_with_its_stand_in():
    got = font_warnings(["unknown font family: frutiger", "unknown font family: arial"], "Frutiger")
    assert got == ["the brand font 'Frutiger' is not installed on this machine: the PDF uses Liberation Sans instead"]
    got = font_warnings(["unknown font family: frutiger", "unknown font family: liberation sans"], "Frutiger")
    assert got == ["the brand font 'Frutiger' is not installed on this machine: the PDF uses Arial instead"]


def test_no_body_font_at_all_says_the_pages_differ():
    missing = [f"unknown font family: {f}" for f in ("liberation sans", "arial", "dejavu sans")]
    (got,) = font_warnings(missing, "Arial")
    assert "none of the fonts the PDF asks for (Arial, Liberation Sans, DejaVu Sans)" in got
    assert "fonts-liberation" in got


def test_other_typst_warnings_pass_through():
    assert font_warnings(["unknown font family: arial", "block was empty"], "Arial") == ["Typst: block was empty"]


def _bundle_with_brand_font(tmp_path: Path, font: str) -> tuple[Path, dict]:
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURE, bundle, ignore=shutil.ignore_patterns("make_fixture.py", "report*", "pages"))
    (bundle / "report_inputs").mkdir()
    brand = DEFAULT_BRAND.read_text()
    # A font no Debian machine has: NHS Frutiger is licensed, installed on NHS Windows desktops only.
    (bundle / "report_inputs" / "_brand.yml").write_text(brand.replace("Arial", font))
    m_path = bundle / "results" / "manifest.json"
    m = json.loads(m_path.read_text())
    m["report"].setdefault("materials", {})["brand"] = "report_inputs/_brand.yml"
    m_path.write_text(json.dumps(m))
    return bundle, m


@pytest.mark.skipif(not font_dirs(), reason="needs the Liberation fonts (Debian: fonts-liberation), as CI has")
def test_a_brand_font_this_machine_lacks_reaches_the_render_warnings(tmp_path):
    bundle, m = _bundle_with_brand_font(tmp_path, "Frutiger NHS Test")
    m_path = bundle / "results" / "manifest.json"
    res = render_report(bundle, formats=("pdf",), engine="pandoc")

    said = [w for w in res.warnings if "Frutiger NHS Test" in w]
    assert said == ["the brand font 'Frutiger NHS Test' is not installed on this machine: the PDF uses Liberation Sans "
                    "instead"], res.warnings  # once, though the report and the appendix both substituted it
    assert json.loads((bundle / "report_source" / "render.json").read_text())["warnings"].count(said[0]) == 1
    assert (bundle / "report.pdf").stat().st_size > 10_000

    # The default brand (Arial, set in Liberation Sans here) says nothing about fonts.
    m["report"]["materials"].pop("brand")
    m_path.write_text(json.dumps(m))
    res = render_report(bundle, formats=("pdf",), engine="pandoc")
    assert not [w for w in res.warnings if "font" in w], res.warnings


@pytest.mark.skipif(not font_dirs(), reason="needs the Liberation fonts (Debian: fonts-liberation), as CI has")
def test_evaltool_report_prints_its_render_warnings(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from evaltool.cli import app

    bundle, _ = _bundle_with_brand_font(tmp_path, "Frutiger NHS Test")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["report", "bundle", "--format", "pdf"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "! report    the brand font 'Frutiger NHS Test' is not installed on this machine" in r.output
    assert "pdf: " in r.output
