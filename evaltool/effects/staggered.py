"""Callaway & Sant'Anna (2021) group-time average treatment effects and their aggregations.

Estimate first, aggregate second (as R's ``did``): :func:`att_gt` returns an
:class:`AttGtResult` whose :meth:`AttGtResult.aggregate` returns a new
:class:`AggregateResult`.

Each ATT(g, t) is a two-period, two-group DiD between cohort ``g`` and its comparison
group (never treated, or not yet treated by ``max(t, base) + anticipation``) using the
panel estimators of Sant'Anna & Zhao (2020) as R's ``did`` calls them from ``DRDID``:
``"dr"`` = ``drdid_panel`` (logit propensity score + OLS outcome regression on the
comparison group, locally efficient doubly robust), ``"ipw"`` = ``std_ipw_did_panel``
(normalised IPW), ``"reg"`` = ``reg_did_panel`` (outcome regression). Influence functions
are kept per unit so that standard errors, the multiplier bootstrap, uniform bands, the
Wald pre-test and every aggregation (with the estimated-weights correction ``wif``)
follow R's ``did`` exactly. Numbers are pinned against R ``did``'s published mpdta output
in ``tests/test_effects_staggered.py``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from evaltool._regression import COEF_COLUMNS, RegressionResultsMixin, int_labels
from evaltool._result import ResultMixin, Summary
from evaltool.effects.drdid import cell_guard, did_panel
from evaltool.effects.inference import analytic_se, analytic_vcov, multiplier_bootstrap
from evaltool.errors import DataValidationError, EstimationError, EstimationWarning

ControlGroup = Literal["never_treated", "not_yet_treated"]
Method = Literal["dr", "ipw", "reg"]
AggregateKind = Literal["simple", "dynamic", "group", "calendar"]


# --------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Panel:
    units: np.ndarray  # unit ids (n,)
    Y: np.ndarray  # (n, T)
    X: np.ndarray  # (n, T, k) covariates incl. intercept
    G: np.ndarray  # first-treated period per unit; 0 = never
    times: np.ndarray  # sorted periods (T,)
    cluster: np.ndarray | None
    n_dropped_unbalanced: int


def _prepare(
    data: pd.DataFrame, outcome: str, unit: str, time: str, group: str,
    covariates: list[str] | None, cluster: str | None, anticipation: int,
    missing_group: str = "drop", no_never_treated: str = "keep_periods",
) -> _Panel:
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"`data` must be a pandas DataFrame, found {type(data).__name__}")
    cols = [outcome, unit, time, group] + list(covariates or []) + ([cluster] if cluster else [])
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"`data` lacks column(s) {missing}; expected {cols}, found {list(data.columns)}"
        )
    df = data[list(dict.fromkeys(cols))].copy()
    for c in [outcome, time] + list(covariates or []):
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise DataValidationError(f"column `{c}` must be numeric, found dtype {df[c].dtype}")
    g = pd.to_numeric(df[group], errors="coerce")
    bad_g = g.isna() & df[group].notna()
    if bad_g.any():
        rows = np.flatnonzero(bad_g.to_numpy())[:10] + 2
        raise DataValidationError(f"`{group}` must be the first treated period (a number; 0 = never treated); "
                                  f"found non-numeric values at rows {', '.join(map(str, rows))}")
    if g.isna().any():
        lost = df.loc[g.isna(), unit].unique()
        if missing_group == "drop":
            # R did drops rows with a missing group: a treated unit whose date was lost must not become a control.
            warnings.warn(
                f"{len(lost)} units have no `{group}` (first treated period missing) and were dropped; if a blank "
                "means never treated, pass missing_group='never_treated' (or code it 0)", EstimationWarning,
                stacklevel=3)
            df = df[~df[unit].isin(lost)]
            g = g[df.index]
        else:
            warnings.warn(f"{len(lost)} units have no `{group}` and are analysed as never treated "
                          "(missing_group='never_treated')", EstimationWarning, stacklevel=3)
    df["_g"] = g.fillna(0.0)
    bad = df[[outcome, time] + list(covariates or [])].isna().any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:10] + 1
        raise DataValidationError(
            f"missing values in `{outcome}`, `{time}` or covariates at rows {', '.join(map(str, rows))}"
            f" ({int(bad.sum())} rows): drop or impute them first"
        )
    if df.duplicated([unit, time]).any():
        raise DataValidationError(f"`data` has duplicated ({unit}, {time}) rows; expected one row per unit and period")
    varies = df.groupby(unit)["_g"].nunique()
    if (varies > 1).any():
        raise DataValidationError(
            f"`{group}` must be constant within `{unit}`; it varies for {int((varies > 1).sum())} units"
            f" (e.g. {list(varies[varies > 1].index[:5])})"
        )
    if cluster:
        cv = df.groupby(unit)[cluster].nunique()
        if (cv > 1).any():
            raise DataValidationError(f"`cluster` column `{cluster}` must be constant within `{unit}`")
    times = np.sort(df[time].unique())
    T = len(times)
    if T < 2:
        raise EstimationError(f"`{time}` has {T} distinct period(s); at least 2 are needed")
    # Balance the panel (R did's default): drop units not observed in every period, with a warning.
    counts = df.groupby(unit)[time].transform("size")
    n_units_all = df[unit].nunique()
    df = df[counts == T]
    n_drop = n_units_all - df[unit].nunique()
    if n_drop:
        warnings.warn(
            f"{n_drop} of {n_units_all} units are not observed in all {T} periods and were dropped (balanced panel)",
            EstimationWarning, stacklevel=3,
        )
    # Cohorts treated after the last period are never treated within the data.
    df.loc[df["_g"] > times[-1], "_g"] = 0.0
    if no_never_treated == "last_cohort" and not (df["_g"] == 0).any():
        # R did: the last cohort to be treated serves as the comparison group; periods from its go-live
        # (less anticipation) on are dropped, as no comparison is left there.
        latest = float(df["_g"].max())
        warnings.warn(
            f"no never-treated units: the last cohort ({latest:g}) serves as the comparison group and periods "
            f"from {latest - anticipation:g} on are dropped (no_never_treated='last_cohort', as R's did)",
            EstimationWarning, stacklevel=3)
        df = df[df[time] < latest - anticipation].copy()
        times = np.sort(df[time].unique())
        T = len(times)
        if T < 2:
            raise EstimationError(f"fewer than 2 periods before the last cohort's go-live ({latest:g})")
        df.loc[df["_g"] > times[-1], "_g"] = 0.0  # the last cohort: untreated in every period left
    # Units treated in (or before) the first period, allowing for anticipation, have no pre-period.
    always = (df["_g"] > 0) & (df["_g"] <= times[0] + anticipation)
    if always.any():
        k = df.loc[always, unit].nunique()
        warnings.warn(
            f"{k} units are treated in or before the first period ({times[0]}) and have no pre-period;"
            " they were dropped", EstimationWarning, stacklevel=3,
        )
        df = df[~always]
    df = df.sort_values([unit, time], kind="mergesort")
    units = df[unit].to_numpy()[::T]
    n = len(units)
    if n == 0:
        raise EstimationError("no units left after balancing the panel")
    Y = df[outcome].to_numpy(dtype=float).reshape(n, T)
    cov = list(covariates or [])
    X = np.ones((n, T, 1 + len(cov)))
    if cov:
        X[:, :, 1:] = df[cov].to_numpy(dtype=float).reshape(n, T, len(cov))
    G = df["_g"].to_numpy(dtype=float)[::T]
    clus = df[cluster].to_numpy()[::T] if cluster else None
    return _Panel(units=units, Y=Y, X=X, G=G, times=times, cluster=clus, n_dropped_unbalanced=n_drop)


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------
def _fmt(x: float, d: int = 4) -> str:
    return "NA" if x is None or not np.isfinite(x) else f"{x:.{d}f}"


@dataclass(frozen=True, repr=False)
class AttGtResult(ResultMixin, RegressionResultsMixin):
    """Group-time average treatment effects (immutable). Build with :func:`att_gt`.

    ``params``/``bse``/``pvalues``/``conf_int()`` are indexed by (group, time); ``nobs`` is the
    number of units (R's did reports the same ``n``).
    """

    def _coef_frame(self) -> pd.DataFrame:
        return self.table.set_index(["group", "time"])[COEF_COLUMNS]

    def _nobs(self) -> int:
        return self.n_units

    table: pd.DataFrame
    settings: dict[str, Any]
    n_units: int
    n_clusters: int | None
    pretest_stat: float
    pretest_df: int
    pretest_p_value: float
    crit_value: float
    _inffunc: np.ndarray = field(repr=False)
    _G: np.ndarray = field(repr=False)
    _cluster: np.ndarray | None = field(repr=False)
    _groups: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: group, time, event_time, estimate, std_error, ci_lower, ci_upper, p_value, post."""
        return self.table.copy()

    def summary(self) -> Summary:
        s = self.settings
        lines = (
            ("estimator", f"Callaway & Sant'Anna ATT(g,t), method={s['method']}"),
            ("comparison group", s["control_group"]),
            ("base period", s["base_period"]),
            ("anticipation periods", str(s["anticipation"])),
            ("units", str(self.n_units)),
            ("clusters", str(self.n_clusters) if self.n_clusters else "units"),
            ("inference", f"multiplier bootstrap ({s['reps']} reps), uniform band" if s["bootstrap"] else "analytic"),
            ("pre-test of parallel trends", (f"Wald chi2({self.pretest_df}) = {_fmt(self.pretest_stat, 3)},"
                                             f" p = {_fmt(self.pretest_p_value, 5)}")),
        )
        tab = self.table[["group", "time", "estimate", "std_error", "ci_lower", "ci_upper"]].round(4)
        return Summary(title="Group-time average treatment effects", lines=lines, tables=(("ATT(g,t)", tab),))

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": "att_gt",
            "settings": {k: v for k, v in self.settings.items()},
            "n_units": self.n_units,
            "n_clusters": self.n_clusters,
            "pretest": {"stat": _nan_none(self.pretest_stat), "df": self.pretest_df,
                        "p_value": _nan_none(self.pretest_p_value)},
            "crit_value": _nan_none(self.crit_value),
            "att_gt": _records(self.table),
        }

    def plot(self) -> Any:
        from plotnine import aes, facet_wrap, geom_errorbar, geom_hline, geom_point, ggplot, labs

        from evaltool.plotting import theme_evaltool

        d = self.table.assign(period=np.where(self.table["post"], "post", "pre"))
        return (
            ggplot(d, aes("time", "estimate", colour="period"))
            + geom_hline(yintercept=0, linetype="dashed")
            + geom_errorbar(aes(ymin="ci_lower", ymax="ci_upper"), width=0.2)
            + geom_point()
            + facet_wrap("~group", labeller="label_both")
            + labs(x="Period", y="ATT(g, t)", colour="")
            + theme_evaltool()
        )

    def aggregate(self, kind: AggregateKind = "group", *, min_e: float = -np.inf, max_e: float = np.inf,
                  balance_e: int | None = None) -> AggregateResult:
        """Aggregate ATT(g,t) into an overall effect and effects by event time / group / period.

        Follows R's ``aggte``: weights proportional to cohort size, with the influence-function
        correction for estimated weights; the overall row of ``dynamic`` averages event times
        >= 0, of ``group`` weights cohorts by size, of ``calendar`` averages periods.

        Examples
        --------
        >>> import evaltool.effects as ef  # doctest: +SKIP
        >>> ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat").aggregate("simple")  # doctest: +SKIP
        """
        return _aggregate(self, kind, min_e=min_e, max_e=max_e, balance_e=balance_e)


