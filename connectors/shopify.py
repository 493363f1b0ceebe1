"""Read a Shopify "Export orders" CSV into one frame of orders and one of line items.

Format source: Shopify admin > Orders > Export ("Export orders" CSV), 73-79 columns, as measured
on real exports from 2023-2026 (GUIDE.md §5):

- one row per line item; an order's rows are adjacent and share `Name`; order-level columns
  (totals, statuses, addresses, `Id`, `Tags`, `Cancelled at`) are filled on its first row only;
- dates like ``2025-05-11 09:55:16 -0400``, whose offset changes with daylight saving inside
  one file; money as plain ``1234.50`` with the currency in its own column;
- text starting with ``+``, ``-`` or a digit (zips, phones) written with a leading apostrophe;
- variant options appended to `Lineitem name` ("Ridge Ring - Rhodium Plating / 8").

Files that went through a spreadsheet are read where that can be done (BOM, CRLF, ``;``
delimiters and their decimal commas (``1.234,50``), Windows-1252, ``0`` for ``0.00``, dates
without an offset taken as shop time) and what was done, or guessed (day/month order), is said
in `ParsedExport.notes`; what can't be read (an Id in scientific notation, ``12,50`` in a
comma-separated file) becomes a `RowProblem` and the whole order it belongs to is left out.

The connector only reads: it never writes to the database (GUIDE.md §1).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import charset_normalizer
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from workflow.model import LINE_COLUMNS, ORDER_COLUMNS, OrderSource, ParsedExport, RowProblem

__all__ = [
    "SHOPIFY_EXPORT_COLUMNS",
    "NotAnOrdersExport",
    "parse_orders_export",
    "ring_size_from_options",
    "split_lineitem_name",
]

#: The 79 columns of a current (2023-2026) Shopify "Export orders" CSV, in file order.
SHOPIFY_EXPORT_COLUMNS: tuple[str, ...] = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code",
    "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem compare at price", "Lineitem sku", "Lineitem requires shipping",
    "Lineitem taxable", "Lineitem fulfillment status", "Billing Name", "Billing Street",
    "Billing Address1", "Billing Address2", "Billing Company", "Billing City", "Billing Zip",
    "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City",
    "Shipping Zip", "Shipping Province", "Shipping Country", "Shipping Phone", "Notes",
    "Note Attributes", "Cancelled at", "Payment Method", "Payment Reference", "Refunded Amount",
    "Vendor", "Outstanding Balance", "Employee", "Location", "Device ID", "Id", "Tags",
    "Risk Level", "Source", "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Tax 2 Name",
    "Tax 2 Value", "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value", "Tax 5 Name",
    "Tax 5 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name",
    "Shipping Province Name", "Payment ID", "Payment Terms Name", "Next Payment Due At",
    "Payment References",
)

SHOPIFY_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


class NotAnOrdersExport(ValueError):
    """The file is not a Shopify "Export orders" CSV (it has no `Name` column, or no header)."""


# --- what we read, and where it goes ---------------------------------------------------------

# output column -> export column, for order-level text taken from the order's first row
_ORDER_TEXT = {
    "financial_status": "Financial Status",
    "fulfillment_status": "Fulfillment Status",
    "currency": "Currency",
    "notes": "Notes",
    "note_attributes": "Note Attributes",
    "tags": "Tags",
    "source_name": "Source",
    "payment_method": "Payment Method",
}
_ORDER_MONEY = {
    "subtotal": "Subtotal",
    "shipping": "Shipping",
    "taxes": "Taxes",
    "total": "Total",
    "refunded_amount": "Refunded Amount",
    "outstanding_balance": "Outstanding Balance",
}
_ORDER_DATES = {"placed_at": "Created at", "paid_at": "Paid at", "cancelled_at": "Cancelled at"}
_PHONE_COLUMNS = ("Phone", "Billing Phone", "Shipping Phone")
_ADDRESS_COLUMNS = (
    "Shipping Address1", "Shipping Address2", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country",
)
# Filled on an order's first row only: a row with a blank Name and all of these blank looks like
# a continuation row of the order above it.
_FIRST_ROW_ONLY = ("Id", "Financial Status", "Currency", "Subtotal", "Total")

# export column -> what is lost without it (for the note)
_OPTIONAL_COLUMNS = {
    "Id": "orders are matched by Name",
    "Email": "customers are told apart by phone or name",
    "Financial Status": "financial_status is left empty",
    "Fulfillment Status": "fulfillment_status is left empty",
    "Accepts Marketing": "accepts_marketing is taken as no",
    "Currency": "currency is left empty",
    "Subtotal": "subtotal is left empty",
    "Shipping": "shipping is left empty",
    "Taxes": "taxes is left empty",
    "Total": "total is left empty",
    "Refunded Amount": "refunded_amount is left empty",
    "Outstanding Balance": "outstanding_balance is left empty",
    "Created at": "placed_at is left empty",
    "Paid at": "paid_at is left empty",
    "Cancelled at": "cancelled_at is left empty",
    "Lineitem quantity": "every line item is taken as quantity 1",
    "Lineitem name": "line items have no title",
    "Lineitem price": "line items have no price",
    "Lineitem sku": "line items have no SKU",
    "Lineitem requires shipping": "requires_shipping is left empty",
    "Lineitem fulfillment status": "line fulfillment status is left empty",
    "Vendor": "line items have no vendor",
    "Billing Name": "customer names come from Shipping Name",
    "Shipping Name": "customer names come from Billing Name only",
    "Phone": "phones come from Billing Phone and Shipping Phone",
    "Billing Phone": "phones come from Phone and Shipping Phone",
    "Shipping Phone": "phones come from Phone and Billing Phone",
    "Notes": "notes are left empty",
    "Note Attributes": "note_attributes are left empty",
    "Tags": "tags are left empty",
    "Source": "source_name is left empty",
    "Payment Method": "payment_method is left empty",
    "Shipping Address1": "shipping addresses lack the street",
    "Shipping Address2": "shipping addresses lack the second address line",
    "Shipping Province": "shipping addresses lack the province",
    "Shipping City": "shipping addresses lack the city",
    "Shipping Zip": "shipping addresses lack the zip",
    "Shipping Country": "shipping addresses lack the country",
}

# order field -> the export columns it is made from: a field is absent from a file (and left
# as it is on re-import) when any of them is missing, so a half-deleted address never
# overwrites a whole one.
_ORDER_FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("Id",),
    "email": ("Email",),
    "accepts_marketing": ("Accepts Marketing",),
    **{out: (column,) for out, column in _ORDER_TEXT.items()},
    **{out: (column,) for out, column in _ORDER_MONEY.items()},
    **{out: (column,) for out, column in _ORDER_DATES.items()},
    "shipping_address": _ADDRESS_COLUMNS,
}

_USED = {c.casefold() for c in (
    "Name", *_FIRST_ROW_ONLY, *_ORDER_TEXT.values(), *_ORDER_MONEY.values(),
    *_ORDER_DATES.values(), *_PHONE_COLUMNS, *_ADDRESS_COLUMNS, *_OPTIONAL_COLUMNS,
    "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku",
    "Lineitem requires shipping", "Lineitem fulfillment status", "Vendor", "Email",
    "Accepts Marketing", "Billing Name", "Shipping Name",
)}
_MONEY_RE = r"^[+-]?(\d+\.?\d*|\.\d+)$"
# already as Shopify writes money ("0.00", "1234.50", "-5.00"; not "-0.00" nor "007.00")
_CANONICAL_MONEY_RE = (r"^(?:0|[1-9]\d{0,9})\.\d\d$"
                       r"|^-(?:0\.(?:0[1-9]|[1-9]\d)|[1-9]\d{0,9}\.\d\d)$")
_MONEY_PARTS_RE = r"^(?P<sign>[+-]?)0*(?P<int>\d*?)(?:\.(?P<frac>\d*))?$"
_MAX_INT_DIGITS = 10  # DECIMAL(12,2)


# --- reading the bytes -------------------------------------------------------------------------


def _read_source(source: str | os.PathLike | bytes | IO[bytes]) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return path.read_bytes(), path.name
    if hasattr(source, "getvalue"):  # Streamlit's UploadedFile, io.BytesIO
        data = source.getvalue()
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
        data = source.read()
    else:
        raise TypeError(f"can't read an orders export from {type(source).__name__}: "
                        "give a path, bytes or a binary file")
    if isinstance(data, str):
        data = data.encode("utf-8")
    name = getattr(source, "name", None)
    return bytes(data), (os.path.basename(name) if isinstance(name, str) and name else None)


_SIGNATURES = (
    (b"PK\x03\x04", "a zip file; an Excel workbook (.xlsx) is one: save it as CSV first"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls): save it as CSV first"),
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"%PDF", "a PDF"),
)


def _binary_kind(data: bytes) -> str | None:
    """What a file that is not text is ("a PNG image"), or None for text (UTF-16 included)."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    return "not text" if b"\x00" in data[:65536] else None


