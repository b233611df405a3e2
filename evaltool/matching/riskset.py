"""Risk-set matching for staggered enrolment.

For each enrolment period (calendar month) the risk set holds the people enrolled in that month and
every candidate who, on the first day of the month, is alive, registered, of age and not yet enrolled
(people enrolled later may serve as controls before their own enrolment: "crossovers"). Matching
variables are measured over windows *before* the period start, so nothing after the index date is ever
used. The control inherits the treated person's index date.

Activity covariates are computed in the SQL engine (Ibis over DuckDB, :func:`evaltool.engine.connect`)
sparse-first: events are aggregated once per person-month, then the person-month rows that have events
are summed over each index period's look-back window (a join of the sparse person-month rows to the at
most ~48 index periods, never a range join of everyone against every date). People without events in a
window get 0.

Matching runs period by period in calendar order, with a propensity score fitted within each risk set;
without replacement a person is used as a control at most once across all periods.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.columns import to_contract
from evaltool.errors import DataValidationError, MatchingError, MatchingWarning, SpecError
from evaltool.progress import StepFn, steps

from .balance import balance_table, love_plot, ps_distribution_plot
from .covariates import (  # noqa: F401 - re-exported (public API of evaltool.matching.riskset)
    ACTIVITY_SETTINGS,
    PeriodCovariates,
    _month_start,
    _cohort_events,
    activity_covariates,
    parse_activity_covariates,
    sample_candidates,
)
from .distance import balance_matrix, design_matrix, logistic_ps, mahalanobis_transform
from .exact import exact_codes, strata_match
from .nearest import mahalanobis_match, nearest_match
from .weights import ess

__all__ = ["risk_set_match", "RiskSetMatchResult", "activity_covariates", "pre_trajectory"]



def _month_index(d: pd.Series | np.ndarray, origin: pd.Timestamp) -> np.ndarray:
    dd = pd.DatetimeIndex(pd.to_datetime(d))
    return ((dd.year - origin.year) * 12 + (dd.month - origin.month)).to_numpy(dtype="float64")


@dataclass(frozen=True, repr=False)
class RiskSetMatchResult(ResultMixin):
    """Result of :func:`risk_set_match`.

    ``matched_cohort`` is patient-level (in memory only; never in ``to_dict``).
    """

    config: dict[str, Any]
    balance_frame: pd.DataFrame
    matched_cohort: pd.DataFrame
    n_treated: int
    n_treated_matched: int
    unmatched: dict[str, int]
    n_controls: int
    n_candidates: int
    crossovers: int
    ess_control: float
    periods: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)
    _distance: pd.DataFrame | None = None

    @property
    def max_abs_smd_after(self) -> float:
        return float(self.balance_frame["smd_after"].abs().max())

    def balance(self) -> pd.DataFrame:
        return self.balance_frame.copy()

    def matched_data(self) -> pd.DataFrame:
        return self.matched_cohort.copy()

    def summary(self) -> Summary:
        c = self.config
        cal = f", caliper {c['caliper']} SD" if c.get("caliper") else ""
        lines = (
            ("method", f"risk-set {c['ratio']}:1 {c['method']} matching on {c['distance']} per enrolment month"
                       f"{cal}, exact on {', '.join(c['exact']) or 'nothing'}; follow-up policy '{c['followup']}'"),
            ("treated", f"{self.n_treated} ({self.n_treated_matched} matched)"),
            ("unmatched treated", ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.unmatched.items()) or "none"),
            ("controls", f"{self.n_controls} matched (ESS {self.ess_control:.1f}) from {self.n_candidates} "
                         "candidate person-periods"),
            ("crossovers", f"{self.crossovers} matched controls were enrolled later"),
            ("max |SMD| after", f"{self.max_abs_smd_after:.3f} (SD of treated, unmatched sample)"),
        )
        tab = self.balance_frame[["covariate", "mean_treated", "mean_control_before", "mean_control_after",
                                  "smd_before", "smd_after"]].round(3)
        return Summary(title="Risk-set matching", lines=lines, tables=(("Balance", tab),))

    def to_frame(self) -> pd.DataFrame:
        return self.balance()

    def plot(self, kind: str = "love"):
        if kind == "love":
            return love_plot(self.balance_frame)
        if kind == "distance":
            d = self._distance
            return ps_distribution_plot(d["distance"].to_numpy(), d["treated"].to_numpy(), d["weights"].to_numpy())
        raise ValueError(f"`kind`: expected 'love' or 'distance', got {kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config, "n_treated": self.n_treated, "n_treated_matched": self.n_treated_matched,
            "unmatched": dict(self.unmatched), "n_controls": self.n_controls, "n_candidates": self.n_candidates,
            "crossovers": self.crossovers, "ess_control": self.ess_control, "excluded": dict(self.excluded),
            "max_abs_smd_after": self.max_abs_smd_after,
            "balance": self.balance_frame.replace({np.nan: None}).to_dict(orient="records"),
            "periods": self.periods.to_dict(orient="records"),
        }


def risk_set_match(
    population: pd.DataFrame,
    activity: pd.DataFrame,
    *,
    window_start: pd.Timestamp | str,
    window_end: pd.Timestamp | str,
    covariates: Sequence[str],
    lookback_months: Sequence[int] = (12, 3),
    period: str = "month",
    followup: str = "keep",
    method: str = "nearest",
    distance: str = "logit",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = 0.2,
    std_caliper: bool = True,
    exact: Sequence[str] | None = ("sex",),
    order: str = "largest",
    min_age: int = 18,
    missing: str = "error",
    seed: int | None = None,
    con: Any = None,
    progress: StepFn | None = None,
    columns: Mapping[str, str] | None = None,
    candidates_per_treated: int | None = None,
    period_covariates: Any = None,
) -> RiskSetMatchResult:
    """Match each enrolled person to controls drawn from the risk set of their enrolment month.

    Parameters
    ----------
    population : DataFrame
        Input-contract population (person_id, practice_id, sex, birth_date or age, treated, index_date,
        optional registration_start/end, death_date and other covariates).
    activity : DataFrame
        Input-contract activity (person_id, date, setting, bed_days, cost).
    window_start, window_end : dates of the study window.
    covariates : list of str
        Population columns (``age`` means age at the index date) and activity counts named
        ``<setting>_<N>m``, ``bed_days_<N>m`` (emergency bed days) or ``cost_<N>m`` over the N months before
        the index month.
    lookback_months : allowed look-back windows (every activity covariate's N must be one of them).
    followup : {"keep", "censor"}
        Controls enrolled later: keep them as matched (intention to treat as assigned) or censor them at
        their own enrolment (``censor_date``).
    method, distance, ratio, replace, caliper, std_caliper, exact, order, missing, seed :
        As :func:`evaltool.matching.match` (``method`` "nearest" only here; caliper in SD of the
        distance within each risk set). Categorical covariates treat a missing value as its own level.
    min_age : int
        Minimum age at the index date for everyone in a risk set.
    progress : callable, optional
        ``progress(done, total, what)`` as each enrolment month's risk set is matched
        (:mod:`evaltool.progress`).
    columns : mapping, optional
        Your column names, as R's did's ``idname``: ``{"person_id": "pid", "treated": "enrolled",
        "index_date": "start", "date": "event_date", ...}`` (:mod:`evaltool.columns`); results use the
        contract's names.
    candidates_per_treated : int, optional
        For very large pools: within each risk set (and exact stratum) keep at most this many eligible
        candidates per enrolled person, drawn uniformly at random (seeded; a stream separate from the
        matching order's). Every eligible candidate has the same chance of being drawn, so the sampled
        pool is a random sample of the risk set: nearest-neighbour matches come from fewer candidates
        (slightly larger distances, reported by the balance table, which is computed on the sampled pool),
        and a propensity score fitted on it differs from the full pool's by an intercept shift (control
        sampling leaves a logistic model's slopes consistent), so the ranking of candidates is unchanged.
        ``periods`` records the eligible and sampled numbers per risk set.
    period_covariates : object, optional
        More covariates measured as of each risk set's start (such as comorbidity scores from prior
        diagnoses, :class:`evaltool.nhs.comorbidity.ScoreCovariates`): ``names`` (the covariate names it
        provides) and ``at(as_of, person_ids)`` -> DataFrame ``person_id, *names`` (people absent score 0;
        ``person_ids`` None means everyone). Covariates with these names are taken from it.

    Returns
    -------
    RiskSetMatchResult

    Examples
    --------
    >>> res = risk_set_match(pop, act, window_start="2021-04-01", window_end="2025-03-31",
    ...                      covariates=["age", "emergency_admission_12m"])  # doctest: +SKIP
    """
    population = to_contract(population, columns, "population")
    activity = to_contract(activity, columns, "activity")
    if period != "month":
        raise SpecError(f"`period`: only 'month' is implemented, got {period!r}")
    if followup not in ("keep", "censor"):
        raise SpecError(f"`followup`: expected 'keep' or 'censor', got {followup!r}")
    if method != "nearest":
        raise SpecError(f"`method`: risk-set matching supports 'nearest', got {method!r}")
    if caliper is not None and not caliper > 0:
        raise SpecError(f"`caliper`: expected a number > 0, got {caliper!r}")
    ws, we = pd.Timestamp(window_start), pd.Timestamp(window_end)
    covariates = list(covariates)
    exact = list(exact or [])
    act_covs = parse_activity_covariates(covariates)
    bad_l = {c: m for c, (_, m) in act_covs.items() if m not in set(lookback_months)}
    if bad_l:
        raise SpecError(f"`covariates` {list(bad_l)} use look-back windows not in `lookback_months` {list(lookback_months)}")
    pc_names = [c for c in covariates if period_covariates is not None and c in tuple(period_covariates.names)]
    act_covs = {c: v for c, v in act_covs.items() if c not in pc_names}
    pop_covs = [c for c in covariates if c not in act_covs and c not in pc_names and c != "age"]
    need = ["person_id", "treated", "index_date", "sex", "practice_id", *pop_covs, *exact]
    absent = sorted({c for c in need if c not in population.columns})
    if absent:
        raise DataValidationError(f"`population` lacks column(s) {absent} needed for matching")
    if "birth_date" not in population.columns and "age" not in population.columns:
        raise DataValidationError("`population` needs `birth_date` (or `age`) to compute age at the index date")

    pop = population.reset_index(drop=True)
    n = len(pop)
    treated = pop["treated"].to_numpy() == 1
    idx_date = pd.to_datetime(pop["index_date"])
    if treated.any() and idx_date[treated].isna().any():
        raise DataValidationError("`population.index_date` is missing for treated people: every enrolled person needs one")
    per_t = np.where(treated, _month_index(idx_date.fillna(ws), ws), np.nan)
    in_window = treated & (idx_date >= ws).to_numpy() & (idx_date <= we).to_numpy()
    excluded: dict[str, int] = {}
    if (treated & ~in_window).any():
        excluded["treated_index_outside_window"] = int((treated & ~in_window).sum())
    periods = np.unique(per_t[in_window]).astype("int64")
    if periods.size == 0:
        raise MatchingError("no treated units: nobody has `treated` = 1 with an index date inside the window")

    def _date_col(c: str) -> np.ndarray:
        if c in pop.columns:
            return pd.to_datetime(pop[c]).to_numpy(dtype="datetime64[ns]")
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")

    reg_start, reg_end, death = _date_col("registration_start"), _date_col("registration_end"), _date_col("death_date")
    enrol = idx_date.to_numpy(dtype="datetime64[ns]")
    if "birth_date" in pop.columns:
        birth = pd.DatetimeIndex(pd.to_datetime(pop["birth_date"]))
        by, bm, bd = birth.year.to_numpy(), birth.month.to_numpy(), birth.day.to_numpy()
    covs = PeriodCovariates(activity, periods, ws, act_covs, con=con) if act_covs else None
    # Time-varying covariates (zero when absent): activity counts, then the period covariates given.
    act_names = list(act_covs) + pc_names
    timevar = set(act_names)
    pid_index = pd.Index(pop["person_id"].astype(object))

    person_ids = pop["person_id"].to_numpy()

    def act_at(p: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # One risk set's activity covariates, fetched from the engine when its period comes (only the
        # sampled risk set's people when candidates are sampled).
        ids = person_ids[rows] if candidates_per_treated is not None else None
        parts = [covs.at(p, ids)] if covs is not None else []
        if pc_names:
            parts.append(period_covariates.at(_month_start(ws, p)[0], ids)[["person_id", *pc_names]])
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0))
        a = parts[0]
        for b in parts[1:]:
            a = a.merge(b, on="person_id", how="outer")
        a = a.fillna({c: 0.0 for c in act_names})
        r = pid_index.get_indexer(a["person_id"])
        ok = r >= 0
        return r[ok], a.loc[ok, act_names].to_numpy(dtype=float)

    # Person-level (time-invariant) covariates, expanded once for everybody.
    static = pop[list(dict.fromkeys([*pop_covs, *exact]))].copy()
    for c in static.columns:
        if static[c].dtype == object or isinstance(static[c].dtype, (pd.StringDtype, pd.CategoricalDtype)):
            static[c] = static[c].astype(object).where(static[c].notna(), "unknown")
    na_static = static[pop_covs].isna().to_numpy() if pop_covs else np.zeros((n, 0), bool)
    drop_person = np.zeros(n, dtype=bool)
    if na_static.any():
        bad = [c for c, b in zip(pop_covs, na_static.any(axis=0)) if b]
        if missing == "error":
            raise DataValidationError(
                f"missing values in matching variable(s) {bad} for {int(na_static.any(axis=1).sum())} people; "
                "impute them or set `missing: exclude`")
        drop_person = na_static.any(axis=1)
        excluded["missing_covariate"] = int(drop_person.sum())
        static = static.fillna(0)
    stat_design, stat_dnames = design_matrix(static, pop_covs)
    stat_design, stat_dnames = stat_design[:, 1:], stat_dnames[1:]
    stat_bal = balance_matrix(static, pop_covs)
    bal_names: list[str] = []
    for c in covariates:
        if c == "age" or c in timevar:
            bal_names.append(c)
        else:
            bal_names += [b for b in stat_bal.columns if b == c or (b.startswith(c) and b not in covariates)]
    bal_names = list(dict.fromkeys(bal_names))
    stat_bal_np = stat_bal.to_numpy(dtype=float)
    stat_bal_pos = {b: i for i, b in enumerate(stat_bal.columns)}
    exact_all = exact_codes(static, exact) if exact else None

    rng = np.random.default_rng(seed)
    rng_sample = np.random.default_rng([0 if seed is None else seed, 18])  # candidate sampling: its own stream
    used = np.zeros(n, dtype=bool)
    pairs_t: list[np.ndarray] = []  # person row of treated
    pairs_c: list[np.ndarray] = []  # (n_t, ratio) person rows of controls
    dists: list[np.ndarray] = []
    before_frames: list[pd.DataFrame] = []
    per_rows = []
    unmatched: dict[str, int] = {}
    n_cand_total = 0
    for p in steps(periods.tolist(), progress, lambda q: f"risk set {_month_start(ws, q)[0]:%Y-%m}"):
        start = _month_start(ws, p)[0]
        nxt = _month_start(ws, p + 1)[0]
        s64, n64 = np.datetime64(start, "ns"), np.datetime64(nxt, "ns")
        alive = np.isnat(death) | (death > s64)
        registered = (np.isnat(reg_start) | (reg_start <= s64)) & (np.isnat(reg_end) | (reg_end > s64))
        is_t = treated & (per_t == p) & in_window
        not_yet = ~treated | (enrol >= n64)
        if "birth_date" in pop.columns:
            age = (start.year - by - ((start.month < bm) | ((start.month == bm) & (start.day < bd)))).astype(float)
        else:
            age = pop["age"].to_numpy(dtype=float) + (start - ws).days / 365.25
        ok_age = age >= min_age
        cand = ~treated | not_yet
        cand &= alive & registered & ok_age & ~is_t & ~(used if not replace else np.zeros(n, bool))
        tmask = is_t & alive & registered & ok_age
        if (is_t & ~tmask).any():
            unmatched["not_eligible_at_index"] = unmatched.get("not_eligible_at_index", 0) + int((is_t & ~tmask).sum())
        if not tmask.any():
            continue
        n_eligible = int((cand & ~drop_person).sum())
        if candidates_per_treated is not None:
            cand = sample_candidates(cand & ~drop_person, tmask, candidates_per_treated, rng_sample,
                                     exact_all if exact else None)
        rows = np.flatnonzero(tmask | cand)
        rows = rows[~drop_person[rows]]
        t_rs = tmask[rows]
        pos = np.full(n, -1, dtype=np.int64)
        pos[rows] = np.arange(rows.size)
        A = np.zeros((rows.size, len(act_names)))
        if act_names:
            ar, av = act_at(p, rows)
            hit = pos[ar] >= 0
            A[pos[ar[hit]]] = av[hit]
        n_t, n_c = int(t_rs.sum()), int((~t_rs).sum())
        n_cand_total += n_c
        if n_t == 0:
            continue
        if n_c == 0:
            unmatched["no_candidates"] = unmatched.get("no_candidates", 0) + n_t
            continue
        age_r = age[rows]
        cols = {"age": age_r} if "age" in covariates else {}
        Xd = np.column_stack([np.ones(rows.size)] + list(cols.values()) + [stat_design[rows], A])
        keepc = np.r_[True, Xd[:, 1:].std(axis=0) > 0]
        X = Xd[:, keepc]
        Bm = np.column_stack([
            age_r if b == "age" else (A[:, act_names.index(b)] if b in timevar else stat_bal_np[rows, stat_bal_pos[b]])
            for b in bal_names
        ])
        strata = exact_all[rows] if exact_all is not None else None
        if distance in ("logit", "linear_logit"):
            pscore, _ = logistic_ps(X, t_rs.astype(float))
            d = pscore if distance == "logit" else np.log(pscore / (1 - pscore))
            cal = None if caliper is None else (caliper * np.std(d, ddof=1) if std_caliper else caliper)
            mm = nearest_match(d, t_rs, ratio=ratio, replace=replace, caliper=cal, strata=strata, order=order, rng=rng)
        else:
            Z = mahalanobis_transform(Bm, t_rs)
            d = np.full(rows.size, np.nan)
            mm = mahalanobis_match(Z, t_rs, ratio=ratio, replace=replace, strata=strata)
        idx1 = np.flatnonzero(t_rs)
        found = mm[:, 0] >= 0
        if strata is not None:
            _, empty = strata_match(strata, t_rs)
            e = int((~found & empty[idx1]).sum())
            if e:
                unmatched["empty_exact_stratum"] = unmatched.get("empty_exact_stratum", 0) + e
        else:
            e = 0
        rest = int((~found).sum()) - e
        if rest:
            key = "no_control_within_caliper" if caliper is not None else "controls_exhausted"
            unmatched[key] = unmatched.get(key, 0) + rest
        mm_rows = np.where(mm >= 0, rows[np.clip(mm, 0, None)], -1)
        pairs_t.append(rows[idx1])
        pairs_c.append(mm_rows)
        dd = np.full(n, np.nan)
        dd[rows] = d
        dists.append(np.column_stack([dd[rows[idx1]], np.where(mm >= 0, dd[np.clip(mm_rows, 0, None)], np.nan)]))
        if not replace:
            used[mm_rows[mm_rows >= 0]] = True
        bf = pd.DataFrame(Bm.astype(np.float32), columns=bal_names)
        bf["_treated"] = t_rs
        bf["_distance"] = d
        bf["_period"] = p
        bf["_row"] = rows
        before_frames.append(bf)
        per_rows.append({"index_month": f"{start:%Y-%m}", "n_treated": n_t, "n_candidates": n_c,
                         "n_matched": int(found.sum())}
                        | ({"n_eligible": n_eligible} if candidates_per_treated is not None else {}))

    if not pairs_t:
        raise MatchingError("no treated units could enter a risk set (none alive, registered and of age at index)")
    t_rows = np.concatenate(pairs_t)
    c_rows = np.vstack(pairs_c)
    dist_tc = np.vstack(dists)
    found = c_rows[:, 0] >= 0
    if not found.any():
        raise MatchingError(
            "nobody was matched: no control lies within the caliper of any treated person"
            + ("; widen `caliper`" if caliper is not None else ""))
    n_un = int((~found).sum())
    if n_un:
        n_all = int(t_rows.size) + unmatched.get("not_eligible_at_index", 0)
        warnings.warn(f"{n_all - int(found.sum())} of {n_all} treated people were not matched ({unmatched})",
                      MatchingWarning, stacklevel=2)

    # Stack the matched cohort: one row per treated person, one per (control, matched set).
    k = c_rows.shape[1]
    set_no = np.cumsum(found) * found
    n_per_set = (c_rows >= 0).sum(axis=1)
    tr = pd.DataFrame({"_row": t_rows[found], "treated": 1, "subclass": set_no[found], "weights": 1.0,
                       "distance": dist_tc[found, 0], "index_date": enrol[t_rows[found]]})
    cm = c_rows[found]
    ok = cm >= 0
    ctrl_w = np.repeat(1.0 / n_per_set[found], k).reshape(cm.shape)[ok]
    ct = pd.DataFrame({"_row": cm[ok], "treated": 0, "subclass": np.repeat(set_no[found], k).reshape(cm.shape)[ok],
                       "weights": ctrl_w, "distance": dist_tc[found, 1:][ok],
                       "index_date": np.repeat(enrol[t_rows[found]], k).reshape(cm.shape)[ok]})
    # ATT weights as MatchIt: controls 1/k per set, summed over sets with replacement, scaled to the number of
    # distinct controls (rows stay one per set, so the weight is divided over a control's rows).
    tot = ct.groupby("_row")["weights"].transform("sum")
    n_distinct = ct["_row"].nunique()
    ct["weights"] = ct["weights"] * (n_distinct / tot.groupby(ct["_row"]).first().sum()) if len(ct) else ct["weights"]
    coh = pd.concat([tr, ct], ignore_index=True)
    rows_ = coh["_row"].to_numpy()
    coh["person_id"] = pop["person_id"].to_numpy()[rows_]
    coh["practice_id"] = pop["practice_id"].to_numpy()[rows_]
    coh["sex"] = pop["sex"].to_numpy()[rows_]
    coh["index_date"] = pd.to_datetime(coh["index_date"])
    if "birth_date" in pop.columns:
        b = pd.DatetimeIndex(pd.to_datetime(pop["birth_date"].to_numpy()[rows_]))
        ix = pd.DatetimeIndex(coh["index_date"])
        coh["age_at_index"] = (ix.year - b.year - ((ix.month < b.month) | ((ix.month == b.month) & (ix.day < b.day)))).astype("int64")
    else:
        coh["age_at_index"] = (pop["age"].to_numpy()[rows_] + (coh["index_date"] - ws).dt.days / 365.25).astype("int64")
    # Matching covariates as measured in the risk set (period of the treated person).
    bf_all = pd.concat(before_frames, ignore_index=True)
    bf_key = bf_all.set_index(["_period", "_row"])
    coh_period = _month_index(coh["index_date"], ws).astype("int64")
    vals = bf_key.reindex(pd.MultiIndex.from_arrays([coh_period, rows_]))
    for c in bal_names:
        coh[c] = vals[c].to_numpy(dtype=float)
    for c in pop_covs:
        if c not in coh.columns and c in pop.columns:
            coh[c] = pop[c].to_numpy()[rows_]
    later = (coh["treated"] == 0).to_numpy() & ~np.isnat(enrol[rows_])
    end = np.full(len(coh), np.datetime64(we, "ns"))
    end = np.where(~np.isnat(death[rows_]) & (death[rows_] < end), death[rows_], end)
    end = np.where(~np.isnat(reg_end[rows_]) & (reg_end[rows_] < end), reg_end[rows_], end)
    if followup == "censor":
        cens = enrol[rows_] - np.timedelta64(1, "D")
        end = np.where(later & (cens < end), cens, end)
    coh["censor_date"] = pd.to_datetime(end)
    coh["crossover"] = later
    coh = coh.drop(columns="_row")
    front = ["person_id", "treated", "index_date", "subclass", "weights", "distance", "practice_id",
             "age_at_index", "sex"]
    coh = coh[front + [c for c in coh.columns if c not in front]].sort_values(["subclass", "treated"],
                                                                               ascending=[True, False])
    coh = coh.reset_index(drop=True)

    # Balance: before = treated vs every candidate person-period; after = the matched cohort (weighted).
    Xb = bf_all[bal_names]
    w_after = np.zeros(len(bf_all))
    key_all = pd.MultiIndex.from_arrays([bf_all["_period"].to_numpy(), bf_all["_row"].to_numpy()])
    wsum = pd.Series(coh["weights"].to_numpy(), index=pd.MultiIndex.from_arrays([coh_period, rows_])).groupby(level=[0, 1]).sum()
    w_after = wsum.reindex(key_all).fillna(0.0).to_numpy()
    Xshow = pd.concat([pd.DataFrame({"distance": bf_all["_distance"].to_numpy()}), Xb.reset_index(drop=True)], axis=1)
    bt = balance_table(Xshow, bf_all["_treated"].to_numpy(), w_after, after_subset=True)
    cfg = dict(method=method, distance=distance, ratio=ratio, replace=replace, caliper=caliper,
               std_caliper=std_caliper, exact=exact, order=order, followup=followup, min_age=min_age,
               covariates=covariates, lookback_months=list(lookback_months), period=period,
               candidates_per_treated=candidates_per_treated)
    dist_frame = pd.DataFrame({"distance": bf_all["_distance"].to_numpy(), "treated": bf_all["_treated"].to_numpy(),
                               "weights": w_after})
    return RiskSetMatchResult(
        config=cfg, balance_frame=bt, matched_cohort=coh, n_treated=int(t_rows.size) + unmatched.get("not_eligible_at_index", 0),
        n_treated_matched=int(found.sum()), unmatched=unmatched, n_controls=int(coh.loc[coh.treated == 0, "person_id"].nunique()),
        n_candidates=n_cand_total, crossovers=int(coh.loc[coh.treated == 0, "crossover"].sum()),
        ess_control=ess(coh.loc[coh.treated == 0].groupby("person_id")["weights"].sum().to_numpy()),
        periods=pd.DataFrame(per_rows), excluded=excluded, _distance=dist_frame,
    )


def pre_trajectory(
    cohort: pd.DataFrame,
    activity: Any,
    *,
    setting: str = "emergency_admission",
    months: tuple[int, int] = (-24, 12),
    window_start: pd.Timestamp | str | None = None,
    window_end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Monthly event rate per 1,000 people around the index date, treated vs matched controls (weighted).

    Month 0 is the index month; a person counts in month m if it lies inside the study window and before
    their ``censor_date`` (if present). This is the regression-to-the-mean picture: matched controls chosen on
    the same recent history should show the same pre-index spike and post-index fall as the enrolled.

    Returns
    -------
    DataFrame: month_relative, group ("treated" / "matched controls"), rate_per_1000, n_people, events.

    Examples
    --------
    >>> coh = pd.DataFrame({"person_id": ["a", "b"], "treated": [1, 0], "weights": [1.0, 1.0],
    ...                     "index_date": pd.to_datetime(["2022-06-01"] * 2)})
    >>> act = pd.DataFrame({"person_id": ["a"], "date": pd.to_datetime(["2022-05-10"]), "setting": ["emergency_admission"]})
    >>> pre_trajectory(coh, act, months=(-1, 0)).query("group == 'treated'")["rate_per_1000"].tolist()
    [1000.0, 0.0]
    """
    lo_m, hi_m = months
    rel = np.arange(lo_m, hi_m + 1)
    people = cohort[["person_id", "treated", "weights", "index_date"]
                    + (["censor_date"] if "censor_date" in cohort.columns else [])].copy()
    people["_k"] = np.arange(len(people))
    ix = pd.DatetimeIndex(people["index_date"])
    base = ix.year.to_numpy() * 12 + ix.month.to_numpy() - 1
    # exposure: person x relative month (small: matched cohort only)
    cal = base[:, None] + rel[None, :]
    ok = np.ones(cal.shape, dtype=bool)
    if window_start is not None:
        w0 = pd.Timestamp(window_start)
        ok &= cal >= w0.year * 12 + w0.month - 1
    if window_end is not None:
        w1 = pd.Timestamp(window_end)
        ok &= cal <= w1.year * 12 + w1.month - 1
    if "censor_date" in people.columns:
        cd = pd.DatetimeIndex(people["censor_date"])
        ok &= cal <= (cd.year.to_numpy() * 12 + cd.month.to_numpy() - 1)[:, None]
    w = people["weights"].to_numpy()[:, None] * ok
    grp = people["treated"].to_numpy() == 1
    a = _cohort_events(activity, people[["person_id", "_k"]], setting)
    ad = pd.DatetimeIndex(a["date"])
    k = a["_k"].to_numpy()
    r = ad.year.to_numpy() * 12 + ad.month.to_numpy() - 1 - base[k]
    keep = (r >= lo_m) & (r <= hi_m)
    k, r = k[keep], r[keep]
    ev = np.zeros(cal.shape)
    np.add.at(ev, (k, r - lo_m), 1.0)
    ev *= w
    rows = []
    for g, name in ((True, "treated"), (False, "matched controls")):
        m = grp == g
        expo = w[m].sum(axis=0)
        n_people = ok[m].sum(axis=0)
        events = ev[m].sum(axis=0)
        rate = np.where(expo > 0, 1000 * events / np.where(expo > 0, expo, 1), np.nan)
        rows.append(pd.DataFrame({"month_relative": rel, "group": name, "rate_per_1000": rate,
                                  "n_people": n_people.astype("int64"), "events": events}))
    return pd.concat(rows, ignore_index=True)
