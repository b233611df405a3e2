"""Pipeline stage ``area``: the whole-area designs for an evaluated area and its donor areas.

Builds the area-by-month panel (the evaluated area from the person-level tables, joined with the donor
panel), says which designs the data support, then runs the chosen designs: synthetic DiD (the headline when
there are enough donor areas), synthetic control in the same framework, plain DiD, synthetic control with
predictors and in-space placebos (ADH), and an interrupted time series on the evaluated area's counts with its
person-time as the exposure.

The comparison-area designs work on the log of the monthly rate by default (``area.scale: log``): the effect
is a rate ratio, the difference per 1,000 person-years is derived from it and the area's observed post-period
rate. Area rates differ multiplicatively (a busier area's month-to-month swings are larger in absolute terms),
so on the log scale the evaluated area's errors are comparable with the comparison areas' and the placebo
variance is right; on the rate scale an area at the top of the pool has larger errors than any placebo and the
interval is too narrow (``benchmarks/area``). ``area.scale: rate`` reproduces Arkhangelsky et al.'s
Proposition 99 analysis.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from evaltool.area.ascm import augmented_synthetic_control
from evaltool.area.config import AreaConfig
from evaltool.area.design import design_support
from evaltool.area.its import interrupted_time_series
from evaltool.area.panel import build_treated_series, combine_panel, validate_area_panel
from evaltool.area.plots import donor_weights_plot, gap_plot, its_plot, observed_vs_counterfactual_plot, placebo_plot
from evaltool.area.sdid import synthdid
from evaltool.area.synth import synthetic_control
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning
from evaltool.stage import FigureSpec, StageOutput, TableMeta

SECTION = "area"
METHOD_LABELS = {"sdid": "Synthetic difference-in-differences", "synthetic_control": "Synthetic control",
                 "ascm": "Augmented synthetic control",
                 "did": "Difference-in-differences", "its": "Interrupted time series",
                 "synthetic_control_adh": "Synthetic control with predictors"}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, pd.Timestamp):
        return str(v.date())
    return v


def prepare_panel(population: pd.DataFrame | None, activity: pd.DataFrame | None,
                  practices: pd.DataFrame | None, area_panel: pd.DataFrame | None, config: AreaConfig, *,
                  window_start: Any, window_end: Any, file: str = "area_panel") -> tuple[pd.DataFrame, pd.Timestamp,
                                                                                            pd.Series | None]:
    """The analysis panel, the evaluated area's go-live month and its monthly live share (phased start)."""
    donors = (validate_area_panel(area_panel, file=file, outcome=config.outcome, predictors=config.predictors)
              if area_panel is not None else None)
    live_share = None
    if config.build_from_person_data:
        if population is None or activity is None:
            raise DataValidationError("area.build_from_person_data is true but no population/activity tables")
        tr = build_treated_series(population, activity, outcome=config.outcome, window_start=window_start,
                                  window_end=window_end, area_id=config.treated_area, practices=practices)
        if config.go_live is not None:
            go = pd.Timestamp(config.go_live)
        elif (tr["live_share"] > 0).any():
            go = pd.Timestamp(tr.loc[tr["live_share"] > 0, "month"].min())
        else:
            raise DataValidationError("area.go_live is not set and no practice has a go-live date in the window")
        if config.phased and (tr["live_share"] > 0).any():
            live_share = tr.set_index("month")["live_share"]
        if donors is None:
            raise DataValidationError("no area panel (data.area_panel): the whole-area designs need at least the"
                                      " evaluated area's own series; give donor areas for comparison designs")
        panel = combine_panel(tr, donors, go_live=go, file=file)
        for p, v in config.treated_predictors.items():
            panel.loc[panel["area_id"] == config.treated_area, p] = float(v)
    else:
        if donors is None:
            raise DataValidationError("no area panel (data.area_panel) for the whole-area designs")
        if config.treated_area not in set(donors["area_id"]):
            raise DataValidationError(f"{file}: the evaluated area {config.treated_area!r} is not in `area_id`")
        panel = donors
        gl = panel.loc[panel["area_id"] == config.treated_area, "go_live_date"].dropna()
        if config.go_live is not None:
            go = pd.Timestamp(config.go_live)
        elif len(gl):
            go = pd.Timestamp(gl.iloc[0])
        else:
            raise DataValidationError(f"{file}: no go_live_date for {config.treated_area!r} and no area.go_live")
        panel.loc[panel["area_id"] == config.treated_area, "go_live_date"] = go
    go = go.to_period("M").to_timestamp()
    ws = pd.Timestamp(window_start).to_period("M").to_timestamp()
    we = pd.Timestamp(window_end).to_period("M").to_timestamp()
    panel = panel[(panel["month"] >= ws) & (panel["month"] <= we)].reset_index(drop=True)
    panel["rate"] = 1000 * panel["events"] / panel["person_years"]
    with np.errstate(divide="ignore"):
        panel["log_rate"] = np.log(panel["events"] / panel["person_years"])
    return panel, go, live_share


