"""A synthetic national extract in input contract v1, written in chunks (never held in memory whole).

Default: 10 million people in 6,500 practices, about 100 million activity rows over five years
(2020-04 to 2025-03), 50,000 people enrolled in case management over 36 months (2021-04 to 2024-03).
Rules differ from Southvale's on purpose: gamma-distributed person frailty, practice effects, a
six-month pre-enrolment spike in emergency admissions for the enrolled (selection on recent use,
which regression to the mean undoes), and a true rate ratio of 0.85 for emergency admissions after
enrolment under 65 (1.0 at 65 and over).

Writes ``<out>/population.parquet``, ``activity.parquet`` (row groups per chunk), ``practices.parquet``,
``truth.json`` and ``national.yaml`` (the evaluation spec, relative paths).

Run::

    nice python benchmarks/scale/generate.py /data/national --people 10000000 --activity-per-person 10
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

W0 = np.datetime64("2020-04-01")
W1 = np.datetime64("2025-03-31")
E0, E1 = np.datetime64("2021-04-01"), np.datetime64("2024-03-31")  # enrolment
SETTINGS = np.array(["gp_contact", "outpatient_attendance", "ae_attendance", "emergency_admission",
                     "elective_admission", "care_home_admission"])
NA = -(10**9)  # missing date (day numbers before 1970 are negative, so not -1)
MIX = np.array([0.52, 0.20, 0.12, 0.09, 0.065, 0.005])
COST = np.array([40.0, 160.0, 190.0, 2900.0, 2400.0, 850.0])


def _days(d: np.ndarray) -> np.ndarray:
    return d.astype("datetime64[D]").astype(np.int64)


def practices_table(n_practices: int, rng: np.random.Generator) -> pa.Table:
    ids = np.array([f"P{i:05d}" for i in range(n_practices)])
    live = rng.random(n_practices) < 0.5
    start = _days(E0) + rng.integers(0, _days(E1) - _days(E0), n_practices)
    go = np.where(live, start, np.iinfo(np.int64).min)
    go_arr = pa.array([int(g) if ok else None for g, ok in zip(go, live)], type=pa.int32()).cast(pa.date32())
    return pa.table({"practice_id": ids, "neighbourhood": [f"N{i // 25:03d}" for i in range(n_practices)],
                     "go_live_date": go_arr, "list_size": rng.integers(800, 3000, n_practices).astype(float)})


def chunk(start: int, n: int, n_practices: int, enrol_share: float, rate: float, rng: np.random.Generator):
    """One chunk of people and their activity (arrow tables)."""
    pid = pa.array([f"X{start + i:09d}" for i in range(n)])
    practice = rng.integers(0, n_practices, n)
    prac_fx = np.random.default_rng(practice.max() + 7).normal(0, 0.15, n_practices)[practice]
    age = np.clip(rng.gamma(2.2, 19.0, n), 0, 104)
    birth = _days(W0) - (age * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    sex = np.where(rng.random(n) < 0.51, "F", "M")
    imd = rng.integers(1, 6, n)
    ltc = rng.poisson(np.clip((age - 30) / 15, 0.05, None))
    frailty = np.select([age < 65, rng.random(n) < 0.5, rng.random(n) < 0.6], ["fit", "mild", "moderate"], "severe")
    lin = -4.5 + 0.035 * age + 0.35 * ltc + 0.15 * (5 - imd) + prac_fx
    risk = 1 / (1 + np.exp(-lin))
    reg_start = np.where(rng.random(n) < 0.1, _days(W0) + rng.integers(0, 1800, n), _days(W0) - rng.integers(30, 9000, n))
    reg_start = np.maximum(reg_start, birth)
    left = rng.random(n) < 0.08
    reg_end = np.where(left, np.maximum(_days(W0) + rng.integers(0, 1825, n), reg_start + 30), NA)
    died = rng.random(n) < np.clip(0.0004 * np.exp(age / 14), 0, 0.5)
    death = np.where(died, np.maximum(_days(W0) + rng.integers(0, 1825, n), reg_start + 1), NA)
    # follow-up span within the window
    f0 = np.maximum(reg_start, _days(W0))
    f1 = _days(W1) + 1
    f1 = np.where(reg_end != NA, np.minimum(f1, reg_end + 1), f1)
    f1 = np.where(death != NA, np.minimum(f1, death + 1), f1)
    # enrolment: adults, by risk; index date alive and registered, 36 months
    e_lo, e_hi = np.maximum(f0, _days(E0)), np.minimum(f1 - 1, _days(E1))
    ok = (age >= 18) & (e_hi > e_lo)
    w = np.where(ok, risk ** 2, 0.0)
    n_enrol = min(int(round(enrol_share * n)), int(ok.sum()))
    enrolled = np.zeros(n, bool)
    if n_enrol:
        enrolled[rng.choice(n, n_enrol, replace=False, p=w / w.sum())] = True
    index = np.where(enrolled, e_lo + (rng.random(n) * (e_hi - e_lo)).astype(np.int64), NA)

    frail = rng.gamma(1.3, 1 / 1.3, n)
    lam = rate * frail * np.exp(0.012 * (age - 40) + 0.12 * ltc + prac_fx) / 365.25  # events per day
    years = np.clip(f1 - f0, 0, None)
    k = rng.poisson(lam * years)
    # enrolled: a spike of emergency admissions in the 6 months before index (selection on recent use)
    spike = np.where(enrolled, rng.poisson(1.6, n), 0)
    person = np.repeat(np.arange(n), k)
    day = f0[person] + (rng.random(person.size) * years[person]).astype(np.int64)
    setting = rng.choice(len(SETTINGS), person.size, p=MIX)
    # effect of case management after index: emergency admissions x 0.85 under 65 (thinning)
    post = enrolled[person] & (day >= index[person]) & (setting == 3)
    drop = post & (age[person] < 65) & (rng.random(person.size) < 0.15)
    person, day, setting = person[~drop], day[~drop], setting[~drop]
    sp = np.repeat(np.arange(n), spike)
    sd = index[sp] - rng.integers(1, 183, sp.size)
    keep_sp = sd >= f0[sp]
    person = np.concatenate([person, sp[keep_sp]])
    day = np.concatenate([day, sd[keep_sp]])
    setting = np.concatenate([setting, np.full(int(keep_sp.sum()), 3)])
    adm = (setting == 3) | (setting == 4)
    bed = np.where(adm, rng.geometric(0.22, person.size) - 1, np.nan)
    cost = np.round(COST[setting] * rng.gamma(4.0, 0.25, person.size), 2)
    order = np.lexsort((day, person))
    person, day, setting, bed, cost = person[order], day[order], setting[order], bed[order], cost[order]

    def dates(x: np.ndarray) -> pa.Array:
        return pa.array(np.where(x != NA, x, 0).astype(np.int32), mask=x == NA, type=pa.int32()).cast(pa.date32())

    pop = pa.table({
        "person_id": pid, "practice_id": pa.array(practice).cast(pa.string()),
        "sex": sex, "birth_date": dates(birth), "treated": enrolled.astype(np.int64), "index_date": dates(index),
        "imd_quintile": imd.astype(float), "ltc_count": ltc.astype(float), "frailty": frailty,
        "risk_score": np.round(risk, 4), "registration_start": dates(reg_start), "registration_end": dates(reg_end),
        "death_date": dates(death),
    })
    pop = pop.set_column(1, "practice_id", pa.array([f"P{p:05d}" for p in practice]))
    act = pa.table({
        "person_id": pid.take(pa.array(person)), "date": dates(day),
        "setting": pa.array(SETTINGS).take(pa.array(setting)), "bed_days": bed, "cost": cost,
    })
    return pop, act, int(enrolled.sum())


def spec_text(name: str) -> str:
    return f"""# Synthetic national extract (benchmarks/scale/generate.py): the evaluation timed in benchmarks/scale.
