"""The helper processes forked from one process that has imported their modules once (Linux).

Each helper of :mod:`evaltool.figure_workers` used to be a fresh interpreter that imported what its jobs need:
matplotlib and plotnine for the figures, the PROMs, roll-out and effect-fit code for the stages computed beside
the main process, the publication gate's derivations. That is about 4 s of one core per helper (measured on
this project's machines), paid again by every helper, while the run is otherwise short of CPU on two cores.

Here one process (the *zygote*) is started as before, with ``subprocess``, imports those modules once
(:data:`PRELOAD`), and forks the helpers, which start with everything imported and share those pages. The
main process itself is never forked (its DuckDB and BLAS threads could be copied mid-lock). The zygote forks
only while it runs a single thread (BLAS is limited to one thread in the helpers, and pyarrow's allocator is
started without its background thread); if an import started a thread anyway, each forked child at once
replaces itself with a fresh interpreter (``exec``, safe after a fork) and works as the helpers always did.

The zygote reports on its standard output, one line each: ``pid <helper> <pid>`` when it has forked a helper
and ``exit <helper> <code>`` when one has ended (the code as :attr:`subprocess.Popen.returncode` gives it:
negative for a signal). :class:`Child` offers the main process the part of :class:`subprocess.Popen` that
:mod:`evaltool.figure_workers` uses (``stdin``, ``stdout``, ``pid``, ``poll``, ``wait``, ``kill``), so a
forked helper and a started one are handled alike.
"""
from __future__ import annotations

import importlib
import os
import select
import signal
import subprocess
import sys
import threading
from typing import IO

__all__ = ["PRELOAD", "PLOTTING", "Zygote", "Child", "available", "imported"]

#: What every helper needs: the figures' libraries and the palette.
PLOTTING = ("matplotlib.pyplot", "evaltool.plotting")
#: What a run's helpers use besides (the jobs :func:`evaltool.figure_workers.call` sends during ``evaltool run``).
PRELOAD = PLOTTING + (
    "evaltool.identifiers", "evaltool.proms.stage", "evaltool.effects.rollout_stage",
    "evaltool.effects.matched_stage", "evaltool.qual.stage", "evaltool.report.derived",
    "evaltool.report.structure", "evaltool.report.spc",
    "scipy.stats",  # the PROMs' Wilcoxon test: 0.9 s to import, once here rather than in the helper that needs it
)

# sys.path[0] is the working folder under ``-c``: removed, so that a user's file named like a module
# (``plotting.py``, a folder ``evaltool``) is never imported by a helper instead of the real one.
_BOOT = ("import sys\nif sys.path and sys.path[0] in ('', '.'): sys.path.pop(0)\n"
         "from evaltool.helper_fork import {fn}\n{fn}(sys.argv[1], sys.argv[2])")


