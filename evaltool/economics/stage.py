"""Pipeline stage ``economics``: does the programme pay for itself?

Runs after the matched-cohort effects and the PROMs: it costs the programme over the costing
period, reduces the effects stage's outcome panel to matched-set totals, bootstraps activity,
costs and QALYs jointly over matched sets, and returns the cost-consequence table, break-even,
cost-utility, budget impact, one-way sensitivity analysis and the CHEERS 2022 checklist.

Examples
--------
>>> from evaltool.economics.simulate import simulate_economics
>>> from evaltool.economics.config import EconomicsConfig
>>> sim = simulate_economics(n_sets=200, seed=1)
>>> panel = type("P", (), {"persons": sim.persons, "events": sim.events, "pre_months": 12, "post_months": 12,
...                        "outcomes": ("emergency_admission", "ae_attendance", "cost")})()
>>> pop = sim.persons.assign(index_date=pd.Timestamp("2024-04-01"))[["person_id", "treated", "index_date"]]
>>> cfg = EconomicsConfig(price_year=2024, activity_costs={"source": "data", "price_year": 2024},
...     programme_costs={"start": "2024-04-01", "end": "2025-03-31", "staff": [{"role": "Nurse", "wte": 2,
...     "cost_per_wte_year": 50000, "source": "ledger", "price_year": 2024}]}, bootstrap_replicates=200)
>>> out = run_stage(pop, None, panel, cfg, seed=1, window_end="2025-03-31", proms=sim.scores)
>>> "economics_cost_consequence" in out.tables
True
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool.economics import tables as T
from evaltool.economics.budget_impact import budget_impact
from evaltool.economics.cea import ceac_plot
from evaltool.economics.config import EconomicsConfig, UnitCost
from evaltool.economics.consequences import set_statistics
from evaltool.economics.costs import enrolled_person_time, inflation_factor, programme_costs
from evaltool.economics.evaluation import economic_evaluation
from evaltool.economics.qalys import person_qalys, qaly_set_statistics, timepoint_years
from evaltool.economics.sensitivity import one_way_sensitivity, tornado_plot
from evaltool.errors import DataValidationError, EstimationError
from evaltool.stage import FigureSpec, StageOutput

__all__ = ["load_unit_cost_table", "mean_event_cost", "planned_analyses", "run_stage"]

CLUSTER_ALIASES = {"practice": "practice_id", "subclass": "subclass", "matched_set": "subclass", "person": "person_id"}
COUNT_OUTCOMES = ("emergency_admission", "ae_attendance", "elective_admission", "care_home_admission",
                  "outpatient_attendance", "gp_contact")


def planned_analyses(config: EconomicsConfig, *, subgroups: Sequence[str] = (), proms: bool = False,
                     ) -> list[tuple[str, str, str]]:
    """The economic analyses the spec plans, as ``(analysis, outcome, subgroup)``.

    Examples
    --------
    >>> cfg = EconomicsConfig(price_year=2024, programme_costs={"staff": [{"role": "N", "wte": 1,
    ...     "cost_per_wte_year": 1, "source": "s", "price_year": 2024}]})
    >>> [a for a, _, _ in planned_analyses(cfg, subgroups=["age_band"], proms=True)]
    ['cost_consequence', 'cost_consequence', 'break_even', 'cost_utility', 'budget_impact', 'sensitivity']
    """
    out = [("cost_consequence", "net_cost", "all")]
    out += [("cost_consequence", "net_cost", g) for g in (subgroups if config.subgroups else ())]
    out.append(("break_even", config.admissions_outcome, "all"))
    if config.qalys.enabled and proms:
        out.append(("cost_utility", "qalys", "all"))
    return out + [("budget_impact", "net_cost", "all"), ("sensitivity", "net_cost", "all")]


def _record_statuses(out: StageOutput, ev, config: EconomicsConfig, persons: pd.DataFrame, subgroups: Sequence[str],
                     cost_per_admission: float | None, design: str | None, proms_given: bool) -> None:
    """The fate of every planned economic analysis (ok, partial, failed) for the run record."""
    def fin(name: str) -> bool:
        return name in ev.boot.point and bool(np.isfinite(ev.boot.point[name]))

    out.analysis("cost_consequence", "net_cost", "ok" if fin("all|net_cost") else "failed",
                 "" if fin("all|net_cost") else "the net cost could not be estimated (no events or person-time)")
    for g in subgroups:
        levels = sorted(persons[g].astype(object).where(persons[g].notna(), "missing").astype(str).unique())
        bad = [lv for lv in levels if not fin(f"{lv}|net_cost")]
        status = "ok" if not bad else "failed" if len(bad) == len(levels) else "partial"
        out.analysis("cost_consequence", "net_cost", status, f"no estimate for {bad}" if bad else "", subgroup=g)
    adm = config.admissions_outcome
    ok = cost_per_admission is not None and fin(f"all|{adm}|counterfactual")
    out.analysis("break_even", adm, "ok" if ok else "failed",
                 "" if ok else f"no cost per {adm.replace('_', ' ')} or no estimate of {adm.replace('_', ' ')}")
    if config.qalys.enabled and proms_given:
        out.analysis("cost_utility", "qalys", "ok" if design else "failed",
                     "" if design else "too few EQ-5D responses at baseline and the last time point (see the events)")
    out.analysis("budget_impact", "net_cost")
    out.analysis("sensitivity", "net_cost")


def load_unit_cost_table(path: str | Path) -> dict[str, UnitCost]:
    """Read a unit-cost CSV: ``setting, cost, source, price_year`` and optional ``low, high``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "uc.csv")
    >>> _ = open(p, "w").write("setting,cost,source,price_year\\nemergency_admission,2300,NCC 2023/24,2023\\n")
    >>> load_unit_cost_table(p)["emergency_admission"].cost
    2300.0
    """
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataValidationError(f"{p}: cannot read the unit-cost table: {err}") from None
    need = ["setting", "cost", "source", "price_year"]
    miss = [c for c in need if c not in df.columns]
    if miss:
        raise DataValidationError(f"{p}: unit-cost table lacks column(s) {miss}; expected {need} (+ low, high)")
    out: dict[str, UnitCost] = {}
    for i, r in df.iterrows():
        row = i + 2
        try:
            kw = {k: (float(r[k]) if r[k].strip() else None) for k in ("low", "high") if k in df.columns}
            out[r["setting"].strip()] = UnitCost(cost=float(r["cost"]), source=r["source"],
                                                 price_year=int(float(r["price_year"])), **kw)
        except (ValueError, TypeError) as err:
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataValidationError(f"{p}, row {row} ({r['setting']!r}): expected cost and price_year as numbers "
                                      f"and a non-empty source; {msg}") from None
        if r["setting"].strip() in df["setting"].str.strip().iloc[: i].tolist():
            raise DataValidationError(f"{p}, row {row}: setting {r['setting']!r} appears twice")
    return out


def mean_event_cost(activity: Any, setting: str, person_ids: set[str]) -> tuple[float, int] | None:
    """Mean recorded cost of ``setting`` events among ``person_ids`` and how many there were (None: no costs).

    ``activity`` is a pandas frame or an Ibis table in the engine (then the mean is computed there and only
    two numbers come back).

    Examples
    --------
    >>> act = pd.DataFrame({"person_id": ["a", "a", "b"], "setting": ["emergency_admission"] * 3,
    ...                     "cost": [1000.0, 3000.0, 9999.0]})
    >>> mean_event_cost(act, "emergency_admission", {"a"})
    (2000.0, 2)
    """
    if activity is None or "cost" not in activity.columns:
        return None
    if isinstance(activity, pd.DataFrame):
        a = activity[(activity["setting"] == setting) & activity["person_id"].astype(str).isin(person_ids)]
        vals = pd.to_numeric(a["cost"], errors="coerce").dropna()
        return (float(vals.mean()), int(len(vals))) if len(vals) else None
    import ibis

    who = ibis.memtable(pd.DataFrame({"_pid": sorted(person_ids)}))
    t = activity.filter(activity.setting == setting)
    j = t.inner_join(who, t.person_id.cast("string") == who._pid)
    r = j.aggregate(n=j.cost.count(), total=j.cost.cast("decimal(18, 4)").sum()).execute()
    n = int(r["n"].iloc[0]) if len(r) and pd.notna(r["n"].iloc[0]) else 0
    return (float(r["total"].iloc[0]) / n, n) if n else None


def _costing_period(population: pd.DataFrame, config: EconomicsConfig,
                    window_end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    pc = config.programme_costs
    enr = population.loc[pd.to_numeric(population["treated"], errors="coerce") == 1, "index_date"].dropna()
    if pc.start is not None:
        start = pd.Timestamp(pc.start)
    elif len(enr):
        start = pd.Timestamp(enr.min())
    else:
        raise EstimationError("no enrolled people with an index date: the costing period cannot start")
    if pc.end is not None:
        end = pd.Timestamp(pc.end)
    elif window_end is not None:
        end = pd.Timestamp(window_end)
    else:
        raise EstimationError("give `economics.programme_costs.end` (no study window end was passed)")
    return start, end


def _registered(population: pd.DataFrame, when: pd.Timestamp, min_age: int | None = None) -> int:
    keep = np.ones(len(population), dtype=bool)
    for c, before in (("registration_start", True), ("registration_end", False), ("death_date", False)):
        if c in population.columns:
            d = pd.to_datetime(population[c])
            keep &= (d.isna() | (d <= when)).to_numpy() if before else (d.isna() | (d >= when)).to_numpy()
    if min_age is not None:
        if "birth_date" in population.columns:
            age = (when - pd.to_datetime(population["birth_date"])).dt.days / 365.25
            keep &= (age >= min_age).fillna(False).to_numpy()
        elif "age" in population.columns:
            keep &= (pd.to_numeric(population["age"], errors="coerce") >= min_age).fillna(False).to_numpy()
    return int(keep.sum())


def run_stage(
    population: pd.DataFrame,
    activity: Any,
    panel: Any,
    config: EconomicsConfig,
    *,
    seed: int,
    window_start: Any = None,
    window_end: Any = None,
    subgroups: Sequence[str] = (),
    cluster: str | None = "subclass",
    proms: pd.DataFrame | None = None,
    proms_timepoints: Sequence[str] | None = None,
    min_age: int = 18,
    context: dict[str, Any] | None = None,
) -> StageOutput:
    """Cost the programme and set it against the activity it changed and the QALYs it gained.

    Parameters
    ----------
    population:
        The analysed population (``person_id, treated, index_date``, registration and death dates).
    activity:
        Activity rows, a pandas frame or the engine's Ibis table (for the data's mean cost of an admission;
        only that mean comes back); may be None in unit-cost mode.
    panel:
        The effects stage's outcome panel (``objects["outcome_panel"]``): ``persons``, ``events``,
        ``outcomes``, ``pre_months``, ``post_months``.
    config:
        The spec's ``economics`` section.
    seed:
        Seeds the bootstrap (same seed, same intervals).
    subgroups, cluster:
        The effects section's subgroup columns and cluster (the resampled unit: matched sets).
    proms, proms_timepoints:
        EQ-5D index values (``person_id, timepoint, eq5d_index``, from the PROMs stage) and the
        time point labels in order.
    context:
        Facts from earlier stages shown beside these (``value_set_label``, ``follow_up_months``).
    """
    del window_start  # the costing period and the panel carry their own dates
    out = StageOutput(section="economics")
    note = out.event  # every caveat reaches the console, the run log and the report
    ctx = dict(context or {})
    if panel is None:
        raise EstimationError("the economics stage needs the effects stage's outcome panel (matched cohort)")
    start, end = _costing_period(population, config, window_end)
    pt = enrolled_person_time(population, start, end, config.programme_costs.caseload_months)
    pc = programme_costs(config.programme_costs, price_year=config.price_year, inflation=config.inflation,
                         start=start, end=end, person_time=pt, discount_rate=config.discount_rate_costs)
    if pc.enrolled_years <= 0:
        raise EstimationError(f"no enrolled person-time between {start.date()} and {end.date()}: the programme "
                              "cost per enrolled person-year is undefined")
    P = pc.per_enrolled_year

    # ---- activity costs -------------------------------------------------------------------
    outcomes = tuple(panel.outcomes)
    ac = config.activity_costs
    unit_costs: dict[str, UnitCost] = dict(ac.unit_costs)
    if config.unit_cost_table is not None:
        unit_costs.update(load_unit_cost_table(config.unit_cost_table))
    scale: dict[str, float] = {}
    uc_now: dict[str, float] = {}
    if ac.source == "data":
        if "cost" not in outcomes:
            raise EstimationError("`economics.activity_costs.source: data` needs `cost` among `effects.outcomes` "
                                  "(and a cost column in the activity table); or give unit costs")
        if ac.price_year is None:
            note("activity_cost_price_year_missing",
                 f"the price year of the data's costs is not given (activity_costs.price_year); they are "
                 f"taken to be in {config.price_year}/{str(config.price_year + 1)[-2:]} prices")
        scale["cost"] = inflation_factor(ac.price_year or config.price_year, config.price_year, config.inflation)
    else:
        if not unit_costs:
            raise EstimationError("`economics.activity_costs.source: unit_costs` but no unit costs were given")
        miss = [k for k in unit_costs if k not in outcomes]
        if miss:
            raise EstimationError(f"unit costs are given for {miss}, which the effects section did not analyse "
                                  f"(its outcomes: {list(outcomes)}); add them to `effects.outcomes`")
        uc_now = {k: u.cost * inflation_factor(u.price_year, config.price_year, config.inflation)
                  for k, u in unit_costs.items()}
        uncosted = [o for o in outcomes if o in COUNT_OUTCOMES and o not in unit_costs]
        if uncosted:
            note("unit_cost_missing", f"no unit cost for {uncosted}: their change is shown but not "
                 "costed", detail="add them to economics.activity_costs.unit_costs to count them in net cost")
    clu = CLUSTER_ALIASES.get(cluster, cluster) if cluster else None
    if clu and clu not in panel.persons.columns:
        note("bootstrap_unit_changed", f"the cluster column `{clu}` is not in the outcome panel; the "
             "bootstrap resamples people instead of matched sets")
        clu = None
    subs = [s for s in subgroups if s in panel.persons.columns] if config.subgroups else []
    stats = set_statistics(panel.persons, panel.events, outcomes, pre_months=panel.pre_months,
                           post_months=panel.post_months, cluster=clu, subgroups=subs, value_scale=scale)

    # ---- QALYs ----------------------------------------------------------------------------
    design, qinfo = None, {}
    if config.qalys.enabled and proms is not None and len(proms):
        enrolled = set(population.loc[pd.to_numeric(population["treated"], errors="coerce") == 1,
                                      "person_id"].astype(str))
        design, qinfo, stats = _qalys(config, proms, proms_timepoints, panel.persons, stats, clu, out, enrolled)
    elif config.qalys.enabled:
        note("qalys_not_available", "no EQ-5D index values (PROMs) reached this stage: no cost-utility "
             "analysis")
    horizon = qinfo.get("horizon", 1.0)
    ev = economic_evaluation(
        stats, programme_cost=P, cost_outcome="cost" if ac.source == "data" else None,
        unit_costs=uc_now or None, admissions_outcome=config.admissions_outcome, scale=config.did_scale,
        qaly_design=design, horizon_years=horizon, discount_rate_costs=config.discount_rate_costs,
        thresholds=[(t.value, t.label) for t in config.thresholds], replicates=config.bootstrap_replicates,
        seed=seed, confidence=config.confidence, interval=config.interval)
    # Descriptive QALY statistics (e.g. the controls' mean in a before/after design) may be undefined by design.
    undefined = {k: int((~np.isfinite(v)).sum()) for k, v in ev.boot.draws.items()
                 if k.startswith("all|") and ("|qaly|" not in k or k == "all|qaly|incremental")}
    bad = {k: v for k, v in undefined.items() if v > 0.01 * config.bootstrap_replicates}
    if bad:
        note("bootstrap_undefined", f"{len(bad)} statistic(s) were undefined in more than 1% of bootstrap "
             "resamples (e.g. no events in a group); their intervals use the defined resamples only",
             counts={k.split("|", 1)[1][:60]: v for k, v in list(bad.items())[:5]})

    # ---- cost per admission, break-even ----------------------------------------------------
    adm = config.admissions_outcome
    c_adm, c_src = None, ""
    if adm in uc_now:
        c_adm, c_src = uc_now[adm], unit_costs[adm].source
    elif ac.source == "data":
        mean_n = mean_event_cost(activity, adm, set(panel.persons["person_id"].astype(str)))
        if mean_n is not None:
            c_adm = mean_n[0] * scale.get("cost", 1.0)
            c_src = f"mean cost of the matched cohort's {mean_n[1]:,} {adm.replace('_', ' ')} records in the data"
    if adm not in outcomes:
        note("break_even_not_available", f"`{adm}` was not analysed by the effects section: no "
             "break-even on admissions", outcome=adm)

    # ---- population denominators, budget impact, sensitivity -------------------------------
    years = max((end - start).days + 1, 1) / 365.25
    mid = start + (end - start) / 2
    pop_n = _registered(population, mid)
    adults = _registered(population, end, min_age)
    bi_cfg = config.budget_impact
    if bi_cfg.eligible_count is not None:
        eligible, basis = float(bi_cfg.eligible_count), "count given in the spec"
    elif bi_cfg.eligible_share_of_adults is not None:
        eligible = bi_cfg.eligible_share_of_adults * adults
        basis = f"{100 * bi_cfg.eligible_share_of_adults:g}% of {adults:,} adults registered at {end.date()}"
    else:
        eligible = pc.enrolled_years / years
        basis = "the average caseload during the evaluation (continuing at the same scale)"
    running = float(pc.lines.loc[pc.lines["kind"] != "setup", "cost"].sum()) / pc.enrolled_years
    cd, cd_i = ev.estimate("all|activity_cost|delta"), ev.interval("all|activity_cost|delta")
    has_adm = f"all|{adm}|delta" in ev.boot.point
    ad = (ev.estimate(f"all|{adm}|delta"), *ev.interval(f"all|{adm}|delta")) if has_adm else (0.0, 0.0, 0.0)
    bi = budget_impact(eligible=eligible, years=bi_cfg.years, uptake=bi_cfg.uptake, running_cost=running,
                       cost_change=(cd, *cd_i), admissions_change=ad, grow=bi_cfg.grow, fade=bi_cfg.fade,
                       setup_cost=bi_cfg.setup_cost, discount_rate=config.discount_rate_costs, population=pop_n)
    terms = {o: (ev.estimate(f"all|{o}|delta"), uc_now[o], unit_costs[o].low, unit_costs[o].high) for o in uc_now}
    setup_recost = None
    if config.programme_costs.setup and config.programme_costs.setup_costs == "annuitise":
        def setup_recost(rate: float) -> float:
            return programme_costs(config.programme_costs, price_year=config.price_year, inflation=config.inflation,
                                   start=start, end=end, person_time=pt, discount_rate=rate).per_enrolled_year
    sens = one_way_sensitivity(pc.lines, enrolled_years=pc.enrolled_years, activity_cost_change=cd,
                               activity_interval=cd_i, unit_cost_terms=terms, default_range=config.sensitivity_range,
                               data_costs=ac.source == "data", setup_recost=setup_recost)

    # ---- tables, figures, facts ------------------------------------------------------------
    denom = {"enrolled_years": pc.enrolled_years, "years": years, "population": pop_n}
    T.add_tables(out, ev=ev, pc=pc, bi=bi, sens=sens, denom=denom, cost_per_admission=c_adm, config=config,
                 unit_costs=unit_costs, uc_now=uc_now, qinfo=qinfo)
    ce = ev.cost_effectiveness(np.arange(0, config.ceac_max + config.ceac_step / 2, config.ceac_step))
    marked = [(t.value, t.label) for t in config.thresholds]
    if ce is not None:
        out.tables["economics_ceac"] = ce.curve
        out.table_meta["economics_ceac"] = T.meta("ceac")
        out.figures["economics_ce_plane"] = FigureSpec(
            plot=ce.plot(), title="Cost-effectiveness plane: incremental cost against QALYs gained per patient",
            alt=T.plane_alt(ce, config.bootstrap_replicates), height=3.8)
        out.figures["economics_ceac"] = FigureSpec(
            plot=ceac_plot(ce.curve, marked), title="Probability the programme is cost-effective, by threshold",
            alt=T.ceac_alt(ce, marked), height=3.4)
    out.figures["economics_tornado"] = FigureSpec(
        plot=tornado_plot(sens), title="What moves the net cost most: one-way sensitivity analysis",
        alt=T.tornado_alt(sens))
    out.facts = T.facts(ev=ev, pc=pc, bi=bi, sens=sens, denom=denom, config=config, cost_per_admission=c_adm,
                        cost_per_admission_source=c_src, design=design, qinfo=qinfo, eligible_basis=basis,
                        adults=adults, ctx=ctx, panel=panel, subgroups=subs, ce=ce)
    _record_statuses(out, ev, config, panel.persons, subs, c_adm, design, proms is not None)
    out.tables["economics_cheers"] = T.cheers_table(out.facts)
    out.table_meta["economics_cheers"] = T.meta("cheers")
    out.objects.update({"economic_evaluation": ev, "programme_costs": pc, "budget_impact": bi,
                        "cost_effectiveness": ce})
    return out


def _qalys(config: EconomicsConfig, proms: pd.DataFrame, timepoints: Sequence[str] | None, persons: pd.DataFrame,
           stats, cluster: str | None, out: StageOutput, enrolled: set[str]):
    labels = list(timepoints) if timepoints else list(dict.fromkeys(proms["timepoint"].astype(str)))
    times = timepoint_years(labels, config.qalys.timepoints_years)
    if len(set(times.values())) < 2:
        out.event("qalys_not_available", "fewer than two distinct PROM time points: no QALYs")
        return None, {}, stats
    q = person_qalys(proms, times, config.discount_rate_effects)
    names, vals, counts = qaly_set_statistics(persons, q, stats.set_ids, cluster, enrolled=enrolled)
    n_t, n_c = counts["n_treated"], counts["n_control"]
    need = config.qalys.min_respondents
    want = config.qalys.design
    if want == "matched" or (want == "auto" and n_t >= need and n_c >= need):
        if n_t < need or n_c < need:
            out.event("qaly_respondents_few", f"only {n_t} enrolled and {n_c} matched-control respondents "
                      f"with EQ-5D at baseline and {labels[-1]} (fewer than {need}): the matched QALY comparison is "
                      "imprecise", counts={"enrolled": n_t, "controls": n_c})
        design = "matched"
    elif n_t >= need or want == "before_after":
        design = "before_after"
        if want == "auto":
            out.event("qaly_design_before_after", f"only {n_c} matched controls answered the EQ-5D at "
                      f"baseline and {labels[-1]}: QALYs come from a before/after comparison of enrolled patients, "
                      "which assumes their health would otherwise have stayed at its baseline level",
                      counts={"enrolled": n_t, "controls": n_c})
    else:
        out.event("qalys_not_available", f"only {n_t} enrolled respondents with EQ-5D at baseline and "
                  f"{labels[-1]}: no QALYs", counts={"enrolled": n_t})
        return None, {}, stats
    info = {"horizon": max(times.values()), "times": times, "n_treated": n_t, "n_control": n_c,
            "labels": labels}
    return design, info, stats.extend(names, vals)
