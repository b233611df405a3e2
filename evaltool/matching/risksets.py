"""Building the monthly risk sets of :func:`evaltool.matching.risk_set_match` and their propensity model.

A risk set for enrolment month ``p`` holds the people enrolled in ``p`` and every candidate who, on the
first day of ``p``, is alive, registered, of age and not yet enrolled. :class:`RiskSets` keeps the
person-level arrays once and builds any month's set (rows, enrolled flags, design) on demand, so the
propensity model can be fitted over all months first (:meth:`RiskSets.fit_ps`) and matching run after.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaltool.errors import MatchingError

from .compact import CompactColumns
from .pooled_ps import PooledLogit, pooled_logit, sample_candidates

__all__ = ["RiskSet", "RiskSets", "describe_month", "check_any_controls", "key_positions", "outside_range"]

#: About this many candidate rows enter the pooled propensity fit (at least 10 per enrolled person).
FIT_CANDIDATES = 500_000


def describe_month(origin: pd.Timestamp, p: int) -> str:
    """``YYYY-MM`` of month index ``p`` after ``origin``.

    Examples
    --------
    >>> describe_month(pd.Timestamp("2021-04-01"), 10)
    '2022-02'
    """
    return str((np.datetime64(origin.strftime("%Y-%m"), "M") + np.timedelta64(int(p), "M")).astype(str))


@dataclass
class RiskSet:
    """One month's risk set: ``rows`` index the population; ``treated`` flags the enrolled among them."""

    period: int
    start: pd.Timestamp
    rows: np.ndarray
    treated: np.ndarray
    age: np.ndarray
    A: np.ndarray  # activity covariates (rows x activity names)
    n_not_eligible_treated: int
    n_eligible: int  # eligible candidates before any sampling (``candidates_per_treated``)

    @property
    def n_treated(self) -> int:
        return int(self.treated.sum())

    @property
    def n_candidates(self) -> int:
        return int((~self.treated).sum())


#: ``act_at(period, rows)`` -> the activity covariates (``rows`` x activity names) of population ``rows``
#: as of month ``period``.
ActivityAt = Callable[[int, np.ndarray], np.ndarray]

#: ``sample(period, candidates, enrolled)`` -> the sampled candidate mask (``candidates_per_treated``).
Sampler = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


