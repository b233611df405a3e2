"""Sensitivity analyses for staggered roll-out effects.

* :func:`placebo_go_live`: pretend each practice went live ``k`` periods early, keep only its
  genuinely untreated (pre-go-live) observations, and re-estimate with the imputation estimator:
  a placebo effect far from zero signals anticipation or diverging trends.
* :func:`leave_one_out`: re-estimate dropping one cluster (practice) at a time.
* :func:`vary_pre_periods`: re-estimate using only the last ``L`` periods before each go-live.
* :func:`relative_magnitude_bounds`: in the spirit of HonestDiD's relative-magnitude restriction
  (Rambachan & Roth 2023): post-period violations of parallel trends may grow by at most ``Mbar``
  times the largest pre-period period-to-period change, per period since go-live. We report the
  resulting bias bound for the average post-period effect and a conservative interval
  (estimate +- bound +- z * SE; the pre-period maximum is treated as known, so this is a
  transparent approximation, not HonestDiD's optimal FLCI), and the breakdown ``Mbar`` at which the
  interval first includes zero.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from evaltool import dist

from evaltool._result import ResultMixin, Summary
from evaltool.effects.imputation import imputation
from evaltool.errors import EstimationError


@dataclass(frozen=True, repr=False)
class SensitivityResult(ResultMixin):
    """A sensitivity analysis: one row per variant (immutable)."""

    kind: str
    table: pd.DataFrame
    reference: float
    note: str

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        return Summary(title=f"Sensitivity: {self.kind.replace('_', ' ')}",
                       lines=(("main estimate", f"{self.reference:.4f}"), ("note", self.note)),
                       tables=((self.kind, self.table.round(4)),))

    def to_dict(self) -> dict[str, Any]:
        recs = [{k: (None if isinstance(v, float) and not np.isfinite(v) else
                     (v.item() if isinstance(v, np.generic) else v)) for k, v in r.items()}
                for r in self.table.to_dict(orient="records")]
        return {"kind": self.kind, "reference": self.reference, "note": self.note, "rows": recs}

    def plot(self) -> Any:
        from plotnine import aes, coord_flip, geom_errorbar, geom_hline, geom_point, ggplot, labs

        from evaltool.plotting import theme_evaltool

        d = self.table.copy()
        d["variant"] = d.iloc[:, 0].astype(str)
        return (ggplot(d, aes("variant", "estimate")) + geom_hline(yintercept=self.reference, linetype="dashed")
                + geom_errorbar(aes(ymin="ci_lower", ymax="ci_upper"), width=0.2) + geom_point() + coord_flip()
                + labs(x="", y="Estimate") + theme_evaltool())


def placebo_go_live(
    data: pd.DataFrame, outcome: str, unit: str, time: str, group: str, *,
    shifts: Sequence[int] = (1, 2), reference: float = float("nan"), **kwargs: Any,
) -> SensitivityResult:
    """Placebo go-live dates ``k`` periods early, estimated on pre-go-live data only.

    ``kwargs`` go to :func:`evaltool.effects.imputation.imputation` (e.g. ``family="poisson",
    exposure="py"``, ``cluster=...``). Cohorts whose placebo date leaves no earlier period are dropped.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"u": np.repeat(np.arange(30), 8), "t": np.tile(np.arange(1, 9), 30)})
    >>> d["g"] = np.where(d.u < 20, 5 + d.u % 3, 0)
    >>> d["y"] = d.u * 0.1 + d.t * 0.2 + 1.0 * ((d.g > 0) & (d.t >= d.g)) + rng.normal(0, 0.1, len(d))
    >>> bool(abs(placebo_go_live(d, "y", "u", "t", "g", shifts=[1]).to_frame()["estimate"][0]) < 0.1)
    True
    """
    g = pd.to_numeric(data[group], errors="coerce").fillna(0)
    pre_only = data[(g == 0) | (data[time] < g)].copy()
    rows = []
    for k in shifts:
        d = pre_only.copy()
        gg = pd.to_numeric(d[group], errors="coerce").fillna(0)
        fake = np.where(gg > 0, gg - k, 0)
        d["_placebo_g"] = fake
        first = d.groupby(unit)[time].transform("min")
        d = d[~((d["_placebo_g"] > 0) & (d["_placebo_g"] <= first))]
        try:
            r = imputation(d, outcome, unit, time, "_placebo_g", horizons=[], **kwargs).overall
        except EstimationError as exc:
            rows.append({"shift": k, "estimate": np.nan, "std_error": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
                             "p_value": np.nan, "note": str(exc)[:120]})
            continue
        rows.append({"shift": k, "estimate": r["estimate"], "std_error": r["std_error"], "ci_lower": r["ci_lower"],
                         "ci_upper": r["ci_upper"], "p_value": r["p_value"], "note": ""})
    null = 1.0 if kwargs.get("family") == "poisson" else 0.0
    return SensitivityResult(kind="placebo_go_live", table=pd.DataFrame(rows), reference=null,
                             note="go-live moved k periods earlier, post-go-live data removed; expect no effect")


def leave_one_out(
    data: pd.DataFrame, cluster: str, fit: Callable[[pd.DataFrame], dict[str, float]], *, reference: float,
) -> SensitivityResult:
    """Re-estimate dropping one ``cluster`` value at a time; ``fit`` returns a dict with estimate etc.

    Examples
    --------
    >>> d = pd.DataFrame({"c": [1, 1, 2, 2, 3, 3], "y": [1.0, 2, 3, 4, 5, 6]})
    >>> f = lambda x: {"estimate": x.y.mean(), "std_error": 0.0, "ci_lower": 0.0, "ci_upper": 0.0}
    >>> leave_one_out(d, "c", f, reference=3.5).to_frame()["estimate"].tolist()
    [4.5, 3.5, 2.5]
    """
    rows = []
    for c in sorted(data[cluster].unique()):
        d = data[data[cluster] != c]
        try:
            r = fit(d)
            rows.append({"dropped": c, "estimate": r["estimate"], "std_error": r.get("std_error", np.nan),
                             "ci_lower": r.get("ci_lower", np.nan), "ci_upper": r.get("ci_upper", np.nan), "note": ""})
        except EstimationError as exc:
            rows.append({"dropped": c, "estimate": np.nan, "std_error": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
                             "note": str(exc)[:120]})
    return SensitivityResult(kind="leave_one_out", table=pd.DataFrame(rows), reference=reference,
                             note=f"each `{cluster}` dropped in turn")


def vary_pre_periods(
    data: pd.DataFrame, outcome: str, unit: str, time: str, group: str, *,
    lengths: Sequence[int] = (2, 4, 8), reference: float = float("nan"), **kwargs: Any,
) -> SensitivityResult:
    """Re-estimate (imputation) keeping only the last ``L`` periods before the earliest go-live and after.

    The window starts ``L`` periods before the first go-live (for every practice), so the untreated
    model is fitted on progressively shorter pre-periods.
    """
    g = pd.to_numeric(data[group], errors="coerce").fillna(0)
    first_g = g[g > 0].min()
    rows = []
    for L in lengths:
        d = data[data[time] >= first_g - L]
        try:
            r = imputation(d, outcome, unit, time, group, horizons=[], **kwargs).overall
            rows.append({"pre_periods": L, "estimate": r["estimate"], "std_error": r["std_error"],
                             "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"], "p_value": r["p_value"], "note": ""})
        except EstimationError as exc:
            rows.append({"pre_periods": L, "estimate": np.nan, "std_error": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
                             "p_value": np.nan, "note": str(exc)[:120]})
    return SensitivityResult(kind="vary_pre_periods", table=pd.DataFrame(rows), reference=reference,
                             note="window starts L periods before the first go-live")


def relative_magnitude_bounds(
    event_study: pd.DataFrame, *, mbar: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0), alpha: float = 0.05,
) -> SensitivityResult:
    """Relative-magnitude bounds on the average post-period effect (HonestDiD-style, conservative).

    ``event_study`` has columns ``label`` (event time), ``estimate``, ``std_error`` with pre-periods
    (negative event times, estimated against the previous period as R did's varying base) and post
    periods (>= 0), e.g. ``att_gt(...).aggregate("dynamic").table``.

    Examples
    --------
    >>> es = pd.DataFrame({"label": [-2, -1, 0, 1], "estimate": [0.01, -0.01, -0.2, -0.3],
    ...                    "std_error": [0.02, 0.02, 0.05, 0.05]})
    >>> relative_magnitude_bounds(es, mbar=[0, 1]).to_frame()["bias_bound"].round(3).tolist()
    [0.0, 0.015]
    """
    es = event_study.copy()
    es["e"] = pd.to_numeric(es["label"], errors="coerce")
    pre = es[es["e"] < 0].sort_values("e")
    post = es[es["e"] >= 0].sort_values("e")
    if len(post) == 0:
        raise EstimationError("`event_study` has no post-period (event time >= 0) rows")
    if len(pre) == 0:
        raise EstimationError("`event_study` has no pre-period rows: relative-magnitude bounds need pre-trends")
    # with a varying base period each pre estimate is already a period-to-period change
    m_pre = float(np.max(np.abs(pre["estimate"])))
    theta = float(post["estimate"].mean())
    # SE of a mean is at most the mean of the SEs whatever the correlation (Minkowski): conservative
    se = float(post["std_error"].mean())
    steps = float(np.mean(post["e"].to_numpy() + 1))
    z = float(dist.norm_ppf(1 - alpha / 2))
    rows = []
    for M in mbar:
        b = M * m_pre * steps  # violation may grow by M * m_pre per period since the base period
        rows.append({"mbar": M, "estimate": theta, "bias_bound": b, "ci_lower": theta - b - z * se,
                         "ci_upper": theta + b + z * se})
    tab = pd.DataFrame(rows)
    tab["includes_zero"] = (tab["ci_lower"] <= 0) & (tab["ci_upper"] >= 0)
    # breakdown: smallest Mbar with zero inside the interval
    if m_pre * steps > 0:
        bd = max(0.0, (abs(theta) - z * se) / (m_pre * steps))
    else:
        bd = float("inf")
    return SensitivityResult(kind="relative_magnitude_bounds", table=tab, reference=theta,
                             note=f"max pre-period change {m_pre:.4f}; breakdown Mbar = {bd:.2f}")
