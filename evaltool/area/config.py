"""The `area` section of the analysis spec: whole-area designs (ITS, synthetic control, synthetic DiD)."""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["AREA_METHODS", "AreaConfig", "ItsConfig"]

AREA_METHODS = ("sdid", "ascm", "synthetic_control", "did", "its")


class ItsConfig(BaseModel):
    """Interrupted time series options (see :func:`evaltool.area.its.interrupted_time_series`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    family: Literal["poisson", "quasi_poisson", "negative_binomial"] = Field(
        "quasi_poisson", description="count model; quasi-Poisson allows overdispersion")
    impact: tuple[Literal["level", "slope"], ...] = Field(("level", "slope"), description="level and/or slope change")
    seasonality: Literal["fourier", "month", "none"] = Field("fourier", description="seasonal adjustment")
    harmonics: int = Field(2, ge=1, le=6, description="Fourier sine/cosine pairs")
    errors: Literal["ar1", "newey_west", "model"] = Field(
        "ar1", description="standard errors: ar1 = a latent AR(1) monthly rate fitted by REML with Satterthwaite"
                           " degrees of freedom (nominal coverage on simulated series; with a control series, on the"
                           " log rate ratio between the series),"
                           " newey_west = HAC sandwich, model = the count model's own")
    hac_lags: int | None = Field(None, ge=1, le=24, description="Newey-West lags (default from the series length)")
    lag_months: int = Field(0, ge=0, le=12, description="months after go-live treated as a transition (left out)")
    control_series: bool = Field(False, description="comparative ITS against the donor areas' total (with ar1"
                                                    " errors: a latent AR(1) log rate ratio between the series)")


class AreaConfig(BaseModel):
    """Whole-area analysis: the evaluated area against itself over time and against donor areas.

    Examples
    --------
    >>> AreaConfig(treated_area="Southvale", go_live="2023-04-01").headline
    'auto'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    treated_area: str = Field(description="area_id of the evaluated area")
    build_from_person_data: bool = Field(
        True, description="build the evaluated area's series from the population/activity tables")
    go_live: date | None = Field(None, description="go-live of the evaluated area (else the panel's go_live_date)")
    phased: bool = Field(True, description="ITS: use the share of the area live each month (from practices'"
                                           " go-live dates) for a phased start")
    outcome: str = Field("emergency_admission", description="activity setting counted (and the panel's `outcome`)")
    methods: tuple[Literal["sdid", "ascm", "synthetic_control", "did", "its"], ...] = Field(
        AREA_METHODS, description="designs to run")
    headline: Literal["auto", "sdid", "ascm", "synthetic_control", "did", "its"] = Field(
        "auto", description="auto: synthetic DiD when donors allow, then augmented synthetic control, else ITS")
    predictors: tuple[str, ...] = Field((), description="numeric panel columns used as synthetic-control predictors")
    treated_predictors: dict[str, float] = Field(
        default_factory=dict, description="predictor values for an evaluated area built from person-level data")
    min_pre_months: int = Field(24, ge=6, le=240, description="pre-period months an area design needs")
    min_donors: int = Field(5, ge=2, le=1000, description="donor areas a comparison-area design needs")
    placebo_replications: int = Field(200, ge=20, le=5000, description="placebo draws for the SDID variance")
    scale: Literal["log", "rate"] = Field(
        "log", description="comparison-area designs: log = estimate on the log rate (a rate ratio; the difference"
                           " per 1,000 is derived from it), rate = on the rate per 1,000 person-years")
    placebo_interval: Literal["t", "normal"] = Field(
        "t", description="placebo interval: t with (comparison areas - 1) degrees of freedom, or normal")
    ascm_fixed_effects: bool = Field(
        True, description="augmented synthetic control: subtract each area's mean before go-live first"
                          " (augsynth's fixedeff; without it the interval undercovers when the area lies outside"
                          " the comparison areas' range, benchmarks/area)")
    its: ItsConfig = ItsConfig()
    alpha: float = Field(0.05, gt=0, lt=0.5)

    @field_validator("treated_area")
    @classmethod
    def _nonblank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("`treated_area` must name the evaluated area")
        return v.strip()

    @model_validator(mode="after")
    def _consistent(self) -> AreaConfig:
        if not self.methods:
            raise ValueError("`methods` must name at least one of " + ", ".join(AREA_METHODS))
        if self.headline != "auto" and self.headline not in self.methods:
            raise ValueError(f"headline {self.headline!r} is not among `methods` {list(self.methods)}")
        missing = [p for p in self.predictors if p not in self.treated_predictors]
        if self.build_from_person_data and self.predictors and missing:
            raise ValueError(f"predictors {missing} need values for the evaluated area under `treated_predictors`"
                             " (it is built from person-level data)")
        return self
