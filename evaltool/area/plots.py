"""Figures for whole-area designs: observed vs counterfactual, placebo distribution, donor weights.

Each function takes a tidy frame (what the bundle stores) and returns a plotnine ``ggplot``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["donor_weights_plot", "gap_plot", "its_plot", "observed_vs_counterfactual_plot", "placebo_plot"]


def _x(series: pd.DataFrame) -> str:
    return "time" if "time" in series.columns else "period"


def its_plot(series: pd.DataFrame) -> Any:
    """Observed rate per 1,000 person-years (points), fitted (solid) and counterfactual (dashed, band)."""
    from plotnine import aes, geom_line, geom_point, geom_ribbon, ggplot, labs, scale_color_manual

    from evaltool.plotting import NHS_BLUE, NHS_MID_GREY, NHS_ORANGE, theme_evaltool

    d = series[series["series"] == "treated"].copy()
    x = _x(d)
    post = d[d["phase"] != "pre"]
    d["what"] = np.where(d["phase"] == "transition", "transition", "observed")
    return (ggplot(d, aes(x=x))
            + geom_ribbon(post, aes(ymin="counterfactual_lower_rate_per_1000py",
                                    ymax="counterfactual_upper_rate_per_1000py"), fill=NHS_ORANGE, alpha=0.2)
            + geom_line(aes(y="fitted_rate_per_1000py"), color=NHS_BLUE)
            + geom_line(post, aes(y="counterfactual_rate_per_1000py"), color=NHS_ORANGE, linetype="dashed")
            + geom_point(aes(y="observed_rate_per_1000py", color="what"), size=1.2)
            + scale_color_manual(values={"observed": NHS_BLUE, "transition": NHS_MID_GREY}, name="")
            + labs(x="", y="Rate per 1,000 person-years", color="",
                   caption="Solid: fitted; dashed: expected without the programme (shaded: 95% interval)")
            + theme_evaltool())


def observed_vs_counterfactual_plot(trajectory: pd.DataFrame, go_live: Any = None) -> Any:
    """Treated area's observed rate and each method's counterfactual over time.

    ``trajectory``: columns ``time``, ``method`` (label) and ``rate`` (per 1,000 person-years); the observed
    series has method ``"Observed"``.
    """
    from plotnine import aes, geom_line, geom_vline, ggplot, labs, scale_color_manual, scale_linetype_manual

    from evaltool.plotting import PALETTE, theme_evaltool

    d = trajectory.copy()
    methods = list(dict.fromkeys(d["method"]))
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}
    lt = {m: ("solid" if m == "Observed" else "dashed") for m in methods}
    p = (ggplot(d, aes("time", "rate", color="method", linetype="method")) + geom_line()
         + scale_color_manual(values=colours, name="") + scale_linetype_manual(values=lt, name="")
         + labs(x="", y="Rate per 1,000 person-years") + theme_evaltool())
    if go_live is not None:
        p = p + geom_vline(xintercept=pd.Timestamp(go_live) if isinstance(d["time"].iloc[0], pd.Timestamp)
                           else go_live, linetype="dotted")
    return p


def gap_plot(gaps: pd.DataFrame) -> Any:
    """Treated-minus-synthetic gaps over time: the treated area bold, placebo (donor) areas faint."""
    from plotnine import aes, geom_hline, geom_line, ggplot, labs

    from evaltool.plotting import NHS_BLUE, NHS_PALE_GREY, theme_evaltool

    d = gaps.copy()
    pl = d[~d["treated"]]
    tr = d[d["treated"]]
    return (ggplot() + geom_hline(yintercept=0, linetype="dashed")
            + geom_line(pl, aes("time", "gap", group="area_id"), color=NHS_PALE_GREY)
            + geom_line(tr, aes("time", "gap", group="area_id"), color=NHS_BLUE, size=1.1)
            + labs(x="", y="Gap (per 1,000 person-years)",
                   caption="Blue: the evaluated area; grey: each donor area treated as if it had gone live")
            + theme_evaltool())


def placebo_plot(placebo: pd.DataFrame, estimate: float, label: str = "estimate") -> Any:
    """Distribution of in-space placebo estimates with the treated area's estimate marked."""
    from plotnine import aes, geom_histogram, geom_vline, ggplot, labs

    from evaltool.plotting import NHS_BLUE, NHS_MID_GREY, theme_evaltool

    d = placebo.copy()
    bins = int(min(30, max(8, len(d) // 2)))
    return (ggplot(d, aes(label)) + geom_histogram(bins=bins, fill=NHS_MID_GREY)
            + geom_vline(xintercept=float(estimate), color=NHS_BLUE, size=1.2)
            + labs(x="Placebo effect (per 1,000 person-years)", y="Donor areas",
                   caption="Grey: each donor area treated as if it had gone live; blue line: the evaluated area")
            + theme_evaltool())


def donor_weights_plot(weights: pd.DataFrame, top: int = 15) -> Any:
    """Horizontal bars of donor weights (largest first) for each method."""
    from plotnine import aes, coord_flip, facet_wrap, geom_col, ggplot, labs

    from evaltool.plotting import NHS_BLUE, theme_evaltool

    d = weights[weights["weight"] > 1e-6].copy()
    d = d.sort_values("weight", ascending=False).groupby("method", group_keys=False).head(top)
    d["area_id"] = pd.Categorical(d["area_id"], categories=list(dict.fromkeys(d.sort_values("weight")["area_id"])))
    return (ggplot(d, aes("area_id", "weight")) + geom_col(fill=NHS_BLUE) + coord_flip()
            + facet_wrap("~method") + labs(x="", y="Weight") + theme_evaltool())
