"""The programme and how it was meant to work: the evaluators' narrative and logic model."""
from __future__ import annotations

from typing import Any

from evaltool.report.context import Section
from evaltool.report.markdown import attr_value
from evaltool.report.sections._common import esc


def build(ctx: Any) -> Section:
    parts = []
    prog = ctx.narrative.get("programme")
    parts.append(prog if prog else esc(ctx.manifest.get("programme") or "The programme was not described in the "
                                                                        "analysis plan."))
    if ctx.narrative.get("context"):
        parts.append(ctx.narrative["context"])
    if ctx.logic_model is not None:
        parts.append(f'![How the programme was meant to work (logic model)](figures/{ctx.logic_model.name})'
                     f'{{#fig-logic-model fig-alt="{attr_value(ctx.narrative.get("logic_model_alt") or "Logic model: inputs, activities, outputs and the outcomes the programme expected.")}" width="100%"}}')
    elif ctx.narrative.get("logic_model"):
        parts.append("**How it was meant to work.**\n\n" + ctx.narrative["logic_model"])
    return Section("programme", "The programme and how it was meant to work", "\n\n".join(parts))
