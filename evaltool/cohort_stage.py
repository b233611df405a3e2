"""The cohort stage's tables: the cohort flow (extended with matching's exclusions), activity and source
flows, code lists, input problems and the monthly emergency-admission series for the SPC chart."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaltool import engine as engine_mod
from evaltool.cohort import Cohort
from evaltool.inputs import ValidatedData
from evaltool.spec import Spec
from evaltool.stage import StageOutput, TableMeta

__all__ = ["cohort_stage", "extend_flow_with_matching", "monthly_emergency_rate"]


def cohort_stage(validated: ValidatedData, cohort: Cohort, spec: Spec) -> StageOutput:
    """Tables of the cohort flow, input problems and the monthly series for the SPC chart."""
    out = StageOutput(section="cohort")
    flow = cohort.flow_frame()
    out.tables["cohort_flow"] = flow
    out.table_meta["cohort_flow"] = TableMeta(
        title="Cohort flow: who was analysed and who was excluded, with reasons",
        caption="Each row removes people for the reason given; the last rows give the analysed numbers.",
        count_columns=("n_remaining", "n_excluded"),
    )
    afl = pd.DataFrame([f.__dict__ for f in cohort.activity_flow])
    out.tables["activity_flow"] = afl
    out.table_meta["activity_flow"] = TableMeta(
        title="Activity records: exclusions with reasons", count_columns=("n_remaining", "n_excluded"), appendix=True)
    if getattr(validated, "source_flow", None):
        from evaltool.nhs.load import source_flow_frame

        out.tables["source_flow"] = source_flow_frame(validated.source_flow)
        out.table_meta["source_flow"] = TableMeta(
            title="Preparing the extracts: every step of every source, counted (episodes, spells, people)",
            count_columns=("n_in", "n_out", "n_excluded", "n_affected"), appendix=True)
    if getattr(validated, "codelists", None):
        from evaltool.nhs.load import codelists_frame, outcome_labels_frame

        out.tables["code_lists"] = codelists_frame(validated.codelists)
        out.table_meta["code_lists"] = TableMeta(title="Code lists behind the coded outcomes: source and version",
                                                 appendix=True)
        # What the report calls each coded outcome (read by the report's label registry, not shown).
        out.tables["outcome_labels"] = outcome_labels_frame(validated.codelists)
        out.table_meta["outcome_labels"] = TableMeta(title="Labels of the coded outcomes", publish=False)
    probs = validated.problems_frame().drop(columns=["example_rows"])
    out.tables["input_problems"] = probs
    out.table_meta["input_problems"] = TableMeta(
        title="Problems found in the input data and the action taken", appendix=True, publish=True,
        count_columns=("n",) if "n" in probs.columns else ())
    out.tables["spc_monthly"] = monthly_emergency_rate(cohort.population, cohort.activity_table, spec)
    out.table_meta["spc_monthly"] = TableMeta(
        title="Monthly emergency admissions per 1,000 registered population",
        count_columns=("admissions", "registered"), derived_columns=(("rate_per_1000", "admissions"),), appendix=True)
    pop = cohort.population
    out.facts = {
        "n_people": int(len(pop)),
        "n_enrolled": int((pop.treated == 1).sum()),
        "n_candidates": int((pop.treated == 0).sum()),
        "n_excluded": int(flow["n_excluded"].sum()),
        "n_activity_rows": cohort.n_activity,
        "window_start": str(spec.window.start),
        "window_end": str(spec.window.end),
        "first_index_date": str(pop.loc[pop.treated == 1, "index_date"].min().date()),
        "last_index_date": str(pop.loc[pop.treated == 1, "index_date"].max().date()),
    }
    return out


def extend_flow_with_matching(cohort_out: StageOutput, summary: pd.DataFrame) -> None:
    """Carry matching's exclusions into the cohort flow, so one table goes from start n to analysed n."""
    flow = cohort_out.tables["cohort_flow"]
    items = dict(zip(summary["item"], summary["value"]))
    n = int(flow.loc[flow.step == "analysed_enrolled", "n_remaining"].iloc[0])
    rows = []
    for item, desc, value in summary.itertuples(index=False):
        if str(item).startswith(("n_unmatched_", "n_excluded_")) and int(value) > 0:
            n -= int(value)
            step = str(item).replace("n_unmatched_", "unmatched_").replace("n_excluded_", "excluded_before_matching_")
            text = str(desc).strip()
            text = text[:1].upper() + text[1:]
            rows.append({"step": step, "description": text, "n_remaining": n, "n_excluded": int(value),
                         "reason": text})
    rows.append({"step": "analysed_matched", "description": "Enrolled people matched and analysed",
                 "n_remaining": int(items.get("n_matched", n)), "n_excluded": 0, "reason": ""})
    rows.append({"step": "analysed_controls", "description": "Matched controls (distinct people)",
                 "n_remaining": int(items.get("n_controls", 0)), "n_excluded": 0, "reason": ""})
    cohort_out.tables["cohort_flow"] = pd.concat([flow, pd.DataFrame(rows)], ignore_index=True)


def monthly_emergency_rate(population: pd.DataFrame, activity: Any, spec: Spec) -> pd.DataFrame:
    """Emergency admissions per 1,000 people registered and alive mid-month, for the whole population.

    ``activity`` may be an Ibis table: the monthly counts are then an engine query.
    """
    months = pd.period_range(pd.Timestamp(spec.window.start), pd.Timestamp(spec.window.end), freq="M")
    mid = months.to_timestamp() + pd.Timedelta(days=14)
    start = population["registration_start"].fillna(pd.Timestamp.min).to_numpy()
    end = np.minimum(population["registration_end"].fillna(pd.Timestamp.max).to_numpy(),
                     population["death_date"].fillna(pd.Timestamp.max).to_numpy())
    s_sorted, e_sorted = np.sort(start), np.sort(end)
    m = mid.to_numpy()
    registered = np.searchsorted(s_sorted, m, side="right") - np.searchsorted(e_sorted, m, side="left")
    if engine_mod.is_table(activity):
        a = activity.filter(activity.setting == "emergency_admission")
        by = a.group_by(y=a.date.year(), m=a.date.month()).aggregate(n=a.count()).execute()
        em = pd.Series(by["n"].to_numpy(), index=pd.PeriodIndex.from_fields(year=by["y"], month=by["m"], freq="M"))
        counts = em.reindex(months, fill_value=0).to_numpy()
    else:
        em = activity.loc[activity["setting"] == "emergency_admission", "date"].dt.to_period("M")
        counts = em.value_counts().reindex(months, fill_value=0).to_numpy()
    return pd.DataFrame({
        "month": months.to_timestamp(),
        "admissions": counts.astype(int),
        "registered": registered.astype(int),
        "rate_per_1000": np.where(registered > 0, 1000 * counts / np.maximum(registered, 1), np.nan),
    })