def _rr(obs: float, tau: float, lo: float, hi: float) -> tuple[float, float, float]:
    """Rate ratio observed / (observed - effect), with the interval mapped through the same function."""
    f = (lambda t: obs / (obs - t) if obs - t > 0 else float("nan"))
    return f(tau), f(lo), f(hi)


def _effect_row(scale: str, obs: float, est: float, se: float, lo: float, hi: float) -> dict[str, float]:
    """Difference per 1,000 person-years and rate ratio from an estimate on the analysis scale.

    Log scale: the rate ratio is ``exp(estimate)`` and the difference ``obs (1 - 1 / RR)`` (the observed
    post-period rate minus the rate expected without the programme), its interval mapped through the same
    increasing function and its standard error by the delta method.
    """
    if scale == "log":
        d = (lambda t: obs * (1 - np.exp(-t)))
        return {"estimate": d(est), "std_error": obs * np.exp(-est) * se, "ci_lower": d(lo), "ci_upper": d(hi),
                "rate_ratio": float(np.exp(est)), "rr_lower": float(np.exp(lo)), "rr_upper": float(np.exp(hi)),
                "log_rate_ratio": est, "log_std_error": se}
    rr = _rr(obs, est, lo, hi)
    return {"estimate": est, "std_error": se, "ci_lower": lo, "ci_upper": hi, "rate_ratio": rr[0],
            "rr_lower": rr[1], "rr_upper": rr[2], "log_rate_ratio": float("nan"), "log_std_error": float("nan")}


def _outside_range(panel: pd.DataFrame, col: str, treated: str, donors: list[str], go: pd.Timestamp) -> dict[str, Any]:
    """How often before go-live the evaluated area lies above every comparison area (or below every one)."""
    pre = panel[panel["month"] < go].pivot(index="month", columns="area_id", values=col)
    t = pre[treated]
    dmax, dmin = pre[donors].max(axis=1), pre[donors].min(axis=1)
    above, below = int((t > dmax).sum()), int((t < dmin).sum())
    return {"months_above_all": above, "months_below_all": below, "n_pre_months": int(len(pre)),
            "share_outside": float(max(above, below) / len(pre)) if len(pre) else 0.0,
            "side": "above" if above >= below else "below"}


def run_stage(population: pd.DataFrame | None, activity: pd.DataFrame | None, practices: pd.DataFrame | None,
              area_panel: pd.DataFrame | None, config: AreaConfig, *, window_start: Any, window_end: Any,
              seed: int, file: str = "area_panel") -> StageOutput:
    """Run the whole-area designs; see the module docstring.

    Examples
    --------
    >>> from evaltool.datasets.southvale_area import southvale_area_example  # doctest: +SKIP
    >>> ex = southvale_area_example(scale=0.1)  # doctest: +SKIP
    >>> out = run_stage(ex.population, ex.activity, ex.practices, ex.donor_panel,
    ...                 AreaConfig(treated_area="Southvale"), window_start="2021-04-01",
    ...                 window_end="2025-03-31", seed=1)  # doctest: +SKIP
    """
    out = StageOutput(section=SECTION)
    caught_msgs: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EstimationWarning)
        try:
            _run(out, population, activity, practices, area_panel, config, window_start, window_end, seed, file)
        finally:
            caught_msgs = [str(w.message) for w in caught if issubclass(w.category, EstimationWarning)]
    for m in dict.fromkeys(caught_msgs):
        # every caveat reaches the run log and the report (events), and the caller (a warning)
        out.event("design_not_run" if "not run" in m else "estimation_warning", m)
        warnings.warn(m, EstimationWarning, stacklevel=2)
    _record_plan(out, config, caught_msgs)
    return out


