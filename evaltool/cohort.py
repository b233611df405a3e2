"""The evaluated cohort: eligibility of the enrolled and the cohort flow table.

Controls are not chosen here: risk-set matching (``evaltool.matching``) takes candidates who
are alive, registered and not yet enrolled at each enrolled person's index date. This step
only applies the spec's eligibility rules to the enrolled and records every exclusion.

Examples
--------
>>> import pandas as pd
>>> from evaltool.inputs import validate_frames
>>> from evaltool.cohort import build_cohort
>>> pop = pd.DataFrame({"person_id": ["a", "b"], "practice_id": ["p", "p"], "sex": ["F", "M"],
...     "birth_date": ["1950-01-01", "2010-01-01"], "treated": [1, 1],
...     "index_date": ["2023-01-01", "2023-01-01"]})
>>> act = pd.DataFrame({"person_id": ["a"], "date": ["2022-01-05"], "setting": ["ae_attendance"]})
>>> c = build_cohort(validate_frames(pop, act, window=("2021-04-01", "2025-03-31")), min_age=18)
>>> int(c.population.treated.sum())
1
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.inputs import FlowStep, ValidatedData, age_at
from evaltool.errors import DataValidationError


@dataclass(frozen=True)
class Cohort(ResultMixin):
    """The analysed population and how it was reached."""

    population: pd.DataFrame
    activity: pd.DataFrame
    practices: pd.DataFrame | None
    flow: tuple[FlowStep, ...]
    activity_flow: tuple[FlowStep, ...]

    def flow_frame(self) -> pd.DataFrame:
        return pd.DataFrame([f.__dict__ for f in self.flow], columns=list(FlowStep.__dataclass_fields__))

    def to_frame(self) -> pd.DataFrame:
        return self.flow_frame()

    def summary(self) -> Summary:
        pop = self.population
        lines = (
            ("People analysed", f"{len(pop):,}"),
            ("Enrolled (eligible)", f"{int((pop.treated == 1).sum()):,}"),
            ("Never enrolled (potential controls)", f"{int((pop.treated == 0).sum()):,}"),
            ("Activity rows analysed", f"{len(self.activity):,}"),
        )
        return Summary("Cohort", lines, (("Cohort flow", self.flow_frame()),))

    def to_dict(self) -> dict:
        return {"flow": self.flow_frame().to_dict(orient="records"),
                "activity_flow": [f.__dict__ for f in self.activity_flow]}

    def plot(self):
        from plotnine import aes, coord_flip, geom_col, ggplot, labs

        from evaltool.plotting import NHS_BLUE, theme_evaltool

        f = self.flow_frame()
        f = f[f.n_excluded > 0].copy()
        f["description"] = pd.Categorical(f["description"], categories=list(f["description"])[::-1])
        return (ggplot(f, aes("description", "n_excluded")) + geom_col(fill=NHS_BLUE) + coord_flip()
                + labs(x="", y="People excluded", title="Cohort exclusions") + theme_evaltool())


def build_cohort(validated: ValidatedData, *, min_age: int = 18, max_age: int | None = None) -> Cohort:
    """Apply eligibility rules to the enrolled and finish the cohort flow.

    Enrolled people outside ``[min_age, max_age]`` at their index date are excluded (counted).
    Adds ``age_at_index`` for the enrolled.
    """
    if not validated.ok:
        validated.raise_for_errors()
    pop = validated.population.copy()
    flow = list(validated.flow[:-1]) if validated.flow and validated.flow[-1].step == "analysed_population" else list(validated.flow)
    treated = pop["treated"].to_numpy() == 1
    age_idx = age_at(pop["birth_date"], pop["index_date"].where(pop["index_date"].notna(), pd.Timestamp("2000-01-01")))
    pop["age_at_index"] = age_idx.where(treated)
    young = treated & (pop["age_at_index"].fillna(999).to_numpy() < min_age)
    old = treated & (pop["age_at_index"].fillna(-1).to_numpy() > (max_age if max_age is not None else 10**6))
    keep = np.ones(len(pop), dtype=bool)
    for mask, step, desc in (
        (young, "under_min_age", f"Enrolled under {min_age} at enrolment (not eligible)"),
        (old, "over_max_age", f"Enrolled over {max_age} at enrolment (not eligible)"),
    ):
        m = mask & keep
        if m.any():
            keep &= ~m
            flow.append(FlowStep(step, desc, int(keep.sum()), int(m.sum()), desc))
    pop = pop.loc[keep].reset_index(drop=True)
    n_t = int((pop.treated == 1).sum())
    if n_t == 0:
        raise DataValidationError(
            "no enrolled (treated = 1) people remain after validation and eligibility rules; "
            "see the cohort flow (`evaltool validate SPEC`)"
        )
    flow.append(FlowStep("analysed_enrolled", "Enrolled people analysed", n_t, 0, ""))
    flow.append(FlowStep("analysed_candidates", "Never-enrolled people available as potential controls",
                         int((pop.treated == 0).sum()), 0, ""))
    act = validated.activity
    dropped = ~act["person_id"].isin(set(pop["person_id"]))
    aflow = list(validated.activity_flow)
    if dropped.any():
        last = aflow.pop() if aflow and aflow[-1].step == "analysed_activity" else None
        act = act.loc[~dropped].reset_index(drop=True)
        aflow.append(FlowStep("person_ineligible", "Activity of enrolled people not eligible", len(act),
                              int(dropped.sum()), "person not eligible"))
        if last is not None:
            aflow.append(FlowStep("analysed_activity", last.description, len(act), 0, ""))
    return Cohort(pop, act, validated.practices, tuple(flow), tuple(aflow))
