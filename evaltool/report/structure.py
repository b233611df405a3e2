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

import functools
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["TOTAL_LABELS", "Cell", "CellPool", "Relation", "find_relations", "key_columns", "label_text"]

#: Key values that mark a row as the total of the other rows.
TOTAL_LABELS = frozenset({"all", "total", "overall", "everyone", "all groups", "all responses", "any"})
_MAX_KEYS_FOR_SUBSETS = 5
_MAX_ROW_TOTAL_COLUMNS = 7
#: Equal counts with nothing else in common are linked from this size (smaller ones are mostly chance).
_LARGE = 100.0


@dataclass(frozen=True)
class Cell:
    """One published count: where it is, its true value and the rule it falls under."""

    table: str
    row: int
    column: str
    raw: float
    rule: str
    keys: tuple[tuple[str, str], ...] = ()
    section: str = ""

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


def label_text(v: object) -> str:
    """A key cell as text for comparing labels: stripped, and empty for a missing value."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(v).strip()


def _is_total_label(v: object) -> bool:
    return _total_text(v) if isinstance(v, str) else label_text(v).lower() in TOTAL_LABELS


@functools.lru_cache(maxsize=1 << 14)
def _total_text(v: str) -> bool:
    return v.strip().lower() in TOTAL_LABELS


#: Key columns that vary within each table (set by :func:`find_relations`); keys that are constant in a
#: table (a value-set label, a survey name) say nothing about which cell is which.
_INFORMATIVE: dict[str, set[str]] = {}


def _compatible(a: Cell, b: Cell) -> tuple[bool, int]:
    """(no shared key disagrees, 1 if the agreeing keys identify the cells well enough to tie them).

    Agreement is strong when at least two informative keys agree, or the agreeing keys are all the
    informative keys of one of the two tables (a table keyed by group alone); agreement on the group
    alone between two finer tables is as weak as no shared key at all.
    """
    da, db = dict(a.keys), dict(b.keys)
    shared = set(da) & set(db)
    agreeing = set()
    for k in shared:
        if da[k] != db[k] and not (_is_total_label(da[k]) or _is_total_label(db[k])):
            return False, 0
        if da[k] == db[k]:
            agreeing.add(k)
    ia = _INFORMATIVE.get(a.table, set(da))
    ib = _INFORMATIVE.get(b.table, set(db))
    informative = agreeing & (ia | ib)
    strong = bool(agreeing) and (len(informative) >= 2 or (ia and ia <= agreeing) or (ib and ib <= agreeing))
    return True, int(bool(strong))


def _agreeing_informative(a: Cell, b: Cell) -> int:
    """How many informative key columns (varying in either table) the two cells share with equal values."""
    da, db = dict(a.keys), dict(b.keys)
    inf = _INFORMATIVE.get(a.table, set(da)) | _INFORMATIVE.get(b.table, set(db))
    return sum(1 for k in set(da) & set(db) & inf if da[k] == db[k])


def _systematic(hits: int, chances: int) -> bool:
    """A relation is structural when it holds for at least half of the places it could (and twice)."""
    return hits >= max(2, math.ceil(0.5 * chances))


def _group_sum(vals: pd.Series, arr: np.ndarray, g: np.ndarray) -> float:
    """``vals.iloc[g].sum()``: for numbers numpy's sum of the same values in the same order, without pandas'
    overhead per call (the gate sums thousands of groups); other dtypes through pandas."""
    return float(arr[g].sum()) if arr.dtype.kind in "iuf" else float(vals.iloc[g].sum())


def _row_groups(codes: dict[str, np.ndarray], rows: np.ndarray, by: tuple[str, ...]) -> list[np.ndarray]:
    """The groups of ``rows`` with equal values in the columns ``by`` (missing values a group of their own), the
    groups ``df.iloc[rows].groupby(list(by), sort=False, dropna=False)`` finds, each group's rows in order and
    the groups in order of their first row (pandas 3's order; pandas 2 put some groups with a missing key
    elsewhere), from each column's factorised ``codes``: without pandas' cost per call (the gate groups every
    key subset of every table).

    Examples
    --------
    >>> df = pd.DataFrame({"a": ["z", "y", "z", None, "y"], "b": [2, 1, 2, 1, None]})
    >>> codes = {c: pd.factorize(df[c], use_na_sentinel=False)[0] for c in df}
    >>> [g.tolist() for g in _row_groups(codes, np.arange(5), ("a",))]
    [[0, 2], [1, 4], [3]]
    >>> [g.tolist() for g in _row_groups(codes, np.array([1, 2, 3, 4]), ("a", "b"))]
    [[1], [2], [3], [4]]
    """
    if not by:
        return [rows]
    combined = np.zeros(len(rows), dtype=np.int64)
    for k in by:
        c = codes[k][rows]
        combined = combined * (int(codes[k].max(initial=0)) + 1) + c
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")  # positions by group, in row order within each
    parts = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(first)))[:-1])
    return [rows[parts[g]] for g in np.argsort(first, kind="stable")]


def _group_totals(pool: CellPool, table: str, df: pd.DataFrame, keys: list[str], counts: list[str],
                  by_value: dict[float, list[int]], min_link: float, section: str = "") -> list[Relation]:
    rels: list[Relation] = []
    key_sets = [()] + [s for r in range(1, len(keys)) for s in itertools.combinations(keys, r)] \
        if len(keys) <= _MAX_KEYS_FOR_SUBSETS else [()] + [(k,) for k in keys]
    not_total = ~df[keys].map(_is_total_label).any(axis=1).to_numpy() if keys else np.ones(len(df), bool)
    seen: set[tuple[int, ...]] = set()
    normed_cols: dict[str, list[str]] = {}

    def normed(k: str) -> list[str]:  # a key column's values as label_text writes them, once per table
        if k not in normed_cols:
            col = df[k]
            normed_cols[k] = [label_text(col.iloc[i]) for i in range(len(df))]
        return normed_cols[k]

    # The row groups of each key subset, for each set of rows (count columns usually share theirs).
    grouped: dict[tuple[bytes, tuple[str, ...]], list[np.ndarray]] = {}
    codes = {k: pd.factorize(df[k], use_na_sentinel=False)[0] for k in keys}
    for part in counts:
        vals = pd.to_numeric(df[part], errors="coerce")
        finite = vals[not_total].dropna()
        if len(finite) >= 3 and finite.nunique() == 1:
            # One number beside every row (the matched cohort's size beside each covariate): its sums over rows
            # are multiples of it, and any count equal to one (3 x 39 = 117 people) is chance, not a total.
            continue
        arr = vals.to_numpy()
        rows = np.flatnonzero(not_total & vals.notna().to_numpy())
        for S in key_sets:
            if len(rows) < 2:
                continue
            gk = (rows.tobytes(), S)
            if gk not in grouped:
                grouped[gk] = _row_groups(codes, rows, S)
            groups = [g for g in grouped[gk] if len(g) >= 2 and _group_sum(vals, arr, g) > 0]
            found: dict[tuple[str, str], list[tuple[int, tuple[int, ...], dict, int, float]]] = defaultdict(list)
            for g in groups:
                s = _group_sum(vals, arr, g)
                members = tuple(pool.id(table, int(i), part) for i in g)
                if any(m is None for m in members):
                    continue
                gkeys = {k: normed(k)[g[0]] for k in S}
                probe = Cell(table, -1, part, s, "", tuple(gkeys.items()))
                for t in by_value.get(s, ()):
                    if t in members:
                        continue
                    tc = pool.cells[t]
                    ok, agree = _compatible(probe, tc)
                    if not ok:
                        continue
                    # A denominator repeated on every row of the group (n_valid beside each level) is its total.
                    repeated = tc.table == table and tc.row in set(int(i) for i in g) and all(
                        pool.id(table, int(i), tc.column) is not None
                        and pool.cells[pool.id(table, int(i), tc.column)].raw == s for i in g)
                    # Otherwise the total must not be more specific than the group: a key the source table has
                    # but the group does not fix must be a total label ("All") in the target, or absent.
                    if not repeated and any(k in keys and k not in gkeys and not _is_total_label(v) for k, v in tc.keys):
                        continue
                    if tc.table == table and tc.column == part and not any(
                            _is_total_label(v) for k, v in tc.keys if k not in gkeys):
                        continue  # another row of the same column is not a total of this group
                    found[(tc.table, tc.column)].append((t, members, gkeys, agree, s))
            for (tt, _tcol), hits in found.items():
                # Keys in common that agree, a headline fact or a large count: not chance.
                # Across tables: small totals are left out (they and their parts are all suppressed, and
                # equal small numbers in unrelated tables are mostly chance).
                # With no key in common, only a headline fact of the same section is taken as a total of a
                # single group (a sum of a whole column equal to an unrelated count is usually chance).
                hits = [h for h in hits if tt == table or (h[4] >= min_link and (
                    h[3] > 0 or (pool.cells[h[0]].table.startswith("facts.") and pool.cells[h[0]].section == section)
                    or (len(groups) > 1 and h[4] >= _LARGE and pool.cells[h[0]].section == section)))]
                n_groups = len({m for _, m, *_ in hits})
                if not hits or (len(groups) > 1 and not _systematic(n_groups, len(groups))):
                    continue
                for t, members, gkeys, _, _ in hits:
                    sig = (t, *sorted(members))
                    if sig in seen:
                        continue
                    seen.add(sig)
                    tc = pool.cells[t]
                    rels.append(Relation((t, *members), (1.0,) + (-1.0,) * len(members), "total",
                                         f"{tc.where} = sum of {table}.{part} over {len(members)} rows"
                                         + (f" with {gkeys}" if gkeys else "")))
    return rels


def _row_totals(pool: CellPool, table: str, df: pd.DataFrame, counts: list[str]) -> list[Relation]:
    rels: list[Relation] = []
    if len(counts) < 3 or len(counts) > _MAX_ROW_TOTAL_COLUMNS:
        return rels
    vals = df[counts].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    for j, tot in enumerate(counts):
        others = [k for k in range(len(counts)) if k != j]
        for r in range(2, len(others) + 1):
            for sub in itertools.combinations(others, r):
                lhs = vals[:, j]
                rhs = vals[:, list(sub)].sum(axis=1)
                live = np.isfinite(lhs) & np.isfinite(rhs) & (lhs > 0)
                ok = live & (lhs == rhs)
                if not ok.any() or (live.sum() > 1 and not _systematic(int(ok.sum()), int(live.sum()))):
                    continue
                for i in np.flatnonzero(ok):
                    ids = [pool.id(table, int(i), counts[j])] + [pool.id(table, int(i), counts[k]) for k in sub]
                    if any(x is None for x in ids):
                        continue
                    rels.append(Relation(tuple(ids), (1.0,) + (-1.0,) * len(sub), "row_total",
                                         f"{table}[{i}]: {tot} = " + " + ".join(counts[k] for k in sub)))
    return rels


def _flows(pool: CellPool, table: str, df: pd.DataFrame, counts: list[str]) -> list[Relation]:
    rels: list[Relation] = []
    vals = df[counts].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    for a, b in itertools.permutations(range(len(counts)), 2):
        rem, exc = vals[:, a], vals[:, b]
        hits, chances = [], 0
        for i in range(1, len(df)):
            p = i - 1
            if not (np.isfinite(rem[i]) and np.isfinite(exc[i]) and np.isfinite(rem[p])) or exc[i] <= 0:
                continue
            chances += 1
            if rem[p] - exc[i] == rem[i]:
                hits.append((p, i))
        if not hits or (chances > 1 and not _systematic(len(hits), chances)):
            continue
        for p, i in hits:
            ids = (pool.id(table, p, counts[a]), pool.id(table, i, counts[a]), pool.id(table, i, counts[b]))
            if None not in ids:
                rels.append(Relation(ids, (1.0, -1.0, -1.0), "flow",
                                     f"{table}: row {p} {counts[a]} = row {i} {counts[a]} + {counts[b]}"))
    return rels


def _universe(section: str) -> str:
    """The part of the evaluation a count belongs to (its stage's section): monthly admissions of the whole
    population (cohort), matched people (matching), survey respondents (PROMs), interviewees (qualitative)."""
    return section


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
    _INFORMATIVE.clear()
    for name, (df, keys, _counts) in frames.items():
        _INFORMATIVE[name] = {k for k in keys if df[k].nunique(dropna=False) > 1}
    by_value: dict[float, list[int]] = defaultdict(list)
    for i, c in enumerate(pool.cells):
        if np.isfinite(c.raw) and c.raw > 0:
            by_value[c.raw].append(i)
    rels: list[Relation] = []
    sections: dict[str, str] = {}  # each table's section: that of its first cell in the pool
    for c in pool.cells:
        sections.setdefault(c.table, c.section)
    for name, (df, keys, counts) in frames.items():
        section = sections.get(name, "")
        rels += _group_totals(pool, name, df, keys, counts, by_value, min_link, section)
        rels += _row_totals(pool, name, df, counts)
        rels += _flows(pool, name, df, counts)
    # The same quantity in two places. Rows of one table: identical keys only (repeats of one
    # denominator are found as group totals). Across tables: keys that agree wherever both tables have
    # them, and a pattern rather than a coincidence -- the two columns agree on at least half their
    # cells, or the count is a headline fact, or it is 100 or more with identical or no shared keys.
    nonzero: dict[tuple[str, str], int] = defaultdict(int)
    for c in pool.cells:
        if np.isfinite(c.raw) and c.raw > 0:
            nonzero[(c.table, c.column)] += 1
    cand: dict[tuple, list[tuple[int, int, bool, int]]] = defaultdict(list)
    for v, ids in by_value.items():
        for a, b in itertools.combinations(ids, 2):
            ca, cb = pool.cells[a], pool.cells[b]
            if ca.table == cb.table and ca.column != cb.column:
                continue
            identical = dict(ca.keys) == dict(cb.keys)
            if (ca.table == cb.table or v < min_link) and not identical:
                continue
            ok, agree = _compatible(ca, cb)
            if not ok:
                continue
            pair = tuple(sorted([(ca.table, ca.column), (cb.table, cb.column)]))
            cand[pair].append((a, b, identical, agree))
    for pair, links in cand.items():
        (ta, _), (tb, _) = pair
        fact = ta.startswith("facts.") or tb.startswith("facts.")
        if fact:
            # A headline fact is the same quantity as a count of its own section's tables only.
            links = [lk for lk in links if pool.cells[lk[0]].section == pool.cells[lk[1]].section]
        small_side = 0 if nonzero[pair[0]] <= nonzero[pair[1]] else 1
        matched = {(a if (pool.cells[a].table, pool.cells[a].column) == pair[small_side] else b)
                   for a, b, _, agree in links if agree > 0}
        systematic = ta == tb or fact or len(matched) >= max(1, math.ceil(0.5 * nonzero[pair[small_side]]))
        for a, b, identical, agree in links:
            v = pool.cells[a].raw
            # Rows that agree on two or more informative keys are taken as the same quantity even
            # without a pattern: a reader matches them by their labels.
            strong = _agreeing_informative(pool.cells[a], pool.cells[b]) >= 2
            # A large equal count with no key in common is the same quantity only within one part of the
            # evaluation: 105 PROM responses or 105 matched people equal to 105 admissions in some month is
            # chance (a real repeat across parts is a headline fact or shares keys, and is linked above).
            same_universe = _universe(pool.cells[a].section) == _universe(pool.cells[b].section)
            if identical or fact or strong or (agree > 0 and systematic) or (agree == 0 and v >= _LARGE
                                                                          and same_universe):
                ca, cb = pool.cells[a], pool.cells[b]
                rels.append(Relation((a, b), (1.0, -1.0), "same", f"{ca.where} = {cb.where}"))
    return rels
