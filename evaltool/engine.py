"""The engine boundary: the one module that owns connections and reads sources as Ibis tables (what the
spec's ``engine:`` section and a ``data:`` entry say are :mod:`evaltool.engine_config`'s models).

Heavy preparation (validation, cohort building, covariates as of index dates, outcome panels) is
written as Ibis expressions and runs in a SQL engine: DuckDB embedded by default (out of core, with
an explicit memory limit and temporary directory), Spark (an existing ``SparkSession`` or
``ibis.pyspark.connect``) where national data live, or any other backend a user connects through
Ibis. Everything else receives :class:`Engine` objects and Ibis tables and never asks which backend
runs; only small results cross into pandas (counts, example rows, design matrices, cells).

Conventions for code that builds expressions (see docs/architecture.md, "Engine boundary"):

* end each step by casting to the contract's types (engines differ: counts come out DOUBLE on
  DuckDB and BIGINT on Spark);
* sum money as DECIMAL; use ``ifelse`` rather than casting booleans to numbers;
* never build dense person x month grids: materialise rows with events plus exposure, or cells.

Examples
--------
>>> eng = connect()
>>> t = eng.upload(pd.DataFrame({"a": [1, 2]}), "example")
>>> int(t.a.sum().execute())
3
>>> eng.backend
'duckdb'
"""
from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from evaltool.engine_config import FILE_SUFFIXES, EngineConfig, Source

__all__ = ["Engine", "EngineConfig", "Source", "as_engine", "as_table", "connect", "engine_of", "is_table",
           "read_source"]


def is_table(obj: Any) -> bool:
    """True for an Ibis table expression."""
    return isinstance(obj, ibis.expr.types.Table)


class Engine:
    """A connection to the SQL engine that runs data preparation.

    Create one with :func:`connect` (from a spec's ``engine`` section) or :func:`as_engine`
    (wrapping an existing Ibis connection or a ``SparkSession``).

    Attributes
    ----------
    con:
        The Ibis backend.
    backend:
        ``"duckdb"``, ``"pyspark"``, ``"postgres"``, ... (Ibis' backend name).
    """

    _counter = itertools.count()

    def __init__(self, con: Any, *, owned: bool = False):
        self.con = con
        self.backend: str = con.name
        self._owned = owned
        self._temp: list[str] = []

    def __repr__(self) -> str:
        return f"Engine({self.backend})"

    # -- tables ---------------------------------------------------------------------------
    def _name(self, hint: str) -> str:
        return f"_evaltool_{re.sub(r'[^A-Za-z0-9_]', '_', hint)}_{next(self._counter)}"

    def upload(self, df: pd.DataFrame | Any, name: str) -> Any:
        """A pandas DataFrame (or pyarrow table) as a temporary table on this engine."""
        if is_table(df):
            return df
        if isinstance(df, pd.DataFrame):
            # pandas 2 (Python 3.10) gives an empty or all-missing text column object dtype, which DuckDB cannot
            # type ("NULL typed columns"): declare such columns as text.
            untyped = [c for c in df.columns if df[c].dtype == object and df[c].isna().all()]
            if untyped:
                df = df.astype({c: "string" for c in untyped})
        tname = self._name(name)
        if self.backend == "pyspark":
            sdf = self.con._session.createDataFrame(_spark_safe(df))
            sdf.createOrReplaceTempView(tname)
            t = self.con.table(tname)
        else:
            t = self.con.create_table(tname, df, temp=True)
        self._temp.append(tname)
        return t

    def ingest(self, reader: Any, name: str) -> Any:
        """Arrow record batches (a ``pyarrow.RecordBatchReader``, e.g. from another database) as a
        table on this engine; DuckDB streams them in (spilling to disk), never through pandas."""
        if self.backend != "duckdb":
            return self.upload(reader.read_all(), name)
        tname = self._name(name)
        raw = self.con.con
        raw.register(f"{tname}_src", reader)
        try:
            raw.execute(f'CREATE TEMP TABLE "{tname}" AS SELECT * FROM "{tname}_src"')
        finally:
            raw.unregister(f"{tname}_src")
        self._temp.append(tname)
        return self.con.table(tname)

    def persist(self, expr: Any, name: str) -> Any:
        """Compute ``expr`` once and keep it on the engine (DuckDB: a temporary table that spills to disk)."""
        tname = self._name(name)
        if self.backend == "pyspark":
            sdf = self.con._session.sql(self.con.compile(expr)).persist()
            sdf.createOrReplaceTempView(tname)
            t = self.con.table(tname)
        else:
            t = self.con.create_table(tname, expr, temp=True)
        self._temp.append(tname)
        return t

    def table(self, obj: Any, name: str) -> Any:
        """An Ibis table from a DataFrame, an Ibis table (bound to this engine) or a :class:`Source`."""
        if is_table(obj):
            return obj
        if isinstance(obj, pd.DataFrame):
            return self.upload(obj, name)
        return read_source(self, obj)

    def numbered(self, t: Any) -> Any:
        """``t`` with ``_row``: 1-based row numbers in the source's order (files read in order)."""
        if self.backend == "duckdb":
            # Plain ROW_NUMBER() OVER () streams in scan order; Ibis' form adds a frame clause that
            # makes DuckDB materialise the window (1.6x slower on a 2M-row table).
            return self.con.sql(f"SELECT row_number() OVER () AS _row, * FROM ({self.con.compile(t)})")
        return t.mutate(_row=(ibis.row_number() + 1).cast("int64"))

    def execute(self, expr: Any) -> pd.DataFrame:
        """Run an expression and return a (small) pandas result."""
        return self.con.execute(expr)

    def close(self) -> None:
        """Drop the temporary tables this engine made; close the connection if this engine opened it."""
        for t in self._temp:
            try:
                if self.backend == "pyspark":
                    self.con._session.catalog.dropTempView(t)
                else:
                    self.con.drop_table(t, force=True)
            except Exception:  # noqa: BLE001 - best effort cleanup of our own temporaries
                pass
        self._temp.clear()
        if self._owned and self.backend != "pyspark":
            self.con.disconnect()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _spark_safe(df: Any) -> pd.DataFrame:
    # Spark cannot infer a type for all-null object columns or pandas' nullable extension types.
    df = df.to_pandas() if hasattr(df, "to_pandas") and not isinstance(df, pd.DataFrame) else df
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if isinstance(s.dtype, pd.StringDtype) or s.dtype == object:
            out[c] = s.astype(object).where(s.notna(), None)
        elif pd.api.types.is_extension_array_dtype(s.dtype) and pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = s.astype("float64")
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[c] = s.astype("datetime64[us]")
    return out