def _to_utf8(data: bytes, notes: list[str]) -> bytes:
    """UTF-8 bytes without a BOM; other encodings converted, and said in `notes`."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        notes.append("The file is UTF-16 (Excel's \"Unicode text\"); it was read as such.")
        return data.decode("utf-16").encode("utf-8")
    return data


def _from_windows_1252(data: bytes, notes: list[str]) -> bytes:
    """Bytes that are not UTF-8: the encoding is detected with charset-normalizer (Excel on
    Windows writes cp1252, Macs Mac-Roman, some locales cp1250 ...) and said in `notes`;
    Windows-1252 when the detector has no answer."""
    results = charset_normalizer.from_bytes(data[:200_000])
    best = results.best()
    encoding = best.encoding if best is not None else "cp1252"
    # Latin text often decodes equally well in several code pages (cp1250, cp1252, cp1257 ...)
    # and the detector then names the first: among equally good readings, take Windows-1252,
    # what Excel writes in Western locales ("Peña" stays "Peña", not cp1250's "Peńa").
    if best is not None and any(m.encoding == "cp1252" and m.chaos == best.chaos
                                and m.coherence == best.coherence for m in results):
        encoding = "cp1252"
    if encoding in ("ascii", "utf_8"):
        encoding = "cp1252"  # the sample looked clean but the whole file isn't UTF-8
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        encoding, text = "cp1252", data.decode("cp1252", errors="replace")
    name = {"cp1252": "Windows-1252"}.get(encoding, encoding)
    notes.append(f"The file isn't UTF-8; it was read as {name} (detected), as a spreadsheet "
                 "saved it. Check accented names.")
    return text.encode("utf-8")


def _header(data: bytes) -> tuple[list[str], str]:
    """The header cells and the delimiter (`,`, `;` or tab, whichever the header line uses)."""
    end = data.find(b"\n")
    line = (data if end < 0 else data[:end]).decode("utf-8", errors="replace").rstrip("\r")
    delimiter = max((",", ";", "\t"), key=line.count)
    cells = next(csv.reader([line], delimiter=delimiter), [])
    return [c.strip() for c in cells], delimiter


def _unique_names(header: list[str], notes: list[str] | None = None) -> list[str]:
    """Header names made unique, each blank or repeated header reported in `notes` (never
    silently collapsed): a blank one is kept as "(column 5)", a repeat as "Email (2)"; the first
    of a repeated name is the one read."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(header, start=1):
        if not name.strip():
            name = f"(column {i})"
            if notes is not None:
                notes.append(f"Column {i} has no header; it was kept as {name!r} and not read.")
        if name in seen:
            seen[name] += 1
            if notes is not None:
                notes.append(f"The header {name!r} appears more than once (again in column "
                             f"{i}); the first one is read, column {i} is kept as "
                             f"'{name} ({seen[name]})'.")
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


