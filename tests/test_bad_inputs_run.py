"""Bad and hostile inputs, part 2: qualitative and PROM inputs, received bundles, render failures, interrupted
runs, partial results, and the CLI from other working directories (issue 10's corpus; part 1 is
tests/test_bad_inputs_spec_data.py).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _tiny_project import build_qdpx, invoke, leftovers, snapshot, spec_edit, write_tiny_project

ROOT = Path(__file__).resolve().parents[1]
QUAL = ROOT / "example_data" / "southvale" / "qual"
RUN = ["run", "analyses/tiny.yaml", "--no-report"]


def _add_qual(root: Path) -> None:
    q = root / "qual"
    q.mkdir()
    shutil.copy(QUAL / "codebook.yaml", q / "codebook.yaml")
    shutil.copy(QUAL / "participants.csv", q / "participants.csv")
    seg = pd.read_csv(QUAL / "segments.csv", dtype=str, keep_default_na=False)
    seg[seg["document_id"].isin(["D01", "D02", "D03", "D04", "D05", "D06"])].to_csv(q / "segments.csv", index=False)
    spec_edit(root, lambda r: r.update(qualitative={"codebook": "../qual/codebook.yaml",
                                                   "segments": "../qual/segments.csv",
                                                   "participants": "../qual/participants.csv"}))


def _add_proms(root: Path) -> None:
    rng = np.random.default_rng(3)
    pop = pd.read_csv(root / "data" / "population.csv", dtype=str, keep_default_na=False)
    people = pd.concat([pop[pop.treated == "1"].head(25), pop[pop.treated == "0"].head(25)])["person_id"]
    rows = [{"person_id": p, "timepoint": t, "instrument": "EQ-5D-5L",
             **{f"eq5d_{d}": int(rng.integers(1, 4)) for d in ("mo", "sc", "ua", "pd", "ad")},
             "eq5d_vas": int(rng.integers(40, 95))} for p in people for t in ("baseline", "6m", "12m")]
    pd.DataFrame(rows).to_csv(root / "data" / "proms.csv", index=False)
    spec_edit(root, lambda r: (r["data"].update(proms="../data/proms.csv"),
                               r.update(proms={"timepoints": ["baseline", "6m", "12m"]})))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_run_template")
    write_tiny_project(root)
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(template, root)
    return root


def _run_case(root: Path, args: list[str], code: int, *needles: str, bundle: bool) -> object:
    """Invoke, then the corpus's common checks: exit code, message, inputs unchanged, no half bundle."""
    before = snapshot(root)
    out = invoke(args, root)
    assert out.code == code, out.output[:3000]
    for n in needles:
        assert out.says(n), f"message lacks {n!r}:\n{out.output[:3000]}"
    assert "Traceback" not in out.output and 'File "' not in out.output
    assert snapshot(root) == before, "an input file changed"
    assert leftovers(root / "reports") == [] and leftovers(root) == []
    final = root / "reports" / "tiny"
    if bundle:  # a complete bundle: its record says what failed
        assert (final / "results" / "manifest.json").is_file() and (final / ".evaltool-bundle").is_file()
    else:
        assert not final.exists()
    return out


def _log(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / "reports" / "tiny" / "results" / "run_log.jsonl").read_text().splitlines()]


def _manifest(root: Path) -> dict:
    return json.loads((root / "reports" / "tiny" / "results" / "manifest.json").read_text())


