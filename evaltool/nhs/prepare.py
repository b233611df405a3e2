"""Mapped sources assembled into the contract's population, activity and practices tables.

:func:`load_mapped` reads every ``data:`` entry, runs its preset or mapping, and assembles:

* population: the GP list (or a contract-shaped table) with ``treated`` and ``index_date`` from
  the enrolment list (people enrolled but not registered are counted and left out), IMD quintile
  from an IMD decile or from the LSOA through ``data.lsoa_lookup``, and deaths in hospital
  (DISMETH 4) filling missing death dates;
* activity: the union of every activity source (each a preset's rows), with ``spell_id`` kept so
  that coded outcomes can find the spell's diagnoses;
* the flows: every step of every source, counted (:class:`evaltool.nhs.mapping.MapStep`).

Mapped tables are numbered in a fixed order (people by ``person_id``; activity by person, date,
setting and spell), so results never depend on the order a database returns rows in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis

from evaltool.errors import DataValidationError
from evaltool.nhs.mapping import MapStep, SourceMapping
from evaltool.nhs.presets import PRESETS, Prepared, prepare, resolve
from evaltool.nhs.presets.population import imd_from_lookup, quintile_from_decile
from evaltool.nhs.sources import MappedSource, has_mapping, read_mapped

__all__ = ["Assembled", "load_mapped", "needs_mapping"]

ACTIVITY_COLUMNS = ("person_id", "date", "setting", "bed_days", "cost", "spell_id")


@dataclass
class Assembled:
    """Contract-shaped raw tables (still to be validated) and what preparing them did."""

    tables: dict[str, Any]
    steps: list[MapStep]
    extras: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    population_source: str = ""

    def steps_for(self, table: str) -> list[MapStep]:
        return [s for s in self.steps if self.names.get(s.source) == table]


def _entries(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def needs_mapping(data: Any) -> bool:
    """True when the spec's ``data:`` needs the mapping layer (mapped entries, several activity
    sources, an enrolment list or an LSOA lookup)."""
    acts = _entries(getattr(data, "activity", None))
    return (len(acts) > 1 or getattr(data, "enrolment", None) is not None
            or getattr(data, "lsoa_lookup", None) is not None
            or any(has_mapping(getattr(data, k, None)) for k in ("population", "practices")) or any(map(has_mapping, acts)))


def _src(v: Any) -> MappedSource:
    if isinstance(v, MappedSource):
        return v
    if hasattr(v, "model_dump"):
        return MappedSource(**v.model_dump())
    return MappedSource(path=v)


def _mapping(src: MappedSource) -> SourceMapping:
    return src.mapping()


def _label(src: MappedSource) -> str:
    return src.label + (f" ({src.preset})" if src.preset else "")


def load_mapped(engine: Any, data: Any) -> Assembled:
    """Read and map every ``data:`` entry; return contract-shaped (unvalidated) engine tables."""
    persist = engine.persist
    steps: list[MapStep] = []
    names: dict[str, str] = {}
    records: dict[str, dict[str, Any]] = {}
    preps: dict[str, list[Prepared]] = {"population": [], "activity": [], "practices": [], "enrolment": []}
    for key in ("population", "enrolment", "activity", "practices"):
        for v in _entries(getattr(data, key, None)):
            src = _src(v)
            label = _label(src)
            raw = read_mapped(engine, src)
            p = prepare(raw, _mapping(src), label, key, persist)
            preps[key].append(p)
            names[label] = "activity" if key == "activity" else "population" if key in ("population", "enrolment") \
                else key
            steps.extend(resolve(p, engine.execute))
            records.setdefault(key, {"sources": []})["sources"].append(
                {"name": label, **src.record(), **({"dictionary": PRESETS[src.preset].dictionary}
                                                   if src.preset else {})})
    if len(preps["population"]) != 1:
        raise DataValidationError("`data.population`: expected one population source")
    extras: dict[str, Any] = {}
    deaths = [p.extras["deaths"] for p in preps["activity"] if "deaths" in p.extras]
    pop, psteps = _population(engine, preps["population"][0], preps["enrolment"][0] if preps["enrolment"] else None,
                              getattr(data, "lsoa_lookup", None), deaths)
    for s in psteps:
        names[s.source] = "population"
    steps.extend(psteps)
    act = _activity(engine, preps["activity"])
    for k in ("diagnoses", "spells", "ae_diagnoses"):
        parts = [p.extras[k] for p in preps["activity"] if k in p.extras]
        if parts:
            u = parts[0]
            for q in parts[1:]:
                u = u.union(q, distinct=False)
            extras[k] = u
    tables = {"population": pop, "activity": act,
              "practices": preps["practices"][0].table if preps["practices"] else None}
    return Assembled(tables, steps, extras, records, names, preps["population"][0].source)


def _population(engine: Any, gp: Prepared, enrol: Prepared | None, lookup: Any,
                deaths: list[Any]) -> tuple[Any, list[MapStep]]:
    t = gp.table
    out: list[MapStep] = []
    src = gp.source
    if enrol is not None:
        if "treated" in t.columns or "index_date" in t.columns:
            t = t.drop(*[c for c in ("treated", "index_date") if c in t.columns])
        e = enrol.table.select("person_id", _idx="index_date")
        missing = e.anti_join(t, "person_id").count()
        n_en = e.count()
        out.append(MapStep(enrol.source, "enrolled_not_registered", "Enrolled people not on the registration list "
                           "(left out)", "people", int(engine.execute(n_en)),
                           int(engine.execute(n_en)) - int(engine.execute(missing)), "no registration record"))
        t = t.left_join(e, "person_id")
        t = t.mutate(treated=ibis.ifelse(t._idx.notnull(), 1, 0).cast("int64"), index_date=t._idx).drop("_idx")
    elif "treated" not in t.columns:
        raise DataValidationError(f"{src}: the population has no `treated`/`index_date`: give the programme's "
                                  "enrolment list as `data.enrolment`, or name the columns under `columns:`")
    if "imd_decile" in t.columns and "imd_quintile" not in t.columns:
        t = t.mutate(imd_quintile=quintile_from_decile(t.imd_decile))
    if lookup is not None and "lsoa" in t.columns:
        lk_src = _src(lookup)
        lk = imd_from_lookup(read_mapped(engine, lk_src), lk_src.label)
        t = t.left_join(lk, "lsoa")
        t = t.drop([c for c in t.columns if c.endswith("_right")])
        q = quintile_from_decile(t.imd_decile)
        t = t.mutate(imd_quintile=ibis.coalesce(t.imd_quintile.cast("string").try_cast("int64"), q)
                     if "imd_quintile" in gp.table.columns else q)
        n_all = int(engine.execute(t.count()))
        n_miss = int(engine.execute(t.filter(t.lsoa.notnull() & t.imd_decile.isnull()).count()))
        if n_miss:
            out.append(MapStep(lk_src.label, "lsoa_not_in_lookup", "People whose LSOA is not in the lookup: "
                               "IMD quintile missing", "people", n_all, n_all, "LSOA not in the lookup", n_miss))
    elif lookup is not None:
        raise DataValidationError(f"`data.lsoa_lookup` given but {src} has no LSOA column (map it as `lsoa`)")
    if deaths:
        d = deaths[0]
        for x in deaths[1:]:
            d = d.union(x, distinct=False)
        d = d.group_by("person_id").aggregate(_hd=d.death_date.min())
        t = t.left_join(d, "person_id")
        t = t.drop([c for c in t.columns if c.endswith("_right")])
        n_all = int(engine.execute(t.count()))
        n_add = int(engine.execute(t.filter(t.death_date.isnull() & t._hd.notnull()).count()))
        t = t.mutate(death_date=ibis.coalesce(t.death_date, t._hd)).drop("_hd")
        if n_add:
            out.append(MapStep(src, "death_from_hospital", "Death dates taken from hospital discharges (DISMETH 4) "
                               "where the registration list had none", "people", n_all, n_all,
                               "died in hospital", n_add))
    keep = [c for c in t.columns if c not in ("lsoa", "imd_decile")]
    t = t.select(*keep)
    # A fixed order whatever the source (files, DuckDB, PostgreSQL): by person.
    return engine.persist(t.order_by("person_id"), "mapped_population"), out


def _activity(engine: Any, preps: list[Prepared]) -> Any:
    if not preps:
        raise DataValidationError("`data.activity`: no activity source")
    parts = []
    for p in preps:
        t = p.table
        cols = {}
        for c in ACTIVITY_COLUMNS:
            if c in t.columns:
                cols[c] = t[c]
            else:
                cols[c] = ibis.null().cast({"bed_days": "float64", "cost": "float64"}.get(c, "string"))
        for c in t.columns:
            if c not in cols:
                cols[c] = t[c]
        parts.append(t.select(**cols))
    if len(parts) > 1:
        common = [c for c in parts[0].columns if all(c in q.columns for q in parts[1:])]
        parts = [q.select(*common) for q in parts]
        typed = []
        for q in parts:
            typed.append(q.mutate(date=q.date.cast("date"), bed_days=q.bed_days.cast("float64"),
                                  cost=q.cost.cast("float64"), setting=q.setting.cast("string"),
                                  person_id=q.person_id.cast("string"), spell_id=q.spell_id.cast("string")))
        u = typed[0]
        for q in typed[1:]:
            u = u.union(q, distinct=False)
    else:
        u = parts[0]
    order = [c for c in ("person_id", "date", "setting", "spell_id", "bed_days", "cost") if c in u.columns]
    return engine.persist(u.order_by(order), "mapped_activity")
