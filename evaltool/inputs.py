"""Read input sources and validate them against input contract v1, in the engine.

Sources (files, DuckDB tables, any Ibis table) are read as Ibis tables by :mod:`evaltool.engine`;
every check is a query that returns a count and at most ten example rows, never the table. The
clean tables stay in the engine (``ValidatedData.population_table`` / ``activity_table``); pandas
views (``.population``, ``.activity``) are materialised only when asked for.

Every problem is reported with the file, the column, up to 10 row numbers and the total count.
Row numbers are 1-based data rows (for a CSV, the file line is the row number + 1, the header
being line 1; for a database table, the position in the engine's scan order). The spec chooses
per check whether a problem is an error or an exclusion; exclusions are counted with their
reason, never dropped silently. Input files and the caller's frames are never modified.

Examples
--------
>>> from evaltool.inputs import validate_frames
>>> import pandas as pd
>>> pop = pd.DataFrame({"person_id": ["a"], "practice_id": ["p1"], "sex": ["F"], "age": [70],
...                     "treated": [0], "index_date": [pd.NaT]})
>>> act = pd.DataFrame({"person_id": ["a"], "date": ["2022-01-05"], "setting": ["ae_attendance"]})
>>> v = validate_frames(pop, act, window=("2021-04-01", "2025-03-31"))
>>> v.ok, len(v.population), len(v.activity)
(True, 1, 1)
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool import _rules
from evaltool._rules import (  # noqa: F401 - re-exported: the contract's vocabularies and checks
    CHECK_ACTIONS,
    DATE_COLUMNS,
    DEFAULT_ACTIONS,
    FRAILTY_LEVELS,
    NUMERIC_COLUMNS,
    REQUIRED,
    SETTINGS,
    SEX_VALUES,
)
from evaltool.engine import Engine, Source, as_engine, is_table, read_source
from evaltool.errors import DataValidationError, format_rows


@dataclass(frozen=True)
class Problem:
    """One problem found in the input data."""

    table: str
    file: str
    column: str
    check: str
    message: str
    rows: tuple[int, ...]
    n: int
    action: str  # "error" | "exclude" | "warn"

    def describe(self) -> str:
        where = f"{self.file}, column `{self.column}`" if self.column else self.file
        rows = f": {format_rows(self.rows, self.n)}" if self.n else ""
        verb = {"error": "ERROR", "exclude": "excluded", "warn": "warning"}[self.action]
        return f"[{verb}] {where}: {self.message}{rows}"


@dataclass(frozen=True)
class FlowStep:
    step: str
    description: str
    n_remaining: int
    n_excluded: int
    reason: str


def flow_frame(steps: Any) -> pd.DataFrame:
    """A list of :class:`FlowStep` as the cohort-flow table."""
    return pd.DataFrame([f.__dict__ for f in steps], columns=list(FlowStep.__dataclass_fields__))


class LazyFrames:
    """``population``, ``activity`` and ``practices`` as pandas views of the ``*_table`` Ibis tables,
    materialised once, when first read, in the source's row order (the pipeline reads only the population).

    The tables carry ``_row``, the 1-based row of the source, for that order and for messages."""

    _cache: dict[str, pd.DataFrame]

    def _frame(self, name: str) -> pd.DataFrame | None:
        t = getattr(self, f"{name}_table")
        if t is None:
            return None
        if name not in self._cache:
            self._cache[name] = materialise(t)
        return self._cache[name]

    @property
    def population(self) -> pd.DataFrame:
        return self._frame("population")

    @property
    def activity(self) -> pd.DataFrame:
        return self._frame("activity")

    @property
    def practices(self) -> pd.DataFrame | None:
        return self._frame("practices")


@dataclass
class ValidatedData(LazyFrames):
    """Validated inputs: clean tables in the engine, the problems found and the cohort flow so far.

    ``population_table``, ``activity_table`` and ``practices_table`` are Ibis tables on ``engine``
    in the contract's types; ``population``, ``activity`` and ``practices`` are pandas views of
    them, materialised (once) only when read.
    """

    population_table: Any
    activity_table: Any
    practices_table: Any | None
    problems: list[Problem]
    flow: list[FlowStep]
    activity_flow: list[FlowStep]
    engine: Engine | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    #: Every counted step of mapping the sources (evaltool.nhs: presets, recodes, NHS number checks).
    source_flow: list[Any] = field(default_factory=list)
    #: Provenance of the code lists the coded outcomes used.
    codelists: list[dict[str, Any]] = field(default_factory=list)
    #: Engine tables the mapping layer made beside the contract (diagnoses, spells).
    nhs: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.action == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            lines = [p.describe() for p in self.errors]
            raise DataValidationError(
                f"{len(lines)} problem(s) in the input data stop the run:\n" + "\n".join(f"  - {x}" for x in lines)
                + "\nFix the data, or set the check's action to `exclude` under `validation.actions` in the spec."
            )

    def flow_frame(self) -> pd.DataFrame:
        return flow_frame(self.flow)

    def activity_flow_frame(self) -> pd.DataFrame:
        return flow_frame(self.activity_flow)

    def problems_frame(self) -> pd.DataFrame:
        cols = ["table", "file", "column", "check", "message", "n", "action", "example_rows"]
        return pd.DataFrame(
            [
                {**{k: getattr(p, k) for k in cols[:-1]}, "example_rows": " ".join(str(r) for r in p.rows)}
                for p in self.problems
            ],
            columns=cols,
        )


#: Rows per piece when a large engine table is brought into pandas (see :func:`materialise`).
CHUNK_ROWS = 500_000


def materialise(t: Any, chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """An engine table as a contract frame, in its source's row order (``_row``; results never depend on an
    engine's scan order), brought into pandas ``chunk_rows`` source rows at a time.

    Ibis' ``execute`` turns every column holding a null into a Python list of all its values before the
    frame is built: for a national population, ten million date objects for a death date, ten million
    strings for each text column, all alive at once with the Arrow result and the engine's sort (5-6 GB at
    10 million people). Each piece goes through the same ``execute`` and :func:`to_contract_frame`, so the
    frame has the same values and types; only one piece's Python objects exist at a time.

    Examples
    --------
    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> t = con.create_table("t", pd.DataFrame({"_row": [3, 1, 2], "x": ["c", "a", None]}))
    >>> materialise(t, chunk_rows=2)["x"].tolist()
    ['a', None, 'c']
    """
    if "_row" not in t.columns:
        return to_contract_frame(t.execute())
    if int(t.count().execute()) <= chunk_rows:
        return to_contract_frame(t.order_by("_row").drop("_row").execute())
    # Pieces of chunk_rows rows by the values of ``_row`` (which may have gaps: mapped sources number rows
    # per file): every chunk_rows-th value in order starts a piece.
    rows = np.sort(np.asarray(t.select("_row").to_pyarrow().column(0).to_numpy(zero_copy_only=False)))
    starts = np.unique(rows[::chunk_rows])
    del rows
    parts = []
    for k, start in enumerate(starts.tolist()):
        cond = t["_row"] >= start
        if k + 1 < len(starts):
            cond = cond & (t["_row"] < starts[k + 1].item())
        parts.append(to_contract_frame(t.filter(cond).order_by("_row").drop("_row").execute()))
    for c in parts[0].columns:  # a piece where a date column is all missing stays object: give it the type
        kinds = {str(p[c].dtype) for p in parts}
        if len(kinds) > 1 and any(k.startswith("datetime64") for k in kinds):
            for p in parts:
                if p[c].dtype == object and p[c].isna().all():
                    p[c] = p[c].astype("datetime64[ns]")
    out = pd.concat(parts, ignore_index=True)
    del parts
    return out


def to_contract_frame(df: pd.DataFrame) -> pd.DataFrame:
    """An engine result in the in-memory types of docs/architecture.md (dates ns, text as object)."""
    out = df
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[c] = s.astype("datetime64[ns]")
        elif s.dtype == object and len(s) and isinstance(s.dropna().iloc[0] if s.notna().any() else None, date):
            out[c] = pd.to_datetime(s).astype("datetime64[ns]")
        elif isinstance(s.dtype, pd.StringDtype) or pd.api.types.is_string_dtype(s.dtype):
            out[c] = shared_text(s)
    return out


def shared_text(s: pd.Series) -> pd.Series:
    """Text as object with missing values as None; a column of few distinct values holds one Python string per
    value, shared by its rows (a practice code repeated over 10 million people then costs 8 bytes a row, not ~60).

    The values, their order and the dtype are those of ``s.astype(object)``: only the memory differs.

    Examples
    --------
    >>> shared_text(pd.Series(["a", None, "a", "b"])).tolist()
    ['a', None, 'a', 'b']
    """
    head = s.iloc[:10_000]
    if len(s) < 1_000 or head.nunique(dropna=True) > len(head) // 2:  # small, or (nearly) unique: nothing to share
        return s.astype(object).where(s.notna(), None)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = np.empty(len(uniques) + 1, dtype=object)
    values[:-1] = np.asarray(uniques, dtype=object)
    values[-1] = None  # code -1: missing
    return pd.Series(values[codes], index=s.index, name=s.name, dtype=object)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_table(path: str | Path | Source, engine: Any = None) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel file into pandas (CSV columns as text). For small tables.

    Large inputs should stay in the engine: :func:`evaltool.engine.read_source`.
    """
    if not isinstance(path, Source) and Path(path).suffix.lower() in (".xlsx", ".xlsm"):
        from evaltool.readers import read_xlsx

        return read_xlsx(path)  # cells as Excel saved them (numbers stay numbers)
    eng = as_engine(engine)
    return to_contract_frame(read_source(eng, path).execute())


