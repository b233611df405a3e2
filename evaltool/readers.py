"""Reading Excel workbooks and turning file readers' complaints into short messages (used by evaltool.inputs).

Kept apart from the validation so that an engine-backed reader can reuse them.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from evaltool.errors import DataValidationError
from evaltool.runlog import display_path, excerpt

__all__ = ["long_line_rows", "read_xlsx", "reader_message"]


def reader_message(err: BaseException) -> str:
    """A reader's complaint in one short line: DuckDB's echo of the offending line, its hints and its
    settings are dropped (a 10 MB field must not be repeated), its "Line: N" is our data row N."""
    import re

    kept = []
    for line in str(err).splitlines():
        t = line.strip()
        if t.startswith(("Possible Solution", "LINE ")) or (kept and not t):
            break
        if t and not t.startswith("Original Line"):
            kept.append(t)
    text = " ".join(kept) or type(err).__name__
    text = re.sub(r"^Invalid Input Error: ", "", text)
    text = re.sub(r"CSV Error on Line: \d+ ?", "", text)  # DuckDB's count is not the file's line
    return text if len(text) <= 240 else text[:237] + "..."


def long_line_rows(path: Path, limit: int = 2_000_000) -> list[int]:
    """Data rows (1-based) of a CSV whose line is longer than DuckDB's limit (streamed, never held whole)."""
    rows = []
    with open(path, "rb") as fh:
        for i, line in enumerate(fh):
            if len(line) > limit and i > 0:
                rows.append(i)
                if len(rows) >= 10:
                    break
    return rows


def read_xlsx(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """One sheet of an Excel workbook (``sheet`` by name or 0-based position; default the first);
    formula cells as the values Excel saved with them.

    A formula cell without a saved value (a workbook written by a program that does not
    calculate, e.g. openpyxl) would otherwise read as blank: it is refused, naming the cells.

    Examples
    --------
    >>> read_xlsx("missing.xlsx")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    evaltool.errors.DataValidationError: missing.xlsx: file not found
    """
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    path = Path(path)
    shown = display_path(path)
    if not path.is_file():
        raise DataValidationError(f"{shown}: file not found")
    try:
        values = load_workbook(path, read_only=True, data_only=True)
        formulas = load_workbook(path, read_only=True, data_only=False)
        names = values.sheetnames
        if isinstance(sheet, str) and sheet not in names:
            raise DataValidationError(f"{shown}: no sheet named {excerpt(sheet)}; the workbook has "
                                      + ", ".join(excerpt(n) for n in names[:20]))
        if isinstance(sheet, int) and not 0 <= sheet < len(names):
            raise DataValidationError(f"{shown}: no sheet number {sheet + 1}; the workbook has {len(names)}")
        which = sheet if isinstance(sheet, str) else names[sheet or 0]
        rows = [list(r) for r in values[which].iter_rows(values_only=True)]
        frows = [list(r) for r in formulas[which].iter_rows(values_only=True)]
        values.close()
        formulas.close()
    except DataValidationError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, IndexError, EOFError) as err:
        raise DataValidationError(f"{shown}: cannot be read as XLSX ({reader_message(err) or type(err).__name__}); "
                                  "save it again from Excel, or export it as CSV") from None
    except Exception as err:  # noqa: BLE001 - openpyxl raises many kinds on damaged files
        raise DataValidationError(f"{shown}: cannot be read as XLSX ({type(err).__name__}); save it again from "
                                  "Excel, or export it as CSV") from None
    if not rows:
        raise DataValidationError(f"{shown}: the sheet {excerpt(which)} is empty; expected a header row and data rows")
    header = ["" if h is None else str(h).strip() for h in rows[0]]
    unsaved = [f"{get_column_letter(j + 1)}{i + 1}" for i, (vr, fr) in enumerate(zip(rows, frows)) if i
               for j, (v, f) in enumerate(zip(vr, fr)) if v is None and isinstance(f, str) and f.startswith("=")]
    if unsaved:
        raise DataValidationError(
            f"{shown}: {len(unsaved)} formula cell(s) have no saved value ({', '.join(unsaved[:10])}"
            f"{' ...' if len(unsaved) > 10 else ''}); open and save the workbook in Excel, or paste the values")
    width = len(header)
    data = [list(r[:width]) + [None] * (width - len(r)) for r in rows[1:]]
    data = [r for r in data if any(v is not None and str(v).strip() != "" for v in r)]
    return pd.DataFrame(data, columns=header, dtype=object)
