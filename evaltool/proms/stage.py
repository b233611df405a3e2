"""The PROM/PREM pipeline stage (section ``proms``)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool.errors import DataValidationError, EvaltoolError
from evaltool.proms.activation import activation_summary
from evaltool.proms.change import ancova, attrition, paired_change
from evaltool.proms.config import PromsConfig
from evaltool.proms.eq5d import (
    DIMENSIONS,
    EQ5DProfileResult,
    ceiling,
    eq5d_index,
    get_value_set,
    level_frequencies,
)
from evaltool.proms._plots import _LEVEL_COLOURS as LEVEL_COLOURS
from evaltool.proms._paretian_stage import paretian_tables
from evaltool.proms.prems import load_definition, summarise_prem
from evaltool.runlog import excerpt
from evaltool.stage import DataFigure, StageOutput, TableMeta

SECTION = "proms"
#: The population columns the stage reads: each person's group, and age and sex for the value sets that need them.
POPULATION_COLUMNS = ("person_id", "treated", "age", "sex")


def _assign_groups(proms: pd.DataFrame, population: pd.DataFrame | None, config: PromsConfig,
                   out: StageOutput) -> pd.DataFrame:
    df = proms.copy()
    df["person_id"] = df["person_id"].astype(str)
    if population is not None and {"person_id", "treated"} <= set(population.columns):
        pop = population[[c for c in POPULATION_COLUMNS if c in population.columns]].copy()
        pop["person_id"] = pop["person_id"].astype(str)
        pop = pop.drop_duplicates("person_id")
        pop["group"] = np.where(pd.to_numeric(pop["treated"], errors="coerce") == 1,
                                config.treated_label, config.comparison_label)
        df = df.drop(columns=[c for c in ("group", "age", "sex") if c in df.columns and c in pop.columns])
        df = df.merge(pop.drop(columns="treated"), on="person_id", how="left")
        lost = df["group"].isna()
        if lost.any():
            n_people = int(df.loc[lost, "person_id"].nunique())
            out.event("prom_rows_unknown_person",
                      f"{int(lost.sum()):,} PROM rows ({n_people:,} people) are not in the population table and were "
                      "set aside.", counts={"rows": int(lost.sum()), "people": n_people},
                      rows=tuple(int(i) + 1 for i in np.flatnonzero(lost.to_numpy())[:10]))
            df = df[~lost]
    elif "group" not in df.columns:
        df["group"] = "all"
        out.event("prom_groups_unknown", "No population with `treated` and no `group` column: PROMs summarised as "
                  "one group.")
    return df


def _index_summary(df: pd.DataFrame, value: str, label: str, confidence: float) -> pd.DataFrame:
    g = df.dropna(subset=[value]).groupby(["group", "timepoint"], observed=True)[value]
    out = g.agg(n="size", mean="mean", sd="std", median="median").reset_index()
    tcrit = dist.t_ppf(0.5 + confidence / 2, (out["n"] - 1).clip(lower=1))
    se = out["sd"] / np.sqrt(out["n"])
    out["ci_lower"] = out["mean"] - tcrit * se
    out["ci_upper"] = out["mean"] + tcrit * se
    out["value_set"] = label
    return out


def _order_time(df: pd.DataFrame, timepoints: tuple[str, ...]) -> pd.DataFrame:
    if "timepoint" in df.columns:
        order = {t: i for i, t in enumerate(timepoints)}
        df = df.assign(_o=df["timepoint"].map(order).fillna(len(order))).sort_values(
            [c for c in ("group",) if c in df.columns] + ["_o"], kind="stable").drop(columns="_o")
    return df.reset_index(drop=True)


def run_stage(
    proms: pd.DataFrame | None,
    prems: pd.DataFrame | None,
    population: pd.DataFrame | None,
    config: PromsConfig,
    *,
    seed: int,
) -> StageOutput:
    """Summarise PROMs (EQ-5D, activation) and PREMs (P3CEQ, FFT) for the report.

    Parameters
    ----------
    proms:
        Long PROM table (person_id, timepoint, instrument, eq5d_mo ... eq5d_ad, eq5d_vas and
        optional pam_score / pam_level), or None.
    prems:
        PREM table (respondent_id, group, survey, item columns), or None.
    population:
        Population table; ``treated`` gives each person's group (enrolled / comparison), age and
        sex feed the ANCOVA and the NICE DSU mapping.
    config:
        :class:`~evaltool.proms.config.PromsConfig`.
    seed:
        Unused (no randomness here); accepted for the stage contract.

    Returns
    -------
    StageOutput
        Section ``proms``: tables, figures, facts; ``objects`` holds the result objects.

    Examples
    --------
    >>> from evaltool.datasets.southvale_proms import generate_proms, toy_population
    >>> data, truth = generate_proms(toy_population(600, seed=1), seed=1)
    >>> out = run_stage(data["proms"], data["prems"], toy_population(600, seed=1), PromsConfig(), seed=1)
    >>> "eq5d_change" in out.tables
    True
    """
    out = StageOutput(section=SECTION)
    vs = get_value_set(config.value_set)
    out.facts["value_set"] = vs.key
    out.facts["value_set_label"] = vs.label
    if vs.caveat and proms is not None:
        out.event("value_set_caveat", f"{vs.label}: {vs.caveat}", severity="info")
    if proms is None and prems is None:
        out.event("no_prom_data", "No proms or prems table supplied: nothing to summarise.", severity="error")
        out.analysis("proms_summary", "all", "failed", "no PROM or PREM table was supplied")
        out.facts["status"] = "no data"
        return out
    # Each part stands alone: a failure in one (say the PREMs) is recorded and never removes the others.
    parts = [("eq5d", "PROMs (EQ-5D and activation)", proms, lambda: _summarise_proms(out, proms, population, config)),
             ("prems", "PREMs", prems, lambda: _summarise_prems(out, prems, config))]
    for key, what, data, fn in parts:
        if data is None:
            continue
        try:
            fn()
            out.analysis("proms_summary", key)
        except EvaltoolError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            out.event("estimate_failed", f"{what} not summarised: {reason}", severity="error", outcome=key)
            out.analysis("proms_summary", key, "failed", reason)
    out.facts = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in out.facts.items()}
    out.facts["headline_text"] = headline_sentences(out.facts, config)
    if out.tables:
        out.analysis("proms_summary", "all")
    else:
        out.analysis("proms_summary", "all", "failed", "no PROM or PREM rows could be summarised")
    return out



def _summarise_proms(out: StageOutput, proms: pd.DataFrame, population: pd.DataFrame | None,
                     config: PromsConfig) -> None:
    """EQ-5D index, change, ANCOVA, levels and activation into ``out``."""
    vs = get_value_set(config.value_set)
    tps = config.timepoints
    followups = [t for t in tps if t != config.baseline]
    treated, comparison = config.treated_label, config.comparison_label
    missing = [c for c in ("person_id", "timepoint", "instrument") if c not in proms.columns]
    if missing:
        raise DataValidationError(f"`proms` is missing column(s) {', '.join(missing)}.")
    df = _assign_groups(proms, population, config, out)
    # CSV inputs arrive as text (evaltool.inputs reads CSVs all-varchar): make scores numeric,
    # counting values that are present but not numbers rather than dropping them silently.
    for col in ("eq5d_vas", config.pam_score_col, config.pam_level_col):
        if col in df.columns:
            num = pd.to_numeric(df[col], errors="coerce")
            bad = num.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
            if bad.any():
                out.event("prom_values_not_numeric",
                          f"{int(bad.sum()):,} values of `{col}` are not numbers and were treated as missing.",
                          column=col, counts={"values": int(bad.sum())})
            df[col] = num
    if "eq5d_vas" in df.columns:
        out_range = df["eq5d_vas"].notna() & ~df["eq5d_vas"].between(0, 100)
        if out_range.any():
            out.event("prom_values_out_of_range",
                      f"{int(out_range.sum()):,} EQ-VAS values outside 0-100 were treated as missing.",
                      column="eq5d_vas", counts={"values": int(out_range.sum())})
            df.loc[out_range, "eq5d_vas"] = np.nan
    df["timepoint"] = df["timepoint"].astype(str)
    other_time = ~df["timepoint"].isin(tps)
    if other_time.any():
        found = sorted(df.loc[other_time, "timepoint"].unique())[:5]
        out.event("prom_rows_unknown_timepoint",
                  f"{int(other_time.sum()):,} PROM rows at time points outside {', '.join(tps)} were set aside "
                  f"(found {', '.join(excerpt(t, 20) for t in found)}).", column="timepoint",
                  counts={"rows": int(other_time.sum())})
        df = df[~other_time]
    has_eq5d = all(f"eq5d_{d}" in df.columns for d in DIMENSIONS)
    eq = df[df["instrument"].astype(str) == config.instrument].copy() if has_eq5d else df.iloc[0:0]
    n_other = int((df["instrument"].astype(str) != config.instrument).sum()) if has_eq5d else 0
    if n_other:
        out.facts["rows_other_instrument"] = n_other
    if has_eq5d and len(eq):
        eq = eq.reset_index(drop=True)
        kwargs: dict[str, Any] = {}
        if vs.needs_age_sex:
            lacking = [c for c in ("age", "sex") if c not in eq.columns]
            if lacking:
                raise DataValidationError(
                    f"`value_set` {vs.key!r} (NICE DSU mapping) needs each person's age and sex; "
                    f"{', '.join(lacking)} not found in the population or proms table."
                )
            kwargs = {"age": eq["age"].to_numpy(), "sex": eq["sex"].to_numpy()}
        eq["eq5d_index"] = eq5d_index(eq, config.value_set, on_invalid="mask", **kwargs).to_numpy()
        dims = eq[[f"eq5d_{d}" for d in DIMENSIONS]]
        all_blank = dims.isna().all(axis=1)
        n_invalid = int((eq["eq5d_index"].isna() & ~all_blank).sum())
        if n_invalid:
            out.event("eq5d_profiles_invalid",
                      f"{n_invalid:,} EQ-5D rows had invalid or incomplete profiles and have no index value.",
                      counts={"rows": n_invalid})
        out.facts["eq5d_rows_invalid"] = n_invalid
        label = vs.label
        # Index summary
        summ = _index_summary(eq, "eq5d_index", label, config.confidence)
        ceil = ceiling(eq, by=("group", "timepoint"), instrument=config.instrument)
        summ = summ.merge(ceil, on=["group", "timepoint"], how="left")
        out.tables["eq5d_index_summary"] = _order_time(summ, tps)
        out.table_meta["eq5d_index_summary"] = TableMeta(
            title=f"EQ-5D index by group and time point ({label})",
            caption="Mean, SD and 95% CI of the index; % in full health (11111) among valid profiles."
                    + (f" {vs.caveat}" if vs.caveat else ""),
            count_columns=("n", "n_full_health", "n_valid"),
            derived_columns=(("mean", "n"), ("sd", "n"), ("median", "n"), ("ci_lower", "n"),
                             ("ci_upper", "n"), ("pct_full_health", "n_full_health")),
        )
        if "eq5d_vas" in eq.columns:
            vas = _index_summary(eq, "eq5d_vas", "EQ-VAS (0-100)", config.confidence)
            out.tables["eq5d_vas_summary"] = _order_time(vas.rename(columns={"value_set": "measure"}), tps)
            out.table_meta["eq5d_vas_summary"] = TableMeta(
                appendix=True, title="EQ-VAS by group and time point", count_columns=("n",),
                derived_columns=(("mean", "n"), ("sd", "n"), ("median", "n"), ("ci_lower", "n"), ("ci_upper", "n")),
            )
        # Paired change
        ch = paired_change(eq, "eq5d_index", baseline=config.baseline, followups=followups, group_col="group",
                           mid=config.mid, mid_source=config.mid_source, value_label=f"EQ-5D index ({label})",
                           confidence=config.confidence)
        ct = ch.table.copy()
        ct["value_set"] = label
        # Published table: the columns a reader needs; every statistic stays in eq5d_change_detail.
        key_cols = ["group", "timepoint", "n_pairs", "mean_baseline", "mean_followup", "estimate", "ci_lower",
                    "ci_upper", "p_value", "wilcoxon_p_value", "srm", "kazis_es", "n_improved_mid",
                    "pct_improved_mid", "value_set"]
        out.tables["eq5d_change"] = ct[key_cols]
        detail = ct.assign(mid_source=config.mid_source,
                           wilcoxon_zero_handling="zero differences dropped (Wilcoxon's method)")
        out.tables["eq5d_change_detail"] = detail
        out.table_meta["eq5d_change_detail"] = TableMeta(
            title="Paired change in EQ-5D index: all statistics", appendix=True,
            caption="Includes the paired t statistic, Wilcoxon statistic, zero changes, SD of change and the "
                    "number worsening by at least the MID.",
            count_columns=("n_baseline", "n_followup", "n_pairs", "n_zero_changes", "n_improved_mid",
                           "n_worse_mid"),
            derived_columns=(("mean_baseline", "n_pairs"), ("mean_followup", "n_pairs"),
                             ("pct_improved_mid", "n_improved_mid"), ("pct_worse_mid", "n_worse_mid")),
        )
        out.table_meta["eq5d_change"] = TableMeta(
            title=f"Paired change in EQ-5D index, baseline to follow-up ({label})",
            caption=("Mean change (follow-up minus baseline) among people answering at both, paired-t 95% CI; "
                     "Wilcoxon signed-rank with zero differences dropped; SRM = mean/SD of change; Kazis ES = "
                     f"mean change/SD at baseline; % improving by >= MID {config.mid} ({config.mid_source})."),
            count_columns=("n_pairs", "n_improved_mid"),
            derived_columns=(("mean_baseline", "n_pairs"), ("mean_followup", "n_pairs"),
                             ("pct_improved_mid", "n_improved_mid")),
        )
        out.objects["eq5d_change"] = ch
        # Person-level index values for later stages (economics: QALYs); in memory only, never written.
        out.objects["eq5d_scored"] = eq[["person_id", "group", "timepoint", "eq5d_index"]].copy()
        if "eq5d_vas" in eq.columns and eq["eq5d_vas"].notna().any():
            vch = paired_change(eq, "eq5d_vas", baseline=config.baseline, followups=followups, group_col="group",
                                mid=config.vas_mid, mid_source="config.vas_mid" if config.vas_mid else None,
                                value_label="EQ-VAS", confidence=config.confidence)
            out.tables["eq5d_vas_change"] = vch.table
            out.table_meta["eq5d_vas_change"] = TableMeta(
                title="Paired change in EQ-VAS", appendix=True,
                count_columns=("n_baseline", "n_followup", "n_pairs", "n_zero_changes"),
                derived_columns=(("mean_baseline", "n_pairs"), ("mean_followup", "n_pairs")),
            )
        # ANCOVA vs comparison
        groups_present = set(eq["group"].unique())
        if {treated, comparison} <= groups_present:
            covs = [c for c in config.ancova_covariates if c in eq.columns]
            skipped = [c for c in config.ancova_covariates if c not in eq.columns]
            if skipped:
                out.event("ancova_covariates_missing",
                          f"ANCOVA covariates not available and skipped: {', '.join(skipped)}.")
            cov = eq[["person_id", *covs]].drop_duplicates("person_id") if covs else None
            an = ancova(eq[eq["group"].isin([treated, comparison])], "eq5d_index", group_col="group",
                        treated=treated, baseline=config.baseline, followups=followups, covariates=cov,
                        value_label=f"EQ-5D index ({label})", confidence=config.confidence)
            at = an.table.copy()
            at["value_set"] = label
            out.tables["eq5d_ancova"] = at
            out.table_meta["eq5d_ancova"] = TableMeta(
                title=f"Difference in change in EQ-5D index, {treated} vs {comparison} (ANCOVA)",
                caption=("OLS of follow-up index on baseline index, group" + (f" and {', '.join(covs)}" if covs else "")
                         + "; classical SEs; estimate = baseline-adjusted difference in change. "
                         "unadjusted_difference = difference in mean change (Welch 95% CI); the two differ "
                         "when the groups differ at baseline in their persistent health (Lord's paradox)."),
                count_columns=("n_units", "n_treated", "n_comparison"),
            )
            out.objects["eq5d_ancova"] = an
        # Levels, PCHC
        lv = level_frequencies(eq, by=("group", "timepoint"), instrument=config.instrument)
        out.tables["eq5d_levels"] = _order_time(lv, tps).sort_values(
            ["group", "dimension", "level"], kind="stable",
            key=lambda s: s.map({d: i for i, d in enumerate(DIMENSIONS)}) if s.name == "dimension" else s,
        ).reset_index(drop=True)
        out.table_meta["eq5d_levels"] = TableMeta(
            title="EQ-5D levels by dimension, group and time point", appendix=True,
            count_columns=("n", "n_valid"), derived_columns=(("pct", "n"),),
        )
        prof = EQ5DProfileResult(lv, ceil, config.instrument, tuple(tps))
        out.objects["eq5d_profile"] = prof
        paretian_tables(out, eq, config, followups)
        # Response flow and attrition
        n_inv = None
        if population is not None and "treated" in population.columns:
            n_inv = {treated: int((pd.to_numeric(population["treated"], errors="coerce") == 1).sum()),
                     comparison: int(eq.loc[eq["group"] == comparison, "person_id"].nunique())}
        att = attrition(eq, "eq5d_index", baseline=config.baseline, followups=followups, group_col="group",
                        n_invited=n_inv, value_label=f"EQ-5D index ({label})")
        flow = _order_time(att.flow, tps)
        out.tables["response_flow"] = flow
        out.table_meta["response_flow"] = TableMeta(
            title="EQ-5D response flow",
            caption=("n_invited: enrolled = all treated in the population; comparison = people sampled for the "
                     "comparison group who returned any questionnaire. n_both: answered at baseline and this time point."),
            count_columns=("n_invited", "n_responded", "n_both"), derived_columns=(("pct_retained", "n_both"),),
        )
        out.tables["eq5d_attrition"] = att.attrition
        out.table_meta["eq5d_attrition"] = TableMeta(
            appendix=True, title="Baseline EQ-5D index of completers vs non-completers",
            caption="Difference = completers minus non-completers, Welch 95% CI.",
            count_columns=("n_completers", "n_non_completers"),
            derived_columns=(("mean_completers", "n_completers"), ("mean_non_completers", "n_non_completers")),
        )
        out.objects["attrition"] = att
        # Figures
        # Count figures are drawn by the report from the published (disclosure-controlled) tables.
        out.figures["eq5d_levels"] = DataFigure(
            table="eq5d_levels", title="EQ-5D levels by dimension and time point",
            encoding={"kind": "bars", "x": "timepoint", "y": "pct", "fill": "level", "stack": True,
                      "facet": ["group", "dimension_label"], "x_order": list(tps),
                      "fill_order": ["5", "4", "3", "2", "1"], "colours": list(LEVEL_COLOURS[::-1]),
                      "y_label": "% of responses", "fill_label": "Level (1 = no problems)"},
            alt="Stacked bars of the percentage of responses at each EQ-5D level (1 = no problems to 5 = extreme) "
                "for each dimension, by time point and group.", width=9, height=5,
        )
        if len(ch.bins):
            cb = ch.bins.copy()
            cb.insert(cb.columns.get_loc("bin_mid"), "change", [f"{v:+.2f}" for v in cb["bin_mid"]])
            out.tables["eq5d_change_bins"] = cb
            out.table_meta["eq5d_change_bins"] = TableMeta(
                title="Change in EQ-5D index: people per band of change", publish=False, count_columns=("n",))
            out.figures["eq5d_change_distribution"] = DataFigure(
                table="eq5d_change_bins", title=f"Distribution of change in EQ-5D index ({label})",
                encoding={"kind": "bars", "x": "change", "y": "n",
                          "facet": ["group", "comparison"] if "group" in cb.columns else "comparison",
                          "x_order": [f"{v:+.2f}" for v in sorted(cb["bin_mid"].unique())],
                          "x_label": "Change in index (follow-up minus baseline)", "y_label": "Number of people",
                          "x_text_angle": 90},
                alt="Bar charts of the number of people by change in EQ-5D index from baseline, per group and "
                    "follow-up.", width=8, height=5,
            )
        # Facts
        last = followups[-1]
        row = ct[(ct["group"] == treated) & (ct["timepoint"] == last)]
        if len(row):
            r = row.iloc[0]
            out.facts.update({
                "headline_timepoint": last,
                "eq5d_change_enrolled": r["estimate"], "eq5d_change_enrolled_ci_lower": r["ci_lower"],
                "eq5d_change_enrolled_ci_upper": r["ci_upper"], "eq5d_change_enrolled_n_pairs": int(r["n_pairs"]),
                "eq5d_change_enrolled_pct_improved_mid": r["pct_improved_mid"],
            })
        row = ct[(ct["group"] == comparison) & (ct["timepoint"] == last)]
        if len(row):
            r = row.iloc[0]
            out.facts.update({
                "eq5d_change_comparison": r["estimate"], "eq5d_change_comparison_ci_lower": r["ci_lower"],
                "eq5d_change_comparison_ci_upper": r["ci_upper"], "eq5d_change_comparison_n_pairs": int(r["n_pairs"]),
            })
        if "eq5d_ancova" in out.tables:
            a = out.tables["eq5d_ancova"]
            a = a[a["timepoint"] == last]
            if len(a):
                r = a.iloc[0]
                out.facts.update({"eq5d_ancova_difference": r["estimate"], "eq5d_ancova_ci_lower": r["ci_lower"],
                                  "eq5d_ancova_ci_upper": r["ci_upper"], "eq5d_ancova_n": int(r["n_units"]),
                                  "eq5d_difference_in_change": r["unadjusted_difference"],
                                  "eq5d_difference_in_change_ci_lower": r["unadjusted_ci_lower"],
                                  "eq5d_difference_in_change_ci_upper": r["unadjusted_ci_upper"]})
    # Activation
    has_pam = any(c in df.columns and df[c].notna().any() for c in (config.pam_score_col, config.pam_level_col))
    if has_pam:
        pam = df[df[[c for c in (config.pam_score_col, config.pam_level_col) if c in df.columns]].notna().any(axis=1)]
        pam = pam.drop_duplicates(["person_id", "timepoint"])
        act = activation_summary(
            pam, score_col=config.pam_score_col if config.pam_score_col in pam.columns else None,
            level_col=config.pam_level_col if config.pam_level_col in pam.columns else None,
            cut_points=config.pam_cut_points, baseline=config.baseline, followups=followups, group_col="group",
        )
        out.tables["activation_levels"] = _order_time(act.levels, tps)
        out.table_meta["activation_levels"] = TableMeta(
            appendix=True, title="Patient activation level by group and time point",
            caption=f"Levels {act.level_source}; cut points {', '.join(map(str, act.cut_points))}.",
            count_columns=("n", "n_valid"), derived_columns=(("pct", "n"),),
        )
        out.tables["activation_movement"] = act.movement
        out.table_meta["activation_movement"] = TableMeta(
            title="Movement between activation levels from baseline",
            count_columns=("n_pairs", "n_up", "n_same", "n_down"),
            derived_columns=(("pct_up", "n_up"), ("pct_same", "n_same"), ("pct_down", "n_down")),
        )
        if act.score_change is not None:
            out.tables["activation_change"] = act.score_change.table
            out.table_meta["activation_change"] = TableMeta(
                appendix=True, title="Paired change in activation score (0-100)",
                count_columns=("n_baseline", "n_followup", "n_pairs", "n_zero_changes"),
                derived_columns=(("mean_baseline", "n_pairs"), ("mean_followup", "n_pairs")),
            )
        out.figures["activation_levels"] = DataFigure(
            table="activation_levels", title="Patient activation levels by time point",
            encoding={"kind": "bars", "x": "timepoint", "y": "pct", "fill": "level", "stack": True,
                      "facet": "group" if "group" in act.levels.columns else None, "x_order": list(tps),
                      "fill_order": ["4", "3", "2", "1"], "colours": list(LEVEL_COLOURS[3::-1]),
                      "y_label": "% of respondents", "fill_label": "Activation level"},
            alt="Stacked bars of the percentage of respondents at activation levels 1-4 by time point and group.",
        )
        out.objects["activation"] = act
        mv = act.movement
        r = mv[(mv["group"] == treated) & (mv["timepoint"] == followups[-1])] if len(mv) else mv
        if len(r):
            out.facts["activation_pct_up_enrolled"] = r.iloc[0]["pct_up"]
            out.facts["activation_n_pairs_enrolled"] = int(r.iloc[0]["n_pairs"])



def _summarise_prems(out: StageOutput, prems: pd.DataFrame, config: PromsConfig) -> None:
    """PREM summaries (P3CEQ, FFT, generic Likert) into ``out``."""
    treated = config.treated_label
    missing = [c for c in ("respondent_id", "survey") if c not in prems.columns]
    if missing:
        raise DataValidationError(f"`prems` is missing column(s) {', '.join(missing)}.")
    surveys = prems["survey"].astype(str)
    unknown = sorted(set(surveys) - set(config.prem_surveys))
    if unknown:
        n_rows = int((~surveys.isin(list(config.prem_surveys))).sum())
        out.event("prem_rows_unknown_survey",
                  f"{n_rows:,} PREM rows of surveys without an item map were set aside: "
                  f"{', '.join(excerpt(u, 30) for u in unknown[:5])}{' ...' if len(unknown) > 5 else ''}.",
                  column="survey", counts={"rows": n_rows})
    alpha_all = []
    for survey, defname in config.prem_surveys.items():
        sub = prems[surveys == survey]
        if not len(sub):
            continue
        d = load_definition(defname)
        if config.prem_weights is not None and config.prem_weights not in sub.columns:
            raise DataValidationError(
                f"`prem_weights` names column {config.prem_weights!r}, which the {survey} rows of `prems` lack."
            )
        sub = sub.dropna(axis=1, how="all")
        res = summarise_prem(sub, d, by="group" if "group" in sub.columns else None,
                             weights=config.prem_weights, base=config.prem_base, confidence=config.confidence)
        key = survey.lower().replace("-", "_").replace(" ", "_")
        out.objects[f"prem_{key}"] = res
        if d.fft:
            fft = res.fft
            # Published columns: the answer counts (which add up to n_responses) and percentages; blank
            # questionnaires are reported in facts only, as they are not part of the FFT base.
            out.tables[f"prem_{key}"] = fft[["group", "n_responses", "n_positive", "pct_positive", "n_negative",
                                             "pct_negative", "n_neutral", "n_dont_know", "base"]]
            out.facts["fft_n_blank"] = int(fft["n_blank"].sum())
            out.table_meta[f"prem_{key}"] = TableMeta(
                title="Friends and Family Test: % positive and % negative",
                caption="Base: all responses, 'don't know' included (NHS England FFT rule); blanks excluded.",
                count_columns=("n_responses", "n_positive", "n_negative", "n_neutral", "n_dont_know"),
                derived_columns=(("pct_positive", "n_positive"), ("pct_negative", "n_negative")),
            )
            out.figures[f"prem_{key}"] = DataFigure(
                table=f"prem_{key}", title="Friends and Family Test: % positive",
                encoding={"kind": "bars", "x": "group", "y": "pct_positive", "horizontal": True,
                          "y_label": "% of responses very good or good"},
                alt="Horizontal bars of the percentage of FFT responses that were very good or good, by group.",
            )
            tot = fft[fft["group"] == treated] if (fft["group"] == treated).any() else fft.iloc[[0]]
            out.facts["fft_pct_positive"] = float(tot["pct_positive"].iloc[0])
            out.facts["fft_n_responses"] = int(tot["n_responses"].iloc[0])
            out.facts["fft_pct_negative"] = float(tot["pct_negative"].iloc[0])
        for n in res.notes:
            if n.startswith("Confirm:"):
                out.event("prem_wording_to_confirm", f"{d.title}: {n}", severity="info",
                          detail="an analyst's note on the instrument definition; not printed in captions")
        if len(res.scales):
            out.tables[f"prem_{key}_scales"] = res.scales
            out.table_meta[f"prem_{key}_scales"] = TableMeta(
                title=f"{d.title}: scale scores",
                # Only the source belongs in a published caption; a "Confirm: ..." note is a to-do for the
                # analyst and goes to the run record instead.
                caption="Mean with t-based 95% CI" + "".join(f"; {n}" for n in res.notes
                                                             if not n.startswith("Confirm:")),
                count_columns=("n_scored", "n_not_scored"),
                derived_columns=(("estimate", "n_scored"), ("sd", "n_scored"), ("ci_lower", "n_scored"),
                                 ("ci_upper", "n_scored")),
            )
            items = res.items.drop(columns=["text"])
            out.tables[f"prem_{key}_items"] = items
            out.table_meta[f"prem_{key}_items"] = TableMeta(
                title=f"{d.title}: item responses and top box", appendix=True,
                caption=f"Top-box base: {config.prem_base} responses.",
                count_columns=("n_answered", "n_dont_know", "n_missing", "n_base", "n_top"),
                derived_columns=(("pct", "n_top"), ("mean_score", "n_answered"))
                + ((("pct_weighted", "n_top"), ("n_effective", "n_base")) if "pct_weighted" in items.columns else ()),
            )
            out.figures[f"prem_{key}_top_box"] = DataFigure(
                table=f"prem_{key}_items", title=f"{d.name}: % in the top box by item",
                encoding={"kind": "bars", "x": "item", "y": "pct", "horizontal": True,
                          **({"fill": "group"} if "group" in items.columns else {}),
                          "y_label": "% of answers in the top box"},
                alt=f"Horizontal bars of the percentage of {d.name} answers in the top box for each item and group.",
                width=8, height=6,
            )
            tot = res.scales[(res.scales["scale"] == "total") & (res.scales["group"] == treated)]
            if len(tot):
                out.facts[f"{key}_total_mean_enrolled"] = float(tot["estimate"].iloc[0])
                out.facts[f"{key}_total_n_enrolled"] = int(tot["n_scored"].iloc[0])
            alpha_all.append(res.alpha.assign(survey=survey))
    if alpha_all:
        out.tables["prem_alpha"] = pd.concat(alpha_all, ignore_index=True)[
            ["survey", "group", "scale", "n_items", "n_complete", "alpha"]]
        out.table_meta["prem_alpha"] = TableMeta(
            title="Internal consistency (Cronbach's alpha) by scale", appendix=True,
            caption="Complete cases only.", count_columns=("n_complete",),
        )


def _n(n: int, min_count: int = 8, round_to: int = 5) -> str:
    # Sentences are published as they stand, so they follow the report's disclosure convention
    # (HES: 1-7 not shown, others rounded to the nearest 5); tables get the same from the report layer.
    if n == 0:
        return "0"
    if n < min_count:
        return f"fewer than {min_count}"
    return f"about {int(round_to * round(n / round_to)):,}" if n % round_to else f"{n:,}"


def headline_sentences(facts: dict[str, Any], config: PromsConfig) -> list[str]:
    """Plain-English headline sentences from the stage facts (for the report's key points).

    Examples
    --------
    >>> f = {"value_set_label": "VS", "headline_timepoint": "12m", "eq5d_change_enrolled": 0.05,
    ...      "eq5d_change_enrolled_ci_lower": 0.04, "eq5d_change_enrolled_ci_upper": 0.06,
    ...      "eq5d_change_enrolled_n_pairs": 100}
    >>> headline_sentences(f, PromsConfig())[0][:60]
    'Among 100 enrolled patients who answered at baseline and at '
    """
    out = []
    tp, vs = facts.get("headline_timepoint"), facts.get("value_set_label", "")
    if "eq5d_change_enrolled" in facts:
        est = facts["eq5d_change_enrolled"]
        direction = "rose" if est > 0 else "fell"
        out.append(
            f"Among {_n(facts['eq5d_change_enrolled_n_pairs'])} {config.treated_label} patients who answered at "
            f"{config.baseline} and at {tp}, the average EQ-5D index {direction} by {abs(est):.3f} "
            f"(95% CI {facts['eq5d_change_enrolled_ci_lower']:.3f} to {facts['eq5d_change_enrolled_ci_upper']:.3f}; "
            f"index from the {vs})."
        )
    if "eq5d_change_comparison" in facts:
        est = facts["eq5d_change_comparison"]
        out.append(
            f"In the {config.comparison_label} group ({_n(facts['eq5d_change_comparison_n_pairs'])} people) it "
            f"{'rose' if est > 0 else 'fell'} by {abs(est):.3f} (95% CI {facts['eq5d_change_comparison_ci_lower']:.3f} "
            f"to {facts['eq5d_change_comparison_ci_upper']:.3f})."
        )
    if "eq5d_difference_in_change" in facts:
        out.append(
            f"The difference in change was {facts['eq5d_difference_in_change']:+.3f} (95% CI "
            f"{facts['eq5d_difference_in_change_ci_lower']:.3f} to {facts['eq5d_difference_in_change_ci_upper']:.3f}); "
            f"adjusting for baseline scores (ANCOVA) it was {facts['eq5d_ancova_difference']:+.3f} (95% CI "
            f"{facts['eq5d_ancova_ci_lower']:.3f} to {facts['eq5d_ancova_ci_upper']:.3f}). These groups were not "
            "randomised, so part of any difference may reflect who was enrolled."
        )
    if "activation_pct_up_enrolled" in facts:
        out.append(
            f"{facts['activation_pct_up_enrolled']:.0f}% of {_n(facts['activation_n_pairs_enrolled'])} "
            f"{config.treated_label} patients moved up at least one activation level by {tp}."
        )
    if "fft_pct_positive" in facts and facts.get("fft_n_responses", 0) >= 5:
        out.append(
            f"In the Friends and Family Test, {facts['fft_pct_positive']:.0f}% of {_n(facts['fft_n_responses'])} "
            f"responses rated the service good or very good and {facts['fft_pct_negative']:.0f}% poor or very poor."
        )
    return out