# ---- qualitative inputs: the stage fails with a message, the rest of the bundle stands -----------------
QUAL_CASES = {
    "qdpx_start_position_missing": (
        lambda q: build_qdpx(q / "p.qdpx", selection='endPosition="5"'),
        "selection X1 in source `D01.txt` has startPosition missing; expected a whole number"),
    "qdpx_start_position_not_a_number": (
        lambda q: build_qdpx(q / "p.qdpx", selection='startPosition="abc" endPosition="5"'),
        "selection X1 in source `D01.txt` has startPosition 'abc'"),
    "qdpx_offsets_beyond_text": (
        lambda q: build_qdpx(q / "p.qdpx", selection='startPosition="3" endPosition="500"'),
        "has startPosition=3, endPosition=500; expected 0 <= start < end <= 12"),
    "qdpx_not_a_zip": (
        lambda q: (q / "p.qdpx").write_bytes(b"this is not an archive"),
        "p.qdpx` is not a zip archive"),
    "qdpx_no_project_file": (
        lambda q: zipfile.ZipFile(q / "p.qdpx", "w").writestr("readme.txt", "hello"),
        "no project.qde (or any .qde file) inside the archive"),
}


@pytest.mark.parametrize("name", sorted(QUAL_CASES))
def test_qualitative_archive_cases(name, project):
    _add_qual(project)
    make, needle = QUAL_CASES[name]
    make(project / "qual")
    spec_edit(project, lambda r: r["qualitative"].update(segments="../qual/p.qdpx"))
    out = _run_case(project, RUN, 3, "qual", needle, bundle=True)
    assert _manifest(project)["stages"]["qual"]["status"] == "failed"
    assert out.says("planned result(s) missing")


def test_qdpx_zip_bomb_is_refused_quickly(project):
    """A 0.3 MB archive whose source inflates to 300 MB: refused from a budget, streamed, not inflated."""
    _add_qual(project)
    path = build_qdpx(project / "qual" / "p.qdpx", selection='startPosition="0" endPosition="5"', text="")
    # Point the source at a huge member instead of inline text.
    with zipfile.ZipFile(path) as zf:
        qde = zf.read("project.qde").decode().replace("<PlainTextContent></PlainTextContent>", "").replace(
            'name="D01.txt">', 'name="D01.txt" plainTextPath="internal://D01.txt">')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", qde)
        with zf.open("sources/D01.txt", "w") as fh:
            chunk = b"\0" * (1 << 20)
            for _ in range(300):
                fh.write(chunk)
    assert path.stat().st_size < 1_000_000
    spec_edit(project, lambda r: r["qualitative"].update(segments="../qual/p.qdpx"))
    t0 = time.perf_counter()
    _run_case(project, RUN, 3, "member `sources/D01.txt` inflates beyond 64 MiB (100 times the archive's size)",
              bundle=True)
    assert time.perf_counter() - t0 < 60


def test_segments_csv_bad_offset_names_data_row(project):
    _add_qual(project)
    p = project / "qual" / "segments.csv"
    seg = pd.read_csv(p, dtype=str, keep_default_na=False)
    seg.loc[2, "end"] = "0"  # data row 3
    seg.to_csv(p, index=False)
    _run_case(project, RUN, 3, "segments.csv`: expected 0 <= start < end", "row 3 (1 row in all)", bundle=True)


def test_segments_csv_not_utf8(project):
    _add_qual(project)
    p = project / "qual" / "segments.csv"
    p.write_bytes(p.read_bytes().replace(b"Caseloads", b"Caseload\xe9s", 1))
    _run_case(project, RUN, 3, "segments file `", "segments.csv` is not UTF-8 text", "save it as CSV UTF-8",
              bundle=True)


def test_codebook_not_a_mapping(project):
    _add_qual(project)
    (project / "qual" / "codebook.yaml").write_text("- just\n- a list\n")
    _run_case(project, RUN, 3, "codebook.yaml`: expected a mapping with a `themes` list, found list", bundle=True)


def test_codebook_bad_yaml(project):
    _add_qual(project)
    (project / "qual" / "codebook.yaml").write_text("themes: [unclosed\n")
    _run_case(project, RUN, 3, "codebook.yaml` is not valid YAML", "line 2", bundle=True)


def test_participants_missing_column(project):
    _add_qual(project)
    (project / "qual" / "participants.csv").write_text("id,role\nP01,GP\n")
    _run_case(project, RUN, 3, "participants.csv` lacks `participant_id`", bundle=True)


