"""Benchmark: Poisson DiD with person and month fixed effects, practice-clustered SEs.

Usage::

    python benchmarks/did/run.py --people 1000000 --months 36 [--skip-peers] [--peer-people 200000]

Generates a balanced person-month panel (written once to a Parquet file), then runs each
method in its own subprocess (``/usr/bin/time``-style peak RSS from ``resource.getrusage``
of the child; wall time of load + fit and of the fit alone):

* evaltool: dense panel -> exact cells (:func:`evaltool.effects.compress.compress_dense`)
  -> :func:`evaltool.effects.poisson.fepois` (and :func:`feols_fe` for the linear model);
* evaltool from sparse events (the pipeline's own path: person table + event rows only);
* pyfixest ``fepois`` and ``feols``; linearmodels ``PanelOLS``.

Prints a Markdown table and writes ``benchmarks/did/results.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EVALTOOL_BENCH_DIR", "/tmp/evaltool_bench_did"))


def generate(n: int, T: int, seed: int = 20261122, n_practices: int = 200) -> Path:
    import pandas as pd

    path = DATA / f"panel_{n}_{T}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    practice = rng.integers(0, n_practices, n).astype(np.int16)
    treated = (rng.random(n) < 0.3 + 0.2 * (practice % 2)).astype(np.int8)
    alpha = rng.normal(np.log(0.05), 0.9, n)
    month = np.tile(np.arange(T, dtype=np.int16), n)
    person = np.repeat(np.arange(n, dtype=np.int32), T)
    season = 0.1 * np.sin(2 * np.pi * np.arange(T) / 12)
    post = (np.arange(T) >= T // 2)
    D = (treated[person] * post[month]).astype(np.int8)
    lam = np.exp(alpha[person] + season[month] - 0.2 * D + rng.normal(0, 0.05, n_practices)[practice][person])
    y = rng.poisson(lam).astype(np.int16)
    df = pd.DataFrame({"person": person, "month": month, "practice": practice[person], "treated": treated[person],
                       "D": D, "y": y})
    df.to_parquet(path, index=False)
    return path


# ---- one method per subprocess ---------------------------------------------------------------
def _run_method(method: str, path: str, n_people: int | None) -> dict:
    import pandas as pd

    # Import each method's modules before the clock starts (imports are not the fit).
    if method.startswith("evaltool"):
        import evaltool.effects.compress
        import evaltool.effects.poisson  # noqa: F401
    elif method.startswith("pyfixest"):
        import pyfixest  # noqa: F401
    else:
        import linearmodels.panel  # noqa: F401
    t0 = time.perf_counter()
    cols = ["person", "month", "practice", "treated", "D", "y"]
    if method in ("evaltool_fepois", "evaltool_feols"):
        # Our path needs no pandas frame: Arrow columns straight to numpy (no copy for numeric columns).
        import pyarrow.parquet as pq

        tab = pq.read_table(path, columns=["person", "month", "practice", "treated", "y"])
        arr = {c: tab.column(c).to_numpy() for c in tab.column_names}
        del tab
        if n_people is not None:
            keep = arr["person"] < n_people
            arr = {c: v[keep] for c, v in arr.items()}
        df = None
    else:
        df = pd.read_parquet(path, columns=cols)
        if n_people is not None:
            df = df[df["person"] < n_people]
    t1 = time.perf_counter()
    out: dict = {"method": method, "rows": len(df) if df is not None else len(arr["person"])}
    if method == "evaltool_fepois" or method == "evaltool_feols":
        from evaltool.effects.compress import compress_dense
        from evaltool.effects.poisson import feols_fe, fepois

        person = arr["person"]
        month = arr["month"]
        y = arr["y"]
        n_u = int(person.max()) + 1
        first = np.zeros(n_u, dtype=np.int64)
        first[person[::-1]] = np.arange(len(person))[::-1]
        c = compress_dense(person, month, y, arr["practice"][first], arr["treated"][first])
        T = int(month.max()) + 1
        Xd = np.zeros((len(c.period), T - 1))
        Xd[c.period > 0, c.period[c.period > 0] - 1] = 1.0
        D = (c.covariates * (c.period >= T // 2)).astype(float)
        X = np.column_stack([D, Xd])
        if method == "evaltool_fepois":
            f = fepois(c.y, X, c.cell_unit, exposure=c.exposure, cluster=c.cluster, n_obs=c.n_obs_nonzero,
                       n_clusters=c.n_clusters_nonzero)
        else:
            if not c.balanced:
                raise SystemExit("linear compression needs a balanced panel")
            f = feols_fe(c.y / c.n_people, X, c.cell_unit, weights=c.n_people.astype(float), cluster=c.cluster,
                         n_obs=c.n_obs, n_clusters=c.n_clusters)
        out.update(coef=float(f.coef[0]), se=float(f.std_error()[0]), cells=len(c.y))
    elif method == "evaltool_sparse":
        # The pipeline's path: a person table and event rows only (the dense panel is never built).
        from evaltool.effects.poisson import fepois

        ev = df.loc[df["y"] > 0, ["person", "month", "y"]]
        persons = df.loc[df["month"] == 0, ["person", "practice", "treated"]]
        del df
        t1 = time.perf_counter()  # time from the sparse inputs
        T = int(ev["month"].max()) + 1
        key = persons["practice"].to_numpy().astype(np.int64) * 2 + persons["treated"].to_numpy()
        code_of_person = np.zeros(int(persons["person"].max()) + 1, dtype=np.int64)
        code_of_person[persons["person"].to_numpy()] = key
        Ysum = np.bincount(ev["person"].to_numpy(), weights=ev["y"].to_numpy(), minlength=len(code_of_person))
        n_cu = int(key.max()) + 1
        flat = code_of_person[ev["person"].to_numpy()] * T + ev["month"].to_numpy()
        yc = np.bincount(flat, weights=ev["y"].to_numpy().astype(float), minlength=n_cu * T)
        n_people = np.bincount(key, minlength=n_cu)
        n_pos = np.bincount(key, weights=(Ysum[persons["person"].to_numpy()] > 0), minlength=n_cu)
        ec = np.repeat(n_people, T).astype(float)
        rows = np.flatnonzero(ec > 0)
        u, p = rows // T, rows % T
        Xd = np.zeros((len(rows), T - 1))
        Xd[p > 0, p[p > 0] - 1] = 1.0
        X = np.column_stack([((u % 2) * (p >= T // 2)).astype(float), Xd])
        pos_people = Ysum[persons["person"].to_numpy()] > 0
        f = fepois(yc[rows], X, u, exposure=ec[rows], cluster=u // 2, n_obs=int(n_pos.sum() * T),
                   n_clusters=len(np.unique(persons["practice"].to_numpy()[pos_people])))
        out.update(coef=float(f.coef[0]), se=float(f.std_error()[0]), cells=len(rows))
    elif method == "pyfixest_fepois":
        import pyfixest as pf

        m = pf.fepois("y ~ D | person + month", data=df, vcov={"CRV1": "practice"})
        out.update(coef=float(m.coef()["D"]), se=float(m.se()["D"]))
    elif method == "pyfixest_feols":
        import pyfixest as pf

        m = pf.feols("y ~ D | person + month", data=df, vcov={"CRV1": "practice"})
        out.update(coef=float(m.coef()["D"]), se=float(m.se()["D"]))
    elif method == "linearmodels_panelols":
        from linearmodels.panel import PanelOLS

        d = df.set_index(["person", "month"])
        m = PanelOLS(d["y"].astype(float), d[["D"]].astype(float), entity_effects=True, time_effects=True)
        r = m.fit(cov_type="clustered", clusters=d["practice"])
        out.update(coef=float(r.params["D"]), se=float(r.std_errors["D"]))
    t2 = time.perf_counter()
    out.update(load_seconds=t1 - t0, fit_seconds=t2 - t1, total_seconds=t2 - t0)
    return out


def run_in_subprocess(method: str, path: Path, n_people: int | None, blas1: bool = False) -> dict:
    code = (f"import json, resource, sys; sys.path.insert(0, {str(HERE)!r}); import run; "
            f"r = run._run_method({method!r}, {str(path)!r}, {n_people!r}); "
            "r['peak_rss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2; print(json.dumps(r))")
    t0 = time.perf_counter()
    env = dict(os.environ)
    if blas1:
        # Our fits multiply small matrices: on a busy 2-core machine multi-threaded BLAS spins (10x slower).
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE, env=env,
                       check=False)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"method": method, "error": p.stderr[-2000:], "process_seconds": wall}
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["process_seconds"] = wall
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--peer-people", type=int, default=None, help="run peers on the first N people only")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--methods", default=None, help="comma-separated subset")
    args = ap.parse_args()
    path = generate(args.people, args.months)
    ours = ["evaltool_fepois+blas1", "evaltool_sparse+blas1", "evaltool_feols+blas1", "evaltool_fepois"]
    peers = [] if args.skip_peers else ["pyfixest_fepois", "pyfixest_feols", "linearmodels_panelols"]
    methods = args.methods.split(",") if args.methods else ours + peers
    results = []
    for m in methods:
        n = args.peer_people if (m in peers and args.peer_people) else None
        r = run_in_subprocess(m.split("+")[0], path, n, blas1=m.endswith("+blas1"))
        r["method"] = m
        if n is not None:
            # The same people for ours, to compare estimates on identical data.
            r["people"] = n
        else:
            r["people"] = args.people
        print(json.dumps(r), flush=True)
        results.append(r)
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    print("\n| method | people | rows | coef | SE | fit s | load+fit s | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['method']} | error | | | | | | |")
            continue
        print(f"| {r['method']} | {r['people']:,} | {r['rows']:,} | {r['coef']:.9f} | {r['se']:.9f} | "
              f"{r['fit_seconds']:.2f} | {r['total_seconds']:.2f} | {r['peak_rss_gb']:.2f} |")


if __name__ == "__main__":
    main()
