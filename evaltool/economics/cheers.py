"""The CHEERS 2022 reporting checklist, filled in from what the run did.

CHEERS 2022 (Husereau et al., *BMJ* 2022;376:e067975; *Value Health* 2022;25:3-9) has 28 items.
evaltool states what it can from the spec and the results (perspective, horizon, discounting,
prices, methods, uncertainty) and marks the rest for the evaluation's authors to complete
(funding, conflicts of interest, engagement with patients and the public). Item guidance is
paraphrased here, not quoted.

Examples
--------
>>> t = cheers_checklist({"perspective": "NHS and personal social services"})
>>> len(t), t.loc[7, "topic"]
(28, 'Perspective')
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["CHEERS_ITEMS", "cheers_checklist"]

#: (item, section, topic, what to report, paraphrased)
CHEERS_ITEMS: tuple[tuple[int, str, str, str], ...] = (
    (1, "Title", "Title", "Name the study as an economic evaluation and the interventions compared."),
    (2, "Abstract", "Abstract", "A structured summary of context, methods, results and alternative analyses."),
    (3, "Introduction", "Background and objectives", "Context, the question and why it matters for decisions."),
    (4, "Methods", "Health economic analysis plan", "Whether an analysis plan was written, and where it is."),
    (5, "Methods", "Study population", "Who was studied (age, sex, deprivation, clinical characteristics)."),
    (6, "Methods", "Setting and location", "Context that may affect the findings."),
    (7, "Methods", "Comparators", "What was compared and why."),
    (8, "Methods", "Perspective", "Whose costs and outcomes count, and why."),
    (9, "Methods", "Time horizon", "How long costs and outcomes are followed, and why that is enough."),
    (10, "Methods", "Discount rate", "The discount rates and why."),
    (11, "Methods", "Selection of outcomes", "Which outcomes measure benefits and harms."),
    (12, "Methods", "Measurement of outcomes", "How those outcomes were measured."),
    (13, "Methods", "Valuation of outcomes", "Whose preferences value the outcomes, and how."),
    (14, "Methods", "Measurement and valuation of resources and costs", "How resources were counted and costed."),
    (15, "Methods", "Currency, price date, and conversion", "Dates of quantities and prices, currency, conversions."),
    (16, "Methods", "Rationale and description of model", "Any model used, why, and whether it is available."),
    (17, "Methods", "Analytics and assumptions", "Methods for analysing or combining data and the assumptions."),
    (18, "Methods", "Characterising heterogeneity", "How results were examined for subgroups."),
    (19, "Methods", "Characterising distributional effects", "How effects fall on different groups (equity)."),
    (20, "Methods", "Characterising uncertainty", "How uncertainty in inputs and results was handled."),
    (21, "Methods", "Approach to engagement with patients and others affected by the study",
     "How patients, the public and others were involved in the design."),
    (22, "Results", "Study parameters", "Values, ranges and sources of every input."),
    (23, "Results", "Summary of main results", "Mean costs and outcomes and their increments."),
    (24, "Results", "Effect of uncertainty", "How uncertainty changes the findings."),
    (25, "Results", "Effect of engagement with patients and others affected by the study",
     "What difference that involvement made."),
    (26, "Discussion", "Study findings, limitations, generalisability, and current knowledge",
     "Findings, limitations, ethical and equity points, and how they fit with other evidence."),
    (27, "Other relevant information", "Source of funding", "Who funded the study and their role."),
    (28, "Other relevant information", "Conflicts of interest", "Conflicts of interest of the authors."),
)

_AUTHORS = "For the evaluation's authors to complete."


def _g(f: Mapping[str, Any], k: str, default: str = "") -> str:
    v = f.get(k)
    if isinstance(v, float):
        return f"{v:g}"
    return default if v is None or v == "" else str(v)


def cheers_checklist(facts: Mapping[str, Any]) -> pd.DataFrame:
    """The 28 CHEERS 2022 items (number, topic, paraphrased guidance) with what this report says, and a status.

    ``facts`` are the economics stage's facts (any missing key leaves its item for the authors).
    Status is ``reported`` (evaltool states it), ``partly`` (evaltool states part; the authors add
    context) or ``authors`` (only the authors can say).
    """
    f = dict(facts)
    horizon = _g(f, "qaly_horizon_years")
    design = _g(f, "qaly_design")
    comparator = _g(f, "comparator", "matched patients not enrolled")
    qalys_text = ("Emergency admissions and other hospital activity (cost-consequence), and QALYs from EQ-5D where "
                  "available (cost-utility)." if design else
                  "Emergency admissions and other hospital activity (cost-consequence); no QALYs.")
    where: dict[int, tuple[str, str]] = {
        1: ("partly", ("The report's title names the programme; this section compares it with usual care "
                       f"({comparator}).")),
        2: ("partly", "The summary of findings and the key points give the headline costs and consequences."),
        3: ("partly", "The programme and the question are stated at the start of the report."),
        4: ("reported", ("The analysis specification (the pre-agreed plan) is echoed in the technical appendix, "
                         "with any deviations from it.")),
        5: ("reported", "Who was evaluated: the cohort section (flow, balance of matched groups)."),
        6: ("partly", "The programme description; local context is for the authors to add."),
        7: ("reported", f"Enrolled patients against {comparator}."),
        8: ("reported", (f"{_g(f, 'perspective', 'NHS and personal social services')}: programme costs and "
                         "hospital activity costs.")),
        9: ("reported", (f"Activity: {_g(f, 'follow_up_months', '?')} months after enrolment; programme costs: "
                         f"{_g(f, 'costing_start')} to {_g(f, 'costing_end')}"
                         + (f"; QALYs: {horizon} year(s)" if horizon else "")
                         + f"; budget impact: {_g(f, 'bi_years', '?')} years.")),
        10: ("reported", (f"Costs {_g(f, 'discount_rate_costs_pct', '3.5')}% and health effects "
                          f"{_g(f, 'discount_rate_effects_pct', '3.5')}% a year"
                          + (f" ({_g(f, 'discount_source')})." if f.get("discount_source") else "."))),
        11: ("reported", qalys_text),
        12: ("reported", ("Activity from the records of hospital use; EQ-5D questionnaires at the stated time points."
                          if design else "Activity from the records of hospital use.")),
        13: (("reported", (f"EQ-5D index values from "
                           f"{_g(f, 'value_set_label', 'the value set named in the PROMs section')}; QALYs by area "
                           "under the curve adjusted for baseline utility (Manca et al. 2005)."))
             if design else ("authors", "No QALYs in this run.")),
        14: ("reported", (f"Programme: staff WTE x cost per WTE-year, non-staff, set-up ({_g(f, 'setup_costs')}) and "
                          f"per-patient costs, each with its source. Activity: {_g(f, 'activity_cost_basis')}.")),
        15: ("reported", (f"{_g(f, 'currency', 'GBP')}, {_g(f, 'price_year_label')} prices; figures from other years "
                          f"inflated with {_g(f, 'inflation_index', 'no index (all figures in the price year)')}.")),
        16: ("reported", ("No decision model: a within-study analysis of matched data; the budget impact is a "
                          "stated projection of the estimates (see its assumptions).")),
        17: ("reported", (f"Difference-in-differences on matched-set totals ({_g(f, 'did_scale')} scale); "
                          f"{_g(f, 'qaly_design_text', 'no QALY comparison')}.")),
        18: ("reported" if f.get("subgroups") else "partly",
             "Results by " + _g(f, "subgroups", "no subgroup").replace("age_band", "age group (under 65, 65 and over)")
             .replace("_", " ") + "."),
        19: ("authors", _AUTHORS + " (e.g. effects by deprivation quintile)."),
        20: ("reported", (f"Non-parametric bootstrap of {_g(f, 'bootstrap_replicates')} resamples of matched sets, "
                          f"joint for costs and effects ({_g(f, 'interval_method')} intervals); one-way sensitivity "
                          "analysis of every cost input (tornado); budget impact scenarios.")),
        21: ("authors", _AUTHORS),
        22: ("reported", ("The programme cost table lists every figure with its source and price year, and the "
                          "sensitivity table the range tested for each; unit costs likewise.")),
        23: ("reported", "The cost-consequence table" + (" and the cost-effectiveness results." if design else ".")),
        24: ("reported", ("Intervals throughout, the probability the programme pays for itself"
                          + (", the acceptability curve" if design else "") + " and the tornado diagram.")),
        25: ("authors", _AUTHORS),
        26: ("partly", ("What this evaluation cannot tell you (limitations); comparison with other evidence is for "
                        "the authors.")),
        27: ("authors", _AUTHORS),
        28: ("authors", _AUTHORS),
    }
    rows = []
    for item, _section, topic, guidance in CHEERS_ITEMS:
        status, text = where[item]
        rows.append({"item": item, "topic": topic, "guidance": guidance, "status": status, "in_this_report": text})
    return pd.DataFrame(rows)
