"""Statistical process control: XmR charts in the NHS "Making Data Count" style.

Limits are mean +/- 2.66 x mean moving range (2.66 = 3 / 1.128, three sigma estimated
from the average moving range of a pair). Special-cause rules, as in Making Data Count:

* ``outside``: a point above the upper or below the lower process limit;
* ``shift``: 7 or more consecutive points on the same side of the mean (a point exactly
  on the mean breaks the run); every point of the run is flagged;
* ``trend``: 7 or more consecutive points each higher (or each lower) than the one
  before (equal neighbours break it); every point of the run is flagged;
* ``two_of_three``: 2 of 3 consecutive points beyond two-thirds of the way from the mean
  to a limit (beyond the "2 sigma" line) on the same side; the points beyond the line
  in such a window are flagged.

Pure numpy/pandas: the pipeline calls :func:`xmr` on the bundle's ``spc_monthly`` values
and the report draws :meth:`XmRResult.plot`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import ReportError

__all__ = ["RUN_LENGTH", "PhasedChart", "XmRResult", "phased_chart", "seasonal_factors", "xmr"]

#: Points in a run (shift) or a monotone trend that signal special cause.
RUN_LENGTH = 7
#: Scaling constant: 3 / d2 with d2 = 1.128 for moving ranges of two points.
E2 = 2.66


def _runs(sign: np.ndarray, length: int) -> np.ndarray:
    """Flag members of runs of ``length`` or more equal non-zero values in ``sign``."""
    n = len(sign)
    flag = np.zeros(n, bool)
    if n == 0:
        return flag
    # Run boundaries where the value changes; vectorised via cumulative run ids.
    change = np.r_[True, sign[1:] != sign[:-1]]
    run_id = np.cumsum(change) - 1
    run_len = np.bincount(run_id)
    long_run = (run_len[run_id] >= length) & (sign != 0)
    flag |= long_run
    return flag


@dataclass(frozen=True)
class XmRResult(ResultMixin):
    """An XmR (individuals and moving range) chart with special-cause flags.

    Attributes
    ----------
    values, labels:
        The series and its x labels (e.g. months).
    mean, mr_bar, ucl, lcl:
        Centre line, mean moving range, and process limits (``mean +/- 2.66 * mr_bar``).
    outside, shift, trend, two_of_three:
        Boolean flags per point for each rule.
    improvement:
        ``"up"``, ``"down"`` or None: which direction is better (colours the chart).
    """

    values: np.ndarray
    labels: tuple[str, ...]
    mean: float
    mr_bar: float
    ucl: float
    lcl: float
    outside: np.ndarray
    shift: np.ndarray
    trend: np.ndarray
    two_of_three: np.ndarray
    improvement: Literal["up", "down"] | None = None

    @property
    def special_cause(self) -> np.ndarray:
        """True where any rule flags the point."""
        return self.outside | self.shift | self.trend | self.two_of_three

    def to_frame(self) -> pd.DataFrame:
        """One row per point: label, value, moving_range, limits and rule flags."""
        mr = np.r_[np.nan, np.abs(np.diff(self.values))]
        return pd.DataFrame({
            "label": list(self.labels), "value": self.values, "moving_range": mr,
            "mean": self.mean, "ucl": self.ucl, "lcl": self.lcl,
            "outside": self.outside, "shift": self.shift, "trend": self.trend,
            "two_of_three": self.two_of_three, "special_cause": self.special_cause,
        })

    def summary(self) -> Summary:
        return Summary(
            title="XmR chart (Making Data Count)",
            lines=(
                ("points", str(len(self.values))),
                ("mean", f"{self.mean:.4g}"),
                ("mean moving range", f"{self.mr_bar:.4g}"),
                ("process limits", f"{self.lcl:.4g} to {self.ucl:.4g}"),
                ("points outside limits", str(int(self.outside.sum()))),
                ("points in a shift", str(int(self.shift.sum()))),
                ("points in a trend", str(int(self.trend.sum()))),
                ("points in 2-of-3 near a limit", str(int(self.two_of_three.sum()))),
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean, "mr_bar": self.mr_bar, "ucl": self.ucl, "lcl": self.lcl,
            "n": int(len(self.values)), "improvement": self.improvement,
            "flags": {k: [int(i) for i in np.flatnonzero(getattr(self, k))]
                      for k in ("outside", "shift", "trend", "two_of_three")},
        }

    def describe(self, what: str = "the measure") -> str:
        """One plain-English sentence on what the chart shows."""
        sc = self.special_cause
        if not sc.any():
            return (f"Monthly {what} varied within the expected range (common-cause variation): the chart "
                    "shows no sign of a change in the underlying process.")
        high = sc & (self.values > self.mean)
        low = sc & (self.values < self.mean)
        bits = []
        if self.shift.any() or self.trend.any():
            bits.append("a sustained run or trend")
        if self.outside.any():
            bits.append(f"{int(self.outside.sum())} month{'s' if self.outside.sum() != 1 else ''} outside the process limits")
        if self.two_of_three.any() and not bits:
            bits.append("points close to a process limit")
        side = ("mostly below the average" if low.sum() > high.sum() else
                "mostly above the average" if high.sum() > low.sum() else "on both sides of the average")
        return (f"Monthly {what} show special-cause variation ({' and '.join(bits)}; flagged months are "
                f"{side}). A chart like this describes the series; it cannot show what caused a change.")

    def plot(self, title: str = "", y_label: str = "value"):
        """The XmR chart: points coloured by special cause, dashed limits, solid mean."""
        from plotnine import (
            aes,
            geom_hline,
            geom_line,
            geom_point,
            ggplot,
            labs,
            scale_color_manual,
            scale_x_continuous,
        )

        from evaltool.plotting import (
            NHS_BLUE,
            NHS_DARK_GREY,
            NHS_MID_GREY,
            NHS_ORANGE,
            theme_evaltool,
        )

        f = self.to_frame()
        f["x"] = np.arange(len(f))
        better_high = self.improvement == "up"
        better_low = self.improvement == "down"
        hi = f["special_cause"] & (f["value"] > self.mean)
        lo = f["special_cause"] & (f["value"] < self.mean)
        # Making Data Count colours: blue = improvement, orange = concern, grey = common cause.
        f["variation"] = "Common cause"
        if self.improvement is None:
            f.loc[hi | lo, "variation"] = "Special cause"
        else:
            f.loc[(hi & better_high) | (lo & better_low), "variation"] = "Special cause: improvement"
            f.loc[(hi & better_low) | (lo & better_high), "variation"] = "Special cause: concern"
        colours = {"Common cause": NHS_MID_GREY, "Special cause": NHS_ORANGE,
                   "Special cause: improvement": NHS_BLUE, "Special cause: concern": NHS_ORANGE}
        step = max(1, len(f) // 8)
        breaks = list(range(0, len(f), step))
        return (
            ggplot(f, aes("x", "value"))
            + geom_line(color=NHS_MID_GREY)
            + geom_point(aes(color="variation"), size=2.2)
            + geom_hline(yintercept=self.mean, color=NHS_DARK_GREY)
            + geom_hline(yintercept=[self.ucl, self.lcl], color=NHS_DARK_GREY, linetype="dashed")
            + scale_color_manual(values=colours)
            + scale_x_continuous(breaks=breaks, labels=[f["label"].iloc[i] for i in breaks])
            + labs(x="", y=y_label, color="", title=title)
            + theme_evaltool()
        )


def xmr(values, labels=None, *, improvement: Literal["up", "down"] | None = None) -> XmRResult:
    """Compute an XmR chart: mean, moving ranges, process limits and special-cause rules.

    Parameters
    ----------
    values : array-like of float
        The series in time order (e.g. monthly emergency admissions per 1,000 patients).
        At least 2 finite values; missing values are not allowed (fill or drop them first).
    labels : sequence of str, optional
        x labels (e.g. ``"2021-04"``); default 1, 2, ...
    improvement : {"up", "down"}, optional
        Which direction is better; only affects chart colours.

    Returns
    -------
    XmRResult

    Examples
    --------
    >>> r = xmr([10, 12, 11, 13, 12])
    >>> round(r.mean, 2), round(r.mr_bar, 2), round(r.ucl, 3), round(r.lcl, 3)
    (11.6, 1.5, 15.59, 7.61)
    """
    v = np.asarray(values, dtype=float).ravel()
    if v.size < 2:
        raise ReportError(f"`values` needs at least 2 points for an XmR chart, found {v.size}")
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise ReportError(f"`values` must be finite; missing or infinite at positions {bad[:10].tolist()}")
    if labels is None:
        labs_ = tuple(str(i + 1) for i in range(v.size))
    else:
        labs_ = tuple(str(x) for x in labels)
        if len(labs_) != v.size:
            raise ReportError(f"`labels` has {len(labs_)} entries but `values` has {v.size}")
    if improvement not in (None, "up", "down"):
        raise ReportError(f"`improvement` must be 'up', 'down' or None, found {improvement!r}")
    mean = float(v.mean())
    mr_bar = float(np.abs(np.diff(v)).mean())
    ucl, lcl = mean + E2 * mr_bar, mean - E2 * mr_bar
    outside = (v > ucl) | (v < lcl)
    shift = _runs(np.sign(v - mean), RUN_LENGTH)
    # A trend of 7 points is 6 consecutive rises (or falls); flag the points at both ends.
    d = np.sign(np.diff(v))
    step_run = _runs(d, RUN_LENGTH - 1)
    trend = np.r_[step_run, False] | np.r_[False, step_run]
    # Two of three beyond 2/3 of the way to a limit, same side.
    upper_zone = v > mean + (2 / 3) * (ucl - mean)
    lower_zone = v < mean - (2 / 3) * (mean - lcl)
    two = np.zeros(v.size, bool)
    for zone in (upper_zone, lower_zone):
        if v.size >= 3:
            win = np.lib.stride_tricks.sliding_window_view(zone.astype(int), 3).sum(axis=1) >= 2
            for k in range(3):  # spread each qualifying window back onto its three positions
                two[k:k + win.size] |= win & zone[k:k + win.size]
    return XmRResult(v, labs_, mean, mr_bar, ucl, lcl, outside, shift, trend, two, improvement)


def seasonal_factors(values, months, baseline) -> np.ndarray | None:
    """Multiplicative month-of-year factors estimated from the ``baseline`` points (None if < 2 full years).

    Each calendar month's factor is its baseline average divided by the baseline average of all
    months, so dividing a series by its factors removes the usual rise and fall across the year.

    Examples
    --------
    >>> v = [12, 10, 8, 10] * 6
    >>> f = seasonal_factors(v, [1, 2, 3, 4] * 6, [True] * 24)
    >>> [round(float(x), 2) for x in f[:4]]
    [1.2, 1.0, 0.8, 1.0]
    """
    v = np.asarray(values, float)
    m = np.asarray(months, int)
    b = np.asarray(baseline, bool)
    if b.sum() < 24:
        return None
    overall = v[b].mean()
    fac = np.ones_like(v)
    for k in np.unique(m):
        sel = b & (m == k)
        if sel.sum() < 2:
            return None
        fac[m == k] = v[sel].mean() / overall
    return fac


@dataclass(frozen=True)
class PhasedChart:
    """An XmR chart in phases (Making Data Count): limits from the baseline, recalculated after a change.

    ``phases`` holds (name, first index, last index, XmRResult) per phase; ``adjusted`` says whether
    the values were seasonally adjusted.
    """

    labels: tuple[str, ...]
    values: np.ndarray
    phases: tuple[tuple[str, int, int, XmRResult], ...]
    adjusted: bool
    change_start: int | None
    change_end: int | None

    def signals(self) -> dict[str, int]:
        return {name: int(r.special_cause.sum()) for name, _, _, r in self.phases}

    def plot(self, y_label: str, change_label: str = "Roll-out"):
        from plotnine import (aes, annotate, geom_line, geom_point, geom_segment, ggplot, labs, scale_color_manual,
                              scale_x_continuous)

        from evaltool.plotting import NHS_DARK_GREY, NHS_MID_GREY, NHS_PALE_GREY, PALETTE, theme_evaltool

        rows, segs = [], []
        for name, a, b, r in self.phases:
            f = r.to_frame()
            f["x"] = np.arange(a, b + 1)
            f["variation"] = np.where(f["special_cause"], "Special cause", "Common cause")
            rows.append(f)
            segs += [(a, r.mean, b, r.mean, "mean"), (a, r.ucl, b, r.ucl, "limit"), (a, r.lcl, b, r.lcl, "limit")]
        f = pd.concat(rows, ignore_index=True)
        sg = pd.DataFrame(segs, columns=["x", "y", "xend", "yend", "kind"])
        step = max(1, len(self.labels) // 8)
        breaks = list(range(0, len(self.labels), step))
        p = ggplot(f, aes("x", "value"))
        if self.change_start is not None:
            p += annotate("rect", xmin=self.change_start - 0.5, xmax=(self.change_end or self.change_start) + 0.5,
                          ymin=-np.inf, ymax=np.inf, fill=NHS_PALE_GREY, alpha=0.9)
            p += annotate("text", x=self.change_start - 0.3, y=float(np.nanmax(self.values)), label=change_label,
                          ha="left", va="top", size=8, color=NHS_DARK_GREY)
        p = (p + geom_line(color=NHS_MID_GREY)
             + geom_segment(sg[sg["kind"] == "mean"], aes("x", "y", xend="xend", yend="yend"), color=NHS_DARK_GREY)
             + geom_segment(sg[sg["kind"] == "limit"], aes("x", "y", xend="xend", yend="yend"), color=NHS_DARK_GREY,
                            linetype="dashed")
             + geom_point(aes(color="variation", shape="variation"), size=2.2)
             + scale_color_manual(values={"Common cause": NHS_MID_GREY, "Special cause": PALETTE[1]})
             + scale_x_continuous(breaks=breaks, labels=[self.labels[i] for i in breaks])
             + labs(x="", y=y_label, color="", shape="") + theme_evaltool())
        return p


def phased_chart(values, labels, *, change_start: int | None = None, change_end: int | None = None,
                 seasonal: bool = True) -> PhasedChart:
    """Monthly values in phases: before ``change_start``, during the change, after ``change_end``.

    Limits of the first phase come from its own points; each later phase gets its own limits
    (Making Data Count: recalculate only at a known change). With ``seasonal`` and at least two
    years before the change, values are seasonally adjusted with month-of-year factors from the
    baseline (:func:`seasonal_factors`).
    """
    v = np.asarray(values, float)
    labs_ = tuple(str(x) for x in labels)
    months = [int(str(x)[5:7]) if len(str(x)) >= 7 and str(x)[4] == "-" else (i % 12) + 1 for i, x in enumerate(labs_)]
    base = np.zeros(v.size, bool)
    base[: change_start if change_start is not None else v.size] = True
    fac = seasonal_factors(v, months, base) if seasonal else None
    adj = v / fac if fac is not None else v
    cuts = [0]
    if change_start is not None and 2 <= change_start < v.size:
        cuts.append(change_start)
        if change_end is not None and change_start < change_end < v.size - 1:
            cuts.append(change_end + 1)
    cuts.append(v.size)
    names = ["Before go-live", "During roll-out", "After roll-out"] if len(cuts) == 4 else \
        (["Before go-live", "After go-live"] if len(cuts) == 3 else ["Whole period"])
    phases = []
    for name, a, b in zip(names, cuts[:-1], cuts[1:]):
        if b - a >= 2:
            phases.append((name, a, b - 1, xmr(adj[a:b], labs_[a:b])))
    return PhasedChart(labs_, adj, tuple(phases), fac is not None, change_start, change_end)
