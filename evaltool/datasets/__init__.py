"""Example-data generators with known truth (core imports only).

>>> from evaltool.datasets import southvale
>>> southvale(scale=0.02).truth["n_practices"]
25
"""
from __future__ import annotations

from evaltool.datasets.southvale import (
    DEFAULT_SEED,
    SouthvaleData,
    southvale,
    write_southvale,
)

__all__ = ["DEFAULT_SEED", "SouthvaleData", "southvale", "write_southvale"]
