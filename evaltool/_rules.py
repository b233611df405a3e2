"""The rules of input contract v1, as engine queries: types, checks, exclusions and the flows.

:func:`validate` takes raw Ibis tables, counts every problem in a few aggregate queries (one per
table and phase), fetches example rows only for checks that found something, and returns clean
tables (still expressions, persisted in the engine) with the population and activity flows. The
public API and the messages' shape live in :mod:`evaltool.inputs`.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ibis
import pandas as pd

from evaltool._checks import Pending, evaluate
from evaltool.runlog import excerpt

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
#: Error checks on types: when any is found, later checks would only repeat the same rows.
TYPE_CHECKS = frozenset({"unparseable_date", "not_numeric", "invalid_treated", "missing_id", "empty_table"})
_RAW = "__raw_"


# ------------------------------------------------------------------------------------------------
# Typing: raw columns -> the contract's types (raw text kept beside for the checks)
# ------------------------------------------------------------------------------------------------
def trim(col: Any) -> Any:
    """Whitespace trimmed from both ends, on every backend.

    Ibis' ``strip`` compiles for PySpark to ``TRIM(' \\t\\n\\r\\v\\f' FROM x)``, and Spark reads
    ``\\v``/``\\f`` as the letters v and f (so 'fit' lost its f); a regular expression is safe.
    """
    if _BACKEND.get("name") == "duckdb":
        return col.strip()
    return col.re_replace(r"^\s+|\s+$", "")


_BACKEND: dict[str, str] = {"name": "duckdb"}


def _text(col: Any) -> Any:
    """Trimmed text; blank -> NULL."""
    return trim(col.cast("string")).nullif("")


def _date(col: Any) -> Any:
    if col.type().is_date():
        return col
    if col.type().is_timestamp():
        return col.cast("date")
    return _text(col).try_cast("timestamp").cast("date")


def _num(col: Any) -> Any:
    if col.type().is_numeric() and not col.type().is_boolean():
        return col.cast("float64")
    return _text(col).try_cast("float64")


def _round_half_even(x: Any) -> Any:
    # pandas' round (used before the engine rewrite) rounds halves to even; SQL's round does not.
    f = x.floor()
    d = x - f
    return ibis.ifelse(d > 0.5, f + 1, ibis.ifelse(d < 0.5, f, ibis.ifelse(f % 2 == 0, f, f + 1)))


def typed(t: Any, table: str, *, w0: pd.Timestamp, untreated_index: str = "error") -> Any:
    """The contract's types for one raw table (raw text kept as ``__raw_<col>`` for messages)."""
    cols = set(t.columns)
    m: dict[str, Any] = {}
    parsed = [c for c in (*DATE_COLUMNS[table], *NUMERIC_COLUMNS[table]) if c in cols]
    for c in (*parsed, *(x for x in ("treated", "setting", "frailty", "sex") if x in cols)):
        m[_RAW + c] = t[c]
    for c in DATE_COLUMNS[table]:
        if c in cols:
            m[c] = _date(t[c])
    for c in NUMERIC_COLUMNS[table]:
        if c in cols:
            v = _num(t[c])
            # Infinite numbers are refused (check not_finite) and never reach a sum or a cast.
            m["_k_inf_" + c] = v.isinf().fill_null(False)
            m[c] = ibis.ifelse(v.isinf().fill_null(False), ibis.null().cast("float64"), v)
    for c in ("person_id", "practice_id"):
        if c in cols:
            m[c] = _text(t[c])
    if table == "population":
        null_date = ibis.null().cast("date")
        for c in ("index_date", "registration_start", "registration_end", "death_date"):
            if c not in cols:
                m[c] = null_date
        tr = _num(t.treated)
        m["treated"] = ibis.ifelse(tr.isin([0.0, 1.0]), tr, -1.0).fill_null(-1.0).cast("int64")
        sexn = trim(t.sex.cast("string")).lower().re_replace(r"\.0$", "")
        m["_k_sex"] = sexn
        m["sex"] = sexn.substitute(SEX_VOCABULARY, else_=ibis.null().cast("string"))
        if "frailty" in cols:
            m["frailty"] = trim(t.frailty.cast("string")).lower().nullif("")
    if table == "activity":
        m["setting"] = trim(t.setting.cast("string")).lower()
    out = t.mutate(**m)
    if table == "population":
        if "birth_date" not in cols and "age" in cols:
            # An age at window start stands in for a birth date: mid-year of the implied birth year
            # (an exact birth date is never needed to better than +/- 6 months for age bands).
            days = _round_half_even(out.age * 365.25 + 182).cast("int64")
            out = out.mutate(birth_date=(ibis.literal(w0.date()) - days.as_interval("D")).cast("date"))
        if untreated_index == "ignore":
            out = out.mutate(index_date=ibis.ifelse(out.treated == 1, out.index_date, ibis.null().cast("date")))
    return out


