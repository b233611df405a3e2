"""Budget impact of extending the programme to the eligible population over 1 to 5 years.

A deliberately simple, transparent model (ISPOR budget impact good practice: show the flows
year by year, undiscounted, with scenarios rather than one number): in year ``t`` the caseload
is ``eligible x uptake[t]`` person-years; each costs the programme's running cost per enrolled
person-year (staff, non-staff and per-patient costs scale with the caseload; set-up is a
separate one-off sum in year 1) and changes activity cost and emergency admissions by the
evaluation's estimate per person-year, multiplied by ``m_t``:

* ``estimate``: the point estimates, ``m_t = 1``;
* ``interval: favourable`` / ``interval: unfavourable``: the ends of their intervals;
* ``effect grows``: ``m_t = (1 + grow) ** (t - 1)``;
* ``effect fades``: ``m_t = (1 - fade) ** (t - 1)``.

The present value at the discount rate is given beside the undiscounted totals.

Examples
--------
>>> r = budget_impact(eligible=1000, years=3, uptake=[0.5, 1.0], running_cost=800.0,
...                   cost_change=(-100.0, -300.0, 50.0), admissions_change=(-0.05, -0.1, 0.0))
>>> r.table.query("scenario == 'estimate'")["net_cost"].round().tolist()
[350000.0, 700000.0, 700000.0]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.economics.discounting import annual_factors

__all__ = ["SCENARIOS", "BudgetImpactResult", "budget_impact"]

SCENARIOS = ("estimate", "interval: favourable", "interval: unfavourable", "effect grows", "effect fades")


@dataclass(frozen=True)
class BudgetImpactResult(ResultMixin):
    """Year-by-year costs and consequences under each scenario, and their totals."""

    table: pd.DataFrame
    totals: pd.DataFrame
    eligible: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        return Summary(title="Budget impact", lines=(("Eligible caseload", f"{self.eligible:,.0f}"),),
                       tables=(("Totals by scenario", self.totals),))

    def to_dict(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "table": self.table.to_dict(orient="records"),
                "totals": self.totals.to_dict(orient="records"), "info": dict(self.info)}

    def plot(self):
        """Cumulative net cost by year under each scenario."""
        from plotnine import (
            aes,
            geom_hline,
            geom_line,
            geom_point,
            ggplot,
            labs,
            scale_color_manual,
            scale_y_continuous,
        )

        from evaltool.plotting import NHS_MID_GREY, PALETTE, theme_evaltool

        d = self.table.copy()
        d["scenario"] = pd.Categorical(d["scenario"], categories=list(SCENARIOS))
        return (ggplot(d, aes("year", "cumulative_net_cost", color="scenario"))
                + geom_hline(yintercept=0, color=NHS_MID_GREY) + geom_line() + geom_point()
                + scale_color_manual(values=list(PALETTE))
                + scale_y_continuous(labels=lambda v: [f"£{x / 1e6:,.1f}m" for x in v])
                + labs(x="Year", y="Cumulative net cost", color="") + theme_evaltool())


def budget_impact(*, eligible: float, years: int = 5, uptake: Sequence[float] = (1.0,), running_cost: float,
                  cost_change: tuple[float, float, float], admissions_change: tuple[float, float, float],
                  grow: float = 0.10, fade: float = 0.25, setup_cost: float = 0.0, discount_rate: float = 0.035,
                  population: float | None = None) -> BudgetImpactResult:
    """Project costs and admissions over ``years`` for an eligible caseload.

    Parameters
    ----------
    eligible:
        People eligible (the caseload at full uptake).
    years, uptake:
        Horizon (1-5) and the share of the eligible caseload enrolled in each year (last value repeats).
    running_cost:
        Programme running cost per enrolled person-year (common price year).
    cost_change, admissions_change:
        ``(estimate, lower, upper)`` change in activity cost and in emergency admissions per enrolled
        person-year (negative = savings / fewer admissions).
    grow, fade:
        Yearly growth / decay of the effect in the named scenarios.
    setup_cost:
        One-off cost of extending, in year 1.
    discount_rate:
        For the present value.
    population:
        Registered population, for net cost per 1,000 population.
    """
    if not 1 <= years <= 5:
        raise ValueError(f"`years` must be 1 to 5; found {years}")
    up = [float(uptake[min(t, len(uptake) - 1)]) for t in range(years)]
    t = np.arange(1, years + 1)
    est_c, lo_c, hi_c = cost_change
    est_a, lo_a, hi_a = admissions_change
    spec = {
        "estimate": (est_c, est_a, np.ones(years)),
        "interval: favourable": (lo_c, lo_a, np.ones(years)),
        "interval: unfavourable": (hi_c, hi_a, np.ones(years)),
        "effect grows": (est_c, est_a, (1 + grow) ** (t - 1)),
        "effect fades": (est_c, est_a, (1 - fade) ** (t - 1)),
    }
    f = annual_factors(years, discount_rate)
    rows = []
    totals = []
    for name, (dc, da, m) in spec.items():
        case = eligible * np.array(up)
        prog = case * running_cost + np.where(t == 1, setup_cost, 0.0)
        act = case * dc * m
        net = prog + act
        adm = -case * da * m
        for i in range(years):
            rows.append({"scenario": name, "year": int(t[i]), "caseload_person_years": case[i],
                         "effect_multiplier": m[i], "programme_cost": prog[i], "activity_cost_change": act[i],
                         "net_cost": net[i], "cumulative_net_cost": net[: i + 1].sum(),
                         "emergency_admissions_avoided": adm[i],
                         "net_cost_per_1000_population": (1000 * net[i] / population) if population else np.nan,
                         "discounted_net_cost": net[i] * f[i]})
        totals.append({"scenario": name, "years": years, "programme_cost": prog.sum(),
                       "activity_cost_change": act.sum(), "net_cost": net.sum(),
                       "net_cost_present_value": float((net * f).sum()),
                       "emergency_admissions_avoided": adm.sum()})
    return BudgetImpactResult(table=pd.DataFrame(rows), totals=pd.DataFrame(totals), eligible=float(eligible),
                              info={"uptake": up, "grow": grow, "fade": fade, "setup_cost": setup_cost,
                                    "running_cost": running_cost, "discount_rate": discount_rate})
