"""Load input tables (CSV, Parquet, Excel) and validate them against input contract v1.

Every problem is reported with the file, the column, up to 10 row numbers and the total count.
Row numbers are 1-based data rows (for a CSV, the file line is the row number + 1, the header
being line 1). The spec chooses per check whether a problem is an error or an exclusion;
exclusions are counted with their reason, never dropped silently. Input files and the caller's
frames are never modified.

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

from evaltool.errors import DataValidationError, format_rows
from evaltool.readers import long_line_rows, reader_message, read_xlsx
from evaltool.runlog import display_path, excerpt

SETTINGS = (
    "emergency_admission",
    "elective_admission",
    "ae_attendance",
    "outpatient_attendance",
    "care_home_admission",
    "gp_contact",
)
FRAILTY_LEVELS = ("fit", "mild", "moderate", "severe")
SEX_VALUES = ("F", "M")
#: Accepted spellings of sex (case-insensitive, trimmed) -> F/M. "1"/"2" are the NHS Data Dictionary
#: person stated gender codes (1 = male, 2 = female); their "not known" codes are in SEX_NOT_KNOWN.
SEX_VOCABULARY = {"f": "F", "female": "F", "2": "F", "m": "M", "male": "M", "1": "M"}
#: Values that say the sex is not known (NHS codes 0 = not known, 9 = not specified / indeterminate,
#: X = not known): check `sex_not_known`. Anything else, blanks included, is `invalid_sex`.
SEX_NOT_KNOWN = ("0", "9", "x", "unknown", "not known", "not specified", "indeterminate")

#: Checks on input data, and the actions a spec may choose for each.
#: Checks whose action the spec chooses: check -> (default action, allowed actions).
_CHECKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "duplicate_person_id": ("error", ("error", "exclude")),
    "unknown_practice_id": ("error", ("error", "exclude")),
    "treated_without_index_date": ("error", ("error", "exclude")),
    "index_date_for_untreated": ("error", ("error", "exclude", "ignore")),
    "index_date_outside_window": ("exclude", ("error", "exclude")),
    "index_date_outside_registration": ("exclude", ("error", "exclude")),
    "invalid_sex": ("error", ("error", "exclude")),
    "sex_not_known": ("error", ("error", "exclude")),
    "birth_after_index": ("error", ("error", "exclude")),
    "death_before_birth": ("error", ("error", "exclude")),
    "death_before_registration": ("error", ("error", "exclude")),
    "missing_age": ("error", ("error", "exclude")),
    "activity_unknown_person": ("error", ("error", "exclude")),
    "activity_after_death": ("exclude", ("error", "exclude")),
    "activity_outside_registration": ("exclude", ("error", "exclude")),
    "activity_outside_window": ("exclude", ("error", "exclude")),
    "unknown_setting": ("error", ("error", "exclude")),
    "negative_bed_days": ("error", ("error", "exclude")),
    "negative_cost": ("error", ("error", "exclude")),
    "missing_activity_date": ("error", ("error", "exclude")),
}
CHECK_ACTIONS: dict[str, tuple[str, ...]] = {k: allowed for k, (_, allowed) in _CHECKS.items()}
DEFAULT_ACTIONS: dict[str, str] = {k: default for k, (default, _) in _CHECKS.items()}


REQUIRED = {
    "population": ("person_id", "practice_id", "sex", "treated"),
    "activity": ("person_id", "date", "setting"),
    "practices": ("practice_id",),
}
DATE_COLUMNS = {
    "population": ("birth_date", "index_date", "registration_start", "registration_end", "death_date"),
    "activity": ("date",),
    "practices": ("go_live_date",),
}
NUMERIC_COLUMNS = {
    "population": ("age", "imd_quintile", "ltc_count", "risk_score"),
    "activity": ("bed_days", "cost"),
    "practices": ("list_size",),
}


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


@dataclass
class ValidatedData:
    """Validated inputs: clean frames, the problems found and the cohort flow so far."""

    population: pd.DataFrame
    activity: pd.DataFrame
    practices: pd.DataFrame | None
    problems: list[Problem]
    flow: list[FlowStep]
    activity_flow: list[FlowStep]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)

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
        return pd.DataFrame([f.__dict__ for f in self.flow], columns=list(FlowStep.__dataclass_fields__))

    def activity_flow_frame(self) -> pd.DataFrame:
        return pd.DataFrame([f.__dict__ for f in self.activity_flow], columns=list(FlowStep.__dataclass_fields__))

    def problems_frame(self) -> pd.DataFrame:
        cols = ["table", "file", "column", "check", "message", "n", "action", "example_rows"]
        return pd.DataFrame(
            [
                {**{k: getattr(p, k) for k in cols[:-1]}, "example_rows": " ".join(str(r) for r in p.rows)}
                for p in self.problems
            ],
            columns=cols,
        )


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel file through DuckDB (Excel via openpyxl).

    CSVs are read with every column as text so that unparseable values can be reported by row
    rather than silently coerced. Excel formula cells are read as the values Excel saved with
    them (:func:`read_xlsx`). A file that cannot be read raises :class:`DataValidationError`
    naming it, never a reader's traceback.
    """
    import duckdb

    path = Path(path)
    shown = display_path(path)
    if not path.exists():
        raise DataValidationError(f"{shown}: file not found")
    if not path.is_file():
        raise DataValidationError(f"{shown}: is a folder, not a file")
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        return read_xlsx(path)
    if suffix not in {".csv", ".txt", ".tsv", ".parquet", ".pq"}:
        raise DataValidationError(f"{shown}: unsupported file type {suffix!r}; expected .csv, .parquet or .xlsx")
    con = duckdb.connect()
    try:
        if suffix in {".parquet", ".pq"}:
            return con.execute("SELECT * FROM read_parquet(?)", [str(path)]).df()
        if path.stat().st_size == 0:
            raise DataValidationError(f"{shown}: the file is empty; expected a header row and data rows")
        return con.execute(
            "SELECT * FROM read_csv(?, all_varchar=true, header=true, auto_detect=true)", [str(path)]
        ).df()
    except duckdb.Error as err:
        where = ""
        if "Maximum line size" in str(err):
            rows = long_line_rows(path)
            where = f" ({format_rows(rows)} longer than 2,000,000 bytes)" if rows else ""
        raise DataValidationError(f"{shown}: cannot be read as {suffix[1:].upper()}: {reader_message(err)}{where}") \
            from None
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
class _Checker:
    def __init__(self, actions: Callable[[str], str]):
        self.action = actions
        self.problems: list[Problem] = []

    def add(self, table: str, file: str, column: str, check: str, message: str, mask: np.ndarray | pd.Series,
            action: str | None = None) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        if n:
            rows = tuple(int(i) + 1 for i in np.flatnonzero(mask)[:10])
            self.problems.append(Problem(table, file, column, check, message, rows, n, action or self.action(check)))
        return mask

    def fatal(self, table: str, file: str, column: str, check: str, message: str, mask=None) -> None:
        if mask is None:
            self.problems.append(Problem(table, file, column, check, message, (), 0, "error"))
        else:
            self.add(table, file, column, check, message, mask, action="error")


