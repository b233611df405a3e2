"""Bringing it together: the joint display, each number beside what people said about it.

Rows come from the spec's ``qualitative.joint_display`` (keys validated when the spec is loaded);
the number in each finding is taken here from the published facts by its stable key, so a row
never shows a number that did not pass the publication gate, and a row whose number is missing
says so and is not given a fit.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.labels import value_label
from evaltool.report.sections._common import esc, not_run_text

_RR_KEY = re.compile(r"^(?P<section>effects)\.(?P<outcome>[a-z_]+)\.(?P<analysis>did|naive)\.(?P<sub>[a-z0-9_]+)\."
                     r"(?P<stat>rate_ratio)$")


def resolve(ctx: Any, key: str) -> str | None:
    """The published value of a joint-display key, in words ("0.82, 95% CI 0.68 to 0.98"), or None."""
    if not key:
        return None
    section, _, rest = key.partition(".")
    f = ctx.pub.fact(section, rest)
    if f is None or f.hidden or f.value is None:
        return None
    v = number(f.value)
    if v != v:
        return str(f.text)
    m = _RR_KEY.match(key)
    if m:
        base = key.rsplit(".", 1)[0]
        lo, hi = ctx.pub.fact(section, base.split(".", 1)[1] + ".ci_lower"), ctx.pub.fact(
            section, base.split(".", 1)[1] + ".ci_upper")
        if lo is not None and hi is not None and not lo.hidden and not hi.hidden:
            return f"{v:.2f}, 95% CI {number(lo.value):.2f} to {number(hi.value):.2f}"
    ci = ctx.pub.fact(section, rest.replace("rate_ratio", "rate_ratio_ci"))
    if ci is not None and isinstance(ci.value, list) and len(ci.value) == 2:
        return f"{v:.2f}, 95% CI {float(ci.value[0]):.2f} to {float(ci.value[1]):.2f}"
    return f"{v:.2f}"


def build(ctx: Any) -> Section | None:
    if ctx.area_only and ctx.unplanned("qual"):
        return None  # an area-only evaluation never planned this part
    nr = not_run_text(ctx, "qual", "joint display")
    jd = ctx.pub.table("joint_display")
    if jd is None or not len(jd.display):
        return None if not nr else Section("together", "Bringing it together", nr)
    d = jd.display
    rows = []
    for _, r in d.iterrows():
        template = str(r.get("finding_template") or r.get("finding") or "")
        value = resolve(ctx, str(r.get("quant_key") or ""))
        if "{value}" in template:
            finding = template.replace("{value}", value if value else "not available")
        else:
            finding = re.sub(r"\((rate ratio )?not available\)", f"({value})" if value else "(not available)", template)
        fit = value_label("fit", r.get("fit")) if value or not r.get("quant_key") else \
            "Not assessed: the number is not available"
        themes = str(r.get("themes") or "")
        themes = re.sub(r"\s*\(\d+ participants?, \d+%\)", "", themes)
        rows.append({"What the numbers say": finding, "What people said (themes)": themes, "Fit": fit})
    intro = ("Each row sets a finding from the numbers beside the themes from interviews that speak to it, and says "
             "whether what people said confirms the number, expands on it (explains or adds to it) or does not fit "
             "it. The evaluators chose the pairings and fits before seeing this report.")
    return Section("together", "Bringing it together", esc(intro) + "\n\n" + ctx.table(
        pd.DataFrame(rows), "Joint display: the numbers and the voices side by side", "joint-display", labelled=True))
