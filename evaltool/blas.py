"""BLAS threads during a run: one by default.

evaltool's matrix products are tall and thin (hundreds of thousands of rows by tens of columns: the pooled
propensity model's Newton steps, the Poisson fits' Hessians). OpenBLAS splits each product over every core
by default, which gains little at these shapes and costs a great deal on a shared machine: on 2 cores with
another job running, a 111,000 x 55 cross-product took 1.1 s with two BLAS threads and 0.06 s with one (the
threads wait for a core the other job holds). A run therefore limits the BLAS libraries loaded in the
process (numpy's and scipy's OpenBLAS) to ``EVALTOOL_BLAS_THREADS`` threads, 1 unless set.

The products are split by rows and columns of the result, never along the summed dimension, so the
numbers are the same with one thread or many (checked on the Southvale example: every results table is
byte-identical).

Examples
--------
>>> with blas_threads():  # doctest: +SKIP
...     run("analyses/southvale.yaml")
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from evaltool.errors import SpecError

__all__ = ["blas_threads", "configured_threads"]

ENV = "EVALTOOL_BLAS_THREADS"


def configured_threads(env: dict[str, str] | None = None) -> int:
    """``EVALTOOL_BLAS_THREADS`` as a whole number of threads (1 when unset).

    Examples
    --------
    >>> configured_threads({})
    1
    >>> configured_threads({"EVALTOOL_BLAS_THREADS": "2"})
    2
    """
    raw = (os.environ if env is None else env).get(ENV, "").strip()
    if not raw:
        return 1
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise SpecError(f"`{ENV}` must be a whole number of threads (1 or more), found {raw!r}")
    return n


@contextmanager
def blas_threads(n: int | None = None) -> Iterator[int]:
    """Limit the BLAS libraries loaded in this process to ``n`` threads (default :func:`configured_threads`)
    for the duration of the block; yields the limit. Without ``threadpoolctl`` installed nothing is limited."""
    n = configured_threads() if n is None else int(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a declared dependency; an older environment runs as before, only slower when shared
        yield n
        return
    import numpy  # noqa: F401 - load both OpenBLAS builds now, so that both are limited
    import scipy.linalg  # noqa: F401

    with threadpool_limits(limits=n, user_api="blas"):
        yield n