def _blank(s: pd.Series) -> pd.Series:
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        return s.isna() | (s.astype("string").str.strip() == "")
    return s.isna()


def _parse_dates(chk: _Checker, df: pd.DataFrame, table: str, file: str, col: str) -> None:
    s = df[col]
    if pd.api.types.is_datetime64_any_dtype(s):
        parsed = pd.to_datetime(s)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        df[col] = parsed.dt.normalize().astype("datetime64[ns]")
        return
    blank = _blank(s)
    text = s.astype("string").str.strip()
    parsed = pd.to_datetime(text.where(~blank), errors="coerce", format="ISO8601")
    bad = ~blank & parsed.isna()
    chk.fatal(table, file, col, "unparseable_date",
              f"expected dates as YYYY-MM-DD; found e.g. {excerpt(text[bad].iloc[0])}" if bad.any() else "", bad)
    df[col] = parsed.dt.normalize().astype("datetime64[ns]")


def _parse_numeric(chk: _Checker, df: pd.DataFrame, table: str, file: str, col: str) -> None:
    s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        parsed = s.astype("float64")
    else:
        blank = _blank(s)
        parsed = pd.to_numeric(s.astype("string").str.strip().where(~blank), errors="coerce").astype("float64")
        bad = ~blank & parsed.isna()
        chk.fatal(table, file, col, "not_numeric",
                  f"expected numbers; found e.g. {excerpt(s[bad].iloc[0])}" if bad.any() else "", bad)
    _check_finite(chk, parsed, table, file, col)
    df[col] = parsed.where(np.isfinite(parsed))


