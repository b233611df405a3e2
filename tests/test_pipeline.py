"""End to end on a small Southvale: bundle layout, byte-identical tables, nothing patient-level, CLI exit codes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evaltool.datasets.example import write_example_data
from evaltool.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
SCALE = 0.06


@pytest.fixture(scope="module")
def small_project(tmp_path_factory) -> Path:
    """A copy of the Southvale spec pointed at a small regenerated data set."""
    root = tmp_path_factory.mktemp("southvale_small")
    data_dir = root / "example_data" / "southvale"
    write_example_data(data_dir, seed=7, scale=SCALE)
    raw = yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text())
    (root / "analyses").mkdir()
    shutil.copytree(ROOT / "templates", root / "templates")  # the spec's narrative files
    raw["report"]["formats"] = ["html"]
    # Fewer bootstrap draws keep the test quick; the example run uses the spec's full number.
    if raw.get("rollout"):
        raw["rollout"]["bootstrap_reps"] = 99
    (root / "analyses" / "southvale.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def two_runs(small_project, tmp_path_factory):
    spec = small_project / "analyses" / "southvale.yaml"
    a = run(spec, output_dir=tmp_path_factory.mktemp("a"))
    b = run(spec, output_dir=tmp_path_factory.mktemp("b"), render=False)
    return a, b


def test_every_stage_ran(two_runs):
    a, _ = two_runs
    # On this small data set some event-study months and care-home admissions have no events among the
    # enrolled: the effects stage is partial, and says exactly what is missing.
    assert {k: v["status"] for k, v in a.stages.items()} == {
        "cohort": "ok", "matching": "ok", "effects": "partial", "rollout": "ok", "proms": "ok", "economics": "ok",
        "qual": "ok", "area": "not_run"}
    assert a.status == "partial" and not a.ok
    m = json.loads((a.bundle_dir / "results" / "manifest.json").read_text())
    missing = {(x["analysis"], x["outcome"], x["subgroup"]): x["reason"] for x in m["run"]["analyses"]
               if x["status"] != "ok"}
    # Emergency admissions have an empty month among the enrolled: the event study falls back to quarters
    # (issue 14: small programmes) instead of failing, and the run says so.
    assert ("event_study", "emergency_admission", "all") not in missing
    es = pd.read_csv(a.bundle_dir / "results" / "event_study.csv")
    assert set(es.loc[es.outcome == "emergency_admission", "unit"]) == {"quarter"}
    log = (a.bundle_dir / "results" / "run_log.jsonl").read_text()
    assert "event study by quarter: no emergency admissions among enrolled people in month" in log
    assert "no care-home admissions among enrolled people before the index date" in missing[
        ("matched_did", "care_home_admission", "all")]
    # Degrade, don't drop: every outcome whose pooled estimate exists is in effects.csv.
    eff = pd.read_csv(a.bundle_dir / "results" / "effects.csv")
    pooled = set(eff.loc[(eff.analysis == "matched_did") & (eff.subgroup == "all"), "outcome"])
    assert pooled == {"emergency_admission", "ae_attendance", "bed_days", "elective_admission", "cost"}
    assert m["run"]["status"] == "partial" and m["run"]["allow_partial"] is False
    assert m["run"]["events"]["error"] >= 4


def test_bundle_layout(two_runs):
    a, _ = two_runs
    b = a.bundle_dir
    for rel in ("results/manifest.json", "results/facts.json", "results/cohort_flow.csv", "results/effects.csv",
                "report.html"):
        assert (b / rel).is_file(), rel
    eff = pd.read_csv(b / "results" / "effects.csv")
    assert list(eff.columns[:9]) == ["analysis", "outcome", "subgroup", "estimate", "std_error", "ci_lower",
                                     "ci_upper", "p_value", "scale"]
    assert {"matched_did", "practice_rollout"} <= set(eff["analysis"])
    m = json.loads((b / "results" / "manifest.json").read_text())
    assert set(m["inputs"]) >= {"population", "activity", "practices"}
    assert all(len(v["sha256"]) == 64 for v in m["inputs"].values())
    for t in m["tables"]:
        assert (b / t["path"]).is_file()
    names = {t["name"] for t in m["tables"]}
    for f in m["figures"]:
        # Count figures are drawn by the report from a published data table; the others are PNGs.
        assert (f["data"] in names if "data" in f else (b / f["path"]).is_file()) and f["alt"]


def test_results_tables_byte_identical(two_runs):
    a, b = two_runs
    names = sorted(p.name for p in (a.bundle_dir / "results").glob("*.csv"))
    assert names == sorted(p.name for p in (b.bundle_dir / "results").glob("*.csv"))
    for n in names + ["facts.json"]:
        assert (a.bundle_dir / "results" / n).read_bytes() == (b.bundle_dir / "results" / n).read_bytes(), n


def test_no_patient_level_rows_in_bundle(two_runs, small_project):
    a, _ = two_runs
    pop = pd.read_parquet(small_project / "example_data" / "southvale" / "population.parquet")
    ids = set(pop["person_id"].astype(str))
    for p in (a.bundle_dir / "results").glob("*.csv"):
        text = p.read_text()
        leaked = [i for i in list(ids)[:2000] if i in text]
        assert not leaked, f"{p.name} carries person ids {leaked[:3]}"


def test_cohort_flow_adds_up(two_runs):
    a, _ = two_runs
    flow = pd.read_csv(a.bundle_dir / "results" / "cohort_flow.csv")
    start = flow.loc[flow.step == "start", "n_remaining"].item()
    enrolled = flow.loc[flow.step == "analysed_enrolled", "n_remaining"].item()
    cands = flow.loc[flow.step == "analysed_candidates", "n_remaining"].item()
    pre_match = flow.loc[flow.step.isin(["analysed_enrolled"])
                         | ~flow.step.str.startswith(("analysed", "unmatched_", "excluded_before_matching_"))]
    assert start - pre_match["n_excluded"].sum() == enrolled + cands
    # Matching's losses continue the flow down to the matched number.
    lost = flow.loc[flow.step.str.startswith(("unmatched_", "excluded_before_matching_")), "n_excluded"].sum()
    assert enrolled - lost == flow.loc[flow.step == "analysed_matched", "n_remaining"].item()


def test_interrupted_run_leaves_previous_bundle(small_project, tmp_path, monkeypatch):
    spec = small_project / "analyses" / "southvale.yaml"
    from evaltool.safe_output import write_marker

    out = tmp_path / "out"
    (out / "southvale").mkdir(parents=True)
    write_marker(out / "southvale", "southvale")
    (out / "southvale" / "results").mkdir()
    (out / "southvale" / "results" / "marker.txt").write_text("previous")
    import evaltool.pipeline as pl

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl.BundleWriter, "finish", boom)
    with pytest.raises(KeyboardInterrupt):
        run(spec, output_dir=out, render=False)
    assert (out / "southvale" / "results" / "marker.txt").read_text() == "previous"
    assert [p.name for p in out.iterdir()] == ["southvale"]


def test_cli_validate_and_exit_codes(small_project, tmp_path):
    from typer.testing import CliRunner

    from evaltool.cli import app

    runner = CliRunner()
    spec = small_project / "analyses" / "southvale.yaml"
    r = runner.invoke(app, ["validate", str(spec)])
    assert r.exit_code == 0, r.output
    assert "Cohort flow" in r.output and "valid" in r.output
    bad = tmp_path / "bad.yaml"
    raw = yaml.safe_load(spec.read_text())
    raw["matching"]["caliper"] = -1
    bad.write_text(yaml.safe_dump(raw))
    r = runner.invoke(app, ["validate", str(bad)])
    assert r.exit_code == 2
    # Broken data: exit 1 with the problem named.
    data = tmp_path / "data"
    shutil.copytree(small_project / "example_data" / "southvale", data)
    act = pd.read_parquet(data / "activity.parquet")
    act.loc[act.index[:3], "setting"] = "walk_in"
    act.to_parquet(data / "activity.parquet")
    raw = yaml.safe_load(spec.read_text())
    raw["data"] = {**raw["data"], "activity": str(data / "activity.parquet")}
    for k in ("population", "practices", "proms", "prems"):
        if raw["data"].get(k):
            raw["data"][k] = str((spec.parent / raw["data"][k]).resolve())
    for k in ("codebook", "segments", "participants", "analyst_summaries"):
        if raw["qualitative"].get(k):
            raw["qualitative"][k] = str((spec.parent / raw["qualitative"][k]).resolve())
    raw["report"].pop("narrative", None)
    raw["report"].pop("logic_model", None)
    bad2 = tmp_path / "bad2.yaml"
    bad2.write_text(yaml.safe_dump(raw))
    r = runner.invoke(app, ["validate", str(bad2)])
    assert r.exit_code == 1, r.output
    assert "activity.parquet, column `setting`" in r.output and "rows 1, 2, 3 (3 rows in all)" in r.output


def test_cli_help_has_examples():
    from typer.testing import CliRunner

    from evaltool.cli import app

    runner = CliRunner()
    for cmd in ("run", "validate", "example-data", "init", "report"):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and "Example" in r.output, cmd


def test_callers_frames_unchanged_by_every_stage(small_project):
    """The did package's mutation-safety check, for our stages: inputs come back exactly as given."""
    from evaltool.cohort import build_cohort
    from evaltool.effects.config import RolloutConfig
    from evaltool.effects.matched_config import MatchedDidConfig
    from evaltool.effects.matched_stage import run_stage as effects_stage
    from evaltool.effects.rollout_stage import run_stage as rollout_stage
    from evaltool.inputs import validate_frames
    from evaltool.matching.config import MatchingConfig
    from evaltool.matching.stage import run_stage as matching_stage

    d = small_project / "example_data" / "southvale"
    pop, act, prac = (pd.read_parquet(d / f"{n}.parquet") for n in ("population", "activity", "practices"))
    before = [x.copy(deep=True) for x in (pop, act, prac)]
    w = dict(window_start=pd.Timestamp("2021-04-01"), window_end=pd.Timestamp("2025-03-31"))
    v = validate_frames(pop, act, prac, window=("2021-04-01", "2025-03-31"))
    c = build_cohort(v)
    cpop, cact = c.population.copy(deep=True), c.activity.copy(deep=True)
    m = matching_stage(c.population, c.activity, c.practices, MatchingConfig(), seed=1, **w)
    cohort = m.objects["matched_cohort"]
    cohort_before = cohort.copy(deep=True)
    effects_stage(cohort, c.population, c.activity, MatchedDidConfig(outcomes=("emergency_admission",),
                                                                     event_study=False), seed=1, **w)
    rollout_stage(v.population, v.activity, v.practices, RolloutConfig(bootstrap_reps=99, placebo=False,
                                                                      leave_one_out=False), seed=1, **w)
    for a, b in zip((pop, act, prac), before):
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(c.population, cpop)
    pd.testing.assert_frame_equal(c.activity, cact)
    pd.testing.assert_frame_equal(cohort, cohort_before)


