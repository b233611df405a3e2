"""The result of :func:`evaltool.effects.matched.matched_did`: overall and subgroup effects, the naive
before/after change, the event study and the pre-trend assessment, with statsmodels-style accessors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool._regression import COEF_COLUMNS, RegressionResultsMixin
from evaltool._result import ResultMixin, Summary
from evaltool.errors import EstimationError

__all__ = ["MatchedDidResult"]


@dataclass(frozen=True)
class MatchedDidResult(ResultMixin, RegressionResultsMixin):
    """Matched-cohort DiD for one outcome: overall and subgroup effects, naive change, event study.

    ``params``/``bse``/``pvalues``/``conf_int()`` hold the DiD coefficients on the model's scale (log rate
    ratios for Poisson and negative binomial, differences per 1,000 person-years for linear), indexed by
    subgroup (``"all"`` first); ``nobs`` is the number of people.

    Attributes
    ----------
    outcome, model, cluster:
        What was fitted.
    estimates:
        Tidy effects: ``analysis, outcome, subgroup_var, subgroup, scale, estimate, std_error,
        ci_lower, ci_upper, p_value, method, n_units, n_clusters``; ``analysis`` is
        ``matched_did`` or ``naive_before_after``; ``scale`` is ``rate_ratio`` or
        ``difference_per_1000py``.
    subgroup_tests:
        Wald tests that effects differ across levels of each subgroup variable.
    event_study:
        Per relative period ``log_rate_ratio`` estimates (reference period -1) or empty.
    pretrend_test:
        Joint Wald test of the pre-period event-study coefficients and the size of the divergence
        (:func:`evaltool.effects.pretrend.pretrend_assessment`: trend, implied bias, equivalence), or empty.
    rates:
        Events, person-years and rates per 1,000 person-years by arm x period (aggregates).
    info:
        Counts (people, cells, events) and options.
    failures:
        Secondary analyses that could not be estimated, as ``(analysis, subgroup, reason)``:
        ``analysis`` is ``matched_did`` (a subgroup), ``naive_before_after`` or ``event_study``;
        ``subgroup`` is ``"all"``, a subgroup variable or ``"variable=level"``. A failure there never
        removes the pooled estimate (only a failed pooled DiD raises).
    """

    outcome: str
    model: str
    cluster: str | None
    estimates: pd.DataFrame
    subgroup_tests: pd.DataFrame
    event_study: pd.DataFrame
    pretrend_test: dict[str, Any]
    rates: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    failures: tuple[tuple[str, str, str], ...] = ()

    # -- views -------------------------------------------------------------
    def _coef_frame(self) -> pd.DataFrame:
        e = self.estimates[self.estimates["analysis"] == "matched_did"]
        if self.model == "linear":
            f = e[e["scale"] == "difference_per_1000py"][["subgroup", "subgroup_var", *COEF_COLUMNS]].copy()
        else:  # rate-ratio rows carry the SE of the log rate ratio: back to the coefficient scale
            f = e[e["scale"] == "rate_ratio"][["subgroup", "subgroup_var", *COEF_COLUMNS]].copy()
            for c in ("estimate", "ci_lower", "ci_upper"):
                f[c] = np.log(f[c].astype(float))
        several = f.loc[f["subgroup"] != "all", "subgroup_var"].nunique() > 1
        f.index = pd.Index([s if s == "all" or not several else f"{v}={s}"
                            for s, v in zip(f["subgroup"], f["subgroup_var"])], name="subgroup")
        return f[COEF_COLUMNS]

    def _nobs(self) -> int:
        return int(self.info.get("n_people", 0))

    def to_frame(self) -> pd.DataFrame:
        """All estimates, one row each (DiD and naive; rate ratios and differences)."""
        return self.estimates.copy()

    def effect(self, subgroup: str = "all", scale: str = "rate_ratio", analysis: str = "matched_did") -> pd.Series:
        """One row of :meth:`to_frame` (e.g. ``effect("under 65")``)."""
        e = self.estimates
        row = e[(e["subgroup"] == subgroup) & (e["scale"] == scale) & (e["analysis"] == analysis)]
        if row.empty:
            raise KeyError(f"no estimate for subgroup={subgroup!r}, scale={scale!r}, analysis={analysis!r}")
        return row.iloc[0]

    def summary(self) -> Summary:
        e = self.estimates
        rr = e[e["scale"] == "rate_ratio"][["analysis", "subgroup", "estimate", "ci_lower", "ci_upper", "p_value"]]
        lines = [
            ("Outcome", self.outcome),
            ("Model", f"{self.model} DiD, unit and period fixed effects" if self.model != "negbin" else "negative binomial DiD"),
            ("Clustered by", str(self.cluster)),
            ("People", str(self.info.get("n_people"))),
            ("Follow-up", f"{self.info.get('pre_months')} months before, {self.info.get('post_months')} after index"),
        ]
        tables: list[tuple[str, pd.DataFrame]] = [("Rate ratios", rr.round(4).reset_index(drop=True))]
        if not self.subgroup_tests.empty:
            tables.append(("Do effects differ across subgroups?", self.subgroup_tests.round(4)))
        if self.pretrend_test:
            pt = self.pretrend_test
            msg = f"chi2 = {pt['statistic']:.2f}, df = {int(pt['df'])}, p = {pt['p_value']:.3f}"
            lines.append(("Pre-trend test", msg))
        for analysis, sub, reason in self.failures:
            lines.append(("Not estimated", f"{analysis} ({sub}): {reason}"))
        return Summary(title=f"Matched difference-in-differences: {self.outcome}", lines=tuple(lines), tables=tuple(tables))

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "model": self.model, "cluster": self.cluster,
            "estimates": self.estimates.to_dict(orient="records"),
            "subgroup_tests": self.subgroup_tests.to_dict(orient="records"),
            "event_study": self.event_study.to_dict(orient="records"),
            "pretrend_test": dict(self.pretrend_test),
            "rates": self.rates.to_dict(orient="records"),
            "info": {k: v for k, v in self.info.items()},
            "failures": [list(f) for f in self.failures],
        }

    def plot(self):
        """Forest plot of rate ratios by subgroup, the naive before/after beside the DiD."""
        from plotnine import (
            aes,
            geom_errorbarh,
            geom_point,
            geom_vline,
            ggplot,
            labs,
            scale_color_manual,
            scale_x_log10,
            scale_y_continuous,
        )

        from evaltool.plotting import PALETTE, theme_evaltool

        d = self.estimates[self.estimates["scale"] == "rate_ratio"].copy()
        d["label"] = np.where(d["subgroup"] == "all", "All",
                              d["subgroup_var"].astype(str) + ": " + d["subgroup"].astype(str))
        labels = list(dict.fromkeys(d["label"]))
        # Rows top to bottom in table order; the naive estimate sits just below its DiD.
        d["y"] = [len(labels) - labels.index(lab) + (0.15 if a == "matched_did" else -0.15)
                  for lab, a in zip(d["label"], d["analysis"])]
        d["analysis"] = d["analysis"].map({"matched_did": "Matched DiD",
                                           "naive_before_after": "Naive before/after (treated)"})
        return (
            ggplot(d, aes(x="estimate", y="y", color="analysis"))
            + geom_vline(xintercept=1, linetype="dashed", color="#768692")
            + geom_errorbarh(aes(xmin="ci_lower", xmax="ci_upper"), height=0.15)
            + geom_point(size=2.5)
            + scale_x_log10()
            + scale_y_continuous(breaks=[len(labels) - i for i in range(len(labels))], labels=labels)
            + scale_color_manual(values=[PALETTE[0], PALETTE[1]])
            + labs(x="Rate ratio (95% CI, log scale)", y="", color="",
                   title=f"{self.outcome.replace('_', ' ').capitalize()}: effect by subgroup")
            + theme_evaltool()
        )

    def plot_event_study(self):
        """Rate ratio by month relative to index (reference month -1) with 95% CIs."""
        from plotnine import (
            aes,
            geom_errorbar,
            geom_hline,
            geom_point,
            geom_vline,
            ggplot,
            labs,
            scale_y_log10,
        )

        from evaltool.plotting import PALETTE, theme_evaltool

        if self.event_study.empty:
            raise EstimationError("no event study was fitted: call matched_did(..., event_study=True)")
        d = self.event_study.copy()
        unit = str(d["unit"].iloc[0]) if "unit" in d.columns else "month"
        return (
            ggplot(d, aes(x="period", y="rate_ratio"))
            + geom_hline(yintercept=1, linetype="dashed", color="#768692")
            + geom_vline(xintercept=-0.5, color="#768692")
            + geom_errorbar(aes(ymin="rr_ci_lower", ymax="rr_ci_upper"), width=0.3, color=PALETTE[0])
            + geom_point(color=PALETTE[0], size=2)
            + scale_y_log10()
            + labs(x=f"{unit.capitalize()}s relative to the index date",
                   y=f"Rate ratio vs {unit} -1 (95% CI)",
                   title=f"{self.outcome.replace('_', ' ').capitalize()}: event study")
            + theme_evaltool()
        )


# ---------------------------------------------------------------------------------------------
