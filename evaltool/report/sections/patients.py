"""Patients' outcomes and experience: EQ-5D change, activation, P3CEQ and the Friends and Family Test.

Sentences are written here from published tables (never the stage's own sentences, whose numbers
did not pass the publication gate).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.labels import value_label
from evaltool.report.sections._common import esc, not_run_text


def _f(x: Any, d: int = 3) -> str:
    v = number(x)
    return "–" if v != v else (f"{v:+.{d}f}".replace("-", "\u2212") if d else f"{v:,.0f}")


def _eq5d(ctx: Any) -> list[str]:
    t = ctx.pub.table("eq5d_change")
    if t is None or not len(t.display):
        return []
    d = t.display
    tps = list(dict.fromkeys(d["timepoint"]))
    tp = "12m" if "12m" in tps else tps[-1]
    sub = d[d["timepoint"] == tp].copy()
    sub["_o"] = (sub["group"] != "enrolled").astype(int)
    sub = sub.sort_values("_o", kind="stable")
    rows = []
    for _, r in sub.iterrows():
        rows.append({"Group": value_label("group", r["group"]), "People with both answers": r["n_pairs"],
                     "Baseline": f"{number(r['mean_baseline']):.3f}", "Follow-up": f"{number(r['mean_followup']):.3f}",
                     "Change (95% CI)": f"{_f(r['estimate'])} ({_f(r['ci_lower'])} to {_f(r['ci_upper'])})"})
    parts = []
    anc = ctx.pub.table("eq5d_ancova")
    when = value_label("period", tp).lower()
    txt = f"Health status (EQ-5D index, from 0 to 1 = full health) at baseline and {when}."
    if anc is not None and len(anc.display):
        a = anc.display[anc.display["timepoint"] == tp]
        if len(a):
            a = a.iloc[0]
            txt += (f" Allowing for baseline scores (ANCOVA), enrolled people's index was {_f(a['estimate'])} "
                    f"(95% CI {_f(a['ci_lower'])} to {_f(a['ci_upper'])}) compared with the comparison group. These "
                    "groups answered surveys voluntarily and were not randomised, so part of the difference may "
                    "reflect who answered.")
    rf = ctx.pub.table("response_flow")
    if rf is not None and len(rf.display):
        f = rf.display[(rf.display["group"] == "enrolled") & (rf.display["timepoint"] == tp)]
        if len(f):
            pct = number(f["pct_retained"].iloc[0])
            resp = number(f["n_responded"].iloc[0]) / max(1.0, number(f["n_invited"].iloc[0])) * 100
            if pct == pct:
                txt += (f" Only {resp:.0f}% of enrolled people answered at {when} ({pct:.0f}% of baseline "
                        "responders), so these results may not represent everyone.")
    parts.append(esc(txt))
    parts.append(ctx.table(pd.DataFrame(rows), f"Change in EQ-5D index from baseline to {when}", "eq5d-change",
                           labelled=True))
    return parts


def _experience(ctx: Any) -> list[str]:
    bits = []
    am = ctx.pub.table("activation_movement")
    if am is not None and len(am.display):
        d = am.display
        r = d[(d["group"] == "enrolled") & (d["timepoint"] == "12m")]
        c = d[(d["group"] == "comparison") & (d["timepoint"] == "12m")]
        if len(r):
            s = f"{number(r['pct_up'].iloc[0]):.0f}% of enrolled people moved up at least one patient activation level by 12 months"
            if len(c):
                s += f", against {number(c['pct_up'].iloc[0]):.0f}% in the comparison group"
            bits.append(s + ".")
    ps = ctx.pub.table("prem_p3ceq_scales")
    if ps is not None and len(ps.display):
        d = ps.display[ps.display["scale"] == "total"]
        e, c = d[d["group"] == "enrolled"], d[d["group"] == "comparison"]
        if len(e):
            s = f"On the P3CEQ experience questionnaire (0 to 33), enrolled people scored {number(e['estimate'].iloc[0]):.1f} on average"
            if len(c):
                s += f", the comparison group {number(c['estimate'].iloc[0]):.1f}"
            bits.append(s + ".")
    ff = ctx.pub.table("prem_fft")
    if ff is not None and len(ff.display):
        r = ff.display.iloc[0]
        pp, pn = number(r.get("pct_positive")), number(r.get("pct_negative"))
        if pp == pp:
            bits.append(f"In the Friends and Family Test, {pp:.0f}% of {r.get('n_responses')} responses rated the "
                        f"service good or very good" + (f" and {pn:.0f}% poor or very poor." if pn == pn else "."))
    return [esc(" ".join(bits))] if bits else []


def build(ctx: Any) -> Section | None:
    if ctx.area_only and ctx.unplanned("proms"):
        return None  # an area-only evaluation never planned this part
    nr = not_run_text(ctx, "proms", "analysis of patient-reported outcomes")
    if nr and ctx.status("proms")[0] == "not_run" and "no `proms`" in ctx.status("proms")[1]:
        return None
    parts = [nr] if nr else (_eq5d(ctx) + _experience(ctx))
    if not parts:
        return None
    return Section("patients", "Patients' outcomes and experience", "\n\n".join(parts))
