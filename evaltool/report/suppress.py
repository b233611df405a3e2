"""Primary and secondary suppression over every published count at once, proved by an attack.

1. **Primary**: counts from 1 to ``min_count - 1`` of their rule are suppressed.
2. **Secondary, by rule of thumb**: wherever a relation (a total, a flow, the same quantity twice) has
   exactly one suppressed cell, the smallest non-zero published cell in it is suppressed too (repeated
   until nothing changes; zeros stay visible because ``*`` means "1 or more").
3. **Secondary, by attack**: every suppressed cell's narrowest provable range is computed
   (:func:`evaltool.report.attack.feasible_range` over published, rounded values and all relations);
   while any range is narrower than the rule's protection, one more cell of a relation through that
   cell is suppressed and the attack is run again.

The result says for every suppressed cell why: ``primary`` or ``secondary`` with the relation that
required it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evaltool.report.attack import LinearProblem, RangeSolver, published_interval
from evaltool.report.rules import DisclosureRules
from evaltool.report.structure import CellPool, Relation

__all__ = ["Control", "attack_ranges", "control_cells", "publish_count"]


def publish_count(raw: float, round_to: int) -> float:
    """A count rounded to the nearest ``round_to``, halves up (HES convention: 12.5 -> 15).

    Examples
    --------
    >>> publish_count(12, 5), publish_count(13, 5), publish_count(2522, 5), publish_count(3, 1)
    (10.0, 15.0, 2520.0, 3.0)
    """
    if not math.isfinite(raw):
        return raw
    b = max(1, int(round_to))
    return float(math.floor(raw / b + 0.5) * b)


@dataclass(frozen=True)
class Control:
    """Which cells are suppressed, why, their published values and the attacker's best ranges."""

    hidden: np.ndarray          # bool per cell
    reason: tuple[str, ...]     # "" (published) | "primary" | "secondary: <relation>"
    published: np.ndarray       # published value per cell (NaN where hidden)
    ranges: dict[int, tuple[float, float]]  # attacker's narrowest range for each hidden cell
    failures: tuple[str, ...]   # cells still narrower than their protection (should be empty)
    n_lp: int = 0


def _components(n: int, rels: list[Relation]) -> np.ndarray:
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for r in rels:
        a = find(r.cells[0])
        for c in r.cells[1:]:
            b = find(c)
            if a != b:
                parent[b] = a
    return np.array([find(i) for i in range(n)])


