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


def _chain_length(raw: pd.DataFrame) -> int:
    """How many leading rows form a funnel (each row = previous remaining - excluded)."""
    rem = pd.to_numeric(raw["n_remaining"], errors="coerce").to_numpy(float)
    exc = pd.to_numeric(raw.get("n_excluded", pd.Series(0, index=raw.index)), errors="coerce").fillna(0).to_numpy(float)
    k = 1
    while k < len(rem) and np.isfinite(rem[k]) and abs(rem[k - 1] - exc[k] - rem[k]) < 0.5:
        k += 1
    return k


def cohort_flow_plot(flow: pd.DataFrame, raw: pd.DataFrame | None = None):
    """A flow diagram: main boxes (people remaining), side boxes (excluded, with reasons).

    Leading rows where each count is the previous count less the exclusions form a top-to-bottom
    funnel; any rows after the funnel breaks (e.g. the analysed enrolled and comparison groups, which
    split the last box rather than follow from each other) are drawn side by side beneath it.

    Parameters
    ----------
    flow : DataFrame
        ``step, description, n_remaining, n_excluded, reason`` with counts already passed through
        disclosure control (numbers or ``"*"``): these are the numbers shown.
    raw : DataFrame, optional
        The same table before disclosure control, used only to work out the funnel's shape.

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
    from plotnine import (aes, annotate, geom_label, geom_segment, ggplot, scale_x_continuous,
                          scale_y_continuous, theme, theme_void)

    from evaltool.plotting import NHS_BLUE, NHS_DARK_GREY, NHS_PALE_GREY

    def fmt(v):
        if isinstance(v, str):
            return v
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        return f"{int(v):,}"

    f = flow.reset_index(drop=True)
    n = len(f)
    k = _chain_length((raw if raw is not None else flow).reset_index(drop=True))
    branches = n - k
    levels = k + (1 if branches else 0)
    y_chain = np.arange(levels)[::-1].astype(float)[:k]
    family = _family()
    # With a split at the bottom, centre the funnel over the branches.
    cx = 0.45 if branches > 1 else 0.0
    xs_branch = np.linspace(-0.45, 1.35, branches) if branches > 1 else np.array([0.0] * branches)
    main = pd.DataFrame({
        "x": np.r_[np.full(k, cx), xs_branch],
        "y": np.r_[y_chain, np.zeros(branches)],
        "label": [f"{_wrap(d, 30 if branches > 2 else 34)}\nn = {fmt(r)}" for d, r in zip(f["description"], f["n_remaining"])],
    })
    chain = f.iloc[:k]
    excl = chain["n_excluded"].map(lambda v: isinstance(v, str) or (pd.notna(v) and float(v) > 0)).to_numpy()
    side = pd.DataFrame({"x": cx + (1.1 if branches > 1 else 1.25), "y": y_chain[excl] + 0.5,
                         "label": [f"Excluded: {fmt(e)}\n{_wrap(r, 30)}".strip()
                                   for e, r in zip(chain.loc[excl, "n_excluded"], chain.loc[excl, "reason"])]})
    segs = [(cx, y_chain[i] - 0.25, cx, y_chain[i + 1] + 0.25) for i in range(k - 1)]
    segs += [(cx, y_chain[-1] - 0.25, float(x), 0.3) for x in xs_branch]
    arrows = pd.DataFrame(segs, columns=["x", "y", "xend", "yend"]) if segs else pd.DataFrame(
        {"x": [], "y": [], "xend": [], "yend": []})
    branch = pd.DataFrame({"x": cx, "xend": cx + 0.7, "y": side["y"], "yend": side["y"]})
    p = (ggplot()
         + geom_segment(arrows, aes("x", "y", xend="xend", yend="yend"), color=NHS_DARK_GREY)
         + (geom_segment(branch, aes("x", "y", xend="xend", yend="yend"), color=NHS_DARK_GREY, linetype="dashed")
            if len(branch) else annotate("blank", x=0, y=0))
         + geom_label(main, aes("x", "y", label="label"), fill="white", color=NHS_BLUE, size=10,
                      label_padding=0.4, family=family)
         + (geom_label(side, aes("x", "y", label="label"), fill=NHS_PALE_GREY, color=NHS_DARK_GREY, size=9,
                       label_padding=0.35, family=family) if len(side) else annotate("blank", x=0, y=0))
         + scale_x_continuous(limits=(-1.0 if branches > 1 else -0.75, 1.95))
         + scale_y_continuous(limits=(-0.45, levels - 0.55))
         + theme_void() + theme(figure_size=(7, max(2.2, 0.8 * levels + 0.4))))
    steps = "; ".join(f"{d} ({fmt(r)})" for d, r in zip(chain["description"], chain["n_remaining"]))
    alt = f"Flow diagram in {k} step{'s' if k != 1 else ''}: {steps}."
    ex = [f"{fmt(e)} {r}" for e, r in zip(chain.loc[excl, "n_excluded"], chain.loc[excl, "reason"])
          if str(r) not in ("", "nan")]
    if ex:
        alt += " Excluded: " + "; ".join(ex) + "."
    if branches:
        alt += " The last box divides into " + " and ".join(
            f"{d} ({fmt(r)})" for d, r in zip(f["description"].iloc[k:], f["n_remaining"].iloc[k:])) + "."
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
