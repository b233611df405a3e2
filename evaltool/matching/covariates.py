"""The engine side of risk-set matching: activity covariates as of each index period, candidate
sampling, and the matched cohort's events (Ibis over the engine; only one risk set's rows at a time
come to Python).

(Risk-set matching itself takes its covariates from :mod:`evaltool.matching.person_months`: one query
for every risk set; :func:`activity_covariates` here is the engine-side reference.) Covariates are
computed sparse-first: events are aggregated once per person-month (persisted in the
engine), then the person-month rows with events are summed over each index period's look-back
windows; people without events in a window get 0. Never a range join of everyone against every date.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import ibis
import numpy as np
import pandas as pd

__all__ = ["ACTIVITY_SETTINGS", "PeriodCovariates", "activity_covariates", "parse_activity_covariates",
           "sample_candidates"]

_ACT_RE = re.compile(r"^(?P<measure>[a-z_]+?)_(?:(?P<months>\d+)m|m(?P<first>\d+)(?:_(?P<last>\d+))?)$")
ACTIVITY_SETTINGS = ("emergency_admission", "elective_admission", "ae_attendance", "outpatient_attendance",
                     "care_home_admission", "gp_contact")


def _month_start(origin: pd.Timestamp, k: np.ndarray | int) -> pd.DatetimeIndex:
    base = np.datetime64(origin.strftime("%Y-%m"), "M")
    return pd.DatetimeIndex(np.atleast_1d((base + np.asarray(k, dtype="int64")).astype("datetime64[D]")))


def parse_activity_covariates(covariates: Sequence[str]) -> dict[str, tuple[str, int, int]]:
    """Split activity covariate names into (measure, first, last month before the index month).

    ``emergency_admission_12m`` is months 1-12 before the index month (a look-back total);
    ``emergency_admission_m4_6`` months 4-6 and ``emergency_admission_m1`` month 1 (profile bins).

    Examples
    --------
    >>> parse_activity_covariates(["age", "emergency_admission_12m", "bed_days_m4_6"])
    {'emergency_admission_12m': ('emergency_admission', 1, 12), 'bed_days_m4_6': ('bed_days', 4, 6)}
    """
    out: dict[str, tuple[str, int, int]] = {}
    for c in covariates:
        m = _ACT_RE.match(c)
        if m and (m["measure"] in ACTIVITY_SETTINGS or m["measure"] in ("bed_days", "cost")):
            if m["months"] is not None:
                out[c] = (m["measure"], 1, int(m["months"]))
            else:
                first = int(m["first"])
                last = int(m["last"]) if m["last"] is not None else first
                if 1 <= first <= last:
                    out[c] = (m["measure"], first, last)
    return out


def _window(spec: tuple) -> tuple[str, int, int]:
    """(measure, months) or (measure, first, last) -> (measure, first, last)."""
    return (spec[0], 1, int(spec[1])) if len(spec) == 2 else (spec[0], int(spec[1]), int(spec[2]))


def activity_covariates(
    activity: pd.DataFrame,
    periods: np.ndarray,
    origin: pd.Timestamp,
    wanted: dict[str, tuple],
    *,
    con: Any = None,
) -> pd.DataFrame:
    """Activity counts over the months before each index period, computed in the SQL engine.

    Parameters
    ----------
    activity : DataFrame (person_id, date, setting[, bed_days, cost])
    periods : month indices (relative to ``origin``) of the index periods
    wanted : covariate name -> (measure, months) for the N months before the index month, or
        (measure, first, last) for months ``first``..``last`` before it (1 = the month before)

    Returns
    -------
    DataFrame with ``period``, ``person_id`` and one column per wanted covariate, only for people with
    at least one event in some window (everyone else has 0).

    Examples
    --------
    >>> act = pd.DataFrame({"person_id": ["a", "a"], "date": pd.to_datetime(["2021-01-05", "2021-03-02"]),
    ...                     "setting": ["emergency_admission"] * 2})
    >>> activity_covariates(act, np.array([3]), pd.Timestamp("2021-01-01"),
    ...                     {"emergency_admission_2m": ("emergency_admission", 2)})["emergency_admission_2m"].tolist()
    [1.0]
    """
    names = list(wanted)
    if not names or len(periods) == 0:
        return pd.DataFrame({"period": pd.Series(dtype="int64"), "person_id": pd.Series(dtype="object"),
                             **{c: pd.Series(dtype="float64") for c in names}})
    return PeriodCovariates(activity, periods, origin, wanted, con=con).query(periods).execute().pipe(_typed_cov)


def _typed_cov(res: pd.DataFrame) -> pd.DataFrame:
    res["period"] = res["period"].astype("int64")
    res["person_id"] = res["person_id"].astype(object)
    return res


class PeriodCovariates:
    """Activity covariates as of each index period, kept in the engine and fetched one risk set at a time.

    Events are aggregated once per person-month (persisted in the engine); :meth:`at` returns the
    look-back sums for one period, only for people with events in its windows (everyone else has 0),
    so Python holds one risk set's covariates at a time, never every period's.
    """

    #: Target person-month rows read per query (several small risk sets share one query).
    rows_per_query = 2_000_000

    def __init__(self, activity: Any, periods: np.ndarray, origin: pd.Timestamp,
                 wanted: dict[str, tuple], *, con: Any = None):
        import ibis

        from evaltool.engine import engine_of

        self.wanted = wanted = {c: _window(w) for c, w in wanted.items()}
        self.eng = eng = engine_of(activity, con)
        self.max_l = max(last for _, _, last in wanted.values())
        lo = _month_start(origin, int(np.min(periods)) - self.max_l)[0]
        hi = _month_start(origin, int(np.max(periods)))[0]
        cols = ["person_id", "date", "setting"] + [c for c in ("bed_days", "cost") if c in activity.columns]
        self.measures = measures = sorted({m for m, _, _ in wanted.values()})
        act = _activity_between(eng, activity, cols, lo, hi)
        m_idx = (act.date.year() - origin.year) * 12 + (act.date.month() - origin.month)
        aggs = {}
        for ms in measures:
            if ms in ACTIVITY_SETTINGS:
                aggs[ms] = ibis.ifelse(act.setting == ms, 1, 0).sum()
            elif ms == "bed_days":
                aggs[ms] = ibis.ifelse(act.setting == "emergency_admission", act.bed_days.fill_null(0), 0).sum()
            else:
                aggs[ms] = act.cost.fill_null(0).cast("decimal(18, 2)").sum()
        self.periods = sorted(int(q) for q in np.asarray(periods))
        self._cache: dict[int, pd.DataFrame] = {}
        # Sparse person-month totals, once.
        self.pm = eng.persist(act.mutate(m=m_idx.cast("int64")).group_by(["person_id", "m"]).aggregate(**aggs),
                              "person_month")
        # Periods fetched per query: every query costs a round trip (large on Spark), every period
        # fetched at once costs memory; about 2 million person-month rows per query balance the two.
        n_pm = int(self.pm.count().execute())
        per_period = max(1, n_pm * self.max_l // max(1, int(np.ptp(self.periods)) + self.max_l))
        self.chunk = int(np.clip(self.rows_per_query // per_period, 1, len(self.periods)))

    def query(self, periods: np.ndarray) -> Any:
        """Each index period sums the person-month rows in its look-back windows (an expression).

        One filtered aggregation per period, stacked: engines scan the person-month table with a
        range filter (a join on ``m < period`` would be an inequality join, several times slower).
        """
        parts = [self._window(int(p)).mutate(period=ibis.literal(int(p), type="int64")) for p in periods]
        u = parts[0] if len(parts) == 1 else ibis.union(*parts)
        return u.select("period", "person_id", *self.wanted).order_by(["period", "person_id"])

    def _window(self, p: int) -> Any:
        pm = self.pm
        w = pm.filter((pm.m < p) & (pm.m >= p - self.max_l))
        out = {c: ibis.ifelse((w.m >= p - last) & (w.m <= p - first), w[ms], 0).sum().cast("float64")
               for c, (ms, first, last) in self.wanted.items()}
        return w.group_by("person_id").aggregate(**out)

    def at(self, period: int, people: np.ndarray | None = None) -> pd.DataFrame:
        """``person_id`` and the covariates at one index period (people with events only).

        DuckDB answers one risk set per query (memory stays at one risk set); engines with a high cost
        per query (Spark) fetch ``chunk`` periods at a time. ``people`` (ids) restricts the answer to a
        sampled risk set, so only its rows leave the engine.
        """
        p = int(period)
        if people is not None:
            ids = self.eng.upload(pd.DataFrame({"person_id": pd.Series(people, dtype=object).astype(str)}), "risk_set")
            w = self._window(p)
            res = w.filter(w.person_id.isin(ids.person_id)).order_by("person_id").execute()
            res["person_id"] = res["person_id"].astype(object)
            return res
        if p not in self._cache:
            todo = [q for q in self.periods if q >= p][: self.chunk]
            self._cache = {q: g.drop(columns="period") for q, g in
                           _typed_cov(self.query(np.asarray(todo)).execute()).groupby("period")}
            for q in todo:
                self._cache.setdefault(q, pd.DataFrame(columns=["person_id", *self.wanted]))
        return self._cache.pop(p).reset_index(drop=True)


def _activity_between(eng: Any, activity: Any, cols: list[str], lo: pd.Timestamp, hi: pd.Timestamp) -> Any:
    """Activity rows dated in ``[lo, hi)`` as a table on ``eng`` (a table stays in the engine)."""
    from evaltool.engine import is_table

    if is_table(activity):
        a = activity.select(*cols)
        return a.filter((a.date >= lo.date()) & (a.date < hi.date()))
    return eng.upload(activity.loc[(activity["date"] >= lo) & (activity["date"] < hi), cols], "act")


def sample_candidates(cand: np.ndarray, treated: np.ndarray, k: int, rng: np.random.Generator,
                      strata: np.ndarray | None = None) -> np.ndarray:
    """At most ``k`` candidates per treated person, drawn uniformly at random without replacement.

    Within each exact stratum when ``strata`` is given (so a stratum keeps its own candidates).
    Returns the sampled candidate mask.

    Examples
    --------
    >>> cand = np.r_[np.zeros(2, bool), np.ones(100, bool)]
    >>> int(sample_candidates(cand, ~cand, 5, np.random.default_rng(1)).sum())
    10
    """
    out = np.zeros_like(cand)
    groups = [(cand, treated)] if strata is None else [
        (cand & (strata == s), treated & (strata == s)) for s in np.unique(strata[treated])]
    for c, t in groups:
        idx = np.flatnonzero(c)
        want = k * int(t.sum())
        if idx.size > want:
            idx = np.sort(rng.choice(idx, size=want, replace=False))
        out[idx] = True
    return out


def _cohort_events(activity: Any, people: pd.DataFrame, setting: str) -> pd.DataFrame:
    """``_k, date`` of the ``setting`` events of ``people`` (a table: joined in the engine)."""
    from evaltool.engine import engine_of, is_table

    if not is_table(activity):
        a = activity.loc[activity["setting"] == setting, ["person_id", "date"]]
        return a.merge(people, on="person_id", how="inner")
    eng = engine_of(activity)
    ids = people.assign(person_id=people["person_id"].astype(str))
    p = eng.upload(ids, "trajectory_people")
    a = activity.filter(activity.setting == setting).select("person_id", "date")
    j = a.join(p, a.person_id == p.person_id).select("_k", "date").order_by(["_k", "date"])
    out = j.execute()
    out["date"] = pd.to_datetime(out["date"])
    return out
