"""Pipeline stage ``rollout``: practice-level staggered roll-out analysis.

Builds a practice x period panel (events and exposure in person-years) in DuckDB via
:mod:`evaltool.engine` (Ibis), sparse-first: events are aggregated per practice-period, and
exposure comes from overlapping each person's registered-and-alive interval with the period
bounds (a range join over at most 48 periods, aggregated at once; no person x period grid is
kept). Then fits, per outcome:

* ``twfe``: TWFE on the rate per 1,000 person-years, restricted wild cluster bootstrap CI/p
  (comparison only; warns when implicit weights are negative);
* ``callaway_santanna``: ATT(g,t) on the rate, ``control_group`` comparison (not yet treated by
  default), overall (simple) and event-study aggregations, multiplier bootstrap at practice level
  (overall interval: bootstrap SE with t(G-1) critical values; event study: uniform band);
* ``imputation``: BJS imputation on the rate with wild cluster bootstrap-t;
* ``imputation_poisson``: Poisson imputation with a log person-years offset: rate ratio with a
  leave-one-practice-out jackknife CI (the headline: comparable with a rate ratio target).

A practice's first treated period is the period containing its go-live date (that period counts
as treated, which slightly dilutes the first-period effect); practices that went live before the
window start have no pre-period and are excluded; go-live after the window end = never treated.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool import engine
from evaltool.effects.config import RolloutConfig
from evaltool.effects.imputation import imputation
from evaltool.effects.sensitivity import leave_one_out, placebo_go_live, relative_magnitude_bounds
from evaltool.effects.staggered import att_gt
from evaltool.effects.twfe import twfe
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning
from evaltool.stage import FigureSpec, StageOutput, TableMeta

SECTION = "rollout"


def period_table(window_start: Any, window_end: Any, period: str) -> pd.DataFrame:
    """Periods covering the window: ``period`` (1..K), ``p_start`` (inclusive), ``p_end`` (exclusive).

    Examples
    --------
    >>> period_table("2021-04-01", "2022-03-31", "quarter")["p_start"].dt.strftime("%Y-%m").tolist()
    ['2021-04', '2021-07', '2021-10', '2022-01']
    """
    ws, we = pd.Timestamp(window_start).normalize(), pd.Timestamp(window_end).normalize()
    if we < ws:
        raise DataValidationError(f"`window_end` ({we.date()}) is before `window_start` ({ws.date()})")
    if period not in ("month", "quarter"):
        raise DataValidationError(f"`period` must be 'month' or 'quarter', found {period!r}")
    months = 1 if period == "month" else 3
    # periods start on the window start (Southvale: April), so quarters are financial quarters
    starts = pd.date_range(ws, we, freq=pd.DateOffset(months=months))
    ends = starts + pd.DateOffset(months=months)
    ends = ends.where(ends <= we + pd.Timedelta(days=1), we + pd.Timedelta(days=1))
    return pd.DataFrame({"period": np.arange(1, len(starts) + 1), "p_start": starts, "p_end": ends})


def build_practice_panel(
    population: pd.DataFrame, activity: pd.DataFrame, practices: pd.DataFrame, *,
    outcomes: tuple[str, ...], window_start: Any, window_end: Any, period: str = "quarter", con: Any = None,
) -> pd.DataFrame:
    """Practice x period panel: ``events_<outcome>``, ``person_years``, ``rate_<outcome>`` (per 1,000 py).

    Computed in DuckDB through Ibis. Person-time runs from ``max(registration_start, window_start)``
    to ``min(registration_end, death_date, window_end + 1 day)``; events count only while registered
    and alive within the window.
    """
    import ibis

    eng = engine.engine_of(activity, con) if engine.is_table(activity) else engine.engine_of(population, con)
    per = period_table(window_start, window_end, period)
    ws = pd.Timestamp(window_start).normalize()
    we1 = pd.Timestamp(window_end).normalize() + pd.Timedelta(days=1)
    need = ["person_id", "practice_id"]
    miss = [c for c in need if c not in population.columns]
    if miss:
        raise DataValidationError(f"`population` lacks column(s) {miss}")
    pt = _registered_spans(eng, population, ws, we1)
    prt = eng.upload(per, "rollout_periods")
    # exposure: overlap of each registered interval with each period (range join, aggregated at once)
    j = pt.join(prt, (pt.s < prt.p_end) & (pt.e > prt.p_start))
    lo = ibis.greatest(j.s, j.p_start)
    hi = ibis.least(j.e, j.p_end)
    days = (hi.epoch_seconds() - lo.epoch_seconds()) / 86400.0
    expo = (j.mutate(days=days).group_by(["practice_id", "period"])
            .aggregate(person_years=(ibis._.days.sum() / 365.25)).execute())
    if engine.is_table(activity):
        at = activity.filter(activity.setting.isin(list(outcomes))).select("person_id", "date", "setting")
        at = at.mutate(date=at.date.cast("timestamp"))
    else:
        act = activity.loc[activity["setting"].isin(outcomes), ["person_id", "date", "setting"]].copy()
        act["person_id"] = act["person_id"].astype(str)
        act["setting"] = act["setting"].astype(str)
        act["date"] = pd.to_datetime(act["date"])
        at = eng.upload(act, "rollout_act")
    ja = at.join(pt, at.person_id == pt.person_id).filter((ibis._.date >= ibis._.s) & (ibis._.date < ibis._.e))
    jb = ja.join(prt, (ja.date >= prt.p_start) & (ja.date < prt.p_end))
    ev = jb.group_by(["practice_id", "period", "setting"]).aggregate(events=ibis._.count()).execute()
    grid = pd.MultiIndex.from_product([sorted(practices["practice_id"].astype(str).unique()), per["period"]],
                                      names=["practice_id", "period"]).to_frame(index=False)
    panel = grid.merge(expo, on=["practice_id", "period"], how="left")
    panel["person_years"] = panel["person_years"].fillna(0.0).astype(float)
    for o in outcomes:
        e = ev[ev["setting"] == o][["practice_id", "period", "events"]].rename(columns={"events": f"events_{o}"})
        panel = panel.merge(e, on=["practice_id", "period"], how="left")
        panel[f"events_{o}"] = panel[f"events_{o}"].fillna(0).astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            panel[f"rate_{o}"] = np.where(panel["person_years"] > 0,
                                          1000 * panel[f"events_{o}"] / panel["person_years"], np.nan)
    panel = panel.merge(per, on="period", how="left")
    return panel.sort_values(["practice_id", "period"]).reset_index(drop=True)


def _registered_spans(eng: Any, population: Any, ws: pd.Timestamp, we1: pd.Timestamp) -> Any:
    """``person_id, practice_id, s, e``: each person's registered-and-alive span inside the window."""
    import ibis

    if engine.is_table(population):
        t = population
        null = ibis.null().cast("timestamp")

        def ts(c: str) -> Any:
            return t[c].cast("timestamp") if c in t.columns else null

        w0, w1 = ibis.literal(ws.to_pydatetime()), ibis.literal(we1.to_pydatetime())
        s = ibis.greatest(ts("registration_start").fill_null(w0), w0)
        e = ibis.least(ts("registration_end").fill_null(w1), w1)
        dd = ts("death_date")
        e = ibis.ifelse(dd.isnull() | (dd >= e), e, dd)
        out = t.select(person_id=t.person_id.cast("string"), practice_id=t.practice_id.cast("string"), s=s, e=e)
        return out.filter(out.e > out.s)
    pop = pd.DataFrame({"person_id": population["person_id"].astype(str),
                        "practice_id": population["practice_id"].astype(str)})
    rs = population["registration_start"] if "registration_start" in population else pd.Series(pd.NaT, index=population.index)
    re_ = population["registration_end"] if "registration_end" in population else pd.Series(pd.NaT, index=population.index)
    dd = population["death_date"] if "death_date" in population else pd.Series(pd.NaT, index=population.index)
    pop["s"] = pd.to_datetime(rs).fillna(ws).clip(lower=ws).to_numpy()
    end = pd.to_datetime(re_).fillna(we1).clip(upper=we1)
    end = end.where(pd.to_datetime(dd).isna() | (pd.to_datetime(dd) >= end), pd.to_datetime(dd))
    pop["e"] = end.to_numpy()
    return eng.upload(pop[pop["e"] > pop["s"]], "rollout_pop")


