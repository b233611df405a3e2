"""The publication gate: the only way a number leaves the results bundle for a reader.

``publish(bundle)`` applies the spec's disclosure rules (:mod:`evaltool.report.rules`) to every table,
figure data table and headline fact of a saved bundle *together*, and returns a :class:`Published`
object. The report, the workbook, the figures and the sentences take every number from it:

* ``published.tables[name]``: a :class:`PublishedTable` with ``display`` (what to print: rounded counts,
  ``*`` or "fewer than 8", percentages worked out from the rounded counts), ``values`` (the same as
  numbers, NaN where suppressed, for figures) and ``hidden`` (which cells are suppressed);
* ``published.facts[section][key]``: a :class:`Fact` (one published value per quantity, with its text);
* ``published.figures[name]``: a :class:`PublishedFigure`: a stage's image (no counts in it) or the
  published data table a count figure is drawn from (:mod:`evaltool.report.figure_data`);
* ``published.cells``: every suppressed cell with its rule (:class:`SuppressedCell`);
* ``published.statement()``: the plain-English statement of the rules applied, for the report.

Nothing here changes the bundle: its tables stay unsuppressed for analysts.

Examples
--------
>>> import pandas as pd
>>> from pathlib import Path
>>> from evaltool.report.bundle_io import Bundle, TableEntry
>>> sites = pd.DataFrame({"site": ["A", "B", "C"], "n": [3, 40, 52]})
>>> b = Bundle(Path("."), {"name": "x", "title": "x", "created": "2026-01-01T00:00:00Z"}, {},
...            {"sites": TableEntry("sites", "cohort", "Sites", "", ("n",), (), False, True, sites)})
>>> pub = publish(b)
>>> pub.table("sites").display["n"].tolist()   # 3 is small; 40 would give it away from the total
['*', '*', 50]
>>> (pub.n_primary, pub.n_secondary, pub.passed)
(1, 1, True)
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool import figure_workers
from evaltool._result import ResultMixin, Summary
from evaltool.errors import ReportError
from evaltool.report.bundle_io import Bundle
from evaltool.report.derived import DerivedPlan, plan_specs
from evaltool.report.rules import RULE_SOURCES, DisclosureRules
from evaltool.report.structure import Cell, CellPool, Relation, find_relations, key_columns, label_text
from evaltool.report.suppress import Control, control_cells

__all__ = ["Fact", "Published", "PublishedFigure", "PublishedTable", "SuppressedCell", "publish", "rules_from_manifest"]


@dataclass(frozen=True)
class SuppressedCell:
    """One suppressed cell: where, why and under which rule."""

    table: str
    row: int
    column: str
    kind: str   # "primary" | "secondary" | "derived"
    rule: str   # "hes" | "fft" | "qual"
    reason: str


@dataclass(frozen=True)
class PublishedTable:
    """A table after disclosure control.

    Attributes
    ----------
    display : DataFrame
        What to print: counts as rounded integers, suppressed cells as the rule's text (``*`` or
        "fewer than 8"), percentages from the rounded counts at their published precision.
    values : DataFrame
        The same cells as numbers (NaN where suppressed or not numeric): what figures draw.
    hidden : DataFrame
        True where a cell is suppressed.
    decimals : dict
        Column -> decimal places a derived column is published at.
    """

    name: str
    section: str
    title: str
    caption: str
    appendix: bool
    publish: bool
    rule: str
    count_columns: tuple[str, ...]
    derived_columns: tuple[tuple[str, str], ...]
    display: pd.DataFrame
    values: pd.DataFrame
    hidden: pd.DataFrame
    cells: tuple[SuppressedCell, ...] = ()
    decimals: dict[str, int] = field(default_factory=dict)

    @property
    def n_hidden(self) -> int:
        return int(self.hidden.to_numpy().sum())

    @property
    def all_hidden(self) -> bool:
        cols = [c for c in self.count_columns if c in self.hidden.columns]
        return bool(cols) and bool(self.hidden[cols].to_numpy().all())


@dataclass(frozen=True)
class Fact:
    """One published headline number.

    ``value`` is what may be quoted (a rounded count, an estimate, a percentage from rounded counts),
    ``None`` when suppressed; ``text`` is how to write it ("1,235", "fewer than 8", "0.82").
    """

    value: Any
    hidden: bool
    text: str
    kind: str  # "count" | "share" | "estimate" | "text" | "withheld"
    rule: str = ""


@dataclass(frozen=True)
class PublishedFigure:
    """A figure as it may be published.

    ``kind == "image"``: a stage's PNG that shows no counts (estimates, balance, agreement).
    ``kind == "data"``: a count figure; ``data`` is its published table and the report draws it
    (``encoding`` names the columns); ``note`` says in words what is suppressed (also in ``alt``).
    """

    name: str
    section: str
    title: str
    alt: str
    appendix: bool
    kind: str
    path: Any = None
    data: PublishedTable | None = None
    encoding: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def all_hidden(self) -> bool:
        """Every drawn value is suppressed (the report shows a sentence instead of the figure)."""
        if self.data is None:
            return False
        col = self.encoding.get("y") or self.encoding.get("value")
        if col in self.data.hidden.columns:
            shown = ~self.data.hidden[col]
            return bool(not shown.any() or not (pd.to_numeric(self.data.values[col], errors="coerce")[shown] > 0).any())
        return self.data.all_hidden


def rules_from_manifest(manifest: dict[str, Any]) -> DisclosureRules:
    """The rules recorded in ``manifest.report.disclosure`` (older manifests: HES keys only)."""
    raw = ((manifest.get("report") or {}).get("disclosure") or {})
    try:
        return DisclosureRules(**raw)
    except ValueError as err:
        raise ReportError(f"`manifest.report.disclosure` is invalid: {err}") from err


# ---------------------------------------------------------------------------------------------
# facts

_COUNT_FACT = re.compile(r"(^|[._])(n|rows)(_|$)|(^|_)n_[a-z]")
_SHARE_FACT = re.compile(r"(^|[._])(pct|percent|proportion|share)(_|$)")
#: Counts that are not of people or events (HES: "values not relating to individuals").
NOT_PERSON_COUNTS = ("n_coders", "n_roles", "n_sites", "n_practices", "n_clusters", "n_quotes", "n_themes", "n_codes",
                     "n_joint_display_rows", "n_outcomes", "n_subgroups", "n_periods", "n_months", "bootstrap_reps",
                     "n_quotes_small_group", "n_double_coded_documents", "n_items", "n_scales",
                     "n_pre_months", "n_post_months", "n_donors", "n_other_treated_areas", "n_units")
#: Stage-written sentences: their numbers did not pass the gate, so they are withheld.
SENTENCE_FACTS = ("key_points", "headline_text")


def _fact_kind(key: str, value: Any) -> str:
    last = key.split(".")[-1]
    if last in SENTENCE_FACTS:
        return "withheld"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or isinstance(value, str):
        return "text"
    if any(last == k or last.endswith("_" + k) for k in NOT_PERSON_COUNTS):
        return "estimate"
    # Percentages of money, of an estimate or a set rate (the economics stage's break-even reduction, discount
    # rates, the staff share of costs) are not shares of people or events.
    if _SHARE_FACT.search(last) and not any(w in last for w in ("change", "diff", "ratio", "excess", "reduction", "roi",
                                                                 "discount", "cost")):
        return "share"
    if _COUNT_FACT.search(last) and float(value) == int(value):
        return "count"
    return "estimate"


def _fmt_count(v: float) -> str:
    return f"{int(v):,}"


# ---------------------------------------------------------------------------------------------
# the gate


@dataclass(frozen=True)
class Published(ResultMixin):
    """Everything a report may show, after disclosure control (see module docstring)."""

    rules: DisclosureRules
    tables: dict[str, PublishedTable]
    facts: dict[str, dict[str, Fact]]
    figures: dict[str, PublishedFigure]
    cells: tuple[SuppressedCell, ...]
    n_primary: int
    n_secondary: int
    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    relations: int = 0

    # --- lookups -------------------------------------------------------------------------
    def table(self, name: str) -> PublishedTable | None:
        return self.tables.get(name)

    def fact(self, section: str, key: str) -> Fact | None:
        return (self.facts.get(section) or {}).get(key)

    def fact_values(self) -> dict[str, dict[str, Any]]:
        """``{section: {key: published value}}`` (suppressed and withheld facts left out)."""
        return {s: {k: f.value for k, f in d.items() if not f.hidden and f.kind != "withheld"}
                for s, d in self.facts.items()}

    def figure(self, name: str) -> PublishedFigure | None:
        return self.figures.get(name)

    @property
    def passed(self) -> bool:
        """True when the gate's own attack recovered no suppressed cell (``failures`` empty)."""
        return not self.failures

    def workbook_tables(self) -> list[tuple[str, str, pd.DataFrame]]:
        """(name, title, display table) for every published table, in bundle order."""
        return [(t.name, t.title, t.display) for t in self.tables.values() if t.publish]

    def suppressed_frame(self) -> pd.DataFrame:
        """Every suppressed cell: table, row (0-based data row), column, kind, rule, reason."""
        return pd.DataFrame([c.__dict__ for c in self.cells],
                            columns=["table", "row", "column", "kind", "rule", "reason"])

    def rules_table(self) -> pd.DataFrame:
        """The rules applied in this report: rule, what it covers, threshold, rounding, tables, cells, source."""
        rows = []
        used: dict[str, list[str]] = {}
        for t in self.tables.values():
            used.setdefault(t.rule, []).append(t.name)
        for key in ("hes", "fft", "qual"):
            if key not in used:
                continue
            r = self.rules.count_rule(key)
            n_p = sum(1 for c in self.cells if c.rule == key and c.kind == "primary")
            n_s = sum(1 for c in self.cells if c.rule == key and c.kind == "secondary")
            rows.append({"rule": key, "suppressed": f"1 to {r.min_count - 1}", "shown_as": r.suppressed_text(),
                         "rounding": f"nearest {r.round_to}" if r.round_to > 1 else "none",
                         "tables": len(used[key]), "cells_primary": n_p, "cells_secondary": n_s,
                         "source": RULE_SOURCES[key]})
        return pd.DataFrame(rows)

    def statement(self) -> str:
        """Plain-English statement of the rules applied (for the report's "About this report")."""
        from evaltool.report.statement import statement

        return statement(self)

    # --- result contract -----------------------------------------------------------------
    def summary(self) -> Summary:
        return Summary("Publication gate", (
            ("tables", str(len(self.tables))), ("figures", str(len(self.figures))),
            ("cells suppressed (primary)", str(self.n_primary)),
            ("cells suppressed (secondary)", str(self.n_secondary)),
            ("relations checked", str(self.relations)),
            ("attack", "no suppressed cell recoverable" if self.passed else f"{len(self.failures)} cells recoverable"),
        ), (("rules", self.rules_table()),))

    def to_frame(self) -> pd.DataFrame:
        return self.suppressed_frame()

    def to_dict(self) -> dict[str, Any]:
        return {"rules": self.rules.model_dump(), "n_primary": self.n_primary, "n_secondary": self.n_secondary,
                "failures": list(self.failures), "warnings": list(self.warnings),
                "tables": {k: {"hidden": v.n_hidden, "rule": v.rule} for k, v in self.tables.items()}}

    def plot(self):
        """Suppressed cells per table (primary and secondary)."""
        from plotnine import aes, coord_flip, geom_col, ggplot, labs

        from evaltool.plotting import theme_evaltool

        f = self.suppressed_frame()
        if not len(f):
            f = pd.DataFrame({"table": ["(none)"], "kind": ["primary"]})
        d = f.groupby(["table", "kind"]).size().rename("cells").reset_index()
        return ggplot(d, aes("table", "cells", fill="kind")) + geom_col() + coord_flip() + labs(x="", y="cells") \
            + theme_evaltool()


