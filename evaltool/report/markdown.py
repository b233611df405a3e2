"""Markdown building blocks: tables that fit the page, figures with alt text, escaped text.

Tables are Pandoc pipe tables. Each column gets a relative width from its content (the longest
unbreakable token -- a number, a word -- and the typical length of its text), and the
separator line is always longer than Pandoc's 72 columns, so HTML, Typst (PDF) and Word all
use those widths and wrap text inside cells instead of running off the page. A table whose
columns cannot fit at the smallest readable size is split into parts that repeat its first
(key) column(s); one with very many columns goes to the workbook only, with a line saying so.

Headers and code-valued cells (outcome, subgroup, group, period...) are written through the
label registry (:mod:`evaltool.report.labels`), so no raw identifier reaches a published table.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from evaltool.report.escape import escape_markdown
from evaltool.report.labels import column_label, value_label

__all__ = ["PAGE_CHARS", "attr_value", "fit_widths", "fmt_value", "humanise", "ident", "md_figure", "md_table",
           "split_columns"]

#: Characters of table text (8.5 pt) across the A4 text width (PDF and Word); HTML is wider.
PAGE_CHARS = 104
#: Columns whose values are codes, and the registry kind that names them.
CODE_COLUMNS = {"outcome": "outcome", "subgroup": "subgroup", "analysis": "analysis", "estimator": "estimator",
                "scale": "scale", "group": "group", "period_group": "period", "timepoint": "period", "fit": "fit",
                "status": "status"}
#: More columns than this: the table is published in the workbook only.
MAX_COLUMNS = 16


def fmt_value(v: Any, col: str = "") -> str:
    """Format one table cell for reading (numbers rounded, ``*`` and text kept).

    Examples
    --------
    >>> fmt_value(0.000412, "p_value"), fmt_value(12345.0), fmt_value(0.5123), fmt_value(True)
    ('<0.001', '12,345', '0.512', 'Yes')
    """
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "Yes" if v else "No"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "–"
    if col == "p_value" or col.endswith("_p_value") or col.startswith("p_"):
        return "<0.001" if x < 0.001 else f"{x:.3f}"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def object_cells(df: pd.DataFrame) -> np.ndarray:
    """The frame's cells as a 2-D object array, missing values (NaN, NaT, NA) as ``None``.

    ``df.astype(object).where(df.notna(), None).to_numpy()`` without pandas' alignment (a third of the
    time on the report's small tables, which it converts a few hundred times).

    Examples
    --------
    >>> object_cells(pd.DataFrame({"a": [1.5, None], "b": ["x", None]})).tolist()
    [[1.5, 'x'], [None, None]]
    """
    arr = df.astype(object).to_numpy(copy=True)
    arr[df.isna().to_numpy()] = None
    return arr


def humanise(df: pd.DataFrame, *, short: bool = False) -> pd.DataFrame:
    """Labelled headers and code cells; booleans as Yes/No; numbers left as numbers.

    Examples
    --------
    >>> humanise(pd.DataFrame({"outcome": ["ae_attendance"], "subgroup": ["65+"], "smd_after": [0.05]})).columns.tolist()
    ['Outcome', 'Group', 'Standardised mean difference after matching']
    """
    out = df.copy()
    for c, kind in CODE_COLUMNS.items():
        if c in out.columns and (pd.api.types.is_object_dtype(out[c]) or pd.api.types.is_string_dtype(out[c])):
            out[c] = out[c].map(lambda v, k=kind: value_label(k, v) if isinstance(v, str) else v)
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].map({True: "Yes", False: "No"})
        elif out[c].dtype == object and out[c].map(lambda v: isinstance(v, bool)).all() and len(out):
            out[c] = out[c].map(lambda v: "Yes" if v else "No")
    out.columns = [column_label(c, short=short) for c in out.columns]
    return out


def _tokens_max(s: str) -> int:
    return max((len(w) for w in s.split()), default=0)


def _widths(heads: list[str], cells: list[list[str]]) -> tuple[list[int], list[int]]:
    """(minimum, preferred) width per column in characters."""
    mins, prefs = [], []
    for j, h in enumerate(heads):
        col = [r[j] for r in cells]
        avg = (sum(len(c) for c in col) / len(col)) if col else 0
        longest = max([len(c) for c in col] + [0])
        # Short phrases ("No clear difference") read badly broken over lines: keep them whole.
        m = max([_tokens_max(h)] + [len(c) if len(c) <= 20 else _tokens_max(c) for c in col])
        p = max(m, min(longest, 14 + int(avg)), min(len(h), 16))
        mins.append(m)
        prefs.append(min(max(p, m), 48))
    return mins, prefs


def split_columns(n_cols: int, mins: list[int], key: int, budget: int) -> list[list[int]]:
    """Column groups, each starting with the ``key`` columns, that fit ``budget`` characters.

    Examples
    --------
    >>> split_columns(5, [10, 30, 30, 30, 30], 1, 80)
    [[0, 1, 2], [0, 3, 4]]
    """
    key = min(key, n_cols)
    base = list(range(key))
    used = sum(mins[j] + 3 for j in base)
    groups: list[list[int]] = []
    cur = list(base)
    width = used
    for j in range(key, n_cols):
        w = mins[j] + 3
        if width + w > budget and len(cur) > key:
            groups.append(cur)
            cur, width = list(base), used
        cur.append(j)
        width += w
    if len(cur) > key or not groups:
        groups.append(cur)
    return groups


def fit_widths(prefs: list[int], mins: list[int], budget: int) -> list[int]:
    """Preferred widths shrunk to ``budget`` by taking room from the columns that can wrap.

    A column never goes below its minimum (its longest number or unbreakable phrase); the room
    above the minimum is shared out in proportion to what each column would like.

    Examples
    --------
    >>> fit_widths([20, 34, 34, 19], [10, 8, 8, 19], 80)
    [13, 17, 17, 19]
    """
    widths = [max(p, m) for p, m in zip(prefs, mins)]
    total = sum(widths) + 3 * len(widths)
    if total <= budget:
        return widths
    slack = [w - m for w, m in zip(widths, mins)]
    room = budget - sum(mins) - 3 * len(widths)
    if room <= 0 or not sum(slack):
        return list(mins)
    k = room / sum(slack)
    return [m + int(s * k) for m, s in zip(mins, slack)]


def _pipe(heads: list[str], cells: list[list[str]], numeric: list[bool], prefs: list[int],
          mins: list[int] | None = None, budget: int = 0) -> str:
    if mins is not None and budget:
        prefs = fit_widths(prefs, mins, budget)
    # Each cell also has padding (about 2 characters in the HTML and PDF styles): without it in the
    # relative widths, a narrow numeric column wraps its own number ("1,39|5").
    prefs = [p + 2 for p in prefs]
    total = sum(prefs) or 1
    # At least 110 dashes in all, so Pandoc treats the table as "wide" and honours relative widths.
    scale = max(1.0, 110 / total)
    dashes = [max(3, int(round(p * scale))) for p in prefs]
    lines = ["| " + " | ".join(heads) + " |",
             "|" + "|".join(("-" * d + ":") if num else (":" + "-" * d) for num, d in zip(numeric, dashes)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)


def md_table(df: pd.DataFrame, caption: str = "", ident_: str = "", *, key_columns: int = 1,
             labelled: bool = False, notes: str = "", max_rows: int = 200, budget: int = PAGE_CHARS,
             workbook_sheet: str = "") -> str:
    """A captioned pipe table that fits the page (cells escaped, headers from the label registry).

    Parameters
    ----------
    df : DataFrame
        Published values (numbers, ``*`` or text).
    caption, ident_ : str
        Caption and cross-reference id (``tbl-...``).
    key_columns : int
        Leading columns repeated in every part when the table is split by columns.
    labelled : bool
        The columns and cells are already human words (skip :func:`humanise`).
    notes : str
        A note printed under the table (escaped).
    workbook_sheet : str
        Named in the line that replaces a table too wide for the page.

    Examples
    --------
    >>> print(md_table(pd.DataFrame({"a|b": ["<x>"]}), "Cap", "tbl-t", labelled=True).splitlines()[1])
    | a\\|b |
    """
    if not len(df.columns):
        return ""
    raw_cols = [str(c) for c in df.columns]
    shown = df.head(max_rows)
    values = object_cells(shown)
    numeric = [all(v is None or v == "*" or (isinstance(v, (int, float)) and not isinstance(v, bool))
                   for v in values[:, j]) for j in range(len(raw_cols))]
    frame = shown if labelled else humanise(shown)
    heads_full = [str(c) for c in frame.columns]
    vals = values if labelled else object_cells(frame)
    cells = [[escape_markdown(fmt_value(v, c)) or " " for v, c in zip(row, raw_cols)] for row in vals]
    heads = [escape_markdown(h) for h in heads_full]
    mins, prefs = _widths(heads_full, [[fmt_value(v, c) for v, c in zip(row, raw_cols)] for row in vals])
    if sum(m + 3 for m in mins) > budget and not labelled:
        short = [escape_markdown(column_label(c, short=True)) for c in raw_cols]
        heads_s = [column_label(c, short=True) for c in raw_cols]
        mins, prefs = _widths(heads_s, [[fmt_value(v, c) for v, c in zip(row, raw_cols)] for row in vals])
        heads = short
    groups = [list(range(len(heads)))]
    if sum(m + 3 for m in mins) > budget:
        if len(heads) > MAX_COLUMNS:
            where = f" (sheet {workbook_sheet})" if workbook_sheet else ""
            body = (f"This table has {len(heads)} columns, too many to print; it is in the accompanying Excel "
                    f"workbook{where}.")
            cap = f"\n\n: {escape_markdown(caption)}" if caption else ""
            return f"::: {{#{ident_}}}\n{body}{cap}\n:::" if ident_ else body
        groups = split_columns(len(heads), mins, key_columns, budget)
    parts = []
    for k, g in enumerate(groups):
        body = _pipe([heads[j] for j in g], [[r[j] for j in g] for r in cells], [numeric[j] for j in g],
                     [prefs[j] for j in g], [mins[j] for j in g], budget)
        cap = caption + (f" (part {k + 1} of {len(groups)})" if len(groups) > 1 else "")
        if cap:
            body += "\n\n: " + escape_markdown(cap)
        tid = ident_ if k == 0 else (f"{ident_}-{k + 1}" if ident_ else "")
        parts.append(f"::: {{#{tid}}}\n{body}\n:::" if tid else body)
    out = "\n\n".join(parts)
    if len(df) > max_rows:
        out += f"\n\nFirst {max_rows} of {len(df):,} rows shown; the workbook has them all."
    if notes:
        out += "\n\n::: {.table-note}\n" + escape_markdown(notes) + "\n:::"
    return out


def attr_value(text: object) -> str:
    """Escape text for a quoted Pandoc/Quarto attribute value (e.g. ``fig-alt="..."``)."""
    s = " ".join(str(text).split())
    s = s.replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
    return s.replace("{", "&#123;").replace("}", "&#125;")


def md_figure(path: str, title: str, alt: str, ident_: str, width: str = "100%") -> str:
    """A figure with caption, cross-reference id and alt text."""
    return f'![{escape_markdown(title)}]({path}){{#{ident_} fig-alt="{attr_value(alt)}" width="{width}"}}'


def ident(prefix: str, name: str) -> str:
    """A cross-reference id: ``ident('tbl', 'Cohort flow') -> 'tbl-cohort-flow'``."""
    safe = re.sub(r"-+", "-", "".join(c if c.isalnum() else "-" for c in str(name).lower())).strip("-") or "x"
    return f"{prefix}-{safe}"
