"""How :func:`evaltool.inputs.load_inputs` uses the mapping layer: before validation, mapped sources
become contract-shaped tables; after it, the mapping steps join the flows and coded outcomes add
their activity rows."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis

from evaltool.nhs.mapping import MapStep
from evaltool.nhs.outcomes import derive_rows, outcome_words, resolve_list
from evaltool.nhs.prepare import Assembled, load_mapped, needs_mapping
from evaltool.nhs.sources import MappedSource

__all__ = ["InputsAssembly", "assemble_inputs", "finish", "needs_mapping"]


@dataclass
class InputsAssembly:
    tables: dict[str, Any]
    files: dict[str, dict[str, Any]]
    display_names: dict[str, str]
    assembled: Assembled
    extras: dict[str, Any] = field(default_factory=dict)


def _sha(src: Any) -> dict[str, Any]:
    if isinstance(src, MappedSource) and src.kind == "database":
        return {}
    files = src.files() if hasattr(src, "files") else [Path(src)]
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    p = src.path if getattr(src, "path", None) is not None else getattr(src, "duckdb", src)
    return {"path": str(p), "sha256": h.hexdigest()}


def assemble_inputs(engine: Any, data: Any) -> InputsAssembly:
    asm = load_mapped(engine, data)
    files: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    for key in ("population", "activity", "practices"):
        entries = getattr(data, key, None)
        entries = entries if isinstance(entries, list) else [entries] if entries is not None else []
        if not entries:
            continue
        srcs = [e if isinstance(e, MappedSource) else MappedSource(**e.model_dump()) if hasattr(e, "model_dump")
                else MappedSource(path=e) for e in entries]
        recs = []
        for s, r in zip(srcs, asm.records.get(key, {}).get("sources", [{}] * len(srcs))):
            recs.append({**_sha(s), **r})
        if key == "population":
            for extra_key in ("enrolment", "lsoa_lookup"):
                e = getattr(data, extra_key, None)
                if e is not None:
                    s = e if isinstance(e, MappedSource) else MappedSource(path=e)
                    recs.append({"role": extra_key, "name": s.label, **_sha(s), **s.record()})
        files[key] = recs[0] if len(recs) == 1 else {"sources": recs}
        names[key] = " + ".join(s.label for s in srcs)
    return InputsAssembly(asm.tables, files, names, asm, asm.extras)


def _flow_steps(steps: list[MapStep], step_cls: type, *, prefix: bool = True) -> list[Any]:
    out = []
    for s in steps:
        reason = s.reason
        if s.n_affected:
            reason = f"{reason} ({s.n_affected:,} {s.unit})" if reason else f"{s.n_affected:,} {s.unit}"
        desc = f"{s.source}: {s.description}" if prefix else s.description
        out.append(step_cls(s.step, desc, int(s.n_out), int(s.n_in - s.n_out), reason))
    return out


def finish(v: Any, spec: Any, asm: InputsAssembly | None, engine: Any, step_cls: type) -> None:
    """After validation: mapping steps into the flows, coded outcomes into the activity table."""
    if asm is not None:
        steps = asm.assembled.steps
        v.source_flow = list(steps)
        act_steps = [s for s in steps if asm.assembled.names.get(s.source) == "activity"]
        prac_steps = [s for s in steps if asm.assembled.names.get(s.source) == "practices"]
        # The cohort flow stays one chain of people: the population source's rows in, its exclusions,
        # then the checks. Recodes, the enrolment list and derived counts are in `source_flow`.
        src = asm.assembled.population_source
        own = [s for s in steps if s.source == src]
        chain = own[:1] + [s for s in own[1:] if s.n_excluded]
        if v.flow and chain and chain[-1].n_out == v.flow[0].n_remaining:
            head = [step_cls("start", chain[0].description, int(chain[0].n_out), 0, "")]
            v.flow[:1] = head + _flow_steps(chain[1:], step_cls, prefix=False)
        if v.activity_flow:
            v.activity_flow[:0] = _flow_steps(act_steps + prac_steps, step_cls)
        v.nhs = dict(asm.extras)
    coded = getattr(spec, "coded_outcomes", None) or {}
    if not coded or not v.ok or v.activity_table is None:
        return
    act, pop = v.activity_table, v.population_table
    derived = []
    lists = []
    for k, (name, oc) in enumerate(coded.items()):
        rows = derive_rows(name, oc, act, pop, v.nhs.get("diagnoses"))
        cl = resolve_list(name, oc)
        said = outcome_words(name, oc)
        if cl is not None:
            lists.append({"outcome": name, **said, **cl.provenance()})
        else:
            lists.append({"outcome": name, **said, "name": f"end_of_life_{oc.end_of_life}d", "title":
                          f"Emergency admissions in the last {oc.end_of_life} days of life", "version": "",
                          "source": "derived from death dates", "url": "", "origin": "evaltool", "sha256": ""})
        # Derived rows get row numbers after the source's, in a fixed order (engines agree).
        w = ibis.window(order_by=[rows.person_id, rows.date, rows.spell_id] if "spell_id" in rows.columns
                        else [rows.person_id, rows.date])
        rows = rows.mutate(_row=(ibis.row_number().over(w) + (k + 1) * 10**12 + 1).cast("int64"))
        derived.append(rows)
    cols = list(act.columns)
    parts = [act]
    for r in derived:
        parts.append(r.select(*[r[c].cast(act[c].type()) if c in r.columns else ibis.null().cast(act[c].type())
                                for c in cols]))
    u = parts[0]
    for p in parts[1:]:
        u = u.union(p, distinct=False)
    v.activity_table = engine.persist(u, "activity_with_coded")
    v.codelists = lists
    counts = engine.execute(v.activity_table.filter(v.activity_table.setting.isin(list(coded)))
                            .group_by("setting").aggregate(n=ibis._.count()))
    n_by = dict(zip(counts["setting"], counts["n"])) if len(counts) else {}
    for name, oc in coded.items():
        title = next((x["title"] for x in lists if x["outcome"] == name), name)
        v.activity_flow.append(step_cls(f"coded_{name}", f"Activity rows derived for coded outcome `{name}` "
                                        f"({title})", int(n_by.get(name, 0)), 0, ""))
    v._cache.pop("activity", None)


def source_flow_frame(steps: list[MapStep]) -> Any:
    """The bundle table ``source_flow``: every step of preparing every source, with its unit."""
    import pandas as pd

    cols = ["source", "step", "description", "unit", "n_in", "n_out", "n_excluded", "n_affected", "reason"]
    return pd.DataFrame([{**{k: getattr(s, k) for k in cols if k != "n_excluded"}, "n_excluded": s.n_excluded}
                         for s in steps], columns=cols)


def codelists_frame(lists: list[dict[str, Any]]) -> Any:
    """The bundle table ``code_lists``: the code list behind each coded outcome (``file``: the shipped
    ``codelists/<name>.csv`` or the user's file name), its source and version."""
    import pandas as pd

    def file(x: dict[str, Any]) -> str:
        if x.get("origin") == "shipped":
            return f"codelists/{x.get('name', '')}.csv"
        return Path(str(x.get("origin"))).name if x.get("origin") not in (None, "", "evaltool") else ""

    cols = ["outcome", "file", "title", "version", "source", "url", "origin", "sha256"]
    return pd.DataFrame([{k: (file(x) if k == "file" else x.get(k, "")) for k in cols} for x in lists], columns=cols)


def outcome_labels_frame(lists: list[dict[str, Any]]) -> Any:
    """The bundle table ``outcome_labels``: what the report calls each coded outcome (``label``; ``short``
    for table cells; ``unit``, the noun of "N fewer ... per 1,000 people a year")."""
    import pandas as pd

    cols = ["outcome", "label", "short", "unit"]
    return pd.DataFrame([{k: x.get(k, "") for k in cols} for x in lists], columns=cols)
