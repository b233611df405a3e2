"""Whole-area designs: interrupted time series and synthetic control (:mod:`evaltool.area.stage`).

The package's names are imported when first asked for: a spec names its ``area`` options (``evaltool.area.config``)
in every run, and a run without an ``area`` section never needs the estimators (scipy's optimisers among them).
"""
from __future__ import annotations

from typing import Any

__all__ = ["interrupted_time_series", "ITSResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from evaltool.area import its

        return getattr(its, name)
    raise AttributeError(f"module 'evaltool.area' has no attribute {name!r}")