@dataclass
class _Raw:
    table: pa.Table
    width: int                                             # cells in the header
    ragged: dict[int, int] = field(default_factory=dict)  # record index -> cell count


def _read_table(data: bytes, names: list[str], delimiter: str) -> _Raw:
    """The cells of the columns we use (`_USED`), as strings, one table row per CSV record
    (a quoted multi-line cell is one record). Rows with the wrong number of cells make us
    re-read with the csv module so that record numbers stay exact."""
    invalid: list[object] = []

    def on_invalid(row: object) -> str:
        invalid.append(row)
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(data),
        # 1 MiB blocks on one thread: a 100k-row export peaks ~150 MB lower, for little time
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                       block_size=1 << 20, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                         ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                             include_columns=_used(names),
                                             strings_can_be_null=False,
                                             quoted_strings_can_be_null=False),
    )
    if not invalid:
        return _Raw(table, len(names))
    return _read_table_slowly(data, names, delimiter)


def _read_table_slowly(data: bytes, names: list[str], delimiter: str) -> _Raw:
    width = len(names)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise pa.ArrowInvalid("invalid UTF8 data") from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader, None)
    rows: list[list[str]] = []
    ragged: dict[int, int] = {}
    for i, row in enumerate(reader):
        if len(row) != width:
            if any(cell.strip() for cell in row):
                ragged[i] = len(row)
            row = (row + [""] * width)[:width]
        rows.append(row)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    used = set(_used(names))
    table = pa.table({n: pa.array(col, pa.string())
                      for n, col in zip(names, columns, strict=True) if n in used})
    return _Raw(table, width, ragged)


def _used(names: list[str]) -> list[str]:
    """The file's columns that we read (converting only these halves the reading time)."""
    return [n for n in names if n.strip().casefold() in _USED]


# --- cleaning cells ----------------------------------------------------------------------------


class _Columns:
    """Cleaned columns of the export looked up by name (trimmed, Shopify's apostrophe removed)."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.n = table.num_rows
        self._by_key = {}
        for name in table.column_names:
            self._by_key.setdefault(name.strip().casefold(), name)
        self._cache: dict[str, pa.Array] = {}

    def has(self, name: str) -> bool:
        return name.casefold() in self._by_key

    def actual(self, name: str) -> str:
        return self._by_key.get(name.casefold(), name)

    def get(self, name: str, rows: pa.Array | None = None) -> pa.Array:
        """The cleaned column (only `rows` of it, when given), or an all-blank one when the
        file doesn't have it."""
        real = self._by_key.get(name.casefold())
        length = self.n if rows is None else len(rows)
        if real is None:
            return pa.array([""] * length, pa.string())
        if rows is not None:
            return _clean(self.table.column(real).take(rows).combine_chunks())
        if name not in self._cache:
            self._cache[name] = _clean(self.table.column(real).combine_chunks())
        return self._cache[name]

    def raw(self, name: str) -> pa.Array:
        real = self._by_key.get(name.casefold())
        if real is None:
            return pa.array([""] * self.n, pa.string())
        return self.table.column(real).combine_chunks()


def _clean(arr: pa.Array) -> pa.Array:
    arr = pc.utf8_trim_whitespace(arr)
    if pc.any(pc.starts_with(arr, "'")).as_py():
        arr = pc.replace_substring_regex(arr, pattern=r"^'([+\-0-9])", replacement=r"\1")
    return arr


def _blank(arr: pa.Array) -> np.ndarray:
    return (pc.utf8_length(arr).to_numpy(zero_copy_only=False) == 0)


def _nz(arr: pa.Array) -> pa.Array:
    """Blank text -> null."""
    return pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, pa.string()), arr)


def _join_nonblank(arrays: list[pa.Array], separator: str) -> pa.Array:
    """Join the non-blank cells of each row with `separator`; null where all are blank.

    (Not `binary_join_element_wise(null_handling="skip")`: pyarrow 26 drops all-null rows.)
    """
    parts = [pc.if_else(pc.equal(pc.utf8_length(a), 0), pa.scalar(""),
                        pc.binary_join_element_wise(pa.scalar(separator), a, ""))
             for a in arrays]
    joined = pc.binary_join_element_wise(*parts, "")
    return _nz(pc.utf8_slice_codeunits(joined, len(separator)))


def _first_nonblank(*arrays: pa.Array) -> pa.Array:
    return pc.coalesce(*[_nz(a) for a in arrays])


# --- money, quantities, dates ------------------------------------------------------------------


# "1659,95", "1.234,50": amounts as a spreadsheet in a decimal-comma locale writes them.
_DECIMAL_COMMA_RE = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"


def _uses_decimal_commas(cols: _Columns, delimiter: str) -> bool:
    """A `;`-separated file (a spreadsheet in a decimal-comma locale saved it) whose amounts
    have commas: Shopify itself writes `1234.50` in comma-separated files only."""
    if delimiter != ";":
        return False
    columns = [c for c in (*_ORDER_MONEY.values(), "Lineitem price") if cols.has(c)]
    return any(pc.any(pc.match_substring(cols.get(c), ",")).as_py() for c in columns)