def _table_frames(bundle: Bundle, rules: DisclosureRules, figure_tables: set[str]):
    """Tables under control: (entry, rule key, count columns present, key columns)."""
    out = []
    for name, t in bundle.tables.items():
        # Every table is controlled: the report may quote a table it does not print (publish: false),
        # and figures draw from their data tables.
        rule = rules.rule_for(name, getattr(t, "rule", None))
        counts = [c for c in t.count_columns if c in t.data.columns] if rule != "none" else []
        bad = [c for c in t.count_columns if c not in t.data.columns]
        if bad:
            raise ReportError(f"table {name!r}: count columns {bad} listed in the manifest are not in "
                              f"{list(t.data.columns)}")
        for c in counts:
            if not pd.api.types.is_numeric_dtype(t.data[c]) and not t.data[c].isna().all():
                raise ReportError(f"table {name!r}: count column {c!r} is not numeric")
        derived = {d for d, _ in t.derived_columns}
        keys = key_columns(t.data, set(counts) | derived)
        out.append((t, rule, counts, keys))
    return out


def publish(bundle: Bundle, rules: DisclosureRules | None = None) -> Published:
    """Apply disclosure control to everything in ``bundle`` a reader can see.

    Parameters
    ----------
    bundle : Bundle
        A loaded results bundle (:func:`evaltool.report.bundle_io.load_bundle`).
    rules : DisclosureRules, optional
        Defaults to ``manifest.report.disclosure``.

    Returns
    -------
    Published

    Notes
    -----
    The result is a pure function of the bundle's contents and the rules, so it is cached for the
    process (the report, the workbook and ``check-publish`` of one bundle share one computation).
    """
    rules = rules or rules_from_manifest(bundle.manifest)
    key = _cache_key(bundle, rules)
    if key in _CACHE:
        return _CACHE[key]
    out = _publish(bundle, rules)
    if len(_CACHE) > 8:
        _CACHE.clear()
    _CACHE[key] = out
    return out


