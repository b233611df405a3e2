"""`evaltool init`: a RAP Silver project whose spec, README, lock file, tests and CI work as written.

The full "init, then the README's commands in a fresh venv" check runs in CI (scripts/wheel_check.sh):
it needs the built wheel. Here: the files, the git history, the lock file, and every commented option.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import evaltool
from evaltool.errors import SpecError
from evaltool.scaffold import init_project, pinned_requirements
from evaltool.spec import load_spec

OPTION = re.compile(r"^(?P<indent>\s*)# (?P<body>\s*[a-z_]+:(?: |$).*)$")


def commented_options(text: str) -> list[tuple[int, int]]:
    """(first, last) line index of each commented option: a '# key:' line and its commented children."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = OPTION.match(lines[i])
        if m is None:
            i += 1
            continue
        depth = len(m["indent"]) + len(m["body"]) - len(m["body"].lstrip())
        j = i + 1
        while j < len(lines):
            c = re.match(r"^(\s*)# (.*)$", lines[j])
            if c is None or len(c[1]) + len(c[2]) - len(c[2].lstrip()) <= depth or not c[2].strip():
                break
            j += 1
        blocks.append((i, j - 1))
        i = j
    return blocks


def uncomment(text: str, block: tuple[int, int]) -> str:
    lines = text.splitlines()
    for k in range(block[0], block[1] + 1):
        lines[k] = re.sub(r"^(\s*)# ", r"\1", lines[k], count=1)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from evaltool.datasets.example import write_example_data

    root = tmp_path_factory.mktemp("projects") / "frailty_mdt"
    res = init_project("frailty_mdt", root)
    write_example_data(root / "data", seed=5, scale=0.02)
    return res


def test_project_files_and_first_commit(project):
    root = project.root
    names = sorted(str(p.relative_to(root)) for p in project.written)
    assert names == [".github/workflows/evaluation.yml", ".gitignore", "QA_CHECKLIST.md", "README.md",
                     "RUN_LOG.md", "analyses/frailty_mdt.yaml", "data/README.md", "pytest.ini",
                     "requirements.txt", "spec.schema.json", "tests/test_evaluation.py"]
    if shutil.which("git") is None:  # pragma: no cover - CI has git
        pytest.skip("git not installed")
    assert project.commit
    log = subprocess.run(["git", "log", "--format=%s"], cwd=root, capture_output=True, text=True, check=True)
    assert log.stdout.strip() == f"Start the frailty_mdt evaluation (evaltool init {evaltool.__version__})"
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    assert "analyses/frailty_mdt.yaml" in tracked and "requirements.txt" in tracked
    # Data written after init (the synthetic files) are ignored: patient-level data never get committed.
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    assert status.stdout.strip() == ""


def test_readme_names_the_right_distribution_and_commands(project):
    readme = (project.root / "README.md").read_text()
    assert "pip install -r requirements.txt" in readme and "evaltool run analyses/frailty_mdt.yaml" in readme
    req = (project.root / "requirements.txt").read_text()
    assert f"evaltool-care=={evaltool.__version__}" in req.splitlines()
    pins = [ln for ln in req.splitlines() if ln and not ln.startswith("#")]
    assert all("==" in ln or ln == "pytest>=8" for ln in pins)
    for dep in ("numpy", "pandas", "duckdb", "ibis-framework", "sqlglot", "pydantic"):
        assert any(ln.startswith(f"{dep}==") for ln in pins), dep


def test_starter_spec_validates_as_written(project):
    spec = load_spec(project.root / "analyses" / "frailty_mdt.yaml")
    assert spec.name == "frailty_mdt" and spec.matching.distance == "linear_logit"


def test_every_commented_option_is_valid_when_uncommented(project, tmp_path):
    path = project.root / "analyses" / "frailty_mdt.yaml"
    text = path.read_text()
    blocks = commented_options(text)
    # rollout, proms, qualitative, deviations and the single-line options
    assert len(blocks) >= 14
    for block in blocks:
        trial = path.with_name(f"trial_{block[0]}.yaml")
        trial.write_text(uncomment(text, block))
        try:
            load_spec(trial)
        except SpecError as err:  # pragma: no cover - the failure message is the point
            pytest.fail(f"line {block[0] + 1} of the starter spec is invalid when uncommented:\n{err}")
        finally:
            trial.unlink()
    # and all of them at once
    all_on = text
    for block in reversed(blocks):
        all_on = uncomment(all_on, block)
    trial = path.with_name("trial_all.yaml")
    trial.write_text(all_on)
    spec = load_spec(trial)
    trial.unlink()
    assert spec.rollout is not None and spec.proms is not None and spec.qualitative is not None
    assert len(spec.report.deviations) == 1


def test_init_refuses_bad_names_and_never_overwrites(tmp_path):
    with pytest.raises(ValueError, match="`name`"):
        init_project("../x", tmp_path / "x", git=False)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "README.md").write_text("mine")
    res = init_project("p1", tmp_path / "p", git=False)
    assert (tmp_path / "p" / "README.md").read_text() == "mine"
    assert any("kept the existing README.md" in n for n in res.notes)
    with pytest.raises(FileExistsError):
        init_project("p1", tmp_path / "p", git=False)


def test_init_inside_an_existing_repository_does_not_commit(tmp_path):
    if shutil.which("git") is None:  # pragma: no cover
        pytest.skip("git not installed")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    res = init_project("inner", tmp_path / "inner")
    assert res.commit is None and any("already inside a git repository" in n for n in res.notes)


def test_lock_file_is_deterministic_and_sorted():
    a, b = pinned_requirements(), pinned_requirements()
    assert a == b
    pins = [ln.split("==")[0] for ln in a.splitlines() if "==" in ln]
    assert pins == sorted(pins)


def test_cli_init_default_directory(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from evaltool.cli import app

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["init", "demo"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "demo" / "analyses" / "demo.yaml").exists()
    assert "cd demo" in r.output
    assert yaml.safe_load((tmp_path / "demo" / "analyses" / "demo.yaml").read_text())["name"] == "demo"
