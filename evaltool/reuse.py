"""`evaltool run --only STAGE`: re-run some stages, reuse the others from the saved bundle.

A saved stage is reused only when it is still valid for the current run: the same evaltool
version, seed and input files (SHA-256), and the same spec for everything the stage depends on
(window, cohort, validation, and its own section). Anything else is an error that says what
changed, never a silent mix of old and new results. The bundle keeps aggregates only, so a stage
that needs another's patient-level output re-runs it too: ``--only effects`` re-runs matching
(deterministic for the seed), because the matched cohort is not saved.

Reused tables are carried over as text, exactly as saved, so the rewritten bundle's tables are
byte-identical to a full run's (the report is rendered again from the whole bundle).
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaltool import __version__
from evaltool.errors import EvaltoolError, SpecError
from evaltool.runlog import AnalysisStatus, Event, read_jsonl
from evaltool.stage import DataFigure, FigureSpec, StageOutput, TableMeta

__all__ = ["STAGES", "Reuse", "plan_reuse"]

STAGES = ("matching", "effects", "rollout", "proms", "qual")
#: stage -> stages whose in-memory (patient-level) output it needs
NEEDS = {"effects": ("matching",)}
#: stage -> spec sections its results depend on (besides the common ones)
SECTIONS = {"matching": ("matching",), "effects": ("matching", "effects"), "rollout": ("rollout",),
            "proms": ("proms",), "qual": ("qualitative",)}
COMMON = ("window", "cohort", "validation", "seed")
#: codes the pipeline writes itself around every stage (not carried over from the saved log)
_FRAME_CODES = {"stage_started", "stage_finished", "stage_partial", "stage_failed", "stage_skipped",
                "planned_analysis_missing", "planned_analysis_partial"}
#: tables the pipeline writes from every stage's output (recomputed, never reused)
PIPELINE_TABLES = {"effects"}
_PATH_KEYS = {"codebook", "segments", "participants", "redaction_list", "analyst_summaries"}


class _SavedPng:
    """Stands in for a ggplot: ``save`` copies the figure saved by the earlier run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, dest: Any, **_: Any) -> None:
        if hasattr(dest, "write"):  # a buffer (evaltool.figure_workers draws into one)
            dest.write(Path(self.path).read_bytes())
        else:
            shutil.copyfile(self.path, dest)


def _section(spec_json: dict[str, Any], key: str) -> Any:
    value = spec_json.get(key)
    if key == "qualitative" and isinstance(value, dict):  # files are compared by hash, not by path
        value = {k: v for k, v in value.items() if k not in _PATH_KEYS}
    return value


