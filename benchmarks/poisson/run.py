"""Poisson FE fit on a panel that does not collapse: evaltool vs pyfixest ``fepois``.

200,000 people x 36 months = 7.2M rows; ``y ~ D + x | person + month`` with ``x`` a continuous
time-varying covariate (so no two rows share a design row and exact cell compression is impossible),
practice-clustered SEs (200 practices). Each method runs in its own subprocess; we report the fit's
wall time (data already in memory) and the process's peak RSS (``getrusage``, includes the data).

evaltool fits with :class:`evaltool.effects.coded.CodedDesign`: month dummies and ``D`` as codes of
their 72 distinct rows, ``x`` as the one dense column.

Run::

    nice python benchmarks/poisson/run.py --people 200000 --months 36   # writes results.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def generate(n: int, T: int, seed: int = 20261201) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(n, dtype=np.int64), T)
    month = np.tile(np.arange(T, dtype=np.int64), n)
    practice = rng.integers(0, 200, n)[person]
    treated = (rng.random(n) < 0.4)[person]
    D = (treated & (month >= T // 2)).astype(float)
    x = rng.normal(size=n * T) + 0.3 * np.sin(month / 6.0)
    alpha = rng.normal(0, 0.9, n)[person]
    gamma = 0.01 * month
    lam = np.exp(-2.5 + alpha + gamma - 0.2 * D + 0.15 * x)
    y = rng.poisson(lam).astype(float)
    return {"person": person, "month": month, "practice": practice, "D": D, "x": x, "y": y,
            "treated": treated.astype(np.int64)}


def _fit(method: str, n: int, T: int) -> dict:
    d = generate(n, T)
    t0 = time.perf_counter()
    if method == "evaltool":
        from evaltool.effects.coded import CodedDesign
        from evaltool.effects.poisson import fepois

        t0 = time.perf_counter()
        # Distinct rows of (month, D): month dummies (month 0 absorbed by the person effect) and D.
        code = d["month"] * 2 + d["D"].astype(np.int64)
        G = 2 * T
        Dm = np.zeros((G, T))
        for g in range(G):
            m, dd = divmod(g, 2)
            if m > 0:
                Dm[g, m - 1] = 1.0
            Dm[g, T - 1] = dd
        cd = CodedDesign(code, Dm, d["x"][:, None])
        f = fepois(d["y"], cd, d["person"], cluster=d["practice"])
        coef = {"D": float(f.coef[T - 1]), "x": float(f.coef[T])}
        se = {"D": float(f.std_error()[T - 1]), "x": float(f.std_error()[T])}
    else:
        import pandas as pd
        import pyfixest as pf

        df = pd.DataFrame({k: d[k] for k in ("y", "D", "x", "person", "month", "practice")})
        t0 = time.perf_counter()
        m = pf.fepois("y ~ D + x | person + month", data=df, vcov={"CRV1": "practice"})
        coef = {k: float(m.coef()[k]) for k in ("D", "x")}
        se = {k: float(m.se()[k]) for k in ("D", "x")}
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {"method": method, "rows": n * T, "fit_seconds": round(secs, 2), "peak_rss_gb": round(rss, 2),
            "coef": coef, "se": se}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=200_000)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--methods", default="evaltool,pyfixest")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(_fit(a.one, a.people, a.months)))
        return
    out = []
    for m in a.methods.split(","):
        load = os.getloadavg()[0]
        r = subprocess.run([sys.executable, __file__, "--one", m, "--people", str(a.people), "--months",
                            str(a.months)], capture_output=True, text=True, check=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["load_before"] = round(load, 1)
        res["load_after"] = round(os.getloadavg()[0], 1)
        print(json.dumps(res))
        out.append(res)
    (HERE / "results.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
