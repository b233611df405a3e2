"""Change analysis for patient-reported outcomes: paired change, ANCOVA against a comparison group,
attrition (completers vs non-completers) and the response flow.

Every function takes long data (one row per person and time point) and never modifies it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool import dist
from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError, EstimationError


def _check_columns(data: pd.DataFrame, cols: Sequence[str], arg: str = "data") -> None:
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"`{arg}` is missing column(s) {', '.join(missing)}; found {', '.join(map(str, data.columns))}."
        )


def _wide(
    data: pd.DataFrame, value: str, id_col: str, time_col: str, group_col: str | None
) -> pd.DataFrame:
    """One row per person (and group), one column per time point; duplicates are an error."""
    cols = [id_col, time_col, value] + ([group_col] if group_col else [])
    df = data[cols].dropna(subset=[value])
    dup = df.duplicated([id_col, time_col])
    if dup.any():
        ids = df.loc[dup, id_col].astype(str).head(5).tolist()
        raise DataValidationError(
            f"`data` has more than one {value} per {id_col} and {time_col} ({int(dup.sum())} duplicates, "
            f"e.g. {', '.join(ids)}); keep one response per person per time point."
        )
    index = [id_col] + ([group_col] if group_col else [])
    wide = df.pivot_table(index=index, columns=time_col, values=value, aggfunc="first", observed=True)
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


def paired_t(diff: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Mean of paired differences with a t-based CI and two-sided p-value.

    Examples
    --------
    >>> round(paired_t(np.array([0.1, 0.2, 0.3]))["estimate"], 3)
    0.2
    """
    n = len(diff)
    mean = float(np.mean(diff)) if n else np.nan
    sd = float(np.std(diff, ddof=1)) if n > 1 else np.nan
    se = sd / np.sqrt(n) if n > 1 else np.nan
    if n > 1 and se > 0:
        tcrit = dist.t_ppf(0.5 + confidence / 2, n - 1)
        t = mean / se
        p = float(2 * dist.t_sf(abs(t), n - 1))
    else:
        tcrit, t, p = np.nan, np.nan, np.nan
    return {
        "estimate": mean,
        "std_error": se,
        "ci_lower": mean - tcrit * se,
        "ci_upper": mean + tcrit * se,
        "p_value": p,
        "t_statistic": t,
        "sd_change": sd,
    }


def _wilcoxon(diff: np.ndarray) -> tuple[float, float, int]:
    """Wilcoxon signed-rank with zero differences dropped (Wilcoxon's method)."""
    n_zero = int(np.sum(diff == 0))
    if np.sum(diff != 0) < 1:
        return np.nan, np.nan, n_zero
    from scipy import stats  # only here: importing scipy.stats costs 0.8 s (evaltool.dist)

    res = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue), n_zero


