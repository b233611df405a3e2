"""The `rollout` section of the analysis spec: the staggered practice roll-out analysis."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ROLLOUT_ESTIMATORS", "ROLLOUT_OUTCOMES", "RolloutConfig"]

ROLLOUT_OUTCOMES = (
    "emergency_admission", "elective_admission", "ae_attendance", "outpatient_attendance",
    "care_home_admission", "gp_contact",
)
ROLLOUT_ESTIMATORS = ("twfe", "callaway_santanna", "imputation", "imputation_poisson")


class RolloutConfig(BaseModel):
    """Practice-level staggered roll-out analysis (see :func:`evaltool.effects.rollout_stage.run_stage`).

    Examples
    --------
    >>> RolloutConfig().period
    'quarter'
    >>> RolloutConfig(outcomes=["ae_attendance"], weights="rademacher").weights
    'rademacher'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcomes: tuple[str, ...] = Field(("emergency_admission",),
                                      description="activity settings counted per practice-period")
    period: Literal["month", "quarter"] = Field(
        "quarter", description="panel period; quarters by default (monthly C&S on rare events is very noisy)")
    control_group: Literal["not_yet_treated", "never_treated"] = Field(
        "not_yet_treated", description="comparison practices for Callaway & Sant'Anna")
    method: Literal["dr", "ipw", "reg"] = Field("dr", description="Callaway & Sant'Anna 2x2 estimator")
    estimators: tuple[Literal["twfe", "callaway_santanna", "imputation", "imputation_poisson"], ...] = Field(
        ROLLOUT_ESTIMATORS, description="estimators to run; twfe is shown for comparison only")
    bootstrap_reps: int = Field(999, ge=99, le=99999, description="wild / multiplier bootstrap replications")
    weights: Literal["webb", "rademacher"] = Field(
        "webb", description="wild bootstrap weights (Webb's six-point weights suit few clusters)")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="1 - confidence level")
    placebo: bool = Field(True, description="placebo go-live dates on pre-period data")
    placebo_shifts: tuple[int, ...] = Field((1, 2), description="periods to move go-live earlier for placebos")
    leave_one_out: bool = Field(True, description="re-estimate dropping each practice in turn")
    blank_go_live: Literal["never_treated", "drop"] = Field(
        "never_treated", description="practices with no go_live_date: never live (the input contract; counted in a "
                                     "warning), or drop them (when a blank may mean a lost date)")

    @field_validator("outcomes")
    @classmethod
    def _known_outcomes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [o for o in v if o not in ROLLOUT_OUTCOMES]
        if bad:
            raise ValueError(f"unknown rollout outcome(s) {bad}; expected some of {list(ROLLOUT_OUTCOMES)}")
        if not v:
            raise ValueError("`outcomes` must name at least one activity setting")
        return v

    @field_validator("placebo_shifts")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(k < 1 for k in v):
            raise ValueError(f"`placebo_shifts` must be positive integers, found {list(v)}")
        return v
