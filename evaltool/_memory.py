"""Handing memory back to the operating system between pipeline stages.

A stage at national scale allocates and frees gigabytes of numpy arrays and pandas frames. Large blocks go
back to the system when freed, but the C allocator keeps smaller freed blocks in its heaps, so a process's
resident memory stays near its highest point and the next stage's peak lands on top of it. Between stages
the pipeline collects cyclic garbage and asks glibc to return free heap memory (``malloc_trim``); elsewhere
(macOS, Windows, musl) only the collection runs.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

__all__ = ["release_memory", "settle_imports"]

_TRIM = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _TRIM = getattr(_libc, "malloc_trim", None)
    except OSError:  # pragma: no cover - no C library to load
        _TRIM = None


#: Below this resident size a full collection is skipped: it costs 0.1-0.3 s a time in a process holding
#: pandas, Ibis and plotnine objects (1.4 s of the Southvale example) and there is little to hand back.
COLLECT_ABOVE = 1 << 30


def _resident() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):  # not Linux
        return None


try:
    import os as _os

    _PAGE = _os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # pragma: no cover - Windows
    _PAGE = 4096


def release_memory() -> bool:
    """Collect garbage (when the process holds over 1 GiB) and return free heap memory to the system;
    True if the allocator was asked.

    Examples
    --------
    >>> isinstance(release_memory(), bool)
    True
    """
    rss = _resident()
    if rss is None or rss > COLLECT_ABOVE:
        gc.collect()
    if _TRIM is None:
        return False
    try:
        _TRIM(0)
    except (OSError, AttributeError):  # pragma: no cover - a libc without malloc_trim
        return False
    return True


#: Allocations between young-generation collections in a process that settled its imports (Python's default
#: is 700): a run allocates millions of small objects, nearly all freed by reference counting.
YOUNG_THRESHOLD = 10_000


def settle_imports() -> None:
    """For a process that is one command (the ``evaltool`` command, a helper's zygote): move everything imported
    so far out of the cyclic collector's reach (:func:`gc.freeze`; modules live as long as the process), and
    collect the young generation less often. Full collections then skip the libraries' objects and come
    rarer: a Southvale run's main process spent 0.97 s in collections, 0.54 s so; the helpers 0.72 s over the
    twenty figures, 0.35 s with the freeze alone. Garbage in reference cycles is still collected, a little
    later; memory freed by reference counting (nearly all of it) is not affected."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
