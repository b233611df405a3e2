"""Whole-area stage, panel contract, design support and report wording."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaltool.area.config import AreaConfig
from evaltool.area.design import design_support
from evaltool.area.panel import validate_area_panel
from evaltool.area.stage import run_stage
from evaltool.datasets.area_sim import simulate_area_panel
from evaltool.errors import DataValidationError
from evaltool.report.area_text import area_sentences, design_choice_sentences, headline_sentence


def _panel(seed: int = 3, n_donors: int = 10) -> pd.DataFrame:
    s = simulate_area_panel(n_donors=n_donors, n_months=36, go_live_month=24, rate_ratio=0.85, seed=seed)
    p = s.panel.copy()
    p["month"] = p["month"].dt.strftime("%Y-%m-%d")
    p["go_live_date"] = p["go_live_date"].dt.strftime("%Y-%m-%d").fillna("")
    p["deprivation"] = p["area_id"].map(lambda a: 1.0 if a == "T" else 0.5).astype(float)
    return p


def test_panel_contract_messages():
    p = _panel()
    with pytest.raises(DataValidationError, match="population or person_years"):
        validate_area_panel(p.drop(columns="person_years"))
    bad = p.copy()
    bad.loc[3, "events"] = -1
    with pytest.raises(DataValidationError, match=r"column `events`: expected a count >= 0 in row 4"):
        validate_area_panel(bad, file="areas.csv")
    gap = p.drop(index=5)
    with pytest.raises(DataValidationError, match="balanced panel"):
        validate_area_panel(gap)
    dup = pd.concat([p, p.iloc[[0]]])
    with pytest.raises(DataValidationError, match="repeated"):
        validate_area_panel(dup)
    before = p.copy()
    v = validate_area_panel(p)
    pd.testing.assert_frame_equal(p, before)
    assert v["go_live_date"].notna().sum() == 36


def test_stage_from_panel_runs_every_design_and_recovers_effect():
    p = _panel()
    cfg = AreaConfig(treated_area="T", build_from_person_data=False, min_pre_months=12, predictors=("deprivation",),
                     placebo_replications=50)
    out = run_stage(None, None, None, p, cfg, window_start="2020-01-01", window_end="2022-12-31", seed=1)
    eff = out.tables["area_effects"].set_index("method")
    assert set(eff.index) == {"sdid", "synthetic_control", "did", "synthetic_control_adh", "its"}
    assert out.facts["headline_method"] == "sdid"
    assert eff.loc["sdid", "rr_lower"] < 0.85 < eff.loc["sdid", "rr_upper"]
    assert eff.loc["sdid", "rate_ratio"] < 1
    for t in ("area_series", "area_panel_summary", "area_weights", "area_design_support", "effects_area"):
        assert t in out.tables
    assert out.table_meta["area_series"].count_columns == ("events",)
    assert {"area_counterfactual", "area_its", "area_placebo"} <= set(out.figures)
    assert "Interrupted time series (the area against its own past)" in set(out.tables["area_design_support"].design)
    sents = area_sentences(out.facts)
    assert sents[0].startswith("Across T as a whole")


def test_too_few_donors_falls_back_to_its_and_says_why():
    p = _panel(n_donors=3)
    cfg = AreaConfig(treated_area="T", build_from_person_data=False, min_pre_months=12, min_donors=5)
    with pytest.warns(Warning, match="not run"):
        out = run_stage(None, None, None, p, cfg, window_start="2020-01-01", window_end="2022-12-31", seed=1)
    assert out.facts["headline_method"] == "its"
    assert "too few comparison areas" in out.facts["headline_reason"]
    assert any("not run" in w for w in out.messages())


def test_design_support_plain_reasons():
    pop = pd.DataFrame({"treated": [1] * 5})
    prac = pd.DataFrame({"practice_id": ["a", "b"], "go_live_date": pd.to_datetime(["2023-01-01"] * 2)})
    t = design_support(population=pop, practices=prac, window=("2021-04-01", "2025-03-31"), go_live="2022-01-01",
                       min_pre_months=24).set_index("design")
    assert not t.loc["matched_cohort", "supported"] and "nobody to match" in t.loc["matched_cohort", "reason"]
    assert not t.loc["practice_rollout", "supported"]
    assert not t.loc["interrupted_time_series", "supported"] and "9 months" in t.loc["interrupted_time_series",
                                                                                     "reason"]
    assert not t.loc["synthetic_comparison_areas", "supported"]


@pytest.mark.parametrize("rr,ci,word", [(0.9, [0.85, 0.95], "10% lower"), (1.1, [1.02, 1.2], "10% higher"),
                                        (1.0, [0.9, 1.1], "no clear difference")])
def test_headline_wording_branches(rr, ci, word):
    s = headline_sentence({"treated_area": "Southvale", "outcome": "emergency_admission", "rate_ratio": rr,
                           "rate_ratio_ci": ci, "estimate_per_1000py": 5.0, "ci_per_1000py": [-1.0, 11.0]})
    assert s.startswith("Across Southvale as a whole") and word in s and "expected without the programme" in s
    assert "_" not in s


def test_headline_wording_missing_and_design_choice():
    assert headline_sentence({"treated_area": "X"}) == "No whole-area estimate could be made for X."
    s = design_choice_sentences({"design_support": {"matched_cohort": False, "synthetic_comparison_areas": True},
                                 "headline_method": "sdid", "headline_reason": "there are enough areas"})
    assert "do not support matching" in s[0] and "synthetic difference-in-differences" in s[1]
    assert area_sentences({}) == []
