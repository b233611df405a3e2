"""Declared mappings from a source's columns and codes to the input contract, as engine expressions.

A spec ``data:`` entry may carry, beside where the data are (:class:`evaltool.engine.Source`):

``columns``
    ``contract column -> source column`` (``person_id: NHS_NUMBER``); names match case-insensitively.
``values``
    ``contract column -> {source code: contract value}`` (``sex: {"1": M, "2": F, "9": null}``); a
    code mapped to ``null`` becomes missing; codes not listed pass through unchanged (and the
    contract's checks then report them).
``date_format``
    how dates are written, strftime-style (``"%d/%m/%Y"``), for every date column or per column.
``nhs_number``
    ``validate`` (default where the id is an NHS number: spaces and hyphens removed, Modulus 11
    checked) or ``opaque`` (a pseudonymised token, compared as trimmed text); ``invalid``: what to do
    with ids failing the check: ``exclude`` (default; counted) or ``error``.
``preset``
    a standard extract (:mod:`evaltool.nhs.presets`), which brings its own column names and codes.

Every recode and every row dropped is counted (:class:`MapStep`) and reaches the cohort flow.

Examples
--------
>>> parse_date_format("%d/%m/%Y")[0]
'^\\\\s*(\\\\d{1,2})/(\\\\d{1,2})/(\\\\d{4})'
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import ibis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from evaltool.errors import DataValidationError
from evaltool.nhs.nhs_number import normalised_expr, valid_expr

__all__ = ["MapStep", "Mapping_", "NhsNumberPolicy", "SourceMapping", "find_column", "parse_date_format",
           "date_expr", "recode_expr", "person_id_expr"]


class NhsNumberPolicy(BaseModel):
    """How person ids that are NHS numbers are checked (spec ``nhs_number:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: Literal["validate", "opaque"] = Field(
        "validate", description="validate: normalise and Modulus 11 check; opaque: a pseudonymised token")
    invalid: Literal["exclude", "error"] = Field(
        "exclude", description="ids failing the check: exclude (counted in the flow) or stop with an error")


class SourceMapping(BaseModel):
    """The mapping keys of a spec ``data:`` entry (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str | None = Field(None, description="standard extract: hes_apc, sus_apc, hes_op, sus_op, ecds, "
                               "hes_ae, gp_list (see evaltool.nhs.presets)")
    columns: dict[str, str] = Field(default_factory=dict, description="contract column -> source column")
    values: dict[str, dict[str, str | None]] = Field(default_factory=dict,
                                                     description="contract column -> {source code: value}")
    date_format: str | dict[str, str] | None = Field(None, description="strftime-style, e.g. '%d/%m/%Y'")
    nhs_number: NhsNumberPolicy | Literal["validate", "opaque"] | None = Field(
        None, description="validate (default for NHS numbers) or opaque (pseudonymised tokens)")
    options: dict[str, Any] = Field(default_factory=dict, description="preset options")

    @field_validator("columns")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for k, s in v.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", k) or not s or len(s) > 128:
                raise ValueError(f"columns: expected `contract_column: SOURCE_COLUMN`, got {k!r}: {s!r}")
        return v

    @field_validator("date_format")
    @classmethod
    def _fmt(cls, v: str | dict[str, str] | None) -> str | dict[str, str] | None:
        for f in ([v] if isinstance(v, str) else list(v.values()) if isinstance(v, dict) else []):
            parse_date_format(f)  # raises ValueError with the reason
        return v

    @property
    def nhs_policy(self) -> NhsNumberPolicy:
        if isinstance(self.nhs_number, NhsNumberPolicy):
            return self.nhs_number
        return NhsNumberPolicy(check=self.nhs_number or "validate")

    def date_format_for(self, column: str) -> str | None:
        if isinstance(self.date_format, dict):
            return self.date_format.get(column)
        return self.date_format


# Keep the public name short in specs and messages.
Mapping_ = SourceMapping


@dataclass(frozen=True)
class MapStep:
    """One counted step of preparing a source: rows in, rows out, and why some went."""

    source: str
    step: str
    description: str
    unit: str
    n_in: int
    n_out: int
    reason: str = ""
    n_affected: int = 0  # rows recoded or derived (not excluded)

    @property
    def n_excluded(self) -> int:
        return self.n_in - self.n_out


# ------------------------------------------------------------------------------------------------
# Columns
# ------------------------------------------------------------------------------------------------
def find_column(columns: list[str], *candidates: str) -> str | None:
    """The first of ``candidates`` present in ``columns`` (case-insensitive), as spelt in the source.

    Examples
    --------
    >>> find_column(["NEWNHSNO", "Admidate"], "nhs_number", "newnhsno")
    'NEWNHSNO'
    """
    low = {c.lower(): c for c in columns}
    for c in candidates:
        if c and c.lower() in low:
            return low[c.lower()]
    return None


# ------------------------------------------------------------------------------------------------
# Dates
# ------------------------------------------------------------------------------------------------
_TOKENS = {"%d": (r"(\d{1,2})", "d"), "%m": (r"(\d{1,2})", "m"), "%Y": (r"(\d{4})", "Y"),
           "%y": (r"(\d{2})", "y"), "%H": (r"\d{1,2}", None), "%M": (r"\d{2}", None), "%S": (r"\d{2}", None),
           "%f": (r"\d+", None)}


def parse_date_format(fmt: str) -> tuple[str, dict[str, int]]:
    """A strftime-style date format as a regular expression and the group of day, month and year.

    Only ``%d %m %Y %y`` (and ``%H %M %S %f``, ignored) are understood; anything else is a literal.
    """
    if not isinstance(fmt, str) or not fmt or len(fmt) > 40:
        raise ValueError(f"date_format: expected a format such as '%d/%m/%Y', got {fmt!r}")
    out, groups, i, g = "^\\s*", {}, 0, 0
    while i < len(fmt):
        tok = fmt[i:i + 2]
        if tok in _TOKENS:
            pat, role = _TOKENS[tok]
            out += pat
            if role:
                g += 1
                groups[role] = g
            i += 2
        elif fmt[i] == "%":
            raise ValueError(f"date_format {fmt!r}: {tok!r} is not supported (use %d %m %Y %y %H %M %S)")
        else:
            out += re.escape(fmt[i])
            i += 1
    if "d" not in groups or "m" not in groups or not ({"Y", "y"} & set(groups)):
        raise ValueError(f"date_format {fmt!r}: needs a day (%d), a month (%m) and a year (%Y or %y)")
    return out, groups


def date_expr(col: Any, fmt: str | None) -> Any:
    """Ibis: a date from text written as ``fmt`` (NULL where the text is not such a date).

    Without ``fmt``, ISO dates (``2024-03-31``, with or without a time) are read. Impossible dates
    (31/02/2024) are NULL, never an error: the caller counts them.

    Examples
    --------
    >>> import pandas as pd
    >>> t = ibis.memtable(pd.DataFrame({"d": ["31/03/2024", "1/2/2023", "31/02/2024", "x"]}))
    >>> r = ibis.duckdb.connect().execute(t.select(v=date_expr(t.d, "%d/%m/%Y")))["v"]
    >>> [None if pd.isna(x) else str(x)[:10] for x in r]
    ['2024-03-31', '2023-02-01', None, None]
    """
    typ = col.type()
    if typ.is_date():
        return col
    if typ.is_timestamp():
        return col.cast("date")
    s = col.cast("string")
    if fmt is None:
        return s.re_replace(r"^\s+|\s+$", "").nullif("").try_cast("timestamp").cast("date")
    pat, g = parse_date_format(fmt)
    day = s.re_extract(pat, g["d"]).nullif("").cast("string")
    mon = s.re_extract(pat, g["m"]).nullif("")
    if "Y" in g:
        year = s.re_extract(pat, g["Y"]).nullif("")
    else:  # two-digit years: 00-69 -> 2000s, 70-99 -> 1900s (as Python's strptime)
        yy = s.re_extract(pat, g["y"]).nullif("")
        year = ibis.ifelse(yy.try_cast("int64") < 70, "20" + yy, "19" + yy)
    iso = year + "-" + mon.lpad(2, "0") + "-" + day.lpad(2, "0")
    return iso.try_cast("date")


# ------------------------------------------------------------------------------------------------
# Codes
# ------------------------------------------------------------------------------------------------
def _key(v: Any) -> str:
    return str(v).strip().upper()


def recode_expr(col: Any, mapping: Mapping[str, str | None]) -> Any:
    """Ibis: ``col`` recoded through ``mapping`` (keys compared trimmed and case-insensitive); codes
    not in the mapping pass through unchanged; a code mapped to None becomes NULL.

    Examples
    --------
    >>> import pandas as pd
    >>> t = ibis.memtable(pd.DataFrame({"s": ["1", "2", " 9", "M"]}))
    >>> ibis.duckdb.connect().execute(t.select(v=recode_expr(t.s, {"1": "M", "2": "F", "9": None})))["v"].fillna("-").tolist()
    ['M', 'F', '-', 'M']
    """
    if not mapping:
        return col
    k = col.cast("string").re_replace(r"^\s+|\s+$", "").upper()
    cases = [(k == _key(src), ibis.literal(dst, type="string") if dst is not None else ibis.null().cast("string"))
             for src, dst in mapping.items()]
    return ibis.cases(*cases, else_=col.cast("string"))


def recoded_flag(col: Any, mapping: Mapping[str, str | None]) -> Any:
    """Ibis: True where :func:`recode_expr` changes the value (for counting)."""
    if not mapping:
        return ibis.literal(False)
    k = col.cast("string").re_replace(r"^\s+|\s+$", "").upper()
    return k.isin([_key(s) for s in mapping]).fill_null(False)


def person_id_expr(col: Any, policy: NhsNumberPolicy, *, is_nhs_number: bool = True,
                   normalised: bool = False) -> tuple[Any, Any]:
    """Ibis: ``(id, valid)``: the person id as the contract wants it, and whether it passes the check.

    NHS numbers (``check: validate``) are normalised and Modulus 11 checked; pseudonymised tokens
    (``check: opaque``, or ids that are not NHS numbers) are trimmed text, valid when not blank.
    ``normalised=True``: ``col`` already holds the id (a column computed from the first element).
    """
    if normalised:
        return col, (valid_expr(col) if is_nhs_number and policy.check == "validate" else col.notnull())
    if is_nhs_number and policy.check == "validate":
        norm = normalised_expr(col)
        return norm, valid_expr(norm)
    tok = col.cast("string").re_replace(r"^\s+|\s+$", "").nullif("")
    return tok, tok.notnull()


def require(columns: list[str], source: str, needed: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Resolve ``role -> source column`` from candidate names; a clear error listing what is missing."""
    found, missing = {}, []
    for role, cands in needed.items():
        c = find_column(columns, *cands)
        if c is None:
            missing.append(f"`{role}` (looked for {', '.join(cands)})")
        else:
            found[role] = c
    if missing:
        raise DataValidationError(
            f"{source}: required column(s) missing: {'; '.join(missing)}. Found: {', '.join(columns)}. "
            "Name the source column under `columns:` in the spec (e.g. `columns: {person_id: MY_ID}`).")
    return found