# ---- PROMs / PREMs -------------------------------------------------------------------------------------
def test_prem_item_map_not_a_mapping(project):
    _add_proms(project)
    pd.DataFrame({"respondent_id": ["r1", "r2"], "group": ["enrolled"] * 2, "survey": ["MINE"] * 2,
                  "q1": ["Yes", "No"]}).to_csv(project / "data" / "prems.csv", index=False)
    (project / "analyses" / "mine.yaml").write_text("- q1\n- q2\n")
    spec_edit(project, lambda r: (r["data"].update(prems="../data/prems.csv"),
                                  r["proms"].update(prem_surveys={"MINE": "mine.yaml"})))
    out = _run_case(project, RUN, 3, "PREMs not summarised: PREM item map: expected a YAML mapping with `name`, "
                    "`response_sets` and `items`, found list", bundle=True)
    # Degrade, don't drop: the EQ-5D part of the stage still stands.
    st = {(a["analysis"], a["outcome"]): a["status"] for a in _manifest(project)["run"]["analyses"]}
    assert st[("proms_summary", "eq5d")] == "ok" and st[("proms_summary", "prems")] == "failed"
    assert (project / "reports" / "tiny" / "results" / "eq5d_change.csv").is_file()
    assert _manifest(project)["stages"]["proms"]["status"] == "partial"
    del out


def test_prom_rows_set_aside_are_reported(project):
    _add_proms(project)
    p = project / "data" / "proms.csv"
    d = pd.read_csv(p, dtype=str, keep_default_na=False)
    d.loc[0:3, "timepoint"] = "3 months"
    d.loc[4:5, "person_id"] = "STRANGER"
    d.loc[6, "eq5d_vas"] = "150"
    d.to_csv(p, index=False)
    _run_case(project, RUN, 0, "! proms", "4 PROM rows at time points outside baseline, 6m, 12m were set aside "
              "(found '3 months')", "2 PROM rows (1 people) are not in the population table and were set aside",
              "1 EQ-VAS values outside 0-100 were treated as missing", bundle=True)
    codes = {e["code"] for e in _log(project)}
    assert {"prom_rows_unknown_timepoint", "prom_rows_unknown_person", "prom_values_out_of_range"} <= codes
    assert _manifest(project)["run"]["event_codes"]["prom_rows_unknown_person"] == 1


# ---- partial results, crashes, interrupts ---------------------------------------------------------------
def _rollout(root: Path, outcomes=("emergency_admission", "care_home_admission")) -> None:
    spec_edit(root, lambda r: r.update(rollout={"outcomes": list(outcomes), "bootstrap_reps": 99,
                                                "estimators": ["imputation_poisson"], "leave_one_out": False,
                                                "placebo": False}))


def test_partial_results_exit_3_and_allow_partial(project):
    _rollout(project)
    out = _run_case(project, RUN, 3, "✗ rollout", "care_home_admission: not estimated: no events in any "
                    "practice-period", "1 planned result(s) missing or incomplete",
                    "rollout care_home_admission: imputation_poisson: no events in any practice-period", bundle=True)
    m = _manifest(project)
    assert m["run"]["status"] == "partial" and m["run"]["allow_partial"] is False
    assert m["stages"]["rollout"]["status"] == "partial"
    failed = [a for a in m["run"]["analyses"] if a["status"] != "ok"]
    assert failed == [{"stage": "rollout", "analysis": "imputation_poisson", "outcome": "care_home_admission",
                       "subgroup": "all", "status": "failed", "reason": "no events in any practice-period"}]
    assert any(e["code"] == "estimate_failed" and e["outcome"] == "care_home_admission" for e in _log(project))
    # The pooled emergency-admission estimate is there.
    eff = pd.read_csv(project / "reports" / "tiny" / "results" / "effects.csv")
    assert eff["outcome"].tolist() == ["emergency_admission"]
    # Allowed by flag: exit 0, and the record still says partial.
    out = _run_case(project, RUN + ["--allow-partial"], 0, "(allowed: --allow-partial / allow_partial)", bundle=True)
    m = _manifest(project)
    assert m["run"]["status"] == "partial" and m["run"]["allow_partial"] is True
    del out


