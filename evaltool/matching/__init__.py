"""Matched controls: nearest-neighbour, exact and coarsened exact matching, risk-set matching for
staggered enrolment, and balance diagnostics.

Front door: :func:`match` (MatchIt-style, one module per method) and :func:`risk_set_match`.
"""
from __future__ import annotations

from .api import match
from .balance import (
    BALANCE_STATS,
    balance_table,
    covariate_balance,
    love_plot,
    ps_distribution_plot,
)
from .distance import prognostic_score
from .effect import MatchedEffect, matched_effect
from .result import MatchResult
from .pre_trajectory import pre_trajectory
from .riskset import RiskSetMatchResult, risk_set_match
from .weights import ess

__all__ = [
    "match", "MatchResult", "risk_set_match", "RiskSetMatchResult", "pre_trajectory", "BALANCE_STATS", "balance_table", "covariate_balance", "love_plot",
    "ps_distribution_plot", "ess", "prognostic_score", "matched_effect", "MatchedEffect",
]
