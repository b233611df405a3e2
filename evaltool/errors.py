"""Exception and warning classes used across evaltool.

Every message names the argument (in backticks), file, column or rows at fault,
says what was expected and what was found, and where possible points at the fix.
"""
from __future__ import annotations

from collections.abc import Sequence


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

    Row numbers are 1-based data rows as a spreadsheet user would count them
    below the header (the first data row is row 2 of the file).
    """
    shown = ", ".join(str(int(r)) for r in list(rows)[:limit])
    n = len(rows) if total is None else total
    more = f" and {n - limit} more" if n > limit else ""
    noun = "row" if n == 1 else "rows"
    return f"{noun} {shown}{more} ({n} {noun} in all)"
