"""The run record contract (evaltool.runlog, StageOutput.event/analysis): what the report and the CLI rely on."""
from __future__ import annotations

import json

import pytest

from evaltool.runlog import AnalysisStatus, Event, RunRecord, excerpt, one_line, read_jsonl
from evaltool.stage import StageOutput


def test_event_validates_and_serialises():
    ev = Event("effects", "error", "estimate_failed", "care_home_admission: not estimated",
               counts={"rows": 3}, outcome="care_home_admission", rows=(2, 5))
    d = ev.to_dict()
    assert d == {"stage": "effects", "severity": "error", "code": "estimate_failed",
                 "message": "care_home_admission: not estimated", "outcome": "care_home_admission",
                 "counts": {"rows": 3}, "rows": [2, 5]}
    assert Event.from_dict(d) == ev
    with pytest.raises(ValueError, match="severity"):
        Event("effects", "fatal", "x", "m")
    with pytest.raises(ValueError, match="snake_case"):
        Event("effects", "info", "Not A Code", "m")


def test_record_plan_status_and_summary(tmp_path):
    seen: list[Event] = []
    rec = RunRecord(listeners=[seen.append])
    rec.plan("effects", "matched_did", "emergency_admission")
    rec.plan("effects", "event_study", "care_home_admission")
    rec.plan("rollout", "imputation_poisson", "emergency_admission")
    rec.warning("inputs", "activity_after_death", "12 rows excluded", counts={"rows": 12})
    rec.set_status("effects", "matched_did", "emergency_admission", "ok")
    rec.set_status("effects", "event_study", "care_home_admission", "failed", "no events in month -9")
    assert len(seen) == 1 and seen[0].code == "activity_after_death"
    # A planned analysis nobody reported on is a failure, not a silence.
    assert [(a.analysis, a.status, a.reason) for a in rec.failed_analyses()] == [
        ("event_study", "failed", "no events in month -9"), ("imputation_poisson", "failed", "no result was produced")]
    rec.fail_unfinished("rollout", "the rollout stage failed: boom")
    assert rec.failed_analyses()[1].reason == "the rollout stage failed: boom"
    assert rec.stage_status("effects") == "partial" and rec.stage_status("rollout") == "failed"
    assert rec.stage_status("matching") == "ok" and not rec.complete
    s = rec.summary()
    assert s["events"] == {"info": 0, "warning": 1, "error": 0}
    assert s["event_codes"] == {"activity_after_death": 1}
    assert len(s["analyses"]) == 3 and s["log"] == "results/run_log.jsonl"
    path = rec.write_jsonl(tmp_path / "run_log.jsonl")
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["seq"] == 1
    assert read_jsonl(path) == rec.events


def test_exception_keeps_traceback_for_the_log_only():
    rec = RunRecord()
    try:
        raise ZeroDivisionError("division by zero\nsecond line")
    except ZeroDivisionError as err:
        ev = rec.exception("proms", err)
    assert ev.message == "ZeroDivisionError: division by zero"
    assert "Traceback" in ev.traceback and "Traceback" not in ev.line()
    assert "traceback" in json.loads(rec.to_jsonl())


def test_stage_output_records_events_and_statuses():
    out = StageOutput(section="effects")
    out.event("subgroup_not_available", "subgroup `site` is not a column", subgroup="site")
    out.analysis("matched_did", "emergency_admission", "failed", "first try")
    out.analysis("matched_did", "emergency_admission", "ok")  # a later status replaces the earlier one
    assert out.messages() == ["subgroup `site` is not a column"]
    assert out.events[0].stage == "effects" and out.events[0].severity == "warning"
    assert out.analyses == [AnalysisStatus("effects", "matched_did", "emergency_admission", "all", "ok", "")]
    assert not hasattr(out, "warnings")  # the old free-text list is gone: nothing can be appended and lost


def test_excerpt_and_one_line_are_short():
    assert len(excerpt("x" * 10_000_000)) <= 62
    assert excerpt("a\nb") == "'a\\nb'"
    assert one_line("first\nsecond") == "first"
    assert len(one_line("y" * 1000)) == 300
