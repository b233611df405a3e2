"""Deterministic, atomic writers for the example-data generators.

Both writers put the content in a temporary file in the target directory and
then ``os.replace`` it over the final name, so an interrupted run never leaves
a half-written file that looks complete. The Parquet writer fixes every option
that could otherwise vary between runs (no index, fixed row-group size, zstd at
a fixed level, no statistics that depend on write order), so the same frame
gives byte-identical files.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _atomic_write_bytes(path: Path, write) -> Path:  # noqa: ANN001 - internal callback
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates the file 0600; give it ordinary read permissions.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        # Only left behind if write() or os.replace() raised.
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_parquet_atomic(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` to ``path`` as zstd Parquet, deterministically and atomically.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to write (its index is dropped).
    path : path-like
        Destination file; its directory is created if needed.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_parquet_atomic(pd.DataFrame({"a": [1, 2]}), d / "a.parquet").name
    'a.parquet'
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # The pandas metadata embeds the pandas version only, never a timestamp, so
    # keeping it is deterministic and lets pandas restore extension dtypes (Int64).

    def _write(tmp: str) -> None:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            compression_level=9,
            row_group_size=1_000_000,
            use_dictionary=True,
            write_statistics=True,
            version="2.6",
        )

    return _atomic_write_bytes(Path(path), _write)


def write_json_atomic(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as indented JSON with sorted keys, atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_json_atomic({"b": 1, "a": 2}, d / "t.json").read_text().splitlines()[1]
    '  "a": 2,'
    """
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def _write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    return _atomic_write_bytes(Path(path), _write)
