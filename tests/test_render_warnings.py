"""What pandoc and Quarto warn about while they succeed reaches the render warnings (never dropped)."""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from evaltool.report import render_report
from evaltool.report.brand import load_brand
from evaltool.report.render import _pandoc_render, _tool_warnings

FIXTURE = Path(__file__).parent / "fixtures" / "bundle"


def test_warning_lines_only_with_the_tool_named():
    err = ("[WARNING] Could not fetch resource figures/f.png\n  replacing image with description\n"
           "Output created: report.html\n")
    assert _tool_warnings("pandoc", err) == ["pandoc: Could not fetch resource figures/f.png"]
    assert _tool_warnings("quarto", "WARNING (report.qmd) Unable to resolve crossref @fig-x\nto: html\n") == [
        "Quarto: (report.qmd) Unable to resolve crossref @fig-x"]
    assert _tool_warnings("pandoc", "") == []
    many = _tool_warnings("pandoc", "".join(f"[WARNING] w{i}\n" for i in range(14)))
    assert len(many) == 11 and many[-1] == "pandoc: ... and 4 more warning(s)"


def test_pandoc_missing_image_is_said(tmp_path):
    # A real pandoc run: an HTML document whose figure file is missing still renders (pandoc puts the
    # description in its place) and used to say nothing.
    (tmp_path / "d.md").write_text("# T\n\n![a figure](figures/missing.png)\n")
    for css in ("report.css", "brand.css"):
        (tmp_path / css).write_text("")
    got = _pandoc_render("html", tmp_path / "d.md", tmp_path / "o.html", tmp_path, 0, load_brand(None))
    assert got == ["pandoc: Could not fetch resource figures/missing.png"]
    assert (tmp_path / "o.html").stat().st_size > 0


def test_quarto_warnings_reach_the_render_warnings_once(tmp_path, monkeypatch):
    # A stand-in `quarto` on PATH (the real one is not installed in CI): writes the output it is asked for
    # and warns as Quarto does, for the report and the appendix alike.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "quarto"
    fake.write_text("#!/bin/sh\n"
                    "# quarto render SRC --to FMT --output OUT\n"
                    'echo "<html>$2</html>" > "$6"\n'
                    'echo "WARNING (report.qmd) Unable to resolve crossref @fig-x" >&2\n'
                    'echo "Output created: $6" >&2\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURE, bundle, ignore=shutil.ignore_patterns("make_fixture.py", "report*", "pages"))

    res = render_report(bundle, formats=("html",), engine="quarto")

    said = [w for w in res.warnings if w.startswith("Quarto:")]
    assert said == ["Quarto: (report.qmd) Unable to resolve crossref @fig-x"], res.warnings
    assert said[0] in json.loads((bundle / "report_source" / "render.json").read_text())["warnings"]
    assert (bundle / "report.html").read_text().startswith("<html>")