def attack_ranges(pool: CellPool, rels: list[Relation], hidden: np.ndarray, published: np.ndarray,
                  rules: DisclosureRules, targets: list[int] | None = None) -> dict[int, tuple[float, float]]:
    """The narrowest range an attacker can prove for each hidden cell (or each of ``targets``).

    Published cells are known to within their rounding; hidden cells only to be at least 1; every
    relation holds. Cells that are the same quantity become one unknown (known as closely as its
    best-known copy). Cells with no relation to anything keep their a-priori range.
    """
    n = len(pool.cells)
    same = [r for r in rels if r.kind == "same"]
    rep = _components(n, same)
    lo_all = np.zeros(n)
    hi_all = np.full(n, np.inf)
    for g in range(n):
        if hidden[g]:
            lo_all[g], hi_all[g] = 1.0, np.inf
        else:
            rule = rules.count_rule(pool.cells[g].rule)
            lo_all[g], hi_all[g] = published_interval(published[g], rule.round_to, rule.min_count)
    # Intersect the copies' ranges on their representative.
    lo_rep, hi_rep = lo_all.copy(), hi_all.copy()
    for g in range(n):
        r = rep[g]
        lo_rep[r] = max(lo_rep[r], lo_all[g])
        hi_rep[r] = min(hi_rep[r], hi_all[g])
    eqs: dict[tuple, tuple[tuple[int, ...], tuple[float, ...]]] = {}
    for r in rels:
        if r.kind == "same":
            continue
        acc: dict[int, float] = {}
        for c, a in zip(r.cells, r.coef):
            acc[int(rep[c])] = acc.get(int(rep[c]), 0.0) + a
        acc = {c: a for c, a in acc.items() if a != 0}
        if len(acc) < 2:
            continue
        key = tuple(sorted(acc.items()))
        eqs.setdefault(key, (tuple(acc), tuple(acc.values())))
    red = [Relation(idx, coef, "total") for idx, coef in eqs.values()]
    # What the attacker learns from relations among published counts alone is carried by tightening
    # every count's range (bound propagation to a fixed point); the linear programmes then need only
    # the relations that involve a suppressed count, which keeps them small.
    hid_rep = np.zeros(n, bool)
    hid_rep[rep[np.flatnonzero(hidden)]] = True
    _propagate(red, lo_rep, hi_rep)
    red = [r for r in red if hid_rep[list(r.cells)].any()]
    comp = _components(n, red)
    targets = [int(i) for i in np.flatnonzero(hidden)] if targets is None else targets
    by_comp: dict[int, list[int]] = {}
    for t in targets:
        by_comp.setdefault(int(comp[rep[t]]), []).append(t)
    rels_by_comp: dict[int, list[Relation]] = {}
    for r in red:
        rels_by_comp.setdefault(int(comp[r.cells[0]]), []).append(r)
    out: dict[int, tuple[float, float]] = {}
    for cid, ts in by_comp.items():
        crels = rels_by_comp.get(cid, [])
        if not crels:
            for t in ts:
                out[t] = (float(lo_rep[rep[t]]), float(hi_rep[rep[t]]))
            continue
        members = sorted({c for r in crels for c in r.cells} | {int(rep[t]) for t in ts})
        local = {g: i for i, g in enumerate(members)}
        prob = LinearProblem(len(members), lo_rep[members].copy(), hi_rep[members].copy())
        for r in crels:
            prob.add_equation([local[c] for c in r.cells], r.coef)
        solver = RangeSolver(prob)
        done: dict[int, tuple[float, float]] = {}
        for t in ts:
            k = local[int(rep[t])]
            if k not in done:
                done[k] = solver.range(k)
            out[t] = done[k]
    return out


def _propagate(rels: list[Relation], lo: np.ndarray, hi: np.ndarray, max_passes: int = 20) -> None:
    """Tighten integer bounds ``lo``/``hi`` in place from ``sum(coef * x) = 0`` relations (interval arithmetic)."""
    for _ in range(max_passes):
        changed = False
        for r in rels:
            idx = np.fromiter(r.cells, int)
            a = np.fromiter(r.coef, float)
            # a_j x_j = -sum_{i != j} a_i x_i: bounds of each term a_i x_i.
            tlo = np.where(a > 0, a * lo[idx], a * hi[idx])
            thi = np.where(a > 0, a * hi[idx], a * lo[idx])
            for j, (aj, c) in enumerate(zip(a, idx)):
                rest_lo = np.delete(tlo, j).sum()
                rest_hi = np.delete(thi, j).sum()
                if not (np.isfinite(rest_lo) or np.isfinite(rest_hi)):
                    continue
                # a_j x_j in [-rest_hi, -rest_lo]
                if aj > 0:
                    new_lo, new_hi = -rest_hi / aj, -rest_lo / aj
                else:
                    new_lo, new_hi = -rest_lo / aj, -rest_hi / aj
                if np.isfinite(new_lo) and math.ceil(new_lo - 1e-9) > lo[c]:
                    lo[c] = math.ceil(new_lo - 1e-9)
                    changed = True
                if np.isfinite(new_hi) and math.floor(new_hi + 1e-9) < hi[c]:
                    hi[c] = math.floor(new_hi + 1e-9)
                    changed = True
        if not changed:
            return


