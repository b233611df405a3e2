"""Matched-cohort DiD: simulation with known truth, references, subgroups, event study, bad input, stage."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evaltool._result import check_result_contract
from evaltool.effects.compress import cells
from evaltool.effects.matched import matched_did, simulate_matched_cohort
from evaltool.effects.matched_config import MatchedDidConfig
from evaltool.effects.matched_stage import run_stage
from evaltool.effects.panels import build_panel
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning
from evaltool.stage import StageOutput

pf = pytest.importorskip("pyfixest")
# pyfixest's default tolerances (1e-8 on the deviance and the demeaning) leave SEs ~1e-5 off the optimum
# with interacted fixed effects; tightened, it agrees with our Newton solution to ~1e-8.
TIGHT = {"fixef_tol": 1e-13, "iwls_tol": 1e-12}


@pytest.fixture(scope="module")
def sim():
    # Enough events for the under-65 effect (RR 0.8) to be detected with high probability.
    return simulate_matched_cohort(800, base_rate=0.3, seed=8)


@pytest.fixture(scope="module")
def small():
    return simulate_matched_cohort(250, base_rate=0.3, seed=5)


@pytest.fixture(scope="module")
def res(sim):
    coh, act, pop = sim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        return matched_did(coh, act, pop, subgroups=["age_band"], cluster="subclass", event_study=True)


def test_recovers_truth_and_shows_regression_to_mean(res):
    u65 = res.effect("under 65")
    o65 = res.effect("65+")
    assert u65["ci_lower"] < 0.8 < u65["ci_upper"] and u65["ci_upper"] < 1
    assert o65["ci_lower"] < 1 < o65["ci_upper"]
    naive = res.effect("all", analysis="naive_before_after")
    # Selection on a transient spike: the naive before/after shows a large false fall.
    assert naive["estimate"] < 0.65 and naive["ci_upper"] < 0.7
    did = res.effect("all")
    assert did["ci_lower"] < 0.9 < did["ci_upper"] or did["ci_upper"] < 1
    # Difference per 1,000 person-years is negative where the rate ratio is below 1, and consistent with it.
    d = res.effect("under 65", scale="difference_per_1000py")
    assert d["estimate"] < 0 and d["ci_upper"] < 0
    assert (d["ci_lower"] < d["estimate"] < d["ci_upper"])


def test_subgroup_wald_test_uses_joint_covariance(sim, res):
    coh, act, pop = sim
    p = build_panel(coh.assign(age_band=np.where(coh.age_at_index < 65, "under 65", "65+")), act, pop,
                    outcomes=["emergency_admission"], keep=["subclass", "age_band"])
    c = cells(p, "emergency_admission", by="person", cluster="subclass", groups=["age_band"]).frame
    c = c.assign(D_u=(c.treated * (c.period >= 0) * (c.age_band == "under 65")).astype(float),
                 D_o=(c.treated * (c.period >= 0) * (c.age_band == "65+")).astype(float),
                 loge=np.log(c.exposure), pa=c.period.astype(str) + c.age_band)
    m = pf.fepois("y ~ D_u + D_o | unit + pa", data=c, vcov={"CRV1": "cluster"}, offset="loge", **TIGHT)
    b, V = m.coef().to_numpy(), m._vcov
    stat = (b[0] - b[1]) ** 2 / (V[0, 0] + V[1, 1] - 2 * V[0, 1])
    # K in the small-sample factor: pyfixest counts the period x subgroup effects as 48 - 1 (one reference
    # per extra fixed effect); they are 48 - 2 free parameters (the unit effect absorbs each subgroup's
    # level). We count free parameters: K = 2 effects + 46 + 1 (nested unit effect) = 49 vs pyfixest's 50.
    n = m._N
    adj = (n - 49) / (n - 50)
    t = res.subgroup_tests.iloc[0]
    assert t["statistic"] == pytest.approx(stat * adj, rel=1e-6)
    assert np.log(res.effect("under 65")["estimate"]) == pytest.approx(b[0], abs=1e-6)
    assert res.effect("under 65")["std_error"] == pytest.approx(m.se().iloc[0] / np.sqrt(adj), rel=1e-6)


def test_event_study_matches_pyfixest_and_pretrend(sim, res):
    coh, act, pop = sim
    p = build_panel(coh, act, pop, outcomes=["emergency_admission"], keep=["subclass"])
    c = cells(p, "emergency_admission", by="person", cluster="subclass").frame
    c = c.assign(loge=np.log(c.exposure))
    m = pf.fepois("y ~ i(period, treated, ref=-1) | unit + period", data=c, vcov={"CRV1": "cluster"}, offset="loge",
                  **TIGHT)
    es = res.event_study.set_index("period")
    for name, val in m.coef().items():
        k = int(name.split("::")[1].split(":")[0])
        assert es.loc[k, "estimate"] == pytest.approx(val, abs=1e-6)
    assert len(es) == 24 and es.loc[-1, "estimate"] == 0
    # No pre-trends in the simulation: the joint test should not reject at 1%.
    assert res.pretrend_test["df"] == 11 and res.pretrend_test["p_value"] > 0.01


def test_event_study_with_an_empty_first_month_is_fitted_as_fixest(small):
    """No events at all in month -12, the month the unit effects would absorb: the event study absorbs the
    first month with events and the empty month is separated and dropped as fixest does (absorbing it sent
    the other month effects to +inf: no convergence). The bins are quarters here (month -12 is empty among
    the enrolled too)."""
    from evaltool.effects.matched_event import event_study

    coh, act, pop = small
    t = act.merge(coh[["person_id", "index_date"]], on="person_id")
    rel = np.floor((t["date"] - t["index_date"]).dt.days / (365.25 / 12)).astype(int)
    act12 = t.loc[rel != -12, act.columns]
    p = build_panel(coh, act12, pop, outcomes=["emergency_admission"], keep=["subclass"])
    cp = cells(p, "emergency_admission", by="person", cluster="subclass")
    c = cp.frame
    assert c.loc[c.period == -12, "y"].sum() == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", EstimationWarning)  # "did not converge" fails the test
        es, pre, notes = event_study(cp, "emergency_admission", "poisson", "subclass", alpha=0.05, post_months=12,
                                     effect=0.0)
    assert (es["unit"] == "quarter").all() and pre["unit"] == "quarter" and "month -12" in notes[0]
    c = c.assign(loge=np.log(c.exposure), b=np.floor_divide(c.period, 3))
    m = pf.fepois("y ~ i(b, treated, ref=-1) | unit + period", data=c, vcov={"CRV1": "cluster"}, offset="loge",
                  **TIGHT)
    es = es.set_index("period")
    assert len(m.coef()) == len(es) - 1
    for name, val in m.coef().items():
        k = int(name.split("::")[1].split(":")[0])
        assert es.loc[k, "estimate"] == pytest.approx(val, abs=1e-6)
        assert es.loc[k, "std_error"] == pytest.approx(m.se()[name], rel=1e-3)  # K convention as above


def test_compressed_equals_person_level_end_to_end(small):
    coh, act, pop = small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        a = matched_did(coh, act, pop, cluster="practice", subgroups=["age_band"])
        b = matched_did(coh, act, pop, cluster="practice", subgroups=["age_band"], compress=False)
    assert a.info["compressed"] and not b.info["compressed"]
    np.testing.assert_allclose(a.to_frame()["estimate"], b.to_frame()["estimate"], rtol=1e-8)
    np.testing.assert_allclose(a.to_frame()["std_error"], b.to_frame()["std_error"], rtol=1e-8)


def test_linear_matches_pyfixest_and_negbin_near_truth(sim):
    coh, act, pop = sim
    lin = matched_did(coh, act, pop, model="linear", cluster="subclass")
    p = build_panel(coh, act, pop, outcomes=["emergency_admission"], keep=["subclass"])
    c = cells(p, "emergency_admission", by="person", cluster="subclass").frame
    c = c.assign(rate=c.y / c.exposure * 365250, D=(c.treated * (c.period >= 0)).astype(float))
    m = pf.feols("rate ~ D | unit + period", data=c, vcov={"CRV1": "cluster"}, weights="exposure")
    d = lin.effect("all", scale="difference_per_1000py")
    assert d["estimate"] == pytest.approx(m.coef()["D"], abs=1e-6)
    assert d["std_error"] == pytest.approx(m.se()["D"], rel=1e-6)
    nb = matched_did(coh, act, pop, model="negbin", cluster="subclass", subgroups=["age_band"])
    # Truth: 0.8 (under 65), 1.0 (65+); the NB DiD without person effects should land near them.
    assert 0.65 < nb.effect("under 65")["estimate"] < 0.95
    assert 0.85 < nb.effect("65+")["estimate"] < 1.15
    assert not nb.subgroup_tests.empty


def test_result_contract_and_no_mutation(small, res):
    coh, act, pop = small
    check_result_contract(res)
    c0, a0 = coh.copy(), act.copy()
    matched_did(coh, act, pop, subgroups="age_band")
    pd.testing.assert_frame_equal(coh, c0)
    pd.testing.assert_frame_equal(act, a0)
    assert "age_band" not in coh.columns
    d = res.to_dict()
    assert set(d) >= {"estimates", "event_study", "subgroup_tests"} and "person_id" not in str(d["estimates"])
    res.plot_event_study()


def test_bad_inputs():
    coh, act, pop = simulate_matched_cohort(200, seed=3)
    with pytest.raises(DataValidationError, match="pre-period"):
        matched_did(coh, act, pop, pre_months=0)
    with pytest.raises(EstimationError, match="no emergency admissions at all among the matched cohort"):
        matched_did(coh, act.iloc[:0], pop)
    # A subgroup collinear with treatment is a failed secondary analysis; the pooled estimate stays.
    res = matched_did(coh.assign(arm=coh.treated.astype(str)), act, pop, subgroups=["arm"])
    assert set(res.estimates["subgroup"]) == {"all"}
    assert res.failures == (("matched_did", "arm", "no enrolled people in subgroup arm = 0; "
                                                   "no comparison people in subgroup arm = 1"),)
    with pytest.raises(EstimationError, match="only 1 cluster"):
        matched_did(coh.assign(practice_id="P1"), act, pop, cluster="practice")
    with pytest.raises(EstimationError, match="no emergency admissions among enrolled people after the index date"):
        post_t = act.merge(coh[["person_id", "treated", "index_date"]], on="person_id")
        keep = ~((post_t.treated == 1) & (post_t.date >= post_t.index_date))
        matched_did(coh, act[keep.to_numpy()], pop)
    with pytest.raises(DataValidationError, match="both treated"):
        matched_did(coh[coh.treated == 1], act, pop)
    with pytest.raises(DataValidationError, match="cluster"):
        matched_did(coh, act, pop, cluster="nope")
    with pytest.warns(EstimationWarning, match="clusters"):
        matched_did(coh, act, pop, cluster="practice")


def test_config_validation():
    assert MatchedDidConfig().outcomes[0] == "emergency_admission"
    with pytest.raises(ValueError):
        MatchedDidConfig(outcomes=("nonsense",))
    with pytest.raises(ValueError):
        MatchedDidConfig(pre_months=0)
    with pytest.raises(ValueError):
        MatchedDidConfig(unknown=1)


def test_stage_tables_figures_facts(small):
    coh, act, pop = small
    out = run_stage(coh, pop, act, MatchedDidConfig(outcomes=("emergency_admission", "ae_attendance")), seed=1)
    assert isinstance(out, StageOutput) and out.section == "effects"
    t = out.tables["effects_matched"]
    assert set(t["analysis"]) == {"matched_did"}
    assert {"rate_ratio", "difference_per_1000py"} == set(t["scale"])
    assert {"all", "under 65", "65+"} <= set(t["subgroup"])
    assert list(t.columns[:12]) == ["analysis", "outcome", "subgroup", "estimate", "std_error", "ci_lower",
                                    "ci_upper", "p_value", "scale", "method", "n_units", "n_clusters"]
    assert "ae_attendance" in out.facts["failed_outcomes"]  # no A&E events simulated: reported, not blank
    assert out.facts["emergency_admission.naive_change_pct"] < -25
    assert set(out.figures) == {"forest_plot", "event_study"}
    assert out.table_meta["outcome_rates"].count_columns == ("events",)
    r = out.tables["outcome_rates"]
    # The simulation only generates events while people are alive and registered, so the table's total is
    # every event in days [-365, 366) of the index date (periods -12..11).
    days = (act.merge(coh, on="person_id").eval("date - index_date")).dt.days
    assert r.loc[r.outcome == "emergency_admission", "events"].sum() == int(days.between(-365, 365).sum())


def test_missing_subgroup_level_and_separated_period_dummies(small):
    coh, act, pop = small
    coh = coh.copy()
    # 'rare': 12 pairs, so some months have no events in that level (separated period dummies, dropped
    # as fixest does); a few missing values become their own level with a warning.
    rare = coh["subclass"].isin(coh["subclass"].unique()[:12])
    coh["grp"] = np.where(rare, "rare", "common")
    coh.loc[coh.index[-4:], "grp"] = None
    coh.loc[coh.index[-4:], "subclass"] = "s_last"  # keep the missing rows in one matched set (both arms)
    coh.loc[coh.index[-4:], "treated"] = [1, 0, 1, 0]
    with pytest.warns(EstimationWarning, match="missing for 4 cohort rows") as rec:
        r = matched_did(coh, act, pop, subgroups=["grp"], cluster="subclass")
    # The 'missing' level has no events in month -12: fitted as fixest does, not left unconverged.
    assert [str(w.message) for w in rec if "converge" in str(w.message)] == []
    assert r.failures == ()
    e = r.to_frame()
    assert {"common", "rare", "missing"} <= set(e["subgroup"])
    # The common level's estimate is unaffected by the rare level's separated months: compare with a
    # fit on the common rows alone (the model is the union of per-level models).
    alone = matched_did(coh[coh["grp"] == "common"], act, pop, cluster="subclass")
    assert r.effect("common")["estimate"] == pytest.approx(alone.effect("all")["estimate"], rel=1e-8)


def test_level_without_events_in_its_first_month_is_dropped_there_as_fixest_does(small):
    """A subgroup level with no events in the first pre-period month, the month its unit effects absorb.

    That (level, month) cell is separated: fixest drops it and fits the rest. Absorbing it instead sent the
    level's other month effects to +inf: Newton never converged and stopped wherever rounding took it
    (a singular Hessian on Python 3.10 / numpy 2.2, a non-converged fit with a warning on 3.13).
    """
    coh, act, pop = small
    coh = coh.assign(grp=np.where(coh["subclass"].isin(coh["subclass"].unique()[::2]), "a", "b"))
    t = act.merge(coh[["person_id", "index_date", "grp"]], on="person_id")
    month = np.floor((t["date"] - t["index_date"]).dt.days / (365.25 / 12))
    act_b = t.loc[~((t["grp"] == "b") & (month == -12)), act.columns]  # level b: no events in month -12
    with warnings.catch_warnings():
        warnings.simplefilter("error", EstimationWarning)  # "did not converge" fails the test
        r = matched_did(coh, act_b, pop, subgroups=["grp"], cluster="subclass")
    assert r.failures == ()
    p = build_panel(coh, act_b, pop, outcomes=["emergency_admission"], keep=["subclass", "grp"])
    c = cells(p, "emergency_admission", by="person", cluster="subclass", groups=["grp"]).frame
    assert c.loc[(c.grp == "b") & (c.period == -12), "y"].sum() == 0 < c.loc[c.grp == "a", "y"].sum()
    post = c.treated * (c.period >= 0)
    c = c.assign(D_a=(post * (c.grp == "a")).astype(float), D_b=(post * (c.grp == "b")).astype(float),
                 loge=np.log(c.exposure), pa=c.period.astype(str) + c.grp)
    m = pf.fepois("y ~ D_a + D_b | unit + pa", data=c, vcov={"CRV1": "cluster"}, offset="loge", **TIGHT)
    for s in ("a", "b"):
        assert np.log(r.effect(s)["estimate"]) == pytest.approx(m.coef()[f"D_{s}"], abs=1e-6)
        # SEs as pyfixest's up to its one extra reference per level in K (see the Wald test above).
        assert r.effect(s)["std_error"] == pytest.approx(m.se()[f"D_{s}"], rel=1e-3)


def test_stage_fact_keys_are_snake_case(small):
    coh, act, pop = small
    out = run_stage(coh, pop, act, MatchedDidConfig(outcomes=("emergency_admission",), event_study=False), seed=1)
    assert "emergency_admission.did.under_65.rate_ratio" in out.facts
    assert "emergency_admission.did.65_plus.ci_upper" in out.facts
    assert all(" " not in k for k in out.facts)


def test_event_study_failure_keeps_the_pooled_estimate(small):
    """Degrade, don't drop: a month without events among the enrolled fails the event study only."""
    coh, act, pop = small
    t = act.merge(coh[["person_id", "treated", "index_date"]], on="person_id")
    rel = np.floor((t["date"] - t["index_date"]).dt.days / (365.25 / 12)).astype(int)
    # One empty month: the event study falls back to quarters, and says so (small programmes, issue 14).
    one = t.loc[~((t["treated"] == 1) & (rel == -9)), act.columns]
    with pytest.warns(EstimationWarning, match="event study by quarter: no emergency admissions among enrolled "
                                               "people in month -9"):
        rq = matched_did(coh, one, pop, subgroups=["age_band"], event_study=True)
    assert (rq.event_study["unit"] == "quarter").all() and not rq.failures
    assert rq.pretrend_test["unit"] == "quarter" and rq.pretrend_test["gap_months"] == 12.0
    # A whole empty quarter: no event study at all, recorded; the pooled estimate stands.
    keep = ~((t["treated"] == 1) & rel.between(-9, -7))
    act9 = t.loc[keep, act.columns]
    full = matched_did(coh, act, pop, subgroups=["age_band"], event_study=True)
    r = matched_did(coh, act9, pop, subgroups=["age_band"], event_study=True)
    assert r.event_study.empty
    assert r.failures == (("event_study", "all", "no emergency admissions among enrolled people in quarter -3 "
                           "relative to the index date: the event study needs events in every quarter (the pooled "
                           "estimate does not)"),)
    assert set(r.estimates["subgroup"]) == set(full.estimates["subgroup"])
    assert np.isfinite(r.effect("all")["estimate"])
    out = run_stage(coh, pop, act9, MatchedDidConfig(outcomes=("emergency_admission",)), seed=1)
    st = {(a.analysis, a.subgroup): (a.status, a.reason) for a in out.analyses}
    assert st[("matched_did", "all")] == ("ok", "") and st[("matched_did", "age_band")] == ("ok", "")
    assert st[("event_study", "all")][0] == "failed" and "quarter -3" in st[("event_study", "all")][1]
    ev = [e for e in out.events if e.code == "secondary_estimate_failed"]
    assert ev and ev[0].severity == "error" and ev[0].message.startswith("emergency_admission: event study not "
                                                                          "estimated: no emergency admissions")
    assert "event_study" not in out.figures  # nothing to draw, and nothing pretends otherwise


