"""Activity covariates of every risk set from one engine query: person-month totals, summed in numpy.

Risk-set matching needs, for each enrolment month ``p`` and each person in its risk set, activity
counts over windows of months before ``p`` (look-back totals, profile bins, single months). Asking the
engine once per risk set scans the activity (or a persisted person-month table) once per enrolment
month -- twice when the pooled propensity model is fitted first -- and at national scale that table no
longer fits the engine's memory. Instead, :class:`PersonMonths` asks once: the events of the people who
can appear in any risk set, in the months any look-back window reaches, summed per person and month.
The answer is a compressed form of every risk set's design matrix (one row per person-month *with
events*, a few measures), kept in numpy sorted by month; any risk set's window sums are then a
contiguous slice per window and a ``bincount``, in milliseconds, as often as needed.

Counts are integers and costs are summed in pence, so every window sum is exact and equals the
engine's own sum (:func:`evaltool.matching.covariates.activity_covariates`) bit for bit.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .covariates import ACTIVITY_SETTINGS, _activity_between, _month_start, _window

__all__ = ["PersonMonths"]


class PersonMonths:
    """Person-month activity totals of the people in the risk sets, fetched from the engine in one query.

    Parameters
    ----------
    activity : DataFrame or Ibis table (person_id, date, setting[, bed_days, cost]).
    person_ids : the population's ids (position = population row).
    rows : population rows whose activity is needed (everyone who can enter a risk set).
    periods : enrolment month indices (relative to ``origin``).
    wanted : covariate name -> (measure, months) or (measure, first, last) months before the index month.

    Examples
    --------
    >>> act = pd.DataFrame({"person_id": ["a", "a", "b"], "setting": ["emergency_admission"] * 3,
    ...                     "date": pd.to_datetime(["2021-01-05", "2021-03-02", "2021-03-20"])})
    >>> pm = PersonMonths(act, np.array(["a", "b"], dtype=object), np.array([0, 1]), np.array([3]),
    ...                   pd.Timestamp("2021-01-01"), {"emergency_admission_2m": ("emergency_admission", 2)})
    >>> pm.at(3, np.array([0, 1])).tolist()
    [[1.0], [1.0]]
    """

    def __init__(self, activity: Any, person_ids: np.ndarray, rows: np.ndarray, periods: np.ndarray,
                 origin: pd.Timestamp, wanted: dict[str, tuple], *, con: Any = None):
        import ibis

        from evaltool.engine import engine_of

        self.wanted = {c: _window(w) for c, w in wanted.items()}
        self.n = len(person_ids)
        eng = engine_of(activity, con)
        self.max_l = max_l = max(last for _, _, last in self.wanted.values())
        lo = _month_start(origin, int(np.min(periods)) - max_l)[0]
        hi = _month_start(origin, int(np.max(periods)))[0]
        cols = ["person_id", "date", "setting"] + [c for c in ("bed_days", "cost") if c in activity.columns]
        self.measures = measures = sorted({m for m, _, _ in self.wanted.values()})
        act = _activity_between(eng, activity, cols, lo, hi)
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        ids = pd.Series(np.asarray(person_ids, dtype=object)[rows]).astype(str)
        people = eng.upload(pd.DataFrame({"person_id": ids, "_row": rows.astype(np.int32)}), "risk_set_people")
        key = act.person_id if act.person_id.type().is_string() else act.person_id.cast("string")
        j = act.join(people, key == people.person_id)
        m_idx = ((j.date.year() - origin.year) * 12 + (j.date.month() - origin.month)).cast("int32")
        aggs = {}
        for ms in measures:
            if ms in ACTIVITY_SETTINGS:
                aggs[ms] = ibis.ifelse(j.setting == ms, 1, 0).sum().cast("int32")
            elif ms == "bed_days":
                aggs[ms] = ibis.ifelse(j.setting == "emergency_admission", j.bed_days.fill_null(0), 0).sum().cast("float64")
            else:  # cost, in pence: exact sums
                aggs[ms] = (j.cost.fill_null(0).cast("decimal(18, 2)").sum() * 100).cast("int64")
        q = j.mutate(_m=m_idx).group_by(["_m", "_row"]).aggregate(**aggs)
        # Fetched in batches into compact arrays (a national extract has tens of millions of person-months);
        # sorted here rather than by the engine (a sort there costs its memory). The keys are unique, so the
        # order is the same whatever order the engine returns.
        if eng.backend == "duckdb":
            batches = eng.con.to_pyarrow_batches(q, chunk_size=1_000_000)
        else:
            batches = eng.con.to_pyarrow(q).to_batches()
        parts: dict[str, list[np.ndarray]] = {c: [] for c in ["_m", "_row", *measures]}
        for bt in batches:
            for c in parts:
                parts[c].append(bt.column(c).to_numpy(zero_copy_only=False).copy())
        cat = {c: np.concatenate(v) if v else np.zeros(0, np.int32) for c, v in parts.items()}
        del parts
        order = np.lexsort((cat["_row"], cat["_m"]))
        self.m = cat.pop("_m")[order].astype(np.int32)
        self.row = cat.pop("_row")[order].astype(np.int64)
        self.values = {ms: cat.pop(ms)[order] for ms in measures}
        del order
        self.n_rows = len(self.m)

    def at(self, period: int, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The covariates (columns in ``wanted``'s order) of population ``rows`` as of month ``period``.

        People without events in a window get 0. Returned column-major (``rows.size`` x ``len(wanted)``, each
        covariate contiguous); ``out`` (``rows.size`` x at least ``len(wanted)``, any layout) receives them in
        its first columns instead.
        """
        p = int(period)
        pos = np.full(self.n, -1, dtype=np.int64)
        pos[rows] = np.arange(rows.size)
        # Each measure as a (months back x rows) matrix over the longest window; a window sums its rows (exact:
        # integer counts and pence).
        a, b = np.searchsorted(self.m, [p - self.max_l, p])
        r = pos[self.row[a:b]]
        ok = r >= 0
        cell = (p - 1 - self.m[a:b][ok]).astype(np.int64) * rows.size + r[ok]
        by_month = {ms: np.bincount(cell, weights=self.values[ms][a:b][ok], minlength=rows.size * self.max_l)
                    .reshape(self.max_l, rows.size) for ms in self.measures}
        k = len(self.wanted)
        if out is None and not k:
            return np.zeros((rows.size, 0))
        block = np.empty((k, rows.size))  # one covariate per row, written in place
        for i, (ms, first, last) in enumerate(self.wanted.values()):
            if first == last:
                block[i] = by_month[ms][first - 1]
            else:
                np.sum(by_month[ms][first - 1:last], axis=0, out=block[i])
            if ms == "cost":
                block[i] /= 100.0
        if out is None:
            return block.T  # column-major: each covariate's values contiguous, as its readers take them
        for i in range(0, rows.size, 2048):  # transposed in cache-sized blocks (2x faster than at once)
            out[i:i + 2048, :k] = block[:, i:i + 2048].T
        return out