def planned_analyses(config: AreaConfig) -> list[tuple[str, str, str]]:
    """The analysis plan of the `area` section: the whole-area effect and, when the spec names its designs in
    ``methods``, each of them (a named design that cannot run or be estimated makes the run partial).

    Examples
    --------
    >>> planned_analyses(AreaConfig(treated_area="A"))
    [('whole_area', 'emergency_admission', 'all')]
    >>> [a for a, _, _ in planned_analyses(AreaConfig(treated_area="A", methods=["sdid", "its"]))]
    ['whole_area', 'whole_area_sdid', 'whole_area_its']
    """
    plan = [("whole_area", config.outcome, "all")]
    if "methods" in config.model_fields_set:
        plan += [(f"whole_area_{m}", config.outcome, "all") for m in config.methods]
    return plan


def _record_plan(out: StageOutput, config: AreaConfig, messages: list[str]) -> None:
    """The fate of every planned area analysis, with the run's own message as the reason when one failed."""
    eff = out.tables.get("area_effects")
    produced = set(eff["method"]) if eff is not None else set()
    for analysis, outcome, subgroup in planned_analyses(config):
        method = analysis.removeprefix("whole_area_") if analysis != "whole_area" else None
        if (method is None and produced) or method in produced:
            out.analysis(analysis, outcome, "ok", subgroup=subgroup)
            continue
        label = METHOD_LABELS.get(method or "", "").lower()
        said = next((m for m in messages if label and m.lower().startswith(label)), "no estimate was produced")
        # the reason without the design's name ("only 24 comparison areas (at least 30 needed)")
        reason = said.split(": ", 1)[1] if label and ": " in said and said.lower().startswith(label) else said
        out.analysis(analysis, outcome, "failed", reason, subgroup=subgroup)


