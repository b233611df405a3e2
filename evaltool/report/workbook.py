"""The Excel workbook of published tables, laid out as the Analysis Function asks.

Government Analysis Function, "Releasing statistics in spreadsheets" (2021, updated 2024):

* a **Cover** sheet (title, what the tables are, source, when produced, confidentiality);
* a **Contents** sheet listing every table sheet with a link;
* a **Notes** sheet (numbered notes, including what ``[c]`` means);
* **one table per sheet**, each an Excel Table with a unique name, its title in cell A1, a line
  saying what the sheet holds, then the table -- no blank rows, no merged cells, headers as words;
* numbers stored as numbers; a suppressed cell holds the shorthand ``[c]`` (confidential) and a
  missing value ``[x]`` (not available), both explained in the notes.

``gptables`` implements the same guidance; it writes with XlsxWriter, whose timestamps and
ordering we would have to normalise as well, so evaltool writes the workbook with openpyxl and
fixes the zip for byte-stable re-renders.
"""
from __future__ import annotations

import io
import math
import re
import time
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["CONFIDENTIAL", "NOT_AVAILABLE", "write_workbook"]

CONFIDENTIAL = "[c]"
NOT_AVAILABLE = "[x]"
_INVALID = set('[]:*?/\\')


def _sheet_name(name: str, used: set[str]) -> str:
    base = "".join("_" if c in _INVALID else c for c in name)[:31] or "table"
    out, k = base, 2
    while out.lower() in used:
        suffix = f"_{k}"
        out, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(out.lower())
    return out