def test_stages_in_helpers_give_the_same_bundle_as_in_turn(two_runs, small_project, tmp_path, monkeypatch):
    """PROMs and the roll-out computed in a helper beside matching, the matched outcomes fitted side by side
    (evaltool.stage_beside, figure_workers.shared_map): the same tables, facts and run-log messages as every
    stage computed in turn in this process."""
    from evaltool import figure_workers

    _, b = two_runs  # computed with the helpers
    assert figure_workers.running()
    figure_workers.shutdown()
    monkeypatch.setenv(figure_workers.ENV, "0")
    try:
        c = run(small_project / "analyses" / "southvale.yaml", output_dir=tmp_path, render=False)
    finally:
        monkeypatch.delenv(figure_workers.ENV)
        figure_workers.shutdown()
    assert not figure_workers.running()
    for n in sorted(p.name for p in (b.bundle_dir / "results").glob("*.csv")) + ["facts.json"]:
        assert (b.bundle_dir / "results" / n).read_bytes() == (c.bundle_dir / "results" / n).read_bytes(), n

    def said(res):
        return [(e["stage"], e["severity"], e["code"], e["message"])
                for e in map(json.loads, (res.bundle_dir / "results" / "run_log.jsonl").read_text().splitlines())
                if e.get("code") not in ("stage_finished", "stage_started")]

    assert said(b) == said(c)
    assert {k: v["status"] for k, v in b.stages.items()} == {k: v["status"] for k, v in c.stages.items()}
