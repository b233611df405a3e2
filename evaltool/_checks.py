"""Input checks as engine queries: each check is a predicate on an Ibis table.

A :class:`CheckRun` collects predicates, evaluates all of a table's counts in one aggregate query
and fetches at most ``EXAMPLES`` example rows (1-based source rows and the offending value) for the
checks that found something. Nothing but counts and example rows leaves the engine. Used by
:mod:`evaltool.inputs`; the rules themselves (which checks, which messages) live there.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis

EXAMPLES = 10

Pred = Callable[[Any], Any]  # table -> boolean column


@dataclass
class Pending:
    """A check waiting for its count: where, what, and the predicate."""

    table: str
    file: str
    column: str
    check: str
    message: str  # may hold {example}: the first offending value, repr'd
    pred: Pred
    action: str
    example_col: str | None = None  # column whose raw value fills {example}
    n: int = 0
    rows: tuple[int, ...] = ()
    example: Any = None


def as_bool(e: Any) -> Any:
    """A predicate with NULL read as False (SQL's three-valued logic would drop rows silently)."""
    return e.fill_null(False)


def count_all(engine: Any, t: Any, preds: dict[str, Any], *, total: str | None = None) -> dict[str, int]:
    """Counts of rows where each predicate holds (and ``total``: all rows), in one aggregate query."""
    if not preds and total is None:
        return {}
    aggs = {k: ibis.ifelse(as_bool(p), 1, 0).sum().cast("int64") for k, p in preds.items()}
    if total is not None:
        aggs[total] = t.count().cast("int64")
        preds = {**preds, total: None}
    res = engine.execute(t.aggregate(**aggs))
    return {k: int(0 if res[k].isna().iloc[0] else res[k].iloc[0]) for k in preds}


def examples(engine: Any, numbered: Any, pred: Any, col: str | None) -> tuple[tuple[int, ...], Any]:
    """The first ``EXAMPLES`` 1-based rows where ``pred`` holds (``numbered`` has ``_row``)."""
    cols = ["_row"] + ([col] if col and col in numbered.columns else [])
    ex = engine.execute(numbered.filter(as_bool(pred)).select(*cols).order_by("_row").limit(EXAMPLES))
    rows = tuple(int(r) for r in ex["_row"])
    first = None
    if col and col in ex.columns and len(ex):
        v = ex[col].iloc[0]
        first = None if v is None else (v if isinstance(v, str) else str(v))
    return rows, first


def resolve(engine: Any, base: Any, numbered_base: Any, build: Callable[[Any], Any],
            pending: list[Pending]) -> None:
    """Count every pending check on ``build(base)``; fetch examples where the count is positive.

    ``build`` turns the raw table into the table the predicates read (types, joins); it is applied
    to ``numbered_base`` (the raw table with ``_row``) for the example rows, so row numbers are the
    source's.
    """
    if not pending:
        return
    t = build(base)
    counts = count_all(engine, t, {f"c{i}": p.pred(t) for i, p in enumerate(pending)})
    hits = [(i, p) for i, p in enumerate(pending) if counts[f"c{i}"] > 0]
    if not hits:
        return
    tn = build(numbered_base)
    for i, p in hits:
        p.n = counts[f"c{i}"]
        p.rows, p.example = examples(engine, tn, p.pred(tn), p.example_col)
