"""Prior use as a profile: look-back bins for matching, balance per pre-period month, and its plot.

People are often enrolled after a *spell* of hospital use (two admissions in six months, a recent
crisis). Matching on look-back totals (12, 3 and 1 months) balances the totals but not their timing: a
control whose admissions fell eleven months ago and an enrolled patient whose fell last quarter have
the same 12-month count, and the event study then shows pre-period "effects". Matching on the profile
(counts in each of the months nearest the index, then in quarters back to the start of the pre-period)
balances the timing too. :func:`profile_bins` builds the bins, :class:`ProfileBalance` measures
balance month by month for every profiled outcome, and :func:`trajectory_balance_plot` draws it.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pandas as pd

from .balance import SMD_THRESHOLD

__all__ = ["profile_bins", "profile_covariates", "monthly_covariates", "bin_name", "spanned_by", "rule_features",
           "ProfileBalance",
           "trajectory_balance_plot"]


def profile_bins(months: int, monthly: int = 3) -> list[tuple[int, int]]:
    """Look-back bins ``(first, last)`` in months before the index month (1 = the month before).

    The ``monthly`` months nearest the index are bins of their own; earlier months are grouped in
    quarters back to ``months`` (a last, shorter bin takes any remainder).

    Examples
    --------
    >>> profile_bins(12)
    [(1, 1), (2, 2), (3, 3), (4, 6), (7, 9), (10, 12)]
    >>> profile_bins(8, monthly=6)
    [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 8)]
    """
    if months < 1 or monthly < 0:
        raise ValueError(f"profile_bins: expected months >= 1 and monthly >= 0, got {months}, {monthly}")
    bins = [(k, k) for k in range(1, min(monthly, months) + 1)]
    k = len(bins) + 1
    while k <= months:
        bins.append((k, min(k + 2, months)))
        k += 3
    return bins


def bin_name(measure: str, first: int, last: int) -> str:
    """Covariate name of a look-back bin: ``emergency_admission_m1`` or ``emergency_admission_m4_6``.

    Examples
    --------
    >>> bin_name("ae_attendance", 4, 6)
    'ae_attendance_m4_6'
    """
    return f"{measure}_m{first}" if first == last else f"{measure}_m{first}_{last}"


def profile_covariates(measures: Sequence[str], months: int, monthly: int = 3) -> dict[str, tuple[str, int, int]]:
    """Profile covariates for each measure: name -> (measure, first, last month before the index).

    Examples
    --------
    >>> list(profile_covariates(["emergency_admission"], 6))
    ['emergency_admission_m1', 'emergency_admission_m2', 'emergency_admission_m3', 'emergency_admission_m4_6']
    """
    return {bin_name(ms, a, b): (ms, a, b) for ms in measures for a, b in profile_bins(months, monthly)}


def spanned_by(first: int, last: int, bins: Sequence[tuple[int, int]]) -> bool:
    """Is the window ``first..last`` an exact union of ``bins`` (so a sum of profile covariates)?

    Examples
    --------
    >>> spanned_by(1, 12, profile_bins(12)), spanned_by(1, 5, profile_bins(12))
    (True, False)
    """
    covered = [b for b in bins if b[0] >= first and b[1] <= last]
    return sum(b[1] - b[0] + 1 for b in covered) == last - first + 1


def rule_features(measures: Sequence[str], bins: Sequence[tuple[int, int]], thresholds: Sequence[int] = (1, 2, 3),
                  ) -> list[tuple[str, list[str], int]]:
    """Case-finding-rule indicators for the propensity model: "at least ``c`` events in the last ``w`` months".

    Enrolment rules are thresholds on recent counts (two admissions in six months), which a score linear
    in monthly counts can only approximate: it then pairs enrolled people with controls whose use has
    the same weighted sum but a different timing. For every count measure, every window ``w`` in
    3, 6, 12, 18, 24, ... months that the bins span from month 1, and every threshold ``c``, the
    indicator enters the model. Returns (name, bin covariate names summed, threshold).

    Examples
    --------
    >>> [f[0] for f in rule_features(["emergency_admission"], profile_bins(6), thresholds=(2,))]
    ['emergency_admission_ge2_3m', 'emergency_admission_ge2_6m']
    >>> rule_features(["bed_days"], profile_bins(12))
    []
    """
    ends = [b for _, b in bins]
    windows = [w for w in ends if (w == 3 or w % 6 == 0) and spanned_by(1, w, bins)]
    out = []
    for ms in measures:
        if ms in ("bed_days", "cost"):
            continue  # amounts, not counts: their bins enter the model as they are
        for w in windows:
            cols = [bin_name(ms, a, b) for a, b in bins if b <= w]
            out += [(f"{ms}_ge{c}_{w}m", cols, int(c)) for c in thresholds]
    return out


def monthly_covariates(measures: Sequence[str], months: int) -> dict[str, tuple[str, int, int]]:
    """One look-back window per measure and pre-period month (``-k`` is window ``(k, k)``), for
    :class:`ProfileBalance`; the names are internal (they never enter the model or the balance table).

    Examples
    --------
    >>> monthly_covariates(["bed_days"], 2)
    {'_month_bed_days_1': ('bed_days', 1, 1), '_month_bed_days_2': ('bed_days', 2, 2)}
    """
    return {f"_month_{ms}_{k}": (ms, k, k) for ms in measures for k in range(1, int(months) + 1)}


_SOON_MAX_BYTES = 256 * 2**20
_ADDER: list[ThreadPoolExecutor] = []


def _adder() -> ThreadPoolExecutor:
    """One thread for every :class:`ProfileBalance`'s adds, started on first use."""
    if not _ADDER:
        _ADDER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="evaltool-profile-balance"))
    return _ADDER[0]