def _from_decimal_comma(arr: pa.Array) -> pa.Array:
    """"1.234,50" -> "1234.50"; cells in any other shape are left for `_money` to judge."""
    converted = pc.replace_substring(pc.replace_substring(arr, ".", ""), ",", ".")
    return pc.if_else(pc.match_substring_regex(arr, _DECIMAL_COMMA_RE), converted, arr)


def _money(arr: pa.Array, blank_as_zero: bool) -> tuple[pa.Array, np.ndarray, list[str]]:
    """Normalise money text ("0" -> "0.00", "1234.5" -> "1234.50", "-5" -> "-5.00").

    Returns (normalised text, bad row positions, reason per bad row). Blank cells become
    "0.00" when `blank_as_zero`, else a problem.
    """
    blank = pc.equal(pc.utf8_length(arr), 0)
    canonical = pc.match_substring_regex(arr, _CANONICAL_MONEY_RE)
    if blank_as_zero:
        canonical = pc.or_(canonical, blank)
    if pc.all(canonical).as_py():  # as Shopify writes it: nothing to change
        text = pc.if_else(blank, pa.scalar("0.00"), arr) if blank_as_zero else arr
        return text, np.array([], np.int64), []
    ok = pc.match_substring_regex(arr, _MONEY_RE)
    parts = pc.extract_regex(pc.if_else(ok, arr, pa.scalar("0", pa.string())), _MONEY_PARTS_RE)
    sign = parts.field("sign")
    whole = parts.field("int")
    whole = pc.if_else(pc.equal(pc.utf8_length(whole), 0), pa.scalar("0"), whole)
    frac = pc.fill_null(parts.field("frac"), "")
    extra = pc.utf8_slice_codeunits(frac, 2)
    frac2 = pc.utf8_slice_codeunits(pc.utf8_rpad(frac, 2, "0"), 0, 2)
    is_zero = pc.and_(pc.equal(whole, "0"), pc.equal(frac2, "00"))
    neg = pc.and_(pc.equal(sign, "-"), pc.invert(is_zero))
    sign_out = pc.if_else(neg, pa.scalar("-"), pa.scalar(""))
    text = pc.binary_join_element_wise(sign_out, whole, pa.scalar("."), frac2, "")

    too_precise = pc.and_(ok, pc.invert(pc.match_substring_regex(extra, r"^0*$")))
    too_large = pc.and_(ok, pc.greater(pc.utf8_length(whole), _MAX_INT_DIGITS))
    if blank_as_zero:
        text = pc.if_else(blank, pa.scalar("0.00"), text)
        bad_value = pc.and_(pc.invert(ok), pc.invert(blank))
    else:
        bad_value = pc.invert(ok)
    bad = pc.or_(pc.or_(bad_value, too_precise), too_large).to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(bad)
    reasons = []
    if len(positions):
        blank_np = blank.to_numpy(zero_copy_only=False)
        precise_np = too_precise.to_numpy(zero_copy_only=False)
        large_np = too_large.to_numpy(zero_copy_only=False)
        for p in positions:
            if blank_np[p]:
                reasons.append("is blank; an amount is needed")
            elif precise_np[p]:
                reasons.append("has more than 2 decimal places")
            elif large_np[p]:
                reasons.append("is too large for an amount")
            else:
                reasons.append("is not an amount like 1234.50")
    return text, positions, reasons


