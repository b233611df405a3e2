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

__all__ = ["RUN_LENGTH", "XmRResult", "xmr"]

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
                f"{side}). This signals a change worth investigating; on its own it does not show the "
                "programme caused it.")

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
