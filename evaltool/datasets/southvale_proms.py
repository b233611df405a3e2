"""Southvale example data: EQ-5D-5L, activation scores, P3CEQ and Friends and Family Test responses.

``generate_proms(population, seed)`` returns ``({"proms": ..., "prems": ...}, truth)``.

Design (all simulated; nothing here is real patient data):

* Respondents: every enrolled patient (``population.treated == 1``) and a comparison group of
  untreated adults sampled 1:1 within strata of sex, age band and (when present) risk-score
  decile, so their risk profile resembles the enrolled group's.
* Health: a latent severity ``h`` per person (worse with age, risk score, and for enrolled
  patients at baseline). Each EQ-5D-5L dimension is ``h`` plus a persistent person-dimension
  effect plus occasion noise, cut at fixed thresholds into levels 1-5. Enrolled patients'
  severity falls by 0.25 at 6 months and 0.35 at 12 months; the comparison group's rises by
  0.05 and 0.10 (slow decline).
* Truth: ``eq5d_true_change`` is the mean change in EQ-5D-5L index (England 2018 value set) with
  *complete data* (everyone sampled, no non-response) for each group and follow-up, and their
  difference; ``eq5d_expected_change`` is its expectation given the people's age, risk and group
  (Monte Carlo over the latent model, a separate random stream): the estimand whose CI coverage
  is nominal. Analyses of the observed (incomplete) data should recover both within their CIs.
* Non-response: baseline 85% (enrolled) / 75% (comparison); at 6 and 12 months response depends
  on group, age (older people answer slightly less) and earlier response, not on health change.
  Questionnaires are sent at the index date (comparison: a date drawn from the enrolled index
  dates) and 182/365 days later, never after ``window_end`` or the person's death.
  About 1.5% of returned questionnaires miss one EQ-5D dimension (unusable profile).
* Activation: a licensed-style PAM score (0-100) on the same PROM rows (columns ``pam_score``,
  ``pam_level``, levels from cut points 47.0/55.1/67.0); enrolled +3 at 6m and +5 at 12m.
* PREMs: P3CEQ at 12 months from a sample of both groups (respondent ids unrelated to person
  ids), with "don't know"/"not relevant" and blanks; FFT from enrolled patients only.

This module imports only core evaltool (datasets sit below the statistics layer), so the England
5L value set needed for the truth is restated here; tests check it agrees with evaltool.proms.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool.datasets._io import write_json_atomic, write_parquet_atomic

# Devlin et al. 2018 (Health Econ 27:7-22), England EQ-5D-5L decrements for levels 1..5.
_ENGLAND_5L = np.array([
    [0.0, 0.058, 0.076, 0.207, 0.274],  # mo
    [0.0, 0.050, 0.080, 0.164, 0.203],  # sc
    [0.0, 0.050, 0.063, 0.162, 0.184],  # ua
    [0.0, 0.063, 0.084, 0.276, 0.335],  # pd
    [0.0, 0.078, 0.104, 0.285, 0.289],  # ad
])
_DIMS = ("mo", "sc", "ua", "pd", "ad")
_THRESHOLDS = np.array([0.0, 0.8, 1.6, 2.4])  # latent cut points between levels
_DIM_OFFSET = np.array([0.1, 0.9, 0.3, -0.2, 0.5])  # self-care problems rarer, pain commoner
_TIMEPOINTS = ("baseline", "6m", "12m")
_EFFECT = {"enrolled": (0.0, 0.25, 0.35), "comparison": (0.0, -0.05, -0.10)}
_PAM_CUTS = (47.0, 55.1, 67.0)
_PAM_GAIN = {"enrolled": (0.0, 3.0, 5.0), "comparison": (0.0, 0.0, -0.5)}
_FFT_PROBS = {"Very good": 0.55, "Good": 0.25, "Neither good nor poor": 0.07, "Poor": 0.04,
              "Very poor": 0.03, "Don't know": 0.06}


def _index(levels: np.ndarray) -> np.ndarray:
    """England 5L index from an (n, 5) integer level array."""
    return 1.0 - sum(_ENGLAND_5L[j, levels[:, j] - 1] for j in range(5))


def toy_population(n: int = 5000, seed: int = 1) -> pd.DataFrame:
    """A small stand-in population (person_id, practice_id, sex, age, treated, index_date, risk_score).

    About 4% of adults, drawn from the highest-risk fifth, are enrolled (treated == 1).

    Examples
    --------
    >>> pop = toy_population(1000, seed=2)
    >>> sorted(pop.columns)[:3], int(pop["treated"].sum()) > 0
    (['age', 'index_date', 'person_id'], True)
    """
    rng = np.random.default_rng(seed)
    age = np.clip(rng.gamma(6, 8, n), 0, 100).astype(int)
    sex = rng.choice(["F", "M"], n)
    lin = -4 + 0.05 * age + rng.normal(0, 1, n)
    risk = 1 / (1 + np.exp(-lin))
    adult = age >= 18
    high = risk >= np.quantile(risk[adult], 0.8)
    treated = (adult & high & (rng.random(n) < 0.2)).astype(int)
    start = np.datetime64("2022-04-01")
    idx = np.where(treated == 1, start + rng.integers(0, 730, n).astype("timedelta64[D]"), np.datetime64("NaT", "D"))
    return pd.DataFrame({
        "person_id": pd.Series([f"P{i:06d}" for i in range(n)], dtype="object"),
        "practice_id": pd.Series([f"S{k:03d}" for k in rng.integers(0, 25, n)], dtype="object"),
        "sex": sex, "age": age, "treated": treated,
        "index_date": pd.to_datetime(idx), "risk_score": risk,
    })


def _sample_comparison(pop: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Untreated adults sampled 1:1 to the enrolled within sex x age band x risk decile strata."""
    df = pop.copy()
    df["_band"] = pd.cut(df["age"], [18, 35, 45, 55, 65, 75, 85, 200], right=False, labels=False)
    keys = ["sex", "_band"]
    if "risk_score" in df.columns and df["risk_score"].notna().any():
        adults = df["age"] >= 18
        edges = np.unique(np.quantile(df.loc[adults, "risk_score"].dropna(), np.linspace(0, 1, 11)))
        df["_risk"] = np.clip(np.searchsorted(edges, df["risk_score"].fillna(edges[0]), side="right") - 1, 0, None)
        keys.append("_risk")
    df["_u"] = rng.random(len(df))
    treated = df[df["treated"] == 1]
    need = treated.groupby(keys, observed=True).size().rename("_need")
    pool = df[(df["treated"] != 1) & (df["age"] >= 18)].merge(need, left_on=keys, right_index=True)
    pool = pool.sort_values("_u")
    pool["_rank"] = pool.groupby(keys, observed=True).cumcount()
    chosen = pool[pool["_rank"] < pool["_need"]]
    return chosen.drop(columns=["_band", "_u", "_need", "_rank"] + (["_risk"] if "_risk" in keys else []))