def test_allow_partial_in_the_spec(project):
    _rollout(project)
    spec_edit(project, lambda r: r.update(allow_partial=True))
    _run_case(project, RUN, 0, "care_home_admission", bundle=True)
    assert _manifest(project)["run"]["allow_partial"] is True


def test_unexpected_exception_in_a_stage(project, monkeypatch):
    import evaltool.effects.rollout_stage as rs

    _rollout(project, outcomes=("emergency_admission",))

    def boom(*a, **k):
        return {}["no such key"]

    monkeypatch.setattr(rs, "run_stage", boom)
    out = _run_case(project, RUN, 3, "✗ rollout", "KeyError: 'no such key' (traceback in results/run_log.jsonl)",
                    bundle=True)
    ev = [e for e in _log(project) if e["code"] == "stage_failed"]
    assert ev and "Traceback (most recent call last)" in ev[0]["traceback"] and "boom" in ev[0]["traceback"]
    assert _manifest(project)["stages"]["rollout"]["status"] == "failed"
    del out


def test_memory_error_in_a_stage(project, monkeypatch):
    import evaltool.effects.rollout_stage as rs

    _rollout(project, outcomes=("emergency_admission",))

    def hog(*a, **k):
        raise MemoryError()

    monkeypatch.setattr(rs, "run_stage", hog)
    _run_case(project, RUN, 3, "MemoryError: the stage ran out of resources", bundle=True)


def test_internal_error_outside_stages(project, monkeypatch):
    import evaltool.pipeline as pl

    def broken(outputs):
        raise RuntimeError("bug in the bundle writer")

    monkeypatch.setattr(pl, "collect_effects", broken)
    _run_case(project, RUN, 70, "internal error: RuntimeError: bug in the bundle writer",
              "set EVALTOOL_DEBUG=1 to see the traceback", bundle=False)


def test_interrupt_keeps_previous_bundle(project, monkeypatch):
    import evaltool.pipeline as pl

    _run_case(project, RUN, 0, "Results bundle", bundle=True)
    before = (project / "reports" / "tiny" / "results" / "manifest.json").read_bytes()

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl.BundleWriter, "finish", interrupted)
    _run_case(project, RUN, 130, "interrupted: nothing was replaced", bundle=True)
    assert (project / "reports" / "tiny" / "results" / "manifest.json").read_bytes() == before


def test_read_only_output_folder_is_refused_before_computing(project, monkeypatch):
    """CI runs as root, which ignores permissions: the write probe is made to fail as it would for a user."""
    import evaltool.pipeline as pl
    import evaltool.safe_output as so

    real = so.tempfile.mkdtemp
    computed = []

    def probe(*a, prefix="", **k):
        if ".probe-" in prefix:
            raise PermissionError(13, "Permission denied")
        return real(*a, prefix=prefix, **k)

    monkeypatch.setattr(so.tempfile, "mkdtemp", probe)
    monkeypatch.setattr(pl, "load_inputs", lambda *a, **k: computed.append(1))
    _run_case(project, RUN + ["-o", "out"], 2, "output folder `out` is not writable (Permission denied)",
              bundle=False)
    assert not computed and not (project / "out").exists()


def test_stale_temporary_folder_of_an_interrupted_run_is_tidied(project):
    from evaltool.safe_output import write_marker

    stale = project / "reports" / ".tiny.tmp-k1ll3d"
    stale.mkdir(parents=True)
    write_marker(stale, "tiny")
    (stale / "half.csv").write_text("x")
    out = _run_case(project, RUN, 0, "! bundle", "removed `.tiny.tmp-k1ll3d`, left by an interrupted earlier run",
                    bundle=True)
    assert not stale.exists()
    del out


