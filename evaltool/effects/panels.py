"""Outcome panels for matched cohorts, built in DuckDB through Ibis.

Time is measured relative to each person's index date (controls carry the index date
of their matched treated person). Relative period ``k`` covers the days
``[ceil(k * L), ceil((k + 1) * L))`` after the index date with ``L = 365.25 / 12``, so
every person has periods of identical lengths and people followed for the same days
share the same exposure profile (what makes exact compression possible; see
:mod:`evaltool.effects.compress`). Periods run from ``-pre_months`` to ``post_months - 1``.

Exposure is person-days alive and registered: a person is followed from
``max(registration_start, window start)`` to the earliest of death (the day of death
counts), the end of registration (inclusive), the cohort's ``censor_date`` (exclusive:
the first day no longer followed) and the window end. Events outside that span are
not counted.

What is materialised is sparse: one row per person (entry and exit day offsets, the
covariates estimation needs) and one row per person-period *with events*. Dense
person x period grids are never built; :func:`evaltool.effects.compress.cells` derives
the exposure of each period from the entry/exit offsets.

Examples
--------
>>> import pandas as pd
>>> cohort = pd.DataFrame({"person_id": ["a", "b"], "treated": [1, 0],
...     "index_date": pd.to_datetime(["2023-01-01", "2023-01-01"]), "subclass": ["1", "1"],
...     "weights": [1.0, 1.0], "practice_id": ["P1", "P1"]})
>>> activity = pd.DataFrame({"person_id": ["a", "a"], "setting": ["emergency_admission"] * 2,
...     "date": pd.to_datetime(["2022-12-01", "2023-02-01"])})
>>> pop = pd.DataFrame({"person_id": ["a", "b"]})
>>> p = build_panel(cohort, activity, pop, pre_months=2, post_months=2)
>>> p.events.groupby("period")["emergency_admission"].sum().to_dict()
{-2: 1.0, 1: 1.0}
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd

from evaltool.engine import as_table, engine_of, is_table
from evaltool.errors import DataValidationError, DataWarning

#: Days in one relative "month".
PERIOD_DAYS = 365.25 / 12

#: Outcome name -> (activity settings counted, or the column summed).
OUTCOMES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "emergency_admission": ("count", ("emergency_admission",)),
    "ae_attendance": ("count", ("ae_attendance",)),
    "elective_admission": ("count", ("elective_admission",)),
    "care_home_admission": ("count", ("care_home_admission",)),
    "outpatient_attendance": ("count", ("outpatient_attendance",)),
    "gp_contact": ("count", ("gp_contact",)),
    # Bed days come from admissions: the sum of `bed_days` over every admission row.
    "bed_days": ("bed_days", ("emergency_admission", "elective_admission")),
    # Cost of all recorded activity.
    "cost": ("cost", None),
}

COHORT_REQUIRED = ("person_id", "treated", "index_date")


def period_bounds(k: np.ndarray | int) -> np.ndarray:
    """First day offset of relative period ``k``: ``ceil(k * 365.25 / 12)``.

    Examples
    --------
    >>> period_bounds(np.array([-1, 0, 1, 12])).tolist()
    [-30, 0, 31, 366]
    """
    return np.ceil(np.asarray(k, dtype=float) * PERIOD_DAYS).astype(np.int64)


@dataclass(frozen=True)
class OutcomePanel:
    """A sparse person-period outcome panel in time relative to the index date.

    Attributes
    ----------
    persons:
        One row per cohort row (``unit_id``; a person used twice by risk-set matching is two
        units): ``unit_id, person_id, treated, weights, entry_day, exit_day`` (day
        offsets from the index date, exit exclusive, clipped to the window), ``exposure_days``
        plus the cohort columns kept (cluster and subgroup columns).
    events:
        One row per unit-period with at least one event: ``unit_id, person_id, period`` and one
        column per outcome (weighted by nothing: raw sums).
    outcomes:
        Outcome columns in ``events``.
    pre_months, post_months:
        The window: periods ``-pre_months .. post_months - 1``.
    n_dropped_no_exposure:
        Cohort rows dropped because they had no person-time in the window.
    """

    persons: pd.DataFrame
    events: pd.DataFrame
    outcomes: tuple[str, ...]
    pre_months: int
    post_months: int
    n_dropped_no_exposure: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def periods(self) -> np.ndarray:
        return np.arange(-self.pre_months, self.post_months)

    def dense(self, outcome: str) -> pd.DataFrame:
        """The person x period panel with exposure > 0 (for checks on small cohorts only)."""
        from evaltool.effects.compress import cells

        return cells(self, outcome, by="person").frame


def _check_cohort(cohort: pd.DataFrame, activity: pd.DataFrame) -> None:
    missing = [c for c in COHORT_REQUIRED if c not in cohort.columns]
    if missing:
        raise DataValidationError(f"`cohort` lacks columns {missing}; found {list(cohort.columns)}")
    for c in ("person_id", "date", "setting"):
        if c not in activity.columns:
            raise DataValidationError(f"`activity` lacks column {c!r}; found {list(activity.columns)}")
    na = np.flatnonzero(cohort["index_date"].isna().to_numpy())
    if len(na):
        from evaltool.errors import format_rows

        raise DataValidationError(
            f"`cohort.index_date` is missing in {format_rows(na + 1)}; every person (controls too) "
            "needs an index date: controls inherit their matched treated person's."
        )
    # Risk-set matching may use a person twice (a control who later enrols, or a control for two
    # enrolment months): each row is its own unit, but the same person at the same index date in the
    # same arm twice is an error.
    key = ["person_id", "index_date", "treated"]
    if cohort.duplicated(key).any():
        dup = cohort.loc[cohort.duplicated(key), "person_id"].head(5).tolist()
        raise DataValidationError(
            f"`cohort` repeats person_id + index_date + treated, e.g. {dup}; one row per person, index date and arm")
    tr = set(pd.unique(cohort["treated"]))
    if not tr <= {0, 1}:
        raise DataValidationError(f"`cohort.treated` must be 0/1; found values {sorted(map(str, tr))}")


def build_panel(
    cohort: pd.DataFrame,
    activity: pd.DataFrame,
    population: pd.DataFrame | None = None,
    *,
    outcomes: Sequence[str] | None = None,
    pre_months: int = 12,
    post_months: int = 12,
    keep: Sequence[str] = (),
    window_start: str | pd.Timestamp | None = None,
    window_end: str | pd.Timestamp | None = None,
    con=None,
) -> OutcomePanel:
    """Build the sparse outcome panel of a matched cohort in DuckDB (via Ibis).

    Parameters
    ----------
    cohort:
        Matched cohort: ``person_id, treated, index_date`` and optionally ``weights``,
        ``censor_date`` and the columns in ``keep`` (``subclass``, ``practice_id``, subgroups).
    activity:
        Activity events (``person_id, date, setting``, optional ``bed_days``, ``cost``).
    population:
        Optional ``registration_start``, ``registration_end``, ``death_date`` per person.
    outcomes:
        Outcome names (keys of :data:`OUTCOMES`); default all that the data support.
    pre_months, post_months:
        Months before and after the index date.
    keep:
        Cohort columns carried into ``persons`` (clusters, subgroups).
    window_start, window_end:
        First and last day of data (inclusive); person-time outside is not counted.
    con:
        An Ibis connection (default :func:`evaltool.engine.connect`).

    Returns
    -------
    OutcomePanel
    """
    if pre_months < 1:
        raise DataValidationError(
            f"`pre_months` must be >= 1: a difference-in-differences needs a pre-period; found {pre_months}"
        )
    if post_months < 1:
        raise DataValidationError(f"`post_months` must be >= 1; found {post_months}")
    _check_cohort(cohort, activity)
    if outcomes is None:
        outcomes = [o for o, (kind, _) in OUTCOMES.items() if kind == "count" or kind in activity.columns]
    unknown = [o for o in outcomes if o not in OUTCOMES]
    if unknown:
        raise DataValidationError(f"unknown outcomes {unknown}; choose from {list(OUTCOMES)}")
    for o in outcomes:
        kind = OUTCOMES[o][0]
        if kind != "count" and kind not in activity.columns:
            raise DataValidationError(f"outcome {o!r} needs column {kind!r} in `activity`; it is absent")

    con = engine_of(activity, con)
    lo_day = int(period_bounds(-pre_months))
    hi_day = int(period_bounds(post_months))  # exclusive
    cols = ["person_id", "treated", "index_date"] + [
        c for c in ("weights", "censor_date") if c in cohort.columns
    ]
    keep = [c for c in dict.fromkeys(keep) if c not in cols]
    bad = [c for c in keep if c not in cohort.columns]
    if bad:
        raise DataValidationError(f"`cohort` lacks columns {bad} (asked for as clusters or subgroups)")
    coh = cohort[cols].copy()  # never mutate the caller's frame
    coh["person_id"] = coh["person_id"].astype(str)
    coh["unit_id"] = np.arange(len(coh), dtype=np.int64)  # one unit per cohort row
    coh["treated"] = coh["treated"].astype("int64")
    if "weights" not in coh:
        coh["weights"] = 1.0
    if "censor_date" not in coh:
        coh["censor_date"] = pd.NaT
    coh["index_date"] = pd.to_datetime(coh["index_date"])
    coh["censor_date"] = pd.to_datetime(coh["censor_date"])
    pop_cols = ["registration_start", "registration_end", "death_date"]
    if population is not None:
        have = [c for c in pop_cols if c in population.columns]
        # Only the cohort's people go to the engine (never a copy of the whole population).
        pop = population.loc[population["person_id"].astype(str).isin(set(coh["person_id"])), ["person_id"] + have]
        pop = pop.assign(person_id=pop["person_id"].astype(str))
        if pop["person_id"].duplicated().any():
            raise DataValidationError("`population.person_id` has duplicates; one row per person expected")
    else:
        pop = pd.DataFrame({"person_id": coh["person_id"]})
    for c in pop_cols:
        pop[c] = pd.to_datetime(pop[c]) if c in pop else pd.Series(pd.NaT, index=pop.index, dtype="datetime64[ns]")

    tc = as_table(con, coh, "_et_cohort")
    tp = as_table(con, pop[["person_id"] + pop_cols], "_et_pop")
    j = tc.left_join(tp, tc.person_id == tp.person_id)
    j = j.drop([c for c in j.columns if c.endswith("_right")])
    big = 10**7

    def off(col, plus: int) -> ibis.Value:
        # Day offset from the index date; missing dates never bind (sentinel beyond the window).
        return (col.delta(j.index_date, unit="day") + plus).cast("int64")

    entry = ibis.greatest(ibis.coalesce(off(j.registration_start, 0), -big), ibis.literal(lo_day))
    exit_ = ibis.least(
        ibis.coalesce(off(j.death_date, 1), big),
        ibis.coalesce(off(j.registration_end, 1), big),
        ibis.coalesce(off(j.censor_date, 0), big),
        ibis.literal(hi_day),
    )
    if window_start is not None:
        ws = ibis.literal(pd.Timestamp(window_start).to_pydatetime(), type="timestamp")
        entry = ibis.greatest(entry, ws.delta(j.index_date, unit="day").cast("int64"))
    if window_end is not None:
        we = ibis.literal(pd.Timestamp(window_end).to_pydatetime(), type="timestamp")
        exit_ = ibis.least(exit_, (we.delta(j.index_date, unit="day") + 1).cast("int64"))
    persons_t = j.mutate(entry_day=entry.cast("int64"), exit_day=exit_.cast("int64")).select(
        "unit_id", "person_id", "treated", "weights", "index_date", "entry_day", "exit_day"
    )

    acols = ["person_id", "date", "setting"] + [c for c in ("bed_days", "cost") if c in activity.columns]
    if is_table(activity):
        ta = activity.select(*acols)
        ta = ta.mutate(date=ta.date.cast("timestamp"))
    else:
        acts = activity[acols].copy()
        acts["person_id"] = acts["person_id"].astype(str)
        acts["date"] = pd.to_datetime(acts["date"])
        ta = as_table(con, acts, "_et_activity")
    pt = persons_t.filter(persons_t.exit_day > persons_t.entry_day)
    ev = ta.inner_join(pt, ta.person_id == pt.person_id)
    ev = ev.drop([c for c in ev.columns if c.endswith("_right")])
    ev = ev.mutate(day=ev.date.delta(ev.index_date, unit="day").cast("int64"))
    ev = ev.filter((ev.day >= ev.entry_day) & (ev.day < ev.exit_day))
    # floor(day / L) is the period whose bounds ceil(k L) <= day < ceil((k+1) L).
    ev = ev.mutate(period=(ev.day / PERIOD_DAYS).floor().cast("int64"))
    aggs = {}
    for o in outcomes:
        kind, settings = OUTCOMES[o]
        cond = ev.setting.isin(list(settings)) if settings else ibis.literal(True)
        if kind == "count":
            aggs[o] = ibis.ifelse(cond, 1, 0).sum().cast("float64")
        else:
            # Sum money/bed days as DECIMAL so engines agree to the last digit.
            val = ev[kind].cast("decimal(18, 4)")
            aggs[o] = ibis.ifelse(cond & val.notnull(), val, ibis.literal(0).cast("decimal(18, 4)")).sum().cast("float64")
    events = ev.group_by(["unit_id", "person_id", "period"]).aggregate(**aggs).order_by(["unit_id", "period"]).execute()
    persons = persons_t.order_by("unit_id").execute()

    persons["exposure_days"] = (persons["exit_day"] - persons["entry_day"]).clip(lower=0)
    dropped = int((persons["exposure_days"] <= 0).sum())
    notes = []
    if dropped:
        msg = (
            f"{dropped} cohort member(s) have no person-time alive and registered in months "
            f"-{pre_months}..+{post_months} of their index date and were dropped"
        )
        warnings.warn(msg, DataWarning, stacklevel=2)
        notes.append(msg)
    persons = persons.loc[persons["exposure_days"] > 0].reset_index(drop=True)
    if persons.empty:
        raise DataValidationError("no cohort member has any person-time in the analysis window")
    extra = cohort[keep].copy()
    extra["unit_id"] = np.arange(len(cohort), dtype=np.int64)
    persons = persons.merge(extra, on="unit_id", how="left", validate="one_to_one")
    events["period"] = events["period"].astype("int64")
    return OutcomePanel(
        persons=persons, events=events.reset_index(drop=True), outcomes=tuple(outcomes),
        pre_months=pre_months, post_months=post_months, n_dropped_no_exposure=dropped, notes=tuple(notes),
    )


def end_of_life_admissions(
    cohort: pd.DataFrame, activity: pd.DataFrame, population: pd.DataFrame, *, days: int = 100, con=None
) -> pd.DataFrame:
    """Emergency admissions in the last ``days`` days of life, per decedent in the cohort.

    Returns one row per cohort member who died after their index date:
    ``person_id, treated, death_date, emergency_admissions_last_days, days_observed``
    (days observed within the last ``days`` days, shorter when registration started later).

    Examples
    --------
    >>> import pandas as pd
    >>> coh = pd.DataFrame({"person_id": ["a"], "treated": [1], "index_date": pd.to_datetime(["2023-01-01"])})
    >>> pop = pd.DataFrame({"person_id": ["a"], "death_date": pd.to_datetime(["2023-06-01"])})
    >>> act = pd.DataFrame({"person_id": ["a", "a"], "setting": ["emergency_admission"] * 2,
    ...     "date": pd.to_datetime(["2023-01-10", "2023-05-20"])})
    >>> int(end_of_life_admissions(coh, act, pop)["emergency_admissions_last_days"].iloc[0])
    1
    """
    if "death_date" not in population.columns:
        raise DataValidationError("`population` has no `death_date` column: end-of-life outcomes need it")
    con = engine_of(activity, con)
    coh = cohort[["person_id", "treated", "index_date"]].copy()
    coh["person_id"] = coh["person_id"].astype(str)
    pop = population[["person_id", "death_date"]].copy()
    pop["person_id"] = pop["person_id"].astype(str)
    tc = as_table(con, coh, "_eol_c")
    tp = as_table(con, pop, "_eol_p")
    d = tc.inner_join(tp, tc.person_id == tp.person_id)
    d = d.filter(d.death_date.notnull() & (d.death_date >= d.index_date))
    d = d.select("person_id", "treated", "index_date", "death_date")
    if is_table(activity):
        ta = activity.filter(activity.setting == "emergency_admission").select("person_id", "date")
        ta = ta.mutate(date=ta.date.cast("timestamp"))
    else:
        acts = activity.loc[activity["setting"] == "emergency_admission", ["person_id", "date"]].copy()
        acts["person_id"] = acts["person_id"].astype(str)
        ta = as_table(con, acts, "_eol_a")
    e = d.left_join(ta, d.person_id == ta.person_id)
    gap = e.death_date.delta(e.date, unit="day")
    inwin = (gap >= 0) & (gap < days)
    out = e.group_by(["person_id", "treated", "death_date", "index_date"]).aggregate(
        emergency_admissions_last_days=ibis.ifelse(inwin, 1, 0).sum().cast("int64")
    ).order_by("person_id").execute()
    out["days_observed"] = days
    return out.drop(columns=["index_date"])


def relative_period_days(pre_months: int, post_months: int) -> pd.DataFrame:
    """Day bounds of each relative period (for documentation and tests)."""
    k = np.arange(-pre_months, post_months)
    return pd.DataFrame({"period": k, "start_day": period_bounds(k), "end_day": period_bounds(k + 1)})

