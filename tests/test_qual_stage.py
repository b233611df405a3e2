"""The qualitative stage: tables, figures, facts; same results from every import format; no names leak."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from evaltool.errors import DataValidationError, DataWarning
from evaltool.qual import QualConfig
from evaltool.qual.stage import run_stage

EX = Path(__file__).resolve().parents[1] / "example_data" / "southvale" / "qual"
JOINT = [
    {"finding": "Emergency admissions fell in under-65s (rate ratio {value}); no change 65+",
     "quant_key": "rr_emergency_under65", "themes": ["prevention", "learning_together"], "fit": "confirms"},
    {"finding": "No change in A&E attendances", "themes": ["barrier_workforce"], "fit": "expands"},
    {"finding": "Costs rose in year one", "themes": ["incentives"], "fit": "discordant"},
]


def _run(segments: str, fmt: str = "auto", **kw):
    cfg = QualConfig(participants=EX / "participants.csv", analyst_summaries=EX / "analyst_summaries.csv",
                     joint_display=JOINT, format=fmt, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return run_stage(EX / "codebook.yaml", EX / segments, cfg, seed=11,
                         effects_facts={"rr_emergency_under65": 0.81})


@pytest.fixture(scope="module")
def out():
    return _run("southvale.qdpx")


def test_tables_figures_and_meta(out):
    assert out.section == "qual"
    for t in ("qual_theme_frequencies", "qual_theme_by_role", "qual_code_frequencies", "qual_cooccurrence", "qual_agreement", "qual_quotes",
              "qual_framework", "qual_exclusions", "joint_display"):
        assert t in out.tables and t in out.table_meta
    assert {"qual_cooccurrence_heatmap", "qual_theme_salience"} <= set(out.figures)
    m = out.table_meta["qual_theme_by_role"]
    assert set(m.count_columns) <= set(out.tables["qual_theme_by_role"].columns)
    # Participant, interview and segment counts are declared: the report publishes them under the
    # qualitative rule (1-7 as "fewer than 8"), and the figures are drawn from the published tables.
    assert {"n_participants", "participants_in_group", "n_segments"} <= set(m.count_columns)
    assert ("pct_participants", "n_participants") in m.derived_columns
    assert out.figures["qual_theme_salience"].table == "qual_theme_frequencies"
    assert out.table_meta["joint_display"].section == "joint_display"
    assert list(out.tables["qual_quotes"].columns[:4]) == ["theme", "theme_label", "quote", "attribution"]
    jd = out.tables["joint_display"]
    assert jd["fit"].tolist() == ["confirms", "expands", "discordant"]
    assert jd.loc[0, "finding"].startswith("Emergency admissions fell in under-65s (rate ratio 0.81)")
    assert all(len(v.alt) > 20 for v in out.figures.values())
    tf = out.tables["qual_theme_frequencies"].set_index("theme")
    by_role = out.tables["qual_theme_by_role"].groupby("theme")["n_segments"].sum()
    assert (tf["n_segments"] == by_role.reindex(tf.index)).all()
    assert tf["participants_in_group"].eq(30).all()


def test_facts_match_truth(out):
    truth = json.loads((EX / "truth.json").read_text())
    f = out.facts
    assert f["n_documents"] == truth["n_documents"] == 30
    assert f["n_participants"] == 30 and f["n_roles"] == 7 and f["n_sites"] == 5
    assert f["n_segments"] == sum(truth["n_segments"].values())
    assert f["n_double_coded_documents"] == truth["n_double_coded"]
    assert set(f["codes_below_kappa_threshold"]) <= set(truth["hard_codes"])
    assert 0.6 < f["kappa_pooled"] < 1
    json.dumps(f)


def test_no_participant_name_anywhere_in_tables_or_facts(out):
    names = pd.read_csv(EX / "participants.csv")["name"].tolist()
    words = {w for n in names for w in [n] + n.split()}
    blob = "\n".join([t.to_csv(index=False) for t in out.tables.values()] + [json.dumps(out.facts)])
    leaked = sorted(w for w in words if w in blob)
    assert leaked == []
    # ...while the coded text itself does mention participants by name (so redaction did work).
    seg = pd.read_csv(EX / "segments.csv")
    assert seg["text"].str.contains("|".join(n.split()[0] for n in names)).sum() > 20


def test_same_results_from_qdpx_qualcoder_and_taguette(out):
    qc = _run("qualcoder_export.csv", "qualcoder")
    tg = _run("taguette_highlights.csv", "taguette", taguette_coder="coder_a")
    ref = out.tables["qual_theme_by_role"]
    for other in (qc, tg):
        pd.testing.assert_frame_equal(other.tables["qual_theme_by_role"], ref)
        pd.testing.assert_frame_equal(other.tables["qual_code_frequencies"], out.tables["qual_code_frequencies"])
    # Formats without offsets fall back to document-level agreement (QualCoder has both coders).
    assert qc.tables["qual_agreement"]["kappa_char"].isna().all()
    assert qc.tables["qual_agreement"]["kappa_document"].notna().any()
    assert tg.facts["n_double_coded_documents"] == 0


def test_leak_guard_refuses_output_containing_a_listed_term(tmp_path):
    # A redaction term that is also part of a theme label cannot be masked in the label: refuse.
    red = tmp_path / "red.txt"
    red.write_text("Culture\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="still contain 1 listed name"):
        _run("southvale.qdpx", redaction_list=red)


def test_config_is_strict():
    with pytest.raises(ValidationError):
        QualConfig(quotes_per_thme=2)
    with pytest.raises(ValidationError):
        QualConfig(joint_display=[{"finding": "x", "themes": ["a"], "fit": "agrees"}])
    assert QualConfig().kappa_threshold == 0.6 and QualConfig().min_group_size == 3


def test_pipeline_style_call_with_overrides_and_nested_facts():
    # The pipeline passes the spec's data-section paths and joint display as keyword overrides and
    # all stages' facts nested by section; a .qdpx is read as REFI-QDA even when the format says csv.
    cfg = QualConfig(participants=EX / "participants.csv")
    jd = [{"finding": "Bed days: {value}", "quant_key": "effects.bed_days_rr", "themes": ["prevention"],
           "fit": "expands"},
          {"finding": "Care-home admissions unchanged", "quant_key": None, "themes": (), "fit": "silent"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        res = run_stage(None, EX / "southvale.qdpx", cfg, seed=2, segments_format="csv",
                        analyst_summaries=EX / "analyst_summaries.csv", joint_display=jd,
                        effects_facts={"effects": {"bed_days_rr": 0.9}, "cohort": {"n": 5}})
    t = res.tables["joint_display"]
    assert t["finding"].tolist() == ["Bed days: 0.9", "Care-home admissions unchanged"]
    assert t["fit"].tolist() == ["expands", "silent"]
    assert res.facts["source_format"] == "qdpx"
    assert (res.tables["qual_framework"]["analyst_summary"] != "").sum() == 3


def test_summarised_in_a_helper_then_completed_equals_the_stage_in_one_go(tmp_path):
    # The pipeline summarises the interviews while matching runs (in a helper: through a pickle) and adds the
    # joint display when the stage is collected, with the finished stages' facts. Same tables (in the same
    # order), facts and events (in the same order, the joint display's warning among them) as in one go.
    import pickle

    import cloudpickle  # as a helper sends it back (figures hold closures)

    from evaltool.qual.stage import add_joint_display, summarise

    jd = JOINT + [{"finding": "Bed days {value}", "quant_key": "effects.missing_key", "themes": ["prevention"],
                   "fit": "expands"}]
    cfg = QualConfig(participants=EX / "participants.csv", analyst_summaries=EX / "analyst_summaries.csv",
                     joint_display=jd)
    facts = {"effects": {"rr_emergency_under65": 0.81}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        whole = run_stage(EX / "codebook.yaml", EX / "southvale.qdpx", cfg, seed=11, effects_facts=facts)
        part = pickle.loads(cloudpickle.dumps(summarise(EX / "codebook.yaml", EX / "southvale.qdpx", cfg, seed=11)))
    assert part.tables["joint_display"].empty and "_joint" in part.objects
    done = add_joint_display(part, facts)
    assert list(done.tables) == list(whole.tables)
    for name, table in whole.tables.items():
        pd.testing.assert_frame_equal(done.tables[name], table)
    assert json.dumps(done.facts, default=str) == json.dumps(whole.facts, default=str)
    assert [(e.code, e.message) for e in done.events] == [(e.code, e.message) for e in whole.events]
    assert "joint_display_warning" in [e.code for e in whole.events]
    assert "_joint" not in done.objects and done.objects["joint_display"] is not None
    assert done.tables["joint_display"]["finding"].iloc[0].endswith("(rate ratio 0.81); no change 65+")
