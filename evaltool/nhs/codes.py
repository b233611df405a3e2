"""Diagnosis codes as extracts write them, made comparable with code lists.

ICD-10 codes arrive in many shapes: ``J44.1``, ``J441``, ``j44.1 ``, HES's padded ``I10X`` and
``I10X-`` (three-character codes filled to four or more places), dagger and asterisk marks
(``A17.0†``, ``G01*``, or HES's fifth character ``D``/``A``: ``A170D``), and UK fifth characters
(``M2406``). :func:`normalise_icd10` reduces each to the three- or four-character code it names:
letters upper-cased, everything but letters and digits removed, then the letter and two digits,
and the fourth character only when it is a digit (WHO ICD-10's fourth character always is; ``X``,
``-``, ``D`` and ``A`` there are fillers or marks). Text that does not start with a letter and two
digits is not an ICD-10 code (None), and is counted, never guessed.

A code list entry of three characters matches every code in that category (``J44`` matches
``J44``, ``J440`` ... ``J449``); an entry of four characters matches that code only. A recorded
three-character code (``I50``) matches a three-character entry but no four-character one: the
record does not say which subdivision it was.

SNOMED CT concept ids (ECDS diagnoses, GP records) are compared as trimmed digit strings.

Examples
--------
>>> [normalise_icd10(c) for c in ["J44.1", "i10x-", "A17.0†", "A170D", "G01XA", "M2406", "X59X", "?"]]
['J441', 'I10', 'A170', 'A170', 'G01', 'M240', 'X59', None]
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["normalise_icd10", "normalise_snomed", "icd10_expr", "snomed_expr", "ICD10_RE"]

#: A normalised ICD-10 code: letter, two digits, optionally a fourth digit.
ICD10_RE = re.compile(r"^[A-Z][0-9]{2}[0-9]?$")
_STRIP = re.compile(r"[^A-Z0-9]")


def normalise_icd10(value: Any) -> str | None:
    """The three- or four-character ICD-10 code in ``value`` (None when it holds none)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    s = _STRIP.sub("", str(value).upper())
    if not re.match(r"^[A-Z][0-9]{2}", s):
        return None
    return s[:4] if len(s) >= 4 and s[3].isdigit() else s[:3]


def normalise_snomed(value: Any) -> str | None:
    """A SNOMED CT concept id as a digit string (None unless 6-18 digits).

    Examples
    --------
    >>> normalise_snomed(" 22298006 "), normalise_snomed("abc")
    ('22298006', None)
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    s = str(value).strip()
    if s.endswith(".0"):  # read through a float column
        s = s[:-2]
    return s if re.fullmatch(r"[0-9]{6,18}", s) else None


def icd10_expr(col: Any) -> Any:
    """Ibis: :func:`normalise_icd10` as an engine expression (NULL when not a code).

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> t = ibis.memtable(pd.DataFrame({"c": ["J44.1", "I10X-", "A170D", "zz", None]}))
    >>> ibis.duckdb.connect().execute(t.select(k=icd10_expr(t.c)))["k"].fillna("-").tolist()
    ['J441', 'I10', 'A170', '-', '-']
    """
    import ibis

    s = col.cast("string").upper().re_replace(r"[^A-Z0-9]", "")
    ok = s.re_search(r"^[A-Z][0-9]{2}").fill_null(False)
    four = s.re_search(r"^[A-Z][0-9]{3}").fill_null(False)
    return ibis.ifelse(ok, ibis.ifelse(four, s.substr(0, 4), s.substr(0, 3)), ibis.null().cast("string"))


def snomed_expr(col: Any) -> Any:
    """Ibis: :func:`normalise_snomed` as an engine expression."""
    import ibis

    s = col.cast("string").re_replace(r"^\s+|\s+$", "").re_replace(r"\.0$", "")
    return ibis.ifelse(s.re_search(r"^[0-9]{6,18}$").fill_null(False), s, ibis.null().cast("string"))
