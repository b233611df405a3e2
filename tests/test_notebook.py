"""The academics' walkthrough notebook runs end to end through the public API."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def test_walkthrough_notebook_executes(monkeypatch):
    nb = nbformat.read(ROOT / "analyses" / "southvale_walkthrough.ipynb", as_version=4)
    monkeypatch.setenv("EVALTOOL_NOTEBOOK_SCALE", "0.08")
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "analyses")}})
    client.execute()
    outputs = {i: c.get("outputs", []) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    errors = [o for outs in outputs.values() for o in outs if o.get("output_type") == "error"]
    assert not errors
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for outs in outputs.values() for o in outs)
    # The last cell ran every stage.
    assert "'matching': {'status': 'ok'" in text and "'qual': {'status': 'ok'" in text
    assert os.environ.get("EVALTOOL_NOTEBOOK_SCALE") == "0.08"