class RiskSets:
    """Person-level arrays and the rules that make a month's risk set."""

    def __init__(self, *, pop: pd.DataFrame, treated: np.ndarray, per_t: np.ndarray, in_window: np.ndarray,
                 origin: pd.Timestamp, min_age: int, drop_person: np.ndarray,
                 act_at: ActivityAt | None, n_act: int,
                 static_design: CompactColumns, static_names: list[str], ps_act_cols: list[int], ps_act_names: list[str],
                 use_age: bool, rule_features: list[tuple[str, list[int], int]] | None = None) -> None:
        n = len(pop)
        self.n = n
        self.origin = origin
        self.treated = treated
        self.per_t = per_t
        self.in_window = in_window
        self.min_age = min_age
        self.drop_person = drop_person
        self.act_at = act_at
        self.n_act = n_act
        self.static_design = static_design
        self.ps_act_cols = ps_act_cols
        self.use_age = use_age
        # (name, activity columns summed, threshold): "at least c events in the last w months" indicators.
        self.rule_features = list(rule_features or [])
        self.ps_names = (["age"] if use_age else []) + list(static_names) + list(ps_act_names) + \
            [nm for nm, _, _ in self.rule_features]

        def date_col(c: str) -> np.ndarray:
            if c in pop.columns:
                return pd.to_datetime(pop[c]).to_numpy(dtype="datetime64[ns]")
            return np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")

        self.reg_start, self.reg_end, self.death = date_col("registration_start"), date_col("registration_end"), \
            date_col("death_date")
        self.enrol = pd.to_datetime(pop["index_date"]).to_numpy(dtype="datetime64[ns]")
        if "birth_date" in pop.columns:
            b = pd.DatetimeIndex(pd.to_datetime(pop["birth_date"]))
            self._birth = (b.year.to_numpy(), b.month.to_numpy(), b.day.to_numpy())
            self._age0 = None
        else:
            self._birth = None
            self._age0 = pop["age"].to_numpy(dtype=float)

    def month_start(self, p: int) -> pd.Timestamp:
        return pd.Timestamp(describe_month(self.origin, p) + "-01")

    def age_at(self, start: pd.Timestamp) -> np.ndarray:
        if self._birth is not None:
            by, bm, bd = self._birth
            return (start.year - by - ((start.month < bm) | ((start.month == bm) & (start.day < bd)))).astype(float)
        return self._age0 + (start - self.origin).days / 365.25

    def eligibility(self, p: int) -> dict[str, np.ndarray]:
        """Masks over the population at the start of month ``p``."""
        start = self.month_start(p)
        nxt = self.month_start(p + 1)
        s64, n64 = np.datetime64(start, "ns"), np.datetime64(nxt, "ns")
        alive = np.isnat(self.death) | (self.death > s64)
        registered = (np.isnat(self.reg_start) | (self.reg_start <= s64)) & (np.isnat(self.reg_end) | (self.reg_end > s64))
        is_t = self.treated & (self.per_t == p) & self.in_window
        not_yet = ~self.treated | (self.enrol >= n64)
        of_age = self.age_at(start) >= self.min_age
        return {"alive": alive, "registered": registered, "is_t": is_t, "not_yet": not_yet, "of_age": of_age}

    def build(self, p: int, exclude: np.ndarray | None = None, *, activity: bool = True,
              sample: Sampler | None = None) -> RiskSet:
        """Month ``p``'s risk set; ``exclude`` marks people who may not be candidates (controls already used).

        ``activity=False`` leaves the activity covariates at 0 (no engine query: eligibility only);
        ``sample`` draws the candidates kept (before their covariates are fetched).
        """
        e = self.eligibility(p)
        start = self.month_start(p)
        ok = e["alive"] & e["registered"] & e["of_age"]
        cand = e["not_yet"] & ok & ~e["is_t"] & ~self.drop_person
        if exclude is not None:
            cand &= ~exclude
        tmask = e["is_t"] & ok
        n_eligible = int(cand.sum())
        if sample is not None and tmask.any():
            cand = sample(p, cand, tmask)
        rows = np.flatnonzero(tmask | cand)
        rows = rows[~self.drop_person[rows]]
        age = self.age_at(start)[rows]
        if activity and self.n_act and self.act_at is not None and rows.size and tmask[rows].any():
            A = self.act_at(p, rows)
        else:
            A = np.zeros((rows.size, self.n_act))
        return RiskSet(period=p, start=start, rows=rows, treated=tmask[rows], age=age, A=A,
                       n_not_eligible_treated=int((e["is_t"] & ~tmask).sum()), n_eligible=n_eligible)

    def subset(self, rs: RiskSet, sel: np.ndarray) -> RiskSet:
        """The rows ``sel`` (positions) of a risk set built without activity, with their activity covariates."""
        rows = rs.rows[sel]
        A = np.zeros((rows.size, self.n_act))
        if self.n_act and self.act_at is not None and rows.size:
            A = self.act_at(rs.period, rows)
        return RiskSet(period=rs.period, start=rs.start, rows=rows, treated=rs.treated[sel], age=rs.age[sel], A=A,
                       n_not_eligible_treated=rs.n_not_eligible_treated, n_eligible=rs.n_eligible)

    def ps_design(self, rs: RiskSet, order: str = "C") -> np.ndarray:
        """Propensity-model covariates (no intercept) for a risk set's rows; ``order="F"`` (the same values)
        for scoring, which reads it column by column (:func:`~evaltool.matching.distance.row_dot`)."""
        # Written column block by column block into one array (as np.column_stack of the parts, without them).
        n_static, n_act = self.static_design.shape[1], len(self.ps_act_cols)
        out = np.empty((rs.rows.size, int(self.use_age) + n_static + n_act + len(self.rule_features)), order=order)
        j = 0
        if self.use_age:
            out[:, 0] = rs.age
            j = 1
        self.static_design.take(rs.rows, out=out[:, j:j + n_static])
        j += n_static
        if rs.A.flags.f_contiguous:  # column by column (the activity covariates come column-major)
            for jj, c in enumerate(self.ps_act_cols):
                out[:, j + jj] = rs.A[:, c]
        else:
            for i in range(0, rs.rows.size, 4096):  # in row blocks: a cache-friendly transpose when order="F"
                out[i:i + 4096, j:j + n_act] = rs.A[i:i + 4096, self.ps_act_cols]
        at = {c: j + i for i, c in enumerate(self.ps_act_cols)}
        j += n_act
        sums: dict[tuple[int, ...], np.ndarray] = {}
        for _, cols, th in self.rule_features:
            key = tuple(cols)
            if key not in sums:
                # Each window's count once (thresholds share it), added column by column from the design's
                # own columns: counts are whole numbers, so the sum is exact in any order.
                parts = [out[:, at[c]] if c in at else rs.A[:, c] for c in cols]
                sums[key] = sum(parts[1:], parts[0].copy())
            np.greater_equal(sums[key], th, out=out[:, j])
            j += 1
        return out

    def fit_ps(self, periods: list[int], rng: np.random.Generator, sample: Sampler | None = None,
               ) -> tuple[PooledLogit, dict[int, int], list[str], np.ndarray]:
        """Fit the pooled propensity model on every month with enrolled people and candidates.

        Returns the fit, the group code of each fitted month, the names of the covariates used and the
        column mask (constant columns dropped). ``sample`` (``candidates_per_treated``) draws each risk
        set's candidates before their covariates are fetched; the fit's own subsample is drawn from those.
        """
        Xs, ys, gs, frac = [], [], [], []
        code: dict[int, int] = {}
        # Candidates per enrolled person in the fit: 40, fewer for very large programmes so that the fit's design
        # stays near FIT_CANDIDATES rows (10 per enrolled person still estimates the slopes with ~90% of the
        # efficiency of the whole risk set: m / (m + 1) for m controls per case, Ury 1975, Biometrics 31:643).
        n_enrolled = max(1, int((self.treated & self.in_window).sum()))
        per_treated = int(np.clip(FIT_CANDIDATES // n_enrolled, 10, 40))
        for p in periods:
            rs = self.build(p, activity=False, sample=sample)
            if rs.n_treated == 0 or rs.n_candidates == 0:
                continue
            ti = np.flatnonzero(rs.treated)
            ci = np.flatnonzero(~rs.treated)
            keep = ci[sample_candidates(ti.size, ci.size, rng, per_treated=per_treated)]
            g = len(code)
            code[p] = g
            # Covariates of the rows in the fit only.
            Xs.append(self.ps_design(self.subset(rs, np.r_[ti, keep])))
            ys.append(np.r_[np.ones(ti.size), np.zeros(keep.size)])
            gs.append(np.full(ti.size + keep.size, g))
            frac.append(keep.size / ci.size * (ci.size / max(rs.n_eligible, ci.size)))
        if not code:
            raise MatchingError("internal: no risk set has both enrolled people and candidates")
        X = np.vstack(Xs)
        y = np.concatenate(ys)
        g = np.concatenate(gs)
        n_c = int((y == 0).sum())
        varying = X.std(axis=0) > 0 if X.shape[1] else np.zeros(0, bool)
        names = [nm for nm, v in zip(self.ps_names, varying) if v]
        if n_c <= len(names) + len(code):
            raise MatchingError(
                f"too few candidates to fit the propensity model: {n_c} candidate person-months for "
                f"{len(names)} covariates and {len(code)} enrolment months; use fewer `covariates` "
                "(or a longer enrolment window)")
        fit = pooled_logit(X[:, varying], y, g, sampling_fraction=np.asarray(frac), names=names)
        check_complete_separation(fit, X[:, varying], y, g, names, [describe_month(self.origin, p) for p in code])
        return fit, code, names, varying


def check_complete_separation(fit: PooledLogit, X: np.ndarray, y: np.ndarray, g: np.ndarray, names: list[str],
                              months: list[str]) -> None:
    """Raise if the fitted score puts every enrolled person above every candidate in every month (no overlap
    at all), naming the covariates that separate on their own.

    Examples
    --------
    >>> from evaltool.matching.pooled_ps import pooled_logit
    >>> X = np.array([[0.0], [1], [2], [10], [11]]); y = np.array([0.0, 0, 0, 1, 1]); g = np.zeros(5, int)
    >>> check_complete_separation(pooled_logit(X, y, g), X, y, g, ["flag"], ["2022-01"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    evaltool.errors.MatchingError: perfect separation: ...
    """
    eta = fit.intercepts[g] + X @ fit.coef
    sep_months = []
    for k in np.unique(g):
        m = g == k
        t, c = eta[m & (y == 1)], eta[m & (y == 0)]
        if t.size and c.size and (t.min() > c.max() or t.max() < c.min()):
            sep_months.append(k)
    if len(sep_months) < np.unique(g).size:
        return
    t = y == 1
    alone = [nm for j, nm in enumerate(names)
             if X[t, j].min() > X[~t, j].max() or X[t, j].max() < X[~t, j].min()]
    shown = ", ".join(months[:6]) + (" ..." if len(months) > 6 else "")
    who = (f"`{'`, `'.join(alone)}` on its own" if alone
           else "a combination of the covariates (no single one)")
    raise MatchingError(
        f"perfect separation: the propensity model separates every enrolled person from every candidate "
        f"(in all {len(months)} enrolment months: {shown}); {who} does this. A covariate that defines "
        "enrolment cannot be matched on: remove it from `covariates` (match exactly on it with `exact`, or "
        "restrict the population instead)")


def outside_range(X: np.ndarray, treated: np.ndarray, who: np.ndarray, names: list[str]) -> list[str]:
    """Covariates on which any of the rows ``who`` (enrolled) lie outside the candidates' range.

    Examples
    --------
    >>> outside_range(np.array([[90.0], [50], [60]]), np.array([True, False, False]), np.array([0]), ["age"])
    ['age']
    """
    c = ~treated
    if not c.any() or who.size == 0:
        return []
    cc = c[:, None]  # masked reductions: no copy of the candidates' rows
    lo, hi = X.min(axis=0, where=cc, initial=np.inf), X.max(axis=0, where=cc, initial=-np.inf)
    out = (X[who] < lo) | (X[who] > hi)
    return [nm for j, nm in enumerate(names) if out[:, j].any()]


def check_any_controls(rsets: RiskSets, periods: list[int], treated: np.ndarray, min_age: int) -> None:
    """Distinct, precise errors when no risk set has a single candidate."""
    if any(rsets.build(p, activity=False).n_candidates for p in periods):
        return
    if treated.all():
        raise MatchingError(
            f"no untreated people: all {treated.size} people in `population` have `treated` = 1, and nobody "
            "enrolled later is available as a control at anyone's enrolment; matching needs people who were "
            "not enrolled (the whole registered population, not only the enrolled)")
    counts = {"dead": 0, "not registered": 0, f"under {min_age}": 0, "already enrolled": 0}
    for p in periods:
        e = rsets.eligibility(p)
        pool = ~e["is_t"]
        counts["dead"] += int((pool & ~e["alive"]).sum())
        counts["not registered"] += int((pool & e["alive"] & ~e["registered"]).sum())
        counts[f"under {min_age}"] += int((pool & e["alive"] & e["registered"] & ~e["of_age"]).sum())
        counts["already enrolled"] += int((pool & e["alive"] & e["registered"] & e["of_age"] & ~e["not_yet"]).sum())
    why = ", ".join(f"{k}: {v}" for k, v in counts.items() if v)
    raise MatchingError(
        f"no eligible controls: {int((~treated).sum())} people were never enrolled, but at the start of every "
        f"enrolment month none was alive, registered, aged {min_age} or over and not yet enrolled "
        f"(person-months ruled out -- {why or 'excluded for missing covariates'}); check registration and "
        "death dates, `min_age` and the population extract")


def key_positions(keys: np.ndarray, order: np.ndarray | None, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``keys`` (distinct; ascending, or ascending through ``order``) of ``wanted``; -1 if absent.

    Examples
    --------
    >>> key_positions(np.array([3, 8, 20]), None, np.array([20, 4, 3])).tolist()
    [2, -1, 0]
    >>> keys = np.array([20, 3, 8]); key_positions(keys, np.argsort(keys), np.array([8, 21])).tolist()
    [2, -1]
    """
    srt = keys if order is None else keys[order]
    i = np.clip(np.searchsorted(srt, wanted), 0, max(srt.size - 1, 0))
    hit = (srt[i] == wanted) if srt.size else np.zeros(wanted.size, bool)
    pos = i if order is None else order[i] if srt.size else i
    return np.where(hit, pos, -1)
