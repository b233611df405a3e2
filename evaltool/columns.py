"""Column-name arguments, as R's did takes ``idname``/``tname``: data with your own column names.

Functions that read the input contract (``person_id``, ``treated``, ``index_date``; ``date``,
``setting``) accept ``columns={"person_id": "pid", "date": "event_date", ...}``: contract name ->
your column. The data are renamed on a copy (never in place); results use the contract's names.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"pid": ["a"], "enrolled": [1]})
>>> to_contract(df, {"person_id": "pid", "treated": "enrolled"}, "population").columns.tolist()
['person_id', 'treated']
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from evaltool.errors import SpecError

__all__ = ["POPULATION", "ACTIVITY", "to_contract"]

#: contract columns of each table that ``columns=`` may map
POPULATION = ("person_id", "practice_id", "sex", "birth_date", "age", "treated", "index_date",
              "registration_start", "registration_end", "death_date")
ACTIVITY = ("person_id", "date", "setting", "bed_days", "cost")


def to_contract(df: pd.DataFrame | None, columns: Mapping[str, str] | None, table: str,
                allowed: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    """``df`` with the user's columns renamed to the contract's (a copy when anything is renamed)."""
    if df is None or not columns:
        return df
    allowed = allowed or (POPULATION if table == "population" else ACTIVITY)
    mapping = {k: v for k, v in columns.items() if k in allowed and k != v}
    unknown = sorted(set(columns) - set(POPULATION) - set(ACTIVITY))
    if unknown:
        raise SpecError(f"`columns`: keys are contract names ({', '.join(POPULATION + ACTIVITY[1:])}), "
                        f"got {', '.join(map(repr, unknown))}")
    missing = {k: v for k, v in mapping.items() if v not in df.columns}
    if missing:
        raise SpecError(f"`columns`: {table} has no column(s) "
                        + ", ".join(f"{v!r} (for {k})" for k, v in missing.items()))
    clash = [k for k in mapping if k in df.columns and k not in mapping.values()]
    if clash:
        raise SpecError(f"`columns`: {table} already has column(s) {clash}; rename or drop them first")
    return df.rename(columns={v: k for k, v in mapping.items()})
