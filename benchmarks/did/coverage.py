"""Coverage of 95% CIs from the matched-cohort Poisson DiD over simulated replications.

Usage::

    python benchmarks/did/coverage.py --reps 200 --n-treated 500

Each replication simulates a 1:1 matched cohort with regression to the mean built in
(:func:`evaltool.effects.matched.simulate_matched_cohort`: both arms spiked before the index
date, deaths and de-registration censor follow-up), true rate ratio 0.8 under 65 and 1.0
for 65+, and fits :func:`evaltool.effects.matched.matched_did` end to end (DuckDB panel,
exact cells, person and month fixed effects, SEs clustered by matched pair). Reports bias,
empirical SE vs mean model SE, and coverage of the overall model (truth 0.8 for everyone,
a second simulation) and the subgroup model (truths 0.8 and 1.0).
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from evaltool.effects.matched import matched_did, simulate_matched_cohort
from evaltool.errors import EstimationWarning


def replicate(rep: int, n_treated: int, base_rate: float = 0.04, overall: bool = True) -> list[dict]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        coh, act, pop = simulate_matched_cohort(n_treated, rr_under65=0.8, rr_65plus=1.0, base_rate=base_rate,
                                                seed=10_000 + rep)
        r = matched_did(coh, act, pop, subgroups=["age_band"], cluster="subclass")
        for s, truth in (("under 65", 0.8), ("65+", 1.0)):
            e = r.effect(s)
            out.append({"rep": rep, "model": "subgroup", "subgroup": s, "truth": truth, "estimate": e["estimate"],
                        "std_error": e["std_error"], "ci_lower": e["ci_lower"], "ci_upper": e["ci_upper"]})
        if overall:
            coh, act, pop = simulate_matched_cohort(n_treated, rr_under65=0.8, rr_65plus=0.8, base_rate=base_rate,
                                                    seed=20_000 + rep)
            e = matched_did(coh, act, pop, cluster="subclass").effect("all")
            out.append({"rep": rep, "model": "overall", "subgroup": "all", "truth": 0.8, "estimate": e["estimate"],
                        "std_error": e["std_error"], "ci_lower": e["ci_lower"], "ci_upper": e["ci_upper"]})
    return out


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.assign(covered=(rows.ci_lower <= rows.truth) & (rows.truth <= rows.ci_upper),
                       log_est=np.log(rows.estimate), err=np.log(rows.estimate) - np.log(rows.truth))
    g = rows.groupby(["model", "subgroup", "truth"])
    return pd.DataFrame({
        "reps": g.size(),
        "mean_rr": g["estimate"].mean(),
        "bias_log_rr": g["err"].mean(),
        "empirical_se": g["log_est"].std(),
        "mean_model_se": g["std_error"].mean(),
        "coverage": g["covered"].mean(),
    }).reset_index()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n-treated", type=int, default=500)
    ap.add_argument("--base-rate", type=float, default=0.04, help="monthly emergency admission rate")
    ap.add_argument("--no-overall", action="store_true", help="only the subgroup model (halves the run time)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = [r for rep in range(args.reps)
            for r in replicate(rep, args.n_treated, args.base_rate, overall=not args.no_overall)]
    df = pd.DataFrame(rows)
    s = summarise(df)
    here = Path(__file__).resolve().parent
    s.to_csv(here / "coverage_results.csv", index=False)
    print(s.to_string(index=False))
    df.to_csv(here / "coverage_replications.csv", index=False)
    print(json.dumps({"reps": args.reps, "n_treated": args.n_treated, "base_rate": args.base_rate,
                      "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
