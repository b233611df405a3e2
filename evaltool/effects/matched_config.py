"""The matched-cohort part of the `effects` section of the analysis spec."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evaltool.effects.panels import OUTCOMES

__all__ = ["DEFAULT_OUTCOMES", "MatchedDidConfig"]

DEFAULT_OUTCOMES = (
    "emergency_admission", "ae_attendance", "bed_days", "elective_admission", "care_home_admission", "cost",
)


class MatchedDidConfig(BaseModel):
    """Difference-in-differences on the matched cohort (see :func:`evaltool.effects.matched.matched_did`).

    Examples
    --------
    >>> MatchedDidConfig().subgroups
    ('age_band',)
    >>> MatchedDidConfig(model="negbin", post_months=24).post_months
    24
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcomes: tuple[str, ...] = Field(DEFAULT_OUTCOMES, description="outcomes, each with its own model")
    model: Literal["poisson", "negbin", "linear"] = Field(
        "poisson", description="Poisson with log person-time offset (default), negative binomial, linear on rates")
    pre_months: int = Field(12, description="months before the index date (1-24)")
    post_months: int = Field(12, description="months after the index date (1-24)")
    subgroups: tuple[str, ...] = Field(
        ("age_band",), description="categorical cohort columns for subgroup effects; age_band = under 65 / 65+")
    cluster: str | None = Field("subclass", description="cluster for SEs: subclass (matched set), practice, person, "
                                "a cohort column, or null for heteroskedasticity-robust")
    event_study: bool = Field(True, description="fit per-month effects with a pre-trend test")
    alpha: float = Field(0.05, description="1 - confidence level")
    coded_measures: dict[str, Literal["count", "bed_days"]] = Field(
        default_factory=dict, description="set from the spec's `coded_outcomes`: outcome -> what is summed "
        "(count of its activity rows, or their bed days); not written by hand")
    coded_words: dict[str, str] = Field(
        default_factory=dict, exclude=True, description="set from the spec's `coded_outcomes`: outcome -> words for "
        "its events in messages ('emergency admissions for ...'); not written by hand")

    @model_validator(mode="after")
    def _outcomes(self) -> MatchedDidConfig:
        bad = [o for o in self.outcomes if o not in OUTCOMES and o not in self.coded_measures]
        if bad or not self.outcomes:
            raise ValueError(f"outcomes: expected some of {list(OUTCOMES)} or outcomes defined under `coded_outcomes`, "
                             f"got {list(self.outcomes)}")
        return self

    def outcome_defs(self) -> dict[str, tuple[str, tuple[str, ...] | None]]:
        """Every outcome's definition: the built-in ones and the coded outcomes of the spec."""
        return {**OUTCOMES, **{o: (("count" if m == "count" else "bed_days"), (o,))
                               for o, m in self.coded_measures.items()}}

    @field_validator("pre_months", "post_months")
    @classmethod
    def _months(cls, v: int) -> int:
        if not 1 <= v <= 24:
            raise ValueError(f"expected whole months between 1 and 24, got {v}")
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        if not 0 < v < 0.5:
            raise ValueError(f"alpha: expected a number in (0, 0.5), got {v}")
        return v