@dataclass(frozen=True)
class ChangeResult(ResultMixin):
    """Paired baseline -> follow-up change, one row per group and follow-up time point.

    ``table`` columns: group, timepoint, comparison, n_baseline, n_followup, n_pairs,
    mean_baseline, mean_followup, estimate (mean change), std_error, ci_lower, ci_upper,
    p_value (paired t), t_statistic, sd_change, wilcoxon_statistic, wilcoxon_p_value,
    n_zero_changes, srm, kazis_es, mid, n_improved_mid, pct_improved_mid, n_worse_mid,
    pct_worse_mid. ``bins`` holds a binned change distribution (counts only) for plotting.
    """

    table: pd.DataFrame
    bins: pd.DataFrame
    value: str
    value_label: str
    mid: float | None = None
    mid_source: str | None = None
    wilcoxon_zero_method: str = (
        "Wilcoxon signed-rank test, zero differences dropped (Wilcoxon's method); "
        "normal approximation for n > 50 with ties"
    )
    confidence: float = 0.95

    def summary(self) -> Summary:
        lines = [
            ("Outcome", self.value_label),
            ("Change", "follow-up minus baseline, paired (people answering at both)"),
            ("CI", f"{int(self.confidence * 100)}% paired t"),
            ("Wilcoxon", self.wilcoxon_zero_method),
            ("Effect sizes", "SRM = mean change / SD of change; Kazis ES = mean change / SD at baseline"),
        ]
        if self.mid is not None:
            lines.append(("MID", f"{self.mid} ({self.mid_source or 'source not given'})"))
        cols = ["group", "comparison", "n_pairs", "estimate", "ci_lower", "ci_upper", "p_value", "srm"]
        return Summary(
            title=f"Paired change in {self.value_label}",
            lines=tuple(lines),
            tables=(("Change", self.table[[c for c in cols if c in self.table.columns]]),),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "value_label": self.value_label,
            "mid": self.mid,
            "mid_source": self.mid_source,
            "wilcoxon": self.wilcoxon_zero_method,
            "table": self.table.to_dict(orient="records"),
            "bins": self.bins.to_dict(orient="records"),
        }

    def plot(self):
        from evaltool.proms._plots import binned_change_bars

        b = self.bins.copy()
        order = list(dict.fromkeys(b["comparison"].astype(str)))
        if "group" in b.columns and b["group"].nunique() > 1:
            order = [f"{g}: {c}" for g in sorted(b["group"].astype(str).unique()) for c in order]
            b["comparison"] = b["group"].astype(str) + ": " + b["comparison"].astype(str)
        b["comparison"] = pd.Categorical(b["comparison"].astype(str), categories=order)
        return binned_change_bars(b)


