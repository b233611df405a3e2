"""Difference-in-differences for matched cohorts.

Model (Poisson, the default for counts)::

    E[y_it] = e_it * exp(alpha_i + gamma_{t,s} + sum_s beta_s * treated_i * post_t * [s_i = s])

with ``alpha_i`` a unit (person) fixed effect, ``gamma`` relative-period effects (one set
per subgroup level ``s`` when subgroups are given, so the subgroup model is the union of
the per-subgroup models but with a joint covariance) and ``e_it`` person-days alive and
registered (log offset). ``exp(beta_s)`` is the rate ratio. The absolute difference per
1,000 person-years is ``r_T * (1 - exp(-beta))``, with ``r_T`` the treated arm's observed
post-period rate (the model's score equation makes the fitted and observed treated
post-period counts equal): observed minus counterfactual events per 1,000 person-years of
treated follow-up (negative = fewer events).
Its CI maps the CI of ``beta``.

Standard errors are cluster-robust (fixest's small-sample convention, see
:mod:`evaltool.effects.poisson`), clustered by matched set (``subclass``) by default.
With clustered SEs the panel is compressed exactly to cells (:mod:`evaltool.effects.compress`).

Beside the DiD the result carries the *naive before/after* change for the treated (a
Poisson model with person effects and a post indicator on the treated only): selecting
people on recent high use makes it show a false fall (regression to the mean).

``model="negbin"`` fits a negative binomial (NB2) GLM on person x {pre, post} totals with
arm, period and arm x period terms (no person effects), the field's companion model;
``model="linear"`` fits exposure-weighted least squares on rates per 1,000 person-years with
person and period effects.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool.columns import to_contract
from evaltool.effects.coded import CodedDesign
from evaltool.effects.compress import CellPanel, cells
from evaltool.effects.matched_event import event_study as fit_event_study
from evaltool.effects.matched_fit import PY_DAYS, events_label, fit_cells, wald
from evaltool.effects.panels import OutcomePanel, build_panel
from evaltool.effects.poisson import FEFit
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning
from evaltool.effects.matched_result import MatchedDidResult

__all__ = ["MatchedDidResult", "add_age_band", "matched_did", "simulate_matched_cohort"]

CLUSTER_ALIASES = {"practice": "practice_id", "subclass": "subclass", "matched_set": "subclass", "person": "person_id"}


def add_age_band(cohort: pd.DataFrame, cut: int = 65) -> pd.DataFrame:
    """Return a copy of ``cohort`` with ``age_band`` = "under 65" / "65+" from ``age_at_index``.

    Examples
    --------
    >>> add_age_band(pd.DataFrame({"age_at_index": [40, 80]}))["age_band"].tolist()
    ['under 65', '65+']
    """
    if "age_at_index" not in cohort.columns:
        raise DataValidationError("`cohort` has no `age_at_index` column to derive `age_band` from")
    out = cohort.copy()
    out["age_band"] = np.where(out["age_at_index"] < cut, f"under {cut}", f"{cut}+")
    return out


def _design(
    fr: pd.DataFrame, group: str | None, kind: str, levels: list[str], ref_period: int, first_period: int
) -> tuple[CodedDesign, list[str], dict[str, list[int]]]:
    """Regressors: period (x level) dummies, then the effect columns. Returns X, names, effect index.

    Every column is a function of (period, level, arm) only, so X is kept as its few distinct rows
    and a code per row (:class:`~evaltool.effects.coded.CodedDesign`): never a dense n x k matrix.
    """
    lev_all = fr[group].astype(str).to_numpy() if group else np.full(len(fr), "all")
    pc, pu = pd.factorize(fr["period"].to_numpy())
    lc, lu = pd.factorize(lev_all)
    tc, tu = pd.factorize(fr["treated"].to_numpy().astype(float))
    comb, codes = np.unique((pc.astype(np.int64) * len(lu) + lc) * len(tu) + tc, return_inverse=True)
    period = np.asarray(pu)[comb // (len(lu) * len(tu))]
    lev = np.asarray(lu)[(comb // len(tu)) % len(lu)]
    treated = np.asarray(tu)[comb % len(tu)]
    cols: list[np.ndarray] = []
    names: list[str] = []
    eff: dict[str, list[int]] = {}
    periods = np.unique(fr["period"].to_numpy())
    absorbed = _absorbed_periods(fr, group, levels, first_period)
    for s in levels:
        ins = (lev == s).astype(float)
        for p in periods:
            if p == absorbed[s]:
                continue  # absorbed by the unit effect (units are nested in levels)
            cols.append(ins * (period == p))
            names.append(f"period[{p}]:{s}")
    for s in levels:
        ins = (lev == s).astype(float)
        if kind == "did":
            eff[s] = [len(cols)]
            cols.append(ins * treated * (period >= 0))
            names.append(f"treated:post:{s}")
        elif kind == "naive":
            eff[s] = [len(cols)]
            cols.append(ins * (period >= 0))
            names.append(f"post:{s}")
        else:
            raise ValueError(f"kind: expected 'did' or 'naive', got {kind!r}")
    if kind == "naive":
        # The naive model has no period effects: drop them.
        keep = [i for i, n in enumerate(names) if n.startswith("post:")]
        cols = [cols[i] for i in keep]
        names = [names[i] for i in keep]
        eff = {s: [names.index(f"post:{s}")] for s in levels}
    return CodedDesign(codes.astype(np.int64), np.column_stack(cols)), names, eff


def _absorbed_periods(fr: pd.DataFrame, group: str | None, levels: list[str], first_period: int) -> dict[str, int]:
    """Each level's period without a dummy (absorbed by the unit effect): its first period with events.

    A (level, period) cell without events is separated and :func:`_fit` drops it as fixest does. If
    that cell were the absorbed one, the level's other period dummies would drift to +inf instead:
    Newton never converges and ends wherever rounding takes it (a singular Hessian on one numpy, a
    "converged" nonsense on another). So the first period *with events* is absorbed, and an empty
    first period becomes an ordinary, separated and dropped, dummy.
    """
    lev = fr[group].astype(str).to_numpy() if group else np.full(len(fr), "all")
    pos = fr["y"].to_numpy() > 0
    first = pd.Series(fr["period"].to_numpy()[pos]).groupby(lev[pos]).min()
    return {s: int(first.get(s, first_period)) for s in levels}


def _rate(fr: pd.DataFrame, mask) -> tuple[float, float, float]:
    y = float(fr.loc[mask, "y"].sum())
    e = float(fr.loc[mask, "exposure"].sum())
    return y, e, (y / e * PY_DAYS * 1000 if e > 0 else np.nan)


def _rows(
    fit: FEFit, eff: dict[str, list[int]], cp: CellPanel, group: str | None, model: str, analysis: str,
    outcome: str, z: float, n_clusters: int, treated_only: bool,
) -> list[dict[str, Any]]:
    rows = []
    fr = cp.frame
    se_all = fit.std_error()
    for s, idx in eff.items():
        j = idx[0]
        b, se = float(fit.coef[j]), float(se_all[j])
        p = float(2 * dist.norm_sf(abs(b / se))) if se > 0 else np.nan
        ins = (fr[group].astype(str) == s) if group else np.ones(len(fr), bool)
        post_t = ins & (fr["treated"] == 1) & (fr["period"] >= 0)
        n_units = int(fr.loc[ins & ((fr["treated"] == 1) if treated_only else True), "n_people"].groupby(fr["unit"]).first().sum())
        _, _, r = _rate(fr, post_t)
        base = dict(analysis=analysis, outcome=outcome, subgroup_var=group or "all", subgroup=s,
                    method=f"{model}_fe" if analysis == "matched_did" else "poisson_fe_treated_only",
                    n_units=n_units, n_clusters=n_clusters)
        if model == "linear" and analysis == "matched_did":
            lo, hi = b - z * se, b + z * se
            rows.append({**base, "scale": "difference_per_1000py", "estimate": b, "std_error": se,
                         "ci_lower": lo, "ci_upper": hi, "p_value": p})
            # Rate ratio = observed treated rate / counterfactual (observed - effect).
            def rr(d: float, r: float = r) -> float:
                return r / (r - d) if r - d > 0 else np.inf
            rows.append({**base, "scale": "rate_ratio", "estimate": rr(b), "std_error": np.nan,
                         "ci_lower": rr(lo), "ci_upper": rr(hi), "p_value": p})
            continue
        lo, hi = b - z * se, b + z * se
        rows.append({**base, "scale": "rate_ratio", "estimate": float(np.exp(b)), "std_error": se,
                     "ci_lower": float(np.exp(lo)), "ci_upper": float(np.exp(hi)), "p_value": p})
        # Difference = r (1 - exp(-b)): observed treated post rate minus its counterfactual.
        rows.append({**base, "scale": "difference_per_1000py", "estimate": float(r * (1 - np.exp(-b))),
                     "std_error": float(r * np.exp(-b) * se),
                     "ci_lower": float(r * (1 - np.exp(-lo))), "ci_upper": float(r * (1 - np.exp(-hi))),
                     "p_value": p})
    return rows


def _negbin_rows(
    panel: OutcomePanel, outcome: str, group: str | None, levels: list[str], cluster_col: str | None,
    z: float, pre_months: int,
) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, list[int]]:
    import statsmodels.api as sm

    cp = cells(panel, outcome, by="person", cluster=cluster_col, groups=[group] if group else [])
    fr = cp.frame.assign(post=(cp.frame["period"] >= 0).astype(int))
    keys = ["unit", "post"]
    agg = fr.groupby(keys).agg(y=("y", "sum"), exposure=("exposure", "sum"), treated=("treated", "first"),
                                **({"cluster": ("cluster", "first")} if cluster_col else {}),
                                **({group: (group, "first")} if group else {})).reset_index()
    lev = agg[group].astype(str).to_numpy() if group else np.full(len(agg), "all")
    cols, names, idx = [], [], []
    for s in levels:
        ins = (lev == s).astype(float)
        cols += [ins, ins * agg["treated"], ins * agg["post"], ins * agg["treated"] * agg["post"]]
        names += [f"const:{s}", f"treated:{s}", f"post:{s}", f"treated:post:{s}"]
        idx.append(len(cols) - 1)
    X = np.column_stack(cols)
    kw = {"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(agg["cluster"])[0]}} if cluster_col else {"cov_type": "HC0"}
    mod = sm.NegativeBinomial(agg["y"].to_numpy(), X, exposure=agg["exposure"].to_numpy() / PY_DAYS * 1000)
    res = mod.fit(disp=0, maxiter=200, **kw)
    b, V = np.asarray(res.params)[:-1], np.asarray(res.cov_params())[:-1, :-1]
    rows = []
    for s, j in zip(levels, idx):
        se = float(np.sqrt(V[j, j]))
        ins = lev == s
        post_t = ins & (agg["treated"].to_numpy() == 1) & (agg["post"].to_numpy() == 1)
        r = agg.loc[post_t, "y"].sum() / agg.loc[post_t, "exposure"].sum() * PY_DAYS * 1000
        lo, hi = b[j] - z * se, b[j] + z * se
        p = float(2 * dist.norm_sf(abs(b[j] / se)))
        base = dict(analysis="matched_did", outcome=outcome, subgroup_var=group or "all", subgroup=s,
                    method="negbin_glm", n_units=int(agg.loc[ins, "unit"].nunique()),
                    n_clusters=int(agg["cluster"].nunique()) if cluster_col else 0)
        rows.append({**base, "scale": "rate_ratio", "estimate": float(np.exp(b[j])), "std_error": se,
                     "ci_lower": float(np.exp(lo)), "ci_upper": float(np.exp(hi)), "p_value": p})
        rows.append({**base, "scale": "difference_per_1000py", "estimate": float(r * (1 - np.exp(-b[j]))),
                     "std_error": float(r * np.exp(-b[j]) * se), "ci_lower": float(r * (1 - np.exp(-lo))),
                     "ci_upper": float(r * (1 - np.exp(-hi))), "p_value": p})
    return rows, b, V, idx


def matched_did(
    cohort: pd.DataFrame,
    activity: pd.DataFrame,
    population: pd.DataFrame | None = None,
    outcome: str = "emergency_admission",
    *,
    model: str = "poisson",
    pre_months: int = 12,
    post_months: int = 12,
    subgroups: Sequence[str] | str | None = None,
    cluster: str | None = "subclass",
    event_study: bool = False,
    alpha: float = 0.05,
    compress: bool = True,
    panel: OutcomePanel | None = None,
    window_start: str | pd.Timestamp | None = None,
    window_end: str | pd.Timestamp | None = None,
    columns: Mapping[str, str] | None = None,
    events: str | None = None,
) -> MatchedDidResult:
    """Difference-in-differences on a matched cohort (person and relative-period fixed effects).

    Parameters
    ----------
    cohort:
        Matched cohort (``person_id, treated, index_date``; usually ``subclass, weights,
        practice_id, age_at_index, censor_date`` and subgroup columns) from ``evaltool.matching``.
    activity, population:
        Input tables (see docs/architecture.md); ``population`` gives registration and death dates.
    outcome:
        ``emergency_admission``, ``ae_attendance``, ``elective_admission``, ``bed_days``,
        ``care_home_admission``, ``cost``, ...
    model:
        ``"poisson"`` (log-exposure offset), ``"negbin"`` or ``"linear"`` (rates).
    pre_months, post_months:
        Months before / after the index date.
    subgroups:
        Categorical cohort columns; each gets one model with interactions and a Wald test
        that its effects differ. ``"age_band"`` is derived from ``age_at_index`` if absent.
    cluster:
        ``"subclass"`` (matched set), ``"practice"``, ``"person"``, any cohort column, or
        ``None`` (heteroskedasticity-robust).
    event_study:
        Also fit one coefficient per relative month (reference month -1) and test pre-trends.
    alpha:
        1 - confidence level.
    compress:
        Fit on exact cells (only with clustered Poisson; otherwise the person panel is used).
    panel:
        A prebuilt :class:`~evaltool.effects.panels.OutcomePanel` (skips the DuckDB step).
    window_start, window_end:
        The study window: person-time outside it is not counted (activity data cover only it).

    columns:
        Your column names for ``activity`` and ``population`` (and the cohort's ``person_id``), as R's
        did's ``idname``: ``{"person_id": "pid", "date": "event_date"}`` (:mod:`evaltool.columns`).
    events:
        Words for the outcome's events in messages (default from its name: ``care-home admissions``);
        the effects stage gives a coded outcome's label.

    Returns
    -------
    MatchedDidResult

    Examples
    --------
    >>> coh, act, pop = simulate_matched_cohort(n_treated=400, seed=1)
    >>> res = matched_did(coh, act, pop, subgroups=["age_band"], pre_months=12, post_months=12)
    >>> bool(res.effect("all")["ci_lower"] < 1)
    True
    """
    activity = to_contract(activity, columns, "activity")
    population = to_contract(population, columns, "population")
    cohort = to_contract(cohort, {k: v for k, v in (columns or {}).items() if k == "person_id"}, "population")
    if model not in ("poisson", "negbin", "linear"):
        raise DataValidationError(f"`model` must be 'poisson', 'negbin' or 'linear'; found {model!r}")
    if not 0 < alpha < 1:
        raise DataValidationError(f"`alpha` must be in (0, 1); found {alpha}")
    subgroups = [subgroups] if isinstance(subgroups, str) else list(subgroups or [])
    if "age_band" in subgroups and "age_band" not in cohort.columns:
        cohort = add_age_band(cohort)
    miss = [g for g in subgroups if g not in cohort.columns]
    if miss:
        raise DataValidationError(f"`subgroups` columns {miss} are not in `cohort`; found {list(cohort.columns)}")
    if subgroups:
        # Subgroup levels as text; missing values form their own level (counted in a warning), never dropped.
        cohort = cohort.copy()
        for g in subgroups:
            na = cohort[g].isna()
            if na.any():
                warnings.warn(f"subgroup `{g}` is missing for {int(na.sum())} cohort rows: analysed as level 'missing'",
                              EstimationWarning, stacklevel=2)
            cohort[g] = cohort[g].astype(object).where(~na, "missing").astype(str)
    cluster_col = CLUSTER_ALIASES.get(cluster, cluster) if cluster else None
    if cluster_col and cluster_col not in cohort.columns:
        raise DataValidationError(f"`cluster` column {cluster_col!r} is not in `cohort`; found {list(cohort.columns)}")
    if cohort["treated"].nunique() < 2:
        raise DataValidationError("`cohort.treated` must contain both treated (1) and comparison (0) people")
    if panel is None:
        panel = build_panel(cohort, activity, population, outcomes=[outcome], pre_months=pre_months,
                            post_months=post_months, keep=[c for c in [cluster_col, *subgroups] if c and c != "person_id"],
                            window_start=window_start, window_end=window_end)
    else:
        pre_months, post_months = panel.pre_months, panel.post_months
    if outcome not in panel.outcomes:
        raise DataValidationError(f"outcome {outcome!r} was not built into `panel` ({list(panel.outcomes)})")
    z = float(dist.norm_ppf(1 - alpha / 2))
    by = "cell" if (compress and model == "poisson" and cluster_col and cluster_col != "person_id") else "person"
    warn: list[str] = []

    def cpanel(group: str | None) -> CellPanel:
        cp = cells(panel, outcome, by=by, cluster=cluster_col if cluster_col != "person_id" else None,
                   groups=[group] if group else [])
        if cluster_col == "person_id":
            cp.frame["cluster"] = cp.frame["person_id"]
        return cp

    cp0 = cpanel(None)
    fr = cp0.frame
    _check_outcome(fr, outcome, events)
    n_cl = int(fr["cluster"].nunique()) if cluster_col else 0
    if cluster_col and n_cl < 2:
        raise EstimationError(
            f"only {n_cl} cluster in `{cluster_col}`: cluster-robust SEs need several (e.g. a cohort from one "
            "practice cannot be clustered by practice); use cluster='subclass' or cluster=None"
        )
    if cluster_col and n_cl < 30:
        msg = (f"only {n_cl} clusters in `{cluster_col}`: cluster-robust CIs may be too narrow; "
               "consider the wild cluster bootstrap (evaltool.effects.inference)")
        warnings.warn(msg, EstimationWarning, stacklevel=2)
        warn.append(msg)
    first_period = -pre_months
    rows: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    es = pd.DataFrame()
    pre_test: dict[str, float] = {}

    failures: list[tuple[str, str, str]] = []
    for group in [None, *subgroups]:
        cp = cp0 if group is None else cpanel(group)
        if group is None:
            levels = ["all"]
        else:
            # A subgroup level without the events the DiD needs is dropped (and said so); the other
            # levels are estimated from the same joint model, which is the union of per-level models.
            try:
                cp, levels, dropped = _usable_levels(cp, group, outcome, events)
            except EstimationError as err:
                failures.append(("matched_did", group, str(err)))
                continue
            failures += [("matched_did", f"{group}={lev}", why) for lev, why in dropped]
        try:
            if model == "negbin":
                r, b, V, idx = _negbin_rows(panel, outcome, group, levels, cluster_col, z, pre_months)
                rows += r
                if len(levels) > 1:
                    R = np.zeros((len(levels) - 1, len(b)))
                    for i in range(len(levels) - 1):
                        R[i, idx[i]], R[i, idx[i + 1]] = 1, -1
                    st, df, p = wald(b, V, R)
                    tests.append({"outcome": outcome, "subgroup_var": group, "statistic": st, "df": df,
                                  "p_value": p, "levels": ", ".join(levels)})
            else:
                X, names, eff = _design(cp.frame, group, "did", levels, -1, first_period)
                fit = fit_cells(cp, X, names, model, cluster_col)
                rows += _rows(fit, eff, cp, group, model, "matched_did", outcome, z, fit.n_clusters, False)
                if len(levels) > 1:
                    j = [eff[s][0] for s in levels]
                    R = np.zeros((len(levels) - 1, len(fit.coef)))
                    for i in range(len(levels) - 1):
                        R[i, j[i]], R[i, j[i + 1]] = 1, -1
                    st, df, p = wald(fit.coef, fit.vcov, R)
                    tests.append({"outcome": outcome, "subgroup_var": group, "statistic": st, "df": df,
                                  "p_value": p, "levels": ", ".join(levels)})
        except EstimationError as err:
            if group is None:
                raise  # the pooled estimate is the primary analysis: its failure is the outcome's
            failures.append(("matched_did", group, str(err)))
            continue
        # Naive before/after for the treated (always Poisson with person effects).
        try:
            mask = (cp.frame["treated"] == 1).to_numpy()
            Xn, nn, en = _design(cp.frame, group, "naive", levels, -1, first_period)
            fitn = fit_cells(cp, Xn, nn, "poisson", cluster_col, mask=mask)
            rows += _rows(fitn, en, cp, group, "poisson", "naive_before_after", outcome, z, fitn.n_clusters, True)
        except EstimationError as err:
            failures.append(("naive_before_after", group or "all", str(err)))

    if event_study:
        if model == "negbin":
            raise DataValidationError("`event_study` is available for model='poisson' or 'linear'")
        main = next((r for r in rows if r["analysis"] == "matched_did" and r["subgroup"] == "all"
                     and r["scale"] == ("rate_ratio" if model == "poisson" else "difference_per_1000py")), None)
        eff_main = (float(np.log(main["estimate"])) if model == "poisson" else float(main["estimate"])) \
            if main is not None else 0.0
        try:
            es, pre_test, notes = fit_event_study(cp0, outcome, model, cluster_col, alpha=alpha,
                                                  post_months=post_months, effect=eff_main, events=events)
            for m_ in notes:  # by quarter when months are too sparse: said, not silent
                warnings.warn(m_, EstimationWarning, stacklevel=2)
            warn += notes
        except EstimationError as err:  # the headline DiD stands without it
            failures.append(("event_study", "all", str(err)))

    est = pd.DataFrame(rows)[["analysis", "outcome", "subgroup_var", "subgroup", "scale", "estimate", "std_error",
                              "ci_lower", "ci_upper", "p_value", "method", "n_units", "n_clusters"]]
    rates = _rates_table(cp0.frame, outcome)
    info = {
        "n_people": int(cp0.n_people), "n_rows_fitted": len(cp0.frame), "compressed": by == "cell",
        "n_events": float(fr["y"].sum()), "pre_months": pre_months, "post_months": post_months,
        "n_dropped_no_exposure": panel.n_dropped_no_exposure, "warnings": warn + list(panel.notes),
        "subgroups": subgroups,
    }
    return MatchedDidResult(outcome=outcome, model=model, cluster=cluster_col, estimates=est,
                            subgroup_tests=pd.DataFrame(tests, columns=["outcome", "subgroup_var", "statistic", "df",
                                                                        "p_value", "levels"]),
                            event_study=es, pretrend_test=pre_test, rates=rates, info=info,
                            failures=tuple(failures))


def _usable_levels(cp: CellPanel, group: str, outcome: str,
                   events: str | None = None) -> tuple[CellPanel, list[str], list[tuple[str, str]]]:
    """The subgroup levels whose DiD is identified; the others with the reason, in plain words."""
    fr = cp.frame
    lev = fr[group].astype(str)
    post = fr["period"] >= 0
    levels = sorted(lev.unique())
    dropped: list[tuple[str, str]] = []
    for s in levels:
        ins = lev == s
        arms = {t: int(fr.loc[ins & (fr["treated"] == t), "n_people"].groupby(fr["unit"]).first().sum())
                for t in (1, 0)}
        if not arms[1] or not arms[0]:
            who = "enrolled" if not arms[1] else "comparison"
            dropped.append((s, f"no {who} people in subgroup {group} = {s}"))
            continue
        lacking = [f"{'enrolled' if t else 'comparison'} people {'after' if p else 'before'} the index date"
                   for t in (1, 0) for p in (False, True)
                   if fr.loc[ins & (fr["treated"] == t) & (post == p), "y"].sum() <= 0]
        if lacking:
            dropped.append((s, f"no {events_label(outcome, events)} among {' or '.join(lacking)} in subgroup "
                               f"{group} = {s}: its effect is not identified"))
    keep = [s for s in levels if s not in {d for d, _ in dropped}]
    if not keep:
        raise EstimationError("; ".join(why for _, why in dropped))
    if dropped:
        cp = CellPanel(frame=fr.loc[lev.isin(keep)], by=cp.by, n_people=cp.n_people, n_obs_nonzero=cp.n_obs_nonzero,
                       n_clusters_nonzero=cp.n_clusters_nonzero, groups=cp.groups)
    return cp, keep, dropped


def _check_outcome(fr: pd.DataFrame, outcome: str, events: str | None = None) -> None:
    label = events_label(outcome, events)
    if fr["y"].sum() <= 0:
        raise EstimationError(f"no {label} at all among the matched cohort in the analysis window "
                              f"(outcome `{outcome}`): nothing to estimate")
    cells_ = fr.assign(post=fr["period"] >= 0).groupby(["treated", "post"])["y"].sum()
    empty = [f"{'enrolled' if t else 'comparison'} people {'after' if p else 'before'} the index date"
             for (t, p), v in cells_.items() if v <= 0]
    if empty:
        raise EstimationError(f"no {label} among {' or among '.join(empty)} (outcome `{outcome}`): the "
                              "difference-in-differences is not identified")


def _rates_table(fr: pd.DataFrame, outcome: str) -> pd.DataFrame:
    g = fr.assign(period_group=np.where(fr["period"] >= 0, "post", "pre"),
                  group=np.where(fr["treated"] == 1, "treated", "comparison"))
    t = g.groupby(["group", "period_group"], sort=True).agg(events=("y", "sum"), person_days=("exposure", "sum")).reset_index()
    t["person_years"] = t["person_days"] / PY_DAYS
    t["rate_per_1000py"] = t["events"] / t["person_years"] * 1000
    t.insert(0, "outcome", outcome)
    return t.drop(columns="person_days")


# ---------------------------------------------------------------------------------------------


from evaltool.effects.matched_sim import simulate_matched_cohort  # noqa: E402 - re-exported (documented home)
