"""Non-parametric bootstrap over matched sets on per-set sufficient statistics.

Every economic quantity here is a smooth function of *totals*: sums over matched sets of
per-set statistics (weighted event counts and person-years by arm and period, cross-products
of the QALY regression). Resampling matched sets with replacement (the unit the DiD clusters
on; Austin & Small 2014) therefore needs no refitting: a replicate's totals are
``counts @ stats``, with ``counts`` the multinomial number of times each set was drawn. Costs
and effects come from the same draw, so their joint distribution is kept (the
cost-effectiveness plane, the acceptability curve).

Intervals: percentile, and bias-corrected and accelerated (BCa; Efron 1987) with the
acceleration from the leave-one-set-out jackknife (Efron & Tibshirani 1993, ch. 14).
A replicate in which a statistic is not defined (e.g. no control events before the index
date) is left out of that statistic's interval and counted in ``n_undefined``.

Examples
--------
>>> rng = np.random.default_rng(1)
>>> stats = np.column_stack([rng.poisson(3, 400), np.ones(400)])   # events, person-years per set
>>> res = bootstrap_sets(stats, lambda t: {"rate": t[:, 0] / t[:, 1]}, replicates=999, seed=2)
>>> lo, hi = res.interval("rate", "bca")
>>> bool(lo < 3 < hi)
True
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.dist import norm_cdf, norm_ppf
from evaltool.errors import EstimationError

__all__ = ["BootstrapResult", "bca_interval", "bootstrap_sets", "percentile_interval", "resample_counts"]

Statistic = Callable[[np.ndarray], dict[str, np.ndarray]]


def resample_counts(n_sets: int, replicates: int, seed: int) -> np.ndarray:
    """How many times each of ``n_sets`` sets is drawn in each replicate: a (replicates, n_sets) array.

    Seeded and reproducible: the same ``seed`` gives the same draws.

    Examples
    --------
    >>> c = resample_counts(5, 3, seed=1)
    >>> c.shape, c.sum(axis=1).astype(int).tolist()
    ((3, 5), [5, 5, 5])
    """
    if n_sets < 2:
        raise EstimationError(f"the bootstrap needs at least 2 matched sets; found {n_sets}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_sets, size=(replicates, n_sets))
    flat = (draws + (np.arange(replicates) * n_sets)[:, None]).ravel()
    return np.bincount(flat, minlength=replicates * n_sets).reshape(replicates, n_sets).astype(np.float64)


def percentile_interval(draws: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the defined (finite) draws.

    Examples
    --------
    >>> [round(x, 6) for x in percentile_interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 10:
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    return float(lo), float(hi)


def bca_interval(draws: np.ndarray, point: float, jackknife: np.ndarray,
                 confidence: float = 0.95) -> tuple[float, float]:
    """BCa interval: percentiles shifted by the bias correction ``z0`` and acceleration ``a``.

    ``z0 = Phi^-1(share of draws below the estimate, ties counted half)``;
    ``a = sum(d^3) / (6 sum(d^2)^1.5)`` with ``d`` the jackknife deviations from their mean.
    Falls back to the percentile interval when the jackknife is degenerate.
    """
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 10 or not np.isfinite(point):
        return float("nan"), float("nan")
    below = (np.sum(d < point) + 0.5 * np.sum(d == point)) / len(d)
    below = min(max(below, 0.5 / len(d)), 1 - 0.5 / len(d))
    z0 = norm_ppf(below)
    jk = np.asarray(jackknife, dtype=float)
    jk = jk[np.isfinite(jk)]
    dev = jk.mean() - jk if len(jk) > 2 else np.zeros(1)
    den = 6.0 * np.sum(dev ** 2) ** 1.5
    acc = float(np.sum(dev ** 3) / den) if den > 0 else 0.0
    a = (1 - confidence) / 2
    out = []
    for q in (a, 1 - a):
        z = norm_ppf(q)
        adj = norm_cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
        out.append(float(np.quantile(d, min(max(adj, 0.0), 1.0))))
    return out[0], out[1]


@dataclass(frozen=True)
class BootstrapResult(ResultMixin):
    """Point estimates, bootstrap draws and jackknife values of named statistics.

    Attributes
    ----------
    point:
        Statistic name -> estimate from all sets.
    draws:
        Statistic name -> array of ``replicates`` values (NaN where undefined).
    jackknife:
        Statistic name -> leave-one-set-out values (for the BCa acceleration).
    replicates, n_sets, seed, confidence:
        How the bootstrap was run.
    """

    point: dict[str, float]
    draws: dict[str, np.ndarray]
    jackknife: dict[str, np.ndarray]
    replicates: int
    n_sets: int
    seed: int
    confidence: float = 0.95
    info: dict[str, Any] = field(default_factory=dict)

    def interval(self, name: str, method: str = "bca") -> tuple[float, float]:
        """The ``confidence`` interval of statistic ``name`` (``"bca"`` or ``"percentile"``)."""
        if name not in self.draws:
            raise KeyError(f"no statistic {name!r}; have {sorted(self.draws)[:10]}...")
        if method == "percentile":
            return percentile_interval(self.draws[name], self.confidence)
        if method == "bca":
            return bca_interval(self.draws[name], self.point[name], self.jackknife[name], self.confidence)
        raise ValueError(f"`method` must be 'bca' or 'percentile'; found {method!r}")

    def probability(self, name: str, condition: Callable[[np.ndarray], np.ndarray]) -> float:
        """Share of defined replicates where ``condition(draws)`` holds (e.g. ``lambda x: x <= 0``)."""
        d = self.draws[name]
        ok = np.isfinite(d)
        return float(np.mean(condition(d[ok]))) if ok.any() else float("nan")

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for k in self.point:
            d = self.draws[k]
            ok = np.isfinite(d)
            p_lo, p_hi = self.interval(k, "percentile")
            b_lo, b_hi = self.interval(k, "bca")
            rows.append({"statistic": k, "estimate": self.point[k],
                         "std_error": float(np.std(d[ok], ddof=1)) if ok.sum() > 1 else float("nan"),
                         "ci_lower": b_lo, "ci_upper": b_hi, "percentile_lower": p_lo, "percentile_upper": p_hi,
                         "n_undefined": int((~ok).sum())})
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        return Summary(title="Bootstrap over matched sets",
                       lines=(("Replicates", str(self.replicates)), ("Matched sets", str(self.n_sets)),
                              ("Seed", str(self.seed)), ("Confidence", f"{self.confidence:.0%}")),
                       tables=(("Statistics (BCa intervals)", self.to_frame().round(4)),))

    def to_dict(self) -> dict[str, Any]:
        return {"replicates": self.replicates, "n_sets": self.n_sets, "seed": self.seed,
                "confidence": self.confidence, "statistics": self.to_frame().to_dict(orient="records")}

    def plot(self, name: str | None = None):
        """Histogram of one statistic's draws with its estimate marked."""
        from plotnine import aes, geom_histogram, geom_vline, ggplot, labs

        from evaltool.plotting import NHS_BLUE, NHS_ORANGE, theme_evaltool

        name = name or next(iter(self.point))
        d = pd.DataFrame({"value": self.draws[name]}).dropna()
        return (ggplot(d, aes("value")) + geom_histogram(bins=40, fill=NHS_BLUE)
                + geom_vline(xintercept=self.point[name], color=NHS_ORANGE)
                + labs(x=name, y="Replicates") + theme_evaltool())


