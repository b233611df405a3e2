"""Deterministic one-way sensitivity analysis of net cost per enrolled person-year (tornado).

Each input moves alone to its low and high value while everything else stays at its base:

* every programme cost line's figure (its own ``low``/``high`` from the spec, else +/- the
  default range), which moves the programme cost per enrolled person-year by
  ``(new - base) x multiplier x inflation factor / enrolled person-years``;
* every unit cost (unit-cost mode: the change in that activity x the unit cost), or all activity
  costs together (costs from the data);
* the change in activity cost at the ends of its interval (the statistical uncertainty, for
  comparison with the cost inputs);
* the discount rate used to annuitise set-up costs (1.5% and 6%), when there are set-up costs.

Examples
--------
>>> lines = pd.DataFrame({"category": ["Staff"], "item": ["Nurse"], "value": [50000.0], "multiplier": [2.0],
...                       "inflation_factor": [1.0], "low": [None], "high": [None], "kind": ["staff"]})
>>> t = one_way_sensitivity(lines, enrolled_years=200.0, activity_cost_change=-100.0,
...                         activity_interval=(-250.0, 50.0), unit_cost_terms={}, default_range=0.2)
>>> t[["parameter", "result_low", "result_high"]].round(0).values.tolist()[0]
['Change in activity cost (interval)', 250.0, 550.0]
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

__all__ = ["one_way_sensitivity", "tornado_plot"]


def one_way_sensitivity(lines: pd.DataFrame, *, enrolled_years: float, activity_cost_change: float,
                        activity_interval: tuple[float, float],
                        unit_cost_terms: Mapping[str, tuple[float, float, float | None, float | None]],
                        default_range: float = 0.2, data_costs: bool = False,
                        setup_recost: Callable[[float], float] | None = None) -> pd.DataFrame:
    """Net cost per enrolled person-year when each input moves alone.

    Parameters
    ----------
    lines:
        :attr:`ProgrammeCostResult.lines <evaltool.economics.costs.ProgrammeCostResult.lines>`.
    enrolled_years:
        Enrolled person-years over which programme costs are spread.
    activity_cost_change, activity_interval:
        Change in activity cost per enrolled person-year and its interval.
    unit_cost_terms:
        Unit-cost mode: outcome -> ``(change per person-year, unit cost, low, high)``.
    default_range:
        +/- share used where the spec gives no low/high.
    data_costs:
        Costs from the data: one row moving all activity costs by +/- ``default_range``.
    setup_recost:
        Programme cost per enrolled person-year as a function of the discount rate (set-up annuity).

    Returns
    -------
    DataFrame
        ``parameter, category, base_value, low_value, high_value, result_low, result_high,
        base_result, swing``, widest swing first.
    """
    P = float(lines["cost"].sum()) / enrolled_years if "cost" in lines else float(
        (lines["value"] * lines["multiplier"] * lines["inflation_factor"]).sum()) / enrolled_years
    base = P + activity_cost_change
    rows = []

    def add(param: str, cat: str, bv: float, lv: float, hv: float, rl: float, rh: float) -> None:
        rows.append({"parameter": param, "category": cat, "base_value": bv, "low_value": lv, "high_value": hv,
                     "result_low": rl, "result_high": rh, "base_result": base, "swing": abs(rh - rl)})

    for ln in lines.itertuples(index=False):
        lo = ln.low if ln.low is not None and np.isfinite(ln.low) else ln.value * (1 - default_range)
        hi = ln.high if ln.high is not None and np.isfinite(ln.high) else ln.value * (1 + default_range)
        per = ln.multiplier * ln.inflation_factor / enrolled_years
        add(f"{ln.category}: {ln.item}", "programme cost", ln.value, lo, hi, base + (lo - ln.value) * per,
            base + (hi - ln.value) * per)
    for o, (delta, uc, lo, hi) in unit_cost_terms.items():
        lo = lo if lo is not None else uc * (1 - default_range)
        hi = hi if hi is not None else uc * (1 + default_range)
        add(f"Unit cost: {o.replace('_', ' ')}", "unit cost", uc, lo, hi, base + delta * (lo - uc),
            base + delta * (hi - uc))
    if data_costs:
        add("Activity costs in the data (all settings)", "unit cost", 1.0, 1 - default_range, 1 + default_range,
            base - default_range * activity_cost_change, base + default_range * activity_cost_change)
    lo_i, hi_i = activity_interval
    if np.isfinite(lo_i) and np.isfinite(hi_i):
        add("Change in activity cost (interval)", "effect", activity_cost_change, lo_i, hi_i, P + lo_i, P + hi_i)
    if setup_recost is not None:
        add("Discount rate for set-up costs", "discount rate", 0.035, 0.015, 0.06,
            setup_recost(0.015) + activity_cost_change, setup_recost(0.06) + activity_cost_change)
    out = pd.DataFrame(rows)
    return out.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


def tornado_plot(table: pd.DataFrame, max_bars: int = 12, measure: str = "Net cost per enrolled person-year"):
    """Horizontal bars from the base result to each input's low and high result."""
    from plotnine import (
        aes,
        coord_flip,
        geom_hline,
        geom_segment,
        ggplot,
        labs,
        scale_color_manual,
        scale_y_continuous,
    )

    from evaltool.plotting import NHS_DARK_GREY, PALETTE, theme_evaltool

    t = table.head(max_bars).copy()
    order = list(t["parameter"])[::-1]
    long = pd.concat([
        pd.DataFrame({"parameter": t["parameter"], "end": t["result_low"], "which": "low value"}),
        pd.DataFrame({"parameter": t["parameter"], "end": t["result_high"], "which": "high value"})])
    long["start"] = float(t["base_result"].iloc[0]) if len(t) else 0.0
    long["parameter"] = pd.Categorical(long["parameter"], categories=order)
    return (ggplot(long, aes(x="parameter", xend="parameter", y="start", yend="end", color="which"))
            + geom_segment(size=6)
            + geom_hline(yintercept=float(long["start"].iloc[0]) if len(long) else 0.0, color=NHS_DARK_GREY)
            + coord_flip() + scale_color_manual(values=[PALETTE[0], PALETTE[1]])
            + scale_y_continuous(labels=lambda v: [f"£{x:,.0f}" for x in v])
            + labs(x="", y=measure, color="") + theme_evaltool())
