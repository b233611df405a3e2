"""Figures the report draws itself from published tables (brand palette, alt text with the numbers).

* :func:`funnel_plot`: who was included -- main boxes down the middle, exclusions with reasons beside;
* :func:`forest_plot`: rate ratios with 95% CIs by outcome and group.

Each returns a plotnine ``ggplot`` and an alt text that says what the figure shows.
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from evaltool.report.sentences import outcome_label, subgroup_label

__all__ = ["forest_plot", "funnel_plot"]


def _family() -> str:
    from matplotlib import font_manager

    from evaltool.plotting import FONT_FAMILY

    return FONT_FAMILY if any(f.name == FONT_FAMILY for f in font_manager.fontManager.ttflist) else "DejaVu Sans"


def _wrap(s: object, width: int) -> str:
    return "\n".join(textwrap.wrap(str(s), width)) if s is not None and str(s) not in ("", "nan") else ""


def funnel_plot(steps: Sequence[tuple[str, str, Sequence[tuple[str, str]]]]):
    """A top-to-bottom flow of people, with exclusions (count and reason) beside each step.

    Parameters
    ----------
    steps : sequence of (label, count text, exclusions)
        ``exclusions`` is a list of (count text, reason) for people leaving after this step.

    Returns
    -------
    (ggplot, str)

    Examples
    --------
    >>> p, alt = funnel_plot([("Registered people", "182,600", []), ("Enrolled", "2,775", [("255", "no match")]),
    ...                       ("Matched", "2,520", [])])
    >>> alt
    'Flow of people in 3 steps: Registered people 182,600; Enrolled 2,775 (then 255 left: no match); Matched 2,520.'
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

    from evaltool.plotting import NHS_DARK_GREY, NHS_PALE_GREY, PALETTE

    n = len(steps)
    ys = np.arange(n)[::-1].astype(float)
    family = _family()
    main = pd.DataFrame({"x": 0.0, "y": ys, "label": [f"{_wrap(lab, 34)}\n{cnt}" for lab, cnt, _ in steps]})
    side_rows = []
    for (lab, cnt, exc), y in zip(steps, ys):
        if exc:
            text = "\n".join(f"{c}: {_wrap(r, 34)}" for c, r in exc)
            side_rows.append({"x": 1.15, "y": y - 0.5, "label": text})
    side = pd.DataFrame(side_rows, columns=["x", "y", "label"])
    arrows = pd.DataFrame([(0.0, ys[i] - 0.28, 0.0, ys[i + 1] + 0.28) for i in range(n - 1)],
                          columns=["x", "y", "xend", "yend"])
    branch = pd.DataFrame({"x": 0.0, "xend": 0.62, "y": side["y"], "yend": side["y"]})
    p = (ggplot()
         + (geom_segment(arrows, aes("x", "y", xend="xend", yend="yend"), color=NHS_DARK_GREY) if len(arrows)
            else annotate("blank", x=0, y=0))
         + (geom_segment(branch, aes("x", "y", xend="xend", yend="yend"), color=NHS_DARK_GREY, linetype="dashed")
            if len(branch) else annotate("blank", x=0, y=0))
         + geom_label(main, aes("x", "y", label="label"), fill="white", color=PALETTE[0], size=9.5,
                      label_padding=0.4, family=family)
         + (geom_label(side, aes("x", "y", label="label"), fill=NHS_PALE_GREY, color=NHS_DARK_GREY, size=8.5,
                       label_padding=0.35, family=family) if len(side) else annotate("blank", x=0, y=0))
         + scale_x_continuous(limits=(-0.95, 2.0))
         + scale_y_continuous(limits=(-0.45, n - 0.55))
         + theme_void() + theme(figure_size=(7, max(2.4, 0.78 * n + 0.3))))
    parts = []
    for lab, cnt, exc in steps:
        s = f"{lab} {cnt}"
        if exc:
            s += " (then " + "; ".join(f"{c} left: {r}" for c, r in exc) + ")"
        parts.append(s)
    return p, f"Flow of people in {n} steps: " + "; ".join(parts) + "."


def forest_plot(effects: pd.DataFrame, analysis: str = "matched_did"):
    """Rate ratios (log scale) with 95% CIs for every outcome and group of one analysis.

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
        scale_color_manual,
        scale_shape_manual,
        scale_x_log10,
        theme,
    )

    from evaltool.plotting import NHS_DARK_GREY, PALETTE, theme_evaltool

    e = effects[(effects["analysis"] == analysis) & (effects["scale"] == "rate_ratio")].copy()
    for c in ("estimate", "ci_lower", "ci_upper"):
        e[c] = pd.to_numeric(e[c], errors="coerce")
    e = e.dropna(subset=["estimate", "ci_lower", "ci_upper"])
    if not len(e):
        return None, ""
    e["group"] = [subgroup_label(s) or "everyone" for s in e["subgroup"]]
    e["label"] = [outcome_label(o) for o in e["outcome"]]
    e["label"] = pd.Categorical(e["label"], categories=list(dict.fromkeys(e["label"]))[::-1], ordered=True)
    groups = list(dict.fromkeys(e["group"]))
    colours = dict(zip(groups, PALETTE))
    shapes = dict(zip(groups, ["o", "s", "^", "D", "v"]))
    from plotnine import position_dodge

    dodge = position_dodge(width=0.6)
    p = (ggplot(e, aes(x="estimate", y="label", color="group", shape="group"))
         + geom_vline(xintercept=1, linetype="dashed", color=NHS_DARK_GREY)
         + geom_errorbarh(aes(xmin="ci_lower", xmax="ci_upper"), height=0.25, position=dodge)
         + geom_point(size=2.6, position=dodge)
         + scale_color_manual(values=colours, breaks=groups)
         + scale_shape_manual(values=shapes, breaks=groups)
         + scale_x_log10()
         + labs(x="Rate ratio (log scale); below 1 = fewer events than expected", y="", color="", shape="")
         + theme_evaltool() + theme(figure_size=(7, max(2.6, 0.55 * e["label"].nunique() + 1.4))))
    parts = [f"{outcome_label(o).lower() if not outcome_label(o)[:2].isupper() else outcome_label(o)}, {g}: "
             f"{r.estimate:.2f} ({r.ci_lower:.2f} to {r.ci_upper:.2f})"
             for o, g, r in zip(e["outcome"], e["group"], e.itertuples())]
    return p, (f"Forest plot of {len(e)} rate ratios with 95% confidence intervals (below 1 means fewer events than "
               "expected): " + "; ".join(parts) + ".")