def test_subgroup_level_without_events_is_partial(small):
    coh, act, pop = small
    young = coh.loc[coh["age_at_index"] < 65, "person_id"]
    t = act.merge(coh[["person_id", "treated", "index_date"]], on="person_id")
    drop = t["person_id"].isin(young) & (t["treated"] == 0) & (t["date"] >= t["index_date"])
    out = run_stage(coh, pop, t.loc[~drop.to_numpy(), act.columns],
                    MatchedDidConfig(outcomes=("emergency_admission",), event_study=False), seed=1)
    st = {(a.analysis, a.subgroup): (a.status, a.reason) for a in out.analyses}
    assert st[("matched_did", "all")] == ("ok", "")
    assert st[("matched_did", "age_band")] == ("partial", "no emergency admissions among comparison people after "
                                               "the index date in subgroup age_band = under 65: its effect is "
                                               "not identified")
    t2 = out.tables["effects_matched"]
    assert set(t2["subgroup"]) == {"all", "65+"}


def test_requested_subgroup_not_in_cohort_is_recorded(small):
    coh, act, pop = small
    out = run_stage(coh, pop, act, MatchedDidConfig(outcomes=("emergency_admission",), subgroups=("age_band", "site"),
                                                    event_study=False), seed=1)
    ev = [e for e in out.events if e.code == "subgroup_not_available"]
    assert len(ev) == 1 and ev[0].subgroup == "site"
    st = {(a.analysis, a.subgroup): a.status for a in out.analyses}
    assert st[("matched_did", "site")] == "failed" and st[("matched_did", "age_band")] == "ok"
