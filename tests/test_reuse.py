"""`evaltool run --only STAGE`: the other stages come from the saved bundle, only while still valid."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

import evaltool
from evaltool.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    from evaltool.datasets.example import write_example_data

    root = tmp_path_factory.mktemp("reuse")
    write_example_data(root / "data", seed=7, scale=0.06)
    raw = yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text())
    raw = {k: v for k, v in raw.items() if k not in ("rollout", "qualitative")}
    raw["data"] = {k: f"../data/{Path(v).name}" for k, v in raw["data"].items() if k != "practices"}
    raw["effects"].update(outcomes=["emergency_admission"], event_study=False)
    raw["output_dir"] = "../out"
    (root / "analyses").mkdir()
    shutil.copytree(ROOT / "templates", root / "templates")  # the spec's narrative files
    (root / "analyses" / "r.yaml").write_text(yaml.safe_dump({**raw, "name": "r"}, sort_keys=False))
    evaltool.run(root / "analyses" / "r.yaml", render=False)
    shutil.copytree(root / "out" / "r", root / "full")
    return root


def _tables(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((d / "results").glob("*.csv"))} | {
        "facts.json": (d / "results" / "facts.json").read_bytes()}


def test_only_one_stage_gives_the_same_bundle(project):
    res = evaltool.run(project / "analyses" / "r.yaml", render=False, only="proms")
    assert res.stages["matching"]["reused_from"] and res.stages["effects"]["reused_from"]
    assert "reused_from" not in res.stages["proms"]
    assert _tables(project / "out" / "r") == _tables(project / "full")
    figs = sorted(p.name for p in (project / "out" / "r" / "figures").glob("*.png"))
    assert figs == sorted(p.name for p in (project / "full" / "figures").glob("*.png"))
    reused = [e for e in res.record.events if e.code == "stage_reused"]
    assert {e.stage for e in reused} == {"matching", "effects"}
    # the saved run's warnings travel with the reused results (nothing silent)
    saved = [e.message for e in evaltool.runlog.read_jsonl(project / "full" / "results" / "run_log.jsonl")
             if e.stage == "matching" and e.severity == "warning"]
    now = [e.message for e in res.record.events if e.stage == "matching" and e.severity == "warning"]
    assert now == saved


def test_effects_reruns_matching_which_it_needs(project):
    res = evaltool.run(project / "analyses" / "r.yaml", render=False, only=["effects"])
    assert "reused_from" not in res.stages["matching"] and "reused_from" not in res.stages["effects"]
    assert res.stages["proms"]["reused_from"]
    assert _tables(project / "out" / "r") == _tables(project / "full")


def test_refuses_to_reuse_what_changed(project, tmp_path):
    spec = yaml.safe_load((project / "analyses" / "r.yaml").read_text())
    changed = project / "analyses" / "changed.yaml"
    changed.write_text(yaml.safe_dump({**spec, "matching": {**spec["matching"], "caliper": 0.1}}))
    with pytest.raises(SpecError, match="the spec changed in: matching"):
        evaltool.run(changed, render=False, only="proms", output_dir=project / "out")
    # an input file that changed
    pop = pd.read_parquet(project / "data" / "population.parquet")
    shutil.copy(project / "data" / "population.parquet", tmp_path / "keep.parquet")
    try:
        pop.loc[pop.index[0], "ltc_count"] = pop["ltc_count"].iloc[0] + 1  # a valid change to one value
        pop.to_parquet(project / "data" / "population.parquet")
        with pytest.raises(SpecError, match="input files changed since: population"):
            evaltool.run(project / "analyses" / "r.yaml", render=False, only="proms")
    finally:
        shutil.copy(tmp_path / "keep.parquet", project / "data" / "population.parquet")
    with pytest.raises(SpecError, match="expected some of matching, effects"):
        evaltool.run(project / "analyses" / "r.yaml", render=False, only="everything")
    with pytest.raises(SpecError, match="no saved results to reuse"):
        evaltool.run(project / "analyses" / "r.yaml", render=False, only="proms", output_dir=tmp_path / "empty")
