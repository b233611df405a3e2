"""Data preparation: evaltool's engine queries against a hand-written DuckDB SQL baseline.

Both build the same three things from the generated extract (``generate.py``), on one DuckDB with the
same memory limit and threads:

1. the clean tables: types, the spec's exclusions (index date outside the window, activity outside the
   window / registration / after death), counted;
2. matching covariates as of each enrolment month for everyone with events in the look-back windows
   (emergency admissions 12 and 3 months, A&E 12 months, emergency bed days 12 months);
3. the outcome panel of a cohort (each enrolled person plus three never-enrolled people sharing their
   index date): events per person and relative month, 12 months either side.

evaltool does more than the baseline in step 1 (every input check of the contract, example rows for
each problem found, the cohort flow); the ratio says how close the tool is to the engine's own speed.
Each side runs in its own subprocess; we report wall seconds per step and peak RSS.

Run::

    nice python benchmarks/scale/prep_vs_sql.py /data/national
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
import pandas as pd

WINDOW = ("2020-04-01", "2025-03-31")
COVS = {"emergency_admission_12m": ("emergency_admission", 12), "emergency_admission_3m": ("emergency_admission", 3),
        "ae_attendance_12m": ("ae_attendance", 12), "bed_days_12m": ("bed_days", 12)}


def _cohort(pop: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Each enrolled person and three never-enrolled people given their index date (same for both sides)."""
    rng = np.random.default_rng(seed)
    t = pop[pop["treated"] == 1][["person_id", "index_date"]]
    c = pop.loc[pop["treated"] == 0, "person_id"].to_numpy()
    ctrl = rng.choice(c, size=3 * len(t), replace=False)
    return pd.concat([t.assign(treated=1),
                      pd.DataFrame({"person_id": ctrl, "index_date": np.repeat(t["index_date"].to_numpy(), 3),
                                    "treated": 0})], ignore_index=True)


def run_evaltool(d: Path) -> dict:
    from evaltool.cohort import build_cohort
    from evaltool.effects.panels import build_panel
    from evaltool.inputs import load_inputs
    from evaltool.matching.riskset import PeriodCovariates, _month_index
    from evaltool.spec import load_spec

    spec = load_spec(d / "national.yaml")
    out = {}
    t = time.perf_counter()
    v = load_inputs(spec)
    c = build_cohort(v, min_age=spec.cohort.min_age)
    pop = c.population
    out["clean_tables"] = time.perf_counter() - t
    t = time.perf_counter()
    ws = pd.Timestamp(WINDOW[0])
    per = np.unique(_month_index(pop.loc[pop.treated == 1, "index_date"], ws).astype(np.int64))
    pc = PeriodCovariates(c.activity_table, per, ws, COVS)
    n_cov = sum(len(pc.at(int(p))) for p in per)
    out["covariates"] = time.perf_counter() - t
    t = time.perf_counter()
    coh = _cohort(pop)
    panel = build_panel(coh, c.activity_table, pop, outcomes=["emergency_admission", "ae_attendance", "bed_days"],
                        pre_months=12, post_months=12, window_start=WINDOW[0], window_end=WINDOW[1])
    out["panel"] = time.perf_counter() - t
    out["rows"] = {"covariate_rows": int(n_cov), "panel_event_rows": int(len(panel.events)),
                   "people": int(len(pop))}
    return out


SQL_CLEAN = """
CREATE TEMP TABLE pop AS
SELECT person_id, practice_id, sex, birth_date, treated, index_date, registration_start, registration_end, death_date
FROM read_parquet('{d}/population.parquet')
WHERE NOT (treated = 1 AND (index_date < DATE '{w0}' OR index_date > DATE '2024-03-31'));
CREATE TEMP TABLE act AS
SELECT a.person_id, a.date, a.setting, a.bed_days, a.cost
FROM read_parquet('{d}/activity.parquet') a JOIN pop p USING (person_id)
WHERE a.date BETWEEN DATE '{w0}' AND DATE '{w1}'
  AND (p.death_date IS NULL OR a.date <= p.death_date)
  AND (p.registration_start IS NULL OR a.date >= p.registration_start)
  AND (p.registration_end IS NULL OR a.date <= p.registration_end);
"""

