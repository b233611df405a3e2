"""The run log as text: ``results/run_log.txt``, a reading of ``results/run_log.jsonl`` for people.

The JSON lines file (:mod:`evaltool.runlog`) is the record; this renders the same events, in
order, one line each with the stage and severity, followed by any detail, and then the fate of
every planned analysis. ``evaltool log BUNDLE`` prints it. Core layer: imports only the run record.

Examples
--------
>>> from evaltool.runlog import Event
>>> print(format_run_log([Event("inputs", "info", "stage_finished", "14,608 people, 230 enrolled"),
...                       Event("effects", "warning", "estimate_failed", "care home admissions: not estimated",
...                             detail="no events in the post-period under 65")], name="southvale"))
evaltool run log: southvale
1 warning, 0 errors (2 events; details in results/run_log.jsonl)
<BLANKLINE>
   1  info     inputs    14,608 people, 230 enrolled
   2  warning  effects   care home admissions: not estimated
                         no events in the post-period under 65
"""
from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evaltool.runlog import Event, read_jsonl

__all__ = ["format_run_log", "read_run_log_text"]


def format_run_log(events: Iterable[Event], *, name: str = "", analyses: Iterable[Mapping[str, Any]] = (),
                   min_severity: str = "info", width: int = 110) -> str:
    """The events as aligned text (``min_severity="warning"`` leaves out progress and counts)."""
    order = {"info": 0, "warning": 1, "error": 2}
    evs = list(events)
    n_warn = sum(e.severity == "warning" for e in evs)
    n_err = sum(e.severity == "error" for e in evs)
    lines = [f"evaltool run log{': ' + name if name else ''}",
             f"{n_warn} warning{'s' * (n_warn != 1)}, {n_err} error{'s' * (n_err != 1)} "
             f"({len(evs)} events; details in results/run_log.jsonl)", ""]
    indent = " " * 25
    for i, e in enumerate(evs, 1):
        if order[e.severity] < order[min_severity]:
            continue
        msg = " ".join(e.message.split()) or e.code.replace("_", " ")
        head = f"{i:>4}  {e.severity:<7}  {e.stage:<9} "
        lines.append(textwrap.fill(msg, width, initial_indent=head, subsequent_indent=indent))
        if e.detail:
            lines.append(textwrap.fill(" ".join(e.detail.split()), width, initial_indent=indent,
                                       subsequent_indent=indent))
    planned = list(analyses)
    if planned:
        lines += ["", "Planned analyses:"]
        for a in planned:
            sub = "" if a.get("subgroup", "all") == "all" else f" by {a['subgroup']}"
            why = f": {a['reason']}" if a.get("reason") else ""
            lines.append(f"  {a.get('status', ''):<8} {a.get('stage', '')} {a.get('analysis', '')} "
                         f"{a.get('outcome', '')}{sub}{why}")
    return "\n".join(lines)


def read_run_log_text(bundle_dir: str | Path, min_severity: str = "info") -> str:
    """``format_run_log`` of a saved bundle's ``results/run_log.jsonl`` (with its planned analyses)."""
    import json

    root = Path(bundle_dir)
    events = read_jsonl(root / "results" / "run_log.jsonl")
    manifest: dict[str, Any] = {}
    mpath = root / "results" / "manifest.json"
    if mpath.exists():
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    return format_run_log(events, name=str(manifest.get("name", root.name)),
                          analyses=(manifest.get("run") or {}).get("analyses", []), min_severity=min_severity)
