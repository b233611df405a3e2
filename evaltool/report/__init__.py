"""The report layer: renders a saved results bundle to HTML, PDF, Word and Excel.

Reads only the bundle directory (``results/``, ``figures/``, ``manifest.json``); never
imports the statistics modules. See ``docs/architecture.md`` for the bundle layout.
"""
from __future__ import annotations

from evaltool.report.disclosure import DisclosureConfig, apply_disclosure
from evaltool.report.spc import xmr

__all__ = ["DisclosureConfig", "ReportResult", "apply_disclosure", "render_report", "xmr"]


def __getattr__(name: str):
    # render pulls in pandoc/typst helpers; import lazily so `evaltool.report.spc` stays light.
    if name in ("render_report", "ReportResult", "load_bundle"):
        from evaltool.report import render

        return getattr(render, name)
    raise AttributeError(name)
