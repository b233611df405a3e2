"""Figures the report draws itself from bundle tables (when no stage supplied one).

* :func:`cohort_flow_plot`: the cohort flow diagram from ``cohort_flow`` (counts after disclosure);
* :func:`forest_plot`: rate ratios with 95% CIs by outcome and subgroup from ``effects``.

Both return a plotnine ``ggplot`` and an alt text describing what the figure shows.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from evaltool.report.sentences import outcome_label, subgroup_label

__all__ = ["cohort_flow_plot", "forest_plot"]


def _family() -> str:
    # Labels drawn by geoms do not inherit the theme's font; use the same installed family.
    from matplotlib import font_manager

    from evaltool.plotting import FONT_FAMILY

    return FONT_FAMILY if any(f.name == FONT_FAMILY for f in font_manager.fontManager.ttflist) else "DejaVu Sans"


def _wrap(s: object, width: int) -> str:
    return "\n".join(textwrap.wrap(str(s), width)) if s is not None and str(s) not in ("", "nan") else ""


def cohort_flow_plot(flow: pd.DataFrame):
    """A top-to-bottom flow diagram: main boxes (people remaining), side boxes (excluded, with reasons).

    Parameters
    ----------
    flow : DataFrame
        ``step, description, n_remaining, n_excluded, reason`` with counts already passed through
        disclosure control (numbers or ``"*"``).

    Returns
    -------
    (ggplot, str)
        The figure and its alt text.

    Examples
    --------
    >>> f = pd.DataFrame({"step": [1, 2], "description": ["All", "Adults"], "n_remaining": [100, 80],
    ...                   "n_excluded": [0, 20], "reason": ["", "under 18"]})
    >>> p, alt = cohort_flow_plot(f)
    >>> alt[:40]
    'Flow diagram in 2 steps: All (100); Adul'
    """
    from plotnine import (
        aes,
        annotate,
        geom_label,
        geom_segment,
        ggplot,
        scale_x_continuous,
        scale_y_continuous,
        theme,
        theme_void,
    )

    from evaltool.plotting import NHS_BLUE, NHS_DARK_GREY, NHS_PALE_GREY

    def fmt(v):
        if isinstance(v, str):
            return v
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        return f"{int(v):,}"

    f = flow.reset_index(drop=True)
    n = len(f)
    y = np.arange(n)[::-1].astype(float) * 1.0
    main = pd.DataFrame({"x": 0.0, "y": y,
                         "label": [f"{_wrap(d, 34)}\nn = {fmt(r)}" for d, r in zip(f["description"], f["n_remaining"])]})
    excl = f["n_excluded"].map(lambda v: isinstance(v, str) or (pd.notna(v) and float(v) > 0))
    side = pd.DataFrame({"x": 1.25, "y": y[excl.to_numpy()] + 0.5,
                         "label": [f"Excluded: {fmt(e)}\n{_wrap(r, 30)}".strip()
                                   for e, r in zip(f.loc[excl, "n_excluded"], f.loc[excl, "reason"])]})
    arrows = pd.DataFrame({"x": 0.0, "xend": 0.0, "y": y[:-1] - 0.25, "yend": y[1:] + 0.25})
    branch = pd.DataFrame({"x": 0.0, "xend": 0.85, "y": side["y"], "yend": side["y"]})
    family = _family()
    p = (ggplot()
         + geom_segment(arrows, aes("x", "y", xend="xend", yend="yend"), color=NHS_DARK_GREY)
         + geom_segment(branch, aes("x", "y", xend="xend", yend="yend"), color=NHS_DARK_GREY, linetype="dashed")
         + geom_label(main, aes("x", "y", label="label"), fill="white", color=NHS_BLUE, size=10,
                      label_padding=0.4, family=family)
         + (geom_label(side, aes("x", "y", label="label"), fill=NHS_PALE_GREY, color=NHS_DARK_GREY, size=9,
                       label_padding=0.35, family=family) if len(side) else annotate("blank", x=0, y=0))
         + scale_x_continuous(limits=(-0.75, 1.95))
         + scale_y_continuous(limits=(-0.45, n - 0.55))
         + theme_void() + theme(figure_size=(7, max(2.5, 0.8 * n + 0.4))))
    steps = "; ".join(f"{d} ({fmt(r)})" for d, r in zip(f["description"], f["n_remaining"]))
    alt = f"Flow diagram in {n} steps: {steps}."
    ex = [f"{fmt(e)} {r}" for e, r in zip(f.loc[excl, "n_excluded"], f.loc[excl, "reason"]) if str(r) not in ("", "nan")]
    if ex:
        alt += " Excluded: " + "; ".join(ex) + "."
    return p, alt


def forest_plot(effects: pd.DataFrame, analysis: str = "matched_did"):
    """Rate ratios (log scale) with 95% CIs for every outcome and subgroup of one analysis.

    Returns
    -------
    (ggplot, str) or (None, "") when there are no rate ratios.
    """
    from plotnine import (
        aes,
        geom_errorbarh,
        geom_point,
        geom_vline,
        ggplot,
        labs,
        scale_x_log10,
        theme,
    )

    from evaltool.plotting import NHS_BLUE, NHS_DARK_GREY, theme_evaltool

    e = effects[(effects["analysis"] == analysis) & (effects["scale"] == "rate_ratio")].copy()
    e = e.dropna(subset=["estimate", "ci_lower", "ci_upper"])
    if not len(e):
        return None, ""
    e["label"] = [f"{outcome_label(o)}: {subgroup_label(s) or 'everyone'}" for o, s in zip(e["outcome"], e["subgroup"])]
    e["label"] = pd.Categorical(e["label"], categories=list(dict.fromkeys(e["label"]))[::-1], ordered=True)
    p = (ggplot(e, aes(x="estimate", y="label"))
         + geom_vline(xintercept=1, linetype="dashed", color=NHS_DARK_GREY)
         + geom_errorbarh(aes(xmin="ci_lower", xmax="ci_upper"), height=0.2, color=NHS_BLUE)
         + geom_point(color=NHS_BLUE, size=2.5)
         + scale_x_log10()
         + labs(x="Rate ratio (log scale; below 1 = fewer events than expected)", y="")
         + theme_evaltool() + theme(figure_size=(7, max(2.5, 0.45 * len(e) + 1.2))))
    parts = [f"{lab} {r.estimate:.2f} ({r.ci_lower:.2f} to {r.ci_upper:.2f})" for lab, r in zip(e["label"], e.itertuples())]
    return p, f"Forest plot of {len(e)} rate ratios with 95% confidence intervals: " + "; ".join(parts) + "."
