"""What each pipeline stage hands back to the pipeline, and the bundle writer reads.

A stage is a plain function ``run_stage(...) -> StageOutput``. The pipeline writes
``tables`` to ``results/<name>.csv``, ``figures`` to ``figures/<name>.png`` and
``facts`` into ``results/facts.json`` under the stage's section. Nothing in a
``StageOutput``'s tables, figures or facts may be patient-level; ``objects`` holds
in-memory results (which may be patient-level, e.g. the matched cohort) for later
stages and is never written.

Nothing is silent: whatever a stage sets aside, skips or cannot estimate it records with
:meth:`StageOutput.event`, and the fate of each planned analysis with
:meth:`StageOutput.analysis` (the run record, :mod:`evaltool.runlog`). The pipeline prints
them, writes them to ``results/run_log.jsonl`` and summarises them in ``manifest.json``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evaltool.runlog import AnalysisStatus, Event


@dataclass(frozen=True)
class TableMeta:
    """How a results table is published.

    Attributes
    ----------
    title, caption:
        Shown above/below the table in the report.
    count_columns:
        Columns holding counts of people/events: disclosure control applies to these.
    derived_columns:
        Mapping ``derived column -> count column`` it derives from (rates, percentages):
        suppressed when its count is suppressed.
    appendix:
        True: technical appendix only.
    publish:
        False: written to the bundle for analysts but never shown in the report.
    section:
        Report section when it differs from the stage's (e.g. the qualitative stage's
        ``joint_display`` table belongs to the ``joint_display`` section).
    """

    title: str
    caption: str = ""
    count_columns: tuple[str, ...] = ()
    derived_columns: tuple[tuple[str, str], ...] = ()
    appendix: bool = False
    publish: bool = True
    section: str | None = None


@dataclass(frozen=True)
class FigureSpec:
    """A figure for the bundle: a plotnine ggplot plus its title and alt text."""

    plot: Any
    title: str
    alt: str
    width: float = 7.0
    height: float = 4.5
    appendix: bool = False


@dataclass
class StageOutput:
    """Everything a stage returns to the pipeline."""

    section: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    table_meta: dict[str, TableMeta] = field(default_factory=dict)
    figures: dict[str, FigureSpec] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    analyses: list[AnalysisStatus] = field(default_factory=list)

    def event(self, code: str, message: str, *, severity: str = "warning", **fields: Any) -> Event:
        """Record something the reader must know (rows set aside, a subgroup skipped, a failed fit).

        ``code`` is a stable snake_case identifier; ``message`` one plain-English line; ``fields``
        are those of :class:`evaltool.runlog.Event` (``detail``, ``counts``, ``outcome``,
        ``subgroup``, ``analysis``, ``file``, ``column``, ``rows``).

        Examples
        --------
        >>> out = StageOutput(section="proms")
        >>> e = out.event("rows_set_aside", "3 PROM rows for unknown people were set aside", counts={"rows": 3})
        >>> out.messages()
        ['3 PROM rows for unknown people were set aside']
        """
        ev = Event(self.section, severity, code, message, **fields)
        self.events.append(ev)
        return ev

    def analysis(self, analysis: str, outcome: str, status: str = "ok", reason: str = "", *,
                 subgroup: str = "all") -> AnalysisStatus:
        """Record the fate (``ok``, ``partial``, ``failed``) of one planned analysis."""
        st = AnalysisStatus(self.section, analysis, outcome, subgroup, status, reason)
        self.analyses = [a for a in self.analyses if a.key != st.key] + [st]
        return st

    def messages(self, severity: str | None = None) -> list[str]:
        """The messages of the recorded events (optionally of one severity)."""
        return [e.message for e in self.events if severity is None or e.severity == severity]
