"""The run record: every warning, exclusion, set-aside row, skipped subgroup and failed estimate of a run.

A run produces two kinds of record (contract in docs/architecture.md, "The run record"):

* :class:`Event` -- something that happened: a stage started or finished, rows were set aside,
  an estimate could not be computed. Each has a ``stage``, a ``severity`` (``info``, ``warning``
  or ``error``), a stable snake_case ``code``, a one-line plain-English ``message`` and optional
  ``detail`` (why, what was tried), ``counts`` and the ``outcome``/``subgroup``/``analysis`` it is
  about.
* :class:`AnalysisStatus` -- the fate of one planned analysis (an outcome x subgroup x analysis of
  the spec): ``ok``, ``partial`` (some of it, e.g. one subgroup level, failed) or ``failed``.

Stages collect both on their :class:`~evaltool.stage.StageOutput` (``out.event(...)``,
``out.analysis(...)``); the pipeline forwards them to a :class:`RunRecord`, which tells its
listeners as they arrive (the CLI prints them), and at the end writes ``results/run_log.jsonl``
and the ``run`` summary of ``manifest.json``.

This module is part of the core layer: it imports nothing else from evaltool.

Examples
--------
>>> rec = RunRecord()
>>> rec.plan("effects", "matched_did", "emergency_admission")
>>> _ = rec.emit(Event("effects", "warning", "estimate_failed", "care home admissions: not estimated",
...                    outcome="care_home_admission"))
>>> rec.set_status("effects", "matched_did", "emergency_admission", "ok")
>>> rec.counts() == {'info': 0, 'warning': 1, 'error': 0}
True
>>> rec.complete
True
"""
from __future__ import annotations

import json
import re
import traceback as _tb
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ANALYSIS_STATUSES", "SEVERITIES", "AnalysisStatus", "Event", "RunRecord", "capture_warnings",
    "display_path", "excerpt", "one_line",
]

SEVERITIES = ("info", "warning", "error")
ANALYSIS_STATUSES = ("ok", "partial", "failed")
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: The longest excerpt of a user value a message quotes.
EXCERPT_CHARS = 60


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short, single-line quotation of a (user) value for a message.

    Control characters are shown escaped and long values are cut with an ellipsis, so a
    10 MB field or a value holding a newline never floods or breaks a message.

    Examples
    --------
    >>> excerpt("a" * 100)
    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"
    >>> excerpt("two\\nlines")
    "'two\\\\nlines'"
    """
    if isinstance(value, str):
        text = value[: limit * 4]
        shown = repr(text[:limit - 5] + "...") if len(value) > limit - 2 else repr(text)
        return shown
    text = repr(value) if not isinstance(value, (int, float)) else str(value)
    text = text[: limit * 4].replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def display_path(path: str | Path) -> str:
    """A path as a user would type it: relative to the working directory when inside it, normalised.

    Examples
    --------
    >>> display_path("/nonexistent/analyses/../data/x.csv")
    '/nonexistent/data/x.csv'
    """
    import os

    norm = os.path.normpath(os.path.abspath(str(path)))
    try:
        rel = os.path.relpath(norm, os.getcwd())
    except ValueError:
        return norm
    return rel if not rel.startswith("..") else norm


def one_line(err: BaseException | str, limit: int = 300) -> str:
    """The first line of an exception message (or text), at most ``limit`` characters.

    Examples
    --------
    >>> one_line(ValueError("bad value\\nmore detail"))
    'bad value'
    """
    text = str(err).strip() if not isinstance(err, str) else err.strip()
    first = text.splitlines()[0] if text else (type(err).__name__ if isinstance(err, BaseException) else "")
    return first if len(first) <= limit else first[: limit - 3] + "..."


@dataclass(frozen=True)
class Event:
    """One thing that happened in a run.

    Attributes
    ----------
    stage:
        The stage (``inputs``, ``cohort``, ``matching``, ``effects``, ``rollout``, ``proms``,
        ``qual``, ``bundle``, ``report``).
    severity:
        ``info`` (progress, counts), ``warning`` (something was set aside or is doubtful; the run
        goes on) or ``error`` (a planned result was not produced, or the run stopped).
    code:
        Stable snake_case identifier (``estimate_failed``, ``rows_set_aside``...): tests and the
        report key on it, never on the wording.
    message:
        One plain-English line for the console and the report.
    detail:
        Why, and what was tried (may be longer; never a traceback).
    counts:
        Named counts (``{"rows": 12, "people": 9}``).
    outcome, subgroup, analysis:
        What the event is about, where relevant.
    file, column, rows:
        Where in the inputs, where relevant (rows are 1-based data rows).
    traceback:
        For unexpected exceptions only; written to ``run_log.jsonl``, never printed.
    """

    stage: str
    severity: str
    code: str
    message: str
    detail: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    outcome: str | None = None
    subgroup: str | None = None
    analysis: str | None = None
    file: str | None = None
    column: str | None = None
    rows: tuple[int, ...] = ()
    traceback: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"`severity` must be one of {SEVERITIES}, found {self.severity!r}")
        if not _CODE_RE.match(self.code):
            raise ValueError(f"`code` must be snake_case (a-z, 0-9, _), found {self.code!r}")
        object.__setattr__(self, "counts", {str(k): int(v) for k, v in dict(self.counts).items()})
        object.__setattr__(self, "rows", tuple(int(r) for r in self.rows))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (empty optional fields left out), as written to ``run_log.jsonl``."""
        d: dict[str, Any] = {"stage": self.stage, "severity": self.severity, "code": self.code,
                             "message": self.message}
        for k in ("detail", "outcome", "subgroup", "analysis", "file", "column", "traceback"):
            v = getattr(self, k)
            if v:
                d[k] = v
        if self.counts:
            d["counts"] = dict(self.counts)
        if self.rows:
            d["rows"] = list(self.rows)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        keys = set(cls.__dataclass_fields__)
        return cls(**{k: (tuple(v) if k == "rows" else v) for k, v in d.items() if k in keys})

    def line(self) -> str:
        """The console line: the message (details and tracebacks stay in the log and the report)."""
        return self.message