def _run(out: StageOutput, population, activity, practices, area_panel, cfg: AreaConfig, ws, we, seed, file) -> None:
    panel, go, live_share = prepare_panel(population, activity, practices, area_panel, cfg, window_start=ws,
                                          window_end=we, file=file)
    treated = cfg.treated_area
    support = design_support(population=population, practices=practices, window=(ws, we), area_panel=panel,
                             treated_area=treated, go_live=go, min_pre_months=cfg.min_pre_months,
                             min_donors=cfg.min_donors)
    labels = {"matched_cohort": "Matched people (difference-in-differences)",
              "practice_rollout": "Practice roll-out (difference-in-differences)",
              "interrupted_time_series": "Interrupted time series (the area against its own past)",
              "synthetic_comparison_areas": "Synthetic control / synthetic DiD (against other areas)"}
    out.tables["area_design_support"] = support.assign(design=support["design"].map(labels).fillna(support["design"]),
                                                       supported=support["supported"].map({True: "yes", False: "no"}))
    out.table_meta["area_design_support"] = TableMeta(
        title="Which evaluation designs these data support",
        caption="Matching needs people who were not enrolled; the practice roll-out needs practices not yet live"
                " or staggered dates; whole-area designs need enough months before go-live and, to compare with"
                " other areas, enough comparison areas.")
    sup = dict(zip(support["design"], support["supported"]))
    other_treated = sorted(set(panel.loc[panel["go_live_date"].notna() & (panel["area_id"] != treated),
                                         "area_id"]))
    donors = sorted(set(panel["area_id"]) - {treated} - set(other_treated))
    months = sorted(panel["month"].unique())
    n_pre = int(sum(m < go for m in months))
    n_post = int(len(months) - n_pre)
    tr = panel[panel["area_id"] == treated].sort_values("month")
    obs_post = float(tr.loc[tr["month"] >= go, "rate"].mean())
    facts: dict[str, Any] = {"treated_area": treated, "outcome": cfg.outcome, "go_live": str(go.date()),
                             "n_donors": len(donors), "n_other_treated_areas": len(other_treated),
                             "n_months": len(months), "n_pre_months": n_pre, "n_post_months": n_post,
                             "first_month": str(pd.Timestamp(months[0]).date()),
                             "last_month": str(pd.Timestamp(months[-1]).date()),
                             "observed_post_rate_per_1000py": obs_post, "phased": live_share is not None,
                             "design_support": {d: bool(s) for d, s in sup.items()},
                             "min_pre_months": cfg.min_pre_months, "min_donors": cfg.min_donors,
                             "person_level_data": population is not None}
    comparison_ok = bool(sup.get("synthetic_comparison_areas"))
    its_ok = bool(sup.get("interrupted_time_series"))
    rows: list[dict[str, Any]] = []
    traj = [pd.DataFrame({"time": tr["month"].to_numpy(), "method": "Observed", "rate": tr["rate"].to_numpy()})]
    weights_rows: list[pd.DataFrame] = []
    sens_rows: list[dict[str, Any]] = []
    first_treated = {treated: go}
    for a in other_treated:
        first_treated[a] = pd.Timestamp(panel.loc[panel["area_id"] == a, "go_live_date"].iloc[0]).to_period(
            "M").to_timestamp()
    rng = np.random.default_rng(seed)
    sd_seed = int(rng.integers(0, 2**31 - 1))
    base = {"n_units": len(donors) + 1 + len(other_treated)}
    scale = cfg.scale
    if scale == "log" and comparison_ok and (panel["events"] <= 0).any():
        zero = panel[panel["events"] <= 0]
        warnings.warn(f"{len(zero)} area-months have no events (e.g. {zero['area_id'].iloc[0]},"
                      f" {pd.Timestamp(zero['month'].iloc[0]).date()}): the comparison-area designs use the rate per"
                      " 1,000 person-years instead of its log; their intervals may be too narrow when the evaluated"
                      " area's rate is far from the comparison areas'", EstimationWarning, stacklevel=2)
        scale = "rate"
    ycol = "log_rate" if scale == "log" else "rate"
    to_rate = (lambda v: 1000 * np.exp(v)) if scale == "log" else (lambda v: v)
    facts["effect_scale"] = scale
    if comparison_ok:
        rng_out = _outside_range(panel, ycol, treated, donors, go)
        facts.update({"pre_months_above_all_donors": rng_out["months_above_all"],
                      "pre_months_below_all_donors": rng_out["months_below_all"],
                      "pre_share_outside_donors": rng_out["share_outside"], "outside_side": rng_out["side"]})
        outside = rng_out["share_outside"] >= 0.5
        facts["outside_donor_range"] = bool(outside)
        if outside and any(m in cfg.methods for m in ("synthetic_control",)):
            warnings.warn(f"synthetic control: before go-live {treated} was {rng_out['side']} every comparison area"
                          f" in {max(rng_out['months_above_all'], rng_out['months_below_all'])} of"
                          f" {rng_out['n_pre_months']} months, so no weighted average of them can match its level;"
                          " the synthetic control estimate is biased and is shown for comparison only"
                          + ("; augmented synthetic control corrects for this" if "ascm" in cfg.methods else ""),
                          EstimationWarning, stacklevel=2)
    for m, key in (("sdid", "sdid"), ("synthetic_control", "sc"), ("did", "did")):
        if m not in cfg.methods:
            continue
        if not comparison_ok:
            warnings.warn(f"{METHOD_LABELS[m]} not run: {_reason(support, 'synthetic_comparison_areas')}",
                          EstimationWarning, stacklevel=2)
            continue
        try:
            r = synthdid(panel, ycol, "area_id", "month", first_treated, method=key, se="placebo",
                         replications=cfg.placebo_replications, seed=sd_seed, alpha=cfg.alpha,
                         interval=cfg.placebo_interval)
        except EstimationError as exc:
            warnings.warn(f"{METHOD_LABELS[m]} not estimated: {exc}", EstimationWarning, stacklevel=2)
            continue
        inf = r.se_method + (f", t with {r.df:.0f} df" if np.isfinite(r.df) else "")
        rows.append({"method": m, **_effect_row(scale, obs_post, r.estimate, r.std_error, r.ci_lower, r.ci_upper),
                     "p_value": r.p_value, "pre_rmspe": r.pre_rmspe, "inference": inf, "scale": scale, **base})
        t = r.trajectory if "cohort" not in r.trajectory else r.trajectory[r.trajectory["cohort"] == go]
        traj.append(pd.DataFrame({"time": t["time"].to_numpy(), "method": METHOD_LABELS[m],
                                  "rate": to_rate(t["counterfactual"].to_numpy())}))
        uw = r.unit_weights if "cohort" not in r.unit_weights else r.unit_weights[r.unit_weights["cohort"] == go]
        weights_rows.append(pd.DataFrame({"method": METHOD_LABELS[m], "area_id": uw["unit"].astype(str),
                                          "weight": uw["weight"]}))
        facts["placebo_df"] = r.df
        if m == "sdid":
            out.objects["sdid"] = r
            pl = r.placebo
            out.tables["area_placebo"] = pd.DataFrame({
                "method": "sdid", "placebo_areas": pl["placebo_units"], "estimate": pl["estimate"],
                "percent_change": 100 * np.expm1(pl["estimate"]) if scale == "log" else np.nan})
    if "ascm" in cfg.methods and comparison_ok:
        _ascm(out, panel, cfg, treated, donors, go, scale, obs_post, base, rows, traj, weights_rows, facts, to_rate,
              ycol)
    elif "ascm" in cfg.methods:
        warnings.warn(f"{METHOD_LABELS['ascm']} not run: {_reason(support, 'synthetic_comparison_areas')}",
                      EstimationWarning, stacklevel=2)
    if "synthetic_control" in cfg.methods and comparison_ok and not other_treated:
        try:
            P = None
            if cfg.predictors:
                P = panel[panel["month"] < go].groupby("area_id")[list(cfg.predictors)].mean()
            sc = synthetic_control(panel[panel["area_id"].isin(donors + [treated])], ycol, "area_id", "month",
                                   treated, go, predictors=P, alpha=cfg.alpha)
            rows.append({"method": "synthetic_control_adh",
                         **_effect_row(scale, obs_post, sc.estimate, sc.std_error, sc.ci_lower, sc.ci_upper),
                         "p_value": sc.p_value_rmspe_ratio, "pre_rmspe": sc.pre_rmspe,
                         "inference": f"in-space placebos ({len(sc.placebos)} donor areas)", "scale": scale, **base})
            facts["adh_placebo_p_rmspe_ratio"] = sc.p_value_rmspe_ratio
            facts["adh_placebo_p_effect"] = sc.p_value_effect
            out.tables["area_adh_placebos"] = sc.placebos
            out.table_meta["area_adh_placebos"] = TableMeta(
                title="Synthetic control with predictors: each donor area as a placebo",
                caption="Pre- and post-go-live root mean squared prediction error (RMSPE) and average gap ("
                        + ("log rate" if scale == "log" else "per 1,000 person-years")
                        + ") when each donor area is treated as if it had gone live.",
                appendix=True)
            out.tables["area_predictor_balance"] = sc.predictors.rename(columns={"treated": "evaluated_area"})
            out.table_meta["area_predictor_balance"] = TableMeta(
                title="Synthetic control with predictors: predictor balance", appendix=True,
                caption="The evaluated area, its synthetic comparison and the donor average; v = the weight each"
                        " predictor received.")
            for _, rr_ in sc.leave_one_out.iterrows():
                sens_rows.append({"analysis": "leave_one_donor_out", "method": "synthetic_control_adh",
                                  "variant": f"without {rr_['dropped']}", "estimate": rr_["estimate"],
                                  "pre_rmspe": rr_["pre_rmspe"]})
            out.figures["area_gaps"] = FigureSpec(
                plot=gap_plot(sc.gaps, ylab="Gap (log rate)" if scale == "log" else "Gap (per 1,000 person-years)"),
                title="Gap between each area and its synthetic comparison",
                alt="Lines showing, for the evaluated area and each donor area, the difference between its rate"
                    " and its synthetic comparison before and after go-live.", appendix=True)
        except EstimationError as exc:
            warnings.warn(f"synthetic control with predictors not estimated: {exc}", EstimationWarning,
                          stacklevel=2)
    its_res = None
    if "its" in cfg.methods:
        if not its_ok:
            warnings.warn(f"interrupted time series not run: {_reason(support, 'interrupted_time_series')}",
                          EstimationWarning, stacklevel=2)
        else:
            its_res = _its(panel, tr, go, live_share, donors, cfg)
    if its_res is not None:
        for name in ("average_post",):
            e = its_res.effect(name)
            d = its_res.effect("difference_per_1000py")
            inf = {"ar1": "latent AR(1) rate, REML, t with {df:.1f} Satterthwaite df",
                   "newey_west": "Newey-West", "model": "model-based"}[its_res.errors].format(df=e["df"])
            rows.append({"method": "its", "estimate": d["estimate"], "std_error": d["std_error"],
                         "ci_lower": d["ci_lower"], "ci_upper": d["ci_upper"], "p_value": e["p_value"],
                         "rate_ratio": e["estimate"], "rr_lower": e["ci_lower"], "rr_upper": e["ci_upper"],
                         "log_rate_ratio": float(np.log(e["estimate"])), "log_std_error": e["std_error"],
                         "pre_rmspe": float("nan"), "inference": inf, "scale": "log", "n_units": 1})
        s = its_res.series[its_res.series["series"] == "treated"]
        traj.append(pd.DataFrame({"time": s["time"].to_numpy(), "method": METHOD_LABELS["its"],
                                  "rate": s["counterfactual_rate_per_1000py"].to_numpy()}))
        out.tables["area_its_coefficients"] = its_res.coefficients
        out.table_meta["area_its_coefficients"] = TableMeta(
            title="Interrupted time series: model coefficients", appendix=True,
            caption="Log-scale estimates with rate ratios; level_change and slope_change are the programme terms.")
        out.tables["area_its_effects"] = its_res.effects
        out.table_meta["area_its_effects"] = TableMeta(
            title="Interrupted time series: effect measures", appendix=True,
            caption="Level change and slope change (per year) as rate ratios, the average post-go-live rate ratio"
                    " and the difference per 1,000 person-years.")
        dg = its_res.diagnostics
        facts.update({"its_family": its_res.family, "its_errors": its_res.errors,
                      "its_comparative": its_res.comparative,
                      "its_ar1_rho": dg.get("ar1_rho"), "its_df": its_res.effect("average_post")["df"],
                      "its_dispersion": dg["dispersion"], "its_ljung_box_p": dg["ljung_box_p"],
                      "its_acf1": dg["acf1"], "its_level_change_rr": its_res.effect("level_change")["estimate"]
                      if "level" in its_res.impact else None,
                      "its_notes": list(its_res.notes)})
        out.figures["area_its"] = FigureSpec(
            plot=its_plot(its_res.series), title="Interrupted time series: observed and expected rates",
            alt="Monthly rate per 1,000 person-years in the evaluated area with the fitted model and the rate"
                " expected without the programme after go-live.")
        out.objects["its"] = its_res
    if not rows:
        raise EstimationError("no whole-area design could be run: " + "; ".join(
            f"{d}: {r}" for d, s, r in support.itertuples(index=False) if not s and d in (
                "interrupted_time_series", "synthetic_comparison_areas")))
    eff = pd.DataFrame(rows)
    headline, why = _choose_headline(cfg, eff, comparison_ok, its_ok, bool(facts.get("outside_donor_range")))
    eff["headline"] = eff["method"] == headline
    out.tables["area_effects"] = eff
    out.table_meta["area_effects"] = TableMeta(
        title=f"Whole-area effect on {cfg.outcome.replace('_', ' ')}s by design",
        caption="Difference per 1,000 person-years (negative = fewer) with its 95% interval, and the rate ratio"
                " (observed / expected without the programme). Synthetic DiD, augmented synthetic control, synthetic"
                " control and DiD intervals"
                " come from placebo re-assignments of the comparison areas; the interrupted time series from the"
                " count model.")
    h = eff[eff["headline"]].iloc[0]
    facts.update({"headline_method": headline, "headline_reason": why, "estimate_per_1000py": h["estimate"],
                  "ci_per_1000py": [h["ci_lower"], h["ci_upper"]], "rate_ratio": h["rate_ratio"],
                  "rate_ratio_ci": [h["rr_lower"], h["rr_upper"]], "p_value": h["p_value"],
                  "pre_rmspe": h["pre_rmspe"], "methods_run": list(eff["method"])})
    for _, r_ in eff.iterrows():
        facts[f"{r_['method']}_rate_ratio"] = r_["rate_ratio"]
        facts[f"{r_['method']}_rate_ratio_ci"] = [r_["rr_lower"], r_["rr_upper"]]
        facts[f"{r_['method']}_per_1000py"] = r_["estimate"]
    out.tables["effects_area"] = pd.DataFrame({
        "analysis": "whole_area", "outcome": cfg.outcome, "subgroup": "all", "estimate": eff["estimate"],
        "std_error": eff["std_error"], "ci_lower": eff["ci_lower"], "ci_upper": eff["ci_upper"],
        "p_value": eff["p_value"], "scale": "difference_per_1000py", "method": eff["method"],
        "n_units": eff["n_units"], "n_clusters": np.nan})
    out.table_meta["effects_area"] = TableMeta(title="Whole-area headline estimates", publish=False)
    # series table: observed events and person-years with each counterfactual rate
    tj = pd.concat(traj, ignore_index=True)
    wide = tj.pivot_table(index="time", columns="method", values="rate", aggfunc="first")
    ser = tr[["month", "events", "person_years", "rate"]].rename(columns={"rate": "observed_rate_per_1000py"})
    for m in wide.columns:
        if m != "Observed":
            col = "expected_rate_" + [k for k, v in METHOD_LABELS.items() if v == m][0]
            ser[col] = ser["month"].map(wide[m])
    ser["post"] = ser["month"] >= go
    if live_share is not None:
        ser["live_share"] = ser["month"].map(live_share).fillna(0.0)
    ser["month"] = pd.to_datetime(ser["month"]).dt.strftime("%Y-%m-%d")
    out.tables["area_series"] = ser.reset_index(drop=True)
    out.table_meta["area_series"] = TableMeta(
        title="Evaluated area: monthly events, person-years and rates, observed and expected",
        caption="Expected rates are each design's estimate of the rate without the programme.",
        count_columns=("events",), derived_columns=(("observed_rate_per_1000py", "events"),), appendix=True)
    summ = panel.assign(post=panel["month"] >= go).groupby(["area_id", "post"]).agg(
        events=("events", "sum"), person_years=("person_years", "sum")).reset_index()
    summ["rate_per_1000py"] = 1000 * summ["events"] / summ["person_years"]
    summ["period"] = np.where(summ["post"], "after go-live", "before go-live")
    summ["role"] = np.where(summ["area_id"] == treated, "evaluated",
                            np.where(summ["area_id"].isin(other_treated), "other treated", "comparison"))
    out.tables["area_panel_summary"] = summ[["area_id", "role", "period", "events", "person_years",
                                             "rate_per_1000py"]]
    out.table_meta["area_panel_summary"] = TableMeta(
        title="Areas in the analysis: events and rates before and after go-live", appendix=True,
        count_columns=("events",), derived_columns=(("rate_per_1000py", "events"),))
    if weights_rows:
        W = pd.concat(weights_rows, ignore_index=True)
        out.tables["area_weights"] = W
        out.table_meta["area_weights"] = TableMeta(
            title="Comparison-area weights", appendix=True,
            caption="How much each comparison area contributes to the evaluated area's expected rate.")
        if "Synthetic difference-in-differences" in set(W["method"]) or "Synthetic control" in set(W["method"]):
            out.figures["area_weights"] = FigureSpec(
                plot=donor_weights_plot(W[W["method"] != METHOD_LABELS["did"]]), title="Comparison-area weights",
                alt="Bar chart of the weight each comparison area carries in the synthetic comparisons.",
                appendix=True)
    if "area_placebo" in out.tables:
        out.table_meta["area_placebo"] = TableMeta(
            title="Synthetic DiD placebo estimates", appendix=True,
            caption="Each row re-assigns comparison areas as if they had gone live; their spread gives the"
                    " interval.")
        srow = eff[eff["method"] == "sdid"].iloc[0]
        if scale == "log":
            pplot = placebo_plot(out.tables["area_placebo"], 100 * np.expm1(float(srow["log_rate_ratio"])),
                                 label="percent_change", xlab="Placebo effect (% change in the rate)")
        else:
            pplot = placebo_plot(out.tables["area_placebo"], float(srow["estimate"]))
        out.figures["area_placebo"] = FigureSpec(
            plot=pplot,
            title="The evaluated area's effect against placebo effects in comparison areas",
            alt="Histogram of placebo effects for comparison areas with the evaluated area's estimate marked.")
    out.figures["area_counterfactual"] = FigureSpec(
        plot=observed_vs_counterfactual_plot(tj, go), title=f"{treated}: observed rate and expected without the"
                                                            " programme",
        alt="Monthly rate per 1,000 person-years in the evaluated area with each design's expected rate without"
            " the programme; the dotted line marks go-live.")
    if sens_rows:
        out.tables["area_sensitivity"] = pd.DataFrame(sens_rows)
        out.table_meta["area_sensitivity"] = TableMeta(
            title="Whole-area sensitivity: leaving out each comparison area", appendix=True,
            caption="Synthetic control with predictors re-fitted without each comparison area that had weight.")
        facts["leave_one_out_range"] = [float(pd.DataFrame(sens_rows)["estimate"].min()),
                                        float(pd.DataFrame(sens_rows)["estimate"].max())]
    out.facts.update({k: _jsonable(v) for k, v in facts.items()})
    out.objects["panel"] = panel


