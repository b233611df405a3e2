"""Keyed hashes of person identifiers, so a report can be checked for ids without the bundle holding them.

The pipeline writes ``results/identifiers.json``: an HMAC-SHA-256 key and the digest of every distinct
value of the input id columns (``person_id``, ``respondent_id``, ``participant_id``, ...).
``evaltool check-publish`` hashes each word of a rendered report with the same key and looks it up, so
an id that reaches the report is found while the bundle itself holds no id. The key is derived from the
seed and the input files' SHA-256 (the same run gives the same file); ids from a small, known space
(sequential numbers) can still be confirmed by someone holding the bundle, which stays with the analyst.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

__all__ = ["ID_COLUMNS", "digest", "identifier_record"]

ID_COLUMNS = ("person_id", "respondent_id", "participant_id", "patient_id", "nhs_number", "document_id")


def digest(value: object, key: bytes) -> str:
    """Keyed SHA-256 of one identifier.

    Examples
    --------
    >>> digest("P000001", b"k")[:12]
    '818e3babe561'
    """
    return hmac.new(key, str(value).strip().encode("utf-8"), hashlib.sha256).hexdigest()


def identifier_record(frames: Iterable[Any], seed: int, files: dict[str, Any]) -> dict[str, Any]:
    """``{"key": hex, "digests": [...]}`` for every id value in ``frames`` (DataFrames).

    Examples
    --------
    >>> import pandas as pd
    >>> rec = identifier_record([pd.DataFrame({"person_id": ["a1", "a2", "a1"]})], 1, {})
    >>> len(rec["digests"])
    2
    """
    shas = sorted(str((v or {}).get("sha256", "")) for v in files.values())
    key = hashlib.sha256(("evaltool-identifiers:" + str(seed) + ":" + ":".join(shas)).encode()).digest()
    values: set[str] = set()
    for df in frames:
        if df is None:
            continue
        for c in ID_COLUMNS:
            if c in getattr(df, "columns", ()):
                values.update(str(x).strip() for x in df[c].dropna().unique())
    return {"algorithm": "hmac-sha256", "key": key.hex(), "digests": sorted(digest(v, key) for v in values if v)}
