"""Effect estimation: staggered roll-outs (Callaway & Sant'Anna, TWFE, imputation) and matched cohorts.

Estimate first, aggregate second: :func:`att_gt` returns group-time effects whose
``.aggregate(kind)`` returns a new result. Inference for few clusters lives in
:mod:`evaltool.effects.inference` (CR1 fixest convention, wild cluster bootstrap, multiplier bootstrap).
``matched_did`` (matched-cohort DiD) is re-exported lazily from :mod:`evaltool.effects.matched`.
"""
from __future__ import annotations

from typing import Any

from evaltool.effects.imputation import ImputationResult, imputation
from evaltool.effects.inference import (
    WildBootstrapResult,
    multiplier_bootstrap,
    ols,
    wild_cluster_bootstrap,
)
from evaltool.effects.sensitivity import (
    SensitivityResult,
    leave_one_out,
    placebo_go_live,
    relative_magnitude_bounds,
    vary_pre_periods,
)
from evaltool.effects.staggered import att_gt
from evaltool.effects.staggered_results import AggregateResult, AttGtResult
from evaltool.effects.twfe import DidRegressionResult, TwfeResult, did_2x2, twfe

__all__ = [
    "AggregateResult",
    "AttGtResult",
    "DidRegressionResult",
    "ImputationResult",
    "SensitivityResult",
    "TwfeResult",
    "WildBootstrapResult",
    "att_gt",
    "did_2x2",
    "imputation",
    "leave_one_out",
    "matched_did",
    "multiplier_bootstrap",
    "ols",
    "placebo_go_live",
    "relative_magnitude_bounds",
    "twfe",
    "vary_pre_periods",
    "wild_cluster_bootstrap",
]


def __getattr__(name: str) -> Any:
    # The matched-cohort half is owned by another module; import it only when asked for.
    if name == "matched_did":
        from evaltool.effects.matched import matched_did

        return matched_did
    raise AttributeError(f"module 'evaltool.effects' has no attribute {name!r}")
