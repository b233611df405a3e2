"""The matching stage of the pipeline: risk-set matching, balance tables, figures and facts."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaltool.progress import StepFn
from evaltool.stage import DataFigure, FigureSpec, StageOutput, TableMeta

from .balance import distance_histograms
from .config import MatchingConfig
from .pre_trajectory import pre_trajectory
from .riskset import parse_activity_covariates, risk_set_match

__all__ = ["run_stage", "trajectory_plot", "trajectory_settings"]


def trajectory_settings(config: MatchingConfig, pre_months: int | None = None) -> dict:
    """The ``trajectory*`` arguments of :func:`risk_set_match` implied by the spec.

    Profiled outcomes default to the measures of the look-back covariates (the outcomes matched on);
    the profile length to the DiD's pre-period.

    Examples
    --------
    >>> trajectory_settings(MatchingConfig(), pre_months=12)["trajectory"]
    ['emergency_admission', 'ae_attendance', 'bed_days']
    >>> trajectory_settings(MatchingConfig(trajectory=None))
    {}
    """
    tc = config.trajectory
    if tc is None:
        return {}
    outcomes = list(tc.outcomes) if tc.outcomes is not None else list(dict.fromkeys(
        ms for ms, _, _ in parse_activity_covariates(config.covariates).values()))
    if not outcomes:
        return {}
    return {"trajectory": outcomes, "trajectory_months": tc.months or pre_months or 12,
            "trajectory_monthly": tc.monthly, "trajectory_match": tc.match_on,
            "trajectory_thresholds": list(tc.thresholds)}


def trajectory_plot(traj: pd.DataFrame):
    """Emergency admissions per 1,000 per month around the index date, treated vs matched controls.

    Examples
    --------
    >>> t = pd.DataFrame({"month_relative": [-1, 0, -1, 0], "group": ["treated"] * 2 + ["matched controls"] * 2,
    ...                   "rate_per_1000": [90.0, 40, 85, 42], "n_people": [10] * 4})
    >>> p = trajectory_plot(t)
    """
    from plotnine import aes, geom_line, geom_point, geom_vline, ggplot, labs, scale_color_manual

    from evaltool.plotting import PALETTE, theme_evaltool

    t = traj.copy()
    t["group"] = pd.Categorical(t["group"], categories=["treated", "matched controls"])
    return (
        ggplot(t, aes("month_relative", "rate_per_1000", color="group"))
        + geom_vline(xintercept=-0.5, linetype="dashed", color="#768692")
        + geom_line(size=0.9)
        + geom_point(size=1.2)
        + scale_color_manual(values=[PALETTE[0], PALETTE[1]])
        + labs(x="Months relative to the index month (0 = index month)",
               y="Emergency admissions per 1,000 per month", color="")
        + theme_evaltool()
    )


def _distance_frame(res) -> pd.DataFrame | None:
    """The matching result's distance, treatment and weight per unit (None without a scalar distance)."""
    d = getattr(res, "_distance", None)
    ok = isinstance(d, pd.DataFrame) and len(d) and {"distance", "treated", "weights"} <= set(d.columns)
    return d if ok and np.isfinite(pd.to_numeric(d["distance"], errors="coerce")).any() else None


