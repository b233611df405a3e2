"""The `economics` section of the analysis spec: programme costs, unit costs, prices, thresholds.

Every money figure carries its ``source`` and ``price_year`` (the financial year its prices
belong to, named by its first calendar year: 2023 = 2023/24); figures are inflated to the
common ``price_year`` with the user's inflation index (the NHS Cost Inflation Index published
with PSSRU's *Unit Costs of Health and Social Care* is the usual choice for NHS costs).
Activity is costed from the data's ``cost`` column or from a unit-cost table per setting the
user supplies (e.g. National Cost Collection averages); evaltool never invents a unit cost.

Examples
--------
>>> cfg = EconomicsConfig(price_year=2024, programme_costs={"staff": [
...     {"role": "Case manager (Band 6)", "wte": 2, "cost_per_wte_year": 55000,
...      "source": "local finance ledger", "price_year": 2024}]})
>>> cfg.discount_rate_costs, [t.value for t in cfg.thresholds]
(0.035, [20000.0, 30000.0])
"""
from __future__ import annotations

from datetime import date as Date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DISCOUNT_SOURCE",
    "NICE_THRESHOLD_SOURCE",
    "ActivityCostsConfig",
    "BudgetImpactConfig",
    "EconomicsConfig",
    "InflationIndex",
    "PerPatientCost",
    "ProgrammeCostsConfig",
    "QalyConfig",
    "RunningCost",
    "SetupCost",
    "StaffCost",
    "Threshold",
    "UnitCost",
]