_CACHE: dict[str, Published] = {}


def _cache_key(bundle: Bundle, rules: DisclosureRules) -> str:
    import hashlib
    import json

    h = hashlib.sha256()
    h.update(json.dumps([bundle.manifest, bundle.facts, rules.model_dump()], sort_keys=True, default=str).encode())
    for name, t in bundle.tables.items():
        h.update(name.encode())
        h.update(pd.util.hash_pandas_object(t.data, index=False).to_numpy().tobytes())
        h.update(repr(list(t.data.columns)).encode())
    return h.hexdigest()


def _publish(bundle: Bundle, rules: DisclosureRules) -> Published:
    figure_tables = {str(f.get("data")) for f in (bundle.manifest.get("figures") or []) if f.get("data")}
    frames = _table_frames(bundle, rules, figure_tables)
    pool = CellPool()
    plans: dict[str, DerivedPlan] = {}
    rel_frames: dict[str, tuple[pd.DataFrame, list[str], list[str]]] = {}
    extra_rels: list[Relation] = []
    fixed: set[int] = set()
    warnings: list[str] = []
    # What each table's derived columns are, worked out side by side in the figure helpers and here (pure
    # functions of one table each; the same plans wherever they are computed).
    planned = [(t, rule, counts, keys) for t, rule, counts, keys in frames if rules.enabled and rule != "none"]
    found = dict(zip((t.name for t, *_ in planned), figure_workers.shared_map(
        plan_specs, [(t.name, t.data, counts, t.derived_columns, keys) for t, _, counts, keys in planned],
        what="the publication gate's reading of a table's derived columns")))
    for t, rule, counts, keys in frames:
        df = t.data
        row_keys = _row_keys(df, keys) if counts else []
        for c in counts:
            for i, v in enumerate(pd.to_numeric(df[c], errors="coerce").to_numpy(float)):
                if math.isfinite(v):
                    pool.add(Cell(t.name, i, c, float(v), rule, row_keys[i], t.section))
        if rules.enabled and rule != "none":
            col_rels = _column_totals(pool, t.name, df, counts, rule) if _distribution(df, keys, rule) else []
            fixed.update(c for r in col_rels for c in r.cells[: 1 if r.kind == "total" else 2])
            extra_rels += col_rels
            specs, said = found[t.name]
            plan = DerivedPlan(t.name, rule, specs, df, warnings=said)
            plans[t.name] = plan
            for cell, rel in plan.virtual(pool):
                extra_rels.append(rel)
            warnings += plan.warnings
        rel_frames[t.name] = (df, keys, counts)
    fact_ids: dict[tuple[str, str], int] = {}
    for sec, d in (bundle.facts or {}).items():
        if not isinstance(d, dict):
            continue
        for k, v in d.items():
            if _fact_kind(k, v) == "count" and float(v) >= 0:
                fact_ids[(sec, k)] = pool.add(Cell(f"facts.{sec}", len(fact_ids), k, float(v), "hes", (), sec))
    if rules.enabled:
        rels = find_relations(pool, rel_frames, min_link=rules.min_count) + extra_rels
        ctl = control_cells(pool, rels, rules, fixed=fixed)
    else:
        rels = []
        ctl = Control(np.zeros(len(pool.cells), bool), ("",) * len(pool.cells), pool.raw, {}, ())
    tables: dict[str, PublishedTable] = {}
    all_cells: list[SuppressedCell] = []
    # Each table's published values, given the decisions: shared with the helpers in a few batches of tables
    # (a batch carries the cell pool and the decisions once), in the tables' order.
    jobs = [(t, rule, counts, plans.get(t.name)) for t, rule, counts, _keys in frames]
    batches = _batches(jobs, [len(t.data) * (1 + len(counts) + len(t.derived_columns)) for t, _r, counts, _p in jobs])
    for pts in figure_workers.shared_map(_published_tables, [(b, pool, ctl, rules) for b in batches],
                                         what="the publication gate's published tables"):
        for pt in pts:
            tables[pt.name] = pt
            all_cells += pt.cells
    from evaltool.report.composed import compose_tables

    tables = compose_tables(tables, bundle, rules)
    facts = _published_facts(bundle, pool, ctl, fact_ids, tables, rules, warnings)
    figures = _published_figures(bundle, tables, rules)
    n_p = sum(1 for c in all_cells if c.kind == "primary")
    n_s = sum(1 for c in all_cells if c.kind == "secondary")
    return Published(rules, tables, facts, figures, tuple(all_cells), n_p, n_s, ctl.failures,
                     tuple(dict.fromkeys(warnings)), len(rels))