SQL_PM = """
CREATE TEMP TABLE pm AS
SELECT person_id, (year(date) - 2020) * 12 + month(date) - 4 AS m,
       sum(CASE WHEN setting = 'emergency_admission' THEN 1 ELSE 0 END) AS ea,
       sum(CASE WHEN setting = 'ae_attendance' THEN 1 ELSE 0 END) AS ae,
       sum(CASE WHEN setting = 'emergency_admission' THEN coalesce(bed_days, 0) ELSE 0 END) AS bd
FROM act GROUP BY ALL;
"""

SQL_COV = """
SELECT person_id,
       sum(CASE WHEN m >= {p} - 12 THEN ea ELSE 0 END)::DOUBLE AS emergency_admission_12m,
       sum(CASE WHEN m >= {p} - 3 THEN ea ELSE 0 END)::DOUBLE AS emergency_admission_3m,
       sum(CASE WHEN m >= {p} - 12 THEN ae ELSE 0 END)::DOUBLE AS ae_attendance_12m,
       sum(CASE WHEN m >= {p} - 12 THEN bd ELSE 0 END)::DOUBLE AS bed_days_12m
FROM pm WHERE m < {p} AND m >= {p} - 12 GROUP BY person_id ORDER BY person_id
"""

SQL_PANEL = """
SELECT c.unit_id, c.person_id, floor(date_diff('day', c.index_date, a.date) / (365.25 / 12))::BIGINT AS period,
       sum(CASE WHEN a.setting = 'emergency_admission' THEN 1 ELSE 0 END)::DOUBLE AS emergency_admission,
       sum(CASE WHEN a.setting = 'ae_attendance' THEN 1 ELSE 0 END)::DOUBLE AS ae_attendance,
       sum(CASE WHEN a.setting IN ('emergency_admission', 'elective_admission')
                THEN coalesce(a.bed_days, 0) ELSE 0 END)::DOUBLE AS bed_days
FROM coh c JOIN act a ON a.person_id = c.person_id
WHERE date_diff('day', c.index_date, a.date) >= -366 AND date_diff('day', c.index_date, a.date) < 366
GROUP BY ALL ORDER BY c.unit_id, period
"""


def run_sql(d: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit='3GB'")
    con.execute("SET threads=2")
    out = {}
    t = time.perf_counter()
    con.execute(SQL_CLEAN.format(d=d, w0=WINDOW[0], w1=WINDOW[1]))
    pop = con.execute("SELECT person_id, treated, index_date FROM pop").df()
    out["clean_tables"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute(SQL_PM)
    idx = pd.to_datetime(pop.loc[pop.treated == 1, "index_date"])
    per = np.unique((idx.dt.year - 2020) * 12 + idx.dt.month - 4)
    n_cov = sum(len(con.execute(SQL_COV.format(p=int(p))).df()) for p in per)
    out["covariates"] = time.perf_counter() - t
    t = time.perf_counter()
    coh = _cohort(pop).reset_index(names="unit_id")
    coh["index_date"] = pd.to_datetime(coh["index_date"])
    con.register("coh_df", coh)
    con.execute("CREATE TEMP TABLE coh AS SELECT * FROM coh_df")
    ev = con.execute(SQL_PANEL).df()
    out["panel"] = time.perf_counter() - t
    out["rows"] = {"covariate_rows": int(n_cov), "panel_event_rows": int(len(ev)), "people": int(len(pop))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        res = (run_evaltool if a.one == "evaltool" else run_sql)(a.data.resolve())
        res["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(json.dumps(res))
        return
    rows = []
    for side in ("sql", "evaltool"):
        load = os.getloadavg()[0]
        r = subprocess.run([sys.executable, __file__, str(a.data), "--one", side], capture_output=True, text=True,
                           check=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res.update(side=side, load_before=round(load, 1), load_after=round(os.getloadavg()[0], 1))
        rows.append(res)
        print(json.dumps(res), flush=True)
    s, e = rows
    total = {k: sum(r[k] for k in ("clean_tables", "covariates", "panel")) for k, r in (("sql", s), ("evaltool", e))}
    print(json.dumps({"prep_seconds": total, "ratio": round(total["evaltool"] / total["sql"], 2)}))


if __name__ == "__main__":
    main()
