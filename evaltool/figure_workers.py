"""Figures drawn in helper processes while the run goes on.

plotnine takes about a second to lay out, draw and save one figure as PNG, all of it Python holding the
interpreter lock; a full run draws about twenty (nine stage figures for the bundle, a dozen for the
report), a third of the Southvale example's time on one core. Here a figure is sent to a helper process
and drawn there while this process computes the next stage, runs the publication gate or waits for
pandoc: on two cores the figures cost almost no wall time.

- The main process is never forked (a fork would copy DuckDB's and BLAS's threads mid-lock), and
  ``multiprocessing``'s spawn would re-run a user's script that calls :func:`evaltool.run` without a
  ``__main__`` guard. On Linux one process is started with ``subprocess``, imports the helpers' modules once
  and forks them (:mod:`evaltool.helper_fork`); elsewhere each helper is started as its own interpreter
  (``python -m evaltool.figure_workers``).
- A figure travels as a ``cloudpickle`` of its ggplot (closures in scales and labels included) and comes
  back as the PNG's bytes: byte-identical to drawing it here (same libraries, same fonts; checked on
  every Southvale figure).
- A helper that cannot start, dies, or gets a figure it cannot unpickle costs nothing but time: the
  figure is drawn here, as it always was; so is a figure whose drawing fails there, so that its error
  is raised here, where the figure is written, with its own traceback.
- Nothing of this is silent: a helper that cannot start or stops, and a figure that cannot be sent or
  that failed there but drew here, leave a notice (:func:`take_notices`) that the run records as a
  warning in its log and on the console.
- The helpers run at a lower scheduling priority than the main process (niceness :data:`HELPER_NICE` more, on
  systems that have it). The main process computes the stages in turn, which is the run's critical path; the
  helpers' figures and stages go beside it and can wait a moment. At equal priority, on two cores the helpers
  took a share of the main process's core whenever all three had work (Southvale's matching took 13.1 s with
  the PROMs and roll-out stages computing beside it, 11.8 s with no helper running); at niceness +5 the
  Southvale run took 0.90 of the time (means of four alternating pairs, 34.9 against 39.0 s; every results
  table byte-identical). Under other load a helper is slowed more than the main process, never stopped: its
  work is still done, and the calls of a shared batch or a beside stage that no helper has started when they
  are wanted are taken back and done here (:meth:`Call.take_back`).
- ``EVALTOOL_FIGURE_WORKERS`` sets the number of helpers (0: draw everything here); default 2 on a
  machine with two or more cores, none on one; anything but a whole number of 0 or more is an error.

Examples
--------
>>> from plotnine import ggplot, aes, geom_point
>>> import pandas as pd
>>> p = ggplot(pd.DataFrame({"x": [1, 2], "y": [3, 4]}), aes("x", "y")) + geom_point()
>>> png = draw(p, width=3, height=2)      # drawn by a helper when one is running, else here
>>> png.bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""
from __future__ import annotations

import atexit
import io
import itertools
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import warnings
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from evaltool.errors import SpecError

__all__ = ["ENV", "HELPER_NICE", "SEND_LIMIT", "Call", "Drawing", "call", "configured_workers", "draw", "drawn",
           "frames_nbytes", "in_helper", "running",
           "shared_map", "shutdown", "start", "take_notices"]

ENV = "EVALTOOL_FIGURE_WORKERS"
DPI = 150
#: Niceness the helpers add to their own (a lower scheduling priority than the main process's).
HELPER_NICE = 5
_HEADER = struct.Struct("<BQ")  # status (0: PNG follows; 1: not drawn), payload length
_NOTICES: list[str] = []
_NOTICES_LOCK = threading.Lock()


def _notice(message: str) -> None:
    with _NOTICES_LOCK:
        if message not in _NOTICES:
            _NOTICES.append(message)


def take_notices() -> list[str]:
    """What went wrong on the helpers' side since the last call (each once), for the run's log.

    None of it changes a figure (each was drawn in the main process instead), only the time taken.
    """
    with _NOTICES_LOCK:
        out = list(_NOTICES)
        _NOTICES.clear()
    return out


def configured_workers(env: dict[str, str] | None = None) -> int:
    """How many helper processes draw figures: ``EVALTOOL_FIGURE_WORKERS``, else 2 (none on one core).

    Examples
    --------
    >>> configured_workers({"EVALTOOL_FIGURE_WORKERS": "0"})
    0
    >>> configured_workers({"EVALTOOL_FIGURE_WORKERS": "3"})
    3
    """
    raw = (os.environ if env is None else env).get(ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = -1
        if n < 0:
            raise SpecError(f"`{ENV}` must be a whole number of figure helper processes (0 or more; 0 draws "
                            f"every figure in the main process), found {raw!r}")
        return n
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 0


_DRAWING_HERE = threading.Lock()  # matplotlib's state is not for two threads at once


def _draw_here(plot: Any, size: tuple[float, float, int], palette: tuple[str, ...] | None) -> bytes:
    """Draw in this process, one figure at a time; in the main thread with ``palette`` in force (as
    :func:`_serve` does; the palette is a module global, which only the main thread sets)."""
    with _DRAWING_HERE:
        plotting = sys.modules.get("evaltool.plotting")
        if plotting is None or palette is None or threading.current_thread() is not threading.main_thread():
            return _render_here(plot, *size)
        with plotting.use_palette(palette):
            return _render_here(plot, *size)


def _render_here(plot: Any, width: float, height: float, dpi: int) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plot.save(buf, width=width, height=height, dpi=dpi, verbose=False, format="png")
    return buf.getvalue()


_IN_HELPER = False  # set in a helper process (_serve)


def in_helper() -> bool:
    """Whether this process is a helper (work done here is already beside the main process)."""
    return _IN_HELPER


def drawn(png: bytes) -> Drawing:
    """A figure already drawn (by a stage computed in a helper, :mod:`evaltool.stage_beside`)."""
    d = Drawing(None, 0.0, 0.0, DPI, None)
    d._png = png
    return d


class Drawing:
    """A figure being drawn: :meth:`bytes` waits for the PNG (re-raising a drawing error).

    A figure no helper has started by the time the main thread wants its PNG is drawn there instead (it
    would only wait), with the chart colours in force when it was asked for, as a helper draws it."""

    def __init__(self, plot: Any, width: float, height: float, dpi: int, future: Future | None,
                 palette: tuple[str, ...] | None = None) -> None:
        self._plot, self._size, self._future, self._palette = plot, (width, height, dpi), future, palette
        self._png: bytes | None = None
        self._lock = threading.Lock()  # the report writes its figures from a thread while the appendix goes on

    def bytes(self) -> bytes:
        with self._lock:
            if self._png is None:
                plot, size, palette, fut = self._plot, self._size, self._palette, self._future
                if fut is not None and threading.current_thread() is threading.main_thread() and fut.cancel():
                    fut = None  # still queued: drawn here, now
                self._png = _settle(fut, lambda: _draw_here(plot, size, palette), lambda b: b,
                                    f"a figure ({_title(plot)})")
                self._plot, self._future = None, None
            return self._png

    def queued(self) -> bool:
        """Whether no helper has started drawing it yet."""
        fut = self._future
        return fut is not None and not fut.running() and not fut.done()

    def write(self, dest: Path) -> Path:
        dest = Path(dest)
        dest.write_bytes(self.bytes())
        return dest


class Call:
    """A function call running in a helper: :meth:`result` waits for its value (computed here if the
    helper cannot; an error is raised here, from the call made here)."""

    _UNSET = object()

    def __init__(self, fn: Callable[..., Any], args: tuple, future: Future | None, what: str) -> None:
        self._fn, self._args, self._future, self._what = fn, args, future, what
        self._value: Any = Call._UNSET

    def take_back(self) -> bool:
        """Do the call here instead if no helper has started it yet (True); False once one has.

        For sharing a batch: the main process takes the calls still queued, from the back, while the
        helpers take them from the front; the value is the same wherever it is computed.
        """
        if self._future is not None and self._future.cancel():
            self._future = None
            return True
        return self._future is None and self._value is Call._UNSET

    def result(self) -> Any:
        if self._value is Call._UNSET:
            fn, args = self._fn, self._args
            self._value = _settle(self._future, lambda: fn(*args), pickle.loads, self._what)
            self._fn, self._args, self._future = None, (), None
        return self._value


def _settle(future: Future | None, here: Callable[[], Any], decode: Callable[[bytes], Any], what: str) -> Any:
    """The helper's answer, else the work done here (where its own error, if any, is raised)."""
    lost = None
    if future is not None:
        try:
            return decode(future.result())
        except _HelperLost as err:
            lost = err  # the helper died or could not do it: done here
    value = here()
    if lost is not None and lost.failed_there:
        _notice(f"{what} failed in a helper process but succeeded in the main process; the result is the same")
    return value


