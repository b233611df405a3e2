"""A tiny, fast evaltool project for the bad-input corpus (tests/test_bad_inputs*.py).

600 people in 6 practices (4 go live in 2022-23), 30 enrolled, ~600 emergency admissions: enough for the
cohort stage and a quick practice roll-out, small enough that a run takes a second or two.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

WINDOW = ("2021-04-01", "2024-03-31")


def write_tiny_project(root: Path, *, rollout: bool = False, seed: int = 5) -> Path:
    """Write data/*.csv and analyses/tiny.yaml under ``root``; return the spec path."""
    rng = np.random.default_rng(seed)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    n = 600
    pop = pd.DataFrame({
        "person_id": [f"P{i:04d}" for i in range(n)],
        "practice_id": [f"GP{i % 6 + 1}" for i in range(n)],
        "sex": rng.choice(["F", "M"], n),
        "birth_date": [f"{y}-06-15" for y in rng.integers(1935, 2000, n)],
        "treated": 0,
        "registration_start": "2015-01-01",
        "risk_score": np.round(rng.uniform(0, 1, n), 3),
    })
    enrolled = rng.choice(n, 30, replace=False)
    pop.loc[enrolled, "treated"] = 1
    idx = pd.to_datetime("2022-06-01") + pd.to_timedelta(rng.integers(0, 360, 30), "D")
    dates = np.array([""] * n, dtype=object)
    dates[enrolled] = idx.strftime("%Y-%m-%d")
    pop.insert(5, "index_date", dates)
    pop.to_csv(data / "population.csv", index=False)
    m = 650
    act = pd.DataFrame({
        "person_id": pop["person_id"].to_numpy()[rng.integers(0, n, m)],
        "date": (pd.to_datetime(WINDOW[0]) + pd.to_timedelta(rng.integers(0, 1090, m), "D")).strftime("%Y-%m-%d"),
        "setting": rng.choice(["emergency_admission", "ae_attendance"], m, p=[0.7, 0.3]),
        "cost": np.round(rng.gamma(2, 800, m), 2),
    })
    act.to_csv(data / "activity.csv", index=False)
    prac = pd.DataFrame({"practice_id": [f"GP{i}" for i in range(1, 7)],
                         "go_live_date": ["2022-07-01", "2022-07-01", "2023-01-01", "2023-01-01", "", ""],
                         "list_size": [100] * 6})
    prac.to_csv(data / "practices.csv", index=False)
    spec = {
        "name": "tiny", "title": "Tiny test evaluation", "seed": 11,
        "window": {"start": WINDOW[0], "end": WINDOW[1]},
        "data": {"population": "../data/population.csv", "activity": "../data/activity.csv",
                 "practices": "../data/practices.csv"},
        "report": {"formats": ["html"]},
    }
    if rollout:
        spec["rollout"] = {"outcomes": ["emergency_admission"], "bootstrap_reps": 99,
                           "estimators": ["imputation_poisson"], "leave_one_out": False}
    (root / "analyses").mkdir(exist_ok=True)
    path = root / "analyses" / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def spec_edit(root: Path, fn) -> None:
    """Edit analyses/tiny.yaml as a mapping (``fn`` changes it in place)."""
    p = root / "analyses" / "tiny.yaml"
    raw = yaml.safe_load(p.read_text())
    fn(raw)
    p.write_text(yaml.safe_dump(raw, sort_keys=False))


def snapshot(root: Path, skip: tuple[str, ...] = ("reports", "out")) -> dict[str, str]:
    """sha256 of every file under ``root`` except output folders: inputs must never change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0] in skip:
            continue
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_symlink():
                continue
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(folder: Path) -> list[str]:
    """Temporary folders a run may leave behind (there must be none)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name
                  or ".probe-" in p.name)


def build_qdpx(path: Path, selection: str = 'startPosition="0" endPosition="5"', text: str = "Hello world.",
               extra_members: dict[str, bytes] | None = None) -> Path:
    """A minimal REFI-QDA project archive with one coded selection (``selection`` holds its offsets)."""
    import zipfile

    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="tiny">
 <Users><User guid="U1" name="coder_a"/></Users>
 <CodeBook><Codes><Code guid="C1" name="theme" isCodable="true"><Code guid="C2" name="code" isCodable="true"/>
 </Code></Codes></CodeBook>
 <Sources><TextSource guid="S1" name="D01.txt"><PlainTextContent>{text}</PlainTextContent>
  <PlainTextSelection guid="X1" {selection}><Coding guid="K1" creatingUser="U1"><CodeRef targetGUID="C2"/>
  </Coding></PlainTextSelection></TextSource></Sources>
</Project>"""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", qde)
        for name, data in (extra_members or {}).items():
            zf.writestr(name, data)
    return path


class Outcome:
    """What one corpus case produced: exit code, all console text (stdout + stderr), timings."""

    def __init__(self, code: int, output: str, seconds: float):
        self.code, self.output, self.seconds = code, output, seconds
        self.flat = " ".join(output.split())

    def says(self, *needles: str) -> bool:
        return all(" ".join(n.split()) in self.flat for n in needles)


def invoke(args: list[str], cwd: Path) -> Outcome:
    """Run the CLI in-process (Typer's CliRunner) from ``cwd``, with a wide console so lines do not wrap."""
    import time

    from typer.testing import CliRunner

    from evaltool import cli

    old = os.getcwd()
    saved = (cli.console.width, cli.out.width)
    cli.console.width = cli.out.width = 1000
    os.chdir(cwd)
    t0 = time.perf_counter()
    try:
        res = CliRunner().invoke(cli.app, args, catch_exceptions=True)
    finally:
        os.chdir(old)
        cli.console.width, cli.out.width = saved
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        raise AssertionError("the CLI raised instead of exiting with a message:\n"
                             + "".join(traceback.format_exception(res.exception)))
    return Outcome(res.exit_code, res.output, time.perf_counter() - t0)
