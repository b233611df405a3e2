"""Columns derived from counts: percentages and rates recomputed from the published counts, statistics
suppressed with their count.

For each ``(derived, count)`` pair a stage declares, the gate works out from the true values what the
derived column is:

* a **share** of another column in the same row (``pct_retained = 100 * n_both / n_responded``, a rate
  per 1,000 of a published population): recomputed as ``scale * published count / published
  denominator``;
* a **share of a group total** (``pct = 100 * n / sum of n over the levels``): the group total becomes a
  published (rounded) count of its own, so the attacker's arithmetic sees it, and the share is recomputed
  from it;
* a **share of one row's count within a group** (retained at follow-up as a percentage of baseline):
  recomputed from the published counts of both rows;
* anything else (a mean, SD, median or CI of the people counted) is a **statistic**: published as
  computed unless its count is suppressed; a column named like a percentage or rate whose base cannot
  be found is **withheld** (its exact value would give its count back).

Percentages are shown as whole numbers, with one decimal place only when the rounded denominator is at
least 4,000 (the precision the HES methodology says a rounded denominator supports).
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool.errors import ReportError
from evaltool.report.structure import TOTAL_LABELS, Cell, CellPool, Relation

__all__ = ["DerivedPlan", "find_share_cell", "plan_derived", "plan_specs", "share_decimals"]

_SCALES = (100.0, 1.0, 1000.0, 100000.0, 1e6)


def share_decimals(scale: float, denominator: float) -> int:
    """Decimal places for a share of a rounded denominator.

    Examples
    --------
    >>> share_decimals(100, 250), share_decimals(100, 4000), share_decimals(1, 250), share_decimals(1000, 1655)
    (0, 1, 2, 1)
    """
    base = {100.0: 0, 1.0: 2}.get(float(scale), 1)
    return base + (1 if denominator >= 4000 else 0)


@dataclass
class _Spec:
    column: str
    count: str
    kind: str  # "share" | "group_share" | "anchor_share" | "statistic" | "withheld"
    scale: float = 100.0
    denom: str | None = None
    denom_is_count: bool = False
    group: tuple[str, ...] = ()
    group_rows: list[np.ndarray] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    rows_mask: np.ndarray | None = None  # a share on these rows only; a statistic on the others


@dataclass
class DerivedPlan:
    """How each derived column of one table is published."""

    table: str
    rule: str
    specs: list[_Spec]
    raw: pd.DataFrame
    decimals: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def virtual(self, pool: CellPool):
        """Add each group total a share is taken of to ``pool``; yield (cell id, relation)."""
        for s in self.specs:
            if s.kind != "group_share":
                continue
            vals = pd.to_numeric(self.raw[s.count], errors="coerce").to_numpy(float)
            s.group_ids = []
            for g, rows in enumerate(s.group_rows):
                total = float(np.nansum(vals[rows]))
                gid = pool.add(Cell(self.table, -1 - g, f"{s.count} total by {'/'.join(s.group) or 'table'}",
                                    total, self.rule))
                s.group_ids.append(gid)
                parts = [pool.id(self.table, int(i), s.count) for i in rows if np.isfinite(vals[i])]
                parts = [p for p in parts if p is not None]
                if parts:
                    yield gid, Relation((gid, *parts), (1.0,) + (-1.0,) * len(parts), "total",
                                        f"denominator of {self.table}.{s.column}")

    def apply(self, df: pd.DataFrame, display: pd.DataFrame, values: pd.DataFrame, hidden: pd.DataFrame,
              cells: list, pool: CellPool, ctl: Any, label: str) -> None:
        from evaltool.report.publish import SuppressedCell

        for s in self.specs:
            raw = pd.to_numeric(df[s.column], errors="coerce").to_numpy(float)
            out_disp: list[Any] = []
            out_val: list[float] = []
            dec_used = 0
            den_of_row: dict[int, float] = {}
            if s.kind == "group_share":
                for rows, gid in zip(s.group_rows, s.group_ids):
                    for i in rows:
                        den_of_row[int(i)] = np.nan if ctl.hidden[gid] else float(ctl.published[gid])
            for i in range(len(df)):
                cid = pool.id(self.table, i, s.count)
                count_hidden = cid is not None and bool(ctl.hidden[cid])
                if not np.isfinite(raw[i]):
                    out_disp.append(None)
                    out_val.append(np.nan)
                    continue
                if bool(hidden[s.column].iloc[i]):
                    # Already hidden by another count it derives from (a statistic of several counts hides with
                    # any of them): a later pair must not print it again.
                    out_disp.append(label)
                    out_val.append(np.nan)
                    continue
                if count_hidden:
                    self._hide(i, s, hidden, cells, SuppressedCell, f"derived from suppressed {s.count}")
                    out_disp.append(label)
                    out_val.append(np.nan)
                    continue
                if s.kind == "statistic" or (s.rows_mask is not None and not s.rows_mask[i]):
                    out_disp.append(float(raw[i]))
                    out_val.append(float(raw[i]))
                    continue
                if s.kind == "withheld":
                    self._hide(i, s, hidden, cells, SuppressedCell, "percentage of an unidentified denominator")
                    out_disp.append(label)
                    out_val.append(np.nan)
                    continue
                num = float(ctl.published[cid]) if cid is not None else np.nan
                if s.kind == "share":
                    if s.denom_is_count:
                        did = pool.id(self.table, i, s.denom)
                        den = np.nan if did is None or ctl.hidden[did] else float(ctl.published[did])
                    else:
                        den = float(pd.to_numeric(df[s.denom], errors="coerce").iloc[i])
                elif s.kind == "anchor_share":
                    r = next(a for rows, a in zip(s.group_rows, s.group_ids) if i in rows)
                    did = pool.id(self.table, r, s.denom)
                    den = np.nan if did is None or ctl.hidden[did] else float(ctl.published[did])
                else:
                    den = den_of_row.get(i, np.nan)
                if not (np.isfinite(num) and np.isfinite(den)):
                    self._hide(i, s, hidden, cells, SuppressedCell, "its denominator is suppressed")
                    out_disp.append(label)
                    out_val.append(np.nan)
                    continue
                if den == 0:
                    out_disp.append(None)
                    out_val.append(np.nan)
                    continue
                dec = share_decimals(s.scale, den)
                dec_used = max(dec_used, dec)
                v = round(s.scale * num / den, dec)
                out_disp.append(v)
                out_val.append(v)
            display[s.column] = pd.Series(out_disp, index=display.index, dtype=object)
            values[s.column] = out_val
            if s.kind not in ("statistic", "withheld"):
                self.decimals[s.column] = dec_used

    def _hide(self, i, s, hidden, cells, cls, why):
        hidden.loc[i, s.column] = True
        cells.append(cls(self.table, i, s.column, "derived", self.rule, why))


@functools.lru_cache(maxsize=1 << 16)
def _decimals(x: float) -> int:
    t = f"{x:.10f}".rstrip("0")
    return len(t.split(".")[1]) if "." in t else 0


def _close(a: np.ndarray, b: np.ndarray, memo: dict | None = None) -> bool:
    """``a`` (as the stage wrote it, possibly rounded) equals ``b`` to ``a``'s precision.

    ``np.allclose(a, b, rtol=1e-6, atol=...)`` on the finite pairs, written out (the same comparison,
    ``|a - b| <= atol + rtol |b|``, without its checks: the gate calls this tens of thousands of times).
    ``memo`` (for calls with the same ``a``) keeps the tolerance of each set of finite pairs.
    """
    ok = np.isfinite(a)
    ok &= np.isfinite(b)
    if not ok.any():
        return False
    av, bv = (a, b) if ok.all() else (a[ok], b[ok])
    key = ok.tobytes() if memo is not None else None
    atol = memo.get(key) if memo is not None else None
    if atol is None:
        dec = max(map(_decimals, av.tolist()))
        atol = 0.5 * 10.0 ** -dec + 1e-9 if dec < 6 else 1e-9
        if memo is not None:
            memo[key] = atol
    return bool((np.abs(av - bv) <= atol + 1e-6 * np.abs(bv)).all())


def plan_derived(table: str, df: pd.DataFrame, counts: list[str], derived: tuple | list, keys: list[str],
                 rule: str) -> DerivedPlan:
    """Work out what kind of column each declared derived column is (see module docstring)."""
    specs, warnings = plan_specs(table, df, counts, derived, keys)
    return DerivedPlan(table, rule, specs, df, warnings=warnings)


def plan_specs(table: str, df: pd.DataFrame, counts: list[str], derived: tuple | list,
               keys: list[str]) -> tuple[list[_Spec], list[str]]:
    """:func:`plan_derived`'s findings, ``(specs, warnings)``, as plain data (computed in a helper process)."""
    specs: list[_Spec] = []
    warnings: list[str] = []
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    index_cache: dict = {}  # row positions by key subset, shared by the table's derived columns
    for pair in derived:
        d, c = str(pair[0]), str(pair[1])
        if d not in df.columns or c not in df.columns:
            raise ReportError(f"table {table!r}: `derived_columns` pair ({d!r}, {c!r}) names a column the table "
                              f"does not have; its columns are {list(df.columns)}")
        if c not in counts:
            raise ReportError(f"table {table!r}: `derived_columns` pair ({d!r}, {c!r}): {c!r} is not one of the "
                              f"count columns {counts}")
        dv = pd.to_numeric(df[d], errors="coerce").to_numpy(float)
        cv = pd.to_numeric(df[c], errors="coerce").to_numpy(float)
        spec = _row_share(d, c, dv, cv, df, numeric, counts)
        if spec is None:
            spec = _group_share(d, c, dv, cv, df, keys, index_cache)
        if spec is None:
            spec = _anchor_share(d, c, dv, cv, df, keys, counts, index_cache)
        if spec is None:
            spec = _row_share(d, c, dv, cv, df, numeric, counts, partial=True)
        if spec is None:
            low = d.lower()
            if low.startswith(("pct", "percent", "prop", "rate")) or low.endswith(("_pct", "_rate", "per_1000")):
                # A percentage of an unknown base would let its count be worked back exactly: withhold it.
                spec = _Spec(d, c, "withheld")
                warnings.append(f"{table}.{d}: a percentage or rate of {c} whose denominator could not be identified "
                                "is not published")
            else:
                spec = _Spec(d, c, "statistic")
        specs.append(spec)
    return specs, warnings


