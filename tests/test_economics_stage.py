"""The economics stage on simulated matched cohorts, the spec section, and recovery of a known truth."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evaltool.economics.config import EconomicsConfig
from evaltool.economics.evaluation import economic_evaluation
from evaltool.economics.simulate import simulate_economics
from evaltool.economics.stage import run_stage
from evaltool.errors import EstimationError, SpecError
from evaltool.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]


class _Panel:
    def __init__(self, sim, outcomes=("emergency_admission", "ae_attendance", "cost")):
        self.persons = sim.persons.assign(age_band=np.where(sim.persons["unit_id"] % 3 == 0, "65+", "under 65"))
        self.events, self.outcomes, self.pre_months, self.post_months = sim.events, outcomes, 12, 12


def _pop(sim):
    p = sim.persons[["person_id", "treated"]].copy()
    p["index_date"] = \
        pd.Series(pd.Timestamp("2024-04-01"), index=p.index).where(p["treated"] == 1)
    p["age"] = 70
    return p


def _cfg(**kw):
    base = {"price_year": 2024, "bootstrap_replicates": 300,
            "programme_costs": {"start": "2024-04-01", "end": "2025-03-31", "staff": [
                {"role": "Nurse", "wte": 4, "cost_per_wte_year": 55000, "source": "ledger", "price_year": 2024}]},
            "activity_costs": {"source": "unit_costs", "unit_costs": {
                "emergency_admission": {"cost": 2300, "source": "NCC", "price_year": 2024},
                "ae_attendance": {"cost": 250, "source": "NCC", "price_year": 2024, "low": 150}}},
            "budget_impact": {"eligible_count": 1000, "years": 3}}
    base.update(kw)
    return EconomicsConfig(**base)


@pytest.fixture(scope="module")
def sim():
    return simulate_economics(n_sets=300, seed=8)


@pytest.fixture(scope="module")
def out(sim):
    return run_stage(_pop(sim), None, _Panel(sim), _cfg(), seed=5, window_end="2025-03-31",
                     subgroups=["age_band"], proms=sim.scores, proms_timepoints=["baseline", "6m", "12m"])


def test_tables_figures_and_metadata(out):
    names = {"economics_programme_costs", "economics_costs_by_year", "economics_cost_consequence",
             "economics_break_even", "economics_cost_effectiveness", "economics_qalys", "economics_budget_impact",
             "economics_budget_impact_totals", "economics_sensitivity", "economics_ceac", "economics_bootstrap",
             "economics_cheers"}
    assert names <= set(out.tables)
    assert all(n in out.table_meta for n in out.tables)
    assert out.table_meta["economics_cost_consequence"].count_columns == ("n_enrolled",)
    assert out.table_meta["economics_qalys"].count_columns == ("n_respondents",)
    assert {"economics_ce_plane", "economics_ceac", "economics_tornado"} <= set(out.figures)
    assert all(f.alt for f in out.figures.values())
    assert out.events == []
    assert {(a.analysis, a.subgroup): a.status for a in out.analyses} == {
        ("cost_consequence", "all"): "ok", ("cost_consequence", "age_band"): "ok", ("break_even", "all"): "ok",
        ("cost_utility", "all"): "ok", ("budget_impact", "all"): "ok", ("sensitivity", "all"): "ok"}


def test_programme_cost_per_enrolled_year(out, sim):
    n_t = int(sim.persons["treated"].sum())
    f = out.facts
    assert f["programme_cost_total"] == pytest.approx(4 * 55000 * 365 / 365.25)
    assert f["enrolled_years"] == pytest.approx(n_t * 365 / 365.25)
    assert f["programme_cost_per_year"] == pytest.approx(f["programme_cost_total"] / f["enrolled_years"])


def test_cost_consequence_rows_are_consistent(out):
    cc = out.tables["economics_cost_consequence"]
    e = cc[cc.group == "everyone"].set_index("code")
    assert e.loc["net_cost", "per_person_year"] == pytest.approx(
        e.loc["programme_cost", "per_person_year"] + e.loc["activity_cost", "per_person_year"])
    assert e.loc["activity_cost", "per_person_year"] == pytest.approx(
        e.loc["emergency_admission_cost", "per_person_year"] + e.loc["ae_attendance_cost", "per_person_year"])
    assert e.loc["net_cost", "whole_cohort"] == pytest.approx(e.loc["net_cost", "per_person_year"] *
                                                              out.facts["enrolled_years"])
    assert set(cc.group) == {"everyone", "65+", "under 65"}
    assert not out.tables["economics_programme_costs"]["source"].dropna().eq("").any()


def test_facts_and_cheers(out):
    f = out.facts
    assert f["qaly_design"] == "matched" and f["quadrant"] in ("NE", "SE", "NW", "SW")
    assert 0 <= f["probability_pays_for_itself"] <= 1
    assert {"nmb_20000", "probability_cost_effective_30000", "under_65.net_cost", "bi_net_cost_fades"} <= set(f)
    ch = out.tables["economics_cheers"]
    assert len(ch) == 28 and "matched" in ch.set_index("item").loc[17, "in_this_report"]


def test_same_seed_same_tables(sim, out):
    again = run_stage(_pop(sim), None, _Panel(sim), _cfg(), seed=5, window_end="2025-03-31", subgroups=["age_band"],
                      proms=sim.scores, proms_timepoints=["baseline", "6m", "12m"])
    for k in out.tables:
        pd.testing.assert_frame_equal(out.tables[k], again.tables[k])


def test_data_costs_and_before_after_when_controls_did_not_answer(sim):
    scores = sim.scores[sim.scores.person_id.isin(sim.persons.loc[sim.persons.treated == 1, "person_id"])]
    cfg = _cfg(activity_costs={"source": "data", "price_year": 2023},
               inflation={"source": "test index", "values": {2023: 100.0, 2024: 110.0}})
    o = run_stage(_pop(sim), None, _Panel(sim), cfg, seed=1, window_end="2025-03-31", proms=scores)
    assert o.facts["qaly_design"] == "before_after"
    assert [e.code for e in o.events] == ["qaly_design_before_after"]
    assert "before/after" in o.events[0].message and o.events[0].severity == "warning"
    # No cost per admission (unit costs absent, no activity given): break-even is a failed planned analysis.
    assert {a.analysis: a.status for a in o.analyses}["break_even"] == "failed"
    # Costs in the data are inflated from 2023/24 to 2024/25 prices.
    plain = economic_evaluation(sim.stats, programme_cost=1.0, cost_outcome="cost", replicates=10, seed=1)
    assert o.facts["activity_cost_change"] == pytest.approx(1.1 * plain.estimate("all|activity_cost|delta"))


def test_clear_errors(sim):
    with pytest.raises(EstimationError, match="did not analyse.*add them to `effects.outcomes`"):
        run_stage(_pop(sim), None, _Panel(sim, outcomes=("emergency_admission", "cost")), _cfg(), seed=1,
                  window_end="2025-03-31")
    with pytest.raises(EstimationError, match="needs `cost` among `effects.outcomes`"):
        run_stage(_pop(sim), None, _Panel(sim, outcomes=("emergency_admission", "ae_attendance")),
                  _cfg(activity_costs={"source": "data", "price_year": 2024}), seed=1, window_end="2025-03-31")


def test_point_estimates_recover_the_truth_without_bias():
    # 60 simulated cohorts: mean estimate minus truth within 3 Monte Carlo SEs (the slow benchmark has 1,000).
    errs = {"net": [], "qaly": [], "nmb": []}
    for rep in range(60):
        s = simulate_economics(n_sets=300, seed=50_000 + rep)
        r = economic_evaluation(s.stats, programme_cost=s.programme_cost, unit_costs=s.unit_costs,
                                qaly_design="matched", replicates=2, seed=1)
        errs["net"].append(r.estimate("all|net_cost") - s.truth["net_cost"])
        errs["qaly"].append(r.estimate("all|qaly|incremental") - s.truth["incremental_qalys"])
        errs["nmb"].append(r.estimate("all|nmb|20000") - s.truth["nmb_20000"])
    for k, e in errs.items():
        e = np.asarray(e)
        assert abs(e.mean()) < 3 * e.std(ddof=1) / np.sqrt(len(e)), k


@pytest.mark.slow
def test_bootstrap_intervals_cover_the_truth():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cov", ROOT / "benchmarks" / "economics" / "coverage.py")
    cov = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cov)
    rows = [r for rep in range(200) for r in cov.replicate(rep, 400, 1000)]
    s = cov.summarise(pd.DataFrame(rows)).set_index(["mode", "statistic"])
    for key in [("unit_costs", "all|net_cost"), ("unit_costs", "all|nmb|20000"), ("data", "all|net_cost")]:
        assert 0.91 <= s.loc[key, "coverage_bca"] <= 0.99, key


# ---------------------------------------------------------------- the spec section
def _southvale_raw():
    return yaml.safe_load((ROOT / "analyses" / "southvale.yaml").read_text())


def test_southvale_spec_has_a_documented_economics_section():
    spec = load_spec(ROOT / "analyses" / "southvale.yaml")
    e = spec.economics
    assert e.price_year == 2024 and e.inflation is not None
    assert all("fictional" in s.source for s in e.programme_costs.staff)
    assert {s.role for s in e.programme_costs.staff} >= {"Community matron (band 8a)", "Social worker"}


def test_spec_errors_name_the_key(tmp_path):
    raw = _southvale_raw()
    bad = copy.deepcopy(raw)
    bad["economics"]["programme_costs"]["staff"][0]["price_year"] = 2019
    with pytest.raises(SpecError, match=r"economics: .*no value for price year\(s\) \[2019\]"):
        parse_spec(bad, base_dir=ROOT / "analyses")
    bad = copy.deepcopy(raw)
    bad["economics"]["programme_costs"]["staff"][0]["wte_"] = 1
    with pytest.raises(SpecError, match="economics.programme_costs.staff.0.wte_: unknown key"):
        parse_spec(bad, base_dir=ROOT / "analyses")
    bad = copy.deepcopy(raw)
    bad["economics"]["unit_cost_table"] = "nowhere.csv"
    with pytest.raises(SpecError, match="economics.unit_cost_table: file not found"):
        parse_spec(bad, base_dir=ROOT / "analyses")
    bad = copy.deepcopy(raw)
    del bad["effects"]
    with pytest.raises(SpecError, match="economics: needs the `effects` section"):
        parse_spec(bad, base_dir=ROOT / "analyses")


def test_unit_cost_table_path_resolves_against_the_spec_file(tmp_path, monkeypatch):
    raw = _southvale_raw()
    for k, v in raw["data"].items():
        raw["data"][k] = str((ROOT / "analyses" / v).resolve())
    raw.pop("qualitative")
    for k in ("narrative", "logic_model", "brand", "reference_docx"):  # report materials live beside the real spec
        raw["report"].pop(k, None)
    (tmp_path / "costs").mkdir()
    (tmp_path / "costs" / "uc.csv").write_text("setting,cost,source,price_year\nemergency_admission,2300,NCC,2024\n")
    raw["economics"]["unit_cost_table"] = "costs/uc.csv"
    raw["economics"]["activity_costs"] = {"source": "unit_costs"}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.chdir(ROOT)  # another working directory than the spec's
    spec = load_spec(tmp_path / "spec.yaml")
    assert Path(spec.economics.unit_cost_table) == tmp_path / "costs" / "uc.csv"
