"""Writing tables for people to open in Excel, Numbers or Google Sheets: CSV and xlsx.

Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) is
written with a leading apostrophe, as Shopify's own exports do (GUIDE.md §5; OWASP "CSV
injection"). Numbers stay numbers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A cell value that no spreadsheet will evaluate: text starting with = + - @ gets a `'`.

    Numbers, dates and booleans pass through; None and NaN become "".
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if value is pd.NaT:
        return ""
    if isinstance(value, bool | int | float | Decimal | date | datetime):
        return value
    text = str(value)
    return "'" + text if text.startswith(_DANGEROUS) else text


def _rows(frame: pd.DataFrame, guard: bool = True) -> list[list]:
    out = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, pd.Timestamp):
                v = v.to_pydatetime()
            if isinstance(v, datetime) and v.tzinfo is not None:
                v = v.replace(tzinfo=None)  # xlsx has no time zones: callers pass local times
            cell = safe_cell(v)
            # unguarded (a workbook types its cells instead): the text as it is
            cells.append(cell if guard or not isinstance(cell, str) or not cell else str(v))
        out.append(cells)
    return out


def to_csv_bytes(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> bytes:
    """The frame as UTF-8 CSV with a BOM (so Excel reads accents right), formulas neutralised."""
    frame = frame[list(columns)] if columns else frame
    safe = pd.DataFrame(_rows(frame), columns=list(frame.columns))
    return safe.to_csv(index=False).encode("utf-8-sig")


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "Export",
                  columns: Sequence[str] | None = None) -> bytes:
    """The frame as an .xlsx workbook (openpyxl), one sheet, header row bold and frozen.

    Text that starts with = + - @ is stored as a text cell (type "s"), which no spreadsheet
    evaluates: the reader sees it as typed, without the apostrophe the CSV needs.
    """
    frame = frame[list(columns)] if columns else frame
    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.append([str(c) for c in frame.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in _rows(frame, guard=False):
        ws.append(row)
        for cell in ws[ws.max_row]:
            if cell.data_type == "f":  # openpyxl took the text for a formula: keep it text
                cell.data_type = "s"
    ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