class ProfileBalance:
    """Balance of each profiled outcome in every pre-period month, built up risk set by risk set.

    ``add`` takes one risk set's monthly values (rows x (measure, month): the columns of
    :func:`monthly_covariates`, fetched with the other covariates, one risk set at a time) and whether
    each row is enrolled, everyone weighted 1 (*before* matching); it keeps the rows of the enrolled and
    of their matched controls. ``table`` takes the matched cohort (with its weights: *after* matching) and
    returns one row per outcome and month.

    Examples
    --------
    >>> pb = ProfileBalance(["emergency_admission"], 3)
    >>> M = np.array([[1.0, 1, 0], [0, 0, 0], [0, 0, 0]])  # months -1, -2, -3 of 3 people
    >>> pb.add(6, np.array([0, 1, 2]), np.array([True, False, False]), M, keep=np.array([True, False, True]))
    >>> coh = pd.DataFrame({"_row": [0, 2], "_period": [6, 6], "treated": [1, 0], "weights": [1.0, 1.0]})
    >>> pb.table(coh).query("month == -1")[["mean_treated", "mean_control_before", "mean_control_after"]].values.tolist()
    [[1.0, 0.0, 0.0]]
    """

    def __init__(self, measures: Sequence[str], months: int) -> None:
        self.measures = list(measures)
        self.months = int(months)
        shape = (2, self.months, len(self.measures))  # group (0 candidates, 1 treated) x month x measure
        self._n = np.zeros(2)
        self._s = np.zeros(shape)
        self._ss = np.zeros(shape)
        self._kept: dict[tuple[int, int], np.ndarray] = {}  # (period, row) -> months x measures
        self._pending: Future | None = None  # the add started by add_soon, in a thread

    def add_soon(self, period: int, rows: np.ndarray, treated: np.ndarray, values: np.ndarray,
                 keep: np.ndarray | None = None) -> None:
        """:meth:`add`, started in a thread once the previous one has finished (its numpy sums release the
        interpreter lock, so the caller builds and matches the next risk set meanwhile): the same additions in
        the same order. Inline when the values are large (one risk set's in flight at most, and only then)."""
        self.wait()
        if np.asarray(values).nbytes > _SOON_MAX_BYTES:
            self.add(period, rows, treated, values, keep)
            return
        self._pending = _adder().submit(self.add, period, rows, treated, values, keep)

    def wait(self) -> None:
        """Wait for the add started by :meth:`add_soon` (re-raising its error)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def add(self, period: int, rows: np.ndarray, treated: np.ndarray, values: np.ndarray,
            keep: np.ndarray | None = None) -> None:
        """Add one risk set: person rows, whether each is enrolled, their monthly values (columns
        measure-major: measure j, month -k at ``j * months + k - 1``) and the rows to keep for ``table``."""
        t = np.asarray(treated, dtype=bool)
        values = np.asarray(values, dtype=float)
        shape = (len(self.measures), self.months)
        for g, m in ((1, t), (0, ~t)):
            # Sums over the group's rows, row after row as before, on (rows x measure-major columns) and only
            # then arranged as months x measures: the same additions, without gathering a transposed copy.
            x = np.ascontiguousarray(values[m])  # row-major whatever the risk set's layout: the same order of sums
            self._s[g] += x.sum(axis=0).reshape(shape).T
            self._ss[g] += np.multiply(x, x, out=x).sum(axis=0).reshape(shape).T
            self._n[g] += int(m.sum())
        idx = np.flatnonzero(t if keep is None else keep)
        # A copy of the kept rows only (a view would keep the whole risk set's values alive), months x measures.
        kept = np.ascontiguousarray(values[idx]).reshape(len(idx), *shape).transpose(0, 2, 1)
        for j, i in enumerate(idx):
            self._kept[(int(period), int(rows[i]))] = kept[j]

    def _after(self, cohort: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Weighted sums per group x month x measure over the matched cohort."""
        s = np.zeros((2, self.months, len(self.measures)))
        wsum = np.zeros(2)
        zero = np.zeros((self.months, len(self.measures)))
        for r, p, t, w in zip(cohort["_row"].to_numpy(), cohort["_period"].to_numpy(),
                              cohort["treated"].to_numpy(dtype=np.int64), cohort["weights"].to_numpy(dtype=float)):
            s[t] += w * self._kept.get((int(p), int(r)), zero)
            wsum[t] += w
        return s, wsum

    def table(self, cohort: pd.DataFrame) -> pd.DataFrame:
        """One row per outcome and pre-period month (``month`` -N..-1): means per person in that month for
        the enrolled, all candidates (before) and matched controls (after, weighted), the SMDs (SD of the
        enrolled, as the balance table) and the ratio enrolled / matched controls."""
        self.wait()
        s_after, w_after = self._after(cohort)
        n_t, n_c = max(self._n[1], 1.0), max(self._n[0], 1.0)
        mean_t = self._s[1] / n_t
        sd_t = np.sqrt(np.maximum(self._ss[1] / n_t - mean_t**2, 0) * n_t / max(n_t - 1, 1))
        mean_cb = self._s[0] / n_c
        mean_ca = s_after[0] / max(w_after[0], 1e-300)
        mean_ta = s_after[1] / max(w_after[1], 1e-300)
        rows = []
        for j, ms in enumerate(self.measures):
            for k in range(self.months):
                sd = sd_t[k, j]

                def smd(d: float, sd: float = sd) -> float:
                    return float(d / sd) if sd > 1e-12 else (0.0 if abs(d) < 1e-12 else float(np.sign(d) * np.inf))

                rows.append({
                    "outcome": ms, "month": -(k + 1), "mean_treated": float(mean_ta[k, j]),
                    "mean_control_before": float(mean_cb[k, j]), "mean_control_after": float(mean_ca[k, j]),
                    "smd_before": smd(mean_t[k, j] - mean_cb[k, j]), "smd_after": smd(mean_ta[k, j] - mean_ca[k, j]),
                    "ratio_after": float(mean_ta[k, j] / mean_ca[k, j]) if mean_ca[k, j] > 0 else np.nan,
                })
        out = pd.DataFrame(rows).sort_values(["outcome", "month"], kind="stable").reset_index(drop=True)
        out["balanced"] = out["smd_after"].abs() < SMD_THRESHOLD
        return out


