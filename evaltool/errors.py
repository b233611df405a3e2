"""Exception and warning classes used across evaltool.

Every message names the argument (in backticks), file, column or rows at fault,
says what was expected and what was found, and where possible points at the fix.
"""
from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``evaltool`` command (README, docs/architecture.md, ``--help``).

    When several apply, the highest-numbered below 70 wins (a render failure outranks partial results).
    """

    OK = 0  #: everything planned was produced (or partial results were explicitly allowed)
    PROBLEMS = 1  #: ``validate``: the data have problems that stop a run
    ERROR = 2  #: usage error, invalid spec, invalid input data, unusable output folder: nothing was written
    PARTIAL = 3  #: the bundle was written but a planned analysis or stage failed (see results/run_log.jsonl)
    RENDER_FAILED = 4  #: the results bundle is complete and kept, but the report could not be rendered
    INTERNAL = 70  #: an unexpected error inside evaltool outside any stage (a bug: please report it)
    INTERRUPTED = 130  #: Ctrl-C (SIGINT); SIGTERM exits 143; the previous bundle is left as it was
    TERMINATED = 143


class EvaltoolError(Exception):
    """Base class for every error evaltool raises on purpose.

    Errors about values (the spec, the data, a function's arguments: :class:`SpecError`,
    :class:`DataValidationError`, :class:`MatchingError`, :class:`EstimationError`) are also
    ``ValueError`` subclasses, as Python users expect of a bad argument.
    """


class SpecError(EvaltoolError, ValueError):
    """The analysis spec (YAML), or an argument to a public function, is invalid.

    A ``ValueError`` too, so ``except ValueError`` catches bad arguments as Python users expect.
    """


class DataValidationError(EvaltoolError, ValueError):
    """Input data break the input contract (a ``ValueError`` too)."""


class MatchingError(EvaltoolError, ValueError):
    """Matching cannot proceed (no treated, no controls, nobody matched, a bad option...); a ``ValueError``."""


class EstimationError(EvaltoolError, ValueError):
    """A model cannot be estimated from the data or arguments given; a ``ValueError`` (as numpy's
    ``LinAlgError``), so ``except ValueError`` catches bad arguments to every estimator."""


class ReportError(EvaltoolError):
    """A report cannot be rendered from the results bundle."""


class BundleError(ReportError):
    """A results bundle is incomplete, invalid or points outside itself (``evaltool report`` refuses it)."""


class OutputError(EvaltoolError):
    """The output location cannot be used (not writable, a file, or a folder evaltool did not write)."""


class EvaltoolWarning(UserWarning):
    """Base class for evaltool warnings."""


class DataWarning(EvaltoolWarning):
    """Rows were excluded or values look suspicious."""


class MatchingWarning(EvaltoolWarning):
    """Matching finished but with a caveat (unmatched treated, poor balance...)."""


class EstimationWarning(EvaltoolWarning):
    """An estimate was produced but carries a caveat (negative TWFE weights...)."""


def format_rows(rows: Sequence[int], total: int | None = None, limit: int = 10) -> str:
    """Render row numbers for a message: ``rows 2, 5, 9 (3 rows)``.

    Row numbers are 1-based data rows: the first row below the header is row 1 (in a CSV
    it is line 2 of the file). Callers pass ``position + 1`` for 0-based positions.
    """
    shown = ", ".join(str(int(r)) for r in list(rows)[:limit])
    n = len(rows) if total is None else total
    more = f" and {n - limit} more" if n > limit else ""
    noun = "row" if n == 1 else "rows"
    return f"{noun} {shown}{more} ({n} {noun} in all)"