def connect(config: EngineConfig | Mapping[str, Any] | str | None = None, **kwargs: Any) -> Engine:
    """Open the engine described by a spec's ``engine`` section (or the environment).

    Parameters
    ----------
    config:
        An :class:`EngineConfig`, a mapping of its keys, a backend name (``"duckdb"``, ``"spark"``)
        or None (environment, then defaults).
    **kwargs:
        Keys of :class:`EngineConfig` overriding ``config`` (e.g. ``memory_limit="4GB"``).

    Examples
    --------
    >>> eng = connect(memory_limit="2GB", threads=1)
    >>> int(eng.execute(eng.con.sql("SELECT current_setting('threads') AS t"))["t"].iloc[0])
    1
    """
    if isinstance(config, str):
        config = EngineConfig(backend=config)  # type: ignore[arg-type]
    elif config is None:
        config = EngineConfig()
    elif isinstance(config, Mapping):
        config = EngineConfig(**config)
    if kwargs:
        config = EngineConfig(**{**config.model_dump(exclude_none=True), **kwargs})
    cfg = config.resolved()
    if cfg.backend == "spark":
        return Engine(_spark(cfg), owned=True)
    return Engine(_duckdb(cfg), owned=True)


def _duckdb(cfg: EngineConfig) -> Any:
    import duckdb

    tmp = str(cfg.temp_directory or os.path.join(tempfile.gettempdir(), "evaltool_duckdb"))
    os.makedirs(tmp, exist_ok=True)
    con = ibis.duckdb.connect(str(cfg.database) if cfg.database else ":memory:")
    # No progress bar on stderr (keeps CLI output clean). Inside Jupyter DuckDB refuses the
    # setting unless ipywidgets is installed; the bar is off there by default anyway.
    try:
        con.raw_sql("SET enable_progress_bar = false")
    except duckdb.InvalidInputException:
        pass
    con.raw_sql(f"SET memory_limit='{_safe_setting(str(cfg.memory_limit))}'")
    con.raw_sql(f"SET temp_directory='{_safe_setting(tmp)}'")
    # Files are read in order so that row numbers in messages are the file's rows.
    con.raw_sql("SET preserve_insertion_order = true")
    if cfg.threads:
        con.raw_sql(f"SET threads={int(cfg.threads)}")
    return con


