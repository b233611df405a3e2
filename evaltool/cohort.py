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

from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from evaltool._checks import count_all
from evaltool._result import ResultMixin, Summary
from evaltool.engine import Engine
from evaltool.errors import DataValidationError
from evaltool.inputs import FlowStep, LazyFrames, ValidatedData, flow_frame


@dataclass(frozen=True)
class Cohort(LazyFrames, ResultMixin):
    """The analysed population and how it was reached.

    ``population_table`` and ``activity_table`` are Ibis tables in the engine; ``population`` and
    ``activity`` are pandas views materialised (once) when read. The pipeline reads the
    population (one row per person: what matching needs) and leaves activity in the engine.
    """

    population_table: Any
    activity_table: Any
    practices_table: Any | None
    flow: tuple[FlowStep, ...]
    activity_flow: tuple[FlowStep, ...]
    engine: Engine | None = None
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_activity(self) -> int:
        """Activity rows analysed (from the flow: no query)."""
        return int(self.activity_flow[-1].n_remaining) if self.activity_flow else 0

    def flow_frame(self) -> pd.DataFrame:
        return flow_frame(self.flow)

    def to_frame(self) -> pd.DataFrame:
        return self.flow_frame()

    def summary(self) -> Summary:
        pop = self.population
        lines = (
            ("People analysed", f"{len(pop):,}"),
            ("Enrolled (eligible)", f"{int((pop.treated == 1).sum()):,}"),
            ("Never enrolled (potential controls)", f"{int((pop.treated == 0).sum()):,}"),
            ("Activity rows analysed", f"{self.n_activity:,}"),
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


def age_at_expr(birth: Any, when: Any) -> Any:
    """Whole years of age at a date, as an engine expression."""
    before = (when.month() < birth.month()) | ((when.month() == birth.month()) & (when.day() < birth.day()))
    return (when.year() - birth.year() - ibis.ifelse(before, 1, 0)).cast("int64")


def build_cohort(validated: ValidatedData, *, min_age: int = 18, max_age: int | None = None) -> Cohort:
    """Apply eligibility rules to the enrolled and finish the cohort flow (engine queries).

    Enrolled people outside ``[min_age, max_age]`` at their index date are excluded (counted).
    Adds ``age_at_index`` for the enrolled.
    """
    if not validated.ok:
        validated.raise_for_errors()
    eng = validated.engine
    flow = list(validated.flow[:-1]) if validated.flow and validated.flow[-1].step == "analysed_population" else list(validated.flow)
    t = validated.population_table
    treated = t.treated == 1
    t = t.mutate(age_at_index=ibis.ifelse(treated, age_at_expr(t.birth_date, t.index_date),
                                          ibis.null().cast("int64")))
    young = (t.treated == 1) & (t.age_at_index.fill_null(999) < min_age)
    old = (t.treated == 1) & (t.age_at_index.fill_null(-1) > (max_age if max_age is not None else 10**6))
    counts = count_all(eng, t, {"young": young, "old": old & ~young,
                                "t": (t.treated == 1) & ~young & ~old, "c": (t.treated == 0) & ~young & ~old},
                       total="n")
    n = counts["n"]
    for key, step, desc in (
        ("young", "under_min_age", f"Enrolled under {min_age} at enrolment (not eligible)"),
        ("old", "over_max_age", f"Enrolled over {max_age} at enrolment (not eligible)"),
    ):
        if counts[key]:
            n -= counts[key]
            flow.append(FlowStep(step, desc, n, counts[key], desc))
    n_t = counts["t"]
    if n_t == 0:
        raise DataValidationError(
            "no enrolled (treated = 1) people remain after validation and eligibility rules; "
            "see the cohort flow (`evaltool validate SPEC`)"
        )
    flow.append(FlowStep("analysed_enrolled", "Enrolled people analysed", n_t, 0, ""))
    flow.append(FlowStep("analysed_candidates", "Never-enrolled people available as potential controls",
                         counts["c"], 0, ""))
    dropped_people = counts["young"] + counts["old"]
    pop = t.filter(~(young | old))
    act = validated.activity_table
    aflow = list(validated.activity_flow)
    if dropped_people:
        gone = t.filter(young | old).person_id
        a_drop = count_all(eng, act, {"d": act.person_id.isin(gone)})["d"]
        pop = eng.persist(pop, "cohort_population")
        if a_drop:
            act = eng.persist(act.filter(~act.person_id.isin(gone)), "cohort_activity")
            last = aflow.pop() if aflow and aflow[-1].step == "analysed_activity" else None
            n_act = (last.n_remaining if last else 0) - a_drop
            aflow.append(FlowStep("person_ineligible", "Activity of enrolled people not eligible", n_act,
                                  a_drop, "person not eligible"))
            if last is not None:
                aflow.append(FlowStep("analysed_activity", last.description, n_act, 0, ""))
    return Cohort(pop, act, validated.practices_table, tuple(flow), tuple(aflow), engine=eng)