def control_cells(pool: CellPool, rels: list[Relation], rules: DisclosureRules, *,
                  max_rounds: int = 200, fixed: frozenset[int] | set[int] = frozenset()) -> Control:
    """Suppress and round every cell in ``pool`` so no suppressed count can be recovered.

    ``fixed`` cells are known to the reader whatever the report prints (a column total published
    elsewhere): never chosen for secondary suppression.

    Examples
    --------
    >>> from evaltool.report.structure import Cell, Relation
    >>> pool = CellPool()
    >>> for i, v in enumerate([3, 40, 52, 95]):
    ...     _ = pool.add(Cell("t", i, "n", float(v), "hes"))
    >>> rel = Relation((3, 0, 1, 2), (1, -1, -1, -1), "total")
    >>> c = control_cells(pool, [rel], DisclosureRules())
    >>> c.hidden.tolist(), c.published.tolist()[2:]
    ([True, True, False, False], [50.0, 95.0])
    """
    n = len(pool.cells)
    raw = pool.raw
    rule_of = [rules.count_rule(c.rule) for c in pool.cells]
    reason = [""] * n
    hidden = np.zeros(n, bool)
    for i, (v, r) in enumerate(zip(raw, rule_of)):
        if math.isfinite(v) and 0 < v < r.min_count:
            hidden[i] = True
            reason[i] = "primary"
    published = np.array([publish_count(v, r.round_to) for v, r in zip(raw, rule_of)])
    if not rules.secondary:
        return Control(hidden, tuple(reason), np.where(hidden, np.nan, published), {}, ())

    def hide_one(rel: Relation, why: str) -> bool:
        # ``fixed`` cells (a column total a reader may know from elsewhere) cannot be made unknown.
        cand = [c for c in rel.cells if not hidden[c] and c not in fixed and math.isfinite(raw[c]) and raw[c] > 0]
        if not cand:
            return False
        k = min(cand, key=lambda c: (raw[c], c))
        hidden[k] = True
        reason[k] = f"secondary: {why}"
        return True

    changed = True
    while changed:
        changed = False
        for rel in rels:
            if int(hidden[list(rel.cells)].sum()) == 1:
                changed |= hide_one(rel, rel.text or rel.kind)
    rels_of: dict[int, list[Relation]] = {}
    for r in rels:
        for c in r.cells:
            rels_of.setdefault(c, []).append(r)
    n_lp = 0
    failures: list[str] = []
    # Suppressing one more cell only relaxes the attacker's problem (a known value becomes unknown), so a
    # cell that passed stays passed: later rounds re-check only the weak cells and the newly suppressed.
    ranges: dict[int, tuple[float, float]] = {}
    # Only counts a reader sees need protecting; totals the gate adds for its own arithmetic (a
    # percentage's denominator, rows numbered below 0) are suppressed only to hide what derives from them.
    real = np.array([c.row >= 0 for c in pool.cells], bool)
    todo: list[int] | None = None
    for _ in range(max_rounds):
        before = hidden.copy()
        targets = [int(i) for i in np.flatnonzero(hidden & real)] if todo is None else [i for i in todo if real[i]]
        new_ranges = attack_ranges(pool, rels, hidden, published, rules, targets=targets)
        ranges.update(new_ranges)
        n_lp += 2 * len(new_ranges)
        weak = [i for i, (lo, hi) in new_ranges.items() if hi - lo < rules.protection_for(pool.cells[i].rule)]
        if not weak:
            failures = []
            break
        progressed = False
        for i in weak:
            # The nearest relation (through this cell, then through cells tied to it) with a published
            # non-zero count to give up.
            frontier, seen_rel, seen_cell = [i], set(), {i}
            done = False
            for _depth in range(4):
                nxt: list[int] = []
                for c in frontier:
                    for rel in sorted(rels_of.get(c, []), key=lambda r: len(r.cells)):
                        if id(rel) in seen_rel:
                            continue
                        seen_rel.add(id(rel))
                        if hide_one(rel, f"protects {pool.cells[i].where} ({rel.text or rel.kind})"):
                            done = True
                            break
                        nxt += [x for x in rel.cells if x not in seen_cell]
                        seen_cell.update(rel.cells)
                    if done:
                        break
                if done:
                    progressed = True
                    break
                frontier = nxt
        if not progressed:
            failures = [f"{pool.cells[i].where}: range {ranges[i][0]:g}-{ranges[i][1]:g}" for i in weak]
            break
        todo = sorted(set(weak) | set(np.flatnonzero(hidden & ~before).tolist()))
    return Control(hidden, tuple(reason), np.where(hidden, np.nan, published), ranges, tuple(failures), n_lp)
