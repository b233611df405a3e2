"""Patient-reported outcomes and experience: EQ-5D, patient activation, PREMs (P3CEQ, FFT).

Public entry points::

    eq5d_index(profiles, value_set="england_5l_2018")   # index values from published value sets
    paired_change, ancova, attrition                    # change analysis
    pchc, pchc_table, probability_of_superiority        # Paretian classification (as R eq5d)
    activation_summary, pam_levels                      # licensed PAM scores/levels
    load_definition, score_prem, summarise_prem, top_box, fft_summary, cronbach_alpha
"""
from evaltool.proms.activation import ActivationResult, activation_summary, pam_levels
from evaltool.proms.change import AncovaResult, AttritionResult, ChangeResult, ancova, attrition, paired_change
from evaltool.proms.config import PromsConfig
from evaltool.proms.eq5d import (
    VALUE_SETS,
    EQ5DProfileResult,
    eq5d_index,
    level_frequencies,
    profile_summary,
    validate_profiles,
)
from evaltool.proms.paretian import (
    ParetianResult,
    paretian_analysis,
    pchc,
    pchc_table,
    probability_of_superiority,
)
from evaltool.proms.prems import (
    PremDefinition,
    PremResult,
    cronbach_alpha,
    fft_summary,
    load_definition,
    score_prem,
    summarise_prem,
    top_box,
)
from evaltool.proms.registry import INSTRUMENTS, get_instrument

__all__ = [
    "ActivationResult", "AncovaResult", "AttritionResult", "ChangeResult", "EQ5DProfileResult", "INSTRUMENTS",
    "ParetianResult", "PremDefinition", "PremResult", "PromsConfig", "VALUE_SETS", "activation_summary", "ancova",
    "attrition", "cronbach_alpha", "eq5d_index", "fft_summary", "get_instrument", "level_frequencies",
    "load_definition", "paired_change", "pam_levels", "paretian_analysis", "pchc", "pchc_table",
    "probability_of_superiority", "profile_summary", "score_prem", "summarise_prem", "top_box", "validate_profiles",
]
