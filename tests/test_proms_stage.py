"""PROM/PREM stage on Southvale: truth recovered, tables/meta/figures/facts, result contract."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.datasets import southvale_proms as sp
from evaltool.proms import (
    PromsConfig,
    activation_summary,
    attrition,
    eq5d_index,
    paired_change,
    profile_summary,
    summarise_prem,
)
from evaltool.proms.stage import run_stage
from evaltool.stage import StageOutput

SEED = 20261122


@pytest.fixture(scope="module")
def southvale_slice():
    try:
        from evaltool.datasets import southvale

        pop = southvale(scale=0.1).population
    except ImportError:  # pragma: no cover - generator not present
        pop = sp.toy_population(20000, seed=1)
    tables, truth = sp.generate_proms(pop, seed=SEED)
    return pop, tables, truth


@pytest.fixture(scope="module")
def stage_out(southvale_slice):
    pop, tables, _ = southvale_slice
    return run_stage(tables["proms"], tables["prems"], pop, PromsConfig(), seed=SEED)


def test_generator_value_set_agrees_with_proms():
    states = ["11111", "55555", "12345", "54321", "33333"]
    lv = np.array([[int(c) for c in s] for s in states])
    np.testing.assert_allclose(sp._index(lv), eq5d_index(states).to_numpy(), atol=1e-12)


def test_generator_contract_and_determinism(southvale_slice):
    pop, tables, truth = southvale_slice
    pr = tables["proms"]
    assert {"person_id", "timepoint", "instrument", "eq5d_mo", "eq5d_ad", "eq5d_vas", "pam_score"} <= set(pr.columns)
    assert set(pr["timepoint"]) == {"baseline", "6m", "12m"} and set(pr["instrument"]) == {"EQ-5D-5L"}
    assert {"respondent_id", "group", "survey"} <= set(tables["prems"].columns)
    assert not set(tables["prems"]["respondent_id"]) & set(pop["person_id"])
    json.dumps(truth)
    again, _ = sp.generate_proms(pop, seed=SEED)
    pd.testing.assert_frame_equal(again["proms"], pr)


def test_true_change_recovered_within_ci(southvale_slice, stage_out):
    _, _, truth = southvale_slice
    ch = stage_out.tables["eq5d_change"].set_index(["group", "timepoint"])
    for g in ("enrolled", "comparison"):
        for tp in ("6m", "12m"):
            r = ch.loc[(g, tp)]
            # the documented truth: mean change with complete data for these people. (The expected change,
            # the superpopulation estimand, is covered ~95% of the time: see the slow coverage test.)
            true = truth["eq5d_true_change"][g][tp]
            assert r["ci_lower"] <= true <= r["ci_upper"], (g, tp, true, r["ci_lower"], r["ci_upper"])
    # the unadjusted difference in change (Welch CI) brackets the true difference at both follow-ups;
    # ANCOVA adjusts for the enrolled group's persistently worse baseline, a different estimand here
    an = stage_out.tables["eq5d_ancova"].set_index("timepoint")
    for tp in ("6m", "12m"):
        d = truth["eq5d_true_difference_in_change"][tp]
        assert an.loc[tp, "unadjusted_ci_lower"] <= d <= an.loc[tp, "unadjusted_ci_upper"], tp
        assert an.loc[tp, "estimate"] > 0
    # FFT % positive near the simulated 80% (base includes don't know)
    f = stage_out.tables["prem_fft"].iloc[0]
    se = np.sqrt(0.8 * 0.2 / f["n_responses"])
    assert abs(f["pct_positive"] / 100 - truth["prems"]["fft_true_pct_positive"] / 100) < 3 * se


def test_stage_tables_meta_figures_facts(stage_out):
    assert isinstance(stage_out, StageOutput) and stage_out.section == "proms"
    expected = {"eq5d_index_summary", "eq5d_change", "eq5d_change_detail", "eq5d_ancova", "eq5d_levels", "eq5d_pchc", "response_flow",
                "eq5d_pchc_dimensions", "eq5d_superiority",
                "eq5d_attrition", "activation_levels", "activation_movement", "activation_change",
                "prem_p3ceq_scales", "prem_p3ceq_items", "prem_fft", "prem_alpha"}
    assert expected <= set(stage_out.tables)
    for name, tab in stage_out.tables.items():
        meta = stage_out.table_meta[name]
        assert all(c in tab.columns for c in meta.count_columns), name
        assert all(d in tab.columns and c in tab.columns for d, c in meta.derived_columns), name
        assert all(str(c) == str(c).lower() and " " not in str(c) for c in tab.columns), name
    summ = stage_out.tables["eq5d_index_summary"]
    assert (summ["value_set"] == "EQ-5D-5L value set for England (Devlin et al. 2018)").all()
    assert stage_out.facts["value_set_label"].startswith("EQ-5D-5L value set for England")
    for k in ("eq5d_change_enrolled", "eq5d_change_enrolled_ci_lower", "eq5d_ancova_difference",
              "fft_pct_positive", "fft_n_responses"):
        assert k in stage_out.facts
    json.dumps(stage_out.facts)
    text = " ".join(stage_out.facts["headline_text"])
    f = stage_out.facts
    assert f"{f['eq5d_change_enrolled_ci_lower']:.3f} to {f['eq5d_change_enrolled_ci_upper']:.3f}" in text
    assert "Devlin et al. 2018" in text and f"{f['fft_pct_positive']:.0f}% of" in text
    assert {"eq5d_levels", "eq5d_change_distribution", "prem_fft", "prem_p3ceq_top_box"} <= set(stage_out.figures)
    # percentages in the levels table add to 100 within each group/time/dimension
    lv = stage_out.tables["eq5d_levels"]
    sums = lv.groupby(["group", "timepoint", "dimension"])["pct"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 100.0)
    # response flow: n_both never exceeds either time point's responders
    fl = stage_out.tables["response_flow"]
    assert (fl["n_both"] <= fl["n_responded"]).all()


def test_stage_does_not_mutate_inputs_and_other_value_sets(southvale_slice):
    pop, tables, _ = southvale_slice
    pr, pm, pp = tables["proms"].copy(), tables["prems"].copy(), pop.copy()
    out = run_stage(tables["proms"], None, pop, PromsConfig(value_set="dsu_5l_to_3l_2023"), seed=1)
    pd.testing.assert_frame_equal(tables["proms"], pr)
    pd.testing.assert_frame_equal(tables["prems"], pm)
    pd.testing.assert_frame_equal(pop, pp)
    assert out.facts["value_set"] == "dsu_5l_to_3l_2023"
    assert out.tables["eq5d_index_summary"]["value_set"].str.contains("NICE DSU").all()
    assert "prem_fft" not in out.tables
    empty = run_stage(None, None, pop, PromsConfig(), seed=1)
    assert empty.tables == {} and empty.messages("error")


def test_config_is_frozen_and_strict():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        PromsConfig(value_set="france_5l")
    with pytest.raises(ValidationError):
        PromsConfig(unknown_field=1)
    with pytest.raises(ValidationError):
        PromsConfig(timepoints=("baseline",))


def test_result_contract_for_every_result_class(southvale_slice, stage_out):
    _, tables, _ = southvale_slice
    objs = stage_out.objects
    for key in ("eq5d_change", "eq5d_ancova", "eq5d_profile", "attrition", "activation", "prem_p3ceq", "prem_fft"):
        check_result_contract(objs[key])
    df = pd.DataFrame({"person_id": [1, 1, 2, 2], "timepoint": ["baseline", "6m"] * 2, "eq5d_index": [.5, .6, .7, .8],
                       "pam_score": [40, 50, 60, 70.0], "group": ["a", "a", "b", "b"],
                       "mo": [1, 2, 1, 1], "sc": [1] * 4, "ua": [1] * 4, "pd": [1] * 4, "ad": [1] * 4})
    for r in (paired_change(df), attrition(df), activation_summary(df, level_col=None), profile_summary(df)):
        check_result_contract(r)
    check_result_contract(summarise_prem(tables["prems"][tables["prems"]["survey"] == "FFT"], "FFT"))
    # to_dict carries no patient-level identifiers
    blob = json.dumps({k: objs[k].to_dict() for k in ("eq5d_change", "attrition", "prem_p3ceq")}, default=str)
    assert "P0000" not in blob and "R0000" not in blob


@pytest.mark.slow
def test_coverage_of_paired_change_ci_over_repeated_samples():
    """Over 200 simulated samples the 95% CI for the enrolled 6m change covers the expected change ~95%."""
    pop = sp.toy_population(6000, seed=2)
    enrolled_ids = pop.loc[pop.treated == 1, "person_id"]
    hits, n, bias = 0, 200, []
    for s in range(n):
        tables, truth = sp.generate_proms(pop, seed=s)
        pr = tables["proms"]
        pr = pr.assign(eq5d_index=eq5d_index(pr, on_invalid="mask").to_numpy(), group=pr["person_id"].isin(enrolled_ids))
        r = paired_change(pr, group_col="group", followups=["6m"]).table.set_index("group").loc[True]
        target = truth["eq5d_expected_change"]["enrolled"]["6m"]
        hits += r["ci_lower"] <= target <= r["ci_upper"]
        bias.append(r["estimate"] - target)
    assert 0.91 <= hits / n <= 0.98
    assert abs(np.mean(bias)) < 3 * np.std(bias) / np.sqrt(n)


def test_csv_round_trip_through_inputs_reader_gives_same_results(tmp_path, southvale_slice, stage_out):
    """CSV inputs arrive as text (all-varchar); the stage must give the same numbers."""
    from evaltool.inputs import read_table

    pop, tables, _ = southvale_slice
    tables["proms"].to_csv(tmp_path / "proms.csv", index=False)
    tables["prems"].to_csv(tmp_path / "prems.csv", index=False)
    pr, pm = read_table(tmp_path / "proms.csv"), read_table(tmp_path / "prems.csv")
    assert pr["eq5d_mo"].map(type).eq(str).any()  # really text
    out = run_stage(pr, pm, pop, PromsConfig(), seed=SEED)
    for name in ("eq5d_change", "activation_change", "prem_fft", "prem_p3ceq_scales"):
        pd.testing.assert_frame_equal(out.tables[name], stage_out.tables[name], check_dtype=False)


def test_writer_merges_truth(tmp_path):
    (tmp_path / "truth.json").write_text(json.dumps({"effects": 1}))
    paths = sp.write_southvale_proms(tmp_path, sp.toy_population(3000, seed=4), seed=4)
    merged = json.loads((tmp_path / "truth.json").read_text())
    assert merged["effects"] == 1 and "eq5d_true_change" in merged["proms"]
    back = pd.read_parquet(paths["proms"])
    assert len(back) > 0 and str(back["eq5d_mo"].dtype) == "Int64"


def test_stage_3l_instrument_other_rows_and_unknown_people_are_counted():
    rng = np.random.default_rng(8)
    n = 120
    ids = [f"X{i:03d}" for i in range(n)]
    pop = pd.DataFrame({"person_id": ids, "treated": (np.arange(n) < 60).astype(int),
                        "age": rng.integers(30, 90, n), "sex": rng.choice(["F", "M"], n)})
    rows = []
    for t, tp in enumerate(("baseline", "6m", "12m")):
        lv = np.clip(rng.integers(1, 4, (n, 5)) - (t > 0) * (np.arange(n) < 60)[:, None] * rng.integers(0, 2, (n, 5)), 1, 3)
        rows.append(pd.DataFrame({"person_id": ids, "timepoint": tp, "instrument": "EQ-5D-3L",
                                  **{f"eq5d_{d}": lv[:, j] for j, d in enumerate(("mo", "sc", "ua", "pd", "ad"))}}))
    proms = pd.concat(rows + [pd.DataFrame({"person_id": ["ZZZ"], "timepoint": ["baseline"], "instrument": ["EQ-5D-3L"],
                                            "eq5d_mo": [1], "eq5d_sc": [1], "eq5d_ua": [1], "eq5d_pd": [1],
                                            "eq5d_ad": [1]}),
                              pd.DataFrame({"person_id": [ids[0]], "timepoint": ["24m"], "instrument": ["EQ-5D-3L"],
                                            "eq5d_mo": [1], "eq5d_sc": [1], "eq5d_ua": [1], "eq5d_pd": [1],
                                            "eq5d_ad": [1]})], ignore_index=True)
    cfg = PromsConfig(instrument="EQ-5D-3L", value_set="uk_3l_tto_1997")
    out = run_stage(proms, None, pop, cfg, seed=1)
    assert any("not in the population" in w for w in out.messages())
    assert any("outside" in w for w in out.messages())
    summ = out.tables["eq5d_index_summary"].set_index(["group", "timepoint"])
    base = proms[(proms.timepoint == "baseline") & proms.person_id.isin(ids[:60])]
    expected = eq5d_index(base, "uk_3l_tto_1997").mean()
    assert summ.loc[("enrolled", "baseline"), "mean"] == pytest.approx(expected)
    assert summ.loc[("enrolled", "baseline"), "value_set"] == "EQ-5D-3L UK TTO value set (Dolan 1997)"
    assert set(out.tables["eq5d_levels"]["level"]) == {1, 2, 3}
    pc = out.tables["eq5d_pchc"]
    change = pc[pc["category"] != "No problems"]  # change classes: % of the pairs with problems
    assert (change.groupby(["group", "comparison"])["pct_of_base"].sum().round(9) == 100).all()
    assert (pc.groupby(["group", "comparison"])["pct_all_pairs"].sum().round(9) == 100).all()


def test_stage_paretian_tables_equal_the_functions_and_pass_the_disclosure_gate():
    from evaltool.proms import pchc_table, probability_of_superiority
    from evaltool.report.disclosure import apply_disclosure

    rng = np.random.default_rng(11)
    n = 90
    ids = [f"P{i:03d}" for i in range(n)]
    pop = pd.DataFrame({"person_id": ids, "treated": (np.arange(n) < 50).astype(int)})
    base = rng.integers(1, 4, (n, 5))
    base[:15] = 1  # full health at baseline; most stay there
    fol = np.clip(base - rng.integers(0, 2, (n, 5)) + (rng.random((n, 5)) < 0.1), 1, 3)
    fol[:10] = 1
    dims = ("mo", "sc", "ua", "pd", "ad")
    proms = pd.concat([pd.DataFrame({"person_id": ids, "timepoint": tp, "instrument": "EQ-5D-3L",
                                     **{f"eq5d_{d}": lv[:, j] for j, d in enumerate(dims)}})
                       for tp, lv in (("baseline", base), ("6m", fol))], ignore_index=True)
    cfg = PromsConfig(instrument="EQ-5D-3L", value_set="uk_3l_vas", timepoints=("baseline", "6m"))
    out = run_stage(proms, None, pop, cfg, seed=1)
    assert any("not time trade-off utilities" in m for m in out.messages())  # the VAS caveat is reported
    frame = lambda m: pd.DataFrame(m, columns=list(dims))  # noqa: E731
    for group, rows in (("enrolled", slice(0, 50)), ("comparison", slice(50, n))):
        want = pchc_table(frame(base[rows]), frame(fol[rows]), "EQ-5D-3L").set_index("category")
        words = {"No change": "no_change", "Better": "better", "Worse": "worse", "Mixed": "mixed",
                 "No problems": "no_problems"}
        got = out.tables["eq5d_pchc"].query("group == @group").replace({"category": words}).set_index("category")
        pd.testing.assert_series_equal(got["n_people"], want["n"], check_dtype=False, check_names=False)
        np.testing.assert_allclose(got["pct_of_base"], want["pct"])
        ps = probability_of_superiority(frame(base[rows]), frame(fol[rows]), "EQ-5D-3L")
        np.testing.assert_allclose(out.tables["eq5d_superiority"].query("group == @group")["ps"], ps["ps"])
    n_np = int(((base[:50] == 1).all(axis=1) & (fol[:50] == 1).all(axis=1)).sum())
    assert n_np >= 10 and out.tables["eq5d_pchc"].query("group == 'enrolled' and category == 'No problems'")["n_people"].item() == n_np
    for name in ("eq5d_pchc", "eq5d_pchc_dimensions", "eq5d_superiority"):
        meta, tab = out.table_meta[name], out.tables[name]
        res = apply_disclosure(tab, meta.count_columns, meta.derived_columns)
        small = tab[list(meta.count_columns)].lt(8) & tab[list(meta.count_columns)].gt(0)
        shown = res.table[list(meta.count_columns)].astype(str)
        assert not (small & (shown != "*")).to_numpy().any(), name  # every 1-7 count is suppressed
        for d, c in meta.derived_columns:
            assert (res.table.loc[shown[c] == "*", d].astype(str) == "*").all(), (name, d)