def _row_share(d, c, dv, cv, df, numeric, counts, partial: bool = False) -> _Spec | None:
    """A share of another column in the same row, on every row (with ``partial``, on the rows where it
    holds, at least half of them: a rate per person for one group, per weighted person-time for another)."""
    best: tuple[int, _Spec] | None = None
    live = np.isfinite(dv) & np.isfinite(cv)
    for den in numeric:
        if den in (d, c):
            continue
        dn = pd.to_numeric(df[den], errors="coerce").to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(dn > 0, cv / dn, np.nan)
        for k in _SCALES:
            if _close(dv, k * ratio) and np.isfinite(ratio).sum() >= 1:
                return _Spec(d, c, "share", k, den, den in counts)
            if not partial:
                continue
            rows = np.array([live[i] and np.isfinite(ratio[i]) and _close(dv[i:i + 1], k * ratio[i:i + 1])
                             for i in range(len(dv))])
            if rows.sum() >= max(1, math.ceil(0.5 * live.sum())) and (best is None or rows.sum() > best[0]):
                best = (int(rows.sum()), _Spec(d, c, "share", k, den, den in counts, rows_mask=rows))
    return best[1] if best else None


def _indices(df: pd.DataFrame, S: tuple, cache: dict | None) -> dict:
    """Row positions of each group of ``df`` by the key columns ``S`` (kept in ``cache`` for the table's
    other derived columns)."""
    if cache is not None and S in cache:
        return cache[S]
    idx = df.reset_index(drop=True).groupby(list(S), sort=False, dropna=False).indices
    if cache is not None:
        cache[S] = idx
    return idx


