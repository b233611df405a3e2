"""Results of :func:`evaltool.effects.staggered.att_gt` and their aggregations (R ``did``'s ``aggte``).

:class:`AttGtResult` holds the group-time effects with their influence functions;
:meth:`AttGtResult.aggregate` returns an :class:`AggregateResult` (simple, dynamic, group or
calendar), with the estimated-weights correction ``wif`` exactly as R's ``did``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool._regression import COEF_COLUMNS, RegressionResultsMixin, int_labels
from evaltool._result import ResultMixin, Summary
from evaltool.effects.inference import analytic_se, analytic_vcov, multiplier_bootstrap
from evaltool.errors import EstimationError, EstimationWarning

AggregateKind = Literal["simple", "dynamic", "group", "calendar"]


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
        p_f = float(dist.f_sf(stat * (G - df) / (df * (G - 1)), df, G - df)) if G > df else float("nan")
        return {"stat": stat, "df": df, "p_value": float(dist.chi2_sf(stat, df)), "p_value_f": p_f,
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
    z = float(dist.norm_ppf(1 - alpha / 2))
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
                     "p_value": float(2 * dist.norm_sf(abs(o_est / o_se)))}
    comp_rows = []
    for (lab, e, _), sej in zip(comps, se_all[1:]):
        comp_rows.append({"label": lab, "estimate": e, "std_error": sej, "ci_lower": e - crit_comp * sej,
                              "ci_upper": e + crit_comp * sej, "p_value": float(2 * dist.norm_sf(abs(e / sej)))})
    table = pd.DataFrame(comp_rows, columns=["label", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"])
    if len(table):
        table["label"] = int_labels(table["label"]).to_numpy()  # event times and cohorts as integers
    return AggregateResult(kind=kind, overall=overall_d, table=table, settings=dict(s), n_units=res.n_units,
                           n_clusters=res.n_clusters, crit_value=crit_comp, _inffunc=all_inf, _cluster=res._cluster)