@dataclass(frozen=True)
class AnalysisStatus:
    """The fate of one planned analysis (one row of ``manifest.run.analyses``).

    ``subgroup`` is ``"all"`` for the whole cohort or the subgroup variable (``age_band``);
    a subgroup analysis whose levels partly failed is ``partial``.
    """

    stage: str
    analysis: str
    outcome: str
    subgroup: str = "all"
    status: str = "failed"
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in ANALYSIS_STATUSES:
            raise ValueError(f"`status` must be one of {ANALYSIS_STATUSES}, found {self.status!r}")

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.stage, self.analysis, self.outcome, self.subgroup)

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "analysis": self.analysis, "outcome": self.outcome, "subgroup": self.subgroup,
                "status": self.status, "reason": self.reason}


Listener = Callable[[Event], None]


class RunRecord:
    """Collects a run's events and the status of each planned analysis.

    Parameters
    ----------
    listeners:
        Called with each :class:`Event` as it is emitted (the CLI prints them).

    Examples
    --------
    >>> seen = []
    >>> rec = RunRecord(listeners=[seen.append])
    >>> rec.plan("effects", "event_study", "care_home_admission")
    >>> _ = rec.error("effects", "estimate_failed", "event study not estimated",
    ...               outcome="care_home_admission", analysis="event_study")
    >>> rec.set_status("effects", "event_study", "care_home_admission", "failed", "no events in month -9")
    >>> len(seen), rec.complete, rec.failed_analyses()[0].reason
    (1, False, 'no events in month -9')
    """

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self.events: list[Event] = []
        self._plan: dict[tuple[str, str, str, str], AnalysisStatus | None] = {}
        self._listeners: list[Listener] = list(listeners)

    # -- events ------------------------------------------------------------------------------
    def listen(self, fn: Listener) -> None:
        """Add a listener called with every later event."""
        self._listeners.append(fn)

    def emit(self, event: Event) -> Event:
        """Record an event and tell the listeners."""
        self.events.append(event)
        for fn in self._listeners:
            fn(event)
        return event

    def info(self, stage: str, code: str, message: str, **kw: Any) -> Event:
        return self.emit(Event(stage, "info", code, message, **kw))

    def warning(self, stage: str, code: str, message: str, **kw: Any) -> Event:
        return self.emit(Event(stage, "warning", code, message, **kw))

    def error(self, stage: str, code: str, message: str, **kw: Any) -> Event:
        return self.emit(Event(stage, "error", code, message, **kw))

    def exception(self, stage: str, err: BaseException, code: str = "unexpected_error") -> Event:
        """Record an unexpected exception: one line for people, the traceback for the log only."""
        tb = "".join(_tb.format_exception(type(err), err, err.__traceback__))
        return self.error(stage, code, f"{type(err).__name__}: {one_line(err)}",
                          detail="an unexpected error inside evaltool; the traceback is in results/run_log.jsonl",
                          traceback=tb)

    def counts(self) -> dict[str, int]:
        """Number of events by severity."""
        out = {s: 0 for s in SEVERITIES}
        for e in self.events:
            out[e.severity] += 1
        return out

    # -- planned analyses ---------------------------------------------------------------------
    def plan(self, stage: str, analysis: str, outcome: str, subgroup: str = "all") -> None:
        """Declare a planned analysis (from the spec); it is ``failed`` until a status says otherwise."""
        self._plan.setdefault((stage, analysis, outcome, subgroup), None)

    def set_status(self, stage: str, analysis: str, outcome: str, status: str, reason: str = "",
                   subgroup: str = "all") -> None:
        """Record what became of a (planned or extra) analysis."""
        st = AnalysisStatus(stage, analysis, outcome, subgroup, status, reason)
        self._plan[st.key] = st

    def add_status(self, st: AnalysisStatus) -> None:
        self._plan[st.key] = st

    def fail_unfinished(self, stage: str, reason: str) -> None:
        """Mark every planned analysis of ``stage`` that has no status yet as failed with ``reason``."""
        for key, st in self._plan.items():
            if key[0] == stage and st is None:
                self._plan[key] = AnalysisStatus(*key, status="failed", reason=reason)

    def analyses(self) -> list[AnalysisStatus]:
        """Every planned/recorded analysis; planned ones without a status are failed."""
        out = []
        for key, st in self._plan.items():
            out.append(st if st is not None else AnalysisStatus(*key, status="failed",
                                                                reason="no result was produced"))
        return out

    def failed_analyses(self) -> list[AnalysisStatus]:
        return [a for a in self.analyses() if a.status != "ok"]

    def stage_status(self, stage: str) -> str:
        """``ok`` when every analysis of ``stage`` is ok, ``failed`` when all failed, else ``partial``."""
        sts = [a.status for a in self.analyses() if a.stage == stage]
        if not sts or all(s == "ok" for s in sts):
            return "ok"
        return "failed" if all(s == "failed" for s in sts) else "partial"

    @property
    def complete(self) -> bool:
        """True when every planned analysis produced its result."""
        return not self.failed_analyses()

    # -- output -------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The ``run`` block of ``manifest.json`` (without ``status``/``allow_partial``, which the pipeline adds)."""
        by_code: dict[str, int] = {}
        for e in self.events:
            if e.severity != "info":
                by_code[e.code] = by_code.get(e.code, 0) + 1
        return {"events": self.counts(), "event_codes": dict(sorted(by_code.items())),
                "analyses": [a.to_dict() for a in self.analyses()], "log": "results/run_log.jsonl"}

    def to_jsonl(self) -> str:
        """``run_log.jsonl``: one JSON object per event, in order, with ``seq`` from 1."""
        lines = [json.dumps({"seq": i, **e.to_dict()}, ensure_ascii=False, sort_keys=True)
                 for i, e in enumerate(self.events, 1)]
        return "\n".join(lines) + ("\n" if lines else "")

    def write_jsonl(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_jsonl(), encoding="utf-8", newline="\n")
        return path


def read_jsonl(path: str | Path) -> list[Event]:
    """Read the events of a ``run_log.jsonl`` back."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            d.pop("seq", None)
            out.append(Event.from_dict(d))
    return out


@contextmanager
def capture_warnings(categories: tuple[type[Warning], ...] = (Warning,)) -> Iterator[list[warnings.WarningMessage]]:
    """Record Python warnings raised in the block (deduplicated later by the caller).

    Used by stages and the pipeline so that warnings from statistics modules become events
    instead of vanishing or printing Python file paths.
    """
    with warnings.catch_warnings(record=True) as caught:
        for c in categories:
            warnings.simplefilter("always", c)
        yield caught