def bootstrap_sets(stats: np.ndarray, statistic: Statistic, *, replicates: int = 2000, seed: int = 0,
                   confidence: float = 0.95, chunk: int = 500) -> BootstrapResult:
    """Resample matched sets and evaluate ``statistic`` on each replicate's totals.

    Parameters
    ----------
    stats:
        ``(n_sets, k)`` per-set sufficient statistics (already weighted).
    statistic:
        Maps an ``(n, k)`` array of totals to ``{name: (n,) array}``; must be vectorised.
    replicates, seed, confidence:
        Number of resamples, the seed (reproducible) and the interval level.
    chunk:
        Replicates evaluated at once (bounds memory).

    Returns
    -------
    BootstrapResult
    """
    X = np.asarray(stats, dtype=np.float64)
    if X.ndim != 2:
        raise EstimationError(f"`stats` must be a 2-D (sets x statistics) array; found shape {X.shape}")
    n_sets = X.shape[0]
    counts = resample_counts(n_sets, replicates, seed)
    total = X.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        point = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in statistic(total[None, :]).items()}
        parts: dict[str, list[np.ndarray]] = {k: [] for k in point}
        for i in range(0, replicates, chunk):
            out = statistic(counts[i:i + chunk] @ X)
            for k in point:
                parts[k].append(np.asarray(out[k], dtype=float))
        jk_out = statistic(total[None, :] - X)
    draws = {k: np.concatenate(v) for k, v in parts.items()}
    jack = {k: np.asarray(jk_out[k], dtype=float) for k in point}
    return BootstrapResult(point=point, draws=draws, jackknife=jack, replicates=int(replicates), n_sets=int(n_sets),
                           seed=int(seed), confidence=float(confidence))
