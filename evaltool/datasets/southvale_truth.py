"""The truth record of a Southvale draw: the generator's parameters and the checks computed from the draw
(true rate ratios, the naive before/after fall, practice-level targets), written as ``truth.json``."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaltool.datasets.southvale_params import (
    N_MONTHS,
    NEIGHBOURHOODS,
    _PLANNED_AFTER_WINDOW,
    TRUE_RATE_RATIOS,
    _SIGMA_U,
    _SIGMA_E,
    _RHO,
    _SEASON_AMPLITUDE,
    FRAILTY_LEVELS,
    _FRAILTY_RATE_MULT,
    _FRAILTY_DEATH_MULT,
    _ENROL_INTERCEPT,
    _ENROL_RISK,
    _ENROL_RECENT,
    _ENROL_UNDER65,
)


def _rate_per_py(events: np.ndarray, expo: np.ndarray, cols: np.ndarray) -> tuple[float, float]:
    """Events and person-years in the months selected by the boolean mask ``cols``."""
    return float((events * cols).sum()), float((expo * cols).sum() / 12)


def truth_record(**k: Any) -> dict[str, Any]:
    treated, under65, enrol_m = k["treated"], k["under65"], k["enrol_m"]
    expo, y, y0, lam0, post = k["expo"], k["y"], k["y0"], k["lam0"], k["post"]
    prac, practice_idx, go_m_p = k["prac"], k["practice_idx"], k["go_m_p"]
    months = np.arange(N_MONTHS)
    rows = np.flatnonzero(treated)
    rel = months[None, :] - enrol_m[rows, None]
    pre_mask = (rel >= -12) & (rel <= -1)
    post_mask = (rel >= 0) & (rel <= 11)
    em = y["emergency_admission"][rows].astype(float)
    ex = expo[rows]

    def before_after(sel: np.ndarray) -> dict[str, float]:
        eb, pb = _rate_per_py(em[sel], ex[sel], pre_mask[sel])
        ea, pa = _rate_per_py(em[sel], ex[sel], post_mask[sel])
        rb, ra = eb / pb, ea / pa
        return {
            "events_before": int(eb),
            "events_after": int(ea),
            "person_years_before": round(pb, 3),
            "person_years_after": round(pa, 3),
            "rate_before_per_py": round(rb, 4),
            "rate_after_per_py": round(ra, 4),
            "ratio_after_to_before": round(ra / rb, 4),
            "percent_fall": round(100 * (1 - ra / rb), 2),
        }

    u65_rows = under65[rows]
    naive = {
        "description": (
            "Emergency admissions per person-year for enrolled patients in the 12 months "
            "before the index month (months -12..-1) and from the index month on "
            "(months 0..11), person-time = days registered and alive, truncated at the "
            "window end; computed from the generated activity."
        ),
        "all": before_after(np.ones(rows.size, bool)),
        "under_65": before_after(u65_rows),
        "65_and_over": before_after(~u65_rows),
    }

    # Practice-level implied effect of the roll-out: expected events with and
    # without treatment in post-go-live practice-months (potential outcomes).
    em_lam = lam0["emergency_admission"] * expo
    rr_em = np.ones_like(em_lam)
    if k["effect"]:
        rr_i = np.where(under65, TRUE_RATE_RATIOS["emergency_admission"]["under_65"], 1.0)
        rr_em = np.where(post, rr_i[:, None], 1.0)
    post_prac = months[None, :] >= go_m_p[practice_idx][:, None]
    e0 = float((em_lam * post_prac).sum())
    e1 = float((em_lam * rr_em * post_prac).sum())
    n_prac_months = int(
        sum(max(0, N_MONTHS - int(g)) for g in go_m_p if g < N_MONTHS)
    )
    per_prac = {}
    e0_p = np.bincount(practice_idx, weights=(em_lam * post_prac).sum(axis=1), minlength=len(prac))
    e1_p = np.bincount(
        practice_idx, weights=(em_lam * rr_em * post_prac).sum(axis=1), minlength=len(prac)
    )
    for j, pid in enumerate(prac["practice_id"]):
        if e0_p[j] > 0:
            per_prac[pid] = {
                "expected_without": round(float(e0_p[j]), 3),
                "expected_with": round(float(e1_p[j]), 3),
                "implied_rate_ratio": round(float(e1_p[j] / e0_p[j]), 5),
            }
    practice_level = {
        "description": (
            "Expected emergency admissions (sum of monthly rate x exposure over all registered "
            "people) in practice-months from each practice's go-live month to the window end, "
            "with the true effect (with) and without it (without); implied_rate_ratio = "
            "with / without is the target of a practice-month difference-in-differences on "
            "total emergency admissions (an ATT over post-go-live practice-months)."
        ),
        "n_post_go_live_practice_months": n_prac_months,
        "expected_without": round(e0, 3),
        "expected_with": round(e1, 3),
        "expected_averted": round(e0 - e1, 3),
        "implied_rate_ratio": round(e1 / e0, 5),
        "realised_events_without": int((y0["emergency_admission"] * post_prac).sum()),
        "realised_events_with": int((y["emergency_admission"] * post_prac).sum()),
        "by_practice": per_prac,
    }

    # Realised post-index emergency admissions of the enrolled, with the effect
    # (observed) and without it (their coupled untreated potential outcomes).
    em0_rows = y0["emergency_admission"][rows] * post[rows]
    em1_rows = y["emergency_admission"][rows] * post[rows]
    enrolled_post = {}
    for band, sel in (("under_65", u65_rows), ("65_and_over", ~u65_rows)):
        ev0, ev1 = int(em0_rows[sel].sum()), int(em1_rows[sel].sum())
        enrolled_post[band] = {
            "events_without": ev0,
            "events_with": ev1,
            "realised_ratio": round(ev1 / ev0, 4) if ev0 else None,
            "person_years": round(float((expo[rows][sel] * post[rows][sel]).sum() / 12), 2),
        }

    go_live = {}
    for pid, d in zip(prac["practice_id"], prac["go_live_date"]):
        go_live[pid] = None if pd.isna(d) else pd.Timestamp(d).strftime("%Y-%m-%d")
    n_adults = int(k["adult_at_start"].sum())
    n_enrolled = {
        "total": int(treated.sum()),
        "under_65": int(under65.sum()),
        "65_and_over": int((treated & ~under65).sum()),
    }
    return {
        "dataset": "southvale",
        "generator": "evaltool.datasets.southvale",
        "seed": k["seed"],
        "scale": k["scale"],
        "effect_switched_on": bool(k["effect"]),
        "window": {"start": "2021-04-01", "end": "2025-03-31", "n_months": N_MONTHS},
        "enrolment_window_end": "2024-09-30",
        "n_population": int(k["n"]),
        "n_registered_at_window_start": int(k["n_start"]),
        "n_registered_during_window": int(k["incomer"].sum()),
        "n_left_practice": int((k["leaves"] & ~k["died"]).sum()),
        "n_deaths": int(k["died"].sum()),
        "n_adults_at_window_start": n_adults,
        "n_practices": int(len(prac)),
        "neighbourhoods": list(NEIGHBOURHOODS),
        "n_enrolled": n_enrolled,
        "percent_adults_enrolled": round(100 * n_enrolled["total"] / n_adults, 3),
        "percent_enrolled_under_65": round(100 * n_enrolled["under_65"] / max(1, n_enrolled["total"]), 2),
        "index_date_rule": "first day of the enrolment month; the effect applies from that month on",
        "age_band_rule": "age in whole years at index_date: under_65 (<65) or 65_and_over",
        "true_rate_ratios": TRUE_RATE_RATIOS if k["effect"] else {
            o: {b: 1.0 for b in v} for o, v in TRUE_RATE_RATIOS.items()
        },
        "true_effect_notes": {
            "emergency_admission": "monthly rate multiplied by the ratio from the index month on",
            "ae_attendance": "monthly rate multiplied by the ratio from the index month on",
            "emergency_bed_days": "through fewer emergency admissions; length of stay unchanged",
            "cost": "follows the activity; no effect on unit costs",
            "death": "no effect on mortality",
            "others": "elective, outpatient and care-home admissions: no effect",
        },
        "go_live_dates": go_live,
        "go_live_planned_after_window": dict(_PLANNED_AFTER_WINDOW),
        "naive_before_after_emergency": naive,
        "practice_level_emergency": practice_level,
        "enrolled_post_index_emergency": enrolled_post,
        "generator_parameters": {
            "sigma_persistent_log_rate": _SIGMA_U,
            "sigma_transient_log_rate": _SIGMA_E,
            "ar1_rho_monthly": _RHO,
            "season_amplitude_log": _SEASON_AMPLITUDE,
            "enrolment_logit": {
                "intercept": _ENROL_INTERCEPT,
                "per_logit_risk_score": _ENROL_RISK,
                "per_emergency_admission_prev_3_months_capped_3": _ENROL_RECENT,
                "under_65": _ENROL_UNDER65,
            },
            "frailty_rate_multiplier": dict(zip(FRAILTY_LEVELS, _FRAILTY_RATE_MULT.tolist())),
            "frailty_death_multiplier": dict(zip(FRAILTY_LEVELS, _FRAILTY_DEATH_MULT.tolist())),
        },
    }
