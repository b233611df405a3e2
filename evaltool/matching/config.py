"""The `matching` section of the analysis spec."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MatchingConfig", "TrajectoryConfig", "DEFAULT_COVARIATES"]

#: Default matching variables: demographics, need, and the pre-period value of every outcome (field convention).
DEFAULT_COVARIATES = (
    "age", "sex", "imd_quintile", "ltc_count", "frailty", "risk_score",
    "emergency_admission_12m", "emergency_admission_3m", "ae_attendance_12m", "bed_days_12m",
)

#: Measures a profile can be built from: activity settings, emergency bed days and cost.
PROFILE_MEASURES = ("emergency_admission", "elective_admission", "ae_attendance", "outpatient_attendance",
                    "care_home_admission", "gp_contact", "bed_days", "cost")


class TrajectoryConfig(BaseModel):
    """Prior use matched as a monthly profile (see :mod:`evaltool.matching.trajectory`).

    Examples
    --------
    >>> TrajectoryConfig().monthly
    3
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcomes: tuple[str, ...] | None = Field(
        None, description="measures whose prior use is matched month by month; default: every measure with a "
                          "look-back covariate in `covariates` (e.g. emergency_admission, ae_attendance, bed_days)")
    months: int | None = Field(
        None, description="profile length in months before the index month; default: the effects section's "
                          "pre_months (12 without an effects section)")
    monthly: int = Field(3, description="months nearest the index matched one by one; earlier months in quarters")
    thresholds: tuple[int, ...] = Field(
        (1, 2, 3), description="'at least c events in the last 3, 6, 12 months' indicators of each profiled count "
                               "enter the propensity model (case-finding rules); [] leaves them out")
    match_on: Literal["propensity", "mahalanobis"] = Field(
        "propensity", description="propensity: the profile enters the propensity model; mahalanobis: also the "
                                  "Mahalanobis distance on the profile within the propensity-score caliper")

    @field_validator("outcomes")
    @classmethod
    def _outcomes(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        bad = [o for o in v or () if o not in PROFILE_MEASURES]
        if bad or (v is not None and not v):
            raise ValueError(f"outcomes: expected some of {list(PROFILE_MEASURES)}, got {list(v or ())}")
        return v

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(c < 1 or c > 50 for c in v):
            raise ValueError(f"thresholds: expected whole counts between 1 and 50, got {list(v)}")
        return tuple(sorted(set(v)))

    @field_validator("months")
    @classmethod
    def _months(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= 60:
            raise ValueError(f"months: expected whole months between 1 and 60, got {v}")
        return v

    @field_validator("monthly")
    @classmethod
    def _monthly(cls, v: int) -> int:
        if not 0 <= v <= 24:
            raise ValueError(f"monthly: expected whole months between 0 and 24, got {v}")
        return v


#: Most controls per treated person a spec may ask for.
MAX_RATIO = 100


class MatchingConfig(BaseModel):
    """Risk-set matching of enrolled patients to controls (see :func:`evaltool.matching.risk_set_match`).

    Examples
    --------
    >>> MatchingConfig().caliper
    0.2
    >>> MatchingConfig(ratio=2, exact=["sex", "practice_id"]).ratio
    2
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["nearest", "exact", "cem"] = Field("nearest", description="matching method")
    distance: Literal["logit", "linear_logit", "mahalanobis"] = Field(
        "linear_logit", description="the logit of the propensity score (default; Austin 2011's caliper of 0.2 SD "
                                    "of the logit), the score on the probability scale, or Mahalanobis distance")
    covariates: tuple[str, ...] = Field(
        DEFAULT_COVARIATES,
        description="matching variables: population columns, or <setting>_<N>m / bed_days_<N>m / cost_<N>m "
                    "counts over the N months before the index date",
    )
    ratio: int = Field(1, description="controls per treated patient")
    replace: bool = Field(False, description="may a control be matched to more than one treated patient")
    caliper: float | None = Field(0.2, description="maximum distance; SD of the distance when std_caliper")
    std_caliper: bool = Field(True, description="caliper in SD units of the distance (MatchIt convention)")
    exact: tuple[str, ...] = Field(("sex",), description="variables that must match exactly")
    order: Literal["largest", "smallest", "random", "data"] = Field("largest", description="matching order")
    lookback_months: tuple[int, ...] = Field((12, 3), description="look-back windows (months) for activity covariates")
    period: Literal["month"] = Field("month", description="enrolment period defining risk sets")
    followup: Literal["keep", "censor"] = Field(
        "keep", description="controls enrolled later: keep as matched (ITT) or censor at their enrolment")
    missing: Literal["error", "exclude"] = Field("error", description="missing covariate values: error or exclude")
    min_age: int = Field(18, description="minimum age at index date for controls and treated")
    candidates_per_treated: int | None = Field(
        None, description="large pools: draw this many eligible candidates per enrolled person at random within "
                          "each risk set (and exact stratum) before matching; None uses every candidate")
    trajectory: TrajectoryConfig | None = Field(
        default_factory=TrajectoryConfig,
        description="match prior use as a monthly profile, not only as look-back totals (default on; "
                    "`trajectory: null` or `false` turns it off)")

    @field_validator("candidates_per_treated")
    @classmethod
    def _sample(cls, v: int | None) -> int | None:
        if v is not None and v < 5:
            raise ValueError(f"candidates_per_treated: expected an integer >= 5 (or none), got {v}")
        return v

    @field_validator("trajectory", mode="before")
    @classmethod
    def _trajectory(cls, v):
        if v is False:
            return None
        if v is True:
            return TrajectoryConfig()
        return v

    @field_validator("caliper")
    @classmethod
    def _caliper(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:
            raise ValueError(f"caliper: expected a number > 0, got {v:g}")
        return v

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"ratio: expected an integer >= 1, got {v}")
        if v > MAX_RATIO:
            # Beyond a few controls precision barely improves; a huge ratio only exhausts memory.
            raise ValueError(f"ratio: expected an integer from 1 to {MAX_RATIO}, got {v}")
        return v

    @field_validator("lookback_months")
    @classmethod
    def _lookback(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(m < 1 or m > 60 for m in v):
            raise ValueError(f"lookback_months: expected whole months between 1 and 60, got {list(v)}")
        return tuple(sorted(set(v), reverse=True))

    @field_validator("covariates")
    @classmethod
    def _covs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("covariates: expected at least one matching variable, got none")
        return v

    @field_validator("min_age")
    @classmethod
    def _min_age(cls, v: int) -> int:
        if v < 0 or v > 120:
            raise ValueError(f"min_age: expected an age between 0 and 120, got {v}")
        return v
