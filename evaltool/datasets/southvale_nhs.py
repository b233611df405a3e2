"""Southvale as NHS extracts arrive: HES APC and outpatients, ECDS, a GP list and a caseload.

The same people, events and dates as :func:`evaltool.datasets.southvale` (the contract-shaped
tables), written the way an ICB analyst receives them:

* **HES APC** (``hes_apc.csv.gz``): episodes, not admissions: a quarter of emergency spells have
  two or three consultant episodes; ADMIMETH / ADMISORC / DISMETH / DISDEST codes; ICD-10 diagnoses
  in ``DIAG_4_01``..``DIAG_4_08`` (three-character codes padded ``I10X``, some written ``J44.1``,
  dagger/asterisk marks, a few invalid codes); dates DD/MM/YYYY; NHS numbers with spaces, hyphens
  or none; exact duplicate episodes; unfinished episodes; episodes whose NHS number fails the
  Modulus 11 check; a few episodes of people not on the GP list; care-home admissions as transfer
  spells (ADMIMETH 81) discharged to a care home (DISDEST 54/65/85); a local ``SPELL_COST``.
* **HES outpatients** (``hes_op.csv.gz``): attended appointments plus did-not-attends and cancellations.
* **ECDS** (``ecds.parquet``): unplanned attendances (categories 1-3) plus planned follow-ups (4),
  duplicate records, SNOMED CT diagnoses.
* **GP list** (``gp_list.csv.gz``): NHS number, ODS-style practice code, DD/MM/YYYY dates, sex as
  PERSON STATED GENDER CODE (1/2), LSOA, and the practice system's long-term-condition count, eFI
  category and risk score; repeat registrations, duplicate rows, extra records with invalid NHS
  numbers and with sex not known (9 / X).
* **caseload** (``caseload.csv``): the neighbourhood teams' enrolment list (NHS number, enrolment
  date), with some repeat referrals; **practices** (``practices.xlsx``, sheet ``practices`` after a
  ``README`` sheet); **LSOA lookup** (``lsoa_imd.csv``: fictional LSOAs with IMD 2019-style deciles).

Everything dropped by the presets is junk added on top of the contract data, so the mapped run
sees exactly the contract tables: its emergency-admission estimates equal the contract run's.

Diagnoses are drawn so that ambulatory-care-sensitive (ACS) admissions respond to the programme:
after enrolment, the chance that an enrolled patient's emergency admission is for an ACS condition
is multiplied by ``ACS_SHARE_RATIO`` (0.7). The true ACS rate ratio is therefore 0.7 times the
emergency-admission ratio (under 65: 0.8 x 0.7 = 0.56; 65 and over: 0.70); ``truth_nhs.json``
records it with the exact counts of every kind of junk.

NHS numbers are drawn from the range 999 000 0000 - 999 999 9999, which the NHS never issues to
patients (it is reserved for testing); practice codes (``Z99...``), provider codes (``RZ...``) and
LSOA codes (``E0199...``) are fictional.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool.datasets._io import _atomic_write_bytes, write_json_atomic, write_parquet_atomic
from evaltool.datasets.southvale import DEFAULT_SEED, SouthvaleData, southvale

__all__ = ["NhsExtracts", "southvale_extracts", "write_southvale_extracts", "ACS_SHARE_RATIO"]

ACS_SHARE_RATIO = 0.7
PROVIDERS = ("RZA", "RZB", "RZC")
# Conditions a person may live with: (name, weight, secondary code, emergency code, chronic ACS?).
CONDITIONS = (
    ("hypertension", 0.22, "I10X", "I10X", True),
    ("diabetes", 0.12, "E119", "E116", True),
    ("copd", 0.07, "J449", "J441", True),
    ("asthma", 0.09, "J459", "J459", True),
    ("heart_failure", 0.05, "I500", "I500", True),
    ("atrial_fibrillation", 0.06, "I489", "I489", True),
    ("coronary_heart_disease", 0.07, "I259", "I209", True),
    ("chronic_kidney_disease", 0.06, "N183", "N179", False),
    ("dementia", 0.04, "F03X", "F03X", True),
    ("depression", 0.08, "F329", "F329", False),
    ("cancer", 0.04, "C509", "C509", False),
    ("stroke", 0.03, "I694", "I639", False),
    ("osteoporosis", 0.03, "M819", "M819", False),
    ("osteoarthritis", 0.05, "M199", "M199", False),
    ("parkinsons", 0.01, "G20X", "G20X", False),
    ("epilepsy", 0.02, "G409", "G409", True),
)
ACUTE_ACS = ("N390", "L031", "E86X", "K529", "J069", "H669", "J181", "K047", "J13X")
FALLS = ("S720", "S721", "S062", "S009", "S422")
OTHER_EMERGENCY = ("R074", "R104", "K802", "J189", "I219", "R55X", "A419", "K590", "R296", "T391", "K358", "N179")
ELECTIVE = ("H259", "M171", "K409", "N401", "K802", "Z511", "M161", "D126")
INVALID_CODES = ("XYZ", "12345", "J4", "?")
SNOMED_AE = ("22298006", "195967001", "68566005", "128045006", "125605004", "161891005", "21522001", "267036007")


@dataclass(frozen=True)
class NhsExtracts:
    """The extracts (pandas, in the layouts they are written in) and their truth."""

    hes_apc: pd.DataFrame
    hes_op: pd.DataFrame
    ecds: pd.DataFrame
    gp_list: pd.DataFrame
    caseload: pd.DataFrame
    practices: pd.DataFrame
    lsoa_imd: pd.DataFrame
    truth: dict[str, Any]


# ------------------------------------------------------------------------------------------------
def _nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct valid NHS numbers from the never-issued 999 range (10-digit strings)."""
    pref = 999_000_000 + rng.permutation(1_000_000)[: int(n * 1.2) + 100]
    digits = (pref[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    c = 11 - (digits * np.arange(10, 1, -1)).sum(axis=1) % 11
    c = np.where(c == 11, 0, c)
    ok = c != 10
    nums = pref[ok] * 10 + c[ok]
    return nums[:n].astype(str)


def _corrupt(rng: np.random.Generator, nums: np.ndarray) -> np.ndarray:
    """NHS numbers with the check digit changed (so Modulus 11 fails)."""
    last = np.array([int(s[-1]) for s in nums])
    new = (last + rng.integers(1, 9, len(nums))) % 10
    return np.array([s[:-1] + str(d) for s, d in zip(nums, new)])


def _fmt_nhs(rng: np.random.Generator, nums: np.ndarray, p_space: float, p_hyphen: float) -> np.ndarray:
    u = rng.random(len(nums))
    sp = np.char.add(np.char.add(np.char.add(np.char.add(
        np.char.ljust(nums.astype("U10"), 10).astype("U3"), " "), [s[3:6] for s in nums]), " "), [s[6:] for s in nums])
    hy = np.char.replace(sp, " ", "-")
    return np.where(u < p_space, sp, np.where(u < p_space + p_hyphen, hy, nums)).astype(object)


def _ddmmyyyy(d: pd.Series | np.ndarray) -> np.ndarray:
    s = pd.to_datetime(pd.Series(d))
    out = s.dt.strftime("%d/%m/%Y")
    return out.where(s.notna(), "").to_numpy(dtype=object)


def _pick(rng: np.random.Generator, codes: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(codes, dtype=object)[rng.integers(0, len(codes), n)]


def _stream(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 15, k]))


# ------------------------------------------------------------------------------------------------
def southvale_extracts(seed: int = DEFAULT_SEED, *, scale: float = 1.0, data: SouthvaleData | None = None) -> NhsExtracts:
    """Southvale written as NHS extracts (see the module docstring).

    Examples
    --------
    >>> x = southvale_extracts(scale=0.02)
    >>> x.truth["acs_share_ratio"], "DIAG_4_01" in x.hes_apc.columns
    (0.7, True)
    """
    d = data if data is not None else southvale(seed, scale=scale)
    pop, act = d.population.reset_index(drop=True), d.activity.reset_index(drop=True)
    n = len(pop)
    rng_id, rng_cond, rng_apc, rng_junk, rng_att, rng_gp = (_stream(seed, k) for k in range(6))
    nhs = _nhs_numbers(rng_id, n + 400)
    pid_to_i = pd.Series(np.arange(n), index=pop["person_id"].to_numpy())
    # In the same order as the contract's person ids, so that both runs list people alike.
    person_nhs = np.sort(nhs[:n])
    spare = nhs[n:]  # for people not on the GP list and extra records

    # ---- practices and areas -------------------------------------------------------------------
    pids = d.practices["practice_id"].to_numpy()
    ods = np.array([f"Z99{int(p[1:]):03d}" for p in pids], dtype=object)
    ods_of = dict(zip(pids, ods))
    lsoa = []
    for dec in range(1, 11):
        for k in range(24):
            lsoa.append((f"E0199{dec:02d}{k:02d}", dec))
    lsoa_imd = pd.DataFrame(lsoa, columns=["lsoa_code", "imd_decile"])
    lsoa_imd["imd_rank"] = [int((dec - 1) * 3284.4 + 1 + k * 130) for (_, dec), k in
                            zip(lsoa, np.tile(np.arange(24), 10))]
    q = pop["imd_quintile"].astype("Int64").to_numpy(dtype="float64", na_value=np.nan)
    dec_pick = np.where(rng_gp.random(n) < 0.5, 2 * q - 1, 2 * q)
    lsoa_person = np.array([f"E0199{int(dd):02d}{k:02d}" for dd, k in zip(np.nan_to_num(dec_pick, nan=1),
                                                                         rng_gp.integers(0, 24, n))], dtype=object)

    # ---- each person's long-term conditions (as many as ltc_count) ------------------------------
    ltc = pop["ltc_count"].astype("Int64").fillna(0).to_numpy(dtype=np.int64)
    age0 = pop["age"].to_numpy(dtype=float)
    w = np.array([c[1] for c in CONDITIONS])
    logw = np.log(w)[None, :] + np.where(np.array([c[0] == "dementia" for c in CONDITIONS])[None, :],
                                         np.clip((age0[:, None] - 70) / 8, -3, 2), 0.0)
    keys = logw + rng_cond.gumbel(size=(n, len(CONDITIONS)))
    order = np.argsort(-keys, axis=1)
    has = np.zeros((n, len(CONDITIONS)), bool)
    for k in range(len(CONDITIONS)):
        has[np.arange(n), order[:, k]] |= ltc > k
    chronic_acs = np.array([c[4] for c in CONDITIONS])
    sec_codes = np.array([c[2] for c in CONDITIONS], dtype=object)
    exac_codes = np.array([c[3] for c in CONDITIONS], dtype=object)

    # ---- admitted patient care -----------------------------------------------------------------
    adm = act[act["setting"].isin(["emergency_admission", "elective_admission", "care_home_admission"])]
    adm = adm.reset_index(drop=True)
    i = pid_to_i.loc[adm["person_id"].to_numpy()].to_numpy()
    date = pd.to_datetime(adm["date"]).to_numpy()
    setting = adm["setting"].to_numpy()
    los = adm["bed_days"].fillna(0).to_numpy().astype(np.int64)
    m = len(adm)
    em = setting == "emergency_admission"
    el = setting == "elective_admission"
    ch = setting == "care_home_admission"
    # Care-home admissions arrive as a transfer spell to a community bed, discharged to a care home.
    ch_days = rng_apc.integers(1, 15, m)
    admidate = np.where(ch, date - ch_days.astype("timedelta64[D]"), date)
    disdate = np.where(ch, date, date + los.astype("timedelta64[D]"))
    age_at = (admidate.astype("datetime64[D]") - pd.to_datetime(pop["birth_date"]).to_numpy().astype(
        "datetime64[D]")[i]).astype(np.int64) / 365.25
    treated = pop["treated"].to_numpy()[i] == 1
    idx_date = pd.to_datetime(pop["index_date"]).to_numpy()[i]
    post = treated & (date >= idx_date)
    # Primary diagnosis of emergency spells: chronic ACS exacerbation, acute ACS, fall, or other.
    person_acs = (has & chronic_acs[None, :])[i]
    any_acs = person_acs.any(axis=1)
    f = np.where(post, ACS_SHARE_RATIO, 1.0)
    p_chronic = np.where(any_acs, 0.35, 0.0) * f
    p_acute = 0.18 * f
    p_fall = np.where(age_at >= 65, 0.10, 0.02)
    u = rng_apc.random(m)
    kind = np.select([u < p_chronic, u < p_chronic + p_acute, u < p_chronic + p_acute + p_fall],
                     ["chronic", "acute", "fall"], "other")
    # the exacerbation: one of the person's chronic ACS conditions, at random
    ck = rng_apc.random((m, len(CONDITIONS))) * person_acs
    chosen = np.argmax(ck, axis=1)
    prim = np.where(kind == "chronic", exac_codes[chosen], None)
    prim = np.where(kind == "acute", _pick(rng_apc, ACUTE_ACS, m), prim)
    prim = np.where(kind == "fall", _pick(rng_apc, FALLS, m), prim)
    prim = np.where(kind == "other", _pick(rng_apc, OTHER_EMERGENCY, m), prim)
    copd_bronchitis = (kind == "chronic") & (exac_codes[chosen] == "J441") & (rng_apc.random(m) < 0.3)
    prim = np.where(copd_bronchitis, "J209", prim)
    prim = np.where(el, _pick(rng_apc, ELECTIVE, m), prim)
    prim = np.where(ch, np.where(rng_apc.random(m) < 0.5, "Z751", "R54X"), prim)
    # Secondary diagnoses: the person's conditions (up to 6), frailty codes, the fall's cause.
    frail = pop["frailty"].fillna("").to_numpy(dtype=object)[i]
    sec = np.full((m, 7), "", dtype=object)
    conds_i = has[i]
    for k in range(len(CONDITIONS)):
        col = np.minimum(np.cumsum(conds_i, axis=1)[:, k] - 1, 5)
        put = conds_i[:, k] & (np.cumsum(conds_i, axis=1)[:, k] <= 6)
        sec[np.flatnonzero(put), col[put]] = sec_codes[k]
    fr = np.isin(frail, ["moderate", "severe"]) & (rng_apc.random(m) < 0.6)
    sec[:, 6] = np.where(fr, np.where(rng_apc.random(m) < 0.5, "R54X", "R296"), "")
    is_fall = (kind == "fall") & em
    sec[:, 6] = np.where(is_fall, "W19X", sec[:, 6])
    method = np.where(em, _pick(rng_apc, ("21",) * 12 + ("22",) * 3 + ("2A", "23", "24", "2D", "28", "25", "2B"), m),
                      np.where(el, _pick(rng_apc, ("11", "11", "12", "13"), m), "81"))
    source = np.where(ch, "51", np.where(rng_apc.random(m) < 0.95, "19", "51"))
    dest = np.where(ch, _pick(rng_apc, ("54", "65", "85"), m), "19")
    # Spells are told apart by person, provider and admission date (HES has no spell id): two admissions
    # of one person on one day are at different providers; transfers go to a community hospital.
    provider = _pick(rng_apc, PROVIDERS, m)
    grp = pd.DataFrame({"i": i, "d": admidate, "b": pd.Series(provider).map({p: k for k, p in enumerate(PROVIDERS)})})
    same_day = grp.groupby(["i", "d"]).cumcount().to_numpy()
    base = grp.groupby(["i", "d"])["b"].transform("first").to_numpy()
    provider = np.asarray(PROVIDERS, dtype=object)[(base + same_day) % len(PROVIDERS)]
    # A fourth or fifth admission on one day (a handful at full scale) goes to another hospital.
    overflow = same_day >= len(PROVIDERS)
    provider = np.where(overflow, np.char.add("RZ", np.asarray([chr(ord("E") + int(k)) for k in same_day])), provider)
    provider = np.where(ch, "RZD", provider)
    spell_cost = adm["cost"].fillna(0).to_numpy()
    # Episodes: multi-episode spells split the stay between consultants.
    n_epi = np.ones(m, np.int64)
    r = rng_apc.random(m)
    n_epi = np.where(em & (los >= 2) & (r < 0.30), 2, n_epi)
    n_epi = np.where(em & (los >= 3) & (r < 0.10), 3, n_epi)
    n_epi = np.where(el & (los >= 2) & (r < 0.05), 2, n_epi)
    rows = np.repeat(np.arange(m), n_epi)
    order_in = np.concatenate([np.arange(k) for k in n_epi]) + 1
    span = (disdate - admidate).astype("timedelta64[D]").astype(np.int64)[rows]
    cut = (span * (order_in - 1) // n_epi[rows])
    cut_next = (span * order_in // n_epi[rows])
    epistart = admidate[rows] + cut.astype("timedelta64[D]")
    epiend = admidate[rows] + cut_next.astype("timedelta64[D]")
    last = order_in == n_epi[rows]
    first = order_in == 1
    e = len(rows)
    diag = np.empty((e, 8), dtype=object)
    diag[:, 0] = np.where(first, prim[rows], np.where(rng_apc.random(e) < 0.5, prim[rows], "R69X"))
    diag[:, 1:] = sec[rows]
    # Coding styles: dots, dagger/asterisk marks, and a few invalid codes in secondary positions.
    style = rng_apc.random((e, 8))
    with_dot = np.vectorize(lambda c: c[:3] + "." + c[3] if len(c) == 4 and c[3] != "X" else c, otypes=[object])
    diag = np.where((style < 0.15) & (diag != ""), with_dot(diag), diag)
    diag[:, 0] = np.where((style[:, 0] > 0.995) & (diag[:, 0] == "J209"), "J209D", diag[:, 0])
    bad = (style[:, 7] > 0.993) & (diag[:, 7] == "")
    diag[:, 7] = np.where(bad, _pick(rng_apc, INVALID_CODES, e), diag[:, 7])
    n_invalid_codes = int(bad.sum())
    epikey = np.array([f"{900000000000 + k}" for k in range(e)], dtype=object)
    apc = pd.DataFrame({
        "EPIKEY": epikey,
        "NEWNHSNO": person_nhs[i][rows],
        "PROCODE3": provider[rows],
        "ADMIDATE": _ddmmyyyy(admidate[rows]),
        "EPISTART": _ddmmyyyy(epistart),
        "EPIEND": _ddmmyyyy(epiend),
        "DISDATE": np.where(last, _ddmmyyyy(disdate[rows]), ""),
        "EPIORDER": order_in.astype(str),
        "EPISTAT": "3",
        "ADMIMETH": method[rows],
        "ADMISORC": source[rows],
        "DISMETH": np.where(last, "1", "8"),
        "DISDEST": np.where(last, dest[rows], "98"),
        "SEX": np.where(pop["sex"].to_numpy()[i][rows] == "F", "2", "1"),
        "STARTAGE": np.floor(age_at[rows]).astype(int).astype(str),
        **{f"DIAG_4_{k + 1:02d}": diag[:, k] for k in range(8)},
        "SPELL_COST": np.where(first, np.round(spell_cost[rows], 2).astype(str), ""),
    })
    # ---- junk on top: duplicates, unfinished episodes, invalid NHS numbers, people not on the list --
    n_dup = max(1, int(0.01 * e))
    dup = apc.iloc[np.sort(rng_junk.choice(e, n_dup, replace=False))]
    n_unf = max(1, int(0.002 * e))
    unf = apc.iloc[np.sort(rng_junk.choice(e, n_unf, replace=False))].copy()
    unf["EPIKEY"] = [f"{800000000000 + k}" for k in range(n_unf)]
    unf["EPISTAT"] = "1"
    unf["EPIEND"] = ""
    unf["DISDATE"] = ""
    n_badnhs = max(1, int(0.003 * e))
    badnhs = apc.iloc[np.sort(rng_junk.choice(e, n_badnhs, replace=False))].copy()
    badnhs["EPIKEY"] = [f"{700000000000 + k}" for k in range(n_badnhs)]
    badnhs["NEWNHSNO"] = _corrupt(rng_junk, badnhs["NEWNHSNO"].to_numpy())
    n_out = max(1, int(0.002 * e))
    out_idx = np.sort(rng_junk.choice(np.flatnonzero(first & (order_in == n_epi[rows])), n_out, replace=False))
    out = apc.iloc[out_idx].copy()
    # What these spells carry into the preset's counts (they leave only when people are matched to the list):
    n_out_ch = int(ch[rows[out_idx]].sum())  # care-home transfer spells
    n_invalid_codes += int(bad[out_idx].sum())  # invalid diagnosis codes
    out["EPIKEY"] = [f"{600000000000 + k}" for k in range(n_out)]
    out["NEWNHSNO"] = spare[rng_junk.integers(0, 200, n_out)]
    apc = pd.concat([apc, dup, unf, badnhs, out], ignore_index=True)
    apc = apc.iloc[rng_junk.permutation(len(apc))].reset_index(drop=True)
    apc["NEWNHSNO"] = _fmt_nhs(rng_junk, apc["NEWNHSNO"].to_numpy().astype(str), 0.6, 0.1)

    # ---- outpatients ---------------------------------------------------------------------------
    op_rows = act[act["setting"] == "outpatient_attendance"].reset_index(drop=True)
    k_op = len(op_rows)
    oi = pid_to_i.loc[op_rows["person_id"].to_numpy()].to_numpy()
    att = np.where(rng_att.random(k_op) < 0.9, "5", "6")
    op = pd.DataFrame({
        "ATTENDKEY": [f"{500000000000 + k}" for k in range(k_op)],
        "NEWNHSNO": person_nhs[oi], "PROCODE3": _pick(rng_att, PROVIDERS, k_op),
        "APPTDATE": pd.to_datetime(op_rows["date"]).dt.strftime("%Y-%m-%d").to_numpy(),
        "ATTENDED": att, "FIRSTATT": np.where(rng_att.random(k_op) < 0.3, "1", "2"),
        "COST": np.round(op_rows["cost"].fillna(0).to_numpy(), 2).astype(str),
    })
    n_dna = int(0.08 * k_op)
    dna = op.iloc[np.sort(rng_junk.choice(k_op, n_dna, replace=False))].copy()
    dna["ATTENDKEY"] = [f"{510000000000 + k}" for k in range(n_dna)]
    dna["ATTENDED"] = _pick(rng_junk, ("3", "3", "3", "2", "4", "7"), n_dna)
    dna["COST"] = "0.0"
    op = pd.concat([op, dna], ignore_index=True)
    op = op.iloc[rng_junk.permutation(len(op))].reset_index(drop=True)
    op["NEWNHSNO"] = _fmt_nhs(rng_junk, op["NEWNHSNO"].to_numpy().astype(str), 0.3, 0.0)

    # ---- ECDS ----------------------------------------------------------------------------------
    ae_rows = act[act["setting"] == "ae_attendance"].reset_index(drop=True)
    k_ae = len(ae_rows)
    ai = pid_to_i.loc[ae_rows["person_id"].to_numpy()].to_numpy()
    ecds = pd.DataFrame({
        "EC_IDENT": [f"{400000000000 + k}" for k in range(k_ae)],
        "NHS_NUMBER": person_nhs[ai], "PROVIDER_CODE": _pick(rng_att, PROVIDERS, k_ae),
        "ARRIVAL_DATE": pd.to_datetime(ae_rows["date"]).dt.date.to_numpy(),
        "ARRIVAL_TIME": [f"{h:02d}:{mm:02d}" for h, mm in zip(rng_att.integers(0, 24, k_ae), rng_att.integers(0, 60, k_ae))],
        "EC_ATTENDANCE_CATEGORY": _pick(rng_att, ("1",) * 92 + ("2",) * 5 + ("3",) * 3, k_ae),
        "EC_DEPARTMENT_TYPE": np.where(rng_att.random(k_ae) < 0.8, "01", "03"),
        "EC_DIAGNOSIS_01": _pick(rng_att, SNOMED_AE, k_ae),
        "COST": np.round(ae_rows["cost"].fillna(0).to_numpy(), 2),
    })
    n_planned = int(0.03 * k_ae)
    planned = ecds.iloc[np.sort(rng_junk.choice(k_ae, n_planned, replace=False))].copy()
    planned["EC_IDENT"] = [f"{410000000000 + k}" for k in range(n_planned)]
    planned["EC_ATTENDANCE_CATEGORY"] = "4"
    n_ae_dup = int(0.005 * k_ae)
    ae_dup = ecds.iloc[np.sort(rng_junk.choice(k_ae, n_ae_dup, replace=False))]
    ecds = pd.concat([ecds, planned, ae_dup], ignore_index=True)
    ecds = ecds.iloc[rng_junk.permutation(len(ecds))].reset_index(drop=True)
    ecds["NHS_NUMBER"] = _fmt_nhs(rng_junk, ecds["NHS_NUMBER"].to_numpy().astype(str), 0.2, 0.5)

    # ---- GP list -------------------------------------------------------------------------------
    frail_cat = pop["frailty"].map({"fit": "Fit", "mild": "Mild", "moderate": "Moderate", "severe": "Severe"})
    gp = pd.DataFrame({
        "NHS_NUMBER": person_nhs,
        "GP_PRACTICE_CODE": pop["practice_id"].map(ods_of).to_numpy(),
        "DATE_OF_BIRTH": _ddmmyyyy(pop["birth_date"]),
        "GENDER": np.where(pop["sex"].to_numpy() == "F", "2", "1"),
        "REGISTRATION_START_DATE": _ddmmyyyy(pop["registration_start"]),
        "REGISTRATION_END_DATE": _ddmmyyyy(pop["registration_end"]),
        "DATE_OF_DEATH": _ddmmyyyy(pop["death_date"]),
        "LSOA_CODE": lsoa_person,
        "LTC_COUNT": pop["ltc_count"].astype("Int64").astype(str).replace("<NA>", "").to_numpy(),
        "EFI_CATEGORY": frail_cat.fillna("").to_numpy(dtype=object),
        "RISK_SCORE": pop["risk_score"].map(lambda v: f"{v:.4f}").to_numpy(),
    })
    # Repeat registrations: an earlier spell at another practice, ending when the current one starts.
    n_rep = int(0.005 * n)
    rep_i = np.sort(rng_junk.choice(n, n_rep, replace=False))
    rep = gp.iloc[rep_i].copy()
    start = pd.to_datetime(pop["registration_start"].iloc[rep_i]).to_numpy()
    rep["REGISTRATION_START_DATE"] = _ddmmyyyy(start - rng_junk.integers(200, 3000, n_rep).astype("timedelta64[D]"))
    rep["REGISTRATION_END_DATE"] = _ddmmyyyy(start - np.timedelta64(1, "D"))
    rep["GP_PRACTICE_CODE"] = ods[rng_junk.integers(0, len(ods), n_rep)]
    rep["DATE_OF_DEATH"] = ""
    n_gpdup = int(0.002 * n)
    gpdup = gp.iloc[np.sort(rng_junk.choice(n, n_gpdup, replace=False))]
    # Extra records: NHS numbers failing the check, and records with sex not known.
    n_badgp, n_nosex = 60, 40
    extra = gp.iloc[rng_junk.choice(n, n_badgp + n_nosex, replace=False)].copy()
    extra["NHS_NUMBER"] = np.r_[_corrupt(rng_junk, spare[200:200 + n_badgp]), spare[300:300 + n_nosex]]
    extra["GENDER"] = np.r_[extra["GENDER"].to_numpy()[:n_badgp], _pick(rng_junk, ("9", "X", "0"), n_nosex)]
    gp = pd.concat([gp, rep, gpdup, extra], ignore_index=True)
    gp = gp.iloc[rng_junk.permutation(len(gp))].reset_index(drop=True)
    gp["NHS_NUMBER"] = _fmt_nhs(rng_junk, gp["NHS_NUMBER"].to_numpy().astype(str), 0.7, 0.05)
    # Activity of the people with sex not known (they are excluded, and so is their activity).
    nosex_nums = spare[300:300 + n_nosex]
    ae_nosex = ecds.iloc[:n_nosex].copy()
    ae_nosex["EC_IDENT"] = [f"{420000000000 + k}" for k in range(n_nosex)]
    ae_nosex["NHS_NUMBER"] = nosex_nums
    ae_nosex["EC_ATTENDANCE_CATEGORY"] = "1"
    ecds = pd.concat([ecds, ae_nosex], ignore_index=True)

    # ---- caseload and practices ------------------------------------------------------------------
    tr = pop.loc[pop["treated"] == 1]
    case = pd.DataFrame({"NHS_NUMBER": person_nhs[tr.index.to_numpy()],
                         "ENROLMENT_DATE": _ddmmyyyy(tr["index_date"]),
                         "TEAM": tr["practice_id"].map(dict(zip(d.practices["practice_id"],
                                                                d.practices["neighbourhood"]))).to_numpy()})
    n_rr = max(1, int(0.03 * len(case)))
    rr = case.iloc[np.sort(rng_junk.choice(len(case), n_rr, replace=False))].copy()
    rr["ENROLMENT_DATE"] = _ddmmyyyy(pd.to_datetime(tr["index_date"].iloc[rr.index]).to_numpy()
                                     + rng_junk.integers(60, 300, n_rr).astype("timedelta64[D]"))
    case = pd.concat([case, rr], ignore_index=True)
    case["NHS_NUMBER"] = _fmt_nhs(rng_junk, case["NHS_NUMBER"].to_numpy().astype(str), 0.5, 0.0)
    practices = pd.DataFrame({
        "PRACTICE_CODE": ods, "NEIGHBOURHOOD": d.practices["neighbourhood"].to_numpy(),
        "GO_LIVE_DATE": _ddmmyyyy(d.practices["go_live_date"]), "LIST_SIZE": d.practices["list_size"].to_numpy(),
    })

    truth = {
        "dataset": "southvale_nhs", "generator": "evaltool.datasets.southvale_nhs", "seed": int(seed),
        "scale": float(d.truth.get("scale", scale)),
        "acs_share_ratio": ACS_SHARE_RATIO,
        "true_acs_rate_ratios": {
            b: round(d.truth["true_rate_ratios"]["emergency_admission"][b] * ACS_SHARE_RATIO, 4)
            for b in ("under_65", "65_and_over")},
        "acs_note": ("Enrolled patients' emergency admissions after enrolment are ACS (chronic or acute) with "
                     "probability multiplied by acs_share_ratio; the ACS rate ratio is the emergency-admission "
                     "ratio times acs_share_ratio, for both NHSOF lists and the broad list."),
        "counts": {
            "apc_episodes_clean": int(e), "apc_spells": int(m), "apc_episodes_collapsed": int(e - m),
            "apc_duplicate_episodes": int(n_dup), "apc_unfinished_episodes": int(n_unf),
            "apc_invalid_nhs_number": int(n_badnhs), "apc_people_not_on_gp_list": int(n_out),
            "apc_invalid_diagnosis_codes": n_invalid_codes, "apc_transfer_spells_to_care_home": int(ch.sum()) + n_out_ch,
            "apc_transfer_spells_to_care_home_not_on_list": n_out_ch,
            "op_not_attended": int(n_dna), "ecds_planned_follow_ups": int(n_planned),
            "ecds_duplicates": int(n_ae_dup), "gp_repeat_registrations": int(n_rep), "gp_duplicate_rows": int(n_gpdup),
            "gp_invalid_nhs_number": n_badgp, "gp_sex_not_known": n_nosex, "ecds_sex_not_known_people": n_nosex,
            "caseload_repeat_referrals": int(n_rr),
        },
        "primary_diagnosis_kinds_emergency": {k: int(((kind == k) & em).sum()) for k in ("chronic", "acute", "fall", "other")},
    }
    return NhsExtracts(apc, op, ecds, gp, case, practices, lsoa_imd, truth)


def write_southvale_extracts(out_dir: str | os.PathLike[str], seed: int = DEFAULT_SEED, scale: float = 1.0,
                             *, data: SouthvaleData | None = None) -> dict[str, Path]:
    """Write the extracts to ``out_dir`` (deterministic: same seed and scale, same bytes).

    Examples
    --------
    >>> import tempfile
    >>> sorted(write_southvale_extracts(tempfile.mkdtemp(), scale=0.02))  # doctest: +NORMALIZE_WHITESPACE
    ['caseload', 'ecds', 'gp_list', 'hes_apc', 'hes_op', 'lsoa_imd', 'practices', 'truth']
    """
    x = southvale_extracts(seed, scale=scale, data=data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "hes_apc": _write_csv(x.hes_apc, out / "hes_apc.csv.gz"),
        "hes_op": _write_csv(x.hes_op, out / "hes_op.csv.gz"),
        "ecds": write_parquet_atomic(x.ecds, out / "ecds.parquet"),
        "gp_list": _write_csv(x.gp_list, out / "gp_list.csv.gz"),
        "caseload": _write_csv(x.caseload, out / "caseload.csv"),
        "practices": _write_xlsx(x.practices, out / "practices.xlsx"),
        "lsoa_imd": _write_csv(x.lsoa_imd, out / "lsoa_imd.csv"),
        "truth": write_json_atomic(x.truth, out / "truth_nhs.json"),
    }


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    import gzip

    text = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")

    def write(tmp: str) -> None:
        if path.name.endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                gz.write(text)
        else:
            Path(tmp).write_bytes(text)

    return _atomic_write_bytes(path, write)


def _write_xlsx(frame: pd.DataFrame, path: Path) -> Path:
    readme = pd.DataFrame({"About this workbook": [
        "Southvale GP practices (fictional).", "The practice list is on the sheet 'practices'.",
        "GO_LIVE_DATE: the neighbourhood team's go-live date (DD/MM/YYYY); blank = not live in the window."]})

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh, pd.ExcelWriter(fh, engine="openpyxl") as xw:
            readme.to_excel(xw, sheet_name="README", index=False)
            frame.to_excel(xw, sheet_name="practices", index=False)
        _fix_xlsx_times(tmp)

    return _atomic_write_bytes(path, write)


def _fix_xlsx_times(path: str) -> None:
    """Rewrite the workbook's zip with fixed timestamps and metadata (byte-identical reruns)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as z:
        items = [(n, z.read(n)) for n in z.namelist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in items:
            if name == "docProps/core.xml":
                data = re.sub(rb"<dcterms:(created|modified)[^>]*>[^<]*</dcterms:\1>",
                              lambda mm: mm.group(0).split(b">")[0] + b">2026-01-01T00:00:00Z</dcterms:"
                              + mm.group(1) + b">", data)
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