def trajectory_balance_plot(table: pd.DataFrame):
    """Mean use per person in each pre-period month: enrolled, matched controls and all candidates,
    one panel per profiled outcome (plotnine).

    Examples
    --------
    >>> t = pd.DataFrame({"outcome": ["emergency_admission"] * 2, "month": [-2, -1], "mean_treated": [0.1, 0.3],
    ...                   "mean_control_before": [0.01, 0.01], "mean_control_after": [0.1, 0.29]})
    >>> p = trajectory_balance_plot(t)
    """
    from plotnine import (
        aes,
        facet_wrap,
        geom_line,
        geom_point,
        ggplot,
        labs,
        scale_color_manual,
        scale_linetype_manual,
    )

    from evaltool.plotting import PALETTE, theme_evaltool

    groups = {"mean_treated": "Enrolled", "mean_control_after": "Matched controls",
              "mean_control_before": "All candidates (before matching)"}
    long = table.melt(id_vars=["outcome", "month"], value_vars=list(groups), var_name="group", value_name="mean")
    long["group"] = pd.Categorical(long["group"].map(groups), categories=list(groups.values()))
    long["outcome"] = long["outcome"].str.replace("_", " ").str.capitalize()
    return (
        ggplot(long, aes("month", "mean", color="group", linetype="group"))
        + geom_line(size=0.8)
        + geom_point(size=1.2)
        + facet_wrap("~outcome", scales="free_y")
        + scale_color_manual(values=[PALETTE[0], PALETTE[1], PALETTE[3]])
        + scale_linetype_manual(values=["solid", "solid", "dashed"])
        + labs(x="Months before the index month", y="Mean per person in the month", color="", linetype="")
        + theme_evaltool()
    )
