"""Console output for the CLI: verbosity (-v/-q), warnings shown as one concise line each, the progress bars of
long stages and the summary of missing results.

Python's default warning display prints the file path and source line of the code that warned,
which means nothing to an evaluator. Here each warning becomes
``warning: 62 of 185 treated units were not matched (MatchingWarning)``; with ``-v`` the place it
came from follows. Libraries' notices of API changes (DeprecationWarning, FutureWarning) are shown
only with ``-vv``: they are about the libraries, not about the evaluation. Every other warning is
shown, ``-q`` or not: nothing is silent.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from evaltool.errors import EvaltoolWarning

__all__ = ["OUTPUT", "concise_warnings", "format_warning", "group_missing", "plain", "progress_bars"]


@dataclass
class _Output:
    """Where the CLI writes: ``out`` (results, stdout) and ``err`` (progress and messages, stderr)."""

    verbosity: int = 0  # -1 quiet, 0 normal, 1 -v, 2 -vv
    out: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))


OUTPUT = _Output()


def format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   verbosity: int = 0) -> str:
    """One line for a warning: its text and its class; the source location only when verbose.

    Examples
    --------
    >>> from evaltool.errors import MatchingWarning
    >>> format_warning(MatchingWarning("3 treated units were not matched"), MatchingWarning, "/x/riskset.py", 12)
    'warning: 3 treated units were not matched (MatchingWarning)'
    >>> format_warning("old API", FutureWarning, "/x/y.py", 3, verbosity=1)
    'warning: old API (FutureWarning; /x/y.py:3)'
    """
    text = " ".join(str(message).split())
    where = f"; {filename}:{lineno}" if verbosity >= 1 else ""
    return f"warning: {text} ({category.__name__}{where})"


@contextlib.contextmanager
def concise_warnings(console: Console | None = None) -> Iterator[None]:
    """Show warnings raised inside the block as concise lines on the error console.

    Each distinct message is shown once. Deprecation and future-change notices from libraries need
    ``-vv``; everything else is always shown (even with ``-q``).
    """
    con = console or OUTPUT.err
    seen: set[tuple[str, str]] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings' signature
        api_churn = issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))
        if api_churn and not issubclass(category, EvaltoolWarning) and OUTPUT.verbosity < 2:
            return
        key = (category.__name__, str(message))
        if key in seen:
            return
        seen.add(key)
        con.print(format_warning(message, category, filename, lineno, OUTPUT.verbosity),
                  style="yellow", markup=False, highlight=False, soft_wrap=True)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = previous


#: At most this many lines of an error message are printed (a spec error lists one problem a line).
_MAX_LINES = 40
_MAX_LINE_CHARS = 400


def plain(text: str) -> Text:
    """User-derived text as a Rich Text: never parsed as markup or emoji, long lines cut."""
    lines = str(text).splitlines() or [""]
    shown = [ln if len(ln) <= _MAX_LINE_CHARS else ln[:_MAX_LINE_CHARS - 3] + "..." for ln in lines[:_MAX_LINES]]
    if len(lines) > _MAX_LINES:
        shown.append(f"... and {len(lines) - _MAX_LINES} more line(s)")
    return Text("\n".join(shown))


def progress_bars():
    """A Rich progress display and the ``steps(stage, done, total, what)`` callback that drives it.

    One bar per long stage (matching: risk sets; effects: outcomes), removed when the stage ends; off
    with ``-q`` and when the console is not a terminal (logs get the stage lines only).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = Progress(TextColumn("  {task.fields[stage]:<9}"), BarColumn(bar_width=30), MofNCompleteColumn(),
                    TextColumn("{task.description}", markup=False), TimeElapsedColumn(),
                    console=OUTPUT.err, transient=True, disable=OUTPUT.verbosity < 0)
    tasks: dict[str, int] = {}

    def steps(stage: str, done: int, total: int, what: str) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(what, total=total, stage=stage)
        bars.update(tasks[stage], completed=done, total=total, description=what)
        if done >= total:
            bars.remove_task(tasks.pop(stage))

    return bars, steps


def group_missing(missing: list) -> list[str]:
    """One line per stage, outcome and reason: "effects care_home_admission: matched_did, event_study failed: ..."."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for a in missing:
        what = a.analysis + ("" if a.subgroup == "all" else f" by {a.subgroup}") + ("" if a.status == "failed"
                                                                                  else " (partly)")
        groups.setdefault((a.stage, a.outcome, a.reason), []).append(what)
    return [f"  - {stage} {outcome}: {', '.join(whats)}: {reason or 'not produced'}"
            for (stage, outcome, reason), whats in groups.items()]
