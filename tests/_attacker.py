"""An attacker, written apart from the gate, that tries to work out suppressed counts from published tables.

Given each published table (what a reader sees) and the true table behind it, it writes down what a
reader can know as linear constraints on the true counts:

* each published count r (rounded to ``b``) lies in ``[r - b/2, r + b/2)``, at least ``min_count`` unless 0;
  a suppressed count is at least 1; a zero is exactly 0;
* totals: a count column that is the sum of another over groups of rows (for at least half of the
  groups, so a pattern a reader would see), a row total, and the total of a one-way distribution
  (answers to a survey, people by practice: taken as known, as readers usually find it elsewhere);
* every published percentage of a base ``D`` (a count in the same row or a group total), printed to
  precision ``h``: if it can be explained by rounded counts (as the report says it is), the rounded
  bases that give it bound ``D`` to within its rounding; otherwise it came from the true counts, and
  ``p - h <= 100 * x / D <= p + h``;
* the same quantity in two tables (equal true counts whose rows agree on two or more key columns).

Each suppressed count is minimised and maximised with ``scipy.optimize.linprog`` (HiGHS). The tests fail
if any range is narrower than the rule's protection.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

_SCALES = (100.0, 1.0, 1000.0)


@dataclass
class Table:
    """A published table for the attacker: what is shown, the truth behind it, and how to read it."""

    name: str
    shown: pd.DataFrame       # as published: numbers, or the suppressed text
    truth: pd.DataFrame       # the bundle table (true values)
    counts: list[str]
    derived: list[tuple[str, str]]
    round_to: int
    min_count: int
    protection: float
    fft: bool = False


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)


def _keys(t: Table) -> list[str]:
    skip = set(t.counts) | {d for d, _ in t.derived}
    return [c for c in t.truth.columns if c not in skip and not pd.api.types.is_float_dtype(t.truth[c])]


class Attack:
    """Variables, bounds and constraints for a set of published tables."""

    def __init__(self, tables: list[Table]):
        self.tables = tables
        self.var: dict[tuple[str, int, str], int] = {}
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.truth: list[float] = []
        self.hidden: list[bool] = []
        self.prot: list[float] = []
        self.eq: list[tuple[dict[int, float], float]] = []     # sum a_i x_i = b
        self.ub: list[tuple[dict[int, float], float]] = []     # sum a_i x_i <= b
        for t in tables:
            self._add_table(t)
        self._same_quantity()

    # -- variables ------------------------------------------------------------------------
    def _new(self, key, lo, hi, truth, hidden, prot) -> int:
        self.var[key] = len(self.lo)
        self.lo.append(lo)
        self.hi.append(hi)
        self.truth.append(truth)
        self.hidden.append(hidden)
        self.prot.append(prot)
        return self.var[key]

    def _bounds(self, shown, t: Table) -> tuple[float, float, bool]:
        if _is_num(shown):
            r = float(shown)
            if r == 0:
                return 0.0, 0.0, False
            b = t.round_to
            return max(float(t.min_count), math.ceil(r - b / 2)), math.ceil(r + b / 2) - 1.0, False
        return 1.0, math.inf, True

    def _add_table(self, t: Table) -> None:
        truth = t.truth.reset_index(drop=True)
        shown = t.shown.reset_index(drop=True)
        for c in t.counts:
            for i in range(len(truth)):
                v = truth[c].iloc[i]
                if not _is_num(v):
                    continue
                lo, hi, hid = self._bounds(shown[c].iloc[i], t)
                self._new((t.name, i, c), lo, hi, float(v), hid, t.protection)
        keys = _keys(t)
        self._totals(t, truth, keys)
        self._percentages(t, truth, shown, keys)

    # -- constraints ----------------------------------------------------------------------
    def _totals(self, t: Table, truth: pd.DataFrame, keys: list[str]) -> None:
        vals = {c: pd.to_numeric(truth[c], errors="coerce").to_numpy(float) for c in t.counts}
        one_way = t.fft or (len(truth) >= 2 and any(truth[k].nunique(dropna=False) == len(truth) for k in keys))
        for c in t.counts if one_way else []:
            # The total of a one-way distribution (answers, practices) is taken as known from elsewhere.
            ids = [self.var[(t.name, i, c)] for i in range(len(truth)) if (t.name, i, c) in self.var]
            tot = float(np.nansum(vals[c]))
            if len(ids) >= 2 and tot > 0 and len(set(vals[c][np.isfinite(vals[c])])) > 1:
                # Known as it would be published: rounded, or only "at least 1" when it is itself small.
                b = t.round_to
                r = math.floor(tot / b + 0.5) * b
                lo, hi = (1.0, math.inf) if tot < t.min_count else (max(float(t.min_count), math.ceil(r - b / 2)),
                                                                      math.ceil(r + b / 2) - 1.0)
                g = self._new((t.name, -1, c + "#total"), lo, hi, tot, False, t.protection)
                self.eq.append(({g: 1.0, **{k: -1.0 for k in ids}}, 0.0))
        subsets = [s for r in range(0, len(keys)) for s in itertools.combinations(keys, r)][:64]
        grouped = {S: [g for g in ([np.asarray(ix) for ix in truth.groupby(list(S), sort=False).indices.values()]
                                   if S else [np.arange(len(truth))]) if len(g) >= 2] for S in subsets}
        for part, total in itertools.product(t.counts, t.counts):
            if part == total:
                continue
            for S in subsets:
                groups = grouped[S]
                hits = []
                for g in groups:
                    # A denominator repeated on every row of its group (n_valid beside each level); one row
                    # that happens to equal the sum is a coincidence, not a total.
                    s = np.nansum(vals[part][g])
                    if s > 0 and np.all(vals[total][g] == s):
                        hits.append((g[0], g))
                if len(hits) >= max(1 if len(groups) == 1 else 2, math.ceil(0.5 * len(groups))):
                    for r, g in hits:
                        row = {self.var[(t.name, int(i), part)]: -1.0 for i in g if (t.name, int(i), part) in self.var}
                        row[self.var[(t.name, int(r), total)]] = 1.0
                        self.eq.append((row, 0.0))
        for tot in t.counts:  # row totals that hold on at least half the rows
            others = [c for c in t.counts if c != tot]
            for k in range(2, len(others) + 1):
                for sub in itertools.combinations(others, k):
                    s = sum(vals[c] for c in sub)
                    live = np.isfinite(s) & np.isfinite(vals[tot]) & (vals[tot] > 0)
                    ok = live & (s == vals[tot])
                    if ok.sum() and ok.sum() >= max(1, math.ceil(0.5 * live.sum())):
                        for i in np.flatnonzero(ok):
                            row = {self.var[(t.name, int(i), c)]: -1.0 for c in sub}
                            row[self.var[(t.name, int(i), tot)]] = 1.0
                            self.eq.append((row, 0.0))

    def _base_candidates(self, t: Table, truth: pd.DataFrame, keys, d: str, c: str):
        """(kind, spec, scale) bases that reproduce the true derived column from the true counts."""
        dv = pd.to_numeric(truth[d], errors="coerce").to_numpy(float)
        cv = pd.to_numeric(truth[c], errors="coerce").to_numpy(float)
        ok = np.isfinite(dv) & np.isfinite(cv)
        if not ok.any():
            return None
        for den in t.counts:
            if den == c:
                continue
            dn = pd.to_numeric(truth[den], errors="coerce").to_numpy(float)
            for k in _SCALES:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ref = k * cv / dn
                m = ok & (dn > 0)
                if m.any() and np.allclose(dv[m], ref[m], rtol=1e-6, atol=0.051):
                    return ("row", den, k)
        for r in range(0, len(keys) + 1):
            for S in itertools.combinations(keys, r):
                groups = [np.asarray(ix) for ix in truth.groupby(list(S), sort=False).indices.values()] if S \
                    else [np.arange(len(truth))]
                tot = np.full(len(truth), np.nan)
                for g in groups:
                    tot[g] = np.nansum(cv[g])
                for k in _SCALES:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ref = k * cv / tot
                    m = ok & (tot > 0)
                    if m.any() and np.allclose(dv[m], ref[m], rtol=1e-6, atol=0.051):
                        return ("group", groups, k)
        return None

    def _percentages(self, t: Table, truth, shown, keys) -> None:
        for d, c in t.derived:
            base = self._base_candidates(t, truth, keys, d, c)
            if base is None:
                continue
            kind, spec, k = base
            for i in range(len(truth)):
                p = shown[d].iloc[i]
                if not _is_num(p) or (t.name, i, c) not in self.var:
                    continue
                txt = f"{float(p):.10f}".rstrip("0")
                dec = len(txt.split(".")[1]) if "." in txt else 0
                h = 0.5 * 10.0 ** -dec
                x = self.var[(t.name, i, c)]
                if kind == "row":
                    if (t.name, i, spec) not in self.var:
                        continue
                    den = {self.var[(t.name, i, spec)]: 1.0}
                else:
                    g = next(g for g in spec if i in g)
                    den = {self.var[(t.name, int(j), c)]: 1.0 for j in g if (t.name, int(j), c) in self.var}
                lo_d, hi_d = self._rounded_base(shown[c].iloc[i], float(p), h, k, t)
                d_true = sum(self.truth[v] * a for v, a in den.items())
                if lo_d is not None and lo_d <= d_true <= hi_d:
                    # The percentage was worked out from rounded counts (as the report says): it tells
                    # the attacker the rounded base, so the true base lies within its rounding.
                    self.ub.append(({v: a for v, a in den.items()}, hi_d))
                    self.ub.append(({v: -a for v, a in den.items()}, -lo_d))
                    continue
                # Not explained by rounded counts: it came from the true counts. (An attacker who guesses
                # so when it did not would get constraints the truth breaks: such a guess is dropped.)
                if d_true <= 0 or abs(k * self.truth[x] / d_true - float(p)) > h + 1e-9:
                    continue
                # p - h <= k x / D <= p + h  (D > 0)  ->  k x - (p + h) D <= 0 and (p - h) D - k x <= 0
                up = {x: k}
                lo = {x: -k}
                for v, a in den.items():
                    up[v] = up.get(v, 0.0) - (float(p) + h) * a
                    lo[v] = lo.get(v, 0.0) + (float(p) - h) * a
                self.ub.append((up, 0.0))
                self.ub.append((lo, 0.0))

    @staticmethod
    def _rounded_base(shown_x, p: float, h: float, k: float, t: Table):
        """The range of true bases whose rounded value, with the shown count, gives the percentage ``p``."""
        if not _is_num(shown_x) or float(shown_x) == 0 or p <= 0:
            return None, None
        b = t.round_to
        lo_r = k * float(shown_x) / (p + h)
        hi_r = k * float(shown_x) / (p - h) if p - h > 0 else 1e9
        cands = [m for m in range(max(b, math.ceil(lo_r / b) * b), int(min(hi_r, 1e7)) + 1, b)
                 if m >= t.min_count and abs(round(k * float(shown_x) / m, 10) - p) <= h + 1e-9]
        if not cands:
            return None, None
        return float(max(t.min_count, math.ceil(min(cands) - b / 2))), float(math.ceil(max(cands) + b / 2) - 1)

    def _same_quantity(self) -> None:
        cells: dict[float, list[tuple[Table, int, str]]] = {}
        for t in self.tables:
            for c in t.counts:
                for i, v in enumerate(pd.to_numeric(t.truth[c], errors="coerce")):
                    if np.isfinite(v) and v >= t.min_count:
                        cells.setdefault(float(v), []).append((t, i, c))
        for _v, items in cells.items():
            for (ta, ia, ca), (tb, ib, cb) in itertools.combinations(items, 2):
                if ta.name == tb.name:
                    continue
                ka, kb = _keys(ta), _keys(tb)
                shared = [k for k in ka if k in kb]
                informative = [k for k in shared if ta.truth[k].nunique() > 1 or tb.truth[k].nunique() > 1]
                if len(informative) < 2:
                    continue
                if all(str(ta.truth[k].iloc[ia]) == str(tb.truth[k].iloc[ib]) for k in shared):
                    self.eq.append(({self.var[(ta.name, ia, ca)]: 1.0, self.var[(tb.name, ib, cb)]: -1.0}, 0.0))

    # -- solving --------------------------------------------------------------------------
    def ranges(self) -> dict[tuple[str, int, str], tuple[float, float, float]]:
        """(lo, hi, protection) for every suppressed count, by connected group of constraints."""
        n = len(self.lo)
        parent = list(range(n))

        def find(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for row, _ in self.eq + self.ub:
            ks = list(row)
            for k in ks[1:]:
                parent[find(k)] = find(ks[0])
        comp: dict[int, list[int]] = {}
        for i in range(n):
            comp.setdefault(find(i), []).append(i)
        rows_of: dict[int, list] = {}
        for kind, rows in (("eq", self.eq), ("ub", self.ub)):
            for row, b in rows:
                rows_of.setdefault(find(next(iter(row))), []).append((kind, row, b))
        names = {v: k for k, v in self.var.items()}
        out = {}
        for root, members in comp.items():
            targets = [i for i in members if self.hidden[i]]
            if not targets:
                continue
            local = {g: j for j, g in enumerate(members)}
            A = {"eq": ([], [], [], []), "ub": ([], [], [], [])}
            for kind, row, b in rows_of.get(root, []):
                r_i, c_i, v_i, b_i = A[kind]
                k = len(b_i)
                for g, a in row.items():
                    r_i.append(k)
                    c_i.append(local[g])
                    v_i.append(a)
                b_i.append(b)

            def mat(kind):
                r_i, c_i, v_i, b_i = A[kind]
                if not b_i:
                    return None, None
                return coo_matrix((v_i, (r_i, c_i)), shape=(len(b_i), len(members))).tocsr(), np.asarray(b_i)

            Aeq, beq = mat("eq")
            Aub, bub = mat("ub")
            bounds = [(self.lo[g], None if math.isinf(self.hi[g]) else self.hi[g]) for g in members]
            for t in targets:
                res = []
                for sign in (1.0, -1.0):
                    c = np.zeros(len(members))
                    c[local[t]] = sign
                    r = linprog(c, A_ub=Aub, b_ub=bub, A_eq=Aeq, b_eq=beq, bounds=bounds, method="highs")
                    if r.status == 3:
                        res.append(-math.inf)
                    elif r.status == 0:
                        res.append(r.fun)
                    else:
                        raise AssertionError(f"published values inconsistent around {names[t]}: {r.message}")
                lo = math.ceil(res[0] - 1e-7)
                hi = math.inf if math.isinf(res[1]) else math.floor(-res[1] + 1e-7)
                out[names[t]] = (float(lo), float(hi), self.prot[t])
        return out

    def recovered(self) -> list[str]:
        """Suppressed cells narrowed below their protection, with the range found and the true value."""
        bad = []
        for (tab, i, c), (lo, hi, prot) in self.ranges().items():
            if hi - lo < prot:
                v = self.truth[self.var[(tab, i, c)]]
                bad.append(f"{tab}[{i}].{c}: true {v:g}, attacker's range {lo:g}-{hi:g}")
        return bad


def tables_from_published(pub, bundle, names=None) -> list[Table]:
    """Attacker tables for every published table (or ``names``) of a run."""
    out = []
    for name, pt in pub.tables.items():
        if names is not None and name not in names:
            continue
        if pt.rule == "none" or not pt.count_columns or name not in bundle.tables:
            continue
        r = pub.rules.count_rule(pt.rule)
        out.append(Table(name, pt.display, bundle.tables[name].data, list(pt.count_columns),
                         [tuple(x) for x in pt.derived_columns], r.round_to, r.min_count,
                         pub.rules.protection_for(pt.rule), pt.rule == "fft"))
    return out
