"""A hand-worked economic evaluation of 30 matched sets, checked against an independent script.

The script below recomputes everything from the person-level rows with plain loops and
``numpy.linalg.lstsq`` (none of evaltool's code): rates by arm and period, the DiD change per
enrolled person-year, net cost, the baseline-adjusted QALY gain, the ICER, net monetary benefit
at £20,000 and £30,000, the acceptability curve at those thresholds (by brute-force resampling
of matched sets with the documented scheme), discounting over three years and the break-even
effect. evaltool's sufficient-statistics route must agree to rounding error.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaltool.economics.breakeven import break_even
from evaltool.economics.budget_impact import budget_impact
from evaltool.economics.consequences import set_statistics
from evaltool.economics.discounting import horizon_factor, present_value
from evaltool.economics.evaluation import economic_evaluation
from evaltool.economics.qalys import person_qalys, qaly_set_statistics

S, P, UC = 30, 1500.0, {"emergency_admission": 2000.0, "ae_attendance": 200.0}
TP = {"baseline": 0.0, "6m": 0.5, "12m": 1.0}
B, SEED = 300, 11


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2024)
    persons, events, scores = [], [], []
    uid = 0
    for s in range(S):
        k = 1 + s % 2  # 1 or 2 controls
        need = 0.5 + (s % 7) * 0.3
        for j in range(1 + k):
            t = int(j == 0)
            exit_day = 366 if (s + j) % 9 else 200  # some deaths shorten follow-up
            persons.append({"unit_id": uid, "person_id": f"p{uid:03d}", "treated": t, "weights": 1.0 if t else 1 / k,
                            "entry_day": -365, "exit_day": exit_day, "subclass": f"s{s:02d}"})
            mult = 0.7 if t else 1.0
            for period, lam in ((-3, need * 1.5), (4, need * mult * exit_day / 366)):
                events.append({"unit_id": uid, "period": period,
                               "emergency_admission": float(rng.poisson(lam)),
                               "ae_attendance": float(rng.poisson(2 * lam))})
            if (s + j) % 3:  # two in three answer the EQ-5D
                u0 = 0.55 + 0.05 * ((s + 2 * j) % 5) - 0.05 * t
                g = 0.08 if t else -0.01
                for lab, tt in TP.items():
                    scores.append({"person_id": f"p{uid:03d}", "timepoint": lab,
                                   "eq5d_index": u0 + g * tt + (0.01 * ((uid * 7) % 3) if tt else 0.0)})
            uid += 1
    return pd.DataFrame(persons), pd.DataFrame(events), pd.DataFrame(scores)


# ---------------------------------------------------------------- the independent script
def _rates(units: list[dict], ev: dict, outcome: str) -> dict[str, float]:
    num = {(a, p): 0.0 for a in (0, 1) for p in (0, 1)}
    den = {(a, p): 0.0 for a in (0, 1) for p in (0, 1)}
    for u in units:
        e0 = (min(u["exit_day"], 0) - max(u["entry_day"], -365)) / 365.25
        e1 = (min(u["exit_day"], 366) - max(u["entry_day"], 0)) / 365.25
        den[(u["treated"], 0)] += u["weights"] * e0
        den[(u["treated"], 1)] += u["weights"] * e1
        for period, row in ev[u["unit_id"]].items():
            num[(u["treated"], int(period >= 0))] += u["weights"] * row[outcome]
    r = {f"r{'T' if a else 'C'}{p}": num[(a, p)] / den[(a, p)] for a in (0, 1) for p in (0, 1)}
    r["cf"] = r["rT0"] * r["rC1"] / r["rC0"]
    r["delta"] = r["rT1"] - r["cf"]
    return r


def _auc(rows: dict[str, float]) -> float:
    t = [0.0, 0.5, 1.0]
    u = [rows["baseline"], rows["6m"], rows["12m"]]
    return sum((t[i + 1] - t[i]) * (u[i] + u[i + 1]) / 2 for i in range(2))


def _qaly_gain(units: list[dict], util: dict) -> float:
    X, y, w = [], [], []
    for u in units:
        if u["person_id"] in util:
            rows = util[u["person_id"]]
            X.append([1.0, u["treated"], rows["baseline"]])
            y.append(_auc(rows))
            w.append(u["weights"])
    X, y, sw = np.array(X), np.array(y), np.sqrt(np.array(w))
    return float(np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0][1])


def _evaluate(units, ev, util):
    adm, ae = _rates(units, ev, "emergency_admission"), _rates(units, ev, "ae_attendance")
    net = P + adm["delta"] * UC["emergency_admission"] + ae["delta"] * UC["ae_attendance"]
    return net, _qaly_gain(units, util), adm


def _script(data):
    persons, events, scores = data
    units = persons.to_dict("records")
    ev: dict = {}
    for r in events.to_dict("records"):
        ev.setdefault(r["unit_id"], {})[r["period"]] = r
    util: dict = {}
    for r in scores.to_dict("records"):
        util.setdefault(r["person_id"], {})[r["timepoint"]] = r["eq5d_index"]
    net, dq, adm = _evaluate(units, ev, util)
    by_set = {}
    for u in units:
        by_set.setdefault(u["subclass"], []).append(u)
    names = sorted(by_set)
    draws = np.random.default_rng(SEED).integers(0, S, size=(B, S))  # the documented resampling scheme
    nmb = {20000: [], 30000: []}
    for row in draws:
        rep = [u for i in row for u in by_set[names[i]]]
        n_b, q_b, _ = _evaluate(rep, ev, util)
        for lam, values in nmb.items():
            values.append(lam * q_b - n_b)
    return {"net": net, "dq": dq, "icer": net / dq, "nmb20": 20000 * dq - net, "nmb30": 30000 * dq - net,
            "ceac20": float(np.mean(np.array(nmb[20000]) > 0)), "ceac30": float(np.mean(np.array(nmb[30000]) > 0)),
            "cf_adm": adm["cf"], "delta_adm": adm["delta"]}


# ---------------------------------------------------------------- evaltool
@pytest.fixture(scope="module")
def both(data):
    persons, events, scores = data
    st = set_statistics(persons, events, ["emergency_admission", "ae_attendance"], pre_months=12, post_months=12)
    q = person_qalys(scores, TP)
    names, vals, _ = qaly_set_statistics(persons, q, st.set_ids)
    st = st.extend(names, vals)
    res = economic_evaluation(st, programme_cost=P, unit_costs=UC, qaly_design="matched", replicates=B, seed=SEED,
                              thresholds=[(20000.0, "£20,000"), (30000.0, "£30,000")])
    return res, _script(data)


def test_net_cost(both):
    res, ref = both
    assert res.estimate("all|net_cost") == pytest.approx(ref["net"], rel=1e-12)


def test_qaly_gain_and_icer(both):
    res, ref = both
    ce = res.cost_effectiveness()
    assert ce.d_qaly == pytest.approx(ref["dq"], rel=1e-9)
    assert ref["dq"] > 0 and ce.qaly_interval[0] > 0  # the hand-made data have a clear gain
    icer, status = ce.icer
    assert status == "icer" and icer == pytest.approx(ref["icer"], rel=1e-9)


def test_nmb_at_two_thresholds(both):
    res, ref = both
    assert res.estimate("all|nmb|20000") == pytest.approx(ref["nmb20"], rel=1e-9)
    assert res.estimate("all|nmb|30000") == pytest.approx(ref["nmb30"], rel=1e-9)


def test_ceac_at_two_thresholds_equals_brute_force_resampling(both):
    res, ref = both
    curve = res.cost_effectiveness(ceac_grid=[20000.0, 30000.0]).curve
    assert curve["probability"].tolist() == pytest.approx([ref["ceac20"], ref["ceac30"]], abs=1e-12)
    assert 0 < ref["ceac20"] < ref["ceac30"] <= 1


def test_break_even_effect(both):
    res, ref = both
    be = break_even(P, UC["emergency_admission"], res.estimate("all|emergency_admission|counterfactual"))
    assert res.estimate("all|emergency_admission|counterfactual") == pytest.approx(ref["cf_adm"], rel=1e-12)
    # P / c admissions per person-year; as a share of the admissions expected without the programme.
    assert be["admissions_needed"] == pytest.approx(0.75)
    assert be["pct_reduction_needed"] == pytest.approx(100 * 0.75 / ref["cf_adm"], rel=1e-12)
    assert be["rate_ratio_needed"] == pytest.approx(1 - 0.75 / ref["cf_adm"], rel=1e-12)


def test_discounting_over_three_years():
    flows = [1000.0, 1100.0, 1210.0]
    by_hand = 1000.0 + 1100.0 / 1.035 + 1210.0 / 1.035 ** 2
    assert present_value(flows, 0.035) == pytest.approx(by_hand, rel=1e-12)
    assert horizon_factor(3.0, 0.035) == pytest.approx((1 + 1 / 1.035 + 1 / 1.035 ** 2) / 3, rel=1e-12)
    bi = budget_impact(eligible=100, years=3, uptake=[1.0], running_cost=800.0, cost_change=(-300.0, -500.0, 0.0),
                       admissions_change=(-0.1, -0.2, 0.0), discount_rate=0.035)
    net = 100 * (800.0 - 300.0)  # each year
    pv = bi.totals.set_index("scenario").loc["estimate", "net_cost_present_value"]
    assert pv == pytest.approx(net * (1 + 1 / 1.035 + 1 / 1.035 ** 2), rel=1e-12)
    fades = bi.table[bi.table.scenario == "effect fades"]["activity_cost_change"].tolist()
    assert fades == pytest.approx([100 * -300.0, 100 * -300.0 * 0.75, 100 * -300.0 * 0.75 ** 2])