def _reason(support: pd.DataFrame, design: str) -> str:
    r = support.loc[support["design"] == design, "reason"]
    return str(r.iloc[0]) if len(r) else "not supported"


def _ascm(out: StageOutput, panel: pd.DataFrame, cfg: AreaConfig, treated: str, donors: list[str],
          go: pd.Timestamp, scale: str, obs_post: float, base: dict[str, Any], rows: list[dict[str, Any]],
          traj: list[pd.DataFrame], weights_rows: list[pd.DataFrame], facts: dict[str, Any], to_rate: Any,
          ycol: str) -> None:
    """Ridge-augmented synthetic control against the never-treated comparison areas (other treated areas out)."""
    try:
        r = augmented_synthetic_control(panel[panel["area_id"].isin(donors + [treated])], ycol, "area_id", "month",
                                        treated, go, fixed_effects=cfg.ascm_fixed_effects,
                                        interval=cfg.placebo_interval, alpha=cfg.alpha)
    except (EstimationError, DataValidationError) as exc:
        warnings.warn(f"{METHOD_LABELS['ascm']} not estimated: {exc}", EstimationWarning, stacklevel=3)
        return
    inf = r.se_method + (f", t with {r.df:.0f} df" if np.isfinite(r.df) else "") + f"; ridge lambda {r.lam:.3g}"
    rows.append({"method": "ascm", **_effect_row(scale, obs_post, r.estimate, r.std_error, r.ci_lower, r.ci_upper),
                 "p_value": r.p_value, "pre_rmspe": r.pre_rmspe, "inference": inf, "scale": scale, **base})
    t = r.trajectory
    traj.append(pd.DataFrame({"time": t["time"].to_numpy(), "method": METHOD_LABELS["ascm"],
                              "rate": to_rate(t["synthetic"].to_numpy())}))
    weights_rows.append(pd.DataFrame({"method": METHOD_LABELS["ascm"], "area_id": r.weights["area_id"].astype(str),
                                      "weight": r.weights["weight"]}))
    facts.update({"ascm_lambda": r.lam, "ascm_sc_estimate": r.sc_estimate,
                  "ascm_bias_correction": r.estimate - r.sc_estimate, "ascm_pre_rmspe": r.pre_rmspe,
                  "ascm_sc_pre_rmspe": r.sc_pre_rmspe, "ascm_fixed_effects": r.fixed_effects,
                  "ascm_negative_weights": int((r.weights["weight"] < -1e-6).sum())})
    out.objects["ascm"] = r


