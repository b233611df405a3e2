"""Keyed hashes of person identifiers, so a report can be checked for ids without the bundle holding them.

The pipeline writes ``results/identifiers.json``: an HMAC-SHA-256 key and the digest of every distinct
value of the input id columns (``person_id``, ``respondent_id``, ``participant_id``, ...), cut to its
first :data:`DIGEST_CHARS` hex characters (64 bits: a chance match of one report word among 10 million
ids has probability ~5e-13, and the file stays ~17 bytes per id: 170 MB for a national population).
``evaltool check-publish`` hashes each word of a rendered report with the same key and looks it up, so
an id that reaches the report is found while the bundle itself holds no id. The key is derived from the
seed and the input files' SHA-256 (the same run gives the same file); ids from a small, known space
(sequential numbers) can still be confirmed by someone holding the bundle, which stays with the analyst.

Ids are read column by column: from a pandas frame directly, from an engine (Ibis) table as distinct
values fetched in Arrow batches, so a national population is never held whole in pandas here.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DIGEST_CHARS", "ID_COLUMNS", "digest", "identifier_record", "identifier_json", "start_identifier_json"]

ID_COLUMNS = ("person_id", "respondent_id", "participant_id", "patient_id", "nhs_number", "document_id")
#: Hex characters kept of each digest (64 bits).
DIGEST_CHARS = 16
_BATCH = 500_000


def digest(value: object, key: bytes, chars: int = DIGEST_CHARS) -> str:
    """Keyed SHA-256 of one identifier (its first ``chars`` hex characters).

    Examples
    --------
    >>> digest("P000001", b"k")
    '818e3babe5612310'
    """
    return hmac.new(key, str(value).strip().encode("utf-8"), hashlib.sha256).hexdigest()[:chars]


def _values(frame: Any, col: str) -> Iterator[list[str]]:
    """Distinct non-empty values of one id column, in batches."""
    if isinstance(frame, pd.DataFrame):
        v = frame[col].dropna().astype(str).str.strip().unique()
        for i in range(0, len(v), _BATCH):
            yield [x for x in v[i:i + _BATCH].tolist() if x]
        return
    col_expr = frame[col].cast("string").strip()
    expr = frame.select(col_expr.name("v")).filter(col_expr.notnull()).distinct()
    for batch in expr.to_pyarrow_batches(chunk_size=_BATCH):
        yield [x for x in batch.column(0).to_pylist() if x]


def _hash_all(values: list[str], key: bytes) -> list[bytes]:
    """:func:`digest` of each value (as bytes), the keyed state built once and copied per value."""
    base = hmac.new(key, digestmod=hashlib.sha256)
    out = []
    for x in values:
        h = base.copy()
        h.update(str(x).strip().encode("utf-8"))
        out.append(h.hexdigest()[:DIGEST_CHARS].encode())
    return out


def _key(seed: int, files: dict[str, Any]) -> bytes:
    shas = sorted(str((v or {}).get("sha256", "")) for v in files.values())
    return hashlib.sha256(("evaltool-identifiers:" + str(seed) + ":" + ":".join(shas)).encode()).digest()


def _batches(frames: Iterable[Any]) -> Iterator[list[str]]:
    for df in frames:
        if df is None:
            continue
        for c in ID_COLUMNS:
            if c in getattr(df, "columns", ()):
                yield from _values(df, c)


def _digest_array(batches: Iterable[list[str]], key: bytes) -> np.ndarray:
    parts = [np.zeros(0, dtype=f"S{DIGEST_CHARS}")]
    for vals in batches:
        parts.append(np.array(_hash_all(vals, key), dtype=f"S{DIGEST_CHARS}"))
    return np.unique(np.concatenate(parts))  # sorted and distinct: the same inputs give the same file


def _digests(frames: Iterable[Any], key: bytes) -> np.ndarray:
    return _digest_array(_batches(frames), key)


def _json(key: bytes, d: np.ndarray) -> str:
    head = json.dumps({"algorithm": "hmac-sha256", "key": key.hex(), "digest_chars": DIGEST_CHARS})[:-1]
    body = b'","'.join(d.tolist()).decode() if len(d) else ""
    return head + ', "digests": [' + (f'"{body}"' if len(d) else "") + "]}\n"


def _json_of_batches(batches: list[list[str]], key: bytes) -> str:
    return _json(key, _digest_array(batches, key))


def identifier_record(frames: Iterable[Any], seed: int, files: dict[str, Any]) -> dict[str, Any]:
    """``{"key": hex, "digests": [...]}`` for every id value in ``frames`` (DataFrames or Ibis tables).

    Examples
    --------
    >>> import pandas as pd
    >>> rec = identifier_record([pd.DataFrame({"person_id": ["a1", "a2", "a1"]})], 1, {})
    >>> len(rec["digests"]), rec["digest_chars"]
    (2, 16)
    """
    key = _key(seed, files)
    return {"algorithm": "hmac-sha256", "key": key.hex(), "digest_chars": DIGEST_CHARS,
            "digests": [d.decode() for d in _digests(frames, key)]}


def identifier_json(frames: Iterable[Any], seed: int, files: dict[str, Any]) -> str:
    """The record as JSON text, built without a Python string per id (national populations).

    Examples
    --------
    >>> import json, pandas as pd
    >>> json.loads(identifier_json([pd.DataFrame({"person_id": ["a1"]})], 1, {}))["digest_chars"]
    16
    """
    key = _key(seed, files)
    return _json(key, _digests(frames, key))


def _rows_with_ids(frames: list[Any]) -> int:
    """Rows of the frames that hold an id column (at least their distinct ids): counted by the engine."""
    n = 0
    for df in frames:
        if df is not None and any(c in getattr(df, "columns", ()) for c in ID_COLUMNS):
            n += len(df) if isinstance(df, pd.DataFrame) else int(df.count().execute())
    return n


def start_identifier_json(frames: Iterable[Any], seed: int, files: dict[str, Any], *,
                          limit: int = 2_000_000) -> Any:
    """Start :func:`identifier_json` in a figure helper process (:func:`evaltool.figure_workers.call`):
    the ids are read here, the hashing (pure Python) goes on there while this process computes; the
    returned object's ``result()`` is the same text. Above ``limit`` ids, or with no helper running,
    everything is done here, streamed, when ``result()`` is called (a national population is not copied).

    Examples
    --------
    >>> import pandas as pd
    >>> job = start_identifier_json([pd.DataFrame({"person_id": ["a1", "a2"]})], 1, {})
    >>> job.result() == identifier_json([pd.DataFrame({"person_id": ["a1", "a2"]})], 1, {})
    True
    """
    from evaltool import figure_workers

    frames = list(frames)
    what = "hashing the identifiers"
    here = figure_workers.Call(identifier_json, (frames, seed, files), None, what)  # done here, when asked
    if figure_workers.running() == 0 or _rows_with_ids(frames) > limit:
        return here
    batches, n = [], 0
    for vals in _batches(frames):
        n += len(vals)
        if n > limit:
            return here
        batches.append(vals)
    return figure_workers.call(_json_of_batches, batches, _key(seed, files), what=what)
