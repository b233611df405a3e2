"""Published tables whose text cells quote counts, rebuilt from the published counts.

Two bundle tables carry counts inside text, written by the qualitative stage for analysts:
``qual_theme_role_matrix`` ("4/5" participants per theme and role) and ``joint_display``
("Workforce capacity (26 participants, 87%)"). Their published versions are rebuilt here from the
published theme counts, so a count suppressed in the theme tables is suppressed in the text too, and
a role group smaller than the threshold never shows a count beside its label.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from evaltool.report.rules import DisclosureRules

__all__ = ["compose_tables"]

_PARTICIPANTS = re.compile(r"\s*\((?:about |fewer than )?[\d,]+ participants?(?:, [\d.]+%)?\)")


def compose_tables(tables: dict, bundle, rules: DisclosureRules) -> dict:
    """Replace the published ``qual_theme_role_matrix`` and ``joint_display`` by rebuilt versions."""
    if not rules.enabled:
        return tables
    out = dict(tables)
    if "qual_theme_role_matrix" in out and "qual_theme_by_role" in tables:
        out["qual_theme_role_matrix"] = _role_matrix(out["qual_theme_role_matrix"], tables["qual_theme_by_role"], rules)
    if "joint_display" in out and "qual_theme_frequencies" in tables:
        out["joint_display"] = _joint(out["joint_display"], tables["qual_theme_frequencies"], rules)
    return out


def _text(pt, i: int, col: str) -> str:
    if bool(pt.hidden.loc[i, col]):
        return str(pt.display.loc[i, col])
    v = pt.values.loc[i, col]
    return "–" if not np.isfinite(v) else f"{int(v):,}"


def _role_matrix(old, long, rules: DisclosureRules):
    from evaltool.report.publish import PublishedTable, SuppressedCell

    d = long.display
    need = {"theme", "role", "n_participants", "participants_in_group"}
    if not need <= set(d.columns):
        return old
    label = rules.qual.suppressed_text()
    label_col = "theme_label" if "theme_label" in d.columns else "theme"
    themes = list(dict.fromkeys(d[label_col]))
    roles = list(dict.fromkeys(d["role"]))
    cells: dict[tuple[str, str], str] = {}
    hidden: dict[tuple[str, str], bool] = {}
    for i in range(len(d)):
        n_h = bool(long.hidden.loc[i, "n_participants"])
        g_h = bool(long.hidden.loc[i, "participants_in_group"])
        n = long.values.loc[i, "n_participants"]
        key = (d[label_col].iloc[i], d["role"].iloc[i])
        if n == 0 and not n_h:
            cells[key] = "0" if not g_h else f"0 of {label}"
            hidden[key] = False
        elif n_h or g_h:
            cells[key] = label
            hidden[key] = True
        else:
            cells[key] = f"{_text(long, i, 'n_participants')}/{_text(long, i, 'participants_in_group')}"
            hidden[key] = False
    disp = pd.DataFrame({"theme": themes, **{r: [cells.get((t, r), "–") for t in themes] for r in roles}})
    hid = pd.DataFrame({"theme": [False] * len(themes), **{r: [hidden.get((t, r), False) for t in themes] for r in roles}})
    vals = pd.DataFrame(np.nan, index=disp.index, columns=disp.columns)
    sup = tuple(SuppressedCell(old.name, i, r, "derived", "qual", "quotes a suppressed theme count")
                for r in roles for i, t in enumerate(themes) if hidden.get((t, r)))
    return PublishedTable(old.name, old.section, old.title, old.caption, old.appendix, old.publish, "qual", (), (),
                          disp, vals, hid, sup, {})


def _joint(old, freq, rules: DisclosureRules):
    from evaltool.report.publish import PublishedTable, SuppressedCell

    if "themes" not in old.display.columns:
        return old
    d = freq.display
    label_col = next((c for c in ("theme_label", "label") if c in d.columns), None)
    if label_col is None or "n_participants" not in d.columns:
        return old
    label = rules.qual.suppressed_text()
    by_label: dict[str, str] = {}
    for i in range(len(d)):
        if bool(freq.hidden.loc[i, "n_participants"]):
            by_label[str(d[label_col].iloc[i])] = f" ({label} participants)"
        else:
            n = _text(freq, i, "n_participants")
            pct = ""
            if "pct_participants" in d.columns and not bool(freq.hidden.loc[i, "pct_participants"]):
                p = freq.values.loc[i, "pct_participants"]
                pct = f", {p:.0f}%" if np.isfinite(p) else ""
            by_label[str(d[label_col].iloc[i])] = f" ({n} participants{pct})"
    disp = old.display.copy()
    hid = old.hidden.copy()
    cells = list(old.cells)
    new = []
    for i, text in enumerate(disp["themes"]):
        parts = []
        for part in str(text or "").split("; "):
            m = _PARTICIPANTS.search(part)
            lab = _PARTICIPANTS.sub("", part).strip()
            if m and lab in by_label:
                parts.append(lab + by_label[lab])
                if label in by_label[lab]:
                    hid.loc[i, "themes"] = True
                    cells.append(SuppressedCell(old.name, i, "themes", "derived", "qual",
                                                f"participants raising '{lab}' are suppressed"))
            else:
                parts.append(lab)  # a count that cannot be matched to a published theme count is dropped
        new.append("; ".join(p for p in parts if p))
    disp["themes"] = new
    return PublishedTable(old.name, old.section, old.title, old.caption, old.appendix, old.publish, "qual",
                          old.count_columns, old.derived_columns, disp, old.values, hid, tuple(cells), old.decimals)