def _distribution(df: pd.DataFrame, keys: list[str], rule: str) -> bool:
    """A table whose rows are the categories of one thing (FFT answers, practices, sites): some key
    column names each row once (other keys, like a practice's go-live date, just describe it)."""
    if rule == "fft":
        return True
    return len(df) >= 2 and any(df[k].nunique(dropna=False) == len(df) for k in keys)


def _column_totals(pool: CellPool, name: str, df: pd.DataFrame, counts: list[str], rule: str) -> list[Relation]:
    """Treat the total of each count column of a one-way distribution as known to the reader.

    HES: "where it is possible to identify numbers from the total due to a single suppressed number...";
    the total of a distribution (responses to a survey, people across practices) is usually published
    elsewhere, so a single suppressed count is protected as if its total were printed beneath it.
    Columns that repeat one number on every row (the matched cohort beside each covariate) are not
    distributions and have no meaningful total; a column that repeats the total itself (a denominator)
    is known with it.
    """
    rels = []
    for c in counts:
        v = pd.to_numeric(df[c], errors="coerce").to_numpy(float)
        rows = [i for i in range(len(df)) if np.isfinite(v[i])]
        if len(rows) < 2 or np.nansum(v) <= 0 or len({v[i] for i in rows}) < 2:
            continue
        parts = [pool.id(name, i, c) for i in rows]
        if any(p is None for p in parts):
            continue
        total = float(np.nansum(v[rows]))
        gid = pool.add(Cell(name, -1000 - counts.index(c), f"{c} column total", total, rule))
        rels.append(Relation((gid, *parts), (1.0,) + (-1.0,) * len(parts), "total", f"total of {name}.{c}"))
        # A column repeating that total on every row (a denominator) is the same known quantity.
        for d in counts:
            dv = pd.to_numeric(df[d], errors="coerce").to_numpy(float)
            if d != c and len(df) and np.all(dv == total):
                for i in range(len(df)):
                    k = pool.id(name, i, d)
                    if k is not None:
                        rels.append(Relation((gid, k), (1.0, -1.0), "same", f"{name}[{i}].{d} = total of {c}"))
    return rels


