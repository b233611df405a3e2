"""Southvale's generator parameters: window, practices, rates, latent-risk model, enrolment model and
the true effects (documented in :mod:`evaltool.datasets.southvale`)."""
from __future__ import annotations

import numpy as np

DEFAULT_SEED = 20261122

WINDOW_START = np.datetime64("2021-04-01", "D")
WINDOW_END = np.datetime64("2025-03-31", "D")
ENROL_END = np.datetime64("2024-09-30", "D")
N_MONTHS = 48
_N_DAYS = int((WINDOW_END - WINDOW_START).astype(int)) + 1  # 1461

_MONTHS = np.arange("2021-04", "2025-04", dtype="datetime64[M]")
_MS = (_MONTHS.astype("datetime64[D]") - WINDOW_START).astype(np.int64)  # month start day
_ME = np.r_[_MS[1:], _N_DAYS] - 1  # month end day (inclusive)
_MLEN = (_ME - _MS + 1).astype(np.float64)
_CAL_MONTH = (_MONTHS.astype(np.int64) % 12) + 1  # 1 = January
_ENROL_LAST_M = int(np.searchsorted(_MS, int((ENROL_END - WINDOW_START).astype(int)), "right") - 1)

POPULATION_TARGET = 166_000  # registered at window start, at scale 1
N_PRACTICES = 25
NEIGHBOURHOODS = ("Northgate", "Riverside", "Eastbrook", "Westmoor", "Southfield")
# Neighbourhood go-live month (first of month) and deprivation shift (+ = more deprived).
_NB_GO_LIVE = ("2023-04-01", "2023-07-01", "2023-10-01", "2024-01-01", "2024-03-01")
_NB_DEPRIVATION = (0.9, 0.3, -0.1, -0.6, 0.2)
# Practices that depart from their neighbourhood's date. None = never (blank);
# S014's planned date falls after the window, so it is blank in the data too.
_PRACTICE_GO_LIVE_OVERRIDES: dict[str, str | None] = {
    "S003": "2023-05-01",
    "S008": "2023-09-01",
    "S014": None,  # planned 2025-06-01, after the window
    "S017": "2023-12-01",
    "S024": None,  # never goes live
}
_PLANNED_AFTER_WINDOW = {"S014": "2025-06-01"}

TRUE_RATE_RATIOS: dict[str, dict[str, float]] = {
    "emergency_admission": {"under_65": 0.80, "65_and_over": 1.00},
    "ae_attendance": {"under_65": 0.85, "65_and_over": 1.00},
    "emergency_bed_days": {"under_65": 0.80, "65_and_over": 1.00},
    "elective_admission": {"under_65": 1.00, "65_and_over": 1.00},
    "outpatient_attendance": {"under_65": 1.00, "65_and_over": 1.00},
    "care_home_admission": {"under_65": 1.00, "65_and_over": 1.00},
    "death": {"under_65": 1.00, "65_and_over": 1.00},
}

# England-like age pyramid, 5-year bands 0-4 ... 85-89, 90+ (per cent).
_PYRAMID = np.array(
    [5.4, 6.0, 6.0, 5.6, 6.0, 6.6, 6.9, 6.6, 6.3, 6.4, 6.9, 6.8, 5.9, 5.0, 5.0, 3.6, 2.5, 1.5, 0.9]
)

# Annual rates for an average person at each age knot (log-linear in between).
_AGE_KNOTS = np.array([0, 5, 15, 25, 45, 65, 75, 85, 100], dtype=float)
_ANNUAL = {
    "emergency_admission": np.array([0.13, 0.04, 0.05, 0.06, 0.07, 0.12, 0.21, 0.38, 0.55]),
    "ae_attendance": np.array([0.45, 0.25, 0.35, 0.40, 0.30, 0.30, 0.38, 0.55, 0.75]),
    "elective_admission": np.array([0.02, 0.015, 0.025, 0.04, 0.07, 0.13, 0.17, 0.15, 0.08]),
    "outpatient_attendance": np.array([0.35, 0.2, 0.25, 0.3, 0.5, 0.85, 1.1, 1.1, 0.8]),
}
# How strongly each setting loads on the person's persistent level u and the
# transient AR(1) shock e (both on the log rate).
_LOADINGS = {
    "emergency_admission": (1.0, 1.0),
    "ae_attendance": (0.8, 0.8),
    "elective_admission": (0.35, 0.0),
    "outpatient_attendance": (0.45, 0.15),
}
_SIGMA_U = 1.05  # sd of the persistent level
_SIGMA_E = 1.0  # stationary sd of the transient shock
_RHO = 0.55  # month-to-month autocorrelation of the shock
_SEASON_AMPLITUDE = 0.10  # winter peak in January

FRAILTY_LEVELS = ("fit", "mild", "moderate", "severe")
_FRAILTY_RATE_MULT = np.array([1.0, 1.25, 1.6, 2.1])
_FRAILTY_DEATH_MULT = np.array([0.6, 1.0, 1.8, 3.2])
_FRAILTY_LOS_ADD = np.array([0.0, 0.15, 0.3, 0.45])

# Enrolment model (logit of the monthly probability of enrolment).
_ENROL_INTERCEPT = -6.0
_ENROL_RISK = 0.8  # per unit logit(risk_score)
_ENROL_RECENT = 2.1  # per emergency admission in the previous 3 months (capped at 3)
_ENROL_UNDER65 = 1.3  # working-age complex-needs referrals

SETTINGS = (
    "emergency_admission",
    "elective_admission",
    "ae_attendance",
    "outpatient_attendance",
    "care_home_admission",
)

# Independent random streams, one per component, so that changing one part
# (e.g. switching the effect off) never shifts the draws of another.
_STREAMS = (
    "practices", "people", "age", "registration", "clinical", "latent", "shock",
    "death", "risk", "emergency_admission", "ae_attendance", "elective_admission",
    "outpatient_attendance", "care_home_admission", "enrolment", "thin_emergency",
    "thin_ae", "event_detail",
)
