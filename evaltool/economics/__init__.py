"""Economic evaluation: does the programme pay for itself?

Programme costs and inflation (:mod:`~evaltool.economics.costs`), discounting
(:mod:`~evaltool.economics.discounting`), matched-set totals and the cost-consequence DiD
(:mod:`~evaltool.economics.consequences`), the joint bootstrap over matched sets
(:mod:`~evaltool.economics.bootstrap`), QALYs by area under the curve with baseline adjustment
(:mod:`~evaltool.economics.qalys`), ICER / net monetary benefit / acceptability curve
(:mod:`~evaltool.economics.cea`), break-even and return on investment
(:mod:`~evaltool.economics.breakeven`), budget impact (:mod:`~evaltool.economics.budget_impact`),
one-way sensitivity analysis (:mod:`~evaltool.economics.sensitivity`), the CHEERS 2022 checklist
(:mod:`~evaltool.economics.cheers`) and the pipeline stage (:mod:`~evaltool.economics.stage`).
Statistics here import only evaltool's core and data layer.
"""
from evaltool.economics.bootstrap import BootstrapResult, bootstrap_sets
from evaltool.economics.breakeven import (
    break_even,
    cost_per_admission_avoided,
    return_on_investment,
)
from evaltool.economics.cea import (
    CostEffectivenessResult,
    ceac,
    icer_decision,
    net_monetary_benefit,
    quadrant,
)
from evaltool.economics.config import EconomicsConfig
from evaltool.economics.consequences import SetStatistics, did_rates, set_statistics
from evaltool.economics.costs import (
    ProgrammeCostResult,
    enrolled_person_time,
    inflate,
    programme_costs,
)
from evaltool.economics.discounting import (
    annuity_factor,
    equivalent_annual_cost,
    horizon_factor,
    present_value,
)
from evaltool.economics.evaluation import EconomicEvaluationResult, economic_evaluation
from evaltool.economics.qalys import (
    incremental_qalys,
    person_qalys,
    qaly_set_statistics,
    timepoint_years,
)

__all__ = [
    "BootstrapResult", "CostEffectivenessResult", "EconomicEvaluationResult", "EconomicsConfig", "ProgrammeCostResult",
    "SetStatistics", "annuity_factor", "bootstrap_sets", "break_even", "ceac", "cost_per_admission_avoided",
    "did_rates", "economic_evaluation", "enrolled_person_time", "equivalent_annual_cost", "horizon_factor",
    "icer_decision", "incremental_qalys", "inflate", "net_monetary_benefit", "person_qalys", "present_value",
    "programme_costs", "qaly_set_statistics", "quadrant", "return_on_investment", "set_statistics",
    "timepoint_years",
]
