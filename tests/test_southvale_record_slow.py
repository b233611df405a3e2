"""Issue 10 "Done when" on the shipped Southvale plan (slow: the full data, ~1-6 minutes).

The plan asks for event studies and age-band subgroup effects on six outcomes, care-home admissions among them
(rare: a handful of events a month). The run must estimate every planned analysis, print and record the warnings
it raises (the care-home event study has empty months, one covariate stays imbalanced), write the record in
results/run_log.jsonl and manifest.json, and exit 0. (The partial-results path, exit 3 and --allow-partial, is
tested on small projects in tests/test_bad_inputs_run.py and tests/test_pipeline.py.)
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from _tiny_project import invoke

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_southvale_plan_runs_complete_and_records_its_warnings(tmp_path):
    out = invoke(["run", "analyses/southvale.yaml", "--no-report", "-o", str(tmp_path)], ROOT)
    assert out.code == 0, out.output[-3000:]
    assert out.says("care_home_admission: event study by quarter: no care-home admissions")
    assert out.says("still imbalanced after matching")
    b = tmp_path / "southvale" / "results"
    log = [json.loads(x) for x in (b / "run_log.jsonl").read_text().splitlines()]
    assert any(e["code"] == "estimation_warning" and e.get("outcome") == "care_home_admission" for e in log)
    assert any(e["code"] == "covariates_imbalanced" for e in log)
    m = json.loads((b / "manifest.json").read_text())
    assert [a for a in m["run"]["analyses"] if a["status"] != "ok"] == []
    assert m["run"]["status"] == "complete" and m["stages"]["effects"]["status"] == "ok"
    assert m["run"]["event_codes"]["estimation_warning"] >= 1
    eff = pd.read_csv(b / "effects.csv")
    for sub in ("all", "under 65", "65+"):
        rows = eff[(eff.analysis == "matched_did") & (eff.subgroup == sub) & (eff.scale == "rate_ratio")]
        assert set(rows["outcome"]) == {"emergency_admission", "ae_attendance", "bed_days", "elective_admission",
                                        "care_home_admission", "cost"}, sub
    # The joint display finds its numbers (its keys silently never matched before).
    assert not any(e["code"] == "joint_display_warning" for e in log)