@dataclass
class Reuse:
    """Which stages run, which are reused, and the saved bundle they come from."""

    bundle: Path
    run: tuple[str, ...]
    reused: tuple[str, ...]
    manifest: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def check(self, spec_json: dict[str, Any], files: dict[str, dict[str, Any]]) -> None:
        """Raise :class:`SpecError` naming what changed if any reused stage is no longer valid."""
        m = self.manifest
        problems: list[str] = []
        if m.get("evaltool_version") != __version__:
            problems.append(f"it was made by evaltool {m.get('evaltool_version')}, this is {__version__}")
        saved_files = {k: (v or {}).get("sha256") for k, v in (m.get("inputs") or {}).items()}
        now_files = {k: (v or {}).get("sha256") for k, v in files.items()}
        changed = sorted(k for k in set(saved_files) | set(now_files) if saved_files.get(k) != now_files.get(k))
        if changed:
            problems.append(f"input files changed since: {', '.join(changed)}")
        saved_spec = m.get("spec") or {}
        keys = sorted({k for s in self.reused for k in (*COMMON, *SECTIONS[s])})
        diff = [k for k in keys if _section(saved_spec, k) != _section(spec_json, k)]
        if diff:
            problems.append(f"the spec changed in: {', '.join(diff)}")
        if problems:
            raise SpecError(
                f"--only {','.join(self.run)}: the saved results in {self.bundle} cannot be reused for "
                f"{', '.join(self.reused)}: " + "; ".join(problems) + ". Run every stage (without --only).")

    def stage_fn(self, name: str, fn: Callable[[], StageOutput]) -> Callable[[], StageOutput]:
        """``fn`` for a stage that runs; for a reused one, a function returning its saved output."""
        if name not in self.reused:
            return fn
        return lambda: self._saved_output(name)

    def _saved_output(self, name: str) -> StageOutput:
        st = (self.manifest.get("stages") or {}).get(name) or {}
        if st.get("status") == "failed":
            raise _SavedFailure(f"(reused from the saved run) {st.get('reason', 'the stage failed')}")
        section = name  # each stage files its tables under its own name (the qual stage also under joint_display)
        out = StageOutput(section=section)
        for t in self.manifest.get("tables") or []:
            if t.get("section") != section and not (name == "qual" and t.get("section") == "joint_display"):
                continue
            if t["name"] in PIPELINE_TABLES:
                continue
            out.tables[t["name"]] = _read_text_table(self.bundle / t["path"])
            out.table_meta[t["name"]] = TableMeta(
                title=t.get("title", ""), caption=t.get("caption", ""),
                count_columns=tuple(t.get("count_columns") or ()),
                derived_columns=tuple(tuple(x) for x in t.get("derived_columns") or ()),
                appendix=bool(t.get("appendix")), publish=bool(t.get("publish", True)),
                section=t.get("section") if t.get("section") != section else None, rule=t.get("rule"))
        for f in self.manifest.get("figures") or []:
            if f.get("section") != section:
                continue
            if f.get("data"):  # a count figure the report draws from its (reused) published table
                enc = dict(f.get("encoding") or {})
                w, h = float(enc.pop("width", 7.0)), float(enc.pop("height", 4.5))
                out.figures[f["name"]] = DataFigure(str(f["data"]), enc, f.get("title", ""), f.get("alt", ""),
                                                    width=w, height=h, appendix=bool(f.get("appendix")))
                continue
            out.figures[f["name"]] = FigureSpec(_SavedPng(self.bundle / f["path"]), f.get("title", ""),
                                                f.get("alt", ""), appendix=bool(f.get("appendix")))
        out.facts = dict(self.facts.get(section) or {})
        out.events = [e for e in self.events if e.stage == name and e.code not in _FRAME_CODES]
        out.event("stage_reused", f"{name} results reused from the saved run of {self.manifest.get('created', '?')}",
                  severity="info")
        out.analyses = [AnalysisStatus(**{k: a[k] for k in ("stage", "analysis", "outcome", "subgroup", "status",
                                                             "reason") if k in a})
                        for a in (self.manifest.get("run") or {}).get("analyses", []) if a.get("stage") == name]
        return out


class _SavedFailure(EvaltoolError):
    """The reused stage had failed in the saved run: it is reported as failed again, with that reason."""


def _read_text_table(path: Path) -> pd.DataFrame:
    """A saved table as text cells, exactly as written (an empty table has no columns)."""
    if not path.read_text(encoding="utf-8").strip():
        return pd.DataFrame()
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def plan_reuse(only: Sequence[str] | str, bundle_dir: Path) -> Reuse:
    """Check the ``--only`` stage names and load the saved bundle to reuse the rest from."""
    names = [s.strip() for s in (only.split(",") if isinstance(only, str) else only) if s.strip()]
    bad = [s for s in names if s not in STAGES]
    if bad or not names:
        raise SpecError(f"--only: expected some of {', '.join(STAGES)}, got {', '.join(bad) or 'nothing'}")
    run = set(names)
    for s in list(run):
        run.update(NEEDS.get(s, ()))
    manifest_path = Path(bundle_dir) / "results" / "manifest.json"
    if not manifest_path.exists():
        raise SpecError(f"--only {','.join(names)}: no saved results to reuse in {bundle_dir} "
                        "(run every stage once first, without --only)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    facts_path = manifest_path.with_name("facts.json")
    facts = json.loads(facts_path.read_text(encoding="utf-8")) if facts_path.exists() else {}
    log = manifest_path.with_name("run_log.jsonl")
    events = read_jsonl(log) if log.exists() else []
    ordered = tuple(s for s in STAGES if s in run)
    return Reuse(Path(bundle_dir), ordered, tuple(s for s in STAGES if s not in run), manifest, facts, events)
