"""What the spec says about the engine and the sources: the ``engine:`` section (:class:`EngineConfig`) and one
``data:`` entry (:class:`Source`), validated before anything is read. :mod:`evaltool.engine` opens the engine and
reads the sources they describe (both names are importable from there too)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_MEMORY_LIMIT", "FILE_SUFFIXES", "EngineConfig", "Source"]

#: Default DuckDB memory limit (environment ``EVALTOOL_DUCKDB_MEMORY`` overrides).
DEFAULT_MEMORY_LIMIT = "8GB"
_SIZE_RE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
FILE_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz", ".tsv.gz", ".parquet", ".pq", ".xlsx", ".xlsm")


class EngineConfig(BaseModel):
    """Spec section ``engine``: where data preparation runs.

    Every key is optional; unset keys fall back to the environment (``EVALTOOL_ENGINE``,
    ``EVALTOOL_DUCKDB_MEMORY``, ``EVALTOOL_TEMP_DIR``, ``EVALTOOL_THREADS``, ``EVALTOOL_SPARK_MASTER``)
    and then to the defaults. Connection credentials never belong here.

    Examples
    --------
    >>> EngineConfig(backend="duckdb", memory_limit="4GB", threads=2).threads
    2
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["duckdb", "spark"] | None = Field(
        None, description="duckdb (default, embedded, out of core) or spark (PySpark; local mode by default).")
    memory_limit: str | None = Field(None, description="DuckDB memory limit, e.g. '8GB' (default 8GB).")
    temp_directory: Path | None = Field(None, description="Where DuckDB spills to disk (default: system temp).")
    threads: int | None = Field(None, ge=1, le=1024, description="DuckDB threads (default: all cores).")
    database: Path | None = Field(None, description="A DuckDB database file to work in (default: in memory).")
    spark_master: str | None = Field(None, description="Spark master for a new local session (default local[2]).")
    spark_conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings for a new session.")

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v is not None and not _SIZE_RE.match(v):
            raise ValueError(f"expected a size such as '8GB' or '512MB', got {v!r}")
        return v

    @field_validator("spark_master")
    @classmethod
    def _master(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(local(\[(\d+|\*)\])?|spark://[\w.\-:,]+|yarn|k8s://[\w.\-:/]+)$", v):
            raise ValueError(f"expected a Spark master such as 'local[2]', got {v!r}")
        return v

    def resolved(self) -> EngineConfig:
        """This config with environment defaults filled in."""
        env = os.environ
        upd: dict[str, Any] = {}
        if self.backend is None:
            upd["backend"] = env.get("EVALTOOL_ENGINE", "duckdb")
        if self.memory_limit is None:
            upd["memory_limit"] = env.get("EVALTOOL_DUCKDB_MEMORY", DEFAULT_MEMORY_LIMIT)
        if self.temp_directory is None and env.get("EVALTOOL_TEMP_DIR"):
            upd["temp_directory"] = Path(env["EVALTOOL_TEMP_DIR"])
        if self.threads is None and env.get("EVALTOOL_THREADS"):
            upd["threads"] = int(env["EVALTOOL_THREADS"])
        if self.spark_master is None:
            upd["spark_master"] = env.get("EVALTOOL_SPARK_MASTER", "local[2]")
        return EngineConfig(**{**self.model_dump(), **upd})


class Source(BaseModel):
    """Where one input table comes from: a file, or a table / SQL query in a DuckDB database file.

    A spec ``data:`` entry is either a path (a file) or a mapping with these keys. Files: CSV
    (optionally ``.gz``), TSV, Parquet (a file, or a folder of Parquet files read as one dataset)
    and Excel (``sheet`` names the worksheet; default the first). ``duckdb`` with ``table`` or
    ``sql`` reads from a DuckDB database file (read only). Relative paths resolve against the spec.

    Examples
    --------
    >>> Source(path="population.parquet").kind
    'file'
    >>> Source(duckdb="warehouse.duckdb", table="population").kind
    'duckdb'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = Field(None, description="A CSV, CSV.gz, TSV, Parquet (file or folder) or Excel file.")
    sheet: str | None = Field(None, description="Excel worksheet to read (default: the first).")
    duckdb: Path | None = Field(None, description="A DuckDB database file (opened read only).")
    table: str | None = Field(None, description="Table (or view) in the database, optionally schema.table.")
    sql: str | None = Field(None, description="A SELECT query run in the database (read only).")
    name: str | None = Field(None, description="Display name in the flows, results tables and report (default: the "
                             "file name, or database:table); the same name gives the same tables wherever the "
                             "data are read from.")

    @field_validator("table")
    @classmethod
    def _table_name(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", v):
            raise ValueError(f"expected a table name (letters, digits, '_', optionally schema.table), got {v!r}")
        return v

    @field_validator("name")
    @classmethod
    def _display_name(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[^\x00-\x1f\x7f]{1,80}$", v.strip()):
            raise ValueError(f"expected a short name (1-80 characters, one line), got {v!r}")
        return v.strip() if v is not None else v

    @field_validator("sql")
    @classmethod
    def _select_only(cls, v: str | None) -> str | None:
        if v is not None:
            body = v.strip().rstrip(";").strip()
            if not re.match(r"^(select|with)\b", body, re.IGNORECASE) or ";" in body:
                raise ValueError("expected one SELECT (or WITH ... SELECT) query")
            return body
        return v

    @property
    def kind(self) -> str:
        if self.duckdb is not None:
            if (self.table is None) == (self.sql is None):
                raise ValueError("a `duckdb` source needs exactly one of `table` or `sql`")
            return "duckdb"
        if self.path is None:
            raise ValueError("a source needs `path` (a file) or `duckdb` with `table`/`sql`")
        return "file"

    def describe(self) -> str:
        """Short display name for messages (the file name, or database:table)."""
        if self.kind == "file":
            return Path(self.path).name + (f" [{self.sheet}]" if self.sheet else "")
        return f"{Path(self.duckdb).name}:{self.table or 'query'}"

    @property
    def label(self) -> str:
        """The name shown in flows and results tables: ``name`` when given, else :meth:`describe`.

        Examples
        --------
        >>> Source(duckdb="warehouse.duckdb", table="apc").label
        'warehouse.duckdb:apc'
        >>> Source(duckdb="warehouse.duckdb", table="apc", name="HES APC").label
        'HES APC'
        """
        return self.name or self.describe()

    def files(self) -> list[Path]:
        """Files whose hashes identify this source in the manifest."""
        p = Path(self.path if self.kind == "file" else self.duckdb)
        if p.is_dir():
            return sorted(q for q in p.rglob("*") if q.is_file())
        return [p]