def _choose_headline(cfg: AreaConfig, eff: pd.DataFrame, comparison_ok: bool, its_ok: bool,
                     outside: bool = False) -> tuple[str, str]:
    ran = list(eff["method"])
    if cfg.headline != "auto":
        if cfg.headline in ran:
            return cfg.headline, "chosen in the analysis plan"
        warnings.warn(f"the planned headline design {cfg.headline!r} did not run; using another",
                      EstimationWarning, stacklevel=2)
    if "sdid" in ran:
        return "sdid", ("there are enough comparison areas and months before go-live, so the evaluated area is"
                        " compared with a weighted set of comparison areas that tracked it before go-live")
    if "ascm" in ran:
        return "ascm", ("there are enough comparison areas and months before go-live; augmented synthetic control"
                        " weights the comparison areas to track the area before go-live and corrects the remaining"
                        " gap" + (", which matters here because the area's rate lay outside the comparison"
                                  " areas' range" if outside else ""))
    if "its" in ran:
        return "its", ("there are too few comparison areas, so the evaluated area is compared with its own trend"
                       " and seasonal pattern before go-live" if not comparison_ok else
                       "the comparison-area designs could not be estimated")
    usable = [m for m in ran if not (outside and m.startswith("synthetic_control"))] or ran
    return usable[0], "the only design that could be estimated"


