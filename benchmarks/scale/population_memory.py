"""Memory of the validated population frame at national scale, with and without shared text columns.

Usage::

    python benchmarks/scale/population_memory.py /tmp/nat10/population.parquet new   # inputs.shared_text
    python benchmarks/scale/population_memory.py /tmp/nat10/population.parquet old   # a string object per row

Reads the Parquet file through DuckDB (1 thread, 2 GB) into the contract frame as the pipeline does
(``t.execute()`` then :func:`evaltool.inputs.to_contract_frame`) and prints the process's resident memory.
"""
from __future__ import annotations

import gc
import os
import sys
import time

import ibis
import psutil

import evaltool.inputs as inp


def main(path: str, mode: str) -> None:
    if mode == "old":
        inp.shared_text = lambda s: s.astype(object).where(s.notna(), None)
    con = ibis.duckdb.connect()
    con.raw_sql("SET threads=1")
    con.raw_sql("SET memory_limit='2GB'")
    t0 = time.time()
    df = inp.to_contract_frame(con.read_parquet(path).execute())
    gc.collect()
    rss = psutil.Process(os.getpid()).memory_info().rss
    print(f"{mode}: {len(df):,} rows, RSS {rss / 1e9:.2f} GB, {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "new")