_FLAG = re.compile(r"^_[ex]\d+$")
_HELPERS = (_RAW, "_k_")


def clean_columns(t: Any) -> list[str]:
    """The contract's columns and ``_row`` (source order): no raw text copies, join keys or flags."""
    return [c for c in t.columns if not c.startswith((_RAW, "_k_")) and not _FLAG.match(c)]


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------
def start_rows(v: Any, table: str) -> int | None:
    flow = v.flow if table == "population" else v.activity_flow if table == "activity" else None
    if flow:
        return int(flow[0].n_remaining)
    return getattr(v, "_start_rows", {}).get(table)


def validate(engine: Any, raw: dict[str, Any], *, window: tuple[Any, Any], action: Callable[[str], str],
             enrolment_end: Any, names: dict[str, str], result: type, problem: type, step: type) -> Any:
    """Run every check of the contract on ``raw`` tables; return ``result`` (``ValidatedData``)."""
    _BACKEND["name"] = engine.backend
    w0, w1 = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    fpop, fact, fprac = (names.get(k, k) for k in ("population", "activity", "practices"))
    problems: list[Any] = []

    def emit(ps: list[Pending]) -> None:
        for p in ps:
            if p.n:
                problems.append(problem(p.table, p.file, p.column, p.check, _message(p), p.rows, p.n, p.action))

    # ---- required columns (from the schema: no query) -----------------------------------
    def require(table: str, file: str, t: Any) -> bool:
        missing = [c for c in REQUIRED[table] if c not in t.columns]
        for c in missing:
            problems.append(problem(table, file, c, "missing_column",
                                    f"required column `{c}` is missing (found columns: {', '.join(map(str, t.columns))})",
                                    (), 0, "error"))
        return not missing

    pop_r, act_r, prac_r = raw["population"], raw["activity"], raw.get("practices")
    ok = require("population", fpop, pop_r)
    if "birth_date" not in pop_r.columns and "age" not in pop_r.columns:
        problems.append(problem("population", fpop, "birth_date", "missing_column",
                                "needs `birth_date` or `age` (found neither)", (), 0, "error"))
        ok = False
    ok = require("activity", fact, act_r) and ok
    if prac_r is not None:
        ok = require("practices", fprac, prac_r) and ok
    if not ok:
        return result(pop_r, act_r, prac_r, problems, [], [], engine=engine)

    ui = action("index_date_for_untreated")
    build = {
        "population": lambda t: typed(t, "population", w0=w0, untreated_index=ui),
        "activity": lambda t: typed(t, "activity", w0=w0),
        "practices": lambda t: typed(t, "practices", w0=w0),
    }

    # ---- types and values (errors; no exclusions depend on them) ------------------------
    fatal: dict[str, list[Pending]] = {"population": [], "activity": [], "practices": []}

    def fat(table: str, file: str, column: str, check: str, message: str, pred: Callable[[Any], Any],
            example_col: str | None = None) -> None:
        fatal[table].append(Pending(table, file, column, check, message, pred, "error", example_col))

    for table, t, f in (("population", pop_r, fpop), ("activity", act_r, fact), ("practices", prac_r, fprac)):
        if t is None:
            continue
        for c in DATE_COLUMNS[table]:
            if c in t.columns and t[c].type().is_string():
                fat(table, f, c, "unparseable_date", "expected dates as YYYY-MM-DD; found e.g. {example}",
                    lambda x, c=c: _text(x[_RAW + c]).notnull() & x[c].isnull(), f"_k_{c}")
        for c in NUMERIC_COLUMNS[table]:
            if c in t.columns and not (t[c].type().is_numeric() and not t[c].type().is_boolean()):
                fat(table, f, c, "not_numeric", "expected numbers; found e.g. {example}",
                    lambda x, c=c: _text(x[_RAW + c]).notnull() & x[c].isnull(), _RAW + c)
        for c in NUMERIC_COLUMNS[table]:
            if c in t.columns:
                # Infinite numbers (inf, -Infinity, 1e999) are input problems, never values to match or sum.
                fat(table, f, c, "not_finite", "expected a finite number; found infinity (inf)",
                    lambda x, c=c: x["_k_inf_" + c])
    fat("population", fpop, "person_id", "missing_id", "person_id is blank", lambda x: x.person_id.isnull())
    fat("population", fpop, "practice_id", "missing_id", "practice_id is blank", lambda x: x.practice_id.isnull())
    fat("population", fpop, "treated", "invalid_treated", "expected 0 or 1; found e.g. {example}",
        lambda x: x.treated == -1, _RAW + "treated")
    pc = set(pop_r.columns)
    if "imd_quintile" in pc:
        fat("population", fpop, "imd_quintile", "invalid_imd", "expected an integer 1-5 (1 = most deprived)",
            lambda x: x.imd_quintile.notnull() & ~x.imd_quintile.isin([1.0, 2.0, 3.0, 4.0, 5.0]))
    if "ltc_count" in pc:
        fat("population", fpop, "ltc_count", "invalid_ltc_count", "expected a whole number >= 0",
            lambda x: x.ltc_count.notnull() & ((x.ltc_count < 0) | (x.ltc_count != x.ltc_count.floor())))
    if "risk_score" in pc:
        fat("population", fpop, "risk_score", "invalid_risk_score", "expected a probability between 0 and 1",
            lambda x: x.risk_score.notnull() & ((x.risk_score < 0) | (x.risk_score > 1)))
    if "frailty" in pc:
        fat("population", fpop, "frailty", "invalid_frailty",
            f"expected one of {', '.join(FRAILTY_LEVELS)}; found e.g. {{example}}",
            lambda x: x.frailty.notnull() & ~x.frailty.isin(list(FRAILTY_LEVELS)), _RAW + "frailty")
    if "registration_start" in pc and "registration_end" in pc:
        fat("population", fpop, "registration_end", "registration_order",
            "registration_end is before registration_start",
            lambda x: x.registration_end.notnull() & x.registration_start.notnull()
            & (x.registration_end < x.registration_start))
    if "age" in pc:
        fat("population", fpop, "age", "invalid_age", "expected an age from 0 to 120",
            lambda x: x.age.notnull() & ((x.age < 0) | (x.age > 120)))
    if "birth_date" in pc:
        fat("population", fpop, "birth_date", "birth_after_window", f"birth_date is after the window end {w1.date()}",
            lambda x: x.birth_date.notnull() & (x.birth_date > ibis.literal(w1.date())))
    if prac_r is not None:
        fat("practices", fprac, "practice_id", "duplicate_practice_id", "practice_id appears more than once",
            lambda x: x.practice_id.notnull() & x.practice_id.isin(
                x.group_by("practice_id").aggregate(_n=ibis._.count()).filter(ibis._._n > 1).practice_id))
        if "list_size" in prac_r.columns:
            fat("practices", fprac, "list_size", "invalid_list_size", "expected a number >= 0",
                lambda x: x.list_size.notnull() & (x.list_size < 0))

    def with_text_keys(table: str) -> Callable[[Any], Any]:
        # Example values of unparseable dates are shown trimmed (as the user would read them).
        def b(t: Any) -> Any:
            x = build[table](t)
            keys = {f"_k_{c}": _text(x[_RAW + c]) for c in DATE_COLUMNS[table] if _RAW + c in x.columns}
            return x.mutate(**keys) if keys else x
        return b

    # ---- practices (small): types and values -------------------------------------------------
    prac = None
    if prac_r is not None:
        ev_prac = evaluate(engine, with_text_keys("practices")(engine.numbered(prac_r)), fatal["practices"], [],
                           "practices_checked", helpers=_HELPERS)
        prac = ev_prac.table

    # ---- population: exclusions in order, each counted among those still kept ------------
    excl: list[tuple[Pending, str]] = []

    def exclude(check: str, column: str, message: str, pred: Callable[[Any], Any], desc: str,
                example_col: str | None = None, table: str = "population", file: str = fpop) -> None:
        excl.append((Pending(table, file, column, check, message, pred, action(check), example_col), desc))

    exclude("duplicate_person_id", "person_id", "person_id appears more than once",
            lambda x: x.person_id.isin(
                x.group_by("person_id").aggregate(_n=ibis._.count()).filter(ibis._._n > 1).person_id),
            "Duplicate person_id (all copies removed)")
    if prac is not None:
        known_prac = prac.filter(prac.practice_id.notnull()).practice_id
        exclude("unknown_practice_id", "practice_id", f"practice_id not found in {fprac}",
                lambda x: ~x.practice_id.isin(known_prac), "Practice not in the practices file")
    exclude("sex_not_known", "sex", "sex recorded as not known (NHS codes 0/9/X or 'unknown')",
            lambda x: x._k_sex.isin(list(SEX_NOT_KNOWN)), "Sex not known")
    exclude("invalid_sex", "sex", "expected F/M, female/male or the NHS codes 1 (male) / 2 (female); "
            "found e.g. {example}", lambda x: x.sex.isnull() & ~x._k_sex.isin(list(SEX_NOT_KNOWN)).fill_null(False),
            "Sex missing or not recognised", _RAW + "sex")
    exclude("missing_age", "birth_date", "no birth_date/age", lambda x: x.birth_date.isnull(), "Age unknown")
    exclude("treated_without_index_date", "index_date", "treated = 1 but index_date is blank",
            lambda x: (x.treated == 1) & x.index_date.isnull(), "Enrolled without an enrolment (index) date")
    if ui != "ignore":
        exclude("index_date_for_untreated", "index_date", "treated = 0 but index_date is filled",
                lambda x: (x.treated != 1) & x.index_date.notnull(), "Index date given for a person not enrolled")
    last_index = pd.Timestamp(enrolment_end) if enrolment_end is not None else w1
    lo, hi = ibis.literal(w0.date()), ibis.literal(last_index.date())
    exclude("index_date_outside_window", "index_date",
            f"index_date outside the study window {w0.date()} to {last_index.date()}",
            lambda x: (x.treated == 1) & x.index_date.notnull() & ((x.index_date < lo) | (x.index_date > hi)),
            "Enrolled outside the study window")
    exclude("birth_after_index", "birth_date", "birth_date is after the index (enrolment) date",
            lambda x: (x.treated == 1) & x.index_date.notnull() & x.birth_date.notnull() & (x.birth_date > x.index_date),
            "Born after the enrolment date")
    exclude("death_before_birth", "death_date", "death_date is before birth_date",
            lambda x: x.death_date.notnull() & x.birth_date.notnull() & (x.death_date < x.birth_date),
            "Died before birth (contradictory dates)")
    exclude("death_before_registration", "death_date", "death_date is before registration_start",
            lambda x: x.death_date.notnull() & x.registration_start.notnull() & (x.death_date < x.registration_start),
            "Died before registering (contradictory dates)")
    exclude("index_date_outside_registration", "index_date",
            "index_date falls outside the person's registration or after death",
            lambda x: (x.treated == 1) & x.index_date.notnull() & (
                (x.registration_start.notnull() & (x.index_date < x.registration_start))
                | (x.registration_end.notnull() & (x.index_date > x.registration_end))
                | (x.death_date.notnull() & (x.index_date > x.death_date))),
            "Not alive and registered at enrolment")
    ev_pop = evaluate(engine, with_text_keys("population")(engine.numbered(pop_r)), fatal["population"],
                      [p for p, _ in excl], "population_checked",
                      helpers=_HELPERS)
    pop = ev_pop.table
    pop_clean = pop.filter(ev_pop.keep)
    dup_found = any(p.check == "duplicate_person_id" and p.n for p, _ in excl)

    # ---- activity ---------------------------------------------------------------------------
    aex: list[tuple[Pending, str]] = []

    def aexclude(check: str, column: str, message: str, pred: Callable[[Any], Any], desc: str,
                 example_col: str | None = None) -> None:
        aex.append((Pending("activity", fact, column, check, message, pred, action(check), example_col), desc))

    all_ids = pop.person_id
    kept = pop_clean.select(_k_pid="person_id", _k_rs="registration_start", _k_re="registration_end",
                            _k_dd="death_date")
    if dup_found:
        # With duplicate ids left in (action "error") one row per id stands in, so a join keeps one row per event.
        kept = kept.group_by("_k_pid").aggregate(_k_rs=kept._k_rs.min(), _k_re=kept._k_re.max(),
                                                 _k_dd=kept._k_dd.max())

    aexclude("missing_activity_date", "date", "date is blank", lambda x: x.date.isnull(), "Activity without a date")
    aexclude("unknown_setting", "setting", f"expected one of {', '.join(SETTINGS)}; found e.g. {{example}}",
             lambda x: x.setting.isnull() | ~x.setting.isin(list(SETTINGS)), "Unknown activity setting",
             _RAW + "setting")
    for c, check in (("bed_days", "negative_bed_days"), ("cost", "negative_cost")):
        if c in act_r.columns:
            aexclude(check, c, f"{c} is negative", lambda x, c=c: x[c].notnull() & (x[c] < 0),
                     f"Negative {c.replace('_', ' ')}")
    aexclude("activity_unknown_person", "person_id", f"person_id not found in {fpop}",
             lambda x: x.person_id.isnull() | ~x.person_id.isin(all_ids),
             "Activity for a person not in the population file")
    # Activity of people excluded above goes with them (counted, not an error).
    aex.append((Pending("activity", fact, "person_id", "person_excluded", "person excluded (see cohort flow)",
                        lambda x: x.person_id.isin(all_ids) & x._k_pid.isnull(), "always"),
                "Activity of people excluded from the population"))
    d0, d1 = ibis.literal(w0.date()), ibis.literal(w1.date())
    aexclude("activity_outside_window", "date", f"date outside the study window {w0.date()} to {w1.date()}",
             lambda x: x.date.notnull() & ((x.date < d0) | (x.date > d1)), "Activity outside the study window")
    aexclude("activity_after_death", "date", "date is after the person's death_date",
             lambda x: x.date.notnull() & x._k_dd.notnull() & (x.date > x._k_dd), "Activity after death")
    aexclude("activity_outside_registration", "date", "date is outside the person's registration period",
             lambda x: x.date.notnull() & ((x._k_rs.notnull() & (x.date < x._k_rs))
                                           | (x._k_re.notnull() & (x.date > x._k_re))),
             "Activity outside registration")
    ax = with_text_keys("activity")(engine.numbered(act_r))
    ax = ax.left_join(kept, ax.person_id == kept._k_pid)
    ev_act = evaluate(engine, ax, fatal["activity"], [p for p, _ in aex], "activity_checked", helpers=_HELPERS)

    for table in ("population", "activity", "practices"):
        emit(fatal[table])
    for table, ev, f in (("population", ev_pop, fpop), ("activity", ev_act, fact),
                         ("practices", ev_prac if prac is not None else None, fprac)):
        if ev is not None and ev.n == 0:
            problems.append(problem(table, f, "", "empty_table", "no data rows (only a header): nothing to analyse",
                                    (), 0, "error"))
    if any(p.action == "error" and p.check in TYPE_CHECKS for p in problems):
        # Types are broken: the exclusions would only repeat the same rows.
        return result(_select_clean(pop), _select_clean(ev_act.table), _select_clean(prac) if prac is not None
                      else None, problems, [], [], engine=engine)
    flow = [step("start", f"People in {fpop}", ev_pop.n, 0, "")]
    _flow(excl, flow, step, ev_pop.n)
    emit([p for p, _ in excl])
    aflow = [step("start", f"Activity rows in {fact}", ev_act.n, 0, "")]
    _flow(aex, aflow, step, ev_act.n)
    emit([p for p, _ in aex if p.action != "always"])

    # ---- clean tables: views of the checked tables kept in the engine -----------------------
    act_clean = ev_act.table.filter(ev_act.keep)
    n_pop, n_act = flow[-1].n_remaining, aflow[-1].n_remaining
    flow.append(step("analysed_population", "People available for analysis", n_pop, 0, ""))
    aflow.append(step("analysed_activity", "Activity rows available for analysis", n_act, 0, ""))
    return result(_select_clean(pop_clean), _select_clean(act_clean),
                  _select_clean(prac) if prac is not None else None, problems, flow, aflow, engine=engine)


def _flow(checks: list[tuple[Pending, str]], flow: list[Any], step: type, n0: int) -> None:
    """Append the exclusion steps that removed rows to ``flow``."""
    remaining = n0
    for p, desc in checks:
        if p.n and p.action in ("exclude", "always"):
            remaining -= p.n
            flow.append(step(p.check, desc, remaining, p.n, _message(p)))


def _message(p: Pending) -> str:
    """The check's message with its example value quoted (short, control characters escaped)."""
    if "{example}" not in p.message:
        return p.message
    if p.example is None or str(p.example).strip() == "":
        return p.message.replace("; found e.g. {example}", "; found blanks").replace("{example}", "''")
    return p.message.replace("{example}", excerpt(p.example))


def _select_clean(t: Any) -> Any:
    return t.select(*clean_columns(t))