def paired_change(
    data: pd.DataFrame,
    value: str = "eq5d_index",
    *,
    id_col: str = "person_id",
    time_col: str = "timepoint",
    baseline: str = "baseline",
    followups: Sequence[str] | None = None,
    group_col: str | None = None,
    mid: float | None = None,
    mid_source: str | None = None,
    value_label: str | None = None,
    confidence: float = 0.95,
    bin_width: float | None = None,
) -> ChangeResult:
    """Paired change from baseline to each follow-up, overall or by group.

    Parameters
    ----------
    data:
        Long data: one row per person and time point with ``value``.
    value:
        The score column (higher = better, e.g. EQ-5D index, VAS, PAM score).
    baseline, followups:
        Baseline label and follow-up labels (default: every other time point, in data order).
    group_col:
        Optional group column (e.g. ``group`` with enrolled/comparison).
    mid, mid_source:
        Minimal important difference and where it comes from; people improving by at least
        ``mid`` are counted (``n_improved_mid``) and so are those worsening by at least ``mid``.
    value_label:
        Label for reports (e.g. "EQ-5D-5L index (England 2018 value set)").

    Returns
    -------
    ChangeResult

    Examples
    --------
    >>> df = pd.DataFrame({"person_id": [1, 1, 2, 2, 3, 3],
    ...                    "timepoint": ["baseline", "6m"] * 3, "eq5d_index": [.5, .6, .7, .7, .4, .6]})
    >>> r = paired_change(df, mid=0.06, mid_source="example")
    >>> round(float(r.table["estimate"].iloc[0]), 3), int(r.table["n_improved_mid"].iloc[0])
    (0.1, 2)
    """
    _check_columns(data, [id_col, time_col, value] + ([group_col] if group_col else []))
    times = [str(t) for t in pd.unique(data[time_col].astype(str))]
    if str(baseline) not in times:
        raise DataValidationError(f"`baseline` {baseline!r} is not a value of column {time_col}; found {times}.")
    if followups is None:
        followups = [t for t in times if t != str(baseline)]
    wide = _wide(data, value, id_col, time_col, group_col)
    groups = [(None, wide)] if group_col is None else list(wide.groupby(group_col, observed=True, sort=True))
    rows, bins = [], []
    for g, w in groups:
        base = w[str(baseline)] if str(baseline) in w.columns else pd.Series(np.nan, index=w.index)
        for fu in followups:
            fol = w[str(fu)] if str(fu) in w.columns else pd.Series(np.nan, index=w.index)
            both = base.notna() & fol.notna()
            diff = (fol[both] - base[both]).to_numpy(dtype=float)
            row: dict[str, Any] = {"group": g, "timepoint": str(fu), "comparison": f"{baseline} to {fu}"}
            row.update(
                n_baseline=int(base.notna().sum()),
                n_followup=int(fol.notna().sum()),
                n_pairs=int(both.sum()),
                mean_baseline=float(base[both].mean()) if both.any() else np.nan,
                mean_followup=float(fol[both].mean()) if both.any() else np.nan,
            )
            row.update(paired_t(diff, confidence))
            w_stat, w_p, n_zero = _wilcoxon(diff) if len(diff) else (np.nan, np.nan, 0)
            row.update(wilcoxon_statistic=w_stat, wilcoxon_p_value=w_p, n_zero_changes=n_zero)
            sd_base = float(base[both].std(ddof=1)) if both.sum() > 1 else np.nan
            row["srm"] = row["estimate"] / row["sd_change"] if row["sd_change"] else np.nan
            row["kazis_es"] = row["estimate"] / sd_base if sd_base else np.nan
            row["mid"] = mid
            if mid is not None and len(diff):
                row["n_improved_mid"] = int(np.sum(diff >= mid - 1e-12))
                row["pct_improved_mid"] = 100 * row["n_improved_mid"] / len(diff)
                row["n_worse_mid"] = int(np.sum(diff <= -mid + 1e-12))
                row["pct_worse_mid"] = 100 * row["n_worse_mid"] / len(diff)
            else:
                row.update(n_improved_mid=np.nan, pct_improved_mid=np.nan, n_worse_mid=np.nan, pct_worse_mid=np.nan)
            rows.append(row)
            if len(diff):
                bins.append((g, row["comparison"], diff))
    table = pd.DataFrame(rows)
    if group_col is None:
        table = table.drop(columns="group")
    # One bin width for every panel (about 25 bins over the pooled range) so panels compare.
    if bins:
        pooled = np.concatenate([d for *_, d in bins])
        width = bin_width or (float(np.ptp(pooled)) / 25 if np.ptp(pooled) > 0 else 0.05)
        parts = []
        for g, comp, d in bins:
            vc = pd.Series(np.floor(d / width + 0.5).astype(int)).value_counts().sort_index()
            parts.append(pd.DataFrame({"group": g, "comparison": comp, "bin_mid": vc.index.to_numpy() * width,
                                       "n": vc.to_numpy(), "bin_width": width}))
        bin_frame = pd.concat(parts, ignore_index=True)
    else:
        bin_frame = pd.DataFrame(columns=["group", "comparison", "bin_mid", "n", "bin_width"])
    if group_col is None and "group" in bin_frame.columns:
        bin_frame = bin_frame.drop(columns="group")
    return ChangeResult(
        table=table, bins=bin_frame, value=value, value_label=value_label or value,
        mid=mid, mid_source=mid_source, confidence=confidence,
    )


