"""Benchmark: evaltool vs R MatchIt (Debian's r-cran-matchit, 4.5.1) vs pymatch 0.3.4.

10,000 treated against 100,000 and 1,000,000 candidates, 8 covariates, 1:1 nearest neighbour on a logistic
propensity score with a caliper of 0.2 SD and exact matching on sex. Each tool runs in its own process;
we report the wall time of the matching call (propensity model + matching), the peak resident memory of
that process, and the max |SMD| after matching computed the same way for every tool (evaltool's balance
registry: SD of the treated before matching) from the weights each tool returns.

Usage (from the repository root)::

    python benchmarks/matching/run.py                       # all sizes, all tools
    python benchmarks/matching/run.py --sizes 100000 --tools evaltool matchit

pymatch needs its own environment (it crashes with pandas >= 2)::

    python3 -m venv /tmp/pymatch-venv
    /tmp/pymatch-venv/bin/pip install "pymatch==0.3.4" "pandas<2" "numpy<1.24" "scipy<1.12" "statsmodels<0.14"
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
COVS = ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "sex"]
N_TREATED = 10_000
PYMATCH_PY = os.environ.get("PYMATCH_PYTHON", "/tmp/pymatch-venv/bin/python")


def simulate(n_control: int, seed: int = 20261122) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = N_TREATED + n_control
    t = np.r_[np.ones(N_TREATED, dtype=int), np.zeros(n_control, dtype=int)]
    shift = np.where(t == 1, 1.0, 0.0)
    df = pd.DataFrame({
        "x1": rng.normal(0.5 * shift, 1.0),
        "x2": rng.normal(0.3 * shift, 1.0),
        "x3": rng.gamma(2.0 + 0.5 * shift, 1.0),
        "x4": rng.poisson(1.0 + 0.6 * shift).astype(float),
        "x5": rng.normal(-0.2 * shift, 1.0 + 0.2 * shift),
        "x6": rng.uniform(0, 1 + 0.3 * shift),
        "x7": (rng.random(n) < 0.3 + 0.2 * shift).astype(int),
        "sex": (rng.random(n) < 0.5 - 0.05 * shift).astype(int),
        "treat": t,
    })
    return df.sample(frac=1.0, random_state=1).reset_index(drop=True)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- workers (run in a child process)
def worker_evaltool(csv: str, out: str) -> None:
    sys.path.insert(0, str(HERE.parents[1]))
    import warnings

    import evaltool.matching as M

    df = pd.read_csv(csv)
    base = _peak_mb()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = M.match(df, "treat", COVS, caliper=0.2, exact=["sex"])
    secs = time.perf_counter() - t0
    pd.DataFrame({"weights": res.weights}).to_csv(out, index=False)
    print(json.dumps({"seconds": secs, "peak_mb": _peak_mb(), "peak_mb_before_call": base}))


R_SCRIPT = r"""
suppressMessages({library(MatchIt); library(data.table)})
args <- commandArgs(trailingOnly = TRUE)
df <- as.data.frame(fread(args[1]))
invisible(gc(reset = TRUE))
t <- system.time(m <- matchit(treat ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + sex, data = df,
                              method = "nearest", caliper = 0.2, exact = ~ sex))
g <- gc()
fwrite(data.frame(weights = m$weights), args[2])
cat(sprintf('{"seconds": %f, "r_max_used_mb": %f, "version": "%s"}\n', t[["elapsed"]], sum(g[, 6]),
            as.character(packageVersion("MatchIt"))))
"""

PYMATCH_SCRIPT = r"""
import json, sys, time, resource, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
from pymatch.Matcher import Matcher
# pymatch 0.3.4 compares a DataFrame with an array in its accuracy report and crashes; the score model itself
# is fine, so the accuracy is skipped (a workaround, not a change to its matching).
Matcher._scores_to_accuracy = lambda self, m, X, y: float("nan")
df = pd.read_csv(sys.argv[1])
df["row"] = np.arange(len(df))
test, control = df[df.treat == 1], df[df.treat == 0]
t0 = time.perf_counter()
m = Matcher(test, control, yvar="treat", exclude=["row"])
m.fit_scores(balance=False, nmodels=1)
m.predict_scores()
sd = np.std(np.log(m.data.scores / (1 - m.data.scores)))
m.match(method="min", nmatches=1, threshold=0.2 * np.std(m.data.scores))
secs = time.perf_counter() - t0
md = m.matched_data
w = np.zeros(len(df))
# pymatch matches with replacement and returns one row per use: turn uses into MatchIt-style ATT weights
uses = md[md.treat == 0].groupby("row").size()
t_rows = md[md.treat == 1]["row"].unique()
w[t_rows] = 1.0
w[uses.index.values] = uses.values
c = df.treat.values == 0
if w[c].sum() > 0:
    w[c] *= (w[c] > 0).sum() / w[c].sum()
