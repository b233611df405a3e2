"""Pipeline stage: matched-cohort DiD for every configured outcome (section ``effects``).

Examples
--------
>>> from evaltool.effects.matched import simulate_matched_cohort
>>> from evaltool.effects.matched_config import MatchedDidConfig
>>> coh, act, pop = simulate_matched_cohort(300, seed=3)
>>> out = run_stage(coh, pop, act, MatchedDidConfig(outcomes=("emergency_admission",)), seed=1)
>>> sorted(out.tables)[:2]
['effects_matched', 'event_study']
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from evaltool import figure_workers
from evaltool.effects.matched import CLUSTER_ALIASES, MatchedDidResult, add_age_band, matched_did
from evaltool.effects.matched_config import MatchedDidConfig
from evaltool.effects.panels import OutcomePanel, build_panel
from evaltool.errors import EstimationError, EvaltoolWarning
from evaltool.progress import StepFn, steps
from evaltool.runlog import one_line
from evaltool.stage import FigureSpec, StageOutput, TableMeta

__all__ = ["planned_analyses", "run_stage"]

#: Pre-trend magnitude statistics published per outcome as facts ``<outcome>.pretrend.<key>`` (see
#: :func:`evaltool.effects.pretrend.pretrend_assessment`; docs/architecture.md lists them).
PRETREND_FACTS = ("df", "n_pre_coefficients", "slope", "slope_se", "gap_months", "bias", "bias_ci_lower",
                  "bias_ci_upper", "margin", "equivalent", "bias_significant", "relative_to_effect",
                  "max_abs_deviation", "bias_ratio", "bias_ratio_ci_lower", "bias_ratio_ci_upper", "margin_ratio",
                  "max_abs_deviation_pct")

EFFECT_COLUMNS = ["analysis", "outcome", "subgroup", "estimate", "std_error", "ci_lower", "ci_upper", "p_value",
                  "scale", "method", "n_units", "n_clusters"]


def follow_up_table(cohort: pd.DataFrame, population: pd.DataFrame | None,
                    window_end: str | pd.Timestamp | None) -> pd.DataFrame:
    """How long each group could be followed after its index date: counts reaching 6, 12 and 24 months.

    Follow-up ends at the earliest of the window end, death, deregistration and a censor date.

    Examples
    --------
    >>> coh = pd.DataFrame({"person_id": ["a", "b"], "treated": [1, 0],
    ...                     "index_date": pd.to_datetime(["2024-01-01", "2024-01-01"])})
    >>> follow_up_table(coh, None, "2025-03-31")[["group", "n_people", "n_12m", "median_months"]].values.tolist()
    [['enrolled', 1, 1, 14.0], ['comparison', 1, 1, 14.0]]
    """
    c = cohort[[k for k in ("person_id", "treated", "index_date", "censor_date") if k in cohort.columns]].copy()
    c = c.drop_duplicates(["person_id", "treated", "index_date"])
    end = pd.Series(pd.Timestamp(window_end) if window_end is not None else c["index_date"].max(), index=c.index)
    if population is not None:
        pop = population.drop_duplicates("person_id").set_index("person_id")
        for col in ("death_date", "registration_end"):
            if col in pop.columns:
                end = end.where(~(c["person_id"].map(pop[col]) < end), c["person_id"].map(pop[col]))
    if "censor_date" in c.columns:
        end = end.where(~(c["censor_date"] < end), c["censor_date"])
    months = ((end - c["index_date"]).dt.days / 30.4375).clip(lower=0)
    rows = []
    for treated, name in ((1, "enrolled"), (0, "comparison")):
        m = months[c["treated"] == treated]
        if not len(m):
            continue
        rows.append({"group": name, "n_people": int(len(m)), "n_6m": int((m >= 6).sum()),
                     "n_12m": int((m >= 12).sum()), "n_24m": int((m >= 24).sum()),
                     "median_months": float(np.floor(m.median()))})
    return pd.DataFrame(rows, columns=["group", "n_people", "n_6m", "n_12m", "n_24m", "median_months"])


def _slug(level: str) -> str:
    """Fact-key form of a subgroup level: 'under 65' -> 'under_65', '65+' -> '65_plus'."""
    return str(level).replace("+", "_plus").replace(" ", "_").lower()


def planned_analyses(config: MatchedDidConfig) -> list[tuple[str, str, str]]:
    """The analyses the spec plans, as ``(analysis, outcome, subgroup)``; ``subgroup`` is ``"all"`` or a variable.

    Examples
    --------
    >>> planned_analyses(MatchedDidConfig(outcomes=("emergency_admission",), subgroups=("age_band",)))[:2]
    [('matched_did', 'emergency_admission', 'all'), ('naive_before_after', 'emergency_admission', 'all')]
    """
    out = []
    for o in config.outcomes:
        out += [("matched_did", o, "all"), ("naive_before_after", o, "all")]
        out += [("matched_did", o, g) for g in config.subgroups]
        if config.event_study:
            out.append(("event_study", o, "all"))
    return out


def _record_outcome(out: StageOutput, config: MatchedDidConfig, outcome: str, subgroups: list[str],
                    res: MatchedDidResult | None, error: str | None) -> None:
    """Events and per-analysis statuses for one outcome: every planned part ok, partial or failed."""
    plan = [(a, g) for a, o, g in planned_analyses(config) if o == outcome and (g == "all" or g in subgroups)]
    if res is None:
        out.event("estimate_failed", f"{outcome}: not estimated: {one_line(error or '')}", severity="error",
                  outcome=outcome, analysis="matched_did",
                  detail="every planned analysis of this outcome depends on the pooled model")
        for a, g in plan:
            out.analysis(a, outcome, "failed", one_line(error or ""), subgroup=g)
        return
    by_key: dict[tuple[str, str], list[str]] = {}
    for analysis, sub, reason in res.failures:
        var, _, level = sub.partition("=")
        by_key.setdefault((analysis, var), []).append(reason)
        what = {"matched_did": f"subgroup effect ({sub.replace('=', ' = ')})",
                "naive_before_after": f"naive before/after ({sub.replace('=', ' = ')})",
                "event_study": "event study"}.get(analysis, analysis)
        out.event("secondary_estimate_failed", f"{outcome}: {what} not estimated: {reason}", severity="error",
                  outcome=outcome, analysis=analysis, subgroup=sub,
                  detail="the pooled estimate was kept; only this part is missing")
    e = res.estimates
    for a, g in plan:
        reasons = by_key.get((a, g), [])
        if not reasons:
            out.analysis(a, outcome, "ok", subgroup=g)
            continue
        got_any = bool(len(e[(e["analysis"] == a) & (e["subgroup_var"] == g)])) if a != "event_study" else False
        out.analysis(a, outcome, "partial" if got_any else "failed", "; ".join(reasons), subgroup=g)


def fit_outcome(cohort: pd.DataFrame, outcome: str, panel: OutcomePanel, opts: dict,
                events: str | None) -> tuple[MatchedDidResult | None, str | None, list[str]]:
    """One outcome's matched DiD on the built panel: ``(result, None, warnings)``, or ``(None, why, warnings)``
    when it cannot be estimated; the warnings are the distinct evaltool warnings' messages, sorted.

    A plain function of plain data, so that it can run in a helper process (:func:`run_stage`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EvaltoolWarning)
        try:
            res, err = matched_did(cohort, None, None, outcome, panel=panel, events=events, **opts), None
        except EstimationError as e:
            res, err = None, str(e)
    return res, err, sorted({str(w.message) for w in caught if issubclass(w.category, EvaltoolWarning)})


