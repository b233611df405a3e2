"""What people told us: the most common themes, each with one quote that belongs to it, attributed by role.

Quotes are unique in every table (the same words never appear twice, under two roles or two
themes); the qualitative stage picks each quote only for the theme its words are most often
coded to.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from evaltool.report.context import Section
from evaltool.report.gate import number
from evaltool.report.sections._common import esc, not_run_text

MAX_THEMES = 8


def unique_quotes(q: pd.DataFrame) -> pd.DataFrame:
    """One row per theme (its first quote), never the same words twice in the table."""
    seen: set[str] = set()
    keep = []
    for theme, g in q.groupby("theme", sort=False):
        for i, r in g.iterrows():
            words = " ".join(str(r["quote"]).split()).lower()
            if words not in seen:
                seen.add(words)
                keep.append(i)
                break
    return q.loc[keep]


def participants_text(v: Any, total: Any) -> str:
    if isinstance(v, str):
        return v
    n, t = number(v), number(total)
    if n != n:
        return "–"
    return f"{int(n)} of {int(t)}" if t == t else f"{int(n)}"


def build(ctx: Any) -> Section | None:
    if ctx.area_only and ctx.unplanned("qual"):
        return None  # an area-only evaluation never planned this part
    nr = not_run_text(ctx, "qual", "analysis of interviews and focus groups")
    if nr and "no `qualitative`" in ctx.status("qual")[1]:
        return None
    if nr:
        return Section("voices", "What people told us", nr)
    freq = ctx.pub.table("qual_theme_frequencies")
    quotes = ctx.pub.table("qual_quotes")
    if freq is None:
        return None
    f = freq.display.copy()
    f["_n"] = f["n_participants"].map(number)
    f = f.sort_values("_n", ascending=False, kind="stable").head(MAX_THEMES)
    q = unique_quotes(quotes.display) if quotes is not None and len(quotes.display) else pd.DataFrame(
        columns=["theme", "quote", "attribution"])
    qmap = {r["theme"]: f"\u201c{r['quote']}\u201d ({r['attribution']})" for _, r in q.iterrows()}
    rows = [{"Theme": r["theme_label"],
             "Participants who raised it": participants_text(r["n_participants"], r.get("participants_in_group")),
             "In their words": qmap.get(r["theme"], "–")} for _, r in f.iterrows()]
    n_p = ctx.pub.fact("qual", "n_participants")
    n_d = ctx.pub.fact("qual", "n_documents")
    intro = ("Staff, patients and carers were interviewed or took part in focus groups"
             + (f" ({n_p.text} participants, {n_d.text} transcripts)" if n_p and n_d and not n_p.hidden else "")
             + ". Transcripts were coded against a shared codebook; the table shows the themes raised by most "
               "participants, each with one quote chosen to illustrate it, attributed by role only. All themes and "
               "quotes are in the technical appendix.")
    return Section("voices", "What people told us", esc(intro) + "\n\n" + ctx.table(
        pd.DataFrame(rows), "The themes raised most often, in participants' words", "themes", labelled=True))
