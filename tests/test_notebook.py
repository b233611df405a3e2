"""The academics' walkthrough notebook runs end to end and reproduces the CLI's numbers for the same spec."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

from evaltool.datasets.example import write_example_data

ROOT = Path(__file__).resolve().parents[1]
SCALE = "0.08"


def _cli_bundle(tmp_path: Path) -> Path:
    """`evaltool run` on the same spec and the same small Southvale the notebook regenerates (seed 11)."""
    data = tmp_path / "data"
    write_example_data(data, seed=11, scale=float(SCALE))
    raw = yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text())
    for key in ("population", "activity", "practices", "proms", "prems"):
        raw["data"][key] = str(data / Path(raw["data"][key]).name)
    for key in ("codebook", "segments", "participants", "analyst_summaries"):
        raw["qualitative"][key] = str(data / "qual" / Path(raw["qualitative"][key]).name)
    raw["rollout"]["bootstrap_reps"] = 199  # as the notebook does at a small scale
    spec = tmp_path / "analyses" / "southvale.yaml"
    spec.parent.mkdir()
    shutil.copytree(ROOT / "templates", tmp_path / "templates")  # the spec's narrative files
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "evaltool", "-q", "run", "../analyses/southvale.yaml", "--no-report",
                           "-o", "cli", "--allow-partial"], cwd=work, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return work / "cli" / "southvale"


def test_walkthrough_notebook_executes_and_matches_the_cli(monkeypatch, tmp_path):
    cli = _cli_bundle(tmp_path)
    nb = nbformat.read(ROOT / "analyses" / "southvale_walkthrough.ipynb", as_version=4)
    monkeypatch.setenv("EVALTOOL_NOTEBOOK_SCALE", SCALE)
    monkeypatch.setenv("EVALTOOL_NOTEBOOK_OUT", str(tmp_path / "nb"))
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "analyses")}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)
    # The last cells ran every stage and found the stage-by-stage estimates equal to the bundle's.
    assert "'matching': {'status': 'ok'" in text and "'qual': {'status': 'ok'" in text
    assert "stage-by-stage estimates equal evaltool run's: True" in text
    # ... and the notebook's bundle equals the command line's, table for table.
    nb_results = tmp_path / "nb" / "southvale" / "results"
    for name in ("effects.csv", "balance.csv", "cohort_flow.csv", "matching_summary.csv", "facts.json"):
        assert (nb_results / name).read_bytes() == (cli / "results" / name).read_bytes(), name
    assert os.environ.get("EVALTOOL_NOTEBOOK_SCALE") == SCALE
