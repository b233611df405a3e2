"""Re-run this project's evaluation, as the spec says, on synthetic data (run by `python -m pytest`).

The synthetic data are evaltool's fictional Southvale at a small scale, in the same input contract
as the real extract; only the spec's data paths are changed. Real data never reach this test or CI.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import evaltool
from evaltool.datasets.example import write_example_data
from evaltool.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "analyses" / "$name.yaml"
SCALE = 0.05


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    write_example_data(data, seed=7, scale=SCALE)
    return data


def _spec(data: Path):
    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    # Point the spec at the synthetic files with the same names; everything else is as written.
    raw["data"] = {k: str(data / Path(v).relative_to("../data")) for k, v in raw["data"].items()}
    for key, value in list((raw.get("qualitative") or {}).items()):
        if isinstance(value, str) and value.startswith("../data/"):
            raw["qualitative"][key] = str(data / Path(value).relative_to("../data"))
    if raw.get("rollout"):
        raw["rollout"]["bootstrap_reps"] = 199  # quicker; the real run uses the spec's number
    return parse_spec(raw, base_dir=SPEC.parent, source=str(SPEC))


def test_evaluation_runs_end_to_end(synthetic, tmp_path):
    res = evaltool.run(_spec(synthetic), formats=("html", "xlsx"), output_dir=tmp_path)
    failed = {k: v.get("reason") for k, v in res.stages.items() if v["status"] == "failed"}
    assert failed == {}
    assert res.stages["matching"]["status"] == "ok" and res.stages["effects"]["status"] == "ok"
    # Every outcome in the plan has estimates, or its failure is recorded with the reason (small
    # synthetic samples can leave a rare outcome with no events in a subgroup).
    effects = pd.read_csv(res.bundle_dir / "results" / "effects.csv")
    failed_outcomes = json.loads((res.bundle_dir / "results" / "facts.json").read_text())["effects"].get(
        "failed_outcomes", {})
    for outcome in _spec(synthetic).effects.outcomes:
        assert outcome in set(effects["outcome"]) or failed_outcomes.get(outcome), outcome
    assert effects["outcome"].nunique() >= 1
    assert (res.bundle_dir / "report.html").stat().st_size > 10_000


def test_same_spec_data_and_seed_give_identical_results(synthetic, tmp_path):
    a = evaltool.run(_spec(synthetic), render=False, output_dir=tmp_path / "a").bundle_dir / "results"
    b = evaltool.run(_spec(synthetic), render=False, output_dir=tmp_path / "b").bundle_dir / "results"
    for f in sorted(a.glob("*.csv")) + [a / "facts.json"]:
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