def generate_proms(
    population: pd.DataFrame, seed: int, *, window_end: str = "2025-03-31"
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Simulate PROM and PREM returns for Southvale's enrolled patients and a comparison group.

    Parameters
    ----------
    population:
        Columns person_id, treated, age, sex (risk_score used when present). Not modified.
    seed:
        Seed for ``numpy.random.default_rng``.
    window_end:
        End of the study window: questionnaires due after it are never sent.

    Returns
    -------
    (tables, truth)
        ``tables["proms"]``: person_id, timepoint, instrument, eq5d_mo..eq5d_ad, eq5d_vas, pam_score,
        pam_level, survey_date (one row per returned questionnaire). ``tables["prems"]``: respondent_id, group,
        survey, P3CEQ item columns p3ceq_q1..q11 and FFT column fft_q1 (labels). ``truth``: JSON-able
        dict of the true mean changes (complete data), response rates and PREM parameters.

    Examples
    --------
    >>> tables, truth = generate_proms(toy_population(2000, seed=3), seed=3)
    >>> set(tables["proms"]["timepoint"]) == {"baseline", "6m", "12m"}
    True
    """
    rng = np.random.default_rng(seed)
    pop = population.copy()
    missing = [c for c in ("person_id", "treated", "age", "sex") if c not in pop.columns]
    if missing:
        from evaltool.errors import DataValidationError

        raise DataValidationError(f"`population` lacks column(s) {', '.join(missing)} needed by generate_proms.")
    pop["person_id"] = pop["person_id"].astype(str)
    if "age" not in pop.columns or pop["age"].isna().all():
        raise ValueError("population needs ages")
    enrolled = pop[(pop["treated"] == 1) & (pop["age"] >= 18)]
    comparison = _sample_comparison(pop, rng)
    people = pd.concat([enrolled.assign(group="enrolled"), comparison.assign(group="comparison")], ignore_index=True)
    n = len(people)
    is_enr = (people["group"] == "enrolled").to_numpy()
    age = people["age"].to_numpy(float)
    risk = people["risk_score"].to_numpy(float) if "risk_score" in people.columns else np.full(n, 0.3)
    risk = np.nan_to_num(risk, nan=np.nanmean(risk) if np.isfinite(risk).any() else 0.3)
    mu0 = 0.2 + 0.02 * (age - 60) + 1.0 * (risk - 0.5) + 0.15 * is_enr
    h0 = mu0 + rng.normal(0, 0.8, n)
    person_dim = rng.normal(0, 0.45, (n, 5))
    eff = np.where(is_enr[:, None], np.array(_EFFECT["enrolled"]), np.array(_EFFECT["comparison"]))
    drift_sd = np.array([0.0, 0.35, 0.45])
    pam_gain = np.where(is_enr[:, None], np.array(_PAM_GAIN["enrolled"]), np.array(_PAM_GAIN["comparison"]))
    pam_base = 54 + 9 * rng.standard_normal(n) - 4 * h0

    frames, full_index = [], {}
    for t, tp in enumerate(_TIMEPOINTS):
        h = h0 + rng.normal(0, drift_sd[t], n) * (t > 0) - eff[:, t]
        s = h[:, None] + person_dim + rng.normal(0, 0.35, (n, 5)) - _DIM_OFFSET[None, :]
        levels = 1 + (s[:, :, None] > _THRESHOLDS[None, None, :]).sum(axis=2)
        full_index[tp] = _index(levels)
        vas = np.clip(np.round(78 - 12 * h + rng.normal(0, 9, n)), 0, 100)
        pam = np.clip(np.round(pam_base + pam_gain[:, t] + rng.normal(0, 4, n), 1), 0, 100)
        frame = pd.DataFrame({"person_id": people["person_id"].to_numpy(), "timepoint": tp,
                              "instrument": "EQ-5D-5L", "_group": people["group"].to_numpy()})
        for j, d in enumerate(_DIMS):
            frame[f"eq5d_{d}"] = levels[:, j].astype(float)
        frame["eq5d_vas"] = vas
        frame["pam_score"] = pam
        frame["pam_level"] = 1 + (pam[:, None] > np.array(_PAM_CUTS)[None, :]).sum(axis=1)
        frames.append(frame)

    # Response pattern: depends on group, age and previous response only (not on health change).
    older = (age >= 75).astype(float)
    p_base = np.where(is_enr, 0.85, 0.75)
    r0 = rng.random(n) < p_base
    lin6 = np.where(is_enr, 1.3, 0.8) - 0.4 * older + np.where(r0, 0.6, -1.2)
    r6 = rng.random(n) < 1 / (1 + np.exp(-lin6))
    lin12 = np.where(is_enr, 0.9, 0.5) - 0.4 * older + np.where(r6, 0.9, -1.0)
    r12 = rng.random(n) < 1 / (1 + np.exp(-lin12))
    # Questionnaires are sent at the index date (enrolled) or a date drawn from the enrolled index
    # dates (comparison), then 182 and 365 days later; none after the window ends or after death.
    enr_dates = people.loc[is_enr, "index_date"] if "index_date" in people.columns else pd.Series(dtype="datetime64[ns]")
    enr_dates = pd.to_datetime(enr_dates).dropna().to_numpy(dtype="datetime64[D]")
    if len(enr_dates) == 0:
        enr_dates = np.array([np.datetime64("2023-01-01")])
    own = (pd.to_datetime(people["index_date"]).to_numpy(dtype="datetime64[D]") if "index_date" in people.columns
           else np.full(n, np.datetime64("NaT", "D"), dtype="datetime64[D]"))
    base_date = np.where(is_enr & ~np.isnat(own), own, rng.choice(enr_dates, n))
    death = (pd.to_datetime(people["death_date"]).to_numpy(dtype="datetime64[D]") if "death_date" in people.columns
             else np.full(n, np.datetime64("NaT", "D"), dtype="datetime64[D]"))
    end = np.datetime64(window_end, "D")
    sent = {}
    for t, tp in enumerate(_TIMEPOINTS):
        date = base_date + np.timedelta64((0, 182, 365)[t], "D")
        alive = np.isnat(death) | (death > date)
        sent[tp] = (date <= end) & alive
        frames[t]["survey_date"] = pd.to_datetime(date)
    responded = {"baseline": r0 & sent["baseline"], "6m": r6 & sent["6m"], "12m": r12 & sent["12m"]}
    kept = []
    for frame, tp in zip(frames, _TIMEPOINTS):
        f = frame[responded[tp]].copy()
        # A few questionnaires come back with one dimension blank, or no VAS.
        blank = rng.random(len(f)) < 0.015
        dim = rng.integers(0, 5, len(f))
        for j, d in enumerate(_DIMS):
            f.loc[blank & (dim == j), f"eq5d_{d}"] = np.nan
        f.loc[rng.random(len(f)) < 0.03, "eq5d_vas"] = np.nan
        kept.append(f)
    proms = pd.concat(kept, ignore_index=True)
    proms = proms.sort_values(["person_id", "timepoint"], key=lambda s: s.map(
        {t: i for i, t in enumerate(_TIMEPOINTS)}) if s.name == "timepoint" else s).drop(columns="_group")
    proms["pam_level"] = proms["pam_level"].astype("Int64")
    proms = proms.reset_index(drop=True)
    for d in _DIMS:
        proms[f"eq5d_{d}"] = proms[f"eq5d_{d}"].astype("Int64")

    prems, prem_truth = _generate_prems(people, rng)

    truth: dict[str, Any] = {
        "value_set": "england_5l_2018",
        "description": ("True mean change in EQ-5D-5L index (England 2018) with complete data for every "
                        "sampled person; non-response depends on group, age and earlier response only."),
        "n_enrolled": int(is_enr.sum()), "n_comparison": int((~is_enr).sum()),
        "latent_effect": {g: dict(zip(_TIMEPOINTS, map(float, v))) for g, v in _EFFECT.items()},
        "eq5d_mean_index": {}, "eq5d_true_change": {}, "eq5d_true_difference_in_change": {},
        "response_rate": {}, "pam_true_change": {}, "not_sent_after_window_or_death": {},
    }
    for g, m in (("enrolled", is_enr), ("comparison", ~is_enr)):
        truth["eq5d_mean_index"][g] = {tp: float(full_index[tp][m].mean()) for tp in _TIMEPOINTS}
        truth["eq5d_true_change"][g] = {tp: float((full_index[tp][m] - full_index["baseline"][m]).mean())
                                        for tp in _TIMEPOINTS[1:]}
        truth["response_rate"][g] = {tp: float(responded[tp][m].mean()) for tp in _TIMEPOINTS}
        truth["not_sent_after_window_or_death"][g] = {tp: int((~sent[tp][m]).sum()) for tp in _TIMEPOINTS}
        truth["pam_true_change"][g] = {tp: float(_PAM_GAIN[g][i]) for i, tp in enumerate(_TIMEPOINTS) if i}
    for tp in _TIMEPOINTS[1:]:
        truth["eq5d_true_difference_in_change"][tp] = (
            truth["eq5d_true_change"]["enrolled"][tp] - truth["eq5d_true_change"]["comparison"][tp]
        )
    # Expected change given these people's age, risk and group (integrating over every person-level
    # and occasion draw): the superpopulation estimand. A separate RNG stream leaves the data unchanged.
    expected = _expected_change(mu0, eff, drift_sd, np.random.default_rng([seed, 1]))
    truth["eq5d_expected_change"] = {
        g: {tp: float(expected[tp][m].mean()) for tp in _TIMEPOINTS[1:]}
        for g, m in (("enrolled", is_enr), ("comparison", ~is_enr))
    }
    truth["eq5d_expected_difference_in_change"] = {
        tp: truth["eq5d_expected_change"]["enrolled"][tp] - truth["eq5d_expected_change"]["comparison"][tp]
        for tp in _TIMEPOINTS[1:]
    }
    truth["missingness"] = {"eq5d_one_dimension_blank": 0.015, "eq5d_vas_blank": 0.03}
    truth["prems"] = prem_truth
    return {"proms": proms, "prems": prems}, truth


def _expected_change(mu0: np.ndarray, eff: np.ndarray, drift_sd: np.ndarray, rng: np.random.Generator,
                     reps: int = 60) -> dict[str, np.ndarray]:
    """Per-person expected index change by Monte Carlo over the latent model (reps x vectorised)."""
    n = len(mu0)
    acc = {tp: np.zeros(n) for tp in _TIMEPOINTS[1:]}
    for _ in range(reps):  # loop over replicates, each vectorised over people
        h0 = mu0 + rng.normal(0, 0.8, n)
        pdim = rng.normal(0, 0.45, (n, 5))
        idx = {}
        for t, tp in enumerate(_TIMEPOINTS):
            h = h0 + rng.normal(0, drift_sd[t], n) * (t > 0) - eff[:, t]
            sl = h[:, None] + pdim + rng.normal(0, 0.35, (n, 5)) - _DIM_OFFSET[None, :]
            idx[tp] = _index(1 + (sl[:, :, None] > _THRESHOLDS[None, None, :]).sum(axis=2))
        for tp in _TIMEPOINTS[1:]:
            acc[tp] += (idx[tp] - idx["baseline"]) / reps
    return acc


def _generate_prems(people: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, Any]]:
    is_enr = (people["group"] == "enrolled").to_numpy()
    # P3CEQ at 12 months: 55% of enrolled and 40% of comparison return it.
    take = rng.random(len(people)) < np.where(is_enr, 0.55, 0.40)
    grp = people.loc[take, "group"].to_numpy()
    m = len(grp)
    exp_mean = {"enrolled": 0.5, "comparison": 0.0}
    e = np.where(grp == "enrolled", exp_mean["enrolled"], exp_mean["comparison"]) + rng.normal(0, 1, m)
    p3 = pd.DataFrame({"group": grp, "survey": "P3CEQ"})
    extent = np.array(["Not at all", "To some extent", "Mostly", "Completely"])
    freq_rev = np.array(["Always", "Often", "Sometimes", "Never"])  # higher experience -> repeats less
    cuts = np.array([-1.2, -0.2, 0.8])
    for q in range(1, 12):
        s = e + rng.normal(0, 0.8, m)
        if q in (9, 10):
            ans = np.where(rng.random(m) < 1 / (1 + np.exp(-(s - 0.2))), "Yes", "No").astype(object)
        else:
            k = (s[:, None] > cuts[None, :]).sum(axis=1)
            ans = (freq_rev if q == 4 else extent)[k].astype(object)
        dk = rng.random(m) < 0.05
        ans[dk] = np.where(rng.random(int(dk.sum())) < 0.7, "Don't know", "Not relevant" if q not in (9, 10)
                           else "Don't know")
        ans[rng.random(m) < 0.03] = None
        p3[f"p3ceq_q{q}"] = ans
    # FFT: enrolled patients only (it asks about the service they received).
    k = int(round(is_enr.sum() * 0.6))
    labels = np.array(list(_FFT_PROBS))
    fft_ans = rng.choice(labels, size=k, p=np.array(list(_FFT_PROBS.values()))).astype(object)
    fft_ans[rng.random(k) < 0.02] = None
    fft = pd.DataFrame({"group": "enrolled", "survey": "FFT", "fft_q1": fft_ans})
    prems = pd.concat([p3, fft], ignore_index=True)
    order = rng.permutation(len(prems))
    prems.insert(0, "respondent_id", pd.Series([f"R{i:05d}" for i in order], dtype="object"))
    prems = prems.sort_values("respondent_id").reset_index(drop=True)
    truth = {
        "p3ceq_latent_experience_mean": exp_mean,
        "p3ceq_dont_know_rate": 0.05, "p3ceq_blank_rate": 0.03,
        "fft_true_pct_positive": 100 * (_FFT_PROBS["Very good"] + _FFT_PROBS["Good"]),
        "fft_true_pct_negative": 100 * (_FFT_PROBS["Poor"] + _FFT_PROBS["Very poor"]),
        "fft_blank_rate": 0.02,
    }
    return prems, truth


def write_southvale_proms(
    out_dir: str | os.PathLike[str],
    population: pd.DataFrame | None = None,
    seed: int = 20261122,
    *,
    merge_truth: bool = True,
) -> dict[str, Path]:
    """Generate the PROM/PREM tables for a Southvale population and write them to ``out_dir``.

    Writes ``proms.parquet``, ``prems.parquet`` and ``truth_proms.json``; with ``merge_truth``
    (default) the truth is also added under the key ``"proms"`` of an existing ``truth.json``
    (run after :func:`evaltool.datasets.southvale.write_southvale`, which rewrites that file).

    Parameters
    ----------
    out_dir:
        Directory holding (or to hold) the Southvale files.
    population:
        The population table; default: ``population.parquet`` in ``out_dir``.
    seed:
        Seed for the PROM/PREM simulation.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_southvale_proms(tempfile.mkdtemp(), toy_population(500, seed=1), seed=1)
    >>> sorted(paths)
    ['prems', 'proms', 'truth']
    """
    out = Path(out_dir)
    if population is None:
        population = pd.read_parquet(out / "population.parquet")
    tables, truth = generate_proms(population, seed)
    paths = {
        "proms": write_parquet_atomic(tables["proms"], out / "proms.parquet"),
        "prems": write_parquet_atomic(tables["prems"], out / "prems.parquet"),
        "truth": write_json_atomic(truth, out / "truth_proms.json"),
    }
    main = out / "truth.json"
    if merge_truth and main.exists():
        merged = json.loads(main.read_text(encoding="utf-8"))
        merged["proms"] = truth
        write_json_atomic(merged, main)
    return paths