def _normalise_zip(data: bytes, when: datetime) -> bytes:
    """The xlsx zip again with fixed entry timestamps and order (byte-stable re-renders)."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=stamp)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            body = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + when.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>", body)
            zout.writestr(zi, body)
    return out.getvalue()


def _cell_value(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return NOT_AVAILABLE
    if isinstance(v, str):
        s = v.strip()
        if s in ("*", "–", "-"):
            return CONFIDENTIAL if s == "*" else NOT_AVAILABLE
        if s.lower().startswith("fewer than"):
            return CONFIDENTIAL
        return v
    if isinstance(v, bool):
        return "Yes" if v else "No"
    return v


def _unique_headers(cols: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in cols:
        c = str(c).strip() or "Column"
        k = seen.get(c.lower(), 0)
        seen[c.lower()] = k + 1
        out.append(c if k == 0 else f"{c} ({k + 1})")
    return out


def write_workbook(path: str | Path, tables: list[tuple[str, str, pd.DataFrame, str]], manifest: dict[str, Any],
                   statement: str, created: datetime, brand: Any = None) -> Path:
    """Write the published tables as an accessible workbook (see the module docstring).

    Parameters
    ----------
    path : path
        Output ``.xlsx`` (written as given; the caller handles the atomic rename).
    tables : list of (name, title, DataFrame, notes)
        Published tables with human headers (from the report context).
    manifest : dict
        The bundle manifest (title, name, created, evaltool version).
    statement : str
        The disclosure-control statement.
    created : datetime
        The workbook's created/modified time (from ``manifest.created``).
    brand : Brand, optional
        Organisation name and header colour.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, datetime
    >>> p = Path(tempfile.mkdtemp()) / "t.xlsx"
    >>> write_workbook(p, [("a", "A", pd.DataFrame({"N": [1, "*"]}), "")], {"title": "T"}, "Rules.",
    ...                datetime.datetime(2026, 1, 1)).name
    't.xlsx'
    """
    path = Path(path)
    path.write_bytes(workbook_bytes(tables, manifest, statement, created, brand)[0])
    return path


def workbook_bytes(tables: list[tuple[str, str, pd.DataFrame, str]], manifest: dict[str, Any], statement: str,
                   created: datetime, brand: Any = None) -> tuple[bytes, float]:
    """The workbook of :func:`write_workbook` as bytes, and the seconds it took (plain data in and out: the
    report has it written by a helper process while the documents render)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.worksheet.table import Table, TableStyleInfo

    t0 = time.perf_counter()
    created = created.replace(tzinfo=None)
    title = str(manifest.get("title") or manifest.get("name") or "Evaluation")
    org = getattr(brand, "name", "") if brand is not None else ""
    wb = Workbook()
    cover = wb.active
    cover.title = "Cover"
    contents = wb.create_sheet("Contents")
    notes_ws = wb.create_sheet("Notes")

    def put(ws, row, col, value, *, bold=False, size=None):
        cell = ws.cell(row=row, column=col)
        if isinstance(value, str):
            # Control characters (e.g. from a label in the inputs) are not allowed in XLSX: shown as U+FFFD.
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        cell.value = value
        if isinstance(value, str):
            # Text is text: a site name like "=HYPERLINK(...)" must never become a formula.
            cell.data_type = "s"
        if bold or size:
            cell.font = Font(bold=bold, size=size or 11)
        return cell

    cover_lines = [
        (title, True, 14),
        ("Tables of published results from the evaluation report" + (f" by {org}" if org else "") + ".", False, None),
        ("About these tables", True, 12),
        ("Every table in the report and its technical appendix, with the numbers as numbers. The Contents sheet "
         "lists them; the Notes sheet explains the shorthand used in cells.", False, None),
        ("Source", True, 12),
        (f"Results bundle '{manifest.get('name', '')}', produced {manifest.get('created', '')} by evaltool "
         f"{manifest.get('evaltool_version', '')}.", False, None),
        ("Confidentiality", True, 12),
        (statement, False, None),
        ("Shorthand in cells", True, 12),
        (f"{CONFIDENTIAL} = confidential: hidden to protect people's privacy (see note 1). {NOT_AVAILABLE} = not "
         "available.", False, None),
    ]
    for i, (text, bold, size) in enumerate(cover_lines, start=1):
        put(cover, i, 1, text, bold=bold, size=size)
    cover.column_dimensions["A"].width = 120

    notes = [("Note 1", f"{CONFIDENTIAL}: " + statement),
             ("Note 2", f"{NOT_AVAILABLE}: the value is not available (not estimable, or not applicable to this row)."),
             ("Note 3", "Estimates come with 95% confidence intervals; rate ratios below 1 mean fewer events than "
                        "expected without the programme.")]
    extra = {}
    for name, _t, _df, note in tables:
        if note:
            extra[name] = f"Note {len(notes) + 1}"
            notes.append((extra[name], note))
    put(notes_ws, 1, 1, "Notes", bold=True, size=14)
    put(notes_ws, 2, 1, "This worksheet contains one table of notes referred to in the other sheets.")
    put(notes_ws, 3, 1, "Note number", bold=True)
    put(notes_ws, 3, 2, "Note text", bold=True)
    for i, (k, text) in enumerate(notes, start=4):
        put(notes_ws, i, 1, k)
        put(notes_ws, i, 2, text)
    notes_ws.add_table(Table(displayName="Notes_table", ref=f"A3:B{3 + len(notes)}",
                             tableStyleInfo=TableStyleInfo(name="TableStyleLight1", showRowStripes=True)))
    notes_ws.column_dimensions["A"].width = 14
    notes_ws.column_dimensions["B"].width = 110

    put(contents, 1, 1, "Contents", bold=True, size=14)
    put(contents, 2, 1, "This worksheet contains one table: the list of tables, each on its own sheet.")
    put(contents, 3, 1, "Sheet", bold=True)
    put(contents, 3, 2, "Table", bold=True)
    used = {"cover", "contents", "notes"}
    seen_names: set[str] = set()
    row = 4
    for k, (name, ttl, df, _note) in enumerate(tables, start=1):
        if name in seen_names:
            continue
        seen_names.add(name)
        sheet = _sheet_name(f"T{k:02d}_{name}", used)
        c = put(contents, row, 1, sheet)
        c.hyperlink = f"#'{sheet}'!A1"
        c.font = Font(color="0000EE", underline="single")
        put(contents, row, 2, ttl)
        row += 1
        ws = wb.create_sheet(sheet)
        put(ws, 1, 1, ttl, bold=True, size=13)
        ref_note = f" See {extra[name]} and note 1." if name in extra else " See note 1 for [c] and note 2 for [x]."
        put(ws, 2, 1, "This worksheet contains one table." + ref_note)
        heads = _unique_headers([str(c) for c in df.columns])
        values = df.astype(object).to_numpy()
        for j, h in enumerate(heads, start=1):
            put(ws, 3, j, h, bold=True)
            width = max(len(h), *(len(str(v)) for v in values[:200, j - 1])) if len(df) else len(h)
            ws.column_dimensions[get_column_letter(j)].width = max(10, min(60, width + 2))
        for i, r in enumerate(values, start=4):
            for j, v in enumerate(r, start=1):
                put(ws, i, j, _cell_value(v))
        last_row = 3 + max(1, len(df))
        if not len(df):
            put(ws, 4, 1, NOT_AVAILABLE)
        tname = re.sub(r"[^A-Za-z0-9_]", "_", f"Table_{k:02d}_{name}")[:250]
        ws.add_table(Table(displayName=tname, ref=f"A3:{get_column_letter(len(heads))}{last_row}",
                           tableStyleInfo=TableStyleInfo(name="TableStyleLight1", showRowStripes=True)))
    contents.add_table(Table(displayName="Contents_table", ref=f"A3:B{max(4, row - 1)}",
                             tableStyleInfo=TableStyleInfo(name="TableStyleLight1", showRowStripes=True)))
    contents.column_dimensions["A"].width = 34
    contents.column_dimensions["B"].width = 100
    wb.properties.created = created
    wb.properties.modified = created
    wb.properties.creator = ILLEGAL_CHARACTERS_RE.sub("\ufffd", org) if org else "evaltool"
    wb.properties.title = ILLEGAL_CHARACTERS_RE.sub("\ufffd", title)
    buf = io.BytesIO()
    wb.save(buf)
    return _normalise_zip(buf.getvalue(), created), time.perf_counter() - t0
