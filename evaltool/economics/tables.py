"""What the economics stage publishes: ``economics_*`` tables with their metadata, figure alt texts, facts.

Tables are tidy and numeric (the report formats them); labels are plain English, codes sit in
their own columns. Facts are flat ``{key: number or text}`` for the report's sentence functions
(:mod:`evaltool.report.sentences_economics`); nothing here is prose for the reader except alt text.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaltool.economics.breakeven import break_even, cost_per_admission_avoided
from evaltool.economics.cea import QUADRANT_TEXT
from evaltool.economics.cheers import cheers_checklist
from evaltool.stage import StageOutput, TableMeta

__all__ = ["add_tables", "facts", "meta", "slug"]

LABELS = {
    "emergency_admission": ("emergency admissions", "admissions"),
    "ae_attendance": ("A&E attendances", "attendances"),
    "elective_admission": ("planned (elective) admissions", "admissions"),
    "care_home_admission": ("care-home admissions", "admissions"),
    "outpatient_attendance": ("outpatient attendances", "attendances"),
    "gp_contact": ("GP contacts", "contacts"),
    "bed_days": ("emergency and planned bed days", "bed days"),
    "cost": ("hospital activity cost (data)", "£"),
}

_META = {
    "programme_costs": TableMeta(
        title="What the programme cost: each figure with its source, price year and inflation to the common year",
        caption="Cost = value x multiplier (WTE x years in post, years running, enrolments, enrolled patient-years, "
                "or the annuitised share of a set-up cost) x inflation factor to the common price year.",
        appendix=True),
    "costs_by_year": TableMeta(title="Programme cost by financial year and category", appendix=True),
    "cost_consequence": TableMeta(
        title="Costs and consequences: programme cost, change in hospital activity and net cost",
        caption="Per enrolled person-year, for the enrolled cohort over the costing period and per 1,000 registered "
                "population a year. Changes compare enrolled patients with matched controls "
                "(difference-in-differences on matched-set totals); intervals from the bootstrap over matched sets. "
                "Negative changes are falls; negative net cost is a saving.",
        count_columns=("n_enrolled",), appendix=True),
    "break_even": TableMeta(
        title="Break-even: the fall in emergency admissions that would pay for the programme",
        caption="Other activity unchanged. Probability it pays for itself = share of bootstrap resamples in which "
                "the fall in activity cost covers the programme cost.", appendix=True),
    "cost_effectiveness": TableMeta(
        title="Cost-utility: incremental cost, QALYs, ICER and net monetary benefit per patient",
        caption="Net monetary benefit = threshold x QALYs gained - incremental cost; positive means worth it at "
                "that threshold.", appendix=True),
    "qalys": TableMeta(title="QALYs by group (EQ-5D area under the curve)", count_columns=("n_respondents",),
                       derived_columns=(("mean_baseline_utility", "n_respondents"), ("mean_qalys", "n_respondents")),
                       appendix=True),
    "budget_impact_totals": TableMeta(
        title="Budget impact of extending the programme to the eligible population: totals by scenario",
        caption="Undiscounted totals over the horizon (present value at the discount rate alongside).",
        appendix=True),
    "budget_impact": TableMeta(title="Budget impact year by year, by scenario", appendix=True),
    "sensitivity": TableMeta(title="One-way sensitivity analysis of net cost per enrolled person-year",
                             appendix=True),
    "ceac": TableMeta(title="Cost-effectiveness acceptability curve", appendix=True, publish=False),
    "bootstrap": TableMeta(title="Every bootstrap statistic (analysts' table)", appendix=True, publish=False),
    "cheers": TableMeta(title="CHEERS 2022 checklist (Husereau et al. 2022)",
                        caption="Where this report addresses each item; 'authors' items need the evaluation "
                                "team's own text.", appendix=True),
}


def meta(name: str) -> TableMeta:
    return _META[name]


def slug(level: str) -> str:
    """Fact-key form of a group: 'under 65' -> 'under_65', '65+' -> '65_plus'."""
    return str(level).replace("+", "_plus").replace(" ", "_").lower()


def _fy(y: int) -> str:
    return f"{y}/{str(y + 1)[-2:]}"


def _est(ev, name: str) -> tuple[float, float, float]:
    if name not in ev.boot.point:
        return float("nan"), float("nan"), float("nan")
    lo, hi = ev.interval(name)
    return ev.estimate(name), lo, hi


def add_tables(out: StageOutput, *, ev, pc, bi, sens, denom, cost_per_admission, config, unit_costs, uc_now,
               qinfo) -> None:
    """Fill ``out.tables``/``out.table_meta`` with every economics table."""
    def put(name: str, df: pd.DataFrame) -> None:
        out.tables[f"economics_{name}"] = df.reset_index(drop=True)
        out.table_meta[f"economics_{name}"] = _META[name]

    lines = pc.lines.copy()
    total = lines["cost"].sum()
    lines["share_pct"] = 100 * lines["cost"] / total if total > 0 else np.nan
    cols = ["category", "item", "basis", "source", "price_year", "value", "inflation_factor", "cost", "share_pct"]
    lines = lines[cols]
    lines = pd.concat([lines, pd.DataFrame([{"category": "Total", "item": f"{pc.start.date()} to {pc.end.date()}",
                                             "cost": total, "share_pct": 100.0}])], ignore_index=True)
    lines["price_year"] = lines["price_year"].map(lambda y: _fy(int(y)) if pd.notna(y) else "")
    if uc_now:
        ucr = pd.DataFrame([{"category": "Unit cost of activity", "item": LABELS.get(k, (k,))[0], "basis": "per event",
                             "source": u.source, "price_year": _fy(u.price_year), "value": u.cost,
                             "inflation_factor": uc_now[k] / u.cost if u.cost else 1.0, "cost": uc_now[k]}
                            for k, u in unit_costs.items()])
        lines = pd.concat([lines, ucr], ignore_index=True)
    put("programme_costs", lines)
    by = pc.by_year.copy()
    by["financial_year"] = by["financial_year"].map(_fy)
    put("costs_by_year", by)

    ey, yrs, popn = denom["enrolled_years"], denom["years"], denom["population"]
    rows = []
    for g in ev.groups:
        n = int(ev.info.get("n_enrolled", {}).get(g, 0))
        measures: list[tuple[str, str, str, tuple[float, float, float]]] = [
            ("Programme cost", "£", "programme_cost", (ev.programme_cost, np.nan, np.nan))]
        for o in ev.outcomes:
            if o == "cost":
                continue
            lab, unit = LABELS.get(o, (o.replace("_", " "), "events"))
            measures.append((f"Change in {lab}", unit, o, _est(ev, f"{g}|{o}|delta")))
            if o in ev.unit_costs:
                measures.append((f"Change in cost of {lab}", "£", f"{o}_cost", _est(ev, f"{g}|{o}|cost_delta")))
        measures.append(("Change in hospital activity cost", "£", "activity_cost",
                         _est(ev, f"{g}|activity_cost|delta")))
        measures.append(("Net cost (programme cost + change in activity cost)", "£", "net_cost",
                         _est(ev, f"{g}|net_cost")))
        for label, unit, code, (e, lo, hi) in measures:
            whole = g == "all"
            f_c = ey if whole else np.nan
            f_p = ey / yrs / popn * 1000 if whole and popn else np.nan
            rows.append({"group": "everyone" if g == "all" else g, "measure": label, "unit": unit, "code": code,
                         "per_person_year": e, "ci_lower": lo, "ci_upper": hi,
                         "whole_cohort": e * f_c, "cohort_ci_lower": lo * f_c, "cohort_ci_upper": hi * f_c,
                         "per_1000_population_year": e * f_p, "population_ci_lower": lo * f_p,
                         "population_ci_upper": hi * f_p, "n_enrolled": n})
    put("cost_consequence", pd.DataFrame(rows))

    adm = config.admissions_outcome
    be_rows = []
    for g in ev.groups:
        cf = ev.estimate(f"{g}|{adm}|counterfactual") if f"{g}|{adm}|counterfactual" in ev.boot.point else np.nan
        be = break_even(ev.programme_cost, cost_per_admission if cost_per_admission else np.nan, cf)
        rr, rr_lo, rr_hi = _est(ev, f"{g}|{adm}|rate_ratio")
        av, av_lo, av_hi = _est(ev, f"{g}|admissions_avoided")
        cpa, why = cost_per_admission_avoided(ev.programme_cost, av, (av_lo, av_hi))
        roi, roi_lo, roi_hi = _est(ev, f"{g}|roi")
        be_rows.append({"group": "everyone" if g == "all" else g, "programme_cost_per_year": ev.programme_cost,
                        "cost_per_admission": cost_per_admission, "admissions_expected_per_year": cf,
                        "admissions_needed_per_year": be["admissions_needed"],
                        "pct_reduction_needed": be["pct_reduction_needed"],
                        "pct_reduction_estimated": 100 * (1 - rr), "pct_ci_lower": 100 * (1 - rr_hi),
                        "pct_ci_upper": 100 * (1 - rr_lo), "admissions_avoided_per_year": av,
                        "avoided_ci_lower": av_lo, "avoided_ci_upper": av_hi,
                        "probability_pays_for_itself": ev.probability_pays_for_itself(g),
                        "roi_pct": 100 * roi, "roi_ci_lower": 100 * roi_lo, "roi_ci_upper": 100 * roi_hi,
                        "cost_per_admission_avoided": cpa, "cost_per_admission_avoided_note": why})
    put("break_even", pd.DataFrame(be_rows))

    ce = ev.cost_effectiveness()
    if ce is not None:
        icer, why = ce.icer
        crow = [
            {"measure": "Incremental cost per patient", "threshold": np.nan, "estimate": ce.d_cost,
             "ci_lower": ce.cost_interval[0], "ci_upper": ce.cost_interval[1], "note": ""},
            {"measure": "QALYs gained per patient (baseline-adjusted)" if ev.qaly_design == "matched"
             else "QALYs gained per patient (before/after)", "threshold": np.nan, "estimate": ce.d_qaly,
             "ci_lower": ce.qaly_interval[0], "ci_upper": ce.qaly_interval[1], "note": ev.qaly_design},
            {"measure": "Incremental cost per QALY gained (ICER)", "threshold": np.nan,
             "estimate": icer if icer is not None else np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
             "note": "reported" if icer is not None else f"not reported: {why}"},
            {"measure": "Quadrant of the cost-effectiveness plane", "threshold": np.nan, "estimate": np.nan,
             "ci_lower": np.nan, "ci_upper": np.nan, "note": f"{ce.quadrant}: {QUADRANT_TEXT[ce.quadrant]}"},
        ]
        if ev.qaly_design == "matched":
            e, lo, hi = _est(ev, "all|qaly|unadjusted")
            crow.insert(2, {"measure": "QALY difference without baseline adjustment (for comparison)",
                            "threshold": np.nan, "estimate": e, "ci_lower": lo, "ci_upper": hi, "note": ""})
        for lam, lab in ce.thresholds:
            e, lo, hi = _est(ev, f"all|nmb|{lam:g}")
            crow.append({"measure": f"Net monetary benefit at {lab}", "threshold": lam, "estimate": e,
                         "ci_lower": lo, "ci_upper": hi, "note": ""})
            p = ev.boot.probability(f"all|nmb|{lam:g}", lambda x: x > 0)
            crow.append({"measure": f"Probability cost-effective at {lab}", "threshold": lam, "estimate": p,
                         "ci_lower": np.nan, "ci_upper": np.nan, "note": ""})
        put("cost_effectiveness", pd.DataFrame(crow))
        qrows = []
        for grp, arm in (("enrolled", "treated"), ("matched controls", "control")):
            if ev.qaly_design == "before_after" and arm == "control":
                continue
            qrows.append({"group": grp, "design": ev.qaly_design, "horizon_years": qinfo.get("horizon"),
                          "n_respondents": qinfo.get(f"n_{arm}"),
                          "mean_baseline_utility": ev.estimate(f"all|qaly|u0_{arm}"),
                          "mean_qalys": ev.estimate(f"all|qaly|qaly_{arm}")})
        put("qalys", pd.DataFrame(qrows))
    put("budget_impact_totals", bi.totals)
    put("budget_impact", bi.table)
    put("sensitivity", sens)
    put("bootstrap", ev.to_frame())


def cheers_table(f: dict[str, Any]) -> pd.DataFrame:
    return cheers_checklist(f)


def plane_alt(ce, reps: int) -> str:
    s = ce.quadrant_shares()
    shown = f"{reps:,}" if reps <= 1000 else f"1,000 of the {reps:,}"
    return (f"Scatter of {shown} bootstrap estimates of incremental QALYs (horizontal) against incremental cost per "
            f"patient (vertical), with threshold lines. Estimate: £{ce.d_cost:,.0f} and {ce.d_qaly:.3f} QALYs. "
            f"Share of estimates: {100 * s['NE']:.0f}% more costly and more effective, {100 * s['SE']:.0f}% cheaper "
            f"and more effective, {100 * s['NW']:.0f}% more costly and less effective, {100 * s['SW']:.0f}% cheaper "
            "and less effective.")


def ceac_alt(ce, marked) -> str:
    pts = "; ".join(f"{lab}: {100 * float(np.interp(v, ce.curve['threshold'], ce.curve['probability'])):.0f}%"
                    for v, lab in marked)
    return (f"Line rising from £0 to £{ce.curve['threshold'].max():,.0f} per QALY showing the probability that the "
            f"programme is cost-effective at each threshold. {pts}.")


def tornado_alt(sens: pd.DataFrame) -> str:
    if not len(sens):
        return "No inputs to vary."
    top = sens.iloc[0]
    return (f"Horizontal bars of net cost per enrolled person-year as each input moves from its low to its high "
            f"value, widest first. Base £{top['base_result']:,.0f}. The widest: {top['parameter']} "
            f"(£{top['result_low']:,.0f} to £{top['result_high']:,.0f}).")


def facts(*, ev, pc, bi, sens, denom, config, cost_per_admission, cost_per_admission_source, design, qinfo,
          eligible_basis, adults, ctx, panel, subgroups, ce) -> dict[str, Any]:
    """Flat facts for the report's sentences (``facts.json`` section ``economics``)."""
    adm = config.admissions_outcome
    ey, yrs, popn = denom["enrolled_years"], denom["years"], denom["population"]
    f: dict[str, Any] = {
        "price_year": config.price_year, "price_year_label": _fy(config.price_year), "currency": config.currency,
        "perspective": config.perspective, "costing_start": str(pc.start.date()), "costing_end": str(pc.end.date()),
        "costing_years": yrs, "programme_cost_total": pc.total, "programme_cost_per_year": ev.programme_cost,
        "enrolled_years": ey, "n_enrolments": pc.n_enrolments, "population": popn, "adults": adults,
        "staff_cost_share_pct": 100 * float(pc.lines.loc[pc.lines["kind"] == "staff", "cost"].sum()) / pc.total
        if pc.total > 0 else None,
        "setup_costs": config.programme_costs.setup_costs, "activity_cost_source": config.activity_costs.source,
        "activity_cost_basis": ("the costs recorded in the activity data" if config.activity_costs.source == "data"
                                else "counts of activity x unit costs per setting"),
        "inflation_index": config.inflation.name if config.inflation else None,
        "did_scale": config.did_scale, "interval_method": config.interval,
        "bootstrap_replicates": config.bootstrap_replicates, "confidence": config.confidence,
        "sensitivity_range": config.sensitivity_range,
        "discount_rate_costs_pct": round(100 * config.discount_rate_costs, 6),
        "discount_rate_effects_pct": round(100 * config.discount_rate_effects, 6),
        "discount_source": config.discount_source,
        "admissions_outcome": adm, "cost_per_admission": cost_per_admission,
        "cost_per_admission_source": cost_per_admission_source,
        "follow_up_months": panel.post_months, "comparator": "matched patients who were not enrolled",
        "n_matched_sets": ev.boot.n_sets, "subgroups": ", ".join(subgroups) if subgroups else None,
        "value_set_label": ctx.get("value_set_label"),
    }
    for g in ev.groups:
        p = "" if g == "all" else f"{slug(g)}."
        for key, name in (("activity_cost_change", "activity_cost|delta"), ("net_cost", "net_cost"), ("roi", "roi"),
                          ("admissions_change", f"{adm}|delta"), ("admissions_rate_ratio", f"{adm}|rate_ratio"),
                          ("admissions_expected", f"{adm}|counterfactual")):
            e, lo, hi = _est(ev, f"{g}|{name}")
            f[f"{p}{key}"], f[f"{p}{key}_ci_lower"], f[f"{p}{key}_ci_upper"] = e, lo, hi
        f[f"{p}probability_pays_for_itself"] = ev.probability_pays_for_itself(g)
        cf = f[f"{p}admissions_expected"]
        be = break_even(ev.programme_cost, cost_per_admission or np.nan, cf)
        f[f"{p}break_even_admissions_per_year"] = be["admissions_needed"]
        f[f"{p}break_even_pct_reduction"] = be["pct_reduction_needed"]
        f[f"{p}break_even_achievable"] = be["achievable"]
        cpa, why = cost_per_admission_avoided(ev.programme_cost, -f[f"{p}admissions_change"],
                                              (-f[f"{p}admissions_change_ci_upper"],
                                               -f[f"{p}admissions_change_ci_lower"]))
        f[f"{p}cost_per_admission_avoided"], f[f"{p}cost_per_admission_avoided_status"] = cpa, why
    f["net_cost_cohort"] = f["net_cost"] * ey
    f["net_cost_cohort_ci_lower"] = f["net_cost_ci_lower"] * ey
    f["net_cost_cohort_ci_upper"] = f["net_cost_ci_upper"] * ey
    f["admissions_avoided_cohort"] = -f["admissions_change"] * ey
    f["admissions_avoided_cohort_ci_lower"] = -f["admissions_change_ci_upper"] * ey
    f["admissions_avoided_cohort_ci_upper"] = -f["admissions_change_ci_lower"] * ey
    f["activity_cost_change_cohort"] = f["activity_cost_change"] * ey
    f["net_cost_per_1000_population_year"] = f["net_cost"] * ey / yrs / popn * 1000 if popn else None
    f["qaly_design"] = design
    if design is not None and ce is not None:
        icer, why = ce.icer
        f.update({"qaly_horizon_years": qinfo.get("horizon"), "qaly_n_treated": qinfo.get("n_treated"),
                  "qaly_n_control": qinfo.get("n_control"), "qaly_gain": ce.d_qaly,
                  "qaly_gain_ci_lower": ce.qaly_interval[0], "qaly_gain_ci_upper": ce.qaly_interval[1],
                  "cua_cost": ce.d_cost, "cua_cost_ci_lower": ce.cost_interval[0],
                  "cua_cost_ci_upper": ce.cost_interval[1], "quadrant": ce.quadrant, "icer": icer,
                  "icer_status": why, "qaly_design_text": (
                      "QALYs compared between enrolled respondents and respondents among their matched controls, "
                      "adjusted for baseline utility" if design == "matched" else
                      "QALYs of enrolled respondents compared with their own baseline (before/after)")})
        f["thresholds"] = [{"value": lam, "label": lab} for lam, lab in ce.thresholds]
        for lam, _ in ce.thresholds:
            e, lo, hi = _est(ev, f"all|nmb|{lam:g}")
            k = f"{lam:.0f}"
            f[f"nmb_{k}"], f[f"nmb_{k}_ci_lower"], f[f"nmb_{k}_ci_upper"] = e, lo, hi
            f[f"probability_cost_effective_{k}"] = ev.boot.probability(f"all|nmb|{lam:g}", lambda x: x > 0)
    tot = bi.totals.set_index("scenario")
    f.update({"bi_years": int(bi.table["year"].max()), "bi_eligible": bi.eligible, "bi_eligible_basis": eligible_basis,
              "bi_running_cost_per_year": bi.info["running_cost"]})
    for scen, key in (("estimate", "estimate"), ("interval: favourable", "favourable"),
                      ("interval: unfavourable", "unfavourable"), ("effect grows", "grows"), ("effect fades", "fades")):
        f[f"bi_net_cost_{key}"] = float(tot.loc[scen, "net_cost"])
        f[f"bi_admissions_avoided_{key}"] = float(tot.loc[scen, "emergency_admissions_avoided"])
    f["bi_net_cost_estimate_present_value"] = float(tot.loc["estimate", "net_cost_present_value"])
    inputs = sens[sens["category"] != "effect"]
    if len(inputs):
        f["sensitivity_top_parameter"] = str(inputs.iloc[0]["parameter"])
        f["sensitivity_top_low"] = float(inputs.iloc[0]["result_low"])
        f["sensitivity_top_high"] = float(inputs.iloc[0]["result_high"])
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in f.items()}
