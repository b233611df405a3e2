"""End to end: the qualitative stage written to a bundle and rendered; no participant name in the report.

Slow (figure rendering and pandoc): run with ``pytest -m slow tests/test_qual_report.py``.
"""
from __future__ import annotations

import json
import re
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from evaltool.qual import QualConfig
from evaltool.qual.stage import run_stage

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "example_data" / "southvale" / "qual"
BASE_MANIFEST = ROOT / "tests" / "fixtures" / "bundle" / "results" / "manifest.json"


@pytest.mark.slow
def test_rendered_report_contains_quotes_but_no_participant_names(tmp_path):
    if not BASE_MANIFEST.exists():
        pytest.skip("report fixture bundle not available")
    from evaltool.bundle import BundleWriter
    from evaltool.report import render_report

    cfg = QualConfig(participants=EX / "participants.csv", analyst_summaries=EX / "analyst_summaries.csv",
                     joint_display=[{"finding": "Emergency admissions fell", "themes": ["prevention"],
                                     "fit": "confirms"}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = run_stage(EX / "codebook.yaml", EX / "southvale.qdpx", cfg, seed=1)
        bundle = tmp_path / "bundle"
        writer = BundleWriter(bundle)
        writer.add_stage(out)
        manifest = {k: v for k, v in json.loads(BASE_MANIFEST.read_text()).items() if k not in ("tables", "figures")}
        manifest["stages"] = {"qual": {"status": "ok", "seconds": 1.0}}
        manifest["report"] = {**manifest["report"], "formats": ["html", "docx"]}
        writer.finish(manifest)
        res = render_report(bundle, formats=("html", "docx"))
    html = Path(res.paths["html"]).read_text(encoding="utf-8")
    with zipfile.ZipFile(res.paths["docx"]) as z:
        docx = re.sub(r"<[^>]+>", "", z.read("word/document.xml").decode("utf-8"))
    quotes = out.tables["qual_quotes"]["quote"]
    assert any(q[:30] in html for q in quotes)  # the section is there...
    names = pd.read_csv(EX / "participants.csv")["name"]
    words = {w for n in names for w in [n] + n.split()}
    for text in (html, docx):  # ...and no name, full or part, anywhere
        assert [w for w in sorted(words) if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text)] == []
    csvs = "\n".join(p.read_text(encoding="utf-8") for p in (bundle / "results").glob("*.csv"))
    assert [w for w in sorted(words) if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", csvs)] == []
