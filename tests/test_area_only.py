"""Area-only evaluations: an area-by-month panel with no person-level tables (issue 17's gap).

The shipped example (analyses/area_only.yaml, example_data/area_only/: Northbrook and 24 comparison areas,
simulated by evaltool.datasets.area_only with rules unlike Southvale's, true rate ratio 0.90) is run as a
user meets it: the CLI from another folder with a relative output path; the HTML is opened in a real browser
and the PDF read back; no person-level wording may appear in the report.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltool.errors import SpecError
from evaltool.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "analyses" / "area_only.yaml"
#: Words of the person-level designs that must not reach an area-only report.
PERSON_WORDS = re.compile(r"matched|enrol|cohort|patients were followed|follow-up of|comparison group of people",
                          re.I)


def _raw(**over):
    raw = {"name": "x", "title": "X", "window": {"start": "2020-01-01", "end": "2024-12-31"},
           "data": {"area_panel": str(ROOT / "example_data" / "area_only" / "area_panel.csv")},
           "area": {"treated_area": "Northbrook"}}
    raw.update(over)
    return raw


# ---- the spec -------------------------------------------------------------------------------------------
def test_area_only_spec_is_valid_and_takes_the_series_from_the_panel():
    s = load_spec(SPEC)
    assert s.data.population is None and s.data.activity is None and not s.data.person_level
    assert s.area.build_from_person_data is False  # defaulted from the data given
    s2 = parse_spec(_raw())
    assert s2.area.build_from_person_data is False
    # With person-level data the default stays: build the evaluated area's series from them.
    person = load_spec(ROOT / "analyses" / "southvale_area.yaml")
    assert person.area.build_from_person_data is True and person.data.person_level


@pytest.mark.parametrize("over, needle", [
    ({"data": {"population": str(SPEC)}}, "population is given but activity is not"),
    ({"data": {}}, "no input data: give `population` and `activity`"),
    ({"matching": {}}, "matching: need(s) the person-level tables"),
    ({"area": None}, "add an `area` section"),
    ({"area": {"treated_area": "Northbrook", "build_from_person_data": True}},
     "area.build_from_person_data: true needs `data.population`"),
    ({"data": {"area_panel": str(SPEC), "practices": str(SPEC)}}, "practices need(s) the person-level tables"),
])
def test_area_only_spec_errors_say_what_is_missing(over, needle):
    raw = _raw(**over)
    if raw.get("area") is None:
        raw.pop("area")
    with pytest.raises(SpecError) as e:
        parse_spec(raw)
    assert needle in str(e.value)


# ---- validate ------------------------------------------------------------------------------------------
def test_validate_prints_the_panel_and_the_designs_it_supports(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "evaltool", "validate", str(SPEC)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=_env(COLUMNS="200"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "Cohort flow" not in out  # no person-level tables, so no cohort to show
    assert "Area panel: area_panel.csv" in out and "Northbrook" in out
    assert re.search(r"months before / after go-live\s*│\s*36 / 24", out)
    assert re.search(r"interrupted time series\s*│\s*yes\s*│\s*36 months before go-live", out)
    assert re.search(r"synthetic comparison areas\s*│\s*yes\s*│\s*24 comparison areas", out)
    assert re.search(r"matched cohort\s*│\s*no\s*│\s*no person-level population table", out)
    assert "The spec and data are valid." in out


def _env(**extra):
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


# ---- run, end to end -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def area_only_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("user_folder")
    proc = subprocess.run([sys.executable, "-m", "evaltool", "run", str(SPEC), "-o", "out", "-f", "html,pdf,docx"],
                          cwd=cwd, capture_output=True, text=True, timeout=900, env=_env())
    return cwd, proc


def test_run_exits_0_with_person_stages_not_run(area_only_run):
    cwd, proc = area_only_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    bundle = cwd / "out" / "area_only"
    m = json.loads((bundle / "results" / "manifest.json").read_text())
    assert m["stages"]["area"]["status"] == "ok"
    assert m["run"]["status"] == "complete"
    for st in ("cohort", "matching", "effects", "rollout", "proms", "economics"):
        assert m["stages"][st]["status"] == "not_run", st
        assert "area-only evaluation" in m["stages"][st]["reason"], st
    assert not (bundle / "results" / "cohort_flow.csv").exists()


def test_run_recovers_the_known_effect(area_only_run):
    cwd, _ = area_only_run
    truth = json.loads((ROOT / "example_data" / "area_only" / "truth.json").read_text())
    eff = pd.read_csv(cwd / "out" / "area_only" / "results" / "area_effects.csv").set_index("method")
    assert list(eff.index[eff["headline"]]) == ["sdid"]  # 24 comparison areas: synthetic DiD headlines
    for m in ("sdid", "did", "synthetic_control", "its"):
        assert eff.loc[m, "rr_lower"] < truth["rate_ratio"] < eff.loc[m, "rr_upper"], m
    assert eff.loc["sdid", "rate_ratio"] < 1  # the direction of the simulated 10% fall
    effects = pd.read_csv(cwd / "out" / "area_only" / "results" / "effects.csv")
    # areas are counted as areas (not people): never suppressed as a small count
    assert set(effects["n_areas"].astype(int)) == {1, 25}


def test_same_spec_and_seed_give_byte_identical_results_tables(area_only_run):
    cwd, _ = area_only_run
    proc = subprocess.run([sys.executable, "-m", "evaltool", "-q", "run", str(SPEC), "-o", "again", "--no-report"],
                          cwd=cwd, capture_output=True, text=True, timeout=900, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, second = cwd / "out" / "area_only" / "results", cwd / "again" / "area_only" / "results"
    tables = sorted(p.name for p in first.glob("*.csv"))
    assert "area_effects.csv" in tables and tables == sorted(p.name for p in second.glob("*.csv"))
    for name in tables:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def _text(html_page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html_page).split())


def test_report_html_opened_in_a_browser_has_the_area_and_no_person_words(area_only_run, tmp_path):
    cwd, _ = area_only_run
    page = cwd / "out" / "area_only" / "report.html"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    _need(chromium is not None, "chromium")
    from test_report_southvale import CHROMIUM_FLAGS

    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-1000:]
    text = _text(proc.stdout)
    assert "The whole area: what happened compared with other areas and with its own past" in text
    assert "Across Northbrook as a whole," in text  # the effect sentence
    assert "compared with what was expected without the programme" in text or "than expected without" in text
    assert "monthly counts for whole areas, not records of individual people" in text  # who was included
    assert "Level 3 of 5: the whole area was compared before and after go-live with comparison areas" in text
    assert "followed for 24 months after go-live" in text
    assert "reached the evaluated area and the comparison areas differently" in text  # attribution, area words
    assert not PERSON_WORDS.search(text), PERSON_WORDS.search(text).group(0)
    for gone in ("Did it make a difference?", "Does it pay for itself?", "Patients' outcomes", "not run",
                 "table cells are hidden", "Changes to the plan") :
        if gone == "Changes to the plan":
            assert "there were no deviations" in text  # nothing planned was missing
        else:
            assert gone not in text, gone


def test_report_pdf_reads_as_an_area_report(area_only_run, tmp_path):
    cwd, _ = area_only_run
    _need(shutil.which("pdftotext") is not None and shutil.which("pdftoppm") is not None, "poppler-utils")
    pdf = cwd / "out" / "area_only" / "report.pdf"
    txt = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert "Across Northbrook as a whole," in txt and "Who was included" in txt
    assert not PERSON_WORDS.search(txt), PERSON_WORDS.search(txt).group(0)
    subprocess.run(["pdftoppm", "-r", "30", "-png", "-f", "1", "-l", "2", str(pdf), str(tmp_path / "p")], check=True)
    assert len(list(tmp_path.glob("p-*.png"))) == 2
    app = " ".join(subprocess.run(["pdftotext", str(cwd / "out" / "area_only" / "appendix.pdf"), "-"],
                                  capture_output=True, text=True, check=True).stdout.split())
    assert "Whole area, from monthly counts for areas" in app  # the area methods, not the matched design's
    assert "each enrolled person was matched" not in app and "enrolment_end" not in app


def test_report_docx_has_the_area_section_and_no_person_words(area_only_run):
    import zipfile

    cwd, _ = area_only_run
    xml = zipfile.ZipFile(cwd / "out" / "area_only" / "report.docx").read("word/document.xml").decode("utf-8")
    text = _text(xml)
    assert "The whole area: what happened compared with other areas" in text and "Across Northbrook as a whole," in text
    assert not PERSON_WORDS.search(text), PERSON_WORDS.search(text).group(0)


def _need(ok: bool, what: str) -> None:
    from test_report_southvale import _need as need

    need(ok, what)


def test_disclosure_gate_applies_to_an_area_only_run(tmp_path):
    """A small evaluated area (a handful of admissions a month): its monthly counts are published as
    confidential (1-7) or rounded to 5 in the workbook; areas and months are never treated as people."""
    import openpyxl

    from _tiny_project import invoke
    from test_bad_inputs_area import edit_panel, write_area_project

    root = tmp_path / "project"
    write_area_project(root)
    def small(d):
        a = (d["area_id"] == "A").to_numpy()
        d.loc[a, "events"] = [str(int(x)) for x in np.random.default_rng(1).poisson(9, int(a.sum()))]
        d.loc[a, "population"] = "1200"
        return d

    edit_panel(root, small)
    out = invoke(["run", "analyses/area.yaml", "-o", "out", "-f", "xlsx"], root)
    assert out.code == 0, out.output[-3000:]
    bundle = root / "out" / "area"
    raw = pd.read_csv(bundle / "results" / "area_series.csv")["events"].astype(int).tolist()
    wb = openpyxl.load_workbook(bundle / "report_tables.xlsx")
    ws = wb[[n for n in wb.sheetnames if n.endswith("area_series")][0]]
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r and "Events" in r)
    col = rows[head].index("Events")
    shown = [r[col] for r in rows[head + 1:head + 1 + len(raw)]]
    assert any(1 <= v <= 7 for v in raw), raw  # the case being tested
    for v, s in zip(raw, shown):
        if 1 <= v <= 7:
            assert s in ("[c]", "*"), (v, s)
        elif s not in ("[c]", "*"):  # a larger count: rounded to 5 (or hidden to protect a small one)
            assert float(s) % 5 == 0, (v, s)


# ---- a named design that cannot run makes the run partial ----------------------------------------------
def test_a_named_design_the_data_cannot_support_is_a_partial_result(tmp_path):
    """`methods` names the designs of the plan: with 24 comparison areas and `min_donors: 30` the comparison-area
    designs cannot run. The ITS still gives the headline, but the run is partial (exit 3) and says which design
    is missing and why; with --allow-partial it exits 0 and the record still says partial. Without `methods`
    (designs chosen by the data's shape) the same data give a complete run."""
    import yaml

    raw = _raw(area={"treated_area": "Northbrook", "methods": ["sdid", "its"], "min_donors": 30})
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "evaltool", "run", "plan.yaml", "--no-report", "-o", "out"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=_env(COLUMNS="200"))
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Synthetic difference-in-differences not run" in proc.stdout + proc.stderr
    m = json.loads((tmp_path / "out" / "x" / "results" / "manifest.json").read_text())
    fates = {a["analysis"]: a["status"] for a in m["run"]["analyses"] if a["stage"] == "area"}
    assert fates == {"whole_area": "ok", "whole_area_sdid": "failed", "whole_area_its": "ok"}
    reason = next(a["reason"] for a in m["run"]["analyses"] if a["analysis"] == "whole_area_sdid")
    assert "comparison areas" in reason and "30" in reason
    assert m["run"]["status"] == "partial"
    proc = subprocess.run(cmd + ["--allow-partial"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=_env())
    assert proc.returncode == 0, proc.stdout[-3000:]
    raw["area"].pop("methods")
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stdout[-3000:]
    m = json.loads((tmp_path / "out" / "x" / "results" / "manifest.json").read_text())
    assert [a["analysis"] for a in m["run"]["analyses"] if a["stage"] == "area"] == ["whole_area"]
    assert m["run"]["status"] == "complete"