pd.DataFrame({"weights": w}).to_csv(sys.argv[2], index=False)
print(json.dumps({"seconds": secs, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(cmd: list[str], timeout: float) -> tuple[dict | None, str, float]:
    """Run a worker under GNU time (peak RSS of the whole process, reading the CSV included)."""
    if shutil.which("time") or Path("/usr/bin/time").exists():
        cmd = ["/usr/bin/time", "-f", "MAXRSS_KB %M", *cmd]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", time.perf_counter() - t0
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        err = [ln for ln in p.stderr.strip().splitlines() if not ln.startswith("MAXRSS_KB")]
        return None, (err or ["failed"])[-1][:200], wall
    info = json.loads(p.stdout.strip().splitlines()[-1])
    for ln in p.stderr.splitlines():
        if ln.startswith("MAXRSS_KB"):
            info["peak_mb"] = int(ln.split()[1]) / 1024
    return info, "", wall


def max_abs_smd(df: pd.DataFrame, weights: np.ndarray) -> tuple[float, int]:
    sys.path.insert(0, str(HERE.parents[1]))
    from evaltool.matching.balance import balance_table

    bt = balance_table(df[COVS].astype(float), df["treat"].to_numpy(), weights)
    return float(bt["smd_after"].abs().max()), int(((df.treat == 1) & (weights > 0)).sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--tools", nargs="*", default=["evaltool", "matchit", "pymatch"])
    ap.add_argument("--pymatch-max", type=int, default=100_000, help="largest pool pymatch is run on")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    ap.add_argument("--wout", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker == "evaltool":
        worker_evaltool(a.csv, a.wout)
        return
    tmp = Path(tempfile.mkdtemp(prefix="evaltool_bench_"))
    rows = []
    for n0 in a.sizes:
        df = simulate(n0)
        csv = tmp / f"data_{n0}.csv"
        df.to_csv(csv, index=False)
        for tool in a.tools:
            wout = tmp / f"w_{tool}_{n0}.csv"
            if tool == "evaltool":
                info, err, wall = _run([sys.executable, __file__, "--worker", "evaltool", "--csv", str(csv),
                                        "--wout", str(wout)], a.timeout)
                label = "evaltool"
            elif tool == "matchit":
                if shutil.which("Rscript") is None:
                    rows.append({"tool": "MatchIt", "n_control": n0, "status": "R not installed"})
                    continue
                rs = tmp / "bench.R"
                rs.write_text(R_SCRIPT)
                info, err, wall = _run(["Rscript", str(rs), str(csv), str(wout)], a.timeout)
                label = f"MatchIt {info.get('version', '4.5.1') if info else '4.5.1'} (Debian)"
            else:
                label = "pymatch 0.3.4"
                if n0 > a.pymatch_max:
                    rows.append({"tool": label, "n_control": n0, "status": f"not run (> {a.pymatch_max:,} candidates)"})
                    continue
                if not Path(PYMATCH_PY).exists():
                    rows.append({"tool": label, "n_control": n0, "status": "pymatch venv missing"})
                    continue
                ps = tmp / "bench_pymatch.py"
                ps.write_text(PYMATCH_SCRIPT)
                info, err, wall = _run([PYMATCH_PY, str(ps), str(csv), str(wout)], a.timeout)
            if info is None:
                rows.append({"tool": label, "n_control": n0, "status": err})
                print(rows[-1], flush=True)
                continue
            w = pd.read_csv(wout)["weights"].to_numpy()
            smd, n_m = max_abs_smd(df, w)
            rows.append({"tool": label, "n_control": n0, "status": "ok", "seconds": round(info["seconds"], 2),
                         "process_seconds": round(wall, 2),
                         "peak_mb": round(info.get("peak_mb", float("nan")), 0),
                         "max_abs_smd_after": round(smd, 4), "n_treated_matched": n_m})
            print(rows[-1], flush=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))
    print(pd.DataFrame(rows).to_markdown(index=False) if _has_tabulate() else pd.DataFrame(rows).to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate
    except ImportError:
        return False
    return tabulate is not None


if __name__ == "__main__":
    main()