class _HelperLost(Exception):
    """The helper did not do this job: it stopped (``failed_there`` False) or the job failed there."""

    def __init__(self, failed_there: bool = False) -> None:
        super().__init__()
        self.failed_there = failed_there


def _title(plot: Any) -> str:
    try:
        title = plot.labels.get("title", None)
    except Exception:  # noqa: BLE001 - only a label for a message
        title = None
    return f"'{title}'" if title else "untitled"


class _Helper:
    """One helper process and the thread that feeds it jobs from the shared queue."""

    def __init__(self, jobs: queue.Queue, number: int = 1, proc: Any = None) -> None:
        self.number = number
        # a forked helper (evaltool.helper_fork.Child), or one started as its own interpreter
        self.proc = proc if proc is not None else subprocess.Popen(
            [sys.executable, "-m", "evaltool.figure_workers"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=_helper_env())
        self.jobs = jobs
        self.thread = threading.Thread(target=self._loop, name="evaltool-figure-helper", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        alive = True
        while True:
            _, _, payload, fut = self.jobs.get()
            if payload is None:
                break
            if not fut.set_running_or_notify_cancel():
                continue
            if not alive:
                fut.set_exception(_HelperLost())
                continue
            try:
                self.proc.stdin.write(struct.pack("<Q", len(payload)) + payload)
                self.proc.stdin.flush()
                status, n = _HEADER.unpack(_read(self.proc.stdout, _HEADER.size))
                body = _read(self.proc.stdout, n)
            except (OSError, EOFError, struct.error) as err:
                alive = False
                code = self.proc.poll()
                _notice(f"figure helper process {self.number} stopped ("
                        + (f"exit code {code}" if code is not None else f"{type(err).__name__}")
                        + "); the figures it had not drawn were drawn in the main process (same images, more time)")
                fut.set_exception(_HelperLost())
                continue
            if status == 0:
                fut.set_result(body)
            else:  # drawing failed there: drawn here, where the same error is raised with its traceback
                fut.set_exception(_HelperLost(failed_there=True))
        try:
            self.proc.stdin.close()
        except OSError:  # pragma: no cover
            pass

    def stop(self) -> None:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a helper stuck in drawing
            self.proc.kill()
        _close_quietly(self.proc.stdout)  # now, not when the collector gets to it (a ResourceWarning mid-run)


def _close_quietly(stream: Any) -> None:
    try:
        if stream is not None:
            stream.close()
    except OSError:  # pragma: no cover - already closed
        pass


def _read(stream: Any, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = stream.read(n - len(out))
        if not chunk:
            raise EOFError("helper closed its output")
        out += chunk
    return bytes(out)


def _helper_env() -> dict[str, str]:
    """The helpers' environment: one BLAS thread, no allocator thread (so that they can be forked), the Agg
    backend, and this evaltool first on the path."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.setdefault("JE_ARROW_MALLOC_CONF", "background_thread:false")
    return env


class _Pool:
    def __init__(self, n: int, preload: tuple[str, ...] = ()) -> None:
        from evaltool import helper_fork

        # Jobs in order of submission, except that a batch this process is waiting on (shared_map) goes before
        # figures, which are wanted only when the report is written.
        self.jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()
        self.used = False  # whether any job was submitted
        self.zygote = None
        if helper_fork.available():  # forked from one process that imported their modules once
            self.zygote = helper_fork.Zygote(n, _helper_env(), helper_fork.PLOTTING + tuple(preload))
            self.helpers = [_Helper(self.jobs, i + 1, child) for i, child in enumerate(self.zygote.children)]
        else:
            self.helpers = [_Helper(self.jobs, i + 1) for i in range(n)]

    def submit(self, payload: bytes, urgent: bool = False) -> Future:
        fut: Future = Future()
        self.used = True
        self.jobs.put((0 if urgent else 1, next(self._seq), payload, fut))
        return fut

    def close(self) -> None:
        for _ in self.helpers:
            self.jobs.put((2, next(self._seq), None, None))  # after every job
        if self.zygote is not None and not self.used:
            # Never given work (a run stopped early, e.g. by an invalid spec): the zygote may still be importing,
            # and the command does not wait for it to finish only to stop.
            for h in self.helpers:
                h.thread.join(timeout=60)
            self.zygote.abandon()
            return
        for h in self.helpers:
            h.thread.join(timeout=60)
            h.stop()
        if self.zygote is not None:
            self.zygote.close()


_POOL: _Pool | None = None
_LOCK = threading.Lock()


def start(workers: int | None = None, preload: tuple[str, ...] = ()) -> int:
    """Start the helpers (once per process; they stay for later runs); returns how many run.

    Called at the start of :func:`evaltool.run` so that the helpers' imports overlap with reading the
    inputs. If they cannot start, figures are drawn here (the same images) and a notice says so.
    ``preload``: modules the helpers' jobs will use, imported once for all of them where helpers are forked
    (:mod:`evaltool.helper_fork`; the figures' libraries always are).
    """
    global _POOL
    with _LOCK:
        if _POOL is not None:
            return len(_POOL.helpers)
        n = configured_workers() if workers is None else workers
        if n <= 0:
            return 0
        try:
            _POOL = _Pool(n, preload)
        except OSError as err:  # pragma: no cover - cannot start a process here
            _POOL = None
            _notice(f"figure helper processes could not be started ({err}); every figure is drawn in the "
                    "main process (same images, more time)")
            return 0
        atexit.register(shutdown)
        return n


def running() -> int:
    """How many helper processes were started (0: everything is done in this process)."""
    pool = _POOL
    return len(pool.helpers) if pool is not None else 0


def shutdown() -> None:
    """Stop the helpers (after the figures they hold are drawn)."""
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()


def draw(plot: Any, *, width: float, height: float, dpi: int = DPI) -> Drawing:
    """Start drawing ``plot`` as a PNG; the returned :class:`Drawing` gives its bytes."""
    pool = _POOL
    fut = None
    # the palette in force here (a brand's chart colours) is in force wherever it is drawn
    plotting = sys.modules.get("evaltool.plotting")
    palette = tuple(plotting.PALETTE) if plotting is not None else None
    if pool is not None and type(plot).__module__.startswith("plotnine"):  # a saved PNG is copied here
        try:
            import cloudpickle

            payload = cloudpickle.dumps(("figure", (plot, float(width), float(height), int(dpi), palette)))
        except Exception as err:  # noqa: BLE001 - any pickling failure: the figure is drawn here instead
            payload = None
            _notice(f"a figure ({_title(plot)}) could not be sent to a helper process ({type(err).__name__}); "
                    "it was drawn in the main process (same image, more time)")
        if payload is not None:
            fut = pool.submit(payload)
    return Drawing(plot, float(width), float(height), int(dpi), fut, palette)


def draw_queued(drawings: list[Drawing]) -> None:
    """In the main thread, about to wait for ``drawings``: draw here those no helper has started, from the back
    of the list, while the helpers take them from the front (the same images)."""
    if threading.current_thread() is threading.main_thread():
        for d in reversed(drawings):
            if d.queued():
                d.bytes()


def call(fn: Callable[..., Any], *args: Any, what: str, urgent: bool = False) -> Call:
    """Start ``fn(*args)`` in a helper (``fn`` importable by name, ``args`` plain data); the returned
    :class:`Call` gives its value. With no helper running it is computed here when asked for.
    ``urgent``: started before the jobs already queued that are not (this process is about to wait for it).

    For pure-Python work that would otherwise hold this process's interpreter lock while the helpers
    idle (hashing identifiers): the value is the same wherever it is computed.
    """
    pool = _POOL
    fut = None
    if pool is not None:
        try:
            payload = pickle.dumps(("call", (fn, args)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # noqa: BLE001 - cannot be sent: computed here instead
            payload = None
            _notice(f"{what} could not be sent to a helper process ({type(err).__name__}); it was done in the "
                    "main process (same result, more time)")
        if payload is not None:
            fut = pool.submit(payload, urgent)
    return Call(fn, args, fut, what)


#: Frames sent to the helpers by one :func:`shared_map` batch or beside stage, at most (bytes): above it the work
#: is done in this process, as it always was (each helper would hold a copy: at national scale the matched
#: panel alone is hundreds of megabytes).
SEND_LIMIT = 256 * 2**20


def frames_nbytes(*objs: Any, _depth: int = 0) -> int:
    """The memory of the data frames in ``objs`` (inside tuples, lists, dicts and dataclasses, three levels
    deep): what sending them to a helper would copy.

    Examples
    --------
    >>> import pandas as pd
    >>> n = frames_nbytes(pd.DataFrame({"a": range(1000)}), ("x", {"b": pd.DataFrame({"b": [1.0] * 1000})}))
    >>> 16_000 <= n < 17_000  # two columns of 1,000 eight-byte numbers, and their indexes
    True
    """
    total = 0
    for o in objs:
        usage = getattr(o, "memory_usage", None)
        if callable(usage) and hasattr(o, "columns"):
            total += int(usage(index=True, deep=False).sum())
        elif _depth < 3 and isinstance(o, (tuple, list)):
            total += frames_nbytes(*o, _depth=_depth + 1)
        elif _depth < 3 and isinstance(o, dict):
            total += frames_nbytes(*o.values(), _depth=_depth + 1)
        elif _depth < 3 and hasattr(o, "__dataclass_fields__"):
            total += frames_nbytes(*vars(o).values(), _depth=_depth + 1)
    return total


def shared_map(fn: Callable[..., Any], arg_tuples: list[tuple], *, what: str) -> list[Any]:
    """``[fn(*args) for args in arg_tuples]``, shared between the helpers and this process (in turn here when no
    helper runs or the batch's frames are larger than :data:`SEND_LIMIT`).

    Every call is queued for the helpers, ahead of the figures waiting to be drawn (this process waits for the
    batch; the figures are wanted only by the report); this process meanwhile takes the ones no helper has
    started, from the back of the queue, so that the batch takes about half the time on two cores. The values
    (and their order) are the same wherever each is computed. ``fn`` must catch whatever it wants to
    report (warnings included) and return it: a call done in a helper raises nothing here unless it
    failed there, when it is redone here and its error raised here.
    """
    if not running() or frames_nbytes(arg_tuples) > SEND_LIMIT:
        return [fn(*args) for args in arg_tuples]  # in turn, here
    calls = [call(fn, *args, what=f"{what} ({i + 1} of {len(arg_tuples)})", urgent=True)
             for i, args in enumerate(arg_tuples)]
    for c in reversed(calls):
        if c.take_back():
            c.result()
    return [c.result() for c in calls]


# ---------------------------------------------------------------------------------------------
# the helper process


def _lower_priority() -> None:
    """Give this helper :data:`HELPER_NICE` more niceness than the process that started it (where the system has
    niceness): the main process's work is the run's critical path, the helpers' work goes beside it."""
    try:
        os.nice(HELPER_NICE)
    except (AttributeError, OSError):  # pragma: no cover - Windows has no os.nice; a refusal changes nothing
        pass


def _serve(stdin: Any = None, stdout: Any = None, lower: bool = True) -> None:  # pragma: no cover - runs in
    # the helper process (tested through draw()); ``stdin``/``stdout``: a forked helper's pipes
    global _IN_HELPER
    _IN_HELPER = True
    if stdin is None:
        stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed while drawing may reach the protocol stream
    if lower:
        _lower_priority()
    import matplotlib.pyplot  # noqa: F401 - imported before the first figure, not during it

    import evaltool.plotting

    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        (n,) = struct.unpack("<Q", head)
        body = _read(stdin, n)
        try:
            kind, job = pickle.loads(body)
            if kind == "figure":
                plot, width, height, dpi, palette = job
                with evaltool.plotting.use_palette(palette):
                    out, status = _render_here(plot, width, height, dpi), 0
            else:  # "call"
                fn, args = job
                out, status = pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL), 0
        except Exception:  # noqa: BLE001 - redone in the main process, where its error is raised
            out, status = b"", 1
        stdout.write(_HEADER.pack(status, len(out)) + out)
        stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    _serve()
    os._exit(0)  # every result is written and flushed: tearing down the imported modules would only cost time
