"""plotnine figures for PROM/PREM results (aggregates only)."""
from __future__ import annotations

import pandas as pd
from plotnine import (
    aes,
    coord_flip,
    facet_grid,
    facet_wrap,
    geom_bar,
    geom_col,
    geom_errorbar,
    geom_histogram,
    geom_hline,
    geom_point,
    geom_text,
    geom_vline,
    ggplot,
    labs,
    position_dodge,
    scale_fill_manual,
    scale_y_continuous,
)

from evaltool.plotting import NHS_BLUE, PALETTE, theme_evaltool

# Light (level 1, no problems) to dark (level 5, extreme) so stacked bars read as severity.
_LEVEL_COLOURS = ("#41B6E6", "#0072CE", "#005EB8", "#003087", "#330072")


def level_bars(levels: pd.DataFrame, time_order: tuple[str, ...] | None = None):
    """Stacked bars: % at each level, per dimension, by time point (and group if present)."""
    df = levels.copy()
    if "timepoint" in df.columns:
        seen = list(dict.fromkeys(df["timepoint"].astype(str)))
        order = [t for t in (time_order or ()) if t in seen] + [t for t in seen if t not in (time_order or ())]
        df["timepoint"] = pd.Categorical(df["timepoint"].astype(str), categories=order)
    df["level"] = pd.Categorical(df["level"].astype(str), categories=[str(i) for i in range(5, 0, -1)])
    x = "timepoint" if "timepoint" in df.columns else "dimension_label"
    p = (
        ggplot(df, aes(x=x, y="pct", fill="level"))
        + geom_col(position="stack")
        + scale_fill_manual(values=dict(zip([str(i) for i in range(1, 6)], _LEVEL_COLOURS)))
        + labs(x="", y="% of responses", fill="Level (1 = no problems)")
        + theme_evaltool()
    )
    if "group" in df.columns and x == "timepoint":
        p += facet_grid("group ~ dimension_label")
    elif x == "timepoint":
        p += facet_wrap("~dimension_label", nrow=1)
    return p


def change_histogram(changes: pd.DataFrame, value: str = "change", facet: str | None = "comparison"):
    """Distribution of individual changes (aggregated into bins by plotnine; no labels of people)."""
    p = (
        ggplot(changes, aes(x=value))
        + geom_histogram(bins=30, fill=NHS_BLUE, color="white")
        + geom_hline(yintercept=0, color="#425563")
        + labs(x="Change (follow-up minus baseline)", y="Number of people")
        + theme_evaltool()
    )
    if facet and facet in changes.columns:
        p += facet_wrap(f"~{facet}")
    return p


def binned_change_bars(bins: pd.DataFrame):
    """Bar chart of a pre-binned change distribution (columns bin_mid, n[, comparison])."""
    width = float(bins["bin_width"].iloc[0]) if "bin_width" in bins.columns and len(bins) else None
    p = (
        ggplot(bins, aes(x="bin_mid", y="n"))
        + geom_col(fill=NHS_BLUE, width=None if width is None else 0.9 * width)
        + geom_vline(xintercept=0, color="#425563", linetype="dashed")
        + labs(x="Change in index (follow-up minus baseline)", y="Number of people")
        + theme_evaltool()
    )
    if "comparison" in bins.columns:
        p += facet_wrap("~comparison")
    return p


def estimate_points(frame: pd.DataFrame, x: str, y: str = "estimate", colour: str | None = None):
    """Point estimates with 95% CI error bars."""
    mapping = aes(x=x, y=y, ymin="ci_lower", ymax="ci_upper")
    if colour:
        mapping = aes(x=x, y=y, ymin="ci_lower", ymax="ci_upper", color=colour)
    dodge = position_dodge(width=0.4)
    from plotnine import scale_color_manual

    p = (
        ggplot(frame, mapping)
        + geom_hline(yintercept=0, color="#768692", linetype="dashed")
        + geom_point(position=dodge, size=2.5)
        + geom_errorbar(position=dodge, width=0.15)
        + labs(x="", y="Estimate (95% CI)")
        + theme_evaltool()
    )
    if colour:
        p += scale_color_manual(values=list(PALETTE))
    return p


def top_box_bars(frame: pd.DataFrame, x: str = "item", pct: str = "pct", n: str = "n_base", fill: str | None = None):
    """Horizontal bars of percentages with their base n printed at the bar end."""
    df = frame.copy()
    # Figure labels are published like tables: bases of 1-7 hide the bar's label, others are rounded
    # to the nearest 5 (HES convention), so no small number is baked into an image.
    base = pd.to_numeric(df[n], errors="coerce")
    shown = base.map(lambda v: "*" if 0 < v < 8 else f"{int(5 * round(v / 5)):,}" if pd.notna(v) else "?")
    pct_txt = df[pct].round(0).astype("Int64").astype(str) + "%"
    df["_label"] = pct_txt.where(~((base > 0) & (base < 8)), "*") + " (n=" + shown + ")"
    # Keep the data's order (q1, q2, ... q10), first at the top after coord_flip.
    order = list(dict.fromkeys(df[x].astype(str)))
    df[x] = pd.Categorical(df[x].astype(str), categories=order[::-1])
    mapping = aes(x=x, y=pct, fill=fill) if fill else aes(x=x, y=pct)
    text_aes = aes(label="_label", group=fill) if fill else aes(label="_label")
    p = (
        ggplot(df, mapping)
        + (geom_col(position=position_dodge(width=0.8)) if fill else geom_col(fill=NHS_BLUE))
        + geom_text(text_aes, position=position_dodge(width=0.8) if fill else "identity",
                    ha="left", size=7)
        + coord_flip()
        + scale_y_continuous(limits=(0, 125), breaks=[0, 25, 50, 75, 100])
        + labs(x="", y="%")
        + theme_evaltool()
    )
    if fill:
        p += scale_fill_manual(values=list(PALETTE))
    return p


def bar_counts(frame: pd.DataFrame, x: str, y: str, fill: str):
    return (
        ggplot(frame, aes(x=x, y=y, fill=fill))
        + geom_bar(stat="identity", position="stack")
        + scale_fill_manual(values=list(PALETTE) + list(_LEVEL_COLOURS))
        + theme_evaltool()
    )