def _cohorts(practices: pd.DataFrame, per: pd.DataFrame, window_start: Any) -> tuple[pd.Series, list[str]]:
    """First treated period per practice (0 = never), and practices live before the window (excluded)."""
    gl = pd.to_datetime(practices.set_index(practices["practice_id"].astype(str))["go_live_date"])
    idx = np.searchsorted(per["p_start"].to_numpy(), gl.fillna(pd.Timestamp.max).to_numpy(), side="right")
    g = pd.Series(np.where(gl.isna() | (idx > len(per)) | (gl >= per["p_end"].iloc[-1]), 0, idx), index=gl.index)
    early = list(gl.index[(gl <= pd.Timestamp(window_start)) & gl.notna()])
    return g.astype(int), early


def run_stage(
    population: pd.DataFrame,
    activity: pd.DataFrame,
    practices: pd.DataFrame,
    config: RolloutConfig,
    *,
    window_start: Any,
    window_end: Any,
    seed: int,
    prepared: pd.DataFrame | None = None,
) -> StageOutput:
    """Run the practice roll-out analysis; see the module docstring.

    ``prepared``: the practice panel already built by :func:`practice_panel` (the pipeline builds it
    where the engine is and runs the rest in a helper process); ``population`` and ``activity`` are
    then not read.

    Examples
    --------
    >>> from evaltool.datasets import southvale  # doctest: +SKIP
    >>> d = southvale()  # doctest: +SKIP
    >>> out = run_stage(d.population, d.activity, d.practices, RolloutConfig(),
    ...                 window_start="2021-04-01", window_end="2025-03-31", seed=1)  # doctest: +SKIP
    >>> out.tables["rollout_effects"]  # doctest: +SKIP
    """
    if "go_live_date" not in practices.columns:
        raise DataValidationError("`practices` lacks column `go_live_date` needed for the roll-out analysis")
    out = StageOutput(section=SECTION)
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EstimationWarning)
            _run(out, population, activity, practices, config, window_start, window_end, seed, prepared)
    finally:
        # Warnings raised inside the estimators become events (also when the stage fails); any other warning
        # (a library's) goes on to the caller, which records it.
        seen = set(out.messages())
        for msg in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, EstimationWarning)):
            if msg not in seen:
                out.event("estimation_warning", msg)
        for w in caught:
            if not issubclass(w.category, EstimationWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def planned_analyses(config: RolloutConfig) -> list[tuple[str, str, str]]:
    """The analyses the spec plans, as ``(analysis, outcome, subgroup)``.

    Examples
    --------
    >>> planned_analyses(RolloutConfig(estimators=("imputation_poisson",), placebo=False))
    [('imputation_poisson', 'emergency_admission', 'all'), ('leave_one_out', 'emergency_admission', 'all')]
    """
    out = []
    for o in config.outcomes:
        out += [(e, o, "all") for e in config.estimators]
        if "callaway_santanna" in config.estimators:
            out.append(("relative_magnitude_bounds", o, "all"))
        if "imputation_poisson" in config.estimators:
            if config.placebo:
                out.append(("placebo_go_live", o, "all"))
            if config.leave_one_out:
                out.append(("leave_one_out", o, "all"))
    return out


def _failed(out: StageOutput, analysis: str, outcome: str, what: str, err: Exception | str) -> None:
    """One estimator or sensitivity analysis could not be computed: say so, carry on."""
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    out.event("estimate_failed", f"{what} for {outcome} not estimated: {reason}", severity="error",
              outcome=outcome, analysis=analysis)
    out.analysis(analysis, outcome, "failed", reason)


def practice_panel(population: pd.DataFrame, activity: pd.DataFrame, practices: pd.DataFrame, config: RolloutConfig,
                   *, window_start: Any, window_end: Any) -> pd.DataFrame:
    """The practice x period panel :func:`run_stage` analyses (the part that reads the population and activity)."""
    if "go_live_date" not in practices.columns:
        raise DataValidationError("`practices` lacks column `go_live_date` needed for the roll-out analysis")
    return build_practice_panel(population, activity, practices, outcomes=config.outcomes, window_start=window_start,
                                window_end=window_end, period=config.period)


def _run(out: StageOutput, population: pd.DataFrame, activity: pd.DataFrame, practices: pd.DataFrame,
         cfg: RolloutConfig, window_start: Any, window_end: Any, seed: int, panel: pd.DataFrame | None) -> None:
    per = period_table(window_start, window_end, cfg.period)
    if panel is None:
        panel = practice_panel(population, activity, practices, cfg, window_start=window_start,
                               window_end=window_end)
    else:
        panel = panel.copy()  # columns are added below; the caller's panel is left as it was
    g, early = _cohorts(practices, per, window_start)
    blank = sorted(practices.loc[pd.to_datetime(practices["go_live_date"]).isna(), "practice_id"].astype(str))
    if blank:
        shown = f"{', '.join(blank[:10])}{' ...' if len(blank) > 10 else ''}"
        if cfg.blank_go_live == "drop":
            out.event("practices_without_go_live_dropped",
                      f"{len(blank)} practice(s) have no go-live date and were dropped (rollout.blank_go_live: drop): "
                      f"{shown}", counts={"practices": len(blank)})
            panel = panel[~panel["practice_id"].astype(str).isin(blank)]
        else:
            out.event("practices_without_go_live_never_treated",
                      f"{len(blank)} practice(s) have no go-live date and are analysed as never live (the input "
                      f"contract's reading of a blank; rollout.blank_go_live: drop sets them aside): {shown}",
                      severity="info", counts={"practices": len(blank)})
    if early:
        out.event("practices_excluded_no_pre_period",
                  f"{len(early)} practice(s) went live on or before the window start and have no pre-period: excluded "
                  f"({', '.join(map(str, early[:10]))}{' ...' if len(early) > 10 else ''})",
                  counts={"practices": len(early)})
    panel["g"] = panel["practice_id"].map(g).fillna(0).astype(int)
    panel = panel[~panel["practice_id"].isin(early)]
    zero = panel["person_years"] <= 0
    if zero.any():
        bad = sorted(panel.loc[zero, "practice_id"].unique())
        out.event("practices_excluded_zero_exposure",
                  f"{len(bad)} practice(s) have periods with no registered person-time: excluded (a balanced panel is "
                  f"needed): {', '.join(map(str, bad[:10]))}{' ...' if len(bad) > 10 else ''}",
                  counts={"practices": len(bad), "practice_periods": int(zero.sum())})
        panel = panel[~panel["practice_id"].isin(bad)]
    if panel.empty:
        raise EstimationError("no practice-periods with exposure left for the roll-out analysis")
    n_treated = int((panel.groupby("practice_id")["g"].first() > 0).sum())
    n_prac = int(panel["practice_id"].nunique())
    if n_treated == 0:
        raise EstimationError("no practice goes live within the window: nothing to estimate for the roll-out")
    if n_treated == n_prac and cfg.control_group == "never_treated":
        raise EstimationError("every practice goes live within the window: no never-treated comparison practices;"
                              " use control_group='not_yet_treated'")
    panel["D"] = ((panel["g"] > 0) & (panel["period"] >= panel["g"])).astype(int)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31 - 1, size=16)
    effects, es_rows, effect_rows = [], [], []
    facts: dict[str, Any] = {"period": cfg.period, "n_practices": n_prac, "n_treated_practices": n_treated,
                             "n_never_treated_practices": n_prac - n_treated,
                             "n_cohorts": int(panel.loc[panel.g > 0, "g"].nunique()), "n_periods": len(per),
                             "control_group": cfg.control_group, "bootstrap_reps": cfg.bootstrap_reps,
                             "bootstrap_weights": cfg.weights}
    fitted_any = False
    for o in cfg.outcomes:
        if panel[f"events_{o}"].sum() == 0:
            why = "no events in any practice-period"
            out.event("estimate_failed", f"{o}: not estimated: {why}", severity="error", outcome=o)
            for analysis, planned_outcome, _ in planned_analyses(cfg):
                if planned_outcome == o:
                    out.analysis(analysis, o, "failed", why)
            continue
        rate = f"rate_{o}"
        base = {"outcome": o, "n_units": n_prac, "n_clusters": n_prac}
        if "twfe" in cfg.estimators:
            try:
                r = twfe(panel, rate, "practice_id", "period", "D", wild_bootstrap=True, reps=cfg.bootstrap_reps,
                         weights=cfg.weights, seed=int(seeds[0]), alpha=cfg.alpha)
                w = r.wild
                effects.append(dict(estimator="twfe", **base, estimate=r.estimate, std_error=r.std_error,
                                    ci_lower=w.ci_lower, ci_upper=w.ci_upper, p_value=w.p_value,
                                    scale="difference_per_1000py",
                                    method=f"twfe_wild_cluster_bootstrap_restricted_{cfg.weights}"))
                facts[f"{o}_twfe_negative_weights"] = r.n_negative_weights
                fitted_any = True
                out.analysis("twfe", o)
            except EstimationError as exc:
                _failed(out, "twfe", o, "TWFE", exc)
        if "callaway_santanna" in cfg.estimators:
            try:
                cs = att_gt(panel, rate, "practice_id", "period", "g", control_group=cfg.control_group,
                            method=cfg.method, bootstrap=True, reps=cfg.bootstrap_reps, seed=int(seeds[1]),
                            alpha=cfg.alpha, weights=cfg.weights)
                s = cs.aggregate("simple").overall
                # bootstrap SE with a t(G-1) reference: normal intervals covered 91% with 25 practices in
                # benchmarks/did_staggered, t(G-1) 93.5%
                q = float(dist.t_ppf(1 - cfg.alpha / 2, n_prac - 1))
                est, se = s["estimate"], s["std_error"]
                effects.append(dict(estimator="callaway_santanna", **base, estimate=est, std_error=se,
                                    ci_lower=est - q * se, ci_upper=est + q * se,
                                    p_value=float(2 * dist.t_sf(abs(est / se), n_prac - 1)),
                                    scale="difference_per_1000py",
                                    method=f"callaway_santanna_{cfg.method}_{cfg.control_group}_multiplier_bootstrap_"
                                           f"{cfg.weights}_t"))
                dyn = cs.aggregate("dynamic")
                for _, rr in dyn.table.iterrows():
                    es_rows.append({"estimator": "callaway_santanna", "outcome": o, "event_time": int(rr["label"]),
                                        "estimate": rr["estimate"], "std_error": rr["std_error"], "ci_lower": rr["ci_lower"],
                                        "ci_upper": rr["ci_upper"], "scale": "difference_per_1000py", "band": "uniform"})
                facts[f"{o}_pretest_p_value"] = cs.pretest_p_value
                try:
                    # event-time pre-test: better conditioned than the cell-level one with few practices
                    facts[f"{o}_event_study_pretest_p_value"] = dyn.pretest()["p_value_f"]
                except EstimationError:
                    facts[f"{o}_event_study_pretest_p_value"] = None
                try:
                    rm = relative_magnitude_bounds(dyn.table, alpha=cfg.alpha)
                    for _, rr in rm.table.iterrows():
                        effect_rows.append({"analysis": "relative_magnitude_bounds", "outcome": o,
                                            "variant": f"mbar_{rr['mbar']:g}", "estimate": rr["estimate"],
                                            "ci_lower": rr["ci_lower"], "ci_upper": rr["ci_upper"],
                                            "p_value": np.nan, "note": rm.note})
                    out.analysis("relative_magnitude_bounds", o)
                except EstimationError as exc:
                    _failed(out, "relative_magnitude_bounds", o, "relative-magnitude bounds", exc)
                out.objects[f"att_gt_{o}"] = cs
                fitted_any = True
                out.analysis("callaway_santanna", o)
            except EstimationError as exc:
                _failed(out, "callaway_santanna", o, "Callaway & Sant'Anna", exc)
                if "relative_magnitude_bounds" not in {a.analysis for a in out.analyses if a.outcome == o}:
                    out.analysis("relative_magnitude_bounds", o, "failed", "Callaway & Sant'Anna was not estimated")
        if "imputation" in cfg.estimators:
            try:
                im = imputation(panel, rate, "practice_id", "period", "g", wild_bootstrap=True,
                                reps=cfg.bootstrap_reps, weights=cfg.weights, seed=int(seeds[2]), alpha=cfg.alpha)
                ov = im.overall
                effects.append(dict(estimator="imputation", **base, **{k: ov[k] for k in
                               ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")},
                                    scale="difference_per_1000py",
                                    method=f"imputation_bjs_wild_cluster_bootstrap_t_{cfg.weights}"))
                fitted_any = True
                out.analysis("imputation", o)
            except EstimationError as exc:
                _failed(out, "imputation", o, "imputation", exc)
        if "imputation_poisson" in cfg.estimators:
            try:
                ip = imputation(panel, f"events_{o}", "practice_id", "period", "g", family="poisson",
                                exposure="person_years", alpha=cfg.alpha)
                ov = ip.overall
                effects.append(dict(estimator="imputation_poisson", **base, **{k: ov[k] for k in
                               ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")},
                                    scale="rate_ratio", method="imputation_poisson_offset_jackknife_practice"))
                for _, rr in ip.table.iloc[1:].iterrows():
                    es_rows.append({"estimator": "imputation_poisson", "outcome": o, "event_time": int(rr["label"]),
                                        "estimate": rr["estimate"], "std_error": rr["std_error"], "ci_lower": rr["ci_lower"],
                                        "ci_upper": rr["ci_upper"], "scale": "rate_ratio", "band": "pointwise"})
                facts[f"{o}_rate_ratio"] = float(ov["estimate"])
                facts[f"{o}_rate_ratio_ci"] = [float(ov["ci_lower"]), float(ov["ci_upper"])]
                facts[f"{o}_excess_per_1000py"] = float(ov["excess_per_1000"])
                out.objects[f"imputation_poisson_{o}"] = ip
                fitted_any = True
                out.analysis("imputation_poisson", o)
            except EstimationError as exc:
                _failed(out, "imputation_poisson", o, "Poisson imputation", exc)
                for a in ("placebo_go_live", "leave_one_out"):
                    if (a == "placebo_go_live" and cfg.placebo) or (a == "leave_one_out" and cfg.leave_one_out):
                        out.analysis(a, o, "failed", "Poisson imputation was not estimated")
                continue
            # Sensitivity analyses: a failure here never removes the headline estimate.
            if cfg.placebo:
                try:
                    pl = placebo_go_live(panel, f"events_{o}", "practice_id", "period", "g",
                                         shifts=cfg.placebo_shifts, family="poisson", exposure="person_years")
                    for _, rr in pl.table.iterrows():
                        effect_rows.append({"analysis": "placebo_go_live", "outcome": o, "variant": f"shift_{rr['shift']}",
                                            "estimate": rr["estimate"], "ci_lower": rr["ci_lower"],
                                            "ci_upper": rr["ci_upper"], "p_value": rr["p_value"], "note": rr["note"]})
                    out.analysis("placebo_go_live", o)
                except EstimationError as exc:
                    _failed(out, "placebo_go_live", o, "placebo go-live dates", exc)
            if cfg.leave_one_out:
                try:
                    def fit(d: pd.DataFrame, o: str = o) -> dict[str, float]:
                        return imputation(d, f"events_{o}", "practice_id", "period", "g", family="poisson",
                                          exposure="person_years", horizons=[], jackknife=False).overall
                    lo = leave_one_out(panel, "practice_id", fit, reference=float(ov["estimate"]))
                    for _, rr in lo.table.iterrows():
                        effect_rows.append({"analysis": "leave_one_out", "outcome": o, "variant": str(rr["dropped"]),
                                            "estimate": rr["estimate"], "ci_lower": rr["ci_lower"],
                                            "ci_upper": rr["ci_upper"], "p_value": np.nan, "note": rr["note"]})
                    facts[f"{o}_leave_one_out_range"] = [float(lo.table["estimate"].min()),
                                                         float(lo.table["estimate"].max())]
                    out.analysis("leave_one_out", o)
                except EstimationError as exc:
                    _failed(out, "leave_one_out", o, "leave-one-practice-out", exc)
    if not fitted_any:
        raise EstimationError("no roll-out estimator could be fitted: "
                              + "; ".join(e.message for e in out.events if e.code == "estimate_failed")[:1000])
    eff = pd.DataFrame(effects)
    out.tables["rollout_effects"] = eff[["estimator", "outcome", "estimate", "std_error", "ci_lower", "ci_upper",
                                         "p_value", "scale", "method", "n_units", "n_clusters"]]
    out.table_meta["rollout_effects"] = TableMeta(
        title="Practice roll-out: effect on emergency activity by estimator",
        caption="Rates per 1,000 person-years (difference) or rate ratio; 95% intervals from the wild cluster"
                " bootstrap (TWFE, imputation), multiplier bootstrap (Callaway & Sant'Anna) or practice jackknife"
                " (Poisson imputation). TWFE is shown for comparison only.")
    es = pd.DataFrame(es_rows, columns=["estimator", "outcome", "event_time", "estimate", "std_error", "ci_lower",
                                        "ci_upper", "scale", "band"])
    out.tables["rollout_event_study"] = es
    out.table_meta["rollout_event_study"] = TableMeta(
        title="Practice roll-out: effects by periods since go-live",
        caption="Callaway & Sant'Anna (difference per 1,000 person-years, uniform band; negative event times are"
                " pre-period placebo comparisons) and Poisson imputation (rate ratio).", appendix=True)
    summ = panel.groupby("period", as_index=False).agg(
        p_start=("p_start", "first"), n_practices=("practice_id", "nunique"), n_practices_live=("D", "sum"),
        person_years=("person_years", "sum"),
        **{f"events_{o}": (f"events_{o}", "sum") for o in cfg.outcomes})
    for o in cfg.outcomes:
        summ[f"rate_{o}_per_1000py"] = 1000 * summ[f"events_{o}"] / summ["person_years"]
    summ["p_start"] = pd.to_datetime(summ["p_start"]).dt.strftime("%Y-%m-%d")
    out.tables["rollout_panel_summary"] = summ
    out.table_meta["rollout_panel_summary"] = TableMeta(
        title="Practice roll-out panel by period", caption="All registered people in the study practices.",
        count_columns=tuple(f"events_{o}" for o in cfg.outcomes),
        derived_columns=tuple((f"rate_{o}_per_1000py", f"events_{o}") for o in cfg.outcomes), appendix=True)
    if effect_rows:
        out.tables["rollout_sensitivity"] = pd.DataFrame(effect_rows)
        out.table_meta["rollout_sensitivity"] = TableMeta(
            title="Practice roll-out: sensitivity analyses",
            caption="Placebo go-live dates moved earlier on pre-go-live data only and leave-one-practice-out"
                    " (Poisson imputation rate ratios); relative-magnitude bounds on the Callaway & Sant'Anna"
                    " average post-go-live effect (per 1,000 person-years) allowing post-period violations of"
                    " parallel trends up to Mbar times the largest pre-period change.",
            appendix=True)
    out.tables["effects_rollout"] = pd.DataFrame({
        "analysis": "practice_rollout", "outcome": eff["outcome"], "subgroup": "all", "estimate": eff["estimate"],
        "std_error": eff["std_error"], "ci_lower": eff["ci_lower"], "ci_upper": eff["ci_upper"],
        "p_value": eff["p_value"], "scale": eff["scale"], "method": eff["method"], "n_units": eff["n_units"],
        "n_clusters": eff["n_clusters"]})
    out.table_meta["effects_rollout"] = TableMeta(title="Practice roll-out headline estimates", publish=False)
    if len(es):
        out.figures["rollout_event_study"] = FigureSpec(
            plot=_event_plot(es), title="Practice roll-out event study",
            alt="Estimated effect on emergency activity by quarters since each practice went live; pre-go-live"
                " estimates near zero support parallel trends.")
    facts["estimators"] = list(eff["estimator"].unique())
    out.facts.update({k: _jsonable(v) for k, v in facts.items()})
    out.objects["panel"] = panel


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _event_plot(es: pd.DataFrame) -> Any:
    from plotnine import aes, facet_wrap, geom_errorbar, geom_hline, geom_point, ggplot, labs

    from evaltool.plotting import theme_evaltool

    d = es.copy()
    d["ref"] = np.where(d["scale"] == "rate_ratio", 1.0, 0.0)
    d["panel"] = np.where(d["scale"] == "rate_ratio", "Poisson imputation (rate ratio)",
                          "Callaway & Sant'Anna (per 1,000 person-years)")
    return (ggplot(d, aes("event_time", "estimate")) + geom_hline(aes(yintercept="ref"), linetype="dashed")
            + geom_errorbar(aes(ymin="ci_lower", ymax="ci_upper"), width=0.2) + geom_point()
            + facet_wrap("~panel", scales="free_y", ncol=1)
            + labs(x="Periods since go-live", y="Effect") + theme_evaltool())
