"""Configuration of the PROM/PREM stage (the spec's ``proms`` section)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PromsConfig(BaseModel):
    """Settings for :func:`evaltool.proms.stage.run_stage`.

    Examples
    --------
    >>> PromsConfig().value_set
    'england_5l_2018'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="Run the PROM/PREM stage.")
    instrument: Literal["EQ-5D-5L", "EQ-5D-3L"] = Field(
        "EQ-5D-5L", description="EQ-5D version in the proms table (rows of other instruments are counted and set aside)."
    )
    value_set: Literal[
        "england_5l_2018", "uk_5l_2026", "uk_3l_tto_1997", "uk_3l_vas", "crosswalk_vanhout_2012",
        "dsu_5l_to_3l_2023", "dsu_3l_to_5l_2023", "reverse_crosswalk_euroqol",
    ] = Field("england_5l_2018", description="Value set or mapping turning profiles into index values; named in every "
              "output (sources: evaltool.proms.valuesets).")
    timepoints: tuple[str, ...] = Field(("baseline", "6m", "12m"), description="Time points in order.")
    baseline: str = Field("baseline", description="The baseline time point.")
    mid: float = Field(0.06, gt=0, description="Minimal important difference in the index for '% improving'.")
    mid_source: str = Field(
        "McClure NS et al. Value Health 2017;20(4):644-650 (EQ-5D-5L index MIDs 0.037-0.069 across value sets); "
        "0.06 is a conventional choice, not specific to the England 2018 value set",
        description="Where the MID comes from (shown next to every % improving).",
    )
    pchc_no_problems: bool = Field(
        True, description="Paretian classification: count 11111 at both times as 'no problems' (not 'no change') and "
        "give the change classes as % of pairs with problems, as R eq5d's pchc(no.problems = TRUE).")
    vas_mid: float | None = Field(None, description="Optional MID for the EQ-VAS (0-100 points).")
    treated_label: str = Field("enrolled", description="Group label for population.treated == 1.")
    comparison_label: str = Field("comparison", description="Group label for everyone else answering.")
    ancova_covariates: tuple[str, ...] = Field(
        ("age", "sex"), description="Population columns added to the ANCOVA (missing ones are skipped with a warning)."
    )
    pam_score_col: str = Field("pam_score", description="Licensed activation score column (0-100).")
    pam_level_col: str = Field("pam_level", description="Licensed activation level column (1-4).")
    pam_cut_points: tuple[float, float, float] = Field(
        (47.0, 55.1, 67.0), description="Score cut points between activation levels 1|2, 2|3, 3|4 (check your licence)."
    )
    prem_surveys: dict[str, str] = Field(
        {"P3CEQ": "P3CEQ", "FFT": "FFT"},
        description="Survey value in prems.survey -> item map (shipped name or YAML path).",
    )
    prem_base: Literal["valid", "all"] = Field("valid", description="Base for item top-box percentages.")
    prem_weights: str | None = Field(None, description="Optional weight column in prems for top-box percentages.")
    confidence: float = Field(0.95, gt=0.5, lt=1)

    @field_validator("timepoints")
    @classmethod
    def _two_timepoints(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < 2 or len(set(v)) != len(v):
            raise ValueError(f"`timepoints` needs at least two distinct labels; found {list(v)}")
        return v