def _spark(cfg: EngineConfig) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        from evaltool.errors import SpecError

        raise SpecError("engine.backend: 'spark' needs PySpark: pip install 'evaltool[spark]'") from None
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    active = SparkSession.getActiveSession()
    if active is not None:
        return ibis.pyspark.connect(active)
    b = (SparkSession.builder.master(cfg.spark_master or "local[2]").appName("evaltool")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.shuffle.partitions", "4")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.ansi.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    for k, v in cfg.spark_conf.items():
        b = b.config(k, v)
    session = b.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def as_engine(obj: Any = None) -> Engine:
    """An :class:`Engine` from an Engine, an Ibis backend, a ``SparkSession``, a config, or None.

    Examples
    --------
    >>> import ibis
    >>> as_engine(ibis.duckdb.connect()).backend
    'duckdb'
    """
    if isinstance(obj, Engine):
        return obj
    if obj is None or isinstance(obj, (EngineConfig, Mapping, str)):
        return connect(obj)
    if type(obj).__name__ == "SparkSession":
        return Engine(ibis.pyspark.connect(obj))
    if hasattr(obj, "name") and hasattr(obj, "execute") and hasattr(obj, "compile"):
        return Engine(obj)
    raise TypeError(f"expected an Engine, an Ibis connection or a SparkSession, got {type(obj).__name__}")


def engine_of(obj: Any, default: Any = None) -> Engine:
    """The engine an Ibis table lives on (``default``, else a new DuckDB engine, for DataFrames).

    Examples
    --------
    >>> eng = connect()
    >>> engine_of(eng.upload(pd.DataFrame({"a": [1]}), "t")).backend
    'duckdb'
    """
    if is_table(obj):
        if isinstance(default, Engine) and default.con is obj._find_backend():
            return default
        return Engine(obj._find_backend())
    return as_engine(default)


def _safe_setting(value: str) -> str:
    # Settings come from a validated spec or the environment; still refuse quotes.
    if "'" in value or ";" in value:
        raise ValueError(f"unsafe DuckDB setting value {value!r}")
    return value


def as_table(con: Any, df: pd.DataFrame | Any, name: str) -> Any:
    """Register a pandas DataFrame (or pass through an Ibis table) as a table on ``con``."""
    if is_table(df):
        return df
    return as_engine(con).upload(df, name)


# ------------------------------------------------------------------------------------------------
# Sources
# ------------------------------------------------------------------------------------------------
def _suffix(p: Path) -> str:
    name = p.name.lower()
    for s in (".csv.gz", ".tsv.gz"):
        if name.endswith(s):
            return s
    return p.suffix.lower()


def read_source(engine: Engine, source: Source | str | Path, *, all_text: bool = True) -> Any:
    """Read one input source as an Ibis table on ``engine`` (nothing is loaded into pandas).

    CSVs are read with every column as text so that unparseable values are reported by row rather
    than silently coerced (``all_text``). Parquet keeps its types. Excel workbooks (small by nature)
    are read with openpyxl and uploaded.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"a": [1, 2]}).to_csv(d / "x.csv", index=False)
    >>> t = read_source(connect(), d / "x.csv")
    >>> t.schema()["a"].is_string(), int(t.count().execute())
    (True, 2)
    """
    from evaltool.errors import DataValidationError

    from evaltool.readers import long_line_rows, read_xlsx, reader_message
    from evaltool.runlog import display_path

    src = source if isinstance(source, Source) else Source(path=Path(source))
    try:
        kind = src.kind
    except ValueError as err:
        raise DataValidationError(str(err)) from None
    if kind == "duckdb":
        return _read_duckdb(engine, src)
    path = Path(src.path)
    shown = display_path(path)
    if not path.exists():
        raise DataValidationError(f"{shown}: file not found")
    is_dataset = path.is_dir()
    if is_dataset and not any(path.rglob("*.parquet")):
        raise DataValidationError(f"{shown}: is a folder, not a file (a folder is read only as a Parquet dataset)")
    suffix = ".parquet" if is_dataset else _suffix(path)
    if suffix not in FILE_SUFFIXES:
        raise DataValidationError(f"{shown}: unsupported file type {suffix!r}; expected .csv, .parquet or .xlsx "
                                  "(also .csv.gz, .tsv, or a folder of Parquet files)")
    con = engine.con
    try:
        if suffix in (".xlsx", ".xlsm"):
            # Formula cells as the values Excel saved with them (refused when there is none).
            df = read_xlsx(path, sheet=src.sheet)
            return engine.upload(_excel_text(df), path.stem)
        if suffix in (".csv", ".txt", ".tsv", ".csv.gz", ".tsv.gz"):
            if path.stat().st_size == 0:
                raise DataValidationError(f"{shown}: the file is empty; expected a header row and data rows")
            if engine.backend == "duckdb":
                kw: dict[str, Any] = {"all_varchar": all_text, "header": True}
                if suffix.startswith(".tsv"):
                    kw["delim"] = "\t"
                t = con.read_csv(str(path), **kw)
                t.columns  # noqa: B018 - the schema is read now, so a bad file fails here with a clear message
                return t
            if engine.backend == "pyspark":
                return con.read_csv(str(path), header=True, inferSchema=not all_text,
                                    sep="\t" if suffix.startswith(".tsv") else ",")
            return engine.upload(_duck_df(path, suffix, all_text), path.stem)
        if engine.backend == "pyspark":
            return _spark_parquet(engine, path)
        if engine.backend == "duckdb":
            return con.read_parquet(str(path / "**" / "*.parquet") if is_dataset else str(path))
        return engine.upload(pd.read_parquet(path), path.stem)
    except DataValidationError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure becomes a clear message naming the file
        where = ""
        if "Maximum line size" in str(err):
            rows = long_line_rows(path)
            where = f" ({_rows(rows)} longer than 2,000,000 bytes)" if rows else ""
        raise DataValidationError(f"{shown}: cannot be read as {suffix[1:].upper()}: {reader_message(err)}{where}") \
            from None


def _rows(rows: list[int]) -> str:
    from evaltool.errors import format_rows

    return format_rows(rows)


def _spark_parquet(engine: Engine, path: Path) -> Any:
    """Parquet on Spark: nanosecond timestamps (pandas' default) arrive as integers and are converted."""
    import pyarrow.parquet as pq

    first = path if path.is_file() else next(iter(sorted(path.rglob("*.parquet"))), None)
    engine.con._session.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    t = engine.con.read_parquet(str(path))
    if first is None:
        return t
    schema = pq.read_schema(first)
    ns = [f.name for f in schema if str(f.type).startswith("timestamp[ns")]
    if ns:
        t = t.mutate(**{c: (t[c] // 1_000_000_000).as_timestamp("s") for c in ns})  # whole seconds
    return t


def _excel_text(df: pd.DataFrame) -> pd.DataFrame:
    # Cells as text, like CSVs: dates written by Excel become ISO text, blanks stay missing.
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        s = df[c]
        out[str(c)] = [None if (v is None or (isinstance(v, float) and pd.isna(v)))
                       else (v.strftime("%Y-%m-%d") if hasattr(v, "strftime") and getattr(v, "hour", 0) == 0
                             and getattr(v, "minute", 0) == 0 else str(v)) for v in s]
    return out


def _duck_df(path: Path, suffix: str, all_text: bool) -> pd.DataFrame:
    import duckdb

    with duckdb.connect() as c:
        delim = "\t" if suffix.startswith(".tsv") else ","
        return c.execute("SELECT * FROM read_csv(?, all_varchar=?, header=true, delim=?)",
                         [str(path), all_text, delim]).df()


def _read_duckdb(engine: Engine, src: Source) -> Any:
    from evaltool.errors import DataValidationError

    db = Path(src.duckdb)
    if not db.exists():
        raise DataValidationError(f"{db}: DuckDB database file not found")
    if engine.backend != "duckdb":
        import duckdb

        with duckdb.connect(str(db), read_only=True) as c:
            q = f"SELECT * FROM {src.table}" if src.table else src.sql
            return engine.upload(c.execute(q).df(), src.table or "query")
    alias = f"src_{abs(hash(str(db.resolve()))) % 10**8}"
    attached = set(engine.execute(engine.con.sql("SELECT database_name FROM duckdb_databases()"))["database_name"])
    if alias not in attached:
        engine.con.raw_sql(f"ATTACH '{_safe_setting(str(db))}' AS {alias} (READ_ONLY)")
        attached.add(alias)
        # Unqualified names in a source's SQL resolve in the attached files after our own tables.
        dbs = ",".join(["memory.main"] + sorted(f"{a}.main" for a in attached if a.startswith("src_")))
        engine.con.raw_sql(f"SET search_path = '{dbs}'")
    try:
        if src.table:
            schema, _, name = src.table.rpartition(".")
            return engine.con.table(name, database=(alias, schema or "main"))
        return engine.con.sql(src.sql)
    except Exception as err:  # noqa: BLE001
        raise DataValidationError(f"{src.describe()}: cannot be read: {err}") from None