def _its(panel: pd.DataFrame, tr: pd.DataFrame, go: pd.Timestamp, live_share: pd.Series | None,
         donors: list[str], cfg: AreaConfig):
    c = cfg.its
    d = tr[["month", "events", "person_years"]].copy()
    d["live"] = (d["month"].map(live_share).fillna(0.0).clip(0, 1) if live_share is not None
                 else (d["month"] >= go).astype(float))
    group = None
    errors = c.errors
    if c.control_series and donors:
        ctl = panel[panel["area_id"].isin(donors)].groupby("month", as_index=False)[["events", "person_years"]].sum()
        ctl["live"] = d.set_index("month")["live"].reindex(ctl["month"]).to_numpy()
        d = pd.concat([d.assign(series="treated"), ctl.assign(series="control")], ignore_index=True)
        group = "series"
    try:
        return interrupted_time_series(d, events="events", exposure="person_years", time="month",
                                       intervention="live", group=group, family=c.family, impact=c.impact,
                                       seasonality=c.seasonality, harmonics=c.harmonics, errors=errors,
                                       hac_lags=c.hac_lags, lag_periods=c.lag_months, alpha=cfg.alpha)
    except (EstimationError, DataValidationError) as exc:
        warnings.warn(f"interrupted time series not estimated: {exc}", EstimationWarning, stacklevel=2)
        return None