def run_stage(
    cohort: pd.DataFrame,
    population: pd.DataFrame,
    activity: pd.DataFrame,
    config: MatchedDidConfig,
    *,
    seed: int,
    window_start: str | pd.Timestamp | None = None,
    window_end: str | pd.Timestamp | None = None,
    progress: StepFn | None = None,
) -> StageOutput:
    """Fit the matched DiD for each outcome; return tables, figures and facts for the bundle.

    ``progress(done, total, what)`` is called as each outcome is fitted.

    ``seed`` is accepted for the stage contract; the analytic fits use no randomness.
    An outcome whose fit fails, and any secondary analysis (a subgroup level, the naive comparison,
    the event study) that cannot be estimated, is recorded as an event and in ``out.analyses``
    (never silently blank); a secondary failure never removes the pooled estimate.
    ``window_start``/``window_end`` (the spec's study window) stop person-time outside the data.
    """
    del seed  # analytic: nothing random here
    out = StageOutput(section="effects")
    subgroups = list(config.subgroups)
    if "age_band" in subgroups and "age_band" not in cohort.columns and "age_at_index" in cohort.columns:
        cohort = add_age_band(cohort)
    for g in [s for s in subgroups if s not in cohort.columns]:
        out.event("subgroup_not_available", f"subgroup `{g}` is not a column of the matched cohort: its subgroup "
                  "effects were not estimated", subgroup=g, analysis="matched_did",
                  detail=f"the matched cohort has columns {', '.join(map(str, cohort.columns[:20]))}")
        for o in config.outcomes:
            out.analysis("matched_did", o, "failed", f"subgroup `{g}` is not a column of the matched cohort",
                         subgroup=g)
    subgroups = [s for s in subgroups if s in cohort.columns]
    defs = config.outcome_defs()
    outcomes = [o for o in config.outcomes if o in defs and (defs[o][0] == "count" or defs[o][0] in activity.columns)]
    for o in [o for o in config.outcomes if o not in outcomes]:
        why = (f"the activity table has no `{defs[o][0]}` column" if o in defs else
               "not a built-in outcome, and not defined under `coded_outcomes` in the spec")
        out.event("outcome_not_available", f"{o}: not estimated: {why}", severity="error", outcome=o,
                  analysis="matched_did")
        for analysis, planned_outcome, sub in planned_analyses(config):
            if planned_outcome == o:
                out.analysis(analysis, o, "failed", why, subgroup=sub)
    for g in subgroups:
        n_na = int(cohort[g].isna().sum())
        if n_na:
            out.event("subgroup_missing_values", f"subgroup `{g}` is missing for {n_na:,} matched-cohort rows: "
                      "analysed as level 'missing'", subgroup=g, counts={"rows": n_na})
    cluster_col = CLUSTER_ALIASES.get(config.cluster, config.cluster) if config.cluster else None
    keep = [c for c in [cluster_col, *subgroups] if c and c != "person_id"]
    panel = build_panel(cohort, activity, population, outcomes=outcomes, pre_months=config.pre_months,
                        post_months=config.post_months, keep=keep, window_start=window_start,
                        window_end=window_end, outcome_defs=defs)
    results: dict[str, MatchedDidResult] = {}
    failed: dict[str, str] = {}
    # The outcomes are fitted side by side: in the figure helpers and here (the same fits, in the same
    # order of arithmetic, wherever each runs); recorded below in the configured order.
    opts = dict(model=config.model, subgroups=subgroups, cluster=config.cluster, event_study=config.event_study,
                alpha=config.alpha)
    fits = dict(zip(outcomes, figure_workers.shared_map(
        fit_outcome, [(cohort, o, panel, opts, config.coded_words.get(o)) for o in outcomes],
        what="a matched-cohort outcome fit")))
    for o in steps(outcomes, progress, lambda o: config.coded_words.get(o) or o.replace("_", " ")):
        res, err, said = fits[o]
        if res is not None:
            results[o] = res
        else:  # one outcome failing must not hide the others
            failed[o] = err
        for msg in said:
            if not msg.startswith(tuple(f"subgroup `{g}` is missing" for g in subgroups)):
                out.event("estimation_warning", f"{o}: {msg}", outcome=o)
        _record_outcome(out, config, o, subgroups, results.get(o), failed.get(o))
    if not results:
        raise EstimationError("no outcome could be estimated: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))

    est = pd.concat([r.to_frame() for r in results.values()], ignore_index=True)
    did = est[est["analysis"] == "matched_did"].copy()
    naive = est[est["analysis"] == "naive_before_after"].copy()
    out.tables["effects_matched"] = did[EFFECT_COLUMNS + ["subgroup_var"]].reset_index(drop=True)
    out.table_meta["effects_matched"] = TableMeta(
        title="Matched difference-in-differences: rate ratios and differences per 1,000 person-years",
        caption=f"Poisson/NB/linear DiD with person and month fixed effects, {config.pre_months} months before and "
                f"{config.post_months} after the index date; 95% CIs clustered by {cluster_col}.", appendix=True,
        count_columns=("n_units", "n_clusters"))
    out.tables["naive_before_after"] = naive[EFFECT_COLUMNS + ["subgroup_var"]].reset_index(drop=True)
    out.table_meta["naive_before_after"] = TableMeta(
        title="Naive before/after change among enrolled patients (biased by regression to the mean)",
        caption="Shown only to illustrate the regression-to-the-mean artefact the matched design removes.",
        appendix=True, count_columns=("n_units", "n_clusters"))
    es = pd.concat([r.event_study for r in results.values()], ignore_index=True)
    out.tables["event_study"] = es
    out.table_meta["event_study"] = TableMeta(title="Event study: effect by month relative to index", appendix=True)
    tests = pd.concat([r.subgroup_tests for r in results.values()], ignore_index=True)
    out.tables["subgroup_tests"] = tests
    out.table_meta["subgroup_tests"] = TableMeta(title="Do effects differ between subgroups? (Wald tests)")
    pt = pd.DataFrame([{"outcome": o, "p_value": r.pretrend_test.get("p_value"), "df": r.pretrend_test.get("df"),
                        **{k: r.pretrend_test.get(k) for k in PRETREND_FACTS}}
                       for o, r in results.items() if r.pretrend_test])
    if not pt.empty:
        out.tables["pretrend_assessment"] = pt
        out.table_meta["pretrend_assessment"] = TableMeta(
            title="How large is the pre-period divergence? Parallel-trends check by magnitude",
            caption="A line through the pre-period event-study estimates (each month against month -1; generalised "
                    "least squares with their covariance); `bias_ratio` is the factor by which the rate ratio would "
                    "be off if that trend continued over the gap between the mean pre- and post-period months, with "
                    "its 95% interval; `equivalent` = the whole interval lies within the margin (5% or a quarter of "
                    "the estimated effect, whichever is larger); `p_value` = joint test of the pre-period estimates.",
            appendix=True)
    rates = pd.concat([r.rates for r in results.values()], ignore_index=True)
    out.tables["outcome_rates"] = rates
    out.table_meta["outcome_rates"] = TableMeta(
        title="Outcome rates by group and period", count_columns=("events",),
        derived_columns=(("rate_per_1000py", "events"),), appendix=True)

    out.tables["follow_up"] = follow_up_table(cohort, population, window_end)
    out.table_meta["follow_up"] = TableMeta(
        title="How long people could be followed after enrolment",
        caption="People whose follow-up (to the end of the data, death or leaving the practice) reached 6, 12 and 24 "
                "months, and the median in whole months.",
        count_columns=("n_people", "n_6m", "n_12m", "n_24m"), appendix=True)

    head = "emergency_admission" if "emergency_admission" in results else next(iter(results))
    r0 = results[head]
    out.figures["forest_plot"] = FigureSpec(
        plot=r0.plot(), title=f"Effect on {head.replace('_', ' ')} by subgroup",
        alt=f"Forest plot of rate ratios with 95% confidence intervals for {head.replace('_', ' ')}, overall and "
            "by subgroup, with the naive before/after change for enrolled patients beside each.")
    if config.event_study and not r0.event_study.empty:
        out.figures["event_study"] = FigureSpec(
            plot=r0.plot_event_study(), title=f"{head.replace('_', ' ').capitalize()}: effect by month",
            alt="Rate ratio by month relative to the index date with 95% confidence intervals; "
                "months before the index test the parallel-trends assumption.")
    facts: dict[str, object] = {"follow_up_months": config.post_months, "pre_months": config.pre_months,
                                "model": config.model, "cluster": cluster_col,
                                "n_people": int(r0.info["n_people"]), "failed_outcomes": failed}
    for o, r in results.items():
        e = r.estimates
        for _, row in e[e["scale"] == "rate_ratio"].iterrows():
            key = f"{o}.{'did' if row['analysis'] == 'matched_did' else 'naive'}.{_slug(row['subgroup'])}"
            facts[f"{key}.rate_ratio"] = float(row["estimate"])
            facts[f"{key}.ci_lower"] = float(row["ci_lower"])
            facts[f"{key}.ci_upper"] = float(row["ci_upper"])
            facts[f"{key}.p_value"] = float(row["p_value"])
        for _, row in e[e["scale"] == "difference_per_1000py"].iterrows():
            key = f"{o}.{'did' if row['analysis'] == 'matched_did' else 'naive'}.{_slug(row['subgroup'])}"
            facts[f"{key}.difference_per_1000py"] = float(row["estimate"])
        if r.pretrend_test:
            facts[f"{o}.pretrend_p_value"] = float(r.pretrend_test["p_value"])
            for k in PRETREND_FACTS:
                if k in r.pretrend_test:
                    v = r.pretrend_test[k]
                    facts[f"{o}.pretrend.{k}"] = v if v is None or isinstance(v, bool) else float(v)
            facts[f"{o}.pretrend.scale"] = "rate_ratio" if r.model == "poisson" else "difference"
        n_rr = e[(e.analysis == "naive_before_after") & (e.subgroup == "all") & (e.scale == "rate_ratio")]
        facts[f"{o}.naive_change_pct"] = float(100 * (n_rr["estimate"].iloc[0] - 1))
    out.facts = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in facts.items()}
    out.objects["matched_did"] = results
    out.objects["outcome_panel"] = panel
    return out