def _source_record(src: Source) -> dict[str, Any]:
    files = src.files()
    if len(files) == 1:
        rec: dict[str, Any] = {"path": str(src.path if src.kind == "file" else src.duckdb),
                               "sha256": sha256_file(files[0])}
    else:
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode() + b"\0" + sha256_file(f).encode())
        rec = {"path": str(src.path), "sha256": h.hexdigest(), "files": len(files)}
    if src.kind == "duckdb":
        rec["source"] = src.table or "sql"
    return rec


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def validate_frames(
    population: pd.DataFrame | Any,
    activity: pd.DataFrame | Any,
    practices: pd.DataFrame | Any | None = None,
    *,
    window: tuple[Any, Any],
    actions: Mapping[str, str] | Callable[[str], str] | None = None,
    files: Mapping[str, str] | None = None,
    enrolment_end: Any = None,
    engine: Any = None,
) -> ValidatedData:
    """Validate the three core tables and apply the chosen action for every problem found.

    Parameters
    ----------
    population, activity, practices:
        DataFrames (uploaded to the engine; never modified) or Ibis tables (never materialised)
        in input contract v1.
    window:
        ``(start, end)`` of the study window, inclusive.
    actions:
        ``check -> "error" | "exclude"``; defaults from :data:`evaltool.spec.DEFAULT_ACTIONS`.
    files:
        Display names of the sources, per table, for messages.
    engine:
        An :class:`~evaltool.engine.Engine`, Ibis connection or ``SparkSession`` (default: DuckDB).
    """
    if actions is None:
        act_fn: Callable[[str], str] = DEFAULT_ACTIONS.__getitem__
    elif callable(actions):
        act_fn = actions
    else:
        act_fn = lambda c: actions.get(c, DEFAULT_ACTIONS[c])
    eng = as_engine(engine)
    files = dict(files or {})
    tables = {}
    for name, obj in (("population", population), ("activity", activity), ("practices", practices)):
        if obj is None:
            tables[name] = None
        elif is_table(obj):
            tables[name] = obj
        else:
            tables[name] = eng.upload(obj, name)
    return _rules.validate(eng, tables, window=window, action=act_fn, enrolment_end=enrolment_end,
                           names={k: files.get(k, k) for k in tables}, result=ValidatedData,
                           problem=Problem, step=FlowStep)


