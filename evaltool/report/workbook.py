"""The Excel workbook of published tables (one sheet per table, disclosure applied)."""
from __future__ import annotations

import math
import os
import re
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd

__all__ = ["write_workbook"]

_INVALID = set('[]:*?/\\')


def _sheet_name(name: str, used: set[str]) -> str:
    base = "".join("_" if c in _INVALID else c for c in name)[:31] or "table"
    out, k = base, 2
    while out.lower() in used:
        suffix = f"_{k}"
        out, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(out.lower())
    return out


def _normalise_zip(path: Path, when: datetime) -> None:
    """Rewrite the xlsx zip with fixed entry timestamps and order (byte-stable re-renders)."""
    tmp = path.with_suffix(".norm.tmp")
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=stamp)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "modified" with the save time; use the bundle's time instead.
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + when.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>", data)
            zout.writestr(zi, data)
    os.replace(tmp, path)


def write_workbook(path: str | Path, tables: list[tuple[str, str, pd.DataFrame]], notes: list[str],
                   created: datetime, title: str) -> Path:
    """Write published tables to an Excel workbook, one sheet per table.

    Parameters
    ----------
    path : path
        Output ``.xlsx`` (written as given; the caller handles the atomic rename).
    tables : list of (name, title, DataFrame)
        Tables after disclosure control.
    notes : list of str
        Lines for the first "About" sheet (what the tables are, disclosure note).
    created : datetime
        Stored as the workbook's created/modified time (from ``manifest.created``).
    title : str
        Workbook title.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, datetime
    >>> p = Path(tempfile.mkdtemp()) / "t.xlsx"
    >>> write_workbook(p, [("a", "A", pd.DataFrame({"x": [1]}))], ["note"], datetime.datetime(2026, 1, 1), "T").name
    't.xlsx'
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    path = Path(path)
    wb = Workbook()
    about = wb.active
    about.title = "About"
    header_fill = PatternFill("solid", fgColor="005EB8")
    white_bold = Font(bold=True, color="FFFFFF")

    def put(ws, row, col, value):
        cell = ws.cell(row=row, column=col)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return cell
        if isinstance(value, str):
            # Control characters (e.g. from a label in the inputs) are not allowed in XLSX: shown as U+FFFD.
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        cell.value = value
        if isinstance(value, str):
            # Text is text: a site name like "=HYPERLINK(...)" must never become a formula.
            cell.data_type = "s"
        return cell

    put(about, 1, 1, title).font = Font(bold=True, size=14)
    for i, line in enumerate(notes, start=3):
        put(about, i, 1, line)
    r0 = len(notes) + 4
    put(about, r0, 1, "Sheet").font = Font(bold=True)
    put(about, r0, 2, "Table").font = Font(bold=True)
    used = {"about"}
    for k, (name, ttl, df) in enumerate(tables, start=1):
        sheet = _sheet_name(name, used)
        put(about, r0 + k, 1, sheet)
        put(about, r0 + k, 2, ttl)
        ws = wb.create_sheet(sheet)
        put(ws, 1, 1, ttl).font = Font(bold=True)
        for j, col in enumerate(df.columns, start=1):
            c = put(ws, 3, j, str(col))
            c.font, c.fill = white_bold, header_fill
            ws.column_dimensions[get_column_letter(j)].width = max(10, min(50, len(str(col)) + 2))
        values = df.astype(object).where(df.notna(), None).to_numpy()
        for i, row in enumerate(values, start=4):
            for j, v in enumerate(row, start=1):
                if hasattr(v, "item"):
                    v = v.item()
                put(ws, i, j, v)
        ws.freeze_panes = "A4"
    about.column_dimensions["A"].width = 30
    about.column_dimensions["B"].width = 80
    wb.properties.created = created
    wb.properties.modified = created
    wb.properties.creator = "evaltool"
    wb.properties.title = ILLEGAL_CHARACTERS_RE.sub("\ufffd", title)
    wb.save(path)
    _normalise_zip(path, created)
    return path