def _key_subsets(df: pd.DataFrame, keys: list[str], largest: int) -> list[tuple[str, ...]]:
    """The key subsets of up to ``largest`` columns, smallest first, leaving out those with a column that holds
    one value on every row: such a subset groups the rows exactly as the smaller one without that column, which
    comes earlier in this order and was tried already (eq5d_change_detail: 8 subsets of its 6 keys instead of 64)."""
    varied = {k for k in keys if df[k].nunique(dropna=False) > 1}
    return [()] + [s for r in range(1, largest + 1) for s in itertools.combinations(keys, r) if varied.issuperset(s)]


def _group_share(d, c, dv, cv, df, keys, cache: dict | None = None) -> _Spec | None:
    not_total = ~df[keys].map(lambda v: str(v).strip().lower() in TOTAL_LABELS).any(axis=1).to_numpy() \
        if keys else np.ones(len(df), bool)
    subsets = _key_subsets(df, keys, len(keys))
    for S in subsets:
        if S:
            idx = _indices(df, S, cache)
            groups = [np.asarray(v)[not_total[np.asarray(v)]] for v in idx.values()]
        else:
            groups = [np.flatnonzero(not_total)]
        groups = [g for g in groups if len(g)]
        if not groups or all(len(g) < 2 for g in groups):
            continue
        tot = np.full(len(df), np.nan)
        for g in groups:
            tot[g] = np.nansum(cv[g])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(tot > 0, cv / tot, np.nan)
        for k in _SCALES:
            if _close(dv, k * ratio):
                return _Spec(d, c, "group_share", k, group=tuple(S), group_rows=groups)
    return None