def _check_finite(chk: _Checker, values: pd.Series, table: str, file: str, col: str) -> None:
    """Infinite numbers (``inf``, ``-Infinity``, 1e999) are input problems, never values to match or sum."""
    inf = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
    chk.fatal(table, file, col, "not_finite", "expected a finite number; found infinity (inf)", inf)


def _sex_vocabulary(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Map sex to F/M by an explicit vocabulary (:data:`SEX_VOCABULARY`), never by first letter.

    Returns the mapped values (None where not mapped), a mask of "not known" codes and a mask of
    values that are blank or not recognised.

    Examples
    --------
    >>> sex, nk, bad = _sex_vocabulary(pd.Series(["F", "male", "2", "9", "Missing", None]))
    >>> sex.tolist(), nk.tolist(), bad.tolist()
    (['F', 'M', 'F', None, None, None], [False, False, False, True, False, False], [False, False, False, False, True, True])
    """
    text = values.astype("string").str.strip().str.lower()
    text = text.str.replace(r"\.0$", "", regex=True)  # 1.0 / 2.0 from a numeric column
    mapped = text.map(SEX_VOCABULARY)
    known = mapped.notna().to_numpy()
    not_known = text.isin(SEX_NOT_KNOWN).fillna(False).to_numpy(dtype=bool)
    out = mapped.astype(object).where(mapped.notna(), None)
    return pd.Series(out.to_numpy(), index=values.index, dtype=object), not_known, ~known & ~not_known


def _contradictory_dates(exclude: Callable[..., None], pop: pd.DataFrame, treated: np.ndarray) -> None:
    """Dates that contradict each other: born after enrolment, died before birth or before registering."""
    idx, birth, death = pop["index_date"], pop["birth_date"], pop["death_date"]
    exclude("birth_after_index", "birth_date", "birth_date is after the index (enrolment) date",
            treated & idx.notna() & birth.notna() & (birth > idx), "Born after the enrolment date")
    exclude("death_before_birth", "death_date", "death_date is before birth_date",
            death.notna() & birth.notna() & (death < birth), "Died before birth (contradictory dates)")
    reg = pop["registration_start"]
    exclude("death_before_registration", "death_date", "death_date is before registration_start",
            death.notna() & reg.notna() & (death < reg), "Died before registering (contradictory dates)")


def _ids(s: pd.Series) -> pd.Series:
    # IDs are strings in every table so that joins never depend on a reader's type guess
    # (a CSV's "00123" and a Parquet integer 123 would otherwise silently disagree).
    out = s.astype("string").str.strip()
    return out.astype(object).where(out.notna(), None)


def _require(chk: _Checker, df: pd.DataFrame, table: str, file: str, extra_required: tuple[str, ...] = ()) -> bool:
    missing = [c for c in (*REQUIRED[table], *extra_required) if c not in df.columns]
    for c in missing:
        chk.fatal(table, file, c, "missing_column",
                  f"required column `{c}` is missing (found columns: {', '.join(map(str, df.columns))})")
    return not missing


def validate_frames(
    population: pd.DataFrame,
    activity: pd.DataFrame,
    practices: pd.DataFrame | None = None,
    *,
    window: tuple[Any, Any],
    actions: Mapping[str, str] | Callable[[str], str] | None = None,
    files: Mapping[str, str] | None = None,
    enrolment_end: Any = None,
) -> ValidatedData:
    """Validate the three core tables and apply the chosen action for every problem found.

    Parameters
    ----------
    population, activity, practices:
        Frames in input contract v1 (never modified: copies are validated).
    window:
        ``(start, end)`` of the study window, inclusive.
    actions:
        ``check -> "error" | "exclude"``; defaults from :data:`evaltool.spec.DEFAULT_ACTIONS`.
    files:
        Display names of the source files, per table, for messages.
    """
    if actions is None:
        act_fn: Callable[[str], str] = DEFAULT_ACTIONS.__getitem__
    elif callable(actions):
        act_fn = actions
    else:
        act_fn = lambda c: actions.get(c, DEFAULT_ACTIONS[c])  # noqa: E731
    files = dict(files or {})
    fpop = files.get("population", "population")
    fact = files.get("activity", "activity")
    fprac = files.get("practices", "practices")
    w0, w1 = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    chk = _Checker(act_fn)

    pop = population.copy()
    act = activity.copy()
    prac = practices.copy() if practices is not None else None

    ok = _require(chk, pop, "population", fpop)
    if "birth_date" not in pop.columns and "age" not in pop.columns:
        chk.fatal("population", fpop, "birth_date", "missing_column",
                  "needs `birth_date` or `age` (found neither)")
        ok = False
    ok = _require(chk, act, "activity", fact) and ok
    if prac is not None:
        ok = _require(chk, prac, "practices", fprac) and ok
    for table, df, f in (("population", pop, fpop), ("activity", act, fact), ("practices", prac, fprac)):
        if df is not None and len(df) == 0:
            chk.fatal(table, f, "", "empty_table", "no data rows (only a header): nothing to analyse")
            ok = False
    if not ok:
        return ValidatedData(pop, act, prac, chk.problems, [], [])

    # ---- types -------------------------------------------------------------------------
    for table, df, f in (("population", pop, fpop), ("activity", act, fact), ("practices", prac, fprac)):
        if df is None:
            continue
        for c in DATE_COLUMNS[table]:
            if c in df.columns:
                _parse_dates(chk, df, table, f, c)
        for c in NUMERIC_COLUMNS[table]:
            if c in df.columns:
                _parse_numeric(chk, df, table, f, c)
    if "index_date" not in pop.columns:
        pop["index_date"] = pd.Series(pd.NaT, index=pop.index, dtype="datetime64[ns]")
    for c in ("registration_start", "registration_end", "death_date"):
        if c not in pop.columns:
            pop[c] = pd.Series(pd.NaT, index=pop.index, dtype="datetime64[ns]")
    pop["person_id"] = _ids(pop["person_id"])
    pop["practice_id"] = _ids(pop["practice_id"])
    act["person_id"] = _ids(act["person_id"])
    if prac is not None:
        prac["practice_id"] = _ids(prac["practice_id"])

    chk.fatal("population", fpop, "person_id", "missing_id", "person_id is blank", pop["person_id"].isna())
    chk.fatal("population", fpop, "practice_id", "missing_id", "practice_id is blank", pop["practice_id"].isna())
    tr = pd.to_numeric(pop["treated"].astype("string").str.strip(), errors="coerce")
    bad_tr = ~tr.isin([0, 1])
    chk.fatal("population", fpop, "treated", "invalid_treated",
              "expected 0 or 1" + (f"; found e.g. {excerpt(pop['treated'][bad_tr].iloc[0])}" if bad_tr.any() else ""), bad_tr)
    pop["treated"] = tr.fillna(-1).astype("int64")
    if "imd_quintile" in pop.columns:
        bad = pop["imd_quintile"].notna() & ~pop["imd_quintile"].isin([1, 2, 3, 4, 5])
        chk.fatal("population", fpop, "imd_quintile", "invalid_imd", "expected an integer 1-5 (1 = most deprived)", bad)
    if "ltc_count" in pop.columns:
        v = pop["ltc_count"]
        bad = v.notna() & ((v < 0) | (v != np.floor(v)))
        chk.fatal("population", fpop, "ltc_count", "invalid_ltc_count", "expected a whole number >= 0", bad)
    if "risk_score" in pop.columns:
        v = pop["risk_score"]
        bad = v.notna() & ((v < 0) | (v > 1))
        chk.fatal("population", fpop, "risk_score", "invalid_risk_score", "expected a probability between 0 and 1", bad)
    if "frailty" in pop.columns:
        fr = pop["frailty"].astype("string").str.strip().str.lower()
        bad = fr.notna() & (fr != "") & ~fr.isin(FRAILTY_LEVELS)
        chk.fatal("population", fpop, "frailty", "invalid_frailty",
                  f"expected one of {', '.join(FRAILTY_LEVELS)}" + (f"; found e.g. {excerpt(pop['frailty'][bad].iloc[0])}" if bad.any() else ""), bad)
        pop["frailty"] = fr.astype(object).where(fr.notna() & (fr != ""), None)
    if "registration_start" in pop.columns:
        bad = pop["registration_end"].notna() & pop["registration_start"].notna() & (pop["registration_end"] < pop["registration_start"])
        chk.fatal("population", fpop, "registration_end", "registration_order", "registration_end is before registration_start", bad)
    if "age" in pop.columns:
        v = pop["age"]
        bad = v.notna() & ((v < 0) | (v > 120))
        chk.fatal("population", fpop, "age", "invalid_age", "expected an age from 0 to 120", bad)
    if "birth_date" in pop.columns:
        bad = pop["birth_date"].notna() & (pop["birth_date"] > w1)
        chk.fatal("population", fpop, "birth_date", "birth_after_window", f"birth_date is after the window end {w1.date()}", bad)
    if prac is not None:
        dup = prac["practice_id"].duplicated(keep=False) & prac["practice_id"].notna()
        chk.fatal("practices", fprac, "practice_id", "duplicate_practice_id", "practice_id appears more than once", dup)
        if "list_size" in prac.columns:
            chk.fatal("practices", fprac, "list_size", "invalid_list_size", "expected a number >= 0",
                      prac["list_size"].notna() & (prac["list_size"] < 0))

    if chk.problems and any(p.action == "error" and p.check in {"unparseable_date", "not_numeric", "invalid_treated", "missing_id"} for p in chk.problems):
        # Types are broken: later checks would only repeat the same rows.
        return ValidatedData(pop, act, prac, chk.problems, [], [])

    # ---- population: exclusions --------------------------------------------------------
    n0 = len(pop)
    flow = [FlowStep("start", f"People in {fpop}", n0, 0, "")]
    keep = np.ones(n0, dtype=bool)

    def exclude(check: str, column: str, message: str, mask: pd.Series | np.ndarray, desc: str) -> None:
        nonlocal keep
        m = chk.add("population", fpop, column, check, message, np.asarray(mask, bool) & keep)
        if chk.action(check) == "exclude" and m.any():
            keep &= ~m
            flow.append(FlowStep(check, desc, int(keep.sum()), int(m.sum()), message))

    dup = pop["person_id"].duplicated(keep=False)
    exclude("duplicate_person_id", "person_id", "person_id appears more than once", dup,
            "Duplicate person_id (all copies removed)")
    if prac is not None:
        unknown = ~pop["practice_id"].isin(set(prac["practice_id"].dropna()))
        exclude("unknown_practice_id", "practice_id", f"practice_id not found in {fprac}", unknown,
                "Practice not in the practices file")
    raw_sex = pop["sex"]
    sex, not_known, unrecognised = _sex_vocabulary(raw_sex)
    pop["sex"] = sex
    exclude("sex_not_known", "sex", "sex recorded as not known (NHS codes 0/9/X or 'unknown')", not_known,
            "Sex not known")
    example = raw_sex[unrecognised & keep].dropna()
    exclude("invalid_sex", "sex",
            "expected F/M, female/male or the NHS codes 1 (male) / 2 (female)"
            + (f"; found e.g. {excerpt(example.iloc[0])}" if len(example) else "; found blanks"),
            unrecognised, "Sex missing or not recognised")
    if "birth_date" not in pop.columns:
        # An age at window start stands in for a birth date: mid-year of the implied birth year
        # (an exact birth date is never needed to better than +/- 6 months for age bands).
        pop["birth_date"] = (w0 - pd.to_timedelta((pop["age"] * 365.25 + 182).round(), unit="D")).dt.normalize()
    exclude("missing_age", "birth_date", "no birth_date/age", pop["birth_date"].isna(), "Age unknown")
    treated = pop["treated"].to_numpy() == 1
    exclude("treated_without_index_date", "index_date", "treated = 1 but index_date is blank",
            treated & pop["index_date"].isna(), "Enrolled without an enrolment (index) date")
    untreated_with = (~treated) & pop["index_date"].notna()
    if chk.action("index_date_for_untreated") == "ignore":
        pop.loc[untreated_with, "index_date"] = pd.NaT
    else:
        exclude("index_date_for_untreated", "index_date", "treated = 0 but index_date is filled", untreated_with,
                "Index date given for a person not enrolled")
    idx = pop["index_date"]
    last_index = pd.Timestamp(enrolment_end) if enrolment_end is not None else w1
    outside = treated & idx.notna() & ((idx < w0) | (idx > last_index))
    exclude("index_date_outside_window", "index_date",
            f"index_date outside the study window {w0.date()} to {last_index.date()}", outside,
            "Enrolled outside the study window")
    _contradictory_dates(exclude, pop, treated)
    reg_bad = treated & idx.notna() & (
        (pop["registration_start"].notna() & (idx < pop["registration_start"]))
        | (pop["registration_end"].notna() & (idx > pop["registration_end"]))
        | (pop["death_date"].notna() & (idx > pop["death_date"]))
    )
    exclude("index_date_outside_registration", "index_date",
            "index_date falls outside the person's registration or after death", reg_bad,
            "Not alive and registered at enrolment")
    pop_out = pop.loc[keep].reset_index(drop=True)
    flow.append(FlowStep("analysed_population", "People available for analysis", len(pop_out), 0, ""))

    # ---- activity ------------------------------------------------------------------------
    a0 = len(act)
    aflow = [FlowStep("start", f"Activity rows in {fact}", a0, 0, "")]
    akeep = np.ones(a0, dtype=bool)

    def aexclude(check: str, column: str, message: str, mask: Any, desc: str) -> None:
        nonlocal akeep
        m = chk.add("activity", fact, column, check, message, np.asarray(mask, bool) & akeep)
        if chk.action(check) == "exclude" and m.any():
            akeep &= ~m
            aflow.append(FlowStep(check, desc, int(akeep.sum()), int(m.sum()), message))

    setting = act["setting"].astype("string").str.strip().str.lower()
    act["setting"] = setting.astype(object)
    aexclude("missing_activity_date", "date", "date is blank", act["date"].isna(), "Activity without a date")
    aexclude("unknown_setting", "setting",
             f"expected one of {', '.join(SETTINGS)}"
             + (f"; found e.g. {excerpt(activity['setting'][~setting.isin(SETTINGS)].iloc[0])}" if (~setting.isin(SETTINGS)).any() else ""),
             ~setting.isin(SETTINGS), "Unknown activity setting")
    for c, check in (("bed_days", "negative_bed_days"), ("cost", "negative_cost")):
        if c in act.columns:
            aexclude(check, c, f"{c} is negative", act[c].notna() & (act[c] < 0), f"Negative {c.replace('_', ' ')}")
    known = pop.loc[keep, ["person_id", "registration_start", "registration_end", "death_date"]]
    all_ids = set(pop["person_id"].dropna())
    unknown_person = ~act["person_id"].isin(all_ids)
    aexclude("activity_unknown_person", "person_id", f"person_id not found in {fpop}", unknown_person,
             "Activity for a person not in the population file")
    # Activity of people excluded above goes with them (counted, not an error).
    excluded_people = act["person_id"].isin(all_ids) & ~act["person_id"].isin(set(known["person_id"]))
    if excluded_people.any():
        m = excluded_people.to_numpy() & akeep
        akeep &= ~m
        aflow.append(FlowStep("person_excluded", "Activity of people excluded from the population",
                              int(akeep.sum()), int(m.sum()), "person excluded (see cohort flow)"))
    d = act["date"]
    aexclude("activity_outside_window", "date", f"date outside the study window {w0.date()} to {w1.date()}",
             d.notna() & ((d < w0) | (d > w1)), "Activity outside the study window")
    # With duplicate ids left in (action "error") the first copy stands in, so that the merge keeps one row per event.
    merged = act[["person_id"]].merge(known.drop_duplicates("person_id"), on="person_id", how="left")
    death = merged["death_date"].to_numpy()
    after_death = d.notna().to_numpy() & ~pd.isna(death) & (d.to_numpy() > death)
    aexclude("activity_after_death", "date", "date is after the person's death_date", after_death,
             "Activity after death")
    rs, re_ = merged["registration_start"].to_numpy(), merged["registration_end"].to_numpy()
    outside_reg = d.notna().to_numpy() & ((~pd.isna(rs) & (d.to_numpy() < rs)) | (~pd.isna(re_) & (d.to_numpy() > re_)))
    aexclude("activity_outside_registration", "date", "date is outside the person's registration period",
             outside_reg, "Activity outside registration")
    act_out = act.loc[akeep].reset_index(drop=True)
    aflow.append(FlowStep("analysed_activity", "Activity rows available for analysis", len(act_out), 0, ""))
    return ValidatedData(pop_out, act_out, prac, chk.problems, flow, aflow)


def load_inputs(spec: Any) -> ValidatedData:
    """Read and validate the inputs named in a :class:`evaltool.spec.Spec`.

    Returns the validated data even when errors were found (``.ok`` is False, ``.problems``
    lists them) so that ``evaltool validate`` can print every problem at once; call
    ``.raise_for_errors()`` to stop.
    """
    paths = {"population": spec.data.population, "activity": spec.data.activity, "practices": spec.data.practices}
    frames: dict[str, pd.DataFrame | None] = {}
    files: dict[str, dict[str, Any]] = {}
    for name, p in paths.items():
        if p is None:
            frames[name] = None
            continue
        frames[name] = read_table(p)
        files[name] = {"path": str(p), "sha256": sha256_file(p), "rows": int(len(frames[name]))}
    extra: dict[str, pd.DataFrame] = {}
    for name in ("proms", "prems", "area_panel"):
        p = getattr(spec.data, name, None)
        if p is not None:
            extra[name] = read_table(p)
            files[name] = {"path": str(p), "sha256": sha256_file(p), "rows": int(len(extra[name]))}
    if getattr(spec, "qualitative", None) is not None:
        for name in ("codebook", "segments", "participants", "redaction_list", "analyst_summaries"):
            p = getattr(spec.qualitative, name)
            if p is not None:
                files[f"qualitative_{name}"] = {"path": str(p), "sha256": sha256_file(p)}
    v = validate_frames(
        frames["population"],
        frames["activity"],
        frames["practices"],
        window=(spec.window.start, spec.window.end),
        actions=spec.validation.action,
        files={k: Path(p).name for k, p in paths.items() if p is not None},
        enrolment_end=spec.cohort.enrolment_end,
    )
    v.files = files
    v.extra = extra
    return v


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
