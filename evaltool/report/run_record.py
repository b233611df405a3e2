"""What the run recorded about itself, as the report needs it (deviations, limitations).

Reads the run record of a saved bundle (issue 10's contract, docs/architecture.md "The run
record"): ``manifest.run.analyses`` (one row per planned analysis: stage, analysis, outcome,
subgroup, status ``ok|partial|failed``, reason) and the events of ``results/run_log.jsonl``
(stage, severity, code, message, detail, counts). Bundles written before that record existed
still give an honest answer: stage statuses from ``manifest.stages`` and failed outcomes from
``facts.effects.failed_outcomes``. The analyst's own declared deviations
(``manifest.report.deviations``) are added to the same table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evaltool.report.bundle_io import Bundle
from evaltool.report.labels import value_label
from evaltool.report.sentences import plain_reason

__all__ = ["RunRecord", "read_run_record"]

_STAGE_WORDS = {"cohort": "Building the cohort", "matching": "Matching", "effects": "Matched comparison",
                "rollout": "Practice roll-out", "proms": "Patient-reported outcomes", "qual": "Interviews and focus groups",
                "inputs": "Reading the data", "report": "Report", "bundle": "Saving results",
                "economics": "Economic evaluation", "area": "Whole-area analysis"}


@dataclass(frozen=True)
class RunRecord:
    """Planned analyses and their fate, events worth a reader's attention, declared deviations."""

    analyses: tuple[dict[str, Any], ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    declared: tuple[dict[str, Any], ...] = ()

    def failed(self) -> list[dict[str, Any]]:
        """Planned analyses that did not (fully) produce their result."""
        return [a for a in self.analyses if a.get("status") in ("failed", "partial")]

    def failed_outcomes(self, stage: str = "effects") -> dict[str, str]:
        """Outcome -> reason, for whole outcomes of ``stage`` that failed."""
        return {str(a["outcome"]): str(a.get("reason") or "no result was produced") for a in self.failed()
                if a.get("stage") == stage and a.get("status") == "failed" and a.get("subgroup", "all") == "all"}

    def stage_problems(self) -> list[tuple[str, str, str]]:
        """(stage, status, reason) of stages that failed, or did not run although the plan asked for them.

        ``partial`` stages are not listed: their missing analyses are in :meth:`failed`. A stage the
        spec never asked for ("no `rollout` section in the spec") is not a deviation.
        """
        out = []
        for k, v in self.stages.items():
            if not isinstance(v, dict):
                continue
            status, reason = str(v.get("status")), str(v.get("reason") or "")
            if status == "failed" or (status == "not_run" and not reason.startswith("no `")):
                out.append((k, status, reason))
        return out

    @staticmethod
    def stage_words(stage: str) -> str:
        """The reader's name for a stage ("Patient-reported outcomes" for ``proms``)."""
        return _STAGE_WORDS.get(stage, stage.replace("_", " ").capitalize())

    def notable_events(self) -> list[dict[str, Any]]:
        """Warnings and errors, without the failed-estimate ones already listed as failed analyses."""
        return [e for e in self.events if e.get("severity") in ("warning", "error")]

    def deviations(self) -> pd.DataFrame:
        """One row per change to the plan: what was planned, what happened, why (human words only)."""
        rows = []
        for a in self.failed():
            what = value_label("analysis", a.get("analysis", "")) if a.get("analysis") else ""
            out = value_label("outcome", a.get("outcome", "")) if a.get("outcome") else ""
            sub = a.get("subgroup") or "all"
            item = ", ".join(x for x in (_STAGE_WORDS.get(str(a.get("stage")), str(a.get("stage", ""))), out) if x)
            if sub != "all":
                item += f" (by {str(sub).replace('_', ' ')})"
            planned = f"{what or 'Analysis'} of {out.lower() if out else 'this outcome'}"
            happened = "Not estimated" if a.get("status") == "failed" else "Partly estimated"
            rows.append({"Analysis": item, "Planned": planned, "What happened": happened,
                         "Why": _sentence(plain_reason(a.get("reason") or "no result was produced"))})
        for stage, status, reason in self.stage_problems():
            if any(r["Analysis"].startswith(_STAGE_WORDS.get(stage, stage)) for r in rows):
                continue
            rows.append({"Analysis": _STAGE_WORDS.get(stage, stage), "Planned": "Run this part of the evaluation",
                         "What happened": value_label("status", status),
                         "Why": _sentence(plain_reason(reason) if reason else "not recorded")})
        for d in self.declared:
            rows.append({"Analysis": str(d.get("item", "")), "Planned": str(d.get("planned", "")),
                         "What happened": str(d.get("actual", "")), "Why": str(d.get("reason", ""))})
        return pd.DataFrame(rows, columns=["Analysis", "Planned", "What happened", "Why"])


def _sentence(text: str) -> str:
    t = " ".join(str(text).split())
    return (t[:1].upper() + t[1:]).rstrip(".") + "." if t else t


def read_run_record(bundle: Bundle) -> RunRecord:
    """The run record of ``bundle`` (new-style if present, otherwise rebuilt from older fields).

    Examples
    --------
    >>> from evaltool.report.bundle_io import load_bundle
    >>> rec = read_run_record(load_bundle("tests/fixtures/bundle"))  # doctest: +SKIP
    >>> rec.deviations().columns.tolist()  # doctest: +SKIP
    ['Analysis', 'Planned', 'What happened', 'Why']
    """
    m = bundle.manifest
    run = m.get("run") if isinstance(m.get("run"), dict) else {}
    analyses = [a for a in (run.get("analyses") or []) if isinstance(a, dict)]
    stages = {k: v for k, v in (m.get("stages") or {}).items() if isinstance(v, dict)}
    # The run log is read through the bundle (containment checked, tracebacks removed).
    events = [e.to_dict() for e in bundle.run_events("warning")] if hasattr(bundle, "run_events") else []
    if not analyses:
        # Older bundles: failed outcomes were only in facts.
        eff = bundle.facts.get("effects") if isinstance(bundle.facts.get("effects"), dict) else {}
        for o, why in (eff.get("failed_outcomes") or {}).items():
            analyses.append({"stage": "effects", "analysis": "matched_did", "outcome": o, "subgroup": "all",
                             "status": "failed", "reason": str(why)})
    declared = tuple(d for d in ((m.get("report") or {}).get("deviations") or []) if isinstance(d, dict))
    return RunRecord(tuple(analyses), tuple(events), stages, declared)