name: {name}
title: "Synthetic national extract: case management evaluation at scale"
seed: 20261201
window: {{start: 2020-04-01, end: 2025-03-31}}
data:
  population: population.parquet
  activity: activity.parquet
  practices: practices.parquet
engine:
  memory_limit: 2GB  # DuckDB's share of the 8 GB budget at 10M people (issue 18)
  threads: 2
validation:
  actions:
    activity_after_death: exclude
    activity_outside_registration: exclude
    activity_outside_window: exclude
    index_date_outside_window: exclude
cohort:
  min_age: 18
  enrolment_end: 2024-03-31
matching:
  distance: linear_logit
  ratio: 3
  caliper: 0.2
  exact: [sex]
  covariates: [age, sex, imd_quintile, ltc_count, frailty, risk_score,
               emergency_admission_12m, emergency_admission_3m, ae_attendance_12m, bed_days_12m]
  lookback_months: [12, 3]
  candidates_per_treated: 50
effects:
  outcomes: [emergency_admission, ae_attendance, bed_days, elective_admission, cost]
  pre_months: 12
  post_months: 12
  subgroups: [age_band]
  cluster: subclass
  event_study: true
report:
  formats: [html, pdf, docx, xlsx]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--people", type=int, default=10_000_000)
    ap.add_argument("--practices", type=int, default=6_500)
    ap.add_argument("--enrolled", type=int, default=50_000)
    ap.add_argument("--activity-per-person", type=float, default=10.0, help="mean rows per person over 5 years")
    ap.add_argument("--chunk", type=int, default=250_000)
    ap.add_argument("--seed", type=int, default=20261201)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    n_prac = max(10, int(a.practices * min(1.0, a.people / 10_000_000)) if a.people < 10_000_000 else a.practices)
    pq.write_table(practices_table(n_prac, rng), a.out / "practices.parquet")
    # rate per year such that mean rows per person over the 5-year window is about activity_per_person
    rate = a.activity_per_person / 5.7
    pw = aw = None
    n_act = n_enr = 0
    try:
        for start in range(0, a.people, a.chunk):
            n = min(a.chunk, a.people - start)
            pop, act, e = chunk(start, n, n_prac, a.enrolled / a.people, rate, rng)
            if pw is None:
                pw = pq.ParquetWriter(a.out / "population.parquet", pop.schema)
                aw = pq.ParquetWriter(a.out / "activity.parquet", act.schema)
            pw.write_table(pop)
            aw.write_table(act, row_group_size=1_000_000)
            n_act += act.num_rows
            n_enr += e
    finally:
        if pw is not None:
            pw.close()
            aw.close()
    (a.out / "national.yaml").write_text(spec_text("national"))
    truth = {"people": a.people, "practices": n_prac, "activity_rows": n_act, "enrolled": n_enr,
             "rate_ratio_emergency_admission": {"under 65": 0.85, "65+": 1.0}, "seed": a.seed,
             "seconds": round(time.perf_counter() - t0, 1)}
    (a.out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(json.dumps(truth))


if __name__ == "__main__":
    main()