def load_inputs(spec: Any, engine: Any = None) -> ValidatedData:
    """Read and validate the inputs named in a :class:`evaltool.spec.Spec`, in the engine.

    ``engine`` defaults to the one the spec's ``engine`` section describes. Returns the validated
    data even when errors were found (``.ok`` is False, ``.problems`` lists them) so that
    ``evaltool validate`` can print every problem at once; call ``.raise_for_errors()`` to stop.
    """
    from evaltool.nhs import load as nhs_load

    eng = as_engine(engine if engine is not None else getattr(spec, "engine", None))
    keys = ("population", "activity", "practices")
    sources = {k: spec.data.source(k) if hasattr(spec.data, "source") else _as_source(getattr(spec.data, k, None))
               for k in (*keys, "proms", "prems", "area_panel")}
    tables: dict[str, Any] = {}
    files: dict[str, dict[str, Any]] = {}
    asm = nhs_load.assemble_inputs(eng, spec.data) if nhs_load.needs_mapping(spec.data) else None
    for name in keys:
        src = sources[name]
        if asm is not None:
            tables[name] = asm.tables[name]
            if name in asm.files:
                files[name] = asm.files[name]
            continue
        tables[name] = None if src is None else read_source(eng, src)
        if src is not None:
            files[name] = _source_record(src)
    extra: dict[str, pd.DataFrame] = {}
    for name in ("proms", "prems", "area_panel"):
        src = sources[name]
        if src is not None:
            # Survey tables are small (one row per response): they come to pandas whole.
            extra[name] = to_contract_frame(read_source(eng, src).execute())
            files[name] = {**_source_record(src), "rows": len(extra[name])}
    if getattr(spec, "qualitative", None) is not None:
        for name in ("codebook", "segments", "participants", "redaction_list", "analyst_summaries"):
            p = getattr(spec.qualitative, name)
            if p is not None:
                files[f"qualitative_{name}"] = {"path": str(p), "sha256": sha256_file(p)}
    if tables["population"] is None and tables["activity"] is None:
        # An area-only spec (data.area_panel alone): no person-level tables to check; the panel is checked by
        # the area section (evaltool.area.panel.validate_area_panel).
        return ValidatedData(None, None, None, [], [], [], engine=eng, files=files, extra=extra)
    v = _rules.validate(
        eng, tables, window=(spec.window.start, spec.window.end), action=spec.validation.action,
        enrolment_end=spec.cohort.enrolment_end,
        names=asm.display_names if asm is not None else
        {k: sources[k].label for k in keys if sources[k] is not None},
        result=ValidatedData, problem=Problem, step=FlowStep,
    )
    for name in keys:
        if name in files:
            n = _rules.start_rows(v, name)
            files[name]["rows"] = int(tables[name].count().execute()) if n is None else n
    v.files = files
    v.extra = extra
    nhs_load.finish(v, spec, asm, eng, FlowStep)
    return v


def _as_source(p: Any) -> Source | None:
    return None if p is None else (p if isinstance(p, Source) else Source(path=Path(p)))


def age_at(birth: pd.Series, when: pd.Series | pd.Timestamp | date) -> pd.Series:
    """Whole years of age at a date (vectorised)."""
    when = pd.to_datetime(when)
    b = pd.to_datetime(birth)
    if isinstance(when, pd.Series):
        wy, wm, wd = when.dt.year, when.dt.month, when.dt.day
    else:
        wy, wm, wd = when.year, when.month, when.day
    before = (wm < b.dt.month) | ((wm == b.dt.month) & (wd < b.dt.day))
    return (wy - b.dt.year - before.astype(int)).astype("Int64")
