"""Spec ``data:`` entries with a mapping, and tables on databases reached through a connection profile.

A mapped entry is an :class:`evaltool.engine.Source` (a file, or ``duckdb`` + ``table``/``sql``)
with the mapping keys of :class:`evaltool.nhs.mapping.SourceMapping` (``preset``, ``columns``,
``values``, ``date_format``, ``nhs_number``, ``options``), or a table or query on a database:

.. code-block:: yaml

    activity:
      connection: warehouse        # a profile name (see below), or env:VARIABLE holding a URL
      table: hes.apc_episodes      # or sql: SELECT ... (one read-only SELECT)
      preset: hes_apc

Credentials never belong in the spec (nor reach the manifest): a profile lives in
``$EVALTOOL_CONNECTIONS`` (a YAML file, default ``~/.config/evaltool/connections.yaml``)::

    warehouse:
      backend: postgres            # postgres | mssql | databricks | duckdb | ...any Ibis backend
      host: localhost
      port: 5432
      database: nhs
      user: analyst
      password_env: WAREHOUSE_PASSWORD   # the password is read from this environment variable

or ``connection: env:WAREHOUSE_URL`` names an environment variable holding an Ibis URL
(``postgres://user:pass@host/db``). ``connection: engine`` reads ``table`` from the engine's own
catalogue (a Spark/Databricks table when the engine is Spark). The rows are streamed into the
engine in Arrow batches; the manifest records the profile name, backend and table, never a secret.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator

from evaltool.engine import Engine, Source, read_source
from evaltool.errors import DataValidationError, SpecError
from evaltool.nhs.mapping import NhsNumberPolicy

__all__ = ["MappedSource", "connection_profile", "read_mapped", "has_mapping"]

_SECRET_KEYS = ("password", "token", "secret", "url")
_NAME_RE = re.compile(r"^(engine|env:[A-Z_][A-Z0-9_]{0,63}|[A-Za-z][A-Za-z0-9_\-]{0,63})$")


class MappedSource(Source):
    """A spec ``data:`` entry: where the data are, and how they map to the contract."""

    connection: str | None = Field(None, description="database profile name, env:VARIABLE (an Ibis URL), or "
                                   "engine (the engine's own catalogue)")
    preset: str | None = Field(None, description="standard extract (hes_apc, sus_apc, hes_op, sus_op, ecds, hes_ae, "
                               "gp_list)")
    columns: dict[str, str] = Field(default_factory=dict, description="contract column -> source column")
    values: dict[str, dict[str, str | None]] = Field(default_factory=dict, description="recoding of codes")
    date_format: str | dict[str, str] | None = Field(None, description="e.g. '%d/%m/%Y'")
    nhs_number: NhsNumberPolicy | str | None = Field(None, description="validate (default) or opaque")
    options: dict[str, Any] = Field(default_factory=dict, description="preset options")

    @field_validator("connection")
    @classmethod
    def _conn(cls, v: str | None) -> str | None:
        if v is not None and not _NAME_RE.match(v):
            raise ValueError("expected a profile name, env:VARIABLE or engine (credentials never go in the spec)")
        return v

    @property
    def kind(self) -> str:  # type: ignore[override]
        if self.connection is not None:
            if (self.table is None) == (self.sql is None):
                raise ValueError("a `connection` source needs exactly one of `table` or `sql`")
            return "database"
        return super().kind

    def describe(self) -> str:
        if self.kind == "database":
            return f"{self.connection}:{self.table or 'query'}"
        return super().describe()

    def files(self) -> list[Path]:
        return [] if self.kind == "database" else super().files()

    def mapping(self) -> Any:
        from evaltool.nhs.mapping import SourceMapping

        return SourceMapping(preset=self.preset, columns=self.columns, values=self.values,
                             date_format=self.date_format, nhs_number=self.nhs_number, options=self.options)

    def record(self) -> dict[str, Any]:
        """What the manifest says about this source (never a credential)."""
        rec: dict[str, Any] = {}
        if self.kind == "database":
            prof = {} if self.connection in ("engine",) or str(self.connection).startswith("env:") \
                else connection_profile(str(self.connection))
            rec = {"connection": self.connection, "backend": prof.get("backend", "url" if str(
                self.connection).startswith("env:") else "engine"), "source": self.table or "sql"}
            if self.sql:
                import hashlib

                rec["sql_sha256"] = hashlib.sha256(self.sql.encode()).hexdigest()
        if self.preset:
            rec["preset"] = self.preset
        return rec


def has_mapping(src: Any) -> bool:
    """True when a source needs the mapping layer (a preset, renames, recodes, formats, a database)."""
    if not isinstance(src, MappedSource):
        return False
    return bool(src.preset or src.columns or src.values or src.date_format or src.nhs_number or src.options
                or src.connection)


def _profiles_path() -> Path:
    return Path(os.environ.get("EVALTOOL_CONNECTIONS") or Path.home() / ".config" / "evaltool" / "connections.yaml")


def connection_profile(name: str) -> dict[str, Any]:
    """The connection profile ``name`` (secrets resolved from the environment by :func:`_connect`)."""
    path = _profiles_path()
    if not path.exists():
        raise SpecError(f"connection `{name}`: no connection profiles file at {path} (set EVALTOOL_CONNECTIONS "
                        "to a YAML file of profiles; credentials never go in the spec)")
    try:
        profiles = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(profiles, dict) or name not in profiles or not isinstance(profiles[name], dict):
        raise SpecError(f"connection `{name}` is not a profile in {path} (found: "
                        f"{', '.join(sorted(profiles)) if isinstance(profiles, dict) else 'none'})")
    prof = dict(profiles[name])
    bad = [k for k in prof if k.lower() in _SECRET_KEYS]
    if bad:
        raise SpecError(f"{path}, profile `{name}`: {', '.join(bad)} must not be written in the file; name an "
                        "environment variable instead (password_env: VARIABLE)")
    return prof


def _connect(src: MappedSource) -> Any:
    import ibis

    conn = str(src.connection)
    if conn.startswith("env:"):
        var = conn[4:]
        url = os.environ.get(var)
        if not url:
            raise DataValidationError(f"{src.describe()}: environment variable {var} is not set (it should hold the "
                                      "database URL)")
        try:
            return ibis.connect(url)
        except Exception as err:  # noqa: BLE001 - connection failures become one clear line
            raise DataValidationError(f"{src.describe()}: cannot connect ({type(err).__name__}); check {var}") from None
    prof = connection_profile(conn)
    backend = str(prof.pop("backend", "postgres"))
    pw_env = prof.pop("password_env", None)
    if pw_env:
        if pw_env not in os.environ:
            raise DataValidationError(f"{src.describe()}: environment variable {pw_env} (the password) is not set")
        prof["password"] = os.environ[pw_env]
    try:
        mod = getattr(ibis, backend)
    except AttributeError:
        raise SpecError(f"connection `{conn}`: unknown backend {backend!r}") from None
    try:
        return mod.connect(**prof)
    except ImportError as err:
        raise SpecError(f"connection `{conn}`: the {backend} driver is not installed ({err}); "
                        f"pip install 'ibis-framework[{backend}]'") from None
    except Exception as err:  # noqa: BLE001
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        if prof.get("password"):
            msg = msg.replace(prof["password"], "***")
        raise DataValidationError(f"{src.describe()}: cannot connect to {backend}: {msg}") from None


def read_database(engine: Engine, src: MappedSource) -> Any:
    """A database table or query streamed into the engine (Arrow batches); nothing whole in pandas."""
    if src.connection == "engine":
        if src.sql:
            return engine.con.sql(src.sql)
        schema, _, name = str(src.table).rpartition(".")
        try:
            return engine.con.table(name, database=schema or None)
        except Exception as err:  # noqa: BLE001
            raise DataValidationError(f"{src.describe()}: not found in the engine's catalogue ({err})") from None
    con = _connect(src)
    try:
        if src.table:
            schema, _, name = src.table.rpartition(".")
            expr = con.table(name, database=schema or None)
        else:
            expr = con.sql(src.sql)
        reader = expr.to_pyarrow_batches(chunk_size=100_000)
    except DataValidationError:
        raise
    except Exception as err:  # noqa: BLE001
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataValidationError(f"{src.describe()}: cannot be read: {msg}") from None
    try:
        return engine.ingest(reader, src.table or "query")
    finally:
        try:
            con.disconnect()
        except Exception:  # noqa: BLE001 - closing our own connection, best effort
            pass


def read_mapped(engine: Engine, src: Source | Path | str) -> Any:
    """Read any ``data:`` entry as an Ibis table on ``engine``."""
    if isinstance(src, MappedSource) and src.kind == "database":
        return read_database(engine, src)
    if isinstance(src, MappedSource):
        base = Source(path=src.path, sheet=src.sheet, duckdb=src.duckdb, table=src.table, sql=src.sql)
        return read_source(engine, base)
    return read_source(engine, src)
