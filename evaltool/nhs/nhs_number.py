"""NHS numbers: normalised (spaces and hyphens removed) and validated with the Modulus 11 check.

The NHS Data Dictionary (attribute NHS NUMBER) defines an NHS number as ten digits, the tenth a
check digit: multiply the first nine digits by 10, 9, ..., 2, sum, take the remainder on division
by 11 and subtract it from 11; 11 becomes 0, and 10 means the number is invalid. Extracts write
numbers as ``943 476 5919``, ``943-476-5919`` or ``9434765919``: all three are one person.

The same rules are given twice: as plain Python (:func:`normalise`, :func:`is_valid`, for
messages and tests) and as Ibis expressions (:func:`normalised_expr`, :func:`valid_expr`) that run
in the engine on every backend, so a 100-million-row extract is checked without leaving it.
``tests/test_nhs_number.py`` checks both against the ``nhs-number`` package.

Examples
--------
>>> normalise(" 943 476 5919 ")
'9434765919'
>>> is_valid("943-476-5919"), is_valid("9434765918"), is_valid("94347659")
(True, False, False)
"""
from __future__ import annotations

import re
from typing import Any

import ibis

__all__ = ["check_digit", "is_valid", "normalise", "normalised_expr", "valid_expr", "WEIGHTS"]

#: Weights of the first nine digits in the Modulus 11 check.
WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_SEPARATORS = re.compile(r"[\s\-]")


def normalise(value: Any) -> str | None:
    """The number with spaces and hyphens removed (None for a blank or missing value).

    Nothing else is changed: a value with letters or the wrong number of digits stays as it is
    (and fails :func:`is_valid`).

    Examples
    --------
    >>> normalise("401 023 2137"), normalise(""), normalise(None)
    ('4010232137', None, None)
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, int):
        value = f"{value:010d}"
    out = _SEPARATORS.sub("", str(value))
    return out or None


def check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit of nine digits; None when the check gives 10 (no valid number).

    Examples
    --------
    >>> check_digit("943476591")
    9
    """
    if not re.fullmatch(r"\d{9}", first_nine):
        raise ValueError(f"expected nine digits, got {first_nine!r}")
    total = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS))
    c = 11 - total % 11
    if c == 11:
        return 0
    return None if c == 10 else c


def is_valid(value: Any) -> bool:
    """True for ten digits (after :func:`normalise`) whose tenth is the Modulus 11 check digit.

    Examples
    --------
    >>> is_valid(9434765919), is_valid("943 476 591X")
    (True, False)
    """
    s = normalise(value)
    if s is None or not re.fullmatch(r"\d{10}", s):
        return False
    return check_digit(s[:9]) == int(s[9])


# ------------------------------------------------------------------------------------------------
# The same rules as engine expressions
# ------------------------------------------------------------------------------------------------
def normalised_expr(col: Any) -> Any:
    """Ibis: the column as text with spaces and hyphens removed; blank -> NULL."""
    return col.cast("string").re_replace(r"[\s\-]", "").nullif("")


def valid_expr(norm: Any) -> Any:
    """Ibis: True where ``norm`` (already normalised) is a valid NHS number, False otherwise (never NULL).

    The check is written as one weighted sum: with the check digit weighted 1, a number is valid
    when ``10*d1 + 9*d2 + ... + 2*d9 + d10`` is divisible by 11 (a check digit of 10 can never
    satisfy it, and 11 means 0). Each digit appears once, read as its character code minus 48, so
    no cast can fail on a row that is not ten digits (those rows are False whatever the sum). Pass a
    column (not an expression) as ``norm`` so the engine normalises each value once.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> t = ibis.memtable(pd.DataFrame({"n": ["943 476 5919", "9434765918", "94347659X9", None]}))
    >>> ibis.duckdb.connect().execute(t.select(ok=valid_expr(normalised_expr(t.n))))["ok"].tolist()
    [True, False, False, False]
    """
    digits = norm.re_search(r"^[0-9]{10}$").fill_null(False)
    total = sum((((norm.substr(i, 1).ascii_str() - 48) * w) for i, w in enumerate((*WEIGHTS, 1))),
                ibis.literal(0).cast("int64"))
    return (digits & (total % 11 == 0)).fill_null(False)