# ---- render failures: results are kept ------------------------------------------------------------------
def test_render_failure_keeps_results(project, monkeypatch):
    import evaltool.report as rep
    from evaltool.errors import ReportError

    def fail(*a, **k):
        raise ReportError("`pandoc` failed (exit 64): Could not find data file templates/x.html")

    monkeypatch.setattr(rep, "render_report", fail)
    _run_case(project, ["run", "analyses/tiny.yaml", "--format", "html"], 4,
              "report not rendered: `pandoc` failed (exit 64): Could not find data file templates/x.html",
              "The results bundle is complete: re-render with `evaltool report", bundle=True)
    assert (project / "reports" / "tiny" / "results" / "effects.csv").is_file()
    assert any(e["code"] == "report_failed" for e in _log(project))


@pytest.fixture(scope="module")
def good_bundle(template: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("good_bundle")
    shutil.copytree(template, root, dirs_exist_ok=True)
    out = invoke(RUN, root)
    assert out.code == 0, out.output
    return root / "reports" / "tiny"


def test_report_with_pandoc_backtrace_is_one_line(good_bundle, tmp_path, monkeypatch):
    import evaltool.report.render as render

    b = tmp_path / "b"
    shutil.copytree(good_bundle, b)
    fake = tmp_path / "pandoc"
    fake.write_text("#!/bin/sh\necho 'pandoc: Unknown writer: html5x' >&2\necho 'CallStack (from HasCallStack):' >&2\n"
                    "echo '  error, called at src/Text/Pandoc.hs:42' >&2\nexit 22\n")
    fake.chmod(0o755)
    monkeypatch.setattr(render, "_pandoc", lambda: str(fake))
    before = snapshot(b)
    out = invoke(["report", "b", "--format", "html"], tmp_path)
    assert out.code == 4, out.output
    assert out.says("`pandoc` failed (exit 22): pandoc: Unknown writer: html5x")
    assert "CallStack" not in out.output and "Traceback" not in out.output
    assert snapshot(b) == before and not [p for p in b.iterdir() if p.name.startswith(".report-build")]


def test_report_when_pandoc_cannot_start(good_bundle, tmp_path, monkeypatch):
    import evaltool.report.render as render

    b = tmp_path / "b"
    shutil.copytree(good_bundle, b)
    monkeypatch.setattr(render, "_pandoc", lambda: "/nonexistent/pandoc")
    out = invoke(["report", "b", "--format", "docx"], tmp_path)
    assert out.code == 4 and out.says("`pandoc` could not be started: No such file or directory"), out.output


# ---- received bundles are closed worlds ------------------------------------------------------------------
def _tamper(b: Path, fn) -> None:
    p = b / "results" / "manifest.json"
    m = json.loads(p.read_text())
    fn(m)
    p.write_text(json.dumps(m))


BUNDLE_CASES = {
    "manifest_path_dotdot": (lambda b: _tamper(b, lambda m: m["tables"][0].update(path="../../secret.csv")),
                             "tables.0.path: String should match pattern"),
    "manifest_path_absolute": (lambda b: _tamper(b, lambda m: m["tables"][0].update(path="/etc/hostname")),
                               "tables.0.path: String should match pattern"),
    "figure_symlink_out_of_bundle": (
        lambda b: ((b / "figures").mkdir(exist_ok=True), (b / "figures" / "x.png").symlink_to("/etc/hostname"),
                   _tamper(b, lambda m: m["figures"].append({"name": "x", "path": "figures/x.png", "alt": "x"}))),
        "figure 'x' (`manifest.figures[0]`): `figures/x.png` is a link to a file outside the bundle; refused"),
    "table_symlink_out_of_bundle": (
        lambda b: ((b / "results" / "cohort_flow.csv").unlink(),
                   (b / "results" / "cohort_flow.csv").symlink_to("/etc/passwd")),
        "`results/cohort_flow.csv` is a link to a file outside the bundle; refused"),
    "manifest_not_json": (lambda b: (b / "results" / "manifest.json").write_text("{not json"),
                          "manifest.json` is not valid JSON"),
    "manifest_bad_stage_status": (lambda b: _tamper(b, lambda m: m["stages"]["cohort"].update(status="great")),
                                  "stages.cohort.status: Input should be 'ok', 'partial', 'failed' or 'not_run'"),
    "manifest_missing": (lambda b: (b / "results" / "manifest.json").unlink(),
                         "manifest: file `results/manifest.json` listed in the manifest is missing"),
    "manifest_is_a_list": (lambda b: (b / "results" / "manifest.json").write_text("[]"),
                           "results/manifest.json: expected a JSON object, found list"),
    "table_file_missing": (lambda b: (b / "results" / "cohort_flow.csv").unlink(),
                           "table 'cohort_flow' (`manifest.tables[0]`): file `results/cohort_flow.csv` listed in "
                           "the manifest is missing"),
}


@pytest.mark.parametrize("name", sorted(BUNDLE_CASES))
def test_received_bundle_cases(name, good_bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(good_bundle, b, symlinks=True)
    make, needle = BUNDLE_CASES[name]
    make(b)
    before = snapshot(b)
    out = invoke(["report", "b", "--format", "html,xlsx"], tmp_path)
    assert out.code == 2, out.output
    assert out.says(needle), out.output
    assert "Traceback" not in out.output
    assert snapshot(b) == before
    assert not (b / "report.html").exists() and not (b / "report_tables.xlsx").exists()


def test_report_bundle_dir_is_not_a_folder(tmp_path):
    out = invoke(["report", "nowhere"], tmp_path)
    assert out.code == 2 and out.says("`bundle_dir` 'nowhere' is not a directory"), out.output


# ---- from another working directory, as a real process -----------------------------------------------------
def _cli(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "evaltool.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, **kw)


def test_relative_paths_from_other_working_directories(project):
    """`evaltool run SPEC -o relout` and `evaltool report DIR` with paths relative to the caller (pandoc too)."""
    before = snapshot(project)
    r = _cli(["run", "tiny.yaml", "-o", "../relout", "--format", "html"], project / "analyses")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (project / "relout" / "tiny" / "report.html").is_file()
    (project / "relout" / "tiny" / "report.html").unlink()
    r = _cli(["report", "relout/tiny", "--format", "html"], project)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (project / "relout" / "tiny" / "report.html").stat().st_size > 10_000
    assert snapshot(project, skip=("reports", "out", "relout")) == before
    assert leftovers(project / "relout") == []


def test_sigterm_is_handled_like_ctrl_c(project):
    """SIGTERM in the middle of a run: exit 143, temporary folders removed, the previous bundle untouched."""
    r = _cli(RUN, project)
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = (project / "reports" / "tiny" / "results" / "manifest.json").read_bytes()
    ready = project / "ready"
    script = (
        "import sys, time, pathlib\n"
        "import evaltool.pipeline as pl\n"
        "real = pl.BundleWriter.add_table\n"
        "def slow(self, *a, **k):\n"
        f"    pathlib.Path({str(ready)!r}).touch()\n"
        "    time.sleep(60)\n"
        "pl.BundleWriter.add_table = slow\n"
        "from evaltool.cli import main\n"
        "sys.argv = ['evaltool', 'run', 'analyses/tiny.yaml', '--no-report']\n"
        "main()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not ready.exists() and time.time() - t0 < 300 and proc.poll() is None:
        time.sleep(0.2)
    assert ready.exists(), proc.communicate()[1][-2000:]
    assert leftovers(project / "reports"), "the run should be writing its temporary bundle now"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    assert "terminated" in err and "Traceback" not in err
    assert leftovers(project / "reports") == []
    assert (project / "reports" / "tiny" / "results" / "manifest.json").read_bytes() == manifest
