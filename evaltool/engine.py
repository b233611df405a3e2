"""The SQL engine behind data preparation: Ibis over DuckDB by default.

Heavy preparation (events -> panels, covariates as of index dates) is written as
Ibis expressions so the same code runs on Spark (``ibis.pyspark.connect``) when a
population outgrows one machine. Conventions (see docs/architecture.md):

* end each step by casting to the contract's types (engines differ);
* sum money as DECIMAL; use ``ifelse`` rather than casting booleans to numbers;
* never build dense person x month grids: materialise rows with events plus
  exposure, or compressed cells.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

import duckdb
import ibis
import pandas as pd

DEFAULT_MEMORY_LIMIT = os.environ.get("EVALTOOL_DUCKDB_MEMORY", "8GB")


def connect(memory_limit: str | None = None, temp_directory: str | None = None, threads: int | None = None) -> Any:
    """Return an Ibis DuckDB connection with explicit memory limit and temp directory.

    Examples
    --------
    >>> con = connect()
    >>> t = con.create_table("x", pd.DataFrame({"a": [1, 2]}))
    >>> int(t.a.sum().execute())
    3
    """
    tmp = temp_directory or os.path.join(tempfile.gettempdir(), "evaltool_duckdb")
    os.makedirs(tmp, exist_ok=True)
    con = ibis.duckdb.connect()
    # No progress bar on stderr (keeps CLI output clean). Inside Jupyter DuckDB refuses the
    # setting unless ipywidgets is installed; the bar is off there by default anyway.
    try:
        con.raw_sql("SET enable_progress_bar = false")
    except duckdb.InvalidInputException:
        pass
    con.raw_sql(f"SET memory_limit='{_safe_setting(memory_limit or DEFAULT_MEMORY_LIMIT)}'")
    con.raw_sql(f"SET temp_directory='{_safe_setting(tmp)}'")
    if threads:
        con.raw_sql(f"SET threads={int(threads)}")
    return con


def _safe_setting(value: str) -> str:
    # Settings are ours or come from the environment, never from a spec; still refuse quotes.
    if "'" in value or ";" in value:
        raise ValueError(f"unsafe DuckDB setting value {value!r}")
    return value


def as_table(con: Any, df: pd.DataFrame | Any, name: str) -> Any:
    """Register a pandas DataFrame (or pass through an Ibis table) as a table on ``con``."""
    if isinstance(df, pd.DataFrame):
        # pandas 2 (Python 3.10) gives an empty or all-missing text column object dtype, which DuckDB cannot
        # type ("NULL typed columns"): declare such columns as text.
        untyped = [c for c in df.columns if df[c].dtype == object and df[c].isna().all()]
        if untyped:
            df = df.astype({c: "string" for c in untyped})
        return con.create_table(name, df, overwrite=True)
    return df