def ps_bins(distance: np.ndarray, treat: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    """People per band of the distance, by group, before and after matching (the data of the PS figure).

    ``n`` is the (weighted, after matching) number of people in the band, ``pct`` their percentage of the
    group; the report draws the figure from these after disclosure control.

    Examples
    --------
    >>> ps_bins(np.array([0.2, 0.4, 0.3, 0.6]), np.array([1, 0, 1, 0]), np.array([1, 1, 1, 0.0])).shape
    (120, 5)
    """
    edges, hists = distance_histograms(distance, treat, weights)
    band = [f"{x:.2f}" for x in (edges[:-1] + edges[1:]) / 2]
    return pd.concat([pd.DataFrame({"sample": sample, "group": name, "band": band, "n": h,
                                    "pct": 100 * h / h.sum() if h.sum() > 0 else h * 0.0})
                      for sample, name, h in hists], ignore_index=True)


def run_stage(
    population: pd.DataFrame,
    activity: pd.DataFrame,
    practices: pd.DataFrame | None,
    config: MatchingConfig,
    *,
    window_start: pd.Timestamp | str,
    window_end: pd.Timestamp | str,
    seed: int,
    pre_months: int | None = None,
    progress: StepFn | None = None,
    period_covariates: Any = None,
) -> StageOutput:
    """Run risk-set matching and return tables, figures, facts and the matched cohort.

    ``pre_months`` (the effects section's pre-period) sets the default length of the matched profile.
    ``period_covariates``: covariates measured as of each risk set (comorbidity scores from prior
    diagnoses), passed to :func:`evaltool.matching.riskset.risk_set_match`.
    ``progress(done, total, what)`` is called as each enrolment month's risk set is matched.

    Examples
    --------
    >>> out = run_stage(pop, act, practices, MatchingConfig(), window_start="2021-04-01",
    ...                 window_end="2025-03-31", seed=1)  # doctest: +SKIP
    >>> out.objects["matched_cohort"].columns[:4].tolist()  # doctest: +SKIP
    ['person_id', 'treated', 'index_date', 'subclass']
    """
    import warnings

    from evaltool.errors import MatchingWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MatchingWarning)
        res = risk_set_match(
            population, activity, window_start=window_start, window_end=window_end,
            covariates=list(config.covariates), lookback_months=config.lookback_months, period=config.period,
            followup=config.followup, method=config.method, distance=config.distance, ratio=config.ratio,
            replace=config.replace, caliper=config.caliper, std_caliper=config.std_caliper,
            exact=list(config.exact), order=config.order, min_age=config.min_age, missing=config.missing, seed=seed,
            **trajectory_settings(config, pre_months),
            progress=progress,
            candidates_per_treated=config.candidates_per_treated, period_covariates=period_covariates,
        )
    stage_warnings = [str(w.message) for w in caught if issubclass(w.category, MatchingWarning)]
    coh = res.matched_cohort
    bt = res.balance_frame
    t_all = int(res.n_treated)
    balance = bt.drop(columns=["binary"]).copy()
    balance.insert(1, "n_treated", res.n_treated_matched)
    balance.insert(2, "n_controls", res.n_controls)
    balance["balanced"] = balance["balanced"].astype(bool)

    summary_rows = [
        ("n_treated", "Enrolled patients", t_all),
        ("n_matched", "Enrolled patients matched", res.n_treated_matched),
        ("n_unmatched", "Enrolled patients not matched", t_all - res.n_treated_matched),
    ]
    for k, v in sorted(res.unmatched.items()):
        summary_rows.append((f"n_unmatched_{k}", f"  not matched: {k.replace('_', ' ')}", v))
    for k, v in sorted(res.excluded.items()):
        summary_rows.append((f"n_excluded_{k}", f"Excluded before matching: {k.replace('_', ' ')}", v))
    summary_rows += [
        ("n_controls", "Matched controls (distinct people)", res.n_controls),
        ("n_candidates", "Candidate person-months in the risk sets", res.n_candidates),
        ("crossovers", "Matched controls enrolled later (crossovers)", res.crossovers),
        ("ess_controls", "Effective sample size of the controls", round(res.ess_control, 1)),
    ]
    if config.candidates_per_treated is not None:
        per = res.periods
        summary_rows += [
            ("candidates_per_treated", "Candidates drawn at random per enrolled person in each risk set",
             config.candidates_per_treated),
            ("n_eligible", "Eligible candidate person-months before sampling", int(per["n_eligible"].sum())),
        ]
    msum = pd.DataFrame(summary_rows, columns=["item", "description", "value"])
    msum["value"] = pd.Series([v for _, _, v in summary_rows], dtype=object)  # counts stay integers

    traj = pre_trajectory(coh, activity, window_start=window_start, window_end=window_end)
    traj = traj[["month_relative", "group", "rate_per_1000", "n_people", "events"]]

    pre = traj[traj.month_relative.between(-3, -1)].groupby("group")["rate_per_1000"].mean()
    post = traj[traj.month_relative.between(1, 12)].groupby("group")["rate_per_1000"].mean()
    early = traj[traj.month_relative.between(-24, -13)].groupby("group")["rate_per_1000"].mean()
    facts = {
        "n_treated": t_all,
        "n_matched": res.n_treated_matched,
        "n_unmatched": t_all - res.n_treated_matched,
        "n_controls": res.n_controls,
        "crossovers": res.crossovers,
        "ess_controls": round(res.ess_control, 1),
        "max_abs_smd_after": round(res.max_abs_smd_after, 4),
        "max_abs_smd_before": round(float(bt["smd_before"].abs().max()), 4),
        "n_covariates_imbalanced_after": int((bt["smd_after"].abs() >= 0.1).sum()),
        "method": f"risk-set {config.ratio}:1 nearest neighbour on {config.distance}"
                  + (" with the prior-use profile" if config.trajectory is not None else ""),
        "caliper_sd": config.caliper,
        "exact": list(config.exact),
        "followup": config.followup,
        "smd_denominator": "SD of the treated group before matching",
        "pre_index_rate_treated": _r(pre.get("treated")),
        "pre_index_rate_controls": _r(pre.get("matched controls")),
        "post_index_rate_treated": _r(post.get("treated")),
        "post_index_rate_controls": _r(post.get("matched controls")),
        "baseline_rate_treated": _r(early.get("treated")),
        "baseline_rate_controls": _r(early.get("matched controls")),
    }
    tb = res.trajectory_balance()
    if not tb.empty:
        c = res.config
        facts.update({
            "trajectory_outcomes": list(c["trajectory"]), "trajectory_months": c["trajectory_months"],
            "trajectory_monthly": c["trajectory_monthly"], "trajectory_match": c["trajectory_match"],
            "max_abs_smd_trajectory_after": round(float(tb["smd_after"].abs().max()), 4),
            "max_abs_smd_trajectory_before": round(float(tb["smd_before"].abs().replace(np.inf, np.nan).max()), 4),
            "n_trajectory_months_imbalanced_after": int((~tb["balanced"]).sum()),
        })

    if config.candidates_per_treated is not None:
        facts["candidates_per_treated"] = config.candidates_per_treated
    tables = {"balance": balance, "matching_summary": msum, "pre_trajectory": traj}
    if not tb.empty:
        tables["trajectory_balance"] = tb
    meta = {
        "balance": TableMeta(
            title="Balance of matching variables before and after matching",
            caption="Standardised mean differences use the SD of the enrolled group before matching; "
                    "|SMD| < 0.1 and variance ratio 0.5-2 count as balanced. Before = enrolled vs every "
                    "eligible candidate in their enrolment month's risk set.",
            count_columns=("n_treated", "n_controls"),
        ),
        "matching_summary": TableMeta(title="Matching summary", count_columns=("value",)),
        "pre_trajectory": TableMeta(
            title="Emergency admissions per 1,000 per month around the index date",
            caption="Matched controls take their partner's index date; a matched design shows the same spike "
                    "before the index date in both groups (regression to the mean).",
            count_columns=("n_people", "events"), derived_columns=(("rate_per_1000", "events"),), appendix=True,
        ),
    }
    if not tb.empty:
        meta["trajectory_balance"] = TableMeta(
            title="Balance of prior use in each month before the index month",
            caption="Mean events (bed days) per person in each pre-period month for enrolled patients, all candidates "
                    "(before matching) and matched controls (after, weighted); SMDs use the SD of the enrolled group "
                    "before matching. Prior use was matched as a profile: each of the "
                    f"{facts['trajectory_monthly']} months nearest the index month, then quarters back to month "
                    f"-{facts['trajectory_months']}.")
    figures = {
        "love_plot": FigureSpec(res.plot("love"), title="Balance before and after matching",
                                alt="Absolute standardised mean differences of each matching variable before "
                                    f"(max {facts['max_abs_smd_before']}) and after matching "
                                    f"(max {facts['max_abs_smd_after']})."),
        **({"trajectory_balance": FigureSpec(
            res.plot("trajectory"), title="Prior use month by month before and after matching",
            alt="Mean use per person in each of the "
                f"{facts['trajectory_months']} months before the index month, for enrolled patients, matched "
                "controls and all candidates, one panel per matched outcome; largest standardised difference "
                f"after matching {facts['max_abs_smd_trajectory_after']}.")} if not tb.empty else {}),
        "ps_distribution": DataFigure(
            "ps_bins", {"kind": "bars", "x": "band", "y": "pct", "fill": "group", "facet": "sample",
                        "facet_rows": 2, "x_text_angle": 90, "x_label": "Propensity score",
                        "y_label": "% of the group"},
            title="Propensity scores before and after matching",
            alt="Histograms of the propensity score for enrolled and control people, before and after matching.",
            appendix=True) if _distance_frame(res) is not None else None,
        # Rates of small monthly counts: drawn by the report from the published table.
        "pre_trajectory": DataFigure(
            "pre_trajectory", {"kind": "lines", "x": "month_relative", "y": "rate_per_1000", "colour": "group",
                               "colour_order": ["treated", "matched controls"], "vline": -0.5,
                               "x_label": "Months relative to the index month (0 = index month)",
                               "y_label": "Emergency admissions per 1,000 per month"},
            title="Emergency admissions around the index date",
            alt="Monthly emergency admissions per 1,000 for enrolled patients and matched controls from 24 months "
                "before to 12 months after the index month."),
    }
    if figures.get("ps_distribution") is not None:
        d = _distance_frame(res)
        tables["ps_bins"] = ps_bins(d["distance"].to_numpy(), d["treated"].to_numpy(), d["weights"].to_numpy())
        meta["ps_bins"] = TableMeta(title="People per band of the propensity score", publish=False,
                                    count_columns=("n",), derived_columns=(("pct", "n"),))
    figures = {k: v for k, v in figures.items() if v is not None}
    out = StageOutput(
        section="matching", tables=tables, table_meta=meta, figures=figures, facts=facts,
        objects={"matched_cohort": coh, "match_result": res},
    )
    n_unmatched = t_all - int(res.n_treated_matched)
    if n_unmatched:
        why = "; ".join(f"{int(v):,} {k.replace('_', ' ')}" for k, v in sorted(res.unmatched.items()) if v)
        out.event("treated_unmatched", f"{n_unmatched:,} of {t_all:,} enrolled people were not matched"
                  + (f" ({why})" if why else "") + "; they are left out of the matched analyses",
                  counts={"unmatched": n_unmatched, **{k: int(v) for k, v in res.unmatched.items()}})
    for msg in dict.fromkeys(stage_warnings):
        if "were not matched" not in msg:
            out.event("matching_warning", msg)
    if "balanced" in balance.columns and not balance["balanced"].all():
        names = [str(v) for v in balance.loc[~balance["balanced"], balance.columns[0]]]
        out.event("covariates_imbalanced", f"{len(names)} covariate(s) still imbalanced after matching: "
                  f"{', '.join(names[:8])}{' ...' if len(names) > 8 else ''}",
                  detail="absolute standardised mean difference of 0.1 or more after matching; see the balance table",
                  counts={"covariates": len(names)})
    if config.candidates_per_treated is not None:
        per = res.periods
        out.event("candidates_sampled",
                  f"candidates sampled at random: at most {config.candidates_per_treated} per enrolled person in each "
                  f"risk set ({int(per['n_candidates'].sum()):,} of {int(per['n_eligible'].sum()):,} eligible "
                  "candidate person-months); balance is measured on the sampled pool",
                  severity="info", counts={"sampled": int(per["n_candidates"].sum()),
                                           "eligible": int(per["n_eligible"].sum())})
    out.analysis("matching", "all")
    return out


def _r(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 2)