#: Where the default thresholds come from (checked December 2025 / 2026 on nice.org.uk).
NICE_THRESHOLD_SOURCE = (
    "NICE: an intervention costing less than £20,000 per QALY gained is usually considered cost effective, and "
    "£20,000-£30,000 may be acceptable (NICE health technology evaluations: the manual, PMG36, January 2022; "
    "Developing NICE guidelines: the manual, PMG20, chapter 7). From April 2026 NICE's technology appraisals of "
    "medicines use £25,000-£35,000 (DHSC direction announced 1 December 2025; NICE FAQ 'Changes to NICE's "
    "cost-effectiveness thresholds'); that change does not cover guidelines or service evaluations"
)
DISCOUNT_SOURCE = (
    "3.5% a year for costs and health effects: NICE reference case (PMG36, 2022) and HM Treasury Green Book "
    "social time preference rate; the Green Book's rate for health effects alone is 1.5%"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _nonblank(v: str, what: str) -> str:
    if not str(v).strip():
        raise ValueError(f"{what}: expected a non-empty text naming where the figure comes from")
    return v


class _Sourced(_Strict):
    """A money figure's provenance and its range for the one-way sensitivity analysis."""

    source: str = Field(description="Where the figure comes from (document, table, year).")
    price_year: int = Field(ge=1990, le=2100, description="Financial year of the prices (2023 = 2023/24).")
    low: float | None = Field(None, ge=0, description="Low value for the sensitivity analysis (default -range).")
    high: float | None = Field(None, ge=0, description="High value for the sensitivity analysis (default +range).")
    note: str = ""

    @field_validator("source")
    @classmethod
    def _src(cls, v: str) -> str:
        return _nonblank(v, "source")

    @model_validator(mode="after")
    def _range(self):
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not exceed high ({self.high:g})")
        return self


class StaffCost(_Sourced):
    """Staff by role: whole-time equivalents x cost per WTE-year (salary plus on-costs and overheads)."""

    role: str
    wte: float = Field(gt=0, le=10_000, description="Whole-time equivalents.")
    cost_per_wte_year: float = Field(ge=0, description="Cost of one WTE for a year, in its price year.")
    start: Date | None = Field(None, description="First day in post (default: the costing period's start).")
    end: Date | None = Field(None, description="Last day in post (default: the costing period's end).")


class RunningCost(_Sourced):
    """A non-staff running cost paid every year (licences, travel, accommodation)."""

    item: str
    annual_amount: float = Field(ge=0)
    start: Date | None = None
    end: Date | None = None


class SetupCost(_Sourced):
    """A one-off set-up cost (recruitment, training, IT), annuitised over its useful life by default."""

    item: str
    amount: float = Field(ge=0)
    date: Date | None = Field(None, description="When it was incurred (default: the costing period's start).")
    useful_life_years: float = Field(5.0, gt=0, le=50, description="Years over which it is annuitised.")


class PerPatientCost(_Sourced):
    """A cost per enrolled patient: once per enrolment, or per patient-year on the caseload."""

    item: str
    amount: float = Field(ge=0)
    basis: Literal["per_enrolment", "per_patient_year"] = "per_enrolment"


class ProgrammeCostsConfig(_Strict):
    """What the programme cost: set-up, staff, non-staff running costs and per-patient costs."""

    start: Date | None = Field(None, description="Start of the costing period (default: first enrolment).")
    end: Date | None = Field(None, description="End of the costing period (default: the study window's end).")
    staff: tuple[StaffCost, ...] = ()
    non_staff: tuple[RunningCost, ...] = ()
    setup: tuple[SetupCost, ...] = ()
    per_patient: tuple[PerPatientCost, ...] = ()
    setup_costs: Literal["annuitise", "in_full"] = Field(
        "annuitise", description="Set-up costs as an equivalent annual cost over their useful life (the usual "
                                 "economic view) or charged in full when incurred (the cash view).")
    caseload_months: int | None = Field(
        None, ge=1, le=240, description="How long a patient stays on the caseload (default: until death, leaving "
                                       "the practice or the end of the costing period).")

    @model_validator(mode="after")
    def _some(self):
        if not (self.staff or self.non_staff or self.setup or self.per_patient):
            raise ValueError("expected at least one of staff, non_staff, setup, per_patient")
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class InflationIndex(_Strict):
    """A price index by financial year, to bring every figure to the common price year."""

    name: str = Field("NHS Cost Inflation Index (pay and prices)", description="The index used.")
    source: str = Field(description="Where the values come from (e.g. PSSRU Unit Costs of Health and Social Care).")
    values: dict[int, float] = Field(description="Financial year (2023 = 2023/24) -> index value.")

    @field_validator("values")
    @classmethod
    def _positive(cls, v: dict[int, float]) -> dict[int, float]:
        bad = {k: x for k, x in v.items() if not x > 0}
        if bad or not v:
            raise ValueError(f"expected positive index values by year, got {bad or v}")
        return v


class UnitCost(_Sourced):
    """Cost of one unit of activity in a setting (one admission, one attendance, one bed day)."""

    cost: float = Field(ge=0)


class ActivityCostsConfig(_Strict):
    """How hospital activity is costed."""

    source: Literal["data", "unit_costs"] = Field(
        "data", description="data: the activity table's cost column; unit_costs: counts x the unit-cost table.")
    price_year: int | None = Field(None, ge=1990, le=2100,
                                   description="Price year of the data's cost column (source = data).")
    data_source: str = Field("the activity data's cost column", description="Where the data's costs come from.")
    unit_costs: dict[str, UnitCost] = Field(default_factory=dict,
                                            description="Setting (an effects outcome) -> unit cost.")


class Threshold(_Strict):
    """A cost-effectiveness threshold (pounds per QALY gained) marked on the plane and the CEAC."""

    value: float = Field(gt=0)
    label: str
    source: str = ""


DEFAULT_THRESHOLDS = (
    Threshold(value=20000.0, label="NICE £20,000 per QALY", source=NICE_THRESHOLD_SOURCE),
    Threshold(value=30000.0, label="NICE £30,000 per QALY", source=NICE_THRESHOLD_SOURCE),
)


class QalyConfig(_Strict):
    """QALYs from EQ-5D index values (area under the curve, baseline-adjusted; Manca et al. 2005)."""

    enabled: bool = True
    design: Literal["auto", "matched", "before_after"] = Field(
        "auto", description="auto: the matched comparison when both groups have enough PROMs, else before/after.")
    timepoints_years: dict[str, float] | None = Field(
        None, description="Time point label -> years from baseline (default parsed from labels: 6m = 0.5).")
    min_respondents: int = Field(30, ge=5, description="Fewest complete responders per group for a comparison.")


class BudgetImpactConfig(_Strict):
    """Extending the programme to the eligible population over 1-5 years."""

    years: int = Field(5, ge=1, le=5)
    eligible_count: int | None = Field(None, ge=1, description="People eligible (caseload at full uptake).")
    eligible_share_of_adults: float | None = Field(
        None, gt=0, le=1, description="Or: this share of adults registered at the window's end.")
    eligible_source: str = Field("", description="Where the eligibility rule or count comes from.")
    uptake: tuple[float, ...] = Field((1.0,), description="Share of the eligible caseload enrolled in each year "
                                                          "(the last value repeats).")
    grow: float = Field(0.10, ge=0, le=1, description="'Effect grows' scenario: effect x (1 + grow) each year.")
    fade: float = Field(0.25, ge=0, le=1, description="'Effect fades' scenario: effect x (1 - fade) each year.")
    setup_cost: float = Field(0.0, ge=0, description="Extra one-off cost of extending, in the common price year.")
    setup_source: str = ""

    @model_validator(mode="after")
    def _one(self):
        if self.eligible_count is not None and self.eligible_share_of_adults is not None:
            raise ValueError("give eligible_count or eligible_share_of_adults, not both")
        if any(not 0 <= u <= 1 for u in self.uptake) or not self.uptake:
            raise ValueError(f"uptake: expected shares between 0 and 1, got {list(self.uptake)}")
        return self


class EconomicsConfig(_Strict):
    """Settings for :func:`evaltool.economics.stage.run_stage` (the spec's ``economics`` section)."""

    price_year: int = Field(ge=1990, le=2100, description="Common price year (financial year, 2024 = 2024/25).")
    currency: Literal["GBP"] = "GBP"
    perspective: str = Field("NHS and personal social services", description="Whose costs are counted.")
    inflation: InflationIndex | None = Field(None, description="Needed when any figure is in another price year.")
    programme_costs: ProgrammeCostsConfig
    activity_costs: ActivityCostsConfig = ActivityCostsConfig()
    unit_cost_table: Path | None = Field(
        None, description="CSV with setting, cost, source, price_year (and optional low, high): unit costs.")
    admissions_outcome: str = Field("emergency_admission", description="Outcome for break-even and cost per "
                                                                       "admission avoided.")
    did_scale: Literal["ratio", "difference"] = Field(
        "ratio", description="ratio: counterfactual = treated before x (controls after / before), as the Poisson "
                             "DiD; difference: additive DiD in rates per person-year.")
    discount_rate_costs: float = Field(0.035, ge=0, le=0.2)
    discount_rate_effects: float = Field(0.035, ge=0, le=0.2)
    discount_source: str = DISCOUNT_SOURCE
    thresholds: tuple[Threshold, ...] = DEFAULT_THRESHOLDS
    ceac_max: float = Field(50000.0, gt=0, description="Largest threshold on the acceptability curve.")
    ceac_step: float = Field(1000.0, gt=0)
    bootstrap_replicates: int = Field(2000, ge=200, le=100_000, description="Bootstrap resamples of matched sets.")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    interval: Literal["bca", "percentile"] = Field("bca", description="Interval shown in the report.")
    sensitivity_range: float = Field(0.2, gt=0, lt=1, description="Default +/- share for one-way sensitivity.")
    qalys: QalyConfig = QalyConfig()
    budget_impact: BudgetImpactConfig = BudgetImpactConfig()
    subgroups: bool = Field(True, description="Also report each subgroup of the effects section.")

    @model_validator(mode="after")
    def _prices(self):
        years = {i.price_year for i in self._items()}
        if self.activity_costs.price_year is not None:
            years.add(self.activity_costs.price_year)
        years |= {u.price_year for u in self.activity_costs.unit_costs.values()}
        other = sorted(y for y in years if y != self.price_year)
        if other:
            if self.inflation is None:
                raise ValueError(f"figures are in price years {other} but the common price_year is "
                                 f"{self.price_year}: give `inflation` (an index by year, e.g. the NHS Cost "
                                 "Inflation Index)")
            missing = [y for y in other + [self.price_year] if y not in self.inflation.values]
            if missing:
                raise ValueError(f"inflation.values has no value for price year(s) {sorted(set(missing))}")
        if self.activity_costs.source == "unit_costs" and not (self.activity_costs.unit_costs or self.unit_cost_table):
            raise ValueError("activity_costs.source is unit_costs but no unit costs are given: add "
                             "activity_costs.unit_costs or economics.unit_cost_table")
        if self.ceac_step > self.ceac_max:
            raise ValueError("ceac_step must not exceed ceac_max")
        return self

    def _items(self):
        pc = self.programme_costs
        return (*pc.staff, *pc.non_staff, *pc.setup, *pc.per_patient)