def _row_keys(df: pd.DataFrame, keys: list[str]) -> list[tuple[tuple[str, str], ...]]:
    """Each row's ``(key column, value)`` pairs, as :func:`~evaltool.report.structure.label_text` writes them (once per table, not per cell)."""
    cols = [[label_text(col.iloc[i]) for i in range(len(df))] for col in (df[k] for k in keys)]
    return [tuple(zip(keys, vals)) for vals in zip(*cols)] if keys else [()] * len(df)


def _batches(jobs: list, sizes: list[int], n: int = 4) -> list[list]:
    """``jobs`` cut into up to ``n`` runs of neighbours of about equal total size (their order kept).

    >>> _batches(list("abcdef"), [1, 1, 1, 1, 1, 5], n=2)
    [['a', 'b', 'c', 'd', 'e'], ['f']]
    """
    total = max(1, sum(sizes))
    out: list[list] = [[]]
    done = 0
    for job, size in zip(jobs, sizes):
        if out[-1] and done >= total * len(out) / n and len(out) < n:
            out.append([])
        out[-1].append(job)
        done += size
    return [b for b in out if b]


def _published_tables(batch: list, pool: CellPool, ctl: Control, rules: DisclosureRules) -> list[PublishedTable]:
    """:func:`_published_table` of each ``(table, rule, counts, plan)`` of a batch (computed in a helper)."""
    return [_published_table(t, rule, counts, pool, ctl, plan, rules) for t, rule, counts, plan in batch]


