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
import pandas as pd

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
        first = None if v is None or (not isinstance(v, str) and pd.isna(v)) else (v if isinstance(v, str) else str(v))
    return rows, first


@dataclass
class Evaluated:
    """A table with every check's flag computed once and kept in the engine."""

    table: Any
    n: int
    keep: Any  # rows left after the exclusions (a boolean column expression on ``table``)


def evaluate(engine: Any, expr: Any, fatal: list[Pending], seq: list[Pending], name: str,
             helpers: tuple[str, ...] = ()) -> Evaluated:
    """Flag every check as a column, persist once, count all in one query, fetch examples where found.

    ``fatal`` checks are counted over all rows; ``seq`` checks (exclusions, in order) among the rows
    still kept by the exclusions before them (``action`` "exclude" or "always" removes rows). Columns
    starting with one of ``helpers`` (raw text, join keys) serve the predicates and are not kept,
    except those that show the checks' example values.
    """
    flags = {f"_e{i}": as_bool(p.pred(expr)) for i, p in enumerate(fatal)}
    flags.update({f"_x{i}": as_bool(p.pred(expr)) for i, p in enumerate(seq)})
    shown = {p.example_col for p in (*fatal, *seq) if p.example_col}
    cols = [c for c in expr.columns if not (helpers and c.startswith(helpers)) or c in shown]
    t = engine.persist((expr.mutate(**flags) if flags else expr).select(*cols, *flags), name)

    def keep_before(i: int) -> Any:
        k = None
        for j, q in enumerate(seq[:i]):
            if q.action in ("exclude", "always"):
                k = ~t[f"_x{j}"] if k is None else k & ~t[f"_x{j}"]
        return k

    preds = {f"_e{i}": t[f"_e{i}"] for i in range(len(fatal))}
    for i in range(len(seq)):
        kb = keep_before(i)
        preds[f"_x{i}"] = t[f"_x{i}"] if kb is None else t[f"_x{i}"] & kb
    counts = count_all(engine, t, preds, total="_n")
    for key, p in [*((f"_e{i}", p) for i, p in enumerate(fatal)), *((f"_x{i}", p) for i, p in enumerate(seq))]:
        p.n = counts[key]
        if p.n and p.action != "always":
            p.rows, p.example = examples(engine, t, preds[key], p.example_col)
    keep = keep_before(len(seq))
    return Evaluated(t, counts["_n"], ibis.literal(True) if keep is None else keep)
