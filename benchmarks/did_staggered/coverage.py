"""Coverage of 95% intervals for a practice roll-out TWFE effect with 25 clusters.

DGP: 25 practices x 12 quarters, staggered go-live for 5 practices (the rest never), a homogeneous
true effect of 0.5 (so TWFE is unbiased and only inference is at stake), practice and quarter
effects, AR(1) errors (rho 0.6) whose scale varies strongly between practices (log-normal, sd 0.8).
For each replication we record whether the interval covers the truth for:

* CR1 (fixest convention) with normal critical values,
* CR1 with t(G-1) critical values,
* the restricted wild cluster bootstrap (Webb weights; and Rademacher), CI by test inversion.

Run: ``python benchmarks/did_staggered/coverage.py [reps] [boot_reps] [staggered]`` (defaults 200 and 399);
with ``staggered`` the same DGP is used for Callaway & Sant'Anna and the imputation estimator; with
``poisson`` a count design checks the Poisson imputation rate ratio.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
from scipy import stats

from evaltool.effects.inference import ols, wild_cluster_bootstrap

G, T, N_TREATED, EFFECT = 25, 12, 5, 0.5


def simulate(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.repeat(np.arange(G), T)
    t = np.tile(np.arange(T), G)
    start = np.full(G, 10**6)
    treated = rng.choice(G, N_TREATED, replace=False)
    start[treated] = rng.integers(4, T - 1, N_TREATED)
    D = (t >= start[g]).astype(float)
    scale = np.exp(rng.normal(0, 0.8, G))
    e = np.empty((G, T))
    e[:, 0] = rng.normal(size=G)
    for k in range(1, T):
        e[:, k] = 0.6 * e[:, k - 1] + np.sqrt(1 - 0.36) * rng.normal(size=G)
    y = rng.normal(size=G)[g] + 0.1 * t + EFFECT * D + (scale[:, None] * e).ravel()
    Tm = (t[:, None] == np.arange(1, T)[None, :]).astype(float)
    U = (g[:, None] == np.arange(G)[None, :]).astype(float)
    return y, np.column_stack([D, Tm, U]), g


def run_coverage(reps: int = 200, seed: int = 20261122, boot_reps: int = 399) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    hits = {"cr1_normal": 0, "cr1_t": 0, "wcb_webb": 0, "wcb_rademacher": 0}
    z = stats.norm.ppf(0.975)
    q = stats.t.ppf(0.975, G - 1)
    for r in range(reps):
        y, X, g = simulate(rng)
        fit = ols(y, X, vcov="cluster", clusters=g, k_nested=G)
        b, se = fit.coef[0], fit.std_error[0]
        hits["cr1_normal"] += abs(b - EFFECT) <= z * se
        hits["cr1_t"] += abs(b - EFFECT) <= q * se
        for w in ("webb", "rademacher"):
            res = wild_cluster_bootstrap(y, X, g, 0, weights=w, reps=boot_reps, seed=seed + r, k_nested=G)
            hits[f"wcb_{w}"] += res.ci_lower <= EFFECT <= res.ci_upper
    return {k: v / reps for k, v in hits.items()}


def run_coverage_staggered(reps: int = 200, seed: int = 20261122, boot_reps: int = 199) -> dict[str, float]:
    """Same DGP; coverage of the overall ATT for Callaway & Sant'Anna (not yet treated, multiplier bootstrap
    with Webb weights at practice level) and the imputation estimator (BJS variance with t(G-1), and the wild
    cluster bootstrap-t)."""
    import warnings

    import pandas as pd

    from evaltool.effects.imputation import imputation
    from evaltool.effects.staggered import att_gt

    rng = np.random.default_rng(seed)
    hits = {"cs_multiplier_webb": 0, "cs_multiplier_webb_t": 0, "imputation_bjs_t": 0, "imputation_wcb_webb": 0}
    q = stats.t.ppf(0.975, G - 1)
    for r in range(reps):
        y, X, g = simulate(rng)
        t = np.tile(np.arange(T), G) + 1
        D = X[:, 0]
        first = pd.Series(np.where(D == 1, t, 10**6)).groupby(g).transform("min").to_numpy()
        d = pd.DataFrame({"y": y, "u": g, "t": t, "g": np.where(first < 10**6, first, 0)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cs = att_gt(d, "y", "u", "t", "g", control_group="not_yet_treated", reps=boot_reps, seed=seed + r,
                        weights="webb").aggregate("simple").overall
            im = imputation(d, "y", "u", "t", "g", horizons=[]).overall
            iw = imputation(d, "y", "u", "t", "g", horizons=[], wild_bootstrap=True, reps=boot_reps,
                            seed=seed + r).overall
        hits["cs_multiplier_webb"] += cs["ci_lower"] <= EFFECT <= cs["ci_upper"]
        hits["cs_multiplier_webb_t"] += abs(cs["estimate"] - EFFECT) <= q * cs["std_error"]
        hits["imputation_bjs_t"] += im["ci_lower"] <= EFFECT <= im["ci_upper"]
        hits["imputation_wcb_webb"] += iw["ci_lower"] <= EFFECT <= iw["ci_upper"]
    return {k: v / reps for k, v in hits.items()}


def run_coverage_poisson(reps: int = 200, seed: int = 20261122, rr: float = 0.9) -> dict[str, float]:
    """Counts: 25 practices x 16 quarters, ~2,500 person-years per practice-quarter, 15 practices going live at
    staggered quarters, true rate ratio ``rr``, practice-quarter gamma noise (overdispersion, sd ~0.08 on the log
    scale). Coverage of the Poisson imputation rate ratio with the practice jackknife and t(G-1)."""
    import pandas as pd

    from evaltool.effects.imputation import imputation

    rng = np.random.default_rng(seed)
    Gp, Tq = 25, 16
    hits = 0
    logs = []
    for _ in range(reps):
        u = np.repeat(np.arange(Gp), Tq)
        t = np.tile(np.arange(1, Tq + 1), Gp)
        first = np.zeros(Gp, int)
        live = rng.choice(Gp, 15, replace=False)
        first[live] = rng.integers(6, 14, 15)
        g = first[u]
        py = rng.uniform(1500, 3500, Gp)[u]
        mu = 0.03 * py * np.exp(rng.normal(0, 0.2, Gp)[u] + 0.1 * np.sin(t * np.pi / 2))
        mu = mu * np.where((g > 0) & (t >= g), rr, 1.0) * rng.gamma(150, 1 / 150, len(u))
        d = pd.DataFrame({"u": u, "t": t, "g": g, "y": rng.poisson(mu), "py": py})
        o = imputation(d, "y", "u", "t", "g", family="poisson", exposure="py", horizons=[]).overall
        hits += o["ci_lower"] <= rr <= o["ci_upper"]
        logs.append(np.log(o["estimate"]))
    return {"imputation_poisson_jackknife_t": hits / reps, "mean_rate_ratio": float(np.exp(np.mean(logs)))}


if __name__ == "__main__":
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    boot = int(sys.argv[2]) if len(sys.argv) > 2 else 399
    t0 = time.time()
    if len(sys.argv) > 3 and sys.argv[3] == "poisson":
        out = run_coverage_poisson(reps)
    elif len(sys.argv) > 3 and sys.argv[3] == "staggered":
        out = run_coverage_staggered(reps, boot_reps=boot)
    else:
        out = run_coverage(reps, boot_reps=boot)
    out["reps"] = reps
    out["boot_reps"] = boot
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=2))
