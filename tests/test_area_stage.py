"""Whole-area stage, panel contract, design support and report wording."""
from __future__ import annotations

import re

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
    assert set(eff.index) == {"sdid", "ascm", "synthetic_control", "did", "synthetic_control_adh", "its"}
    assert eff.loc["ascm", "rr_lower"] < 0.85 < eff.loc["ascm", "rr_upper"]
    assert "in-space placebos (10 donor areas), t with 9 df; ridge lambda" in eff.loc["ascm", "inference"]
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


def test_log_scale_effects_rate_ratio_difference_and_sc_steered_away():
    p = _panel()
    cfg = AreaConfig(treated_area="T", build_from_person_data=False, min_pre_months=12, methods=("sdid", "synthetic_control"),
                     placebo_replications=50)
    with pytest.warns(Warning, match="no weighted average"):
        out = run_stage(None, None, None, p, cfg, window_start="2020-01-01", window_end="2022-12-31", seed=1)
    f = out.facts
    assert f["effect_scale"] == "log" and f["outside_donor_range"] and f["pre_months_above_all_donors"] >= 20
    e = out.tables["area_effects"].set_index("method").loc["sdid"]
    assert e["rate_ratio"] == pytest.approx(np.exp(e["log_rate_ratio"]))
    obs = f["observed_post_rate_per_1000py"]
    assert e["estimate"] == pytest.approx(obs * (1 - 1 / e["rate_ratio"]))
    assert e["ci_lower"] == pytest.approx(obs * (1 - 1 / e["rr_lower"]))
    # placebo interval: t with (10 comparison areas - 1) df on the log scale
    from scipy import stats
    half = np.log(e["rr_upper"]) - e["log_rate_ratio"]
    assert half == pytest.approx(stats.t.ppf(0.975, 9) * e["log_std_error"])
    assert "t with 9 df" in e["inference"] and f["placebo_df"] == 9
    words = " ".join(area_sentences(f))
    assert "synthetic control is biased here" in words and "logarithm of each area's monthly rate" in words
    assert "(biased here: see above)" in words


def test_ascm_is_the_automatic_headline_at_the_edge_without_sdid():
    # the simulated treated area lies above every comparison area (edge=True): SC is biased, ASCM is not
    p = _panel(seed=5)
    cfg = AreaConfig(treated_area="T", build_from_person_data=False, min_pre_months=12,
                     methods=("ascm", "synthetic_control"))
    with pytest.warns(Warning, match="augmented synthetic control corrects for this"):
        out = run_stage(None, None, None, p, cfg, window_start="2020-01-01", window_end="2022-12-31", seed=1)
    f = out.facts
    assert f["headline_method"] == "ascm" and "outside the comparison areas' range" in f["headline_reason"]
    eff = out.tables["area_effects"].set_index("method")
    assert eff.loc["ascm", "rr_lower"] < 0.85 < eff.loc["ascm", "rr_upper"]
    assert f["ascm_fixed_effects"] is True and f["ascm_lambda"] > 0
    assert "Augmented synthetic control" in set(out.tables["area_weights"]["method"])
    assert "expected_rate_ascm" in out.tables["area_series"]
    words = " ".join(area_sentences(f))
    assert "augmented synthetic control and synthetic difference-in-differences allow" in words
    assert "Ben-Michael, Feller and Rothstein 2021" in words and "synthetic control 0." in words.lower()
    # a planned headline is kept; with synthetic control alone at the edge the fallback still names it
    cfg2 = AreaConfig(treated_area="T", build_from_person_data=False, min_pre_months=12,
                      methods=("ascm", "synthetic_control"), headline="synthetic_control")
    with pytest.warns(Warning):
        out2 = run_stage(None, None, None, p, cfg2, window_start="2020-01-01", window_end="2022-12-31", seed=1)
    assert out2.facts["headline_method"] == "synthetic_control"


def test_rate_scale_option_and_zero_counts_fall_back():
    p = _panel()
    cfg = AreaConfig(treated_area="T", build_from_person_data=False, min_pre_months=12, methods=("did",),
                     scale="rate", placebo_interval="normal")
    out = run_stage(None, None, None, p, cfg, window_start="2020-01-01", window_end="2022-12-31", seed=1)
    e = out.tables["area_effects"].set_index("method").loc["did"]
    assert out.facts["effect_scale"] == "rate" and np.isnan(e["log_rate_ratio"])
    assert e["ci_upper"] - e["estimate"] == pytest.approx(1.959964 * e["std_error"], rel=1e-5)
    z = p.copy()
    z.loc[(z["area_id"] == "D01") & (z.index % 7 == 0), "events"] = 0
    cfg2 = AreaConfig(treated_area="T", build_from_person_data=False, min_pre_months=12, methods=("did",))
    with pytest.warns(Warning, match="have no events"):
        out2 = run_stage(None, None, None, z, cfg2, window_start="2020-01-01", window_end="2022-12-31", seed=1)
    assert out2.facts["effect_scale"] == "rate"
    assert any("have no events" in m for m in out2.messages())


def test_southvale_area_spec_from_the_cli_in_another_folder(tmp_path):
    """The shipped whole-area example as a user runs it: another working directory, a relative output
    folder; the area section with its headline design and the counterfactual figure reach the report."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "evaltool", "run", str(root / "analyses" / "southvale_area.yaml"),
                           "-o", "out_area", "-f", "html"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    bundle = tmp_path / "out_area" / "southvale_area"
    manifest = json.loads((bundle / "results" / "manifest.json").read_text())
    assert manifest["stages"]["area"]["status"] == "ok"
    truth = json.loads((root / "example_data" / "southvale" / "truth_area.json").read_text())
    eff = pd.read_csv(bundle / "results" / "area_effects.csv").set_index("method")
    head = eff[eff["headline"]]
    assert list(head.index) == ["sdid"]  # 30 comparison areas: synthetic DiD is the automatic headline
    # Every design's interval contains the true whole-area rate ratio (~0.997: too small to detect).
    for m in ("sdid", "ascm", "did", "synthetic_control"):
        assert eff.loc[m, "rr_lower"] < truth["true_whole_area_rate_ratio"] < eff.loc[m, "rr_upper"], m
    html = (bundle / "report.html").read_text(encoding="utf-8")
    assert "synthetic difference-in-differences" in html.lower()
    assert "Traceback" not in proc.stderr
    # The evidence is scored as a whole-area design, in the area's own terms (not the matched design's).
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "Level 3 of 5: the whole area was compared before and after go-live with comparison areas" in text
    assert "24 months before go-live" in text and "30 comparison areas" in text  # months and areas not rounded
    assert "cannot be scored" not in text and "No estimate of the programme" not in text
    assert "months after enrolment" not in text and "each enrolled person was compared" not in text
    assert "hospital use was followed for 24 months after go-live" in text
