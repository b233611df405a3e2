"""Which published counts are tied to which: the relations an attacker can use.

Every count a report publishes is a *cell* (table, row, column) with its true value. Cells are tied by
linear relations that hold in the data, whether or not the stage declared them:

* **totals**: a count equals the sum of another count over a group of rows (``n_valid`` is the sum of
  ``n`` over levels; the overall theme count is the sum of the counts by role in another table);
* **row totals**: a count equals the sum of other counts in its row (responses = positive + neutral + ...);
* **flows**: a count equals the previous row's count less this row's exclusions (cohort flow);
* **same quantity**: the same number published twice (the matched cohort in two tables, a denominator
  repeated on every row).

:func:`find_relations` finds them from the true values (declared or not): a relation that holds only
by coincidence is still true, so treating it as known to an attacker errs on the safe side.
"""
from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Cell", "CellPool", "Relation", "TOTAL_LABELS", "find_relations", "key_columns"]

#: Key values that mark a row as the total of the other rows.
TOTAL_LABELS = frozenset({"all", "total", "overall", "everyone", "all groups", "all responses", "any"})
_MAX_KEYS_FOR_SUBSETS = 5
_MAX_ROW_TOTAL_COLUMNS = 7


@dataclass(frozen=True)
class Cell:
    """One published count: where it is, its true value and the rule it falls under."""

    table: str
    row: int
    column: str
    raw: float
    rule: str
    keys: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.table}[{self.row}].{self.column}"


@dataclass(frozen=True)
class Relation:
    """``sum(coef[i] * x[cells[i]]) == 0`` over the true counts."""

    cells: tuple[int, ...]
    coef: tuple[float, ...]
    kind: str  # "total" | "row_total" | "flow" | "same"
    text: str = ""


@dataclass
class CellPool:
    """All count cells under control, with a lookup by position."""

    cells: list[Cell] = field(default_factory=list)
    index: dict[tuple[str, int, str], int] = field(default_factory=dict)

    def add(self, cell: Cell) -> int:
        k = (cell.table, cell.row, cell.column)
        if k in self.index:
            return self.index[k]
        self.index[k] = len(self.cells)
        self.cells.append(cell)
        return self.index[k]

    def id(self, table: str, row: int, column: str) -> int | None:
        return self.index.get((table, row, column))

    @property
    def raw(self) -> np.ndarray:
        return np.array([c.raw for c in self.cells], float)


def key_columns(df: pd.DataFrame, exclude: set[str]) -> list[str]:
    """Columns that label rows: text, booleans, dates and whole-number columns that are not counts.

    Examples
    --------
    >>> key_columns(pd.DataFrame({"g": ["a"], "level": [1], "n": [3], "mean": [0.5]}), {"n"})
    ['g', 'level']
    """
    out = []
    for c in df.columns:
        if c in exclude:
            continue
        s = df[c]
        if pd.api.types.is_float_dtype(s):
            continue
        out.append(str(c))
    return out


