"""Risk-set matching for staggered enrolment.

For each enrolment period (calendar month) the risk set holds the people enrolled in that month and
every candidate who, on the first day of the month, is alive, registered, of age and not yet enrolled
(people enrolled later may serve as controls before their own enrolment: "crossovers"). Matching
variables are measured over windows *before* the period start, so nothing after the index date is ever
used. The control inherits the treated person's index date.

Activity covariates come from one engine query (:mod:`evaltool.matching.person_months`, Ibis over the
run's engine): the events of everyone who can enter a risk set, summed per person and month; each risk
set's look-back window sums are then computed in numpy, as often as the two passes (fit, match) need.
People without events in a window get 0.

One propensity model is fitted over all risk sets (shared slopes, an intercept per month, a ridge
penalty: :mod:`evaltool.matching.pooled_ps`), so a month with a handful of enrolments cannot break it.
Matching then runs period by period in calendar order; without replacement a person is used as a
control at most once across all periods. Prior use can be matched as a monthly profile
(``trajectory``, :mod:`evaltool.matching.trajectory`), with balance reported for every pre-period month.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaltool.columns import to_contract
from evaltool.errors import DataValidationError, MatchingError, MatchingWarning, SpecError
from evaltool.progress import StepFn, steps

from .balance import balance_table
from .covariates import (  # noqa: F401 - re-exported (public API of evaltool.matching.riskset)
    ACTIVITY_SETTINGS,
    PeriodCovariates,
    _cohort_events,
    _month_start,
    activity_covariates,
    parse_activity_covariates,
    sample_candidates,
)
from .compact import CompactColumns
from .distance import balance_columns, design_columns, mahalanobis_transform
from .exact import exact_codes, strata_match
from .nearest import mahalanobis_caliper_match, mahalanobis_match, nearest_match
from .result import RiskSetMatchResult
from .person_months import PersonMonths
from .pre_trajectory import pre_trajectory  # noqa: F401 - re-exported (public API of evaltool.matching.riskset)
from .risksets import RiskSets, check_any_controls, key_positions, outside_range
from .trajectory import (
    ProfileBalance,
    monthly_covariates,
    profile_bins,
    profile_covariates,
    rule_features,
    spanned_by,
)
from .weights import ess

__all__ = ["risk_set_match", "RiskSetMatchResult", "activity_covariates", "pre_trajectory"]


def _month_index(d: pd.Series | np.ndarray, origin: pd.Timestamp) -> np.ndarray:
    dd = pd.DatetimeIndex(pd.to_datetime(d))
    return ((dd.year - origin.year) * 12 + (dd.month - origin.month)).to_numpy(dtype="float64")


def risk_set_match(
    population: pd.DataFrame,
    activity: Any,
    *,
    window_start: pd.Timestamp | str,
    window_end: pd.Timestamp | str,
    covariates: Sequence[str],
    lookback_months: Sequence[int] = (12, 3),
    period: str = "month",
    followup: str = "keep",
    method: str = "nearest",
    distance: str = "linear_logit",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = 0.2,
    std_caliper: bool = True,
    exact: Sequence[str] | None = ("sex",),
    order: str = "largest",
    min_age: int = 18,
    missing: str = "error",
    trajectory: Sequence[str] | None = None,
    trajectory_months: int = 12,
    trajectory_monthly: int = 3,
    trajectory_match: str = "propensity",
    trajectory_thresholds: Sequence[int] = (1, 2, 3),
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
    activity : DataFrame or Ibis table
        Input-contract activity (person_id, date, setting, bed_days, cost); a table stays in its engine.
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
    trajectory : list of str, optional
        Measures (settings, ``bed_days``, ``cost``) whose prior use is matched as a profile: counts in
        each of the ``trajectory_monthly`` months nearest the index month, then in quarters back to
        ``trajectory_months`` (:func:`evaltool.matching.trajectory.profile_bins`). The bins enter the
        propensity model (look-back totals they add up to are left out of it as redundant, but stay in the
        balance table) and, with ``trajectory_match="mahalanobis"``, the match itself: Mahalanobis distance
        on the profile among candidates within the propensity-score caliper (Rubin and Thomas 2000).
        Balance is reported for every pre-period month (``result.trajectory_balance()``).
    trajectory_months, trajectory_monthly, trajectory_match :
        Profile length (usually the DiD's pre-period), months kept one by one, and
        ``"mahalanobis"`` or ``"propensity"`` (the profile enters the propensity model only).
    trajectory_thresholds : counts ``c`` for which "at least ``c`` events in the last 3, 6, 12, ...
        months" indicators of every profiled count measure enter the propensity model, so that
        case-finding rules (two admissions in six months) are captured rather than approximated by a
        line (:func:`evaltool.matching.trajectory.rule_features`); ``()`` leaves them out.
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
        matching order's), once per risk set: the propensity model is fitted on the drawn candidates and
        matching uses them less the controls already used in earlier months. Every eligible candidate has
        the same chance of being drawn, so the sampled pool is a random sample of the risk set: nearest-neighbour matches come from fewer candidates
        (slightly larger distances, reported by the balance table, which is computed on the sampled pool),
        and the pooled propensity model's slopes are unchanged by control sampling (its intercepts are
        corrected by the sampling fraction), so the ranking of candidates is unchanged.
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
    if trajectory_match not in ("mahalanobis", "propensity"):
        raise SpecError(f"`trajectory_match`: expected 'mahalanobis' or 'propensity', got {trajectory_match!r}")
    ws, we = pd.Timestamp(window_start), pd.Timestamp(window_end)
    covariates = list(covariates)
    exact = list(exact or [])
    act_covs = parse_activity_covariates(covariates)
    bad_l = {c: last for c, (_, first, last) in act_covs.items()
             if c.endswith(f"_{last}m") and last not in set(lookback_months)}
    if bad_l:
        raise SpecError(f"`covariates` {list(bad_l)} use look-back windows not in `lookback_months` {list(lookback_months)}")
    pc_names = [c for c in covariates if period_covariates is not None and c in tuple(period_covariates.names)]
    act_covs = {c: v for c, v in act_covs.items() if c not in pc_names}
    pop_covs = [c for c in covariates if c not in act_covs and c not in pc_names and c != "age"]
    traj = list(dict.fromkeys(trajectory or []))
    bad_t = [m for m in traj if m not in ACTIVITY_SETTINGS and m not in ("bed_days", "cost")]
    if bad_t:
        raise SpecError(f"`trajectory`: {bad_t} are not activity measures; expected some of "
                        f"{[*ACTIVITY_SETTINGS, 'bed_days', 'cost']}")
    if traj and not 1 <= trajectory_months <= 60:
        raise SpecError(f"`trajectory_months`: expected whole months between 1 and 60, got {trajectory_months!r}")
    bins = profile_bins(trajectory_months, trajectory_monthly) if traj else []
    prof_covs = {c: w for c, w in profile_covariates(traj, trajectory_months, trajectory_monthly).items()
                 if c not in act_covs}
    # Look-back totals that are sums of profile bins add nothing to the propensity model but collinearity.
    ps_act = [c for c, (ms, first, last) in act_covs.items() if not (ms in traj and spanned_by(first, last, bins))]
    need = ["person_id", "treated", "index_date", "sex", "practice_id", *pop_covs, *exact]
    absent = sorted({c for c in need if c not in population.columns})
    if absent:
        raise DataValidationError(f"`population` lacks column(s) {absent} needed for matching")
    if "birth_date" not in population.columns and "age" not in population.columns:
        raise DataValidationError("`population` needs `birth_date` (or `age`) to compute age at the index date")

    idx = population.index
    plain = isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1
    pop = population if plain else population.reset_index(drop=True)  # read only: no copy of a national frame
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
        return np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")

    reg_end, death = _date_col("registration_end"), _date_col("death_date")
    enrol = idx_date.to_numpy(dtype="datetime64[ns]")
    mon_covs = monthly_covariates(traj, trajectory_months) if traj else {}  # balance per pre-period month
    act_names = [*act_covs, *prof_covs, *mon_covs, *pc_names]
    mon_cols = [act_names.index(c) for c in mon_covs]
    prof_names = [c for c in profile_covariates(traj, trajectory_months, trajectory_monthly)]
    ps_cols = [act_names.index(c) for c in [*ps_act, *prof_names, *pc_names]]
    mah_cols = [act_names.index(c) for c in prof_names]
    wanted = {**act_covs, **prof_covs, **mon_covs}
    covs: PersonMonths | None = None  # fetched once the risk sets' people are known (below)
    # Time-varying covariates (zero when absent): activity counts and profiles, then the period covariates given
    # (comorbidity scores as of each risk set's start).
    timevar = set(act_names)
    pid_index = pd.Index(pop["person_id"].astype(object))
    person_ids = pop["person_id"].to_numpy()
    pbal = ProfileBalance(traj, trajectory_months) if traj else None

    def act_at(p: int, rows: np.ndarray) -> np.ndarray:
        # One risk set's time-varying covariates: activity window sums from the person-month totals fetched
        # once (numpy), then the period covariates given (from their provider, the sampled people only when
        # candidates are sampled).
        if covs is not None and not pc_names:
            return covs.at(p, rows)
        A = np.zeros((rows.size, len(act_names)))
        if covs is not None:
            covs.at(p, rows, out=A)
        if pc_names:
            ids = person_ids[rows] if candidates_per_treated is not None else None
            f = period_covariates.at(_month_start(ws, p)[0], ids)[["person_id", *pc_names]]
            pos = np.full(n, -1, dtype=np.int64)
            pos[rows] = np.arange(rows.size)
            r = pid_index.get_indexer(f["person_id"])
            r = np.where(r >= 0, pos[np.clip(r, 0, None)], -1)
            ok = r >= 0
            A[np.ix_(r[ok], [act_names.index(c) for c in pc_names])] = \
                f.loc[ok, pc_names].fillna(0.0).to_numpy(dtype=float)
        return A

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
    # The propensity design (no intercept) and the balance covariates of everybody, each column stored in
    # the smallest dtype that holds it exactly (indicators in a byte): at national scale, a fraction of a
    # float64 matrix, and the same float64 rows when taken.
    stat_design = CompactColumns.from_columns(design_columns(static, pop_covs), n)
    stat_bal = CompactColumns.from_columns(balance_columns(static, pop_covs), n)
    bal_names: list[str] = []
    for c in covariates:
        if c == "age" or c in timevar:
            bal_names.append(c)
        else:
            bal_names += [b for b in stat_bal.names if b == c or (b.startswith(c) and b not in covariates)]
    bal_names = list(dict.fromkeys(bal_names))
    exact_all = exact_codes(static, exact) if exact else None
    del static, na_static  # one row per person each: at national scale, gigabytes

    rng = np.random.default_rng(seed)
    rsets = RiskSets(pop=pop, treated=treated, per_t=per_t, in_window=in_window, origin=ws, min_age=min_age,
                     drop_person=drop_person, act_at=act_at if act_names else None, n_act=len(act_names), static_design=stat_design,
                     static_names=stat_design.names, ps_act_cols=ps_cols, ps_act_names=[act_names[j] for j in ps_cols],
                     use_age="age" in covariates,
                     rule_features=[(nm, [act_names.index(c) for c in cols], th) for nm, cols, th in
                                    rule_features(traj, bins, trajectory_thresholds)])
    check_any_controls(rsets, periods.tolist(), treated, min_age)

    # Candidate sampling for very large pools (its own random stream), within exact strata: each risk set's
    # candidates are drawn once, from everyone eligible at its start; the propensity model is fitted on
    # them and matching takes them less the controls already used in earlier months.
    drawn: dict[int, np.ndarray] = {}
    rng_s = np.random.default_rng([0 if seed is None else seed, 18])

    def draw(p: int, cand: np.ndarray, tmask: np.ndarray) -> np.ndarray:
        if p not in drawn:
            drawn[p] = np.flatnonzero(sample_candidates(cand, tmask, candidates_per_treated, rng_s,
                                                        exact_all if exact else None))
        keep = np.zeros(n, dtype=bool)
        keep[drawn[p]] = True
        return cand & keep

    sample = draw if candidates_per_treated is not None else None
    if wanted:
        # Everyone who can enter a risk set (the drawn candidates and the enrolled, when sampled): their
        # person-month totals, in one engine query.
        need = np.flatnonzero(~drop_person)
        if sample is not None:
            plan = [rsets.build(p, activity=False, sample=sample) for p in periods.tolist()]
            need = np.concatenate([np.zeros(0, np.int64), *(rs.rows for rs in plan if rs.n_treated)])
            del plan
        covs = PersonMonths(activity, person_ids, need, periods, ws, wanted, con=con)

    fit = code = ps_mask = None
    if distance in ("logit", "linear_logit"):
        # One model for all months (shared slopes, an intercept per month, a ridge penalty): a handful of
        # enrolments in one month can no longer separate it. Candidates are sampled for the fit only.
        fit, code, ps_used, ps_mask = rsets.fit_ps(periods.tolist(), np.random.default_rng([0 if seed is None else seed, 7]),
                                                   sample=sample)
    used = np.zeros(n, dtype=bool)
    ever_candidate = np.zeros(n, dtype=bool)
    pairs_t: list[np.ndarray] = []  # person row of treated
    pairs_c: list[np.ndarray] = []  # (n_t, ratio) person rows of controls
    dists: list[np.ndarray] = []
    # Every risk-set row's balance covariates (float32), treated flag, distance, period and person row, kept
    # as arrays column by column and joined once at the end (a data frame per month, concatenated, cost
    # more than a second at Southvale's 2.25 million rows).
    before: dict[str, list[np.ndarray]] = {c: [] for c in [*bal_names, "_treated", "_distance", "_period", "_row"]}
    per_rows = []
    unmatched: dict[str, int] = {}
    unmatched_where: list[str] = []
    n_cand_total = 0
    for p in steps(periods.tolist(), progress, lambda q: f"risk set {_month_start(ws, q)[0]:%Y-%m}"):
        rs = rsets.build(p, exclude=None if replace else used, sample=sample)
        if rs.n_not_eligible_treated:
            unmatched["not_eligible_at_index"] = unmatched.get("not_eligible_at_index", 0) + rs.n_not_eligible_treated
        rows, t_rs, A, age_r, start = rs.rows, rs.treated, rs.A, rs.age, rs.start
        n_t, n_c = rs.n_treated, rs.n_candidates
        n_cand_total += n_c
        if n_t == 0:
            continue
        if n_c == 0:
            unmatched["no_candidates"] = unmatched.get("no_candidates", 0) + n_t
            unmatched_where.append(f"{start:%Y-%m}: {n_t} enrolled, no candidate left")
            continue
        Bm = np.column_stack([
            age_r if b == "age" else (A[:, act_names.index(b)] if b in timevar else stat_bal.column(b, rows))
            for b in bal_names
        ])
        strata = exact_all[rows] if exact_all is not None else None
        cal = None
        if fit is not None:
            Xp = rsets.ps_design(rs, order="F")  # scored column by column: no transposed copy
            Xp = Xp if ps_mask.all() else np.asfortranarray(Xp[:, ps_mask])
            eta = fit.linear_predictor(Xp, code[p]) if p in code else np.zeros(rows.size)
            pscore = 1.0 / (1.0 + np.exp(-eta))
            d = pscore if distance == "logit" else eta
            cal = None if caliper is None else (caliper * np.std(d, ddof=1) if std_caliper else caliper)
            if mah_cols and trajectory_match == "mahalanobis":
                # Row-major, as it always was: the whitening's matrix products may round differently by layout.
                Z = mahalanobis_transform(np.ascontiguousarray(A[:, mah_cols]), t_rs, allow_constant=True)
                mm = mahalanobis_caliper_match(Z, d, t_rs, ratio=ratio, replace=replace, caliper=cal, strata=strata,
                                               order=order, rng=rng)
            else:
                mm = nearest_match(d, t_rs, ratio=ratio, replace=replace, caliper=cal, strata=strata, order=order,
                                   rng=rng)
        else:
            Z = mahalanobis_transform(np.column_stack([Bm, A[:, mah_cols]]), t_rs, allow_constant=bool(mah_cols))
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
            if fit is not None:
                out = outside_range(Xp, t_rs, idx1[~found], ps_used)
                unmatched_where.append(f"{start:%Y-%m}: {rest} of {n_t} enrolled"
                                       + (f" (outside the candidates' range on {', '.join(out)})" if out else ""))
        mm_rows = np.where(mm >= 0, rows[np.clip(mm, 0, None)], -1)
        pairs_t.append(rows[idx1])
        pairs_c.append(mm_rows)
        dd = np.full(n, np.nan)
        dd[rows] = d
        dists.append(np.column_stack([dd[rows[idx1]], np.where(mm >= 0, dd[np.clip(mm_rows, 0, None)], np.nan)]))
        if not replace:
            used[mm_rows[mm_rows >= 0]] = True
        ever_candidate[rows[~t_rs]] = True
        if pbal is not None:
            pbal.add_soon(p, rows, t_rs, A[:, mon_cols], keep=t_rs | np.isin(rows, mm_rows[mm_rows >= 0]))
        for j, c in enumerate(bal_names):
            before[c].append(Bm[:, j].astype(np.float32))
        before["_treated"].append(t_rs)
        before["_distance"].append(np.asarray(d, dtype=float))
        before["_period"].append(np.full(rows.size, p, dtype=np.int64))
        before["_row"].append(rows.astype(np.int64, copy=False))
        per_rows.append({"index_month": f"{start:%Y-%m}", "n_treated": n_t, "n_candidates": n_c,
                         "n_matched": int(found.sum())}
                        | ({"n_eligible": rs.n_eligible} if candidates_per_treated is not None else {}))

    if not pairs_t:
        raise MatchingError("no treated units could enter a risk set (none alive, registered and of age at index)")
    n_pool = int(ever_candidate.sum())
    n_enr = int(sum(x.size for x in pairs_t))
    if not replace and n_pool < n_enr * ratio:
        warnings.warn(f"too few candidates: {n_pool} people could serve as controls for {n_enr} enrolled people at "
                      f"{ratio} control{'s' if ratio > 1 else ''} each (without replacement); at most {n_pool // ratio} "
                      "can be fully matched: lower `ratio`, set `replace: true`, or widen the population",
                      MatchingWarning, stacklevel=2)
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
        where = ("; by month: " + "; ".join(unmatched_where[:12]) + (" ..." if len(unmatched_where) > 12 else "")
                 if unmatched_where else "")
        warnings.warn(f"{n_all - int(found.sum())} of {n_all} treated people were not matched ({unmatched}){where}",
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
    bf_all = {c: np.concatenate(v) for c, v in before.items()}
    del before
    # Each risk-set row's place by the integer key period * n + row (no MultiIndex over millions of rows).
    bf_keys = bf_all["_period"] * n + bf_all["_row"]
    bf_order = None if bool(np.all(bf_keys[1:] > bf_keys[:-1])) else np.argsort(bf_keys, kind="stable")
    coh_period = _month_index(coh["index_date"], ws).astype("int64")
    traj_bal = pd.DataFrame()
    if pbal is not None:
        traj_bal = pbal.table(pd.DataFrame({"_row": rows_, "_period": coh_period, "treated": coh["treated"].to_numpy(),
                                            "weights": coh["weights"].to_numpy()}))
    at = key_positions(bf_keys, bf_order, np.asarray(coh_period, dtype=np.int64) * n + rows_)
    for c in bal_names:
        v = bf_all[c]
        coh[c] = np.where(at >= 0, v[np.clip(at, 0, None)], np.nan).astype(float) if v.size else np.full(len(coh), np.nan)
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
    w_after = np.zeros(len(bf_keys))
    wsum = pd.Series(coh["weights"].to_numpy(), index=pd.MultiIndex.from_arrays([coh_period, rows_])).groupby(level=[0, 1]).sum()
    w_at = key_positions(bf_keys, bf_order, wsum.index.get_level_values(0).to_numpy(dtype=np.int64) * n
                          + wsum.index.get_level_values(1).to_numpy(dtype=np.int64))
    w_after[w_at[w_at >= 0]] = wsum.to_numpy(dtype=float)[w_at >= 0]
    Xshow = pd.DataFrame({"distance": bf_all["_distance"], **{c: bf_all[c] for c in bal_names}}, copy=False)
    bt = balance_table(Xshow, bf_all["_treated"], w_after, after_subset=True)
    cfg = dict(method=method, distance=distance, ratio=ratio, replace=replace, caliper=caliper,
               std_caliper=std_caliper, exact=exact, order=order, followup=followup, min_age=min_age,
               covariates=covariates, lookback_months=list(lookback_months), period=period, trajectory=traj,
               trajectory_months=trajectory_months if traj else None,
               trajectory_monthly=trajectory_monthly if traj else None,
               trajectory_match=trajectory_match if traj else None,
               trajectory_thresholds=list(trajectory_thresholds) if traj else None,
               candidates_per_treated=candidates_per_treated)
    dist_frame = pd.DataFrame({"distance": bf_all["_distance"], "treated": bf_all["_treated"],
                               "weights": w_after})
    return RiskSetMatchResult(
        config=cfg, balance_frame=bt, matched_cohort=coh, n_treated=int(t_rows.size) + unmatched.get("not_eligible_at_index", 0),
        n_treated_matched=int(found.sum()), unmatched=unmatched, n_controls=int(coh.loc[coh.treated == 0, "person_id"].nunique()),
        n_candidates=n_cand_total, crossovers=int(coh.loc[coh.treated == 0, "crossover"].sum()),
        ess_control=ess(coh.loc[coh.treated == 0].groupby("person_id")["weights"].sum().to_numpy()),
        periods=pd.DataFrame(per_rows), excluded=excluded, trajectory_frame=traj_bal, _distance=dist_frame,
    )