# ---------------------------------------------------------------------------------------------
# ANCOVA: intervention vs comparison
# ---------------------------------------------------------------------------------------------
def _ols(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Classical OLS: coefficients, covariance matrix, residual df."""
    n, k = X.shape
    if n <= k:
        raise EstimationError(f"ANCOVA needs more people than parameters; found {n} people and {k} parameters.")
    beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    if rank < k:
        raise EstimationError(
            "ANCOVA design is rank deficient (a covariate is constant or collinear with group/baseline)."
        )
    resid = y - X @ beta
    df = n - k
    sigma2 = resid @ resid / df
    cov = sigma2 * np.linalg.inv(X.T @ X)
    return beta, cov, df


@dataclass(frozen=True)
class AncovaResult(ResultMixin):
    """Difference in change, intervention minus comparison, from follow-up ~ baseline + group (+ covariates).

    ``table``: timepoint, estimate, std_error, ci_lower, ci_upper, p_value, baseline_coef,
    n_units, n_treated, n_comparison, unadjusted_difference (difference in mean change) with
    unadjusted_ci_lower/upper (Welch), covariates, method.
    """

    table: pd.DataFrame
    value_label: str
    treated_label: str
    comparison_label: str
    covariates: tuple[str, ...] = ()

    def summary(self) -> Summary:
        return Summary(
            title=f"Difference in change in {self.value_label}: {self.treated_label} vs {self.comparison_label}",
            lines=(
                ("Model", "OLS of follow-up on baseline and group (ANCOVA), classical SEs, t-based 95% CI"),
                ("Covariates", ", ".join(self.covariates) or "none"),
            ),
            tables=(("ANCOVA", self.table),),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        return {
            "value_label": self.value_label,
            "treated": self.treated_label,
            "comparison": self.comparison_label,
            "covariates": list(self.covariates),
            "table": self.table.to_dict(orient="records"),
        }

    def plot(self):
        from evaltool.proms._plots import estimate_points

        return estimate_points(self.table, x="timepoint")


def ancova(
    data: pd.DataFrame,
    value: str = "eq5d_index",
    *,
    group_col: str = "group",
    treated: Any = "enrolled",
    id_col: str = "person_id",
    time_col: str = "timepoint",
    baseline: str = "baseline",
    followups: Sequence[str] | None = None,
    covariates: pd.DataFrame | None = None,
    value_label: str | None = None,
    confidence: float = 0.95,
) -> AncovaResult:
    """ANCOVA: regress follow-up on baseline and group (and optional covariates), per follow-up.

    The group coefficient is the difference in change (intervention minus comparison) adjusted
    for baseline. When groups differ at baseline only by chance (or by transient, regressing
    values) ANCOVA is the efficient, unbiased choice; when they differ in their persistent level,
    ANCOVA and the unadjusted difference in change estimate different things (Lord's paradox), so
    both are reported, the latter with a Welch CI.

    Parameters
    ----------
    covariates:
        Optional per-person covariates, indexed by ``id_col`` values or with an ``id_col``
        column; numeric columns enter as is, text/categorical columns as dummies.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n = 200
    >>> b = rng.normal(.6, .2, n); g = np.repeat(["enrolled", "comparison"], n // 2)
    >>> f = b + .05 + .1 * (g == "enrolled") + rng.normal(0, .05, n)
    >>> df = pd.DataFrame({"person_id": np.tile(np.arange(n), 2), "group": np.tile(g, 2),
    ...     "timepoint": ["baseline"] * n + ["6m"] * n, "eq5d_index": np.r_[b, f]})
    >>> 0.07 < float(ancova(df).table["estimate"].iloc[0]) < 0.13
    True
    """
    _check_columns(data, [id_col, time_col, value, group_col])
    if followups is None:
        followups = [t for t in pd.unique(data[time_col].astype(str)) if t != str(baseline)]
    wide = _wide(data, value, id_col, time_col, group_col)
    labels = sorted(wide[group_col].astype(str).unique())
    if str(treated) not in labels or len(labels) != 2:
        raise DataValidationError(
            f"`{group_col}` must have exactly two groups including `treated`={treated!r}; found {labels}."
        )
    comparison = [lab for lab in labels if lab != str(treated)][0]
    cov_names: list[str] = []
    if covariates is not None:
        cov = covariates.copy()
        if id_col in cov.columns:
            cov = cov.set_index(id_col)
        cov = pd.get_dummies(cov, drop_first=True, dtype=float)
        cov_names = [str(c) for c in cov.columns]
        cov.columns = cov_names
        wide = wide.merge(cov, left_on=id_col, right_index=True, how="left")
    rows = []
    for fu in followups:
        cols = [str(baseline), str(fu)]
        if any(c not in wide.columns for c in cols):
            continue
        w = wide.dropna(subset=cols + cov_names)
        g = (w[group_col].astype(str) == str(treated)).to_numpy(dtype=float)
        X = np.column_stack([np.ones(len(w)), w[str(baseline)].to_numpy(float), g] +
                            [w[c].to_numpy(float) for c in cov_names])
        if g.sum() == 0 or g.sum() == len(g):
            raise EstimationError(f"ANCOVA at {fu}: both groups need people answering at baseline and {fu}.")
        beta, vcov, df = _ols(w[str(fu)].to_numpy(float), X)
        se = float(np.sqrt(vcov[2, 2]))
        tcrit = dist.t_ppf(0.5 + confidence / 2, df)
        change = (w[str(fu)] - w[str(baseline)]).to_numpy(float)
        # Unadjusted difference in mean change with a Welch CI: the change-score (DiD of means)
        # estimand, which differs from ANCOVA's when the groups differ at baseline (Lord's paradox).
        c1, c0 = change[g == 1], change[g == 0]
        v1, v0 = c1.var(ddof=1) / len(c1), c0.var(ddof=1) / len(c0)
        se_u = float(np.sqrt(v1 + v0))
        df_u = (v1 + v0) ** 2 / (v1 ** 2 / (len(c1) - 1) + v0 ** 2 / (len(c0) - 1)) if se_u > 0 else np.nan
        t_u = dist.t_ppf(0.5 + confidence / 2, df_u) if se_u > 0 else np.nan
        rows.append({
            "timepoint": str(fu),
            "comparison": f"{treated} vs {comparison}",
            "estimate": float(beta[2]),
            "std_error": se,
            "ci_lower": float(beta[2] - tcrit * se),
            "ci_upper": float(beta[2] + tcrit * se),
            "p_value": float(2 * dist.t_sf(abs(beta[2] / se), df)),
            "baseline_coef": float(beta[1]),
            "n_units": int(len(w)),
            "n_treated": int(g.sum()),
            "n_comparison": int(len(g) - g.sum()),
            "unadjusted_difference": float(c1.mean() - c0.mean()),
            "unadjusted_ci_lower": float(c1.mean() - c0.mean() - t_u * se_u),
            "unadjusted_ci_upper": float(c1.mean() - c0.mean() + t_u * se_u),
            "covariates": ", ".join(cov_names),
            "method": "ancova_ols",
        })
    return AncovaResult(pd.DataFrame(rows), value_label or value, str(treated), comparison, tuple(cov_names))


# ---------------------------------------------------------------------------------------------
# Attrition and response flow
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttritionResult(ResultMixin):
    """Response flow and baseline scores of completers vs non-completers."""

    flow: pd.DataFrame
    attrition: pd.DataFrame
    value_label: str = "score"
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> Summary:
        return Summary(
            title="Response flow and attrition",
            lines=(("Completers", "answered at baseline and the follow-up; difference = completers minus "
                                  "non-completers at baseline, Welch 95% CI"),) + tuple(("Note", n) for n in self.notes),
            tables=(("Flow", self.flow), ("Attrition", self.attrition)),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.flow.copy()

    def to_dict(self) -> dict[str, Any]:
        return {"flow": self.flow.to_dict(orient="records"), "attrition": self.attrition.to_dict(orient="records")}

    def plot(self):
        from plotnine import aes, geom_col, ggplot, labs, position_dodge

        from evaltool.plotting import theme_evaltool

        long = self.flow.melt(
            id_vars=[c for c in ("group", "timepoint") if c in self.flow.columns],
            value_vars=["n_responded", "n_both"], var_name="measure", value_name="n",
        )
        return (
            ggplot(long, aes(x="timepoint", y="n", fill="measure"))
            + geom_col(position=position_dodge())
            + labs(x="", y="People")
            + theme_evaltool()
        )


def attrition(
    data: pd.DataFrame,
    value: str = "eq5d_index",
    *,
    id_col: str = "person_id",
    time_col: str = "timepoint",
    baseline: str = "baseline",
    followups: Sequence[str] | None = None,
    group_col: str | None = None,
    n_invited: dict[Any, int] | None = None,
    value_label: str | None = None,
) -> AttritionResult:
    """Who answered when, and whether those lost to follow-up differed at baseline.

    ``flow``: per group and time point, n_invited (if given), n_responded (a usable ``value``),
    n_both (baseline and this time point), pct_retained (n_both / n at baseline).
    ``attrition``: per group and follow-up, n and mean baseline score of completers and
    non-completers, their difference with a Welch 95% CI.

    Examples
    --------
    >>> df = pd.DataFrame({"person_id": [1, 1, 2, 3], "timepoint": ["baseline", "6m", "baseline", "baseline"],
    ...                    "eq5d_index": [.8, .9, .5, .6]})
    >>> attrition(df).attrition[["n_completers", "n_non_completers"]].values.tolist()
    [[1, 2]]
    """
    _check_columns(data, [id_col, time_col, value] + ([group_col] if group_col else []))
    times = list(pd.unique(data[time_col].astype(str)))
    if followups is None:
        followups = [t for t in times if t != str(baseline)]
    wide = _wide(data, value, id_col, time_col, group_col)
    groups = [(None, wide)] if group_col is None else list(wide.groupby(group_col, observed=True, sort=True))
    flow_rows, att_rows = [], []
    for g, w in groups:
        base = w[str(baseline)] if str(baseline) in w.columns else pd.Series(np.nan, index=w.index)
        for t in [str(baseline), *map(str, followups)]:
            col = w[t] if t in w.columns else pd.Series(np.nan, index=w.index)
            n_both = int((base.notna() & col.notna()).sum())
            flow_rows.append({
                "group": g, "timepoint": t,
                "n_invited": (n_invited or {}).get(g if g is not None else "all"),
                "n_responded": int(col.notna().sum()), "n_both": n_both,
                "pct_retained": 100 * n_both / base.notna().sum() if base.notna().sum() else np.nan,
            })
        for fu in followups:
            col = w[str(fu)] if str(fu) in w.columns else pd.Series(np.nan, index=w.index)
            comp = base[base.notna() & col.notna()].to_numpy(float)
            non = base[base.notna() & col.isna()].to_numpy(float)
            row = {"group": g, "timepoint": str(fu), "n_completers": len(comp), "n_non_completers": len(non),
                   "mean_completers": comp.mean() if len(comp) else np.nan,
                   "mean_non_completers": non.mean() if len(non) else np.nan}
            if len(comp) > 1 and len(non) > 1:
                v1, v2 = comp.var(ddof=1) / len(comp), non.var(ddof=1) / len(non)
                se = np.sqrt(v1 + v2)
                dfw = (v1 + v2) ** 2 / (v1 ** 2 / (len(comp) - 1) + v2 ** 2 / (len(non) - 1))
                est = comp.mean() - non.mean()
                tcrit = dist.t_ppf(0.975, dfw)
                row.update(estimate=est, std_error=se, ci_lower=est - tcrit * se, ci_upper=est + tcrit * se,
                           p_value=float(2 * dist.t_sf(abs(est / se), dfw)))
            else:
                row.update(estimate=np.nan, std_error=np.nan, ci_lower=np.nan, ci_upper=np.nan, p_value=np.nan)
            att_rows.append(row)
    flow, att = pd.DataFrame(flow_rows), pd.DataFrame(att_rows)
    if group_col is None:
        flow, att = flow.drop(columns="group"), att.drop(columns="group")
    return AttritionResult(flow, att, value_label or value)