def _anchor_share(d, c, dv, cv, df, keys, counts, cache: dict | None = None) -> _Spec | None:
    """A share of one row's count within each group (e.g. retained at follow-up as % of baseline)."""
    subsets = _key_subsets(df, keys, len(keys) - 1)
    for S in subsets:
        groups = ([np.arange(len(df))] if not S else [np.asarray(v) for v in _indices(df, S, cache).values()])
        for den in counts:
            dn = pd.to_numeric(df[den], errors="coerce").to_numpy(float)
            anchors: list[int] = []
            for g in groups:
                hit = None
                dvg, cvg, memo = dv[g], cv[g], {}
                for r in g:
                    if not (np.isfinite(dn[r]) and dn[r] > 0):
                        continue
                    for k in _SCALES:
                        if _close(dvg, k * cvg / dn[r], memo):
                            hit = (int(r), k)
                            break
                    if hit:
                        break
                if hit is None:
                    break
                anchors.append(hit)
            else:
                if anchors and len({k for _, k in anchors}) == 1:
                    spec = _Spec(d, c, "anchor_share", anchors[0][1], den, True, tuple(S), groups)
                    spec.group_ids = [r for r, _ in anchors]
                    return spec
    return None


def find_share_cell(bundle, tables: dict, section: str, raw: float):
    """The published (table, row, column) whose true derived value equals ``raw`` in ``section``."""
    for name, pt in tables.items():
        if pt.section != section or not pt.decimals:
            continue
        src = bundle.tables[name].data if name in bundle.tables else None
        if src is None:
            continue
        for col in pt.decimals:
            vals = pd.to_numeric(src[col], errors="coerce").to_numpy(float)
            hit = np.flatnonzero(np.isfinite(vals) & np.isclose(vals, raw, rtol=1e-9, atol=1e-12))
            if len(hit):
                return pt, int(hit[0]), col
    return None
