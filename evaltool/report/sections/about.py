"""About this report: confidentiality rules applied, where everything came from, where the detail is."""
from __future__ import annotations

from typing import Any

from evaltool.report.context import Section
from evaltool.report.sections._common import esc


def build(ctx: Any) -> Section:
    m = ctx.manifest
    org = ctx.brand.name
    parts = [esc(ctx.pub.statement())]
    parts.append(esc(
        f"This report was produced by evaltool {m.get('evaltool_version', '')} from the saved results of the analysis "
        f"'{m.get('name')}'" + (f" for {org}" if org else "") + ". Re-rendering those results gives the same "
        "document; the date at the top is when the results were produced. The technical appendix (a separate "
        "document) holds the methods, diagnostics, full tables, the analysis plan as run, software versions and a "
        "reporting checklist; the Excel workbook holds every published table."))
    return Section("about", "About this report", "\n\n".join(parts))
