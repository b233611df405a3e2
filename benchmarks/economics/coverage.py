"""Coverage and bias of the economics bootstrap over simulated matched cohorts with a known truth.

Usage::

    nice python benchmarks/economics/coverage.py --reps 1000 --n-sets 400 --boot 2000

Each replication draws a matched cohort from :func:`evaltool.economics.simulate.simulate_economics`
(1 enrolled + 1-4 controls per set, gamma need shared within sets, a pre-index spike in both arms,
random deaths, emergency admissions and A&E with gamma costs per event, EQ-5D utilities with a
baseline imbalance) and runs :func:`evaltool.economics.economic_evaluation` with unit costs
(the spec's ``unit_costs`` mode) and with the data's cost column (``data`` mode), bootstrapping
matched sets jointly for costs and QALYs. It records each statistic's estimate and its percentile
and BCa intervals against the truth, then writes ``coverage_replications.csv`` and
``coverage_results.csv`` beside this file and prints the summary.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from evaltool.economics.evaluation import economic_evaluation
from evaltool.economics.simulate import simulate_economics

HERE = Path(__file__).parent
STATS = {  # statistic -> truth key
    "all|net_cost": "net_cost",
    "all|activity_cost|delta": "activity_cost_delta",
    "all|emergency_admission|delta": "admissions_delta",
    "all|qaly|incremental": "incremental_qalys",
    "all|nmb|20000": "nmb_20000",
    "all|nmb|30000": "nmb_30000",
}


def replicate(rep: int, n_sets: int, boot: int) -> list[dict]:
    sim = simulate_economics(n_sets=n_sets, seed=100_000 + rep)
    rows = []
    for mode, kw in (("unit_costs", {"unit_costs": sim.unit_costs}), ("data", {"cost_outcome": "cost"})):
        res = economic_evaluation(sim.stats, programme_cost=sim.programme_cost, qaly_design="matched",
                                  replicates=boot, seed=rep, **kw)
        for name, tkey in STATS.items():
            if mode == "data" and name in ("all|emergency_admission|delta", "all|qaly|incremental"):
                continue  # the same as in unit-cost mode
            b_lo, b_hi = res.interval(name, "bca")
            p_lo, p_hi = res.interval(name, "percentile")
            d = res.boot.draws[name]
            rows.append({"rep": rep, "mode": mode, "statistic": name, "truth": sim.truth[tkey],
                         "estimate": res.estimate(name), "boot_se": float(np.nanstd(d, ddof=1)),
                         "bca_lower": b_lo, "bca_upper": b_hi, "pct_lower": p_lo, "pct_upper": p_hi})
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    df = df.assign(err=df.estimate - df.truth,
                   bca_cover=(df.bca_lower <= df.truth) & (df.truth <= df.bca_upper),
                   pct_cover=(df.pct_lower <= df.truth) & (df.truth <= df.pct_upper))
    g = df.groupby(["mode", "statistic"], sort=False)
    out = pd.DataFrame({
        "reps": g.size(), "truth": g["truth"].first(), "mean_estimate": g["estimate"].mean(),
        "bias": g["err"].mean(), "bias_mc_se": g["err"].std() / np.sqrt(g.size()),
        "empirical_se": g["estimate"].std(), "mean_boot_se": g["boot_se"].mean(),
        "coverage_bca": g["bca_cover"].mean(), "coverage_percentile": g["pct_cover"].mean(),
    }).reset_index()
    out["bias_z"] = out["bias"] / out["bias_mc_se"]
    out["coverage_mc_se"] = np.sqrt(0.95 * 0.05 / out["reps"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--n-sets", type=int, default=400)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--tag", default="", help="suffix for the output files (e.g. _small)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    for rep in range(args.reps):
        rows += replicate(rep, args.n_sets, args.boot)
        if (rep + 1) % 50 == 0:
            print(f"{rep + 1} replications, {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(HERE / f"coverage_replications{args.tag}.csv", index=False, float_format="%.7g")
    summ = summarise(df)
    summ.to_csv(HERE / f"coverage_results{args.tag}.csv", index=False, float_format="%.6g")
    meta = {"reps": args.reps, "n_sets": args.n_sets, "bootstrap_replicates": args.boot,
            "seconds": round(time.perf_counter() - t0, 1)}
    (HERE / f"coverage_meta{args.tag}.json").write_text(json.dumps(meta, indent=2) + "\n")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summ.round(4).to_string(index=False))
    print(meta)


if __name__ == "__main__":
    main()