def _published_table(t, rule: str, counts: list[str], pool: CellPool, ctl: Control, plan: DerivedPlan | None,
                     rules: DisclosureRules) -> PublishedTable:
    df = t.data.reset_index(drop=True)
    display = df.astype(object).where(df.notna(), None)
    values = df.apply(pd.to_numeric, errors="coerce") if len(df.columns) else df.copy()
    hidden = pd.DataFrame(False, index=df.index, columns=df.columns)
    cells: list[SuppressedCell] = []
    r = rules.count_rule(rule)
    label = r.suppressed_text()
    if rules.enabled and rule != "none":
        for c in counts:
            col_disp: list[Any] = []
            col_val: list[float] = []
            col_hidden = np.zeros(len(df), dtype=bool)
            for i in range(len(df)):
                cid = pool.id(t.name, i, c)
                if cid is None:
                    col_disp.append(None)
                    col_val.append(np.nan)
                    continue
                if ctl.hidden[cid]:
                    why = ctl.reason[cid]
                    kind = "primary" if why == "primary" else "secondary"
                    cells.append(SuppressedCell(t.name, i, c, kind, rule, why))
                    col_hidden[i] = True
                    col_disp.append(label)
                    col_val.append(np.nan)
                else:
                    v = ctl.published[cid]
                    col_disp.append(int(v))
                    col_val.append(float(v))
            display[c] = pd.Series(col_disp, index=df.index, dtype=object)
            values[c] = col_val
            if col_hidden.any():
                hidden[c] = col_hidden  # a whole column at once: setting cell by cell cost 0.1 ms a cell
        if plan is not None:
            plan.apply(df, display, values, hidden, cells, pool, ctl, label)
    decimals = dict(plan.decimals) if plan is not None else {}
    return PublishedTable(t.name, t.section, t.title, t.caption, t.appendix, t.publish, rule,
                          tuple(counts), tuple(t.derived_columns), display, values, hidden, tuple(cells), decimals)