def available() -> bool:
    """Whether helpers are forked here (Linux); elsewhere each is started as its own interpreter."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class Zygote:
    """The process that forks ``n`` helpers; :attr:`children` are their :class:`Child` handles."""

    def __init__(self, n: int, env: dict[str, str], preload: tuple[str, ...]) -> None:
        ours, theirs = [], []
        try:
            for _ in range(n):
                job_r, job_w = os.pipe()  # jobs: main process -> helper
                res_r, res_w = os.pipe()  # results: helper -> main process
                ours.append((job_w, res_r))
                theirs.append((job_r, res_w))
            spec = ",".join(f"{r}:{w}" for r, w in theirs)
            self.proc = subprocess.Popen([sys.executable, "-c", _BOOT.format(fn="zygote"), spec, ",".join(preload)],
                                         pass_fds=[fd for pair in theirs for fd in pair], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        except BaseException:
            for fd in (fd for pair in ours for fd in pair):
                os.close(fd)
            raise
        finally:
            for fd in (fd for pair in theirs for fd in pair):
                os.close(fd)
        self._lock = threading.Lock()
        self._pending = b""
        self._pids: dict[int, int] = {}
        self._codes: dict[int, int] = {}
        self.children = [Child(self, i, os.fdopen(w, "wb"), os.fdopen(r, "rb")) for i, (w, r) in enumerate(ours)]

    def _known(self, table: dict[int, int], i: int, timeout: float | None) -> int | None:
        """``table[i]`` (a helper's pid or exit code), reading the zygote's reports until it is there; None if
        the zygote ended first or ``timeout`` seconds passed without it."""
        with self._lock:
            if i in table:
                return table[i]
            if self.proc.stdout.closed:  # the zygote was stopped: everything it reported has been read
                return None
            fd = self.proc.stdout.fileno()  # read unbuffered: select() sees only what is still in the pipe
            while i not in table:
                line, nl, rest = self._pending.partition(b"\n")
                if nl:
                    self._pending = rest
                    kind, who, value = line.decode().split()
                    (self._pids if kind == "pid" else self._codes)[int(who)] = int(value)
                    continue
                if timeout is not None and not select.select([fd], [], [], timeout)[0]:
                    return None
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None
                self._pending += chunk
            return table[i]

    def abandon(self) -> None:
        """Stop without waiting for the preload: the zygote is killed; a helper it has already forked reads the end
        of its closed job pipe and exits."""
        for child in self.children:
            for stream in (child.stdin, child.stdout):
                try:
                    stream.close()
                except OSError:  # pragma: no cover - already closed by its thread
                    pass
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()

    def close(self, timeout: float = 5.0) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover - a helper stuck in drawing
            for child in self.children:
                child.kill()
            self.proc.kill()
            self.proc.wait()
        # Its report pipe closed now, not when the collector reaches it: a ResourceWarning then would be
        # recorded in whatever run is going on.
        self.proc.stdout.close()


class Child:
    """A forked helper as :mod:`evaltool.figure_workers` uses a :class:`subprocess.Popen`."""

    def __init__(self, zygote: Zygote, number: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self._zygote, self._number = zygote, number
        self.stdin, self.stdout = stdin, stdout

    @property
    def pid(self) -> int | None:
        """The helper's process id (waits for the zygote to have forked it); None if it never was."""
        return self._zygote._known(self._zygote._pids, self._number, None)

    def poll(self) -> int | None:
        """The exit code once the helper has ended (a moment after its pipes closed), else None."""
        return self._zygote._known(self._zygote._codes, self._number, 1.0)

    def wait(self, timeout: float | None = None) -> int | None:
        code = self._zygote._known(self._zygote._codes, self._number, timeout)
        if code is None and timeout is not None and self._zygote.proc.poll() is None:
            raise subprocess.TimeoutExpired("evaltool figure helper", timeout)
        return code

    def kill(self) -> None:
        pid = self.pid
        if pid is not None and self._zygote._codes.get(self._number) is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - it ended meanwhile
                pass


# ---------------------------------------------------------------------------------------------
# in the zygote and the helpers


def imported(name: str) -> bool:
    """Whether module ``name`` is imported in this process (asked of a helper: was it preloaded?)."""
    return name in sys.modules


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # pragma: no cover - no /proc: counted as unsafe to fork
        return 2


def zygote(spec: str, preload: str) -> None:  # pragma: no cover - runs in the zygote (tested through draw())
    """Import ``preload`` once, fork one helper per ``read:write`` pair of ``spec``, report, reap."""
    from evaltool import figure_workers
    from evaltool._memory import settle_imports

    pairs = [tuple(int(fd) for fd in pair.split(":")) for pair in spec.split(",")]
    figure_workers._lower_priority()  # the helpers inherit it
    for name in filter(None, preload.split(",")):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a job that needs it imports it again and fails there, said as ever
            pass
    # What is imported now lives as long as the helpers: out of the cyclic collector's reach their collections
    # skip it, and its pages stay shared with the zygote instead of being copied when a collection touches them.
    settle_imports()
    single = _threads() == 1
    report = sys.stdout.buffer
    helpers: dict[int, int] = {}
    for i, (r, w) in enumerate(pairs):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for j, (r2, w2) in enumerate(pairs):
                    if j != i:
                        os.close(r2)
                        os.close(w2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)  # the zygote's reports are its own
                if not single:
                    os.set_inheritable(r, True)
                    os.set_inheritable(w, True)
                    os.execv(sys.executable, [sys.executable, "-c", _BOOT.format(fn="serve"), f"{r}:{w}", ""])
                serve(f"{r}:{w}", "")
                code = 0
            finally:
                os._exit(code)
        helpers[pid] = i
        report.write(f"pid {i} {pid}\n".encode())
        report.flush()
    for r, w in pairs:
        os.close(r)
        os.close(w)
    while helpers:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid in helpers:
            report.write(f"exit {helpers.pop(pid)} {os.waitstatus_to_exitcode(status)}\n".encode())
            report.flush()
    os._exit(0)  # nothing left to flush: tearing down the imported modules would only cost time (0.8 s)


def serve(pair: str, _preload: str) -> None:  # pragma: no cover - runs in a helper
    """Serve jobs on the ``read:write`` file descriptors of ``pair`` (a forked or exec'd helper; its priority is
    already the zygote's)."""
    from evaltool import figure_workers

    r, w = (int(fd) for fd in pair.split(":"))
    figure_workers._serve(os.fdopen(r, "rb"), os.fdopen(w, "wb"), lower=False)

