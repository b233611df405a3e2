"""For whom: effects by group with the test of a difference, and a caveat on testing many times."""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.labels import value_label
from evaltool.report.sections._common import effects, esc, outcomes, row
from evaltool.report.sentences import (
    interaction_sentence,
    multiplicity_sentence,
    outcome_label,
    p_text,
    verdict,
)


def _ci(r: dict | None) -> str:
    if r is None:
        return "–"
    est, lo, hi = (number(r.get(k)) for k in ("estimate", "ci_lower", "ci_upper"))
    if any(x != x for x in (est, lo, hi)):
        return "not estimable"
    return f"{est:.2f} ({lo:.2f} to {hi:.2f})"


def build(ctx: Any) -> Section | None:
    e = effects(ctx)
    levels = [s for s in dict.fromkeys(e["sub"]) if s != "all"] if len(e) else []
    levels.sort(key=lambda s: not s.startswith("under"))  # youngest group first, as people read ages
    if len(levels) < 2:
        return None
    t = ctx.pub.table("subgroup_tests")
    tests = t.display if t is not None else pd.DataFrame(columns=["outcome", "p_value"])
    rows = []
    for o in outcomes(e):
        r = {"Outcome": outcome_label(o)}
        for s in levels:
            r[f"{value_label('subgroup', s)}: rate ratio (95% CI)"] = _ci(row(e, o, s))
        tr = tests[tests["outcome"] == o]
        r["Test of a difference"] = p_text(number(tr["p_value"].iloc[0])) if len(tr) else "–"
        rows.append(r)
    table = pd.DataFrame(rows)
    o = "emergency_admission" if "emergency_admission" in outcomes(e) else outcomes(e)[0]
    tr = tests[tests["outcome"] == o]
    p = number(tr["p_value"].iloc[0]) if len(tr) else None
    lv = [(value_label("subgroup", s) if value_label("subgroup", s)[:1].isdigit()
           else value_label("subgroup", s).lower(), row(e, o, s)) for s in levels]
    lv = sorted([(w, r) for w, r in lv if r is not None], key=lambda x: verdict(x[1]) == "No clear difference")
    lead = interaction_sentence(o, lv, p, "age")
    ps = [number(x) for x in tests["p_value"]] if len(tests) else []
    multi = multiplicity_sentence(len(ps), sum(1 for x in ps if x == x and x < 0.05))
    parts = [esc(lead),
             ctx.table(table, "Effects by age group, with the test of whether they differ", "for-whom", labelled=True),
             esc("How to read this: a subgroup effect whose interval excludes 1 does not by itself show that the "
                 "programme works better for that group; only the test of a difference can suggest that. " + multi)]
    return Section("for-whom", "For whom", "\n\n".join(parts))