def _published_facts(bundle: Bundle, pool: CellPool, ctl: Control, fact_ids: dict, tables: dict[str, PublishedTable],
                     rules: DisclosureRules, warnings: list[str]) -> dict[str, dict[str, Fact]]:
    label = rules.hes.suppressed_text()
    out: dict[str, dict[str, Fact]] = {}
    for sec, d in (bundle.facts or {}).items():
        if not isinstance(d, dict):
            continue
        o: dict[str, Fact] = {}
        for k, v in d.items():
            kind = _fact_kind(k, v)
            if not rules.enabled:
                o[k] = Fact(v, False, _fmt_count(v) if kind == "count" else str(v), kind if kind != "withheld" else "text")
                continue
            if kind == "count" and (sec, k) in fact_ids:
                cid = fact_ids[(sec, k)]
                if ctl.hidden[cid]:
                    o[k] = Fact(None, True, label if label != "*" else f"fewer than {rules.min_count}", "count", "hes")
                else:
                    pv = int(ctl.published[cid])
                    o[k] = Fact(pv, False, _fmt_count(pv), "count", "hes")
            elif kind == "share":
                o[k] = _share_fact(sec, k, float(v), bundle, tables, warnings)
            elif kind == "withheld":
                warnings.append(f"facts.{sec}.{k}: sentences written by the stage are not published (their numbers "
                                "did not pass disclosure control); the report writes its own from published values")
                o[k] = Fact(None, True, "", "withheld")
            else:
                o[k] = Fact(v, False, str(v), kind)
        out[sec] = o
    return out


def _share_fact(sec: str, key: str, raw: float, bundle: Bundle, tables: dict[str, PublishedTable],
                warnings: list[str]) -> Fact:
    """A percentage fact takes the published value of the table cell it came from."""
    from evaltool.report.derived import find_share_cell

    hit = find_share_cell(bundle, tables, sec, raw)
    if hit is None:
        warnings.append(f"facts.{sec}.{key}: a percentage that matches no published table cell is not published")
        return Fact(None, True, "not published", "share")
    t, i, col = hit
    if bool(t.hidden.loc[i, col]):
        return Fact(None, True, str(t.display.loc[i, col]), "share", t.rule)
    v = float(t.values.loc[i, col])
    dec = t.decimals.get(col, 0)
    return Fact(v, False, f"{v:.{dec}f}", "share", t.rule)


def _published_figures(bundle: Bundle, tables: dict[str, PublishedTable], rules: DisclosureRules) -> dict[str, PublishedFigure]:
    out: dict[str, PublishedFigure] = {}
    raw = {str(f.get("name")): f for f in (bundle.manifest.get("figures") or []) if isinstance(f, dict)}
    for name, f in bundle.figures.items():
        out[name] = PublishedFigure(name, f.section, f.title, f.alt, f.appendix, "image", path=f.path)
    for name, f in raw.items():
        data_name = f.get("data")
        if not data_name:
            continue
        data = tables.get(str(data_name))
        if data is None:
            raise ReportError(f"figure {name!r}: its data table {data_name!r} is not in the bundle")
        from evaltool.report.figure_data import suppression_note

        note = suppression_note(data, rules, dict(f.get("encoding") or {}))
        alt = str(f.get("alt") or "").strip()
        out[name] = PublishedFigure(name, str(f.get("section", "")), str(f.get("title") or name),
                                    (alt + (" " + note if note else "")).strip(), bool(f.get("appendix", False)),
                                    "data", None, data, dict(f.get("encoding") or {}), note)
    return out
