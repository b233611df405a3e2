"""The report layer: renders a saved results bundle to HTML, PDF, Word and Excel.

Reads only the bundle directory (``results/``, ``figures/``, ``manifest.json``); never
imports the statistics modules. See ``docs/architecture.md`` for the bundle layout.
"""
from __future__ import annotations

from evaltool.report.disclosure import DisclosureConfig, apply_disclosure
from evaltool.report.spc import xmr

# The publication gate is ``evaltool.report.publish.publish`` (a module of the same name, so not re-exported).
__all__ = ["DisclosureConfig", "DisclosureRules", "ReportResult", "apply_disclosure", "check_publish",
           "render_report", "xmr"]


def __getattr__(name: str):
    # render pulls in pandoc/typst helpers; import lazily so `evaltool.report.spc` stays light.
    if name in ("render_report", "ReportResult", "load_bundle"):
        from evaltool.report import render

        return getattr(render, name)
    if name == "check_publish":
        from evaltool.report.check import check_publish

        return check_publish
    if name == "DisclosureRules":
        from evaltool.report.rules import DisclosureRules

        return DisclosureRules
    raise AttributeError(name)