@dataclass(frozen=True, repr=False)
class AggregateResult(ResultMixin, RegressionResultsMixin):
    """Aggregated group-time effects (immutable): one overall row plus the components.

    ``params`` and friends are indexed ``"overall"`` then the components' labels (event times,
    cohorts or periods, as integers); ``nobs`` is the number of units.
    """

    def _coef_frame(self) -> pd.DataFrame:
        f = self.to_frame()
        idx = pd.Index(["overall", *f["label"].iloc[1:].tolist()], name=self.kind)
        return f[COEF_COLUMNS].set_axis(idx)

    def _nobs(self) -> int:
        return self.n_units

    kind: str
    overall: dict[str, float]
    table: pd.DataFrame
    settings: dict[str, Any]
    n_units: int
    n_clusters: int | None
    crit_value: float
    _inffunc: np.ndarray | None = field(default=None, repr=False)
    _cluster: np.ndarray | None = field(default=None, repr=False)

    def pretest(self) -> dict[str, float]:
        """Wald test that all pre-period event-time effects are zero (``kind="dynamic"`` only).

        Uses the analytic (cluster) variance of the aggregated event-time effects; with many
        group-time cells and few units this is better conditioned than the cell-level pre-test.
        ``p_value`` is the chi-square p-value; ``p_value_f`` the Hotelling T^2 small-sample version
        (``W (G - q) / (q (G - 1)) ~ F(q, G - q)``), preferable with few clusters.
        """
        if self.kind != "dynamic" or self._inffunc is None:
            raise EstimationError("pretest() needs a 'dynamic' aggregation")
        e = pd.to_numeric(self.table["label"]).to_numpy()
        pre = np.flatnonzero(e < 0)
        if len(pre) == 0:
            raise EstimationError("no pre-period event times to test")
        V = analytic_vcov(self._inffunc[:, 1:][:, pre], self._cluster)
        a = self.table["estimate"].to_numpy()[pre]
        stat = float(a @ np.linalg.pinv(V) @ a)
        df = int(np.linalg.matrix_rank(V))
        # small-sample version for few clusters G (Hotelling T^2): W (G - q) / (q (G - 1)) ~ F(q, G - q)
        G = len(np.unique(self._cluster)) if self._cluster is not None else self.n_units
        p_f = float(stats.f.sf(stat * (G - df) / (df * (G - 1)), df, G - df)) if G > df else float("nan")
        return {"stat": stat, "df": df, "p_value": float(stats.chi2.sf(stat, df)), "p_value_f": p_f,
                "n_clusters": int(G)}

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: level ('overall' or the kind), label, estimate, std_error, ci_lower, ci_upper, p_value."""
        o = pd.DataFrame([{"level": "overall", "label": "overall", **self.overall}])
        t = self.table.assign(level=self.kind)
        out = pd.concat([o, t], ignore_index=True)
        cols = ["level", "label", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
        return out[cols + [c for c in out.columns if c not in cols]]

    def summary(self) -> Summary:
        o = self.overall
        lines = (
            ("aggregation", self.kind),
            ("overall ATT", (f"{_fmt(o['estimate'])} (SE {_fmt(o['std_error'])}; 95% CI {_fmt(o['ci_lower'])} to"
                             f" {_fmt(o['ci_upper'])})")),
            ("comparison group", self.settings["control_group"]),
            ("method", self.settings["method"]),
            ("units", str(self.n_units)),
        )
        tab = self.table[["label", "estimate", "std_error", "ci_lower", "ci_upper"]].round(4)
        return Summary(title=f"Aggregated ATT ({self.kind})", lines=lines, tables=((self.kind, tab),))

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": "att_gt_aggregate", "kind": self.kind,
            "overall": {k: _nan_none(v) for k, v in self.overall.items()},
            "components": _records(self.table), "settings": self.settings,
            "n_units": self.n_units, "n_clusters": self.n_clusters, "crit_value": _nan_none(self.crit_value),
        }

    def plot(self) -> Any:
        from plotnine import aes, geom_errorbar, geom_hline, geom_point, geom_vline, ggplot, labs

        from evaltool.plotting import theme_evaltool

        d = self.table.copy()
        d["x"] = pd.to_numeric(d["label"], errors="coerce")
        p = (
            ggplot(d, aes("x", "estimate"))
            + geom_hline(yintercept=0, linetype="dashed")
            + geom_errorbar(aes(ymin="ci_lower", ymax="ci_upper"), width=0.2)
            + geom_point()
            + labs(x={"dynamic": "Periods since go-live", "group": "Cohort (first treated period)",
                      "calendar": "Period", "simple": ""}[self.kind], y="ATT")
            + theme_evaltool()
        )
        if self.kind == "dynamic":
            p = p + geom_vline(xintercept=-0.5, linetype="dotted")
        return p


def _nan_none(x: Any) -> Any:
    x = float(x)
    return None if not np.isfinite(x) else x


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (_nan_none(v) if isinstance(v, (float, np.floating)) else
                        (int(v) if isinstance(v, (np.integer,)) else (bool(v) if isinstance(v, np.bool_) else v)))
                    for k, v in rec.items()})
    return out


# --------------------------------------------------------------------------------------
# att_gt
# --------------------------------------------------------------------------------------
def att_gt(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    group: str,
    *,
    covariates: list[str] | None = None,
    xformla: str | None = None,
    control_group: ControlGroup = "never_treated",
    method: Method = "dr",
    anticipation: int = 0,
    base_period: Literal["varying", "universal"] = "varying",
    cluster: str | None = None,
    bootstrap: bool = True,
    reps: int = 999,
    seed: int | None = None,
    alpha: float = 0.05,
    weights: Literal["rademacher", "webb"] = "rademacher",
    missing_group: Literal["drop", "never_treated"] = "drop",
    no_never_treated: Literal["keep_periods", "last_cohort"] = "keep_periods",
) -> AttGtResult:
    """Group-time average treatment effects (Callaway & Sant'Anna 2021) on a balanced panel.

    Parameters
    ----------
    data:
        Long panel, one row per unit and period (never modified).
    outcome, unit, time, group:
        Column names. ``time`` is numeric (e.g. year, quarter index); ``group`` is the first
        treated period, 0 or missing for never treated.
    covariates:
        Time-invariant (or base-period) covariates for the propensity score / outcome model;
        values are taken from the base period of each 2x2 comparison, as R's did.
    xformla:
        The same as a formula, as R's did: ``"~ lpop"`` (column names joined by ``+``).
    control_group:
        ``"never_treated"`` or ``"not_yet_treated"`` (never treated plus cohorts first treated
        after ``max(t, base) + anticipation``).
    method:
        ``"dr"`` (doubly robust, default), ``"ipw"`` or ``"reg"``.
    anticipation:
        Periods before go-live in which units may already respond.
    base_period:
        ``"varying"`` (pre-period pseudo-ATTs against the previous period) or ``"universal"``
        (every period against ``g - anticipation - 1``).
    cluster:
        Column to cluster on (constant within unit); units otherwise.
    bootstrap:
        Multiplier bootstrap SEs and a uniform confidence band (``ci_lower``/``ci_upper``);
        ``False`` gives analytic SEs and pointwise intervals.
    reps, seed, alpha, weights:
        Bootstrap replications, seed, 1 - coverage, and multiplier weights.
    missing_group:
        Units whose ``group`` is missing: ``"drop"`` them with a warning and a count (R's did; a treated
        unit whose date was lost must not become a control), or analyse them as ``"never_treated"``
        (when the data declare a blank as never treated).
    no_never_treated:
        With no never-treated units: ``"keep_periods"`` (default) keeps every period -- with
        ``control_group="never_treated"`` it stops with an error; with ``"not_yet_treated"`` cells with no
        comparison units are skipped with a warning, and the last cohort gets pre-period estimates only --;
        ``"last_cohort"`` does as R's ``did``: the last cohort to be treated becomes the comparison group and
        the periods from its go-live (less anticipation) on are dropped, with a warning.

    Notes
    -----
    Cells that R's ``did`` cannot estimate are set to NA with a warning, as it does: for ``"dr"`` and
    ``"ipw"`` when a preliminary logit of treatment on the covariates gives a propensity score of 0.999 or
    more (no overlap); for ``"dr"`` and ``"reg"`` when the comparison units' covariate matrix is singular.
    Aggregations leave NA cells out (R's ``aggte(..., na.rm = TRUE)``) and say so.

    Returns
    -------
    AttGtResult

    Examples
    --------
    >>> import pandas as pd, evaltool.effects as ef  # doctest: +SKIP
    >>> mpdta = pd.read_csv("tests/data/mpdta.csv")  # doctest: +SKIP
    >>> res = ef.att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", bootstrap=False)  # doctest: +SKIP
    >>> round(res.aggregate("simple").overall["estimate"], 4)  # doctest: +SKIP
    -0.04
    """
    from evaltool.formula import formula_covariates

    covariates = formula_covariates(xformla, data, covariates)
    if control_group not in ("never_treated", "not_yet_treated"):
        raise EstimationError(f"`control_group` must be 'never_treated' or 'not_yet_treated', found {control_group!r}")
    if method not in ("dr", "ipw", "reg"):
        raise EstimationError(f"`method` must be 'dr', 'ipw' or 'reg', found {method!r}")
    if base_period not in ("varying", "universal"):
        raise EstimationError(f"`base_period` must be 'varying' or 'universal', found {base_period!r}")
    if anticipation < 0:
        raise EstimationError(f"`anticipation` must be >= 0, found {anticipation}")
    if missing_group not in ("drop", "never_treated"):
        raise EstimationError(f"`missing_group` must be 'drop' or 'never_treated', found {missing_group!r}")
    if no_never_treated not in ("keep_periods", "last_cohort"):
        raise EstimationError(f"`no_never_treated` must be 'keep_periods' or 'last_cohort', found {no_never_treated!r}")
    P = _prepare(data, outcome, unit, time, group, covariates, cluster, anticipation, missing_group,
                 no_never_treated)
    tl = P.times
    glist = np.sort(np.unique(P.G[P.G > 0]))
    if len(glist) == 0:
        raise EstimationError(f"no treated cohorts: `{group}` is 0/missing (never treated) for every unit")
    n = len(P.G)
    never = P.G == 0
    if control_group == "never_treated" and not never.any():
        raise EstimationError(
            "no never-treated units: `control_group='never_treated'` needs units with"
            f" `{group}` 0 or missing; use control_group='not_yet_treated'"
        )
    sizes = {g: int((P.G == g).sum()) for g in glist}
    small = [g for g, k in sizes.items() if k == 1]
    if small:
        warnings.warn(
            f"cohort(s) {small} contain a single unit: their ATT(g,t) rest on one unit and their"
            " standard errors are unreliable", EstimationWarning, stacklevel=2,
        )
    rows: list[dict[str, Any]] = []
    infs: list[np.ndarray] = []
    na_cells: list[tuple[float, float, str]] = []
    tfac = 0 if base_period == "universal" else 1
    for g in glist:
        pre_idx = np.flatnonzero(tl + anticipation < g)
        if len(pre_idx) == 0:
            continue
        g_base = int(pre_idx[-1])
        for ti in range(len(tl) - tfac):
            cur = ti + tfac
            post = g <= tl[cur]
            base = g_base if (base_period == "universal" or post) else ti
            if base_period == "universal" and base == cur:
                rows.append({"group": g, "time": tl[cur], "estimate": 0.0, "post": False, "n_treated": sizes[g], "n_control": 0,
                                 "_ref": True})
                infs.append(np.zeros(n))
                continue
            treated = P.G == g
            if control_group == "never_treated":
                control = never
            else:
                control = never | ((P.G > tl[max(cur, base)] + anticipation) & (P.G != g))
            if control.sum() == 0:
                warnings.warn(
                    f"no comparison units for group {g} at time {tl[cur]} (control_group={control_group!r});"
                    " ATT(g,t) not estimated", EstimationWarning, stacklevel=2,
                )
                continue
            sub = treated | control
            D = treated[sub].astype(float)
            y1 = P.Y[sub, cur]
            y0 = P.Y[sub, base]
            Xs = P.X[sub, min(cur, base)]
            why = cell_guard(D, Xs, method)
            if why is not None:
                na_cells.append((g, tl[cur], why))
                rows.append({"group": g, "time": tl[cur], "estimate": np.nan, "post": bool(post),
                             "n_treated": int(treated.sum()), "n_control": int(control.sum()), "_ref": False})
                infs.append(np.full(n, np.nan))
                continue
            att, inf = did_panel(y1, y0, D, Xs, method)
            full = np.zeros(n)
            full[sub] = (n / sub.sum()) * inf
            rows.append({"group": g, "time": tl[cur], "estimate": att, "post": bool(post), "n_treated": int(treated.sum()),
                             "n_control": int(control.sum()), "_ref": False})
            infs.append(full)
    if not rows:
        raise EstimationError("no group-time effect could be estimated: no cohort has a pre-period and comparison units")
    if na_cells:
        why = {"overlap": "no overlap (a preliminary propensity score reached 0.999)",
               "singular": "the comparison units' covariates are collinear"}
        listed = "; ".join(f"group {g:g}, period {t:g}: {why[w]}" for g, t, w in na_cells[:12])
        warnings.warn(f"{len(na_cells)} group-time effect(s) set to NA, as R's did does ({listed}"
                      f"{' ...' if len(na_cells) > 12 else ''}); aggregations leave them out",
                      EstimationWarning, stacklevel=2)
    table = pd.DataFrame(rows)
    IF = np.column_stack(infs)
    na_col = ~np.isfinite(IF).all(axis=0)
    se = analytic_se(np.where(na_col[None, :], 0.0, IF), P.cluster)
    se[(se <= np.sqrt(np.finfo(float).eps) * 10) | table["_ref"].to_numpy() | na_col] = np.nan
    crit = float(stats.norm.ppf(1 - alpha / 2))
    if bootstrap:
        mb = multiplier_bootstrap(np.where(na_col[None, :], 0.0, IF), clusters=P.cluster, reps=reps, seed=seed,
                                  alpha=alpha, weights=weights)
        se = np.where(np.isfinite(se), mb.std_error, np.nan)
        if np.isfinite(mb.crit_value):
            crit = mb.crit_value
    est = table["estimate"].to_numpy()
    table["std_error"] = se
    table["ci_lower"] = est - crit * se
    table["ci_upper"] = est + crit * se
    table["p_value"] = 2 * stats.norm.sf(np.abs(est / se))
    table["event_time"] = table["time"] - table["group"]
    # Wald pre-test of parallel trends on pre-treatment ATT(g,t) (analytic variance, as R's did).
    V = analytic_vcov(np.where(na_col[None, :], 0.0, IF), P.cluster)
    pre = np.flatnonzero((table["group"] > table["time"]).to_numpy() & np.isfinite(se))
    W = pval = float("nan")
    if len(pre):
        Vp = V[np.ix_(pre, pre)]
        a = est[pre]
        if np.linalg.cond(Vp) < 1 / np.finfo(float).eps:
            W = float(a @ np.linalg.solve(Vp, a))
            pval = float(stats.chi2.sf(W, len(pre)))
    table = table[["group", "time", "event_time", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "post",
                   "n_treated", "n_control"]]
    for c in ("group", "time", "event_time"):  # labels as integers where they are (2004, not 2004.0)
        table[c] = int_labels(table[c]).to_numpy()
    settings = {"outcome": outcome, "control_group": control_group, "method": method, "anticipation": anticipation,
                    "base_period": base_period, "covariates": list(covariates or []), "cluster": cluster,
                    "bootstrap": bootstrap, "reps": reps, "seed": seed, "alpha": alpha, "weights": weights,
                    "uniform_band": bool(bootstrap), "missing_group": missing_group,
                    "no_never_treated": no_never_treated,
                    "na_cells": [{"group": float(g), "time": float(t), "reason": w} for g, t, w in na_cells]}
    return AttGtResult(
        table=table.reset_index(drop=True), settings=settings, n_units=n,
        n_clusters=(len(np.unique(P.cluster)) if P.cluster is not None else None),
        pretest_stat=W, pretest_df=len(pre), pretest_p_value=pval, crit_value=crit,
        _inffunc=IF, _G=P.G, _cluster=P.cluster, _groups=glist,
    )


# --------------------------------------------------------------------------------------
# Aggregation (R did's aggte)
# --------------------------------------------------------------------------------------
def _wif(keepers: np.ndarray, pg: np.ndarray, G: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Influence function of the estimated aggregation weights (R did's ``wif``)."""
    ind = (G[:, None] == group[keepers][None, :]).astype(float)  # (n, k)
    pk = pg[keepers]
    s = pk.sum()
    if1 = (ind - pk) / s
    if2 = (ind - pk).sum(axis=1)[:, None] * (pk / s**2)[None, :]
    return if1 - if2


def _agg_inf(att: np.ndarray, IF: np.ndarray, idx: np.ndarray, w: np.ndarray, wif: np.ndarray | None) -> np.ndarray:
    out = IF[:, idx] @ w
    if wif is not None:
        out = out + wif @ att[idx]
    return out


def _aggregate(res: AttGtResult, kind: str, *, min_e: float, max_e: float, balance_e: int | None) -> AggregateResult:
    if kind not in ("simple", "dynamic", "group", "calendar"):
        raise EstimationError(f"`kind` must be 'simple', 'dynamic', 'group' or 'calendar', found {kind!r}")
    tab = res.table
    s = res.settings
    IF = res._inffunc
    notna = np.isfinite(tab["estimate"].to_numpy(dtype=float))
    if not notna.any():
        raise EstimationError("every ATT(g,t) is NA (no overlap or singular covariates): nothing to aggregate")
    if not notna.all():
        # R's aggte(..., na.rm = TRUE): NA cells are left out and the cohorts re-listed from what remains.
        warnings.warn(f"{int((~notna).sum())} NA group-time effect(s) left out of the '{kind}' aggregation",
                      EstimationWarning, stacklevel=3)
        tab, IF = tab[notna].reset_index(drop=True), IF[:, notna]
    keep_rows = np.isfinite(tab["std_error"].to_numpy()) | (tab["group"] <= tab["time"]).to_numpy()
    G = res._G
    n = len(G)
    group = tab["group"].to_numpy(dtype=float)
    t = tab["time"].to_numpy(dtype=float)
    att = tab["estimate"].to_numpy(dtype=float)
    glist = np.sort(np.unique(group))
    pg_group = np.array([np.mean(G == g) for g in glist])
    pg = np.array([np.mean(G == g) for g in group])
    comps: list[tuple[Any, float, np.ndarray]] = []
    if kind == "simple":
        keep = np.flatnonzero((group <= t) & (t <= group + max_e) & keep_rows)
        w = pg[keep] / pg[keep].sum()
        est = float(att[keep] @ w)
        inf = _agg_inf(att, IF, keep, w, _wif(keep, pg, G, group))
        overall = (est, inf)
    elif kind == "group":
        ests, infs = [], []
        for g in glist:
            idx = np.flatnonzero((group == g) & (g <= t) & (t <= g + max_e))
            if len(idx) == 0:
                ests.append(np.nan)
                infs.append(np.zeros(n))
                continue
            w = np.full(len(idx), 1 / len(idx))
            ests.append(float(att[idx] @ w))
            infs.append(_agg_inf(att, IF, idx, w, None))
            comps.append((g, ests[-1], infs[-1]))
        ests_a = np.array(ests)
        ok = np.flatnonzero(np.isfinite(ests_a))
        w = pg_group[ok] / pg_group[ok].sum()
        est = float(ests_a[ok] @ w)
        gIF = np.column_stack(infs)
        inf = _agg_inf(ests_a, gIF, ok, w, _wif(ok, pg_group, G, glist))
        overall = (est, inf)
    elif kind == "dynamic":
        e_all = t - group
        if balance_e is not None:
            max_et = {g: (t[group == g] - g).max() for g in glist}
            okg = np.array([max_et[g] >= balance_e for g in group])
            sel = okg & (e_all <= balance_e) & (e_all >= (min_e if np.isfinite(min_e) else -np.inf))
        else:
            sel = np.ones(len(att), bool)
        sel &= keep_rows
        eseq = np.sort(np.unique(e_all[sel]))
        eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
        for e in eseq:
            idx = np.flatnonzero((e_all == e) & sel)
            w = pg[idx] / pg[idx].sum()
            comps.append((e, float(att[idx] @ w), _agg_inf(att, IF, idx, w, _wif(idx, pg, G, group))))
        pos = [c for c in comps if c[0] >= 0]
        if not pos:
            raise EstimationError("no post-treatment event times to aggregate")
        est = float(np.mean([c[1] for c in pos]))
        inf = np.mean(np.column_stack([c[2] for c in pos]), axis=1)
        overall = (est, inf)
    else:  # calendar
        minG = group.min()
        for t1 in np.sort(np.unique(t[t >= minG])):
            idx = np.flatnonzero((t == t1) & (group <= t) & keep_rows)
            if len(idx) == 0:
                continue
            w = pg[idx] / pg[idx].sum()
            comps.append((t1, float(att[idx] @ w), _agg_inf(att, IF, idx, w, _wif(idx, pg, G, group))))
        est = float(np.mean([c[1] for c in comps]))
        inf = np.mean(np.column_stack([c[2] for c in comps]), axis=1)
        overall = (est, inf)
    alpha = s["alpha"]
    z = float(stats.norm.ppf(1 - alpha / 2))
    all_inf = np.column_stack([overall[1]] + [c[2] for c in comps]) if comps else overall[1][:, None]
    se_all = analytic_se(all_inf, res._cluster)
    crit_comp = z
    if s["bootstrap"]:
        mb_o = multiplier_bootstrap(overall[1], clusters=res._cluster, reps=s["reps"], seed=s["seed"], alpha=alpha,
                                    weights=s["weights"])
        se_all[0] = mb_o.std_error[0]
        if comps:
            mb = multiplier_bootstrap(all_inf[:, 1:], clusters=res._cluster, reps=s["reps"], seed=s["seed"],
                                      alpha=alpha, weights=s["weights"])
            se_all[1:] = mb.std_error
            if np.isfinite(mb.crit_value):
                crit_comp = mb.crit_value
    se_all[se_all <= np.sqrt(np.finfo(float).eps) * 10] = np.nan
    o_est, o_se = overall[0], float(se_all[0])
    overall_d = {"estimate": o_est, "std_error": o_se, "ci_lower": o_est - z * o_se, "ci_upper": o_est + z * o_se,
                     "p_value": float(2 * stats.norm.sf(abs(o_est / o_se)))}
    comp_rows = []
    for (lab, e, _), sej in zip(comps, se_all[1:]):
        comp_rows.append({"label": lab, "estimate": e, "std_error": sej, "ci_lower": e - crit_comp * sej,
                              "ci_upper": e + crit_comp * sej, "p_value": float(2 * stats.norm.sf(abs(e / sej)))})
    table = pd.DataFrame(comp_rows, columns=["label", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"])
    if len(table):
        table["label"] = int_labels(table["label"]).to_numpy()  # event times and cohorts as integers
    return AggregateResult(kind=kind, overall=overall_d, table=table, settings=dict(s), n_units=res.n_units,
                           n_clusters=res.n_clusters, crit_value=crit_comp, _inffunc=all_inf, _cluster=res._cluster)