def _quantity(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Positive whole numbers -> int64 (bad cells -> 0), and the bad positions."""
    ok = pc.match_substring_regex(arr, r"^0*[1-9]\d{0,8}$")
    ok_np = ok.to_numpy(zero_copy_only=False)
    values = pc.cast(pc.if_else(ok, arr, pa.scalar("0")), pa.int64())
    return values.to_numpy(zero_copy_only=False), np.flatnonzero(~ok_np)


_OFFSET_RE = r"(?:Z|[+-]\d{2}:?\d{2})$"
_NAIVE_ISO_RE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
# 31/12/2023 22:36 (Excel, no seconds, no offset), 12/31/2023, with or without a time
_SLASH_RE = (r"^(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<y>\d{4})"
             r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$")


def _int_field(parts: pa.StructArray, name: str) -> pa.Array:
    """A group of `extract_regex` as int64, 0 where it (or the whole match) is missing."""
    text = pc.fill_null(pc.struct_field(parts, name), "")
    return pc.cast(pc.if_else(pc.equal(text, ""), pa.scalar("0"), text), pa.int64())


@dataclass
class _DateContext:
    """What the date columns of one file share: the shop's zone, and (decided once, from all
    date columns) whether slash dates are day/month or month/day."""

    shop_tz: str
    delimiter: str
    columns: list[pa.Array]
    day_first: bool | None = None
    decided: bool = True
    notes: list[str] = field(default_factory=list)
    slash_dates_seen: bool = False

    def decide_slash_order(self) -> None:
        if self.day_first is not None:
            return
        day_first = month_first = False
        for arr in self.columns:
            parts = pc.extract_regex(arr, _SLASH_RE)
            for field_name, flag in (("a", "day"), ("b", "month")):
                if (pc.max(_int_field(parts, field_name)).as_py() or 0) > 12:
                    if flag == "day":
                        day_first = True
                    else:
                        month_first = True
        if day_first != month_first:
            self.day_first, self.decided = day_first, True
        else:  # nothing tells, or both ways: Excel writes day first outside the US
            self.day_first, self.decided = self.delimiter != ",", False


def _why_no_instant(wall: datetime, shop_tz: str) -> str:
    """Why a wall-clock time without an offset names no single moment in `shop_tz`."""
    zone = ZoneInfo(shop_tz)
    earlier, later = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() != later.utcoffset() and (
            earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall):
        return (f"has no UTC offset and falls in the hour that repeats when daylight saving "
                f"ends in {shop_tz}, so the moment can't be told")
    return (f"has no UTC offset and falls in the hour skipped when daylight saving starts in "
            f"{shop_tz}, so no such time existed there")


def _instants(arr: pa.Array, column: str, ctx: _DateContext
              ) -> tuple[pd.Series, np.ndarray, list[str]]:
    """Dates as tz-aware UTC timestamps (blank -> NaT), the bad positions and their reasons.

    Shopify's "2025-05-11 09:55:16 -0400" is read exactly; ISO 8601 with an offset too. Dates
    that lost their offset in a spreadsheet ("2025-05-11 09:55", "11/05/2025 09:55") are read
    as `ctx.shop_tz` wall time, and a note says so.
    """
    parsed = pc.strptime(arr, format=SHOPIFY_DATE_FORMAT, unit="s", error_is_null=True)
    out = pd.Series(parsed.to_pandas(), dtype="datetime64[us, UTC]")
    failed = np.flatnonzero(parsed.is_null().to_numpy(zero_copy_only=False) & ~_blank(arr))
    if not len(failed):
        return out, failed, []
    sub = arr.take(pa.array(failed, pa.int64()))
    values = pd.Series(sub.to_pandas().to_numpy(), index=failed, dtype=object)
    result = pd.Series(pd.NaT, index=failed, dtype="datetime64[us, UTC]")
    reasons = pd.Series("is not a date like 2025-05-11 09:55:16 -0400", index=failed,
                        dtype=object)

    def mask(pattern: str) -> np.ndarray:
        return pc.match_substring_regex(sub, pattern).to_numpy(zero_copy_only=False)

    has_offset = mask(_OFFSET_RE)
    if has_offset.any():
        result[failed[has_offset]] = pd.to_datetime(values[has_offset], format="ISO8601",
                                                    utc=True, errors="coerce")
    local = pd.Series(pd.NaT, index=failed, dtype="datetime64[us]")
    naive_iso = mask(_NAIVE_ISO_RE) & ~has_offset
    if naive_iso.any():
        local[failed[naive_iso]] = pd.to_datetime(values[naive_iso], format="ISO8601",
                                                  errors="coerce")
    slash = mask(_SLASH_RE) & ~has_offset
    if slash.any():
        ctx.decide_slash_order()
        parts = pc.extract_regex(sub.filter(pa.array(slash)), _SLASH_RE)

        def number(name: str) -> np.ndarray:
            return _int_field(parts, name).to_numpy(zero_copy_only=False)

        a, b = number("a"), number("b")
        local[failed[slash]] = pd.to_datetime(pd.DataFrame({
            "year": number("y"), "month": b if ctx.day_first else a,
            "day": a if ctx.day_first else b, "hour": number("H"), "minute": number("M"),
            "second": number("S")}), errors="coerce").to_numpy()
    naive = naive_iso | slash
    if naive.any():
        idx = failed[naive]
        localized = local[idx].dt.tz_localize(ctx.shop_tz, ambiguous="NaT",
                                              nonexistent="NaT")
        result[idx] = localized.dt.tz_convert("UTC")
        lost = idx[localized.isna().to_numpy() & local[idx].notna().to_numpy()]
        for pos in lost:
            reasons[pos] = _why_no_instant(local[pos].to_pydatetime(), ctx.shop_tz)
        read = int(local[idx].notna().sum())
        if read:
            how = ""
            if slash.any():
                ctx.slash_dates_seen = True
                order = "day/month/year" if ctx.day_first else "month/day/year"
                how = f", {order}" + ("" if ctx.decided else " (nothing in the file tells "
                                       "day and month apart, so this is a guess: check them)")
            counted = f"1 date in {column!r} has" if read == 1 else (
                f"{read} dates in {column!r} have")
            ctx.notes.append(f"{counted} no UTC offset (the file went through a spreadsheet?): "
                             f"read as {ctx.shop_tz} time{how}.")
    ok = result.notna().to_numpy()
    out.iloc[failed[ok]] = result[ok].array  # (not .to_numpy(): that makes objects)
    bad = failed[~ok]
    return out, bad, list(reasons[bad])


# --- line item names ---------------------------------------------------------------------------

_US_SIZE_RE = re.compile(
    r"^(?:(?:us|size|sz)\s*)?"
    r"(?P<n>\d{1,2})(?:(?P<dec>\.(?:0|00|25|5|50|75))|\s*(?P<frac>[¼½¾]|1/4|1/2|3/4))?$",
    re.I,
)
_UK_SIZE_RE = re.compile(r"^(?:(?:UK|AU|UK/AU)\s*)?[A-Z](?:\s*(?:½|1/2))?$")
_EU_SIZE_RE = re.compile(r"^(?:eu|iso)\s*(?P<n>\d{2})(?:\.\d)?$", re.I)


def split_lineitem_name(name: str) -> tuple[str, list[str]]:
    """("Ridge Ring - Rhodium Plating / 8") -> ("Ridge Ring", ["Rhodium Plating", "8"]).

    Shopify writes `Lineitem name` as the product title, then " - " and the variant's option
    values joined by " / " when the product has variants. The last " - " is taken as the
    split, since product titles contain " - " more often than option values do.
    """
    product, sep, variant = name.rpartition(" - ")
    if not sep or not product.strip() or not variant.strip():
        return name.strip(), []
    return product.strip(), [o.strip() for o in variant.split(" / ") if o.strip()]


def ring_size_from_options(product: str, options: list[str]) -> str | None:
    """The option text that is a ring size, when `product` looks like a ring; else None.

    A ring: the title contains "ring" but not "earring" (case-insensitive). A size: US 3-16 in
    quarters ("6.5", "7 1/2", "7½"), UK/AU letters ("N", "N½", "N 1/2") or EU ("EU 54").
    """
    low = product.casefold()
    if "ring" not in low or "earring" in low:
        return None
    for option in options:
        m = _US_SIZE_RE.match(option)
        if m:
            fraction = m.group("dec") or m.group("frac") or ""
            if 3 <= int(m.group("n")) <= 16 and (int(m.group("n")) < 16
                                                  or fraction.strip(".0") == ""):
                return option
            continue
        if _UK_SIZE_RE.match(option):
            return option
        m = _EU_SIZE_RE.match(option)
        if m and 38 <= int(m.group("n")) <= 76:
            return option
    return None


def _describe_titles(titles: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(options text, ring size text) for each title, computed once per distinct title."""
    encoded = pc.dictionary_encode(titles)
    options, sizes = [], []
    for title in encoded.dictionary.to_pylist():
        product, opts = split_lineitem_name(title)
        options.append(" / ".join(opts))
        sizes.append(ring_size_from_options(product, opts))
    indices = encoded.indices
    return (pc.take(pa.array(options, pa.string()), indices),
            pc.take(pa.array(sizes, pa.string()), indices))


