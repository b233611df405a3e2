"""CLI conventions: --version, python -m evaltool, -v/-q, check, schema, log, progress inside stages."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import evaltool
from evaltool.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Southvale at a small scale: matching and two outcomes' matched DiD only (quick)."""
    from evaltool.datasets.example import write_example_data

    root = tmp_path_factory.mktemp("tiny")
    write_example_data(root / "data", seed=7, scale=0.06)
    raw = yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text())
    raw = {k: v for k, v in raw.items() if k not in ("rollout", "proms", "qualitative")}
    raw["data"] = {k: f"../data/{Path(v).name}" for k, v in raw["data"].items() if k in ("population", "activity")}
    raw["effects"].update(outcomes=["emergency_admission", "ae_attendance"], event_study=False)
    (root / "analyses").mkdir()
    shutil.copytree(ROOT / "templates", root / "templates")  # the spec's narrative files
    (root / "analyses" / "tiny.yaml").write_text(yaml.safe_dump({**raw, "name": "tiny"}, sort_keys=False))
    return root


def test_version_and_python_m():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith(f"evaltool {evaltool.__version__} (evaltool-care; Python ")
    proc = subprocess.run([sys.executable, "-m", "evaltool", "--help"], capture_output=True, text=True, check=False,
                          env={"COLUMNS": "100", "PATH": ""})
    assert proc.returncode == 0 and "Usage: python -m evaltool [OPTIONS] COMMAND" in proc.stdout


def test_help_is_conventional():
    r = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "100"})
    assert r.exit_code == 0
    assert "evaltool run [OPTIONS] SPEC" in r.output and "{SPEC}" not in r.output
    assert "<bool>" not in r.output and "FORMATS" in r.output and "Examples" in r.output
    top = runner.invoke(app, ["-h"], env={"COLUMNS": "100"}).output
    for cmd in ("run", "validate", "report", "init", "check", "schema", "log", "example-data"):
        assert f" {cmd} " in top
    assert "--install-completion" in top and "--verbose" in top and "--quiet" in top


def test_check_lists_required_and_optional_tools():
    r = runner.invoke(app, ["check", "--no-r"], env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.output
    for name in ("python", "dependencies", "duckdb", "pandoc", "typst", "quarto", "fonts", "chromium"):
        assert name in r.output
    assert "Ready: everything a run needs is here." in r.output


def test_schema_command_writes_the_json_schema(tmp_path):
    r = runner.invoke(app, ["schema", "-o", str(tmp_path / "s.json")])
    assert r.exit_code == 0
    schema = json.loads((tmp_path / "s.json").read_text())
    assert schema["$schema"].endswith("2020-12/schema") and "matching" in schema["properties"]
    # The schema published with the docs and `evaltool init` is the same text.
    from evaltool.schema import schema_text

    assert (tmp_path / "s.json").read_text() == schema_text()


def test_run_reports_progress_inside_stages_and_writes_a_readable_log(tiny, monkeypatch, tmp_path):
    seen: list[tuple[str, int, int, str]] = []
    res = evaltool.run(tiny / "analyses" / "tiny.yaml", render=False, output_dir=tmp_path,
                       steps=lambda *a: seen.append(a))
    matching = [s for s in seen if s[0] == "matching"]
    effects = [s for s in seen if s[0] == "effects"]
    # one step per enrolment month's risk set, then done; one per outcome, then done
    assert matching[0][1] == 0 and matching[-1][1:] == (matching[-1][2], matching[-1][2], "done")
    assert matching[0][3].startswith("risk set 20") and matching[-1][2] >= 6
    assert [s[3] for s in effects] == ["emergency admission", "ae attendance", "done"]
    text = (res.bundle_dir / "results" / "run_log.txt").read_text()
    assert text.startswith("evaltool run log: tiny\n") and "matching" in text and "Planned analyses:" in text
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["log", "tiny"])
    assert r.exit_code == 0 and "evaltool run log: tiny" in r.output
    assert " info " not in r.output  # warnings and errors only, unless --all
    assert " info " in runner.invoke(app, ["log", "tiny", "--all"]).output
    assert runner.invoke(app, ["log", "nowhere"]).exit_code == 2


def test_quiet_run_prints_only_results(tiny, monkeypatch, tmp_path):
    monkeypatch.chdir(tiny / "analyses")
    r = runner.invoke(app, ["-q", "run", "tiny.yaml", "--no-report", "-o", str(tmp_path)])
    assert r.exit_code in (0, 3), r.output
    assert "Results bundle:" in r.output and "stage" not in r.output.split("Results bundle:")[0].lower().replace(
        "stage_", "")


def test_concise_warning_lines():
    import warnings

    from evaltool._cli_output import OUTPUT, concise_warnings
    from evaltool.errors import MatchingWarning
    from rich.console import Console

    OUTPUT.verbosity = 0  # (global: a previous `-q` invocation leaves it at -1)
    con = Console(record=True, width=200)
    with concise_warnings(con):
        warnings.warn("62 of 185 treated units were not matched", MatchingWarning, stacklevel=1)
        warnings.warn("62 of 185 treated units were not matched", MatchingWarning, stacklevel=1)
        warnings.warn("an API will change", FutureWarning, stacklevel=1)
    text = con.export_text()
    assert text == "warning: 62 of 185 treated units were not matched (MatchingWarning)\n"