def _norm(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(v).strip()


def _is_total_label(v: object) -> bool:
    return _norm(v).lower() in TOTAL_LABELS


def _compatible(a: Cell, b: Cell) -> tuple[bool, int]:
    """(no shared key disagrees, number of shared keys that agree)."""
    da, db = dict(a.keys), dict(b.keys)
    shared = set(da) & set(db)
    agree = 0
    for k in shared:
        if da[k] != db[k] and not (_is_total_label(da[k]) or _is_total_label(db[k])):
            return False, 0
        agree += da[k] == db[k]
    return True, agree


def _group_totals(pool: CellPool, table: str, df: pd.DataFrame, keys: list[str], counts: list[str],
                  by_value: dict[float, list[int]], min_link: float) -> list[Relation]:
    rels: list[Relation] = []
    key_sets = [()] + [s for r in range(1, len(keys)) for s in itertools.combinations(keys, r)] \
        if len(keys) <= _MAX_KEYS_FOR_SUBSETS else [()] + [(k,) for k in keys]
    not_total = ~df[keys].map(_is_total_label).any(axis=1).to_numpy() if keys else np.ones(len(df), bool)
    seen: set[tuple[int, ...]] = set()
    for part in counts:
        vals = pd.to_numeric(df[part], errors="coerce")
        for S in key_sets:
            rows = np.flatnonzero(not_total & vals.notna().to_numpy())
            if len(rows) < 2:
                continue
            sub = df.iloc[rows]
            groups = [rows] if not S else [rows[np.asarray(ix)] for ix in
                                           sub.reset_index(drop=True).groupby(list(S), sort=False, dropna=False).indices.values()]
            for g in groups:
                if len(g) < 2:
                    continue
                s = float(vals.iloc[g].sum())
                if s <= 0:
                    continue
                members = tuple(pool.id(table, int(i), part) for i in g)
                if any(m is None for m in members):
                    continue
                gkeys = {k: _norm(df[k].iloc[g[0]]) for k in S}
                probe = Cell(table, -1, part, s, "", tuple(gkeys.items()))
                for t in by_value.get(s, ()):
                    if t in members:
                        continue
                    tc = pool.cells[t]
                    ok, agree = _compatible(probe, tc)
                    if not ok:
                        continue
                    # The total must not be more specific than the group: a key the source table has but
                    # the group does not fix must be a total label ("All") in the target, or absent.
                    if any(k in keys and k not in gkeys and not _is_total_label(v) for k, v in tc.keys):
                        continue
                    if tc.table == table and tc.column == part and not any(
                            _is_total_label(v) for k, v in tc.keys if k not in gkeys):
                        continue  # another row of the same column is not a total of this group
                    if tc.table != table and agree == 0 and s < min_link:
                        continue
                    sig = (t, *sorted(members))
                    if sig in seen:
                        continue
                    seen.add(sig)
                    rels.append(Relation((t, *members), (1.0,) + (-1.0,) * len(members), "total",
                                         f"{tc.where} = sum of {table}.{part} over {len(members)} rows"
                                         + (f" with {gkeys}" if gkeys else "")))
    return rels


def _row_totals(pool: CellPool, table: str, df: pd.DataFrame, counts: list[str]) -> list[Relation]:
    rels = []
    if len(counts) < 3 or len(counts) > _MAX_ROW_TOTAL_COLUMNS:
        return rels
    vals = df[counts].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    for j, tot in enumerate(counts):
        others = [k for k in range(len(counts)) if k != j]
        for r in range(2, len(others) + 1):
            for sub in itertools.combinations(others, r):
                lhs = vals[:, j]
                rhs = vals[:, list(sub)].sum(axis=1)
                ok = np.isfinite(lhs) & np.isfinite(rhs) & (lhs == rhs) & (lhs > 0)
                for i in np.flatnonzero(ok):
                    ids = [pool.id(table, int(i), counts[j])] + [pool.id(table, int(i), counts[k]) for k in sub]
                    if any(x is None for x in ids):
                        continue
                    rels.append(Relation(tuple(ids), (1.0,) + (-1.0,) * len(sub), "row_total",
                                         f"{table}[{i}]: {tot} = " + " + ".join(counts[k] for k in sub)))
    return rels


def _flows(pool: CellPool, table: str, df: pd.DataFrame, counts: list[str]) -> list[Relation]:
    rels = []
    vals = df[counts].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    for a, b in itertools.permutations(range(len(counts)), 2):
        rem, exc = vals[:, a], vals[:, b]
        for i in range(1, len(df)):
            for p in range(i - 1, -1, -1):  # the previous row with a value (funnels skip nothing, but be lenient)
                if np.isfinite(rem[p]):
                    break
            if not (np.isfinite(rem[i]) and np.isfinite(exc[i]) and np.isfinite(rem[p])) or exc[i] <= 0:
                continue
            if rem[p] - exc[i] == rem[i]:
                ids = (pool.id(table, p, counts[a]), pool.id(table, i, counts[a]), pool.id(table, i, counts[b]))
                if None not in ids:
                    rels.append(Relation(ids, (1.0, -1.0, -1.0), "flow",
                                         f"{table}: row {p} {counts[a]} = row {i} {counts[a]} + {counts[b]}"))
    return rels


def find_relations(pool: CellPool, frames: dict[str, tuple[pd.DataFrame, list[str], list[str]]],
                   min_link: float = 8.0) -> list[Relation]:
    """All relations among the pool's cells.

    Parameters
    ----------
    pool : CellPool
        Every controlled count (tables and facts).
    frames : dict
        ``name -> (true table, key columns, count columns)`` for each table whose cells are in the pool.
    min_link : float
        Equal counts in different tables with no key column in common are treated as the same
        quantity only from this value up (small equal counts with nothing else in common are usually
        coincidences; equal counts that share a key value are linked at any size).
    """
    by_value: dict[float, list[int]] = defaultdict(list)
    for i, c in enumerate(pool.cells):
        if np.isfinite(c.raw) and c.raw > 0:
            by_value[c.raw].append(i)
    rels: list[Relation] = []
    for name, (df, keys, counts) in frames.items():
        rels += _group_totals(pool, name, df, keys, counts, by_value, min_link)
        rels += _row_totals(pool, name, df, counts)
        rels += _flows(pool, name, df, counts)
    # The same quantity in two places.
    for v, ids in by_value.items():
        for a, b in itertools.combinations(ids, 2):
            ca, cb = pool.cells[a], pool.cells[b]
            if ca.table == cb.table and ca.column != cb.column:
                continue
            ok, agree = _compatible(ca, cb)
            if not ok:
                continue
            if ca.table == cb.table or v < min_link:
                # Within a table (repeats of one denominator are found as group totals), and for small
                # counts (primary-suppressed wherever they appear), link only cells with identical keys.
                if dict(ca.keys) != dict(cb.keys):
                    continue
            rels.append(Relation((a, b), (1.0, -1.0), "same", f"{ca.where} = {cb.where}"))
    return rels