# --- problems ----------------------------------------------------------------------------------


@dataclass
class _Problems:
    """Problems found so far, as (row position, column, cell as in the file, reason)."""

    cols: _Columns
    rows: list[np.ndarray] = field(default_factory=list)
    items: list[tuple[int, str, str, str]] = field(default_factory=list)

    def add(self, positions: np.ndarray, column: str, reasons: list[str] | str) -> None:
        """Record a problem in `column` (an export column name, or "(whole row)")."""
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return
        self.rows.append(positions)
        if self.cols.has(column):
            cells = self.cols.raw(column).take(pa.array(positions)).to_pylist()
            column = self.cols.actual(column)
        else:
            cells = [""] * len(positions)
        if isinstance(reasons, str):
            reasons = [reasons] * len(positions)
        for p, cell, why in zip(positions, cells, reasons, strict=True):
            self.items.append((int(p), column, cell or "", why))

    def bad_rows(self) -> np.ndarray:
        return np.unique(np.concatenate(self.rows)) if self.rows else np.array([], np.int64)


# --- the public function -----------------------------------------------------------------------


def parse_orders_export(
    source: str | os.PathLike | bytes | IO[bytes],
    *,
    file_name: str | None = None,
    shop_tz: str = "UTC",
    day_first: bool | None = None,
) -> ParsedExport:
    """Read a Shopify "Export orders" CSV (73-79 columns, 2023-2026) into orders and lines.

    `source`: a path, the file's bytes, or a binary file-like (Streamlit's UploadedFile).
    `file_name`: the name used in problems and notes (default: the path's or upload's name).
    `shop_tz`: IANA zone used for dates that lost their UTC offset in a spreadsheet.

    Returns a `ParsedExport` with
    - `orders`: one row per order (adjacent rows sharing `Name`), columns `ORDER_COLUMNS`:
      order-level fields from the order's first row; money as text with 2 decimals
      ("1234.50"; a blank amount is "0.00", a missing column None); `placed_at`, `paid_at`,
      `cancelled_at` as tz-aware UTC timestamps (NaT when blank); `match_key` the Shopify `Id`
      as exact text, or "name:" + Name where there is no Id; `first_row` the file row number.
    - `lines`: one row per line item, columns `LINE_COLUMNS`: `line_no` 1..n in file order,
      `quantity` int, `price` money text, `requires_shipping` nullable boolean,
      `options` the variant options ("" when none), `ring_size_text` the option that is a ring
      size on a ring, else None; `row_number` the file row.
    - `problems`: a `RowProblem` per unreadable cell; an order with any is left out of both
      frames, all others come through. Row numbers count the header as row 1 and a quoted
      multi-line cell as part of one row.
    - `notes`: sentences about the file (missing columns, encoding, dates without offsets).
    - `row_count`: number of data rows.

    Raises `NotAnOrdersExport` (a ValueError) when the file has no header or no `Name` column,
    `ValueError` for an unknown `shop_tz`, and OSError when a path can't be read.
    """
    try:
        ZoneInfo(shop_tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown time zone {shop_tz!r}: use an IANA name such as "
                         "'America/New_York'.") from exc
    data, derived_name = _read_source(source)
    file_name = file_name or derived_name or "orders export"
    notes: list[str] = []
    kind = _binary_kind(data)
    if kind:
        raise NotAnOrdersExport(f"{file_name} is not a CSV file (it is {kind}); in Shopify, "
                                "export the orders as CSV and upload that file.")
    data = _to_utf8(data, notes)
    if not data[:65536].strip():
        raise NotAnOrdersExport(f"{file_name} is empty; this doesn't look like a Shopify "
                                "orders export.")
    header, delimiter = _header(data)
    if "name" not in {h.casefold() for h in header}:
        shown = ", ".join(h for h in header[:8] if h)
        more = ", ..." if len(header) > 8 else ""
        raise NotAnOrdersExport(
            f"{file_name} has no Name column; this doesn't look like a Shopify orders export "
            f"(it has columns: {shown}{more}).")
    if delimiter != ",":
        kind = "semicolons" if delimiter == ";" else "tabs"
        notes.append(f"The file's cells are separated by {kind} (saved by a spreadsheet); "
                     "it was read as such.")
    names = _unique_names(header, notes)
    try:
        raw = _read_table(data, names, delimiter)
    except pa.ArrowInvalid as exc:
        if "utf8" not in str(exc).lower():
            raise
        data = _from_windows_1252(data, notes)
        header, delimiter = _header(data)
        raw = _read_table(data, _unique_names(header), delimiter)
    del data  # the file's bytes are not needed past here
    parsed = _build(raw, file_name=file_name, shop_tz=shop_tz, delimiter=delimiter,
                    notes=notes, day_first=day_first)
    del raw
    pa.default_memory_pool().release_unused()  # hand Arrow's buffers back before storing
    return parsed


