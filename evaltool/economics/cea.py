"""Cost-utility results: the cost-effectiveness plane, ICER, net monetary benefit and the CEAC.

The ICER (incremental cost / incremental QALYs) is reported only where it means something: the
QALY gain's interval excludes zero and the estimate lies in the north-east (more costly, more
effective) or south-west (cheaper, less effective) quadrant. Otherwise the quadrant is named
(south-east: dominant; north-west: dominated) or the ratio is withheld because a gain that may
be zero makes it unstable (its sign and size flip between resamples). Net monetary benefit
``NMB(l) = l x dQALY - dCost`` has none of these problems and carries the decision at any
threshold ``l``; the cost-effectiveness acceptability curve is the share of bootstrap replicates
with ``NMB(l) > 0`` (van Hout et al. 1994; Fenwick et al. 2001).

Examples
--------
>>> quadrant(500.0, 0.05), quadrant(-100.0, 0.02)
('NE', 'SE')
>>> icer_decision(500.0, 0.05, (0.01, 0.09))
(10000.0, 'icer')
>>> float(net_monetary_benefit(500.0, 0.05, 20000))
500.0
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary

__all__ = [
    "QUADRANT_TEXT",
    "CostEffectivenessResult",
    "ce_plane_plot",
    "ceac",
    "ceac_plot",
    "icer_decision",
    "net_monetary_benefit",
    "quadrant",
]

QUADRANT_TEXT = {
    "NE": "more costly and more effective",
    "SE": "less costly and more effective (dominant)",
    "NW": "more costly and less effective (dominated)",
    "SW": "less costly and less effective",
}


def quadrant(d_cost: float, d_qaly: float) -> str:
    """Quadrant of the cost-effectiveness plane: NE, SE, NW or SW (ties count as east / north)."""
    east = d_qaly >= 0
    north = d_cost >= 0
    return ("N" if north else "S") + ("E" if east else "W")


def icer_decision(d_cost: float, d_qaly: float, qaly_interval: tuple[float, float]) -> tuple[float | None, str]:
    """The ICER when it is meaningful, else ``None`` and why.

    Returns ``(icer, "icer")``; ``(None, "dominant")`` / ``(None, "dominated")`` when the estimate
    sits in the south-east / north-west quadrant; ``(None, "unstable")`` when the QALY gain's
    interval includes zero; ``(None, "not_estimable")`` when an input is missing.
    """
    lo, hi = qaly_interval
    if not all(np.isfinite([d_cost, d_qaly, lo, hi])):
        return None, "not_estimable"
    q = quadrant(d_cost, d_qaly)
    if q == "SE":
        return None, "dominant"
    if q == "NW":
        return None, "dominated"
    if lo <= 0 <= hi:
        return None, "unstable"
    return float(d_cost / d_qaly), "icer"


def net_monetary_benefit(d_cost: np.ndarray | float, d_qaly: np.ndarray | float, threshold: float) -> np.ndarray:
    """``threshold x dQALY - dCost`` (positive: worth it at that threshold)."""
    return threshold * np.asarray(d_qaly, dtype=float) - np.asarray(d_cost, dtype=float)


def ceac(d_cost: np.ndarray, d_qaly: np.ndarray, thresholds: Sequence[float]) -> pd.DataFrame:
    """Probability of being cost-effective (``NMB > 0``) at each threshold, over joint replicates.

    Examples
    --------
    >>> ceac(np.array([100.0, 300.0]), np.array([0.01, 0.01]), [0, 20000]).probability.tolist()
    [0.0, 0.5]
    """
    c = np.asarray(d_cost, dtype=float)
    q = np.asarray(d_qaly, dtype=float)
    ok = np.isfinite(c) & np.isfinite(q)
    c, q = c[ok], q[ok]
    lam = np.asarray(list(thresholds), dtype=float)
    prob = (lam[:, None] * q[None, :] - c[None, :] > 0).mean(axis=1) if len(c) else np.full(len(lam), np.nan)
    return pd.DataFrame({"threshold": lam, "probability": prob})


def ce_plane_plot(d_cost: np.ndarray, d_qaly: np.ndarray, point: tuple[float, float],
                  thresholds: Sequence[tuple[float, str]] = (), max_points: int = 1000):
    """Bootstrap replicates on the cost-effectiveness plane, the estimate, and threshold lines.

    At most ``max_points`` replicates are drawn (the first ones: the draws are in random order).
    """
    from plotnine import (
        aes,
        annotate,
        geom_abline,
        geom_hline,
        geom_point,
        geom_vline,
        ggplot,
        labs,
        scale_y_continuous,
    )

    from evaltool.plotting import (
        NHS_DARK_BLUE,
        NHS_LIGHT_BLUE,
        NHS_MID_GREY,
        PALETTE,
        theme_evaltool,
    )

    d = pd.DataFrame({"d_qaly": d_qaly, "d_cost": d_cost}).dropna().head(max_points)
    p = (ggplot(d, aes("d_qaly", "d_cost"))
         + geom_hline(yintercept=0, color=NHS_MID_GREY) + geom_vline(xintercept=0, color=NHS_MID_GREY)
         + geom_point(color=NHS_LIGHT_BLUE, alpha=0.35, size=0.8))
    styles = ("dashed", "dotted", "dashdot")
    x = float(d["d_qaly"].max()) if len(d) else 0.0
    for i, (lam, _) in enumerate(thresholds):
        p += geom_abline(intercept=0, slope=lam, linetype=styles[i % 3], color=PALETTE[(i + 1) % len(PALETTE)])
        p += annotate("label", x=x, y=lam * x, label=f"£{lam:,.0f} per QALY", ha="right", va="center", size=7,
                      color=PALETTE[(i + 1) % len(PALETTE)], fill="white", label_size=0)
    p += annotate("point", x=point[1], y=point[0], color=NHS_DARK_BLUE, size=3)
    return (p + scale_y_continuous(labels=lambda v: [f"£{x:,.0f}" for x in v])
            + labs(x="Incremental QALYs per patient", y="Incremental cost per patient")
            + theme_evaltool())


def ceac_plot(curve: pd.DataFrame, marked: Sequence[tuple[float, str]] = ()):
    """The acceptability curve with the marked thresholds (e.g. NICE's) as vertical lines."""
    from plotnine import (
        aes,
        annotate,
        geom_line,
        geom_vline,
        ggplot,
        labs,
        scale_x_continuous,
        scale_y_continuous,
    )

    from evaltool.plotting import NHS_BLUE, NHS_MID_GREY, theme_evaltool

    p = ggplot(curve, aes("threshold", "probability")) + geom_line(color=NHS_BLUE, size=1)
    for i, (lam, _) in enumerate(marked):
        # Short labels, staggered, so neighbouring thresholds never overprint.
        p += geom_vline(xintercept=lam, linetype="dashed", color=NHS_MID_GREY)
        p += annotate("text", x=lam, y=1.03 + 0.06 * (i % 2), label=f"£{lam:,.0f}", ha="center", va="bottom", size=7,
                      color=NHS_MID_GREY)
    return (p + scale_y_continuous(limits=(0, 1.14), breaks=[0, 0.25, 0.5, 0.75, 1],
                                   labels=lambda v: [f"{x:.0%}" for x in v])
            + scale_x_continuous(labels=lambda v: [f"£{x:,.0f}" for x in v])
            + labs(x="Willingness to pay per QALY gained", y="Probability cost-effective") + theme_evaltool())


@dataclass(frozen=True)
class CostEffectivenessResult(ResultMixin):
    """Joint incremental costs and QALYs per patient, with the decision statistics.

    Attributes
    ----------
    d_cost, d_qaly:
        Point estimates per patient over the QALY horizon.
    cost_draws, qaly_draws:
        Joint bootstrap replicates.
    qaly_interval, cost_interval:
        Their intervals.
    thresholds:
        ``(value, label)`` pairs marked on the plane and the curve.
    curve:
        The CEAC (``threshold, probability``).
    design, horizon_years:
        How QALYs were compared, and over how long.
    """

    d_cost: float
    d_qaly: float
    cost_draws: np.ndarray
    qaly_draws: np.ndarray
    cost_interval: tuple[float, float]
    qaly_interval: tuple[float, float]
    thresholds: tuple[tuple[float, str], ...]
    curve: pd.DataFrame
    design: str
    horizon_years: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def quadrant(self) -> str:
        return quadrant(self.d_cost, self.d_qaly)

    @property
    def icer(self) -> tuple[float | None, str]:
        return icer_decision(self.d_cost, self.d_qaly, self.qaly_interval)

    def quadrant_shares(self) -> dict[str, float]:
        """Share of replicates in each quadrant."""
        c, q = self.cost_draws, self.qaly_draws
        ok = np.isfinite(c) & np.isfinite(q)
        qs = np.array([quadrant(a, b) for a, b in zip(c[ok], q[ok])])
        return {k: float(np.mean(qs == k)) if len(qs) else float("nan") for k in QUADRANT_TEXT}

    def to_frame(self) -> pd.DataFrame:
        rows = [{"threshold": lam, "label": lab, "nmb": float(net_monetary_benefit(self.d_cost, self.d_qaly, lam)),
                 "probability_cost_effective": float(ceac(self.cost_draws, self.qaly_draws, [lam]).probability[0])}
                for lam, lab in self.thresholds]
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        icer, why = self.icer
        return Summary(title="Cost-utility", lines=(
            ("Design", self.design),
            ("Horizon", f"{self.horizon_years:g} year" + ("" if self.horizon_years == 1 else "s")),
            ("Incremental cost per patient", f"£{self.d_cost:,.0f}"),
            ("Incremental QALYs per patient", f"{self.d_qaly:.4f}"),
            ("Quadrant", f"{self.quadrant}: {QUADRANT_TEXT[self.quadrant]}"),
            ("ICER", f"£{icer:,.0f} per QALY" if icer is not None else f"not reported ({why})")),
            tables=(("Net monetary benefit by threshold", self.to_frame()),))

    def to_dict(self) -> dict[str, Any]:
        icer, why = self.icer
        return {"d_cost": self.d_cost, "d_qaly": self.d_qaly, "cost_interval": list(self.cost_interval),
                "qaly_interval": list(self.qaly_interval), "quadrant": self.quadrant, "icer": icer,
                "icer_status": why, "design": self.design, "horizon_years": self.horizon_years,
                "by_threshold": self.to_frame().to_dict(orient="records"),
                "quadrant_shares": self.quadrant_shares()}

    def plot(self):
        return ce_plane_plot(self.cost_draws, self.qaly_draws, (self.d_cost, self.d_qaly), self.thresholds)

    def plot_ceac(self):
        return ceac_plot(self.curve, self.thresholds)
