"""The economic evaluation as one public function: costs and effects jointly bootstrapped over matched sets.

:func:`economic_evaluation` takes per-set totals (activity, and optionally the QALY regression's
cross-products), the programme's cost per enrolled person-year and the unit costs, and returns
every economic statistic with percentile and BCa intervals from one joint bootstrap:
activity change per enrolled person-year by type, the change in activity cost, net cost,
return on investment, the probability the programme pays for itself, incremental QALYs, net
monetary benefit at each threshold and the acceptability curve.

Statistic names are ``"<group>|<quantity>"`` (``group`` is ``all`` or a subgroup level):
``<outcome>|delta`` (change per enrolled person-year), ``<outcome>|rate_ratio``,
``<outcome>|counterfactual``, ``<outcome>|cost_delta`` (unit-cost mode), ``activity_cost|delta``,
``activity_cost|counterfactual``, ``net_cost``, ``roi``, ``admissions_avoided``; and, when QALYs
are given, ``qaly|incremental``, ``qaly|unadjusted``, ``cua|d_cost``, ``cua|d_qaly``,
``nmb|<threshold>`` (all under ``all|``).

Examples
--------
>>> from evaltool.economics.simulate import simulate_economics
>>> sim = simulate_economics(n_sets=300, seed=1)
>>> res = economic_evaluation(sim.stats, programme_cost=sim.programme_cost, unit_costs=sim.unit_costs,
...                           qaly_design="matched", replicates=500, seed=2)
>>> lo, hi = res.interval("all|net_cost")
>>> bool(lo < res.estimate("all|net_cost") < hi)
True
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.economics.bootstrap import BootstrapResult, bootstrap_sets
from evaltool.economics.breakeven import return_on_investment
from evaltool.economics.cea import CostEffectivenessResult, ceac
from evaltool.economics.consequences import SetStatistics, did_rates
from evaltool.economics.discounting import horizon_factor
from evaltool.economics.qalys import incremental_qalys
from evaltool.errors import EstimationError

__all__ = ["EconomicEvaluationResult", "economic_evaluation"]


@dataclass(frozen=True)
class EconomicEvaluationResult(ResultMixin):
    """Every statistic of the economic evaluation with its joint-bootstrap intervals.

    Attributes
    ----------
    boot:
        The :class:`~evaltool.economics.bootstrap.BootstrapResult` (point, draws, jackknife).
    programme_cost:
        Programme cost per enrolled person-year (fixed: not resampled).
    groups, outcomes:
        Groups (``all`` and subgroup levels) and activity outcomes analysed.
    cost_mode:
        ``data`` (the data's cost column) or ``unit_costs``.
    unit_costs:
        Outcome -> unit cost in the common price year (unit-cost mode).
    qaly_design, horizon_years:
        ``matched`` / ``before_after`` / ``None``, and the QALY horizon.
    thresholds:
        ``(value, label)`` pairs.
    interval_method:
        ``bca`` or ``percentile``: the interval :meth:`interval` returns by default.
    """

    boot: BootstrapResult
    programme_cost: float
    groups: tuple[str, ...]
    outcomes: tuple[str, ...]
    cost_mode: str
    unit_costs: dict[str, float]
    qaly_design: str | None
    horizon_years: float
    thresholds: tuple[tuple[float, str], ...]
    interval_method: str = "bca"
    info: dict[str, Any] = field(default_factory=dict)

    def estimate(self, name: str) -> float:
        return self.boot.point[name]

    def interval(self, name: str, method: str | None = None) -> tuple[float, float]:
        return self.boot.interval(name, method or self.interval_method)

    def probability_pays_for_itself(self, group: str = "all") -> float:
        """Share of replicates with net cost <= 0 (activity savings at least the programme cost)."""
        return self.boot.probability(f"{group}|net_cost", lambda x: x <= 0)

    def cost_effectiveness(self, ceac_grid: Sequence[float] | None = None) -> CostEffectivenessResult | None:
        """The cost-utility view (``None`` without QALYs)."""
        if self.qaly_design is None:
            return None
        b = self.boot
        grid = ceac_grid if ceac_grid is not None else np.arange(0, 50001, 1000.0)
        return CostEffectivenessResult(
            d_cost=b.point["all|cua|d_cost"], d_qaly=b.point["all|cua|d_qaly"],
            cost_draws=b.draws["all|cua|d_cost"], qaly_draws=b.draws["all|cua|d_qaly"],
            cost_interval=self.interval("all|cua|d_cost"), qaly_interval=self.interval("all|cua|d_qaly"),
            thresholds=self.thresholds, curve=ceac(b.draws["all|cua|d_cost"], b.draws["all|cua|d_qaly"], grid),
            design=self.qaly_design, horizon_years=self.horizon_years)

    def to_frame(self) -> pd.DataFrame:
        """Every statistic: estimate, bootstrap SE, BCa and percentile intervals, replicates undefined."""
        return self.boot.to_frame()

    def summary(self) -> Summary:
        lines = [("Programme cost per enrolled person-year", f"£{self.programme_cost:,.0f}"),
                 ("Activity costed from", self.cost_mode),
                 ("Bootstrap", (f"{self.boot.replicates} resamples of {self.boot.n_sets} matched sets, seed "
                                f"{self.boot.seed}"))]
        nc = self.estimate("all|net_cost")
        lo, hi = self.interval("all|net_cost")
        lines.append(("Net cost per enrolled person-year", f"£{nc:,.0f} (£{lo:,.0f} to £{hi:,.0f})"))
        lines.append(("Probability it pays for itself", f"{self.probability_pays_for_itself():.1%}"))
        if self.qaly_design:
            lines.append(("Incremental QALYs", f"{self.estimate('all|cua|d_qaly'):.4f} ({self.qaly_design})"))
        return Summary(title="Economic evaluation", lines=tuple(lines),
                       tables=(("Statistics", self.to_frame().round(4)),))

    def to_dict(self) -> dict[str, Any]:
        return {"programme_cost": self.programme_cost, "groups": list(self.groups), "outcomes": list(self.outcomes),
                "cost_mode": self.cost_mode, "unit_costs": dict(self.unit_costs), "qaly_design": self.qaly_design,
                "horizon_years": self.horizon_years, "probability_pays_for_itself": self.probability_pays_for_itself(),
                "bootstrap": self.boot.to_dict()}

    def plot(self):
        """The cost-effectiveness plane, or the net-cost distribution without QALYs."""
        ce = self.cost_effectiveness()
        return ce.plot() if ce is not None else self.boot.plot("all|net_cost")


def economic_evaluation(
    stats: SetStatistics,
    *,
    programme_cost: float,
    cost_outcome: str | None = None,
    unit_costs: Mapping[str, float] | None = None,
    admissions_outcome: str = "emergency_admission",
    scale: str = "ratio",
    qaly_design: str | None = None,
    horizon_years: float = 1.0,
    discount_rate_costs: float = 0.035,
    thresholds: Sequence[tuple[float, str]] = ((20000.0, "£20,000"), (30000.0, "£30,000")),
    replicates: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    interval: str = "bca",
) -> EconomicEvaluationResult:
    """Joint bootstrap of activity, costs and QALYs over matched sets.

    Parameters
    ----------
    stats:
        Per-set totals from :func:`~evaltool.economics.consequences.set_statistics`, extended with
        :data:`~evaltool.economics.qalys.QALY_NAMES` columns when ``qaly_design`` is given.
    programme_cost:
        Programme cost per enrolled person-year (common price year).
    cost_outcome:
        Outcome holding activity cost (the data's cost column, already in the common price year).
    unit_costs:
        Or: outcome -> unit cost; activity cost change = sum of change x unit cost.
    admissions_outcome:
        Outcome counted for admissions avoided.
    scale:
        ``ratio`` or ``difference`` DiD (see :mod:`evaltool.economics.consequences`).
    qaly_design:
        ``matched``, ``before_after`` or ``None`` (no cost-utility).
    horizon_years, discount_rate_costs:
        The QALY horizon; costs per patient over it are the net cost per person-year x horizon,
        discounted by year (:func:`~evaltool.economics.discounting.horizon_factor`).
    thresholds:
        ``(pounds per QALY, label)`` for net monetary benefit.
    replicates, seed, confidence, interval:
        Bootstrap settings; ``interval`` is the default of :meth:`EconomicEvaluationResult.interval`.
    """
    if (cost_outcome is None) == (not unit_costs):
        raise EstimationError("give either `cost_outcome` (costs in the data) or `unit_costs`, exactly one")
    outcomes = tuple(stats.outcomes)
    if cost_outcome is not None and cost_outcome not in outcomes:
        raise EstimationError(f"cost outcome {cost_outcome!r} is not among the totals' outcomes {list(outcomes)}")
    uc = {k: float(v) for k, v in (unit_costs or {}).items()}
    miss = [k for k in uc if k not in outcomes]
    if miss:
        raise EstimationError(f"unit costs given for {miss}, which are not among the analysed outcomes "
                              f"{list(outcomes)}: add them to `effects.outcomes`")
    index = stats.index
    P = float(programme_cost)
    hf = horizon_factor(horizon_years, discount_rate_costs)
    lam = [(float(v), str(lab)) for v, lab in thresholds]

    def statistic(t: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for g in stats.groups:
            cost_d = np.zeros(len(t))
            cost_cf = np.zeros(len(t))
            for o in outcomes:
                r = did_rates(t, index, g, o, scale)
                out[f"{g}|{o}|delta"] = r["delta"]
                out[f"{g}|{o}|rate_ratio"] = r["rate_ratio"]
                out[f"{g}|{o}|counterfactual"] = r["counterfactual"]
                out[f"{g}|{o}|observed"] = r["rT1"]
                if o in uc:
                    out[f"{g}|{o}|cost_delta"] = r["delta"] * uc[o]
                    cost_d = cost_d + r["delta"] * uc[o]
                    cost_cf = cost_cf + r["counterfactual"] * uc[o]
            if cost_outcome is not None:
                cost_d = out[f"{g}|{cost_outcome}|delta"]
                cost_cf = out[f"{g}|{cost_outcome}|counterfactual"]
            out[f"{g}|activity_cost|delta"] = cost_d
            out[f"{g}|activity_cost|counterfactual"] = cost_cf
            out[f"{g}|net_cost"] = P + cost_d
            out[f"{g}|roi"] = return_on_investment(P, cost_d)
            if admissions_outcome in outcomes:
                out[f"{g}|admissions_avoided"] = -out[f"{g}|{admissions_outcome}|delta"]
        if qaly_design is not None:
            q = incremental_qalys(t, index, qaly_design)
            out["all|qaly|incremental"] = q["incremental"]
            out["all|qaly|unadjusted"] = q["unadjusted"]
            for k in ("qaly_treated", "qaly_control", "u0_treated", "u0_control", "before_after"):
                out[f"all|qaly|{k}"] = q[k]
            out["all|cua|d_cost"] = out["all|net_cost"] * horizon_years * hf
            out["all|cua|d_qaly"] = q["incremental"]
            for v, _ in lam:
                out[f"all|nmb|{v:g}"] = v * out["all|cua|d_qaly"] - out["all|cua|d_cost"]
        return out

    boot = bootstrap_sets(stats.values, statistic, replicates=replicates, seed=seed, confidence=confidence)
    tot = stats.values.sum(axis=0)
    n_enrolled = {g: int(tot[index[(g, "T", 0, "n")]]) for g in stats.groups if (g, "T", 0, "n") in index}
    return EconomicEvaluationResult(
        boot=boot, programme_cost=P, groups=tuple(stats.groups), outcomes=outcomes,
        cost_mode="data" if cost_outcome is not None else "unit_costs", unit_costs=uc, qaly_design=qaly_design,
        horizon_years=float(horizon_years), thresholds=tuple(lam), interval_method=interval,
        info={"n_enrolled": n_enrolled, "scale": scale, "admissions_outcome": admissions_outcome,
              "cost_outcome": cost_outcome,
              "horizon_factor": hf, "discount_rate_costs": discount_rate_costs})