def _build(raw: _Raw, *, file_name: str, shop_tz: str, delimiter: str,
           notes: list[str], day_first: bool | None = None) -> ParsedExport:
    table = raw.table
    row_count = table.num_rows
    cols = _Columns(table)
    for name, loss in _OPTIONAL_COLUMNS.items():
        if not cols.has(name):
            notes.append(f"The file has no {name!r} column: {loss}.")

    # Rows with nothing at all in them (a spreadsheet leaves them at the end) carry no data:
    # drop them, keeping every other row's number as it is in the file.
    positions = np.arange(row_count)
    name_blank = np.flatnonzero(_blank(cols.get("Name")))
    if len(name_blank):
        empty_sub = np.ones(len(name_blank), bool)
        for column in table.take(pa.array(name_blank)).columns:
            empty_sub &= _blank(pc.utf8_trim_whitespace(column.combine_chunks()))
        empty = np.zeros(row_count, bool)
        empty[name_blank[empty_sub]] = True
        empty[list(raw.ragged)] = False
        if empty.any():
            skipped = int(empty.sum())
            notes.append("1 empty row was skipped." if skipped == 1
                         else f"{skipped} empty rows were skipped.")
            positions = np.flatnonzero(~empty)
            table = table.take(pa.array(positions))
            cols = _Columns(table)
    row_numbers = positions + 2  # the header is row 1
    n = table.num_rows
    problems = _Problems(cols)
    for pos, cells in raw.ragged.items():
        problems.add(np.flatnonzero(positions == pos), "(whole row)",
                     f"has {cells} cells where the header has {raw.width}; the row is "
                     "broken (a stray delimiter or quote?)")

    # --- group adjacent rows into orders. A row with a blank Name and no order-level fields
    # is taken as one more row of the order above it (so that order is left out, not halved).
    names = cols.get("Name")
    blank = _blank(names)
    codes = pc.dictionary_encode(names).indices.to_numpy(zero_copy_only=False)
    looks_continued = np.ones(n, bool)
    for column in _FIRST_ROW_ONLY:
        if cols.has(column):
            looks_continued &= _blank(cols.get(column))
    joins_above = blank & looks_continued
    joins_above[:1] = False
    carry = np.where(joins_above, 0, np.arange(n))
    np.maximum.accumulate(carry, out=carry)
    group_codes = codes[carry]
    starts = np.ones(n, bool)
    starts[1:] = group_codes[1:] != group_codes[:-1]
    gid = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    first_pa = pa.array(first, pa.int64())
    order_names = names.take(first_pa)
    order_name_list = order_names.to_pylist()

    def order_of(pos: int) -> str:
        return order_name_list[gid[pos]]

    blank_rows = np.flatnonzero(blank)
    problems.add(blank_rows, "Name", [
        f"Name is blank; the row sits among the rows of {order_of(p)}, so {order_of(p)} is "
        "left out" if order_of(p) else "Name is blank" for p in blank_rows])

    # the same Name in two places: an order's rows must be together
    first_names = pd.Series(order_name_list, dtype=object)
    repeated = first_names[(first_names != "") & first_names.duplicated(keep=False)]
    for _, group in repeated.groupby(repeated, sort=False):
        where = " and ".join(str(row_numbers[first[g]]) for g in group.index)
        problems.add(first[group.index.to_numpy()], "Name",
                     f"this order's rows are in more than one place (starting at rows {where}); "
                     "an order's rows must be together, so it is left out")

    # --- order-level fields, from each order's first row
    def firsts(column: str) -> pa.Array:
        return cols.get(column, rows=first_pa)

    ids = firsts("Id")
    id_blank = _blank(ids)
    id_ok = pc.match_substring_regex(ids, r"^\d{1,20}$").to_numpy(zero_copy_only=False)
    bad_id = np.flatnonzero(~id_ok & ~id_blank)
    problems.add(first[bad_id], "Id", [
        "is in scientific notation (a spreadsheet rounded it), so the exact Shopify Id is lost; "
        "export the orders again from Shopify" if re.search(r"\d[eE][+-]?\d+$", v)
        else "is not a Shopify order Id (digits only)"
        for v in ids.take(pa.array(bad_id, pa.int64())).to_pylist()])
    id_series = pd.Series(ids.to_pylist(), dtype=object)
    dup_id = id_series[id_ok & id_series.duplicated(keep=False).to_numpy()]
    for _, group in dup_id.groupby(dup_id, sort=False):
        others = ", ".join(order_name_list[g] for g in group.index)
        problems.add(first[group.index.to_numpy()], "Id",
                     f"the same Id is on more than one order ({others}), so none of them is "
                     "taken")
    match_key = pc.if_else(pa.array(id_blank),
                           pc.binary_join_element_wise(pa.scalar("name:"), order_names, ""),
                           ids)

    null = pa.scalar(None, pa.string())
    email = firsts("Email")
    phone = _first_nonblank(*(firsts(c) for c in _PHONE_COLUMNS))
    # keys as the import matches customers by: digits and "+" of the phone, trimmed and
    # lowercased name (changing these rules would split customers across imports)
    phone_key = pc.replace_substring_regex(pc.fill_null(phone, ""), r"[^0-9+]", "")
    phone_digits = pc.replace_substring_regex(phone_key, r"\+", "")
    person = _first_nonblank(firsts("Billing Name"), firsts("Shipping Name"))
    person_key = pc.utf8_lower(pc.fill_null(person, ""))
    customer_key = pc.if_else(
        pc.greater(pc.utf8_length(email), 0),
        pc.binary_join_element_wise(pa.scalar("email:"), pc.utf8_lower(email), ""),
        pc.if_else(
            pc.greater(pc.utf8_length(phone_digits), 0),
            pc.binary_join_element_wise(pa.scalar("phone:"), phone_key, ""),
            pc.if_else(pc.greater(pc.utf8_length(person_key), 0),
                       pc.binary_join_element_wise(pa.scalar("name:"), person_key, ""), null)))

    orders: dict[str, pa.Array] = {
        "match_key": match_key,
        "external_id": _nz(ids),
        "name": order_names,
        "customer_key": customer_key,
        "customer_name": pc.coalesce(person, _nz(email)),
        "email": _nz(email),
        "phone": phone,
        "accepts_marketing": pc.is_in(pc.utf8_lower(firsts("Accepts Marketing")),
                                      pa.array(["yes", "true"])),
    }
    for out, column in _ORDER_TEXT.items():
        text = _nz(firsts(column))
        orders[out] = pc.utf8_lower(text) if out.endswith("_status") else text
    decimal_comma = _uses_decimal_commas(cols, delimiter)
    if decimal_comma:
        notes.append("Amounts are written with decimal commas (1659,95), as a spreadsheet in a "
                     "European locale saves them; they were read as 1659.95.")
    for out, column in _ORDER_MONEY.items():
        if not cols.has(column):
            orders[out] = pa.nulls(len(first), pa.string())
            continue
        cells = firsts(column)
        orders[out], bad, reasons = _money(
            _from_decimal_comma(cells) if decimal_comma else cells, blank_as_zero=True)
        problems.add(first[bad], column, reasons)
    orders["shipping_address"] = _join_nonblank([firsts(c) for c in _ADDRESS_COLUMNS], ", ")
    orders["first_row"] = pa.array(row_numbers[first], pa.int64())

    date_cells = {column: firsts(column) for column in _ORDER_DATES.values()}
    # `day_first` given by the person (preview question, --day-first) wins over the file's hints
    ctx = _DateContext(shop_tz=shop_tz, delimiter=delimiter, columns=list(date_cells.values()),
                       day_first=day_first)
    dates = {}
    for out, column in _ORDER_DATES.items():
        dates[out], bad, reasons = _instants(date_cells[column], column, ctx)
        problems.add(first[bad], column, reasons)
    notes.extend(ctx.notes)

    # --- line items: every row is one
    if cols.has("Lineitem quantity"):
        quantity, bad = _quantity(cols.get("Lineitem quantity"))
        problems.add(bad, "Lineitem quantity", "is not a quantity (a whole number of 1 or more)")
    else:
        quantity = np.ones(n, np.int64)
    if cols.has("Lineitem price"):
        cells = cols.get("Lineitem price")
        price, bad, reasons = _money(_from_decimal_comma(cells) if decimal_comma else cells,
                                     blank_as_zero=False)
        problems.add(bad, "Lineitem price", reasons)
    else:
        price = pa.nulls(n, pa.string())
    titles = cols.get("Lineitem name")
    options, ring_sizes = _describe_titles(titles)
    flag = pc.utf8_lower(cols.get("Lineitem requires shipping"))
    requires_shipping = pc.if_else(
        pc.is_in(flag, pa.array(["true", "yes"])), True,
        pc.if_else(pc.is_in(flag, pa.array(["false", "no"])), False,
                   pa.scalar(None, pa.bool_())))
    lines = {
        "match_key": match_key.take(pa.array(gid, pa.int64())),
        "line_no": pa.array(np.arange(n) - first[gid] + 1, pa.int64()),
        "title": _nz(titles),
        "quantity": pa.array(quantity, pa.int64()),
        "price": price,
        "sku": _nz(cols.get("Lineitem sku")),
        "vendor": _nz(cols.get("Vendor")),
        "requires_shipping": requires_shipping,
        "fulfillment_status": pc.utf8_lower(_nz(cols.get("Lineitem fulfillment status"))),
        "ring_size_text": ring_sizes,
        "options": options,
        "row_number": pa.array(row_numbers, pa.int64()),
    }

    # --- leave out every order with a problem, whole
    bad_groups = np.zeros(len(first), bool)
    bad_groups[gid[problems.bad_rows()]] = True
    good_groups = np.flatnonzero(~bad_groups)
    good_rows = pa.array(np.flatnonzero(~bad_groups[gid]), pa.int64())
    orders_table = pa.table(orders)
    lines_table = pa.table(lines)
    if bad_groups.any():
        orders_table = orders_table.take(pa.array(good_groups, pa.int64()))
        lines_table = lines_table.take(good_rows)
    orders_df = orders_table.to_pandas()
    for out, series in dates.items():
        orders_df[out] = series.take(good_groups).reset_index(drop=True)
    lines_df = lines_table.to_pandas()
    lines_df["requires_shipping"] = pd.array(
        lines_table.column("requires_shipping").to_pylist(), dtype="boolean")

    return ParsedExport(
        source=OrderSource.SHOPIFY.value,
        file_name=file_name,
        orders=orders_df[ORDER_COLUMNS],
        lines=lines_df[LINE_COLUMNS],
        problems=[RowProblem(file_name=file_name, row_number=int(row_numbers[pos]),
                             column=column, value=value, reason=reason,
                             order_name=order_of(pos))
                  for pos, column, value, reason in sorted(problems.items,
                                                           key=lambda item: item[0])],
        notes=notes,
        row_count=row_count,
        date_order_guessed=ctx.slash_dates_seen and not ctx.decided,
        absent_fields=frozenset(field for field, columns in _ORDER_FIELD_COLUMNS.items()
                                if not all(cols.has(c) for c in columns)),
    )
