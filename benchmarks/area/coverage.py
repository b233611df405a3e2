"""Interval coverage of the whole-area designs on simulated panels with a known effect.

Run:  nice python benchmarks/area/coverage.py [--reps 200] [--out benchmarks/area/_out/coverage.csv]

Scenario A (comparison areas): 20 donor areas, 48 months, go-live at month 30, rate ratio 0.90, the treated
area above every donor (at the edge of the pool), a common random-walk factor, a slow common cycle,
seasonality with area-specific amplitude, AR(1) area shocks, Poisson counts (evaltool.datasets.area_sim).
Synthetic DiD, synthetic control and DiD with placebo variance (all 20 placebo assignments); truth = the
expected difference per 1,000 person-years in the treated post-period months.

Scenario B (single series): the same generator without the random-walk factor and the slow cycle (the
counterfactual is trend + seasonality + AR(1) shocks): interrupted time series, quasi-Poisson with two
Fourier pairs and Newey-West errors; truth = rate ratio 0.90.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from evaltool.area.its import interrupted_time_series
from evaltool.area.sdid import synthdid
from evaltool.datasets.area_sim import simulate_area_panel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).parent / "_out" / "coverage.csv"))
    a = ap.parse_args()
    rows = []
    t0 = time.time()
    for rep in range(a.reps):
        s = simulate_area_panel(n_donors=20, n_months=48, go_live_month=30, rate_ratio=0.9, edge=True, seed=rep)
        p = s.panel.assign(rate=lambda d: 1000 * d["events"] / d["person_years"])
        truth = s.truth["difference_per_1000py_mean"]
        for m in ("sdid", "sc", "did"):
            r = synthdid(p, "rate", "area_id", "month", {"T": p["month"].sort_values().unique()[30]}, method=m)
            rows.append({"scenario": "A", "rep": rep, "method": m, "truth": truth, "estimate": r.estimate,
                         "ci_lower": r.ci_lower, "ci_upper": r.ci_upper})
        s2 = simulate_area_panel(n_donors=1, n_months=48, go_live_month=30, rate_ratio=0.9, walk_sd=0.0, cycle=0.0,
                                 seed=10_000 + rep)
        t = s2.panel[s2.panel.area_id == "T"].reset_index(drop=True)
        t["live"] = (np.arange(48) >= 30).astype(float)
        r = interrupted_time_series(t, family="quasi_poisson", impact=("level",), errors="newey_west")
        e = r.effect("level_change")
        rows.append({"scenario": "B", "rep": rep, "method": "its", "truth": 0.9, "estimate": e["estimate"],
                     "ci_lower": e["ci_lower"], "ci_upper": e["ci_upper"]})
        if rep % 20 == 19:
            print(f"{rep + 1} reps, {time.time() - t0:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, index=False)
    df["covered"] = (df["ci_lower"] <= df["truth"]) & (df["truth"] <= df["ci_upper"])
    df["err"] = np.where(df["method"] == "its", np.log(df["estimate"]) - np.log(df["truth"]),
                         df["estimate"] - df["truth"])
    summ = df.groupby(["scenario", "method"]).agg(reps=("rep", "count"), coverage=("covered", "mean"),
                                                   bias=("err", "mean"), sd=("err", "std")).reset_index()
    summ["mc_se_coverage"] = np.sqrt(summ["coverage"] * (1 - summ["coverage"]) / summ["reps"])
    print(summ.round(4).to_string(index=False))
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
