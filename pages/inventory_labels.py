"""Printable labels for stones and melee parcels: a PDF with a QR code carrying the item's code.

Not a page (st.navigation lists the pages): the inventory pages call `label_pdf` and offer the
bytes as a download. The QR code holds the bare item code ("S-0012"), so a USB barcode scanner
reading it types exactly what the cycle-count field and the job's materials field expect.

QR codes come from `segno`, the PDF from `fpdf2` (pinned in requirements.txt). Two layouts:
- "roll": one 57 x 32 mm label per page, for a thermal label printer;
- "sheet": A4 sheets of 21 labels, 63.5 x 38.1 mm, 3 across and 7 down (Avery L7160 layout:
  top margin 15.15 mm, left margin 7.2 mm, 2.5 mm between columns).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import segno
from fpdf import FPDF

ROLL = (57.0, 32.0)                       # mm, one label per page
SHEET_LABEL = (63.5, 38.1)                # mm
SHEET_COLUMNS, SHEET_ROWS = 3, 7
SHEET_MARGIN_TOP, SHEET_MARGIN_LEFT, SHEET_GAP_X = 15.15, 7.2, 2.5


@dataclass(frozen=True)
class Label:
    """What one label shows: the code (also in the QR code), a description, and an optional
    line of detail (certificate, carat weight, "MEMO", "CUSTOMER'S")."""

    code: str
    description: str
    detail: str = ""


def qr_payload(code: str) -> str:
    """The text the QR code carries: the bare item code, as the scanner should type it."""
    return code.strip().upper()


def qr_png(code: str, scale: int = 8) -> bytes:
    """The QR code of `code` as PNG bytes (error correction level M at least, 1-module
    quiet zone)."""
    buf = io.BytesIO()
    segno.make(qr_payload(code), error="m", micro=False).save(buf, kind="png", scale=scale,
                                                              border=1)
    return buf.getvalue()


def label_for(item: dict) -> Label:
    """A `Label` from a row of `storage.inventory_queries.items_for_labels`."""
    bits = []
    if item.get("cert"):
        bits.append(str(item["cert"]))
    if item.get("category") == "melee" and item.get("carat") and item.get("pieces_received"):
        bits.append(f"{Decimal(item['carat']):.2f} ctw / {item['pieces_received']} pcs received")
    if item.get("ownership") == "memo":
        bits.append("MEMO")
    elif item.get("ownership") == "customer":
        bits.append("CUSTOMER'S STONE")
    return Label(item["code"], item["description"] or "", " · ".join(bits))


def _latin1(text: str) -> str:
    # The PDF's built-in Helvetica covers Latin-1 only.
    return text.replace("·", "-").encode("latin-1", "replace").decode("latin-1")


def _draw(pdf: FPDF, label: Label, x: float, y: float, w: float, h: float) -> None:
    pad = 1.5
    side = h - 2 * pad
    pdf.image(io.BytesIO(qr_png(label.code)), x=x + pad, y=y + pad, w=side, h=side)
    tx = x + side + 2 * pad
    tw = w - side - 3 * pad
    pdf.set_xy(tx, y + pad)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(tw, 5, _latin1(label.code))
    pdf.set_xy(tx, y + pad + 6)
    pdf.set_font("Helvetica", "", 7)
    pdf.multi_cell(tw, 3, _latin1(label.description)[:90], align="L", max_line_height=3)
    if label.detail:
        pdf.set_xy(tx, y + h - pad - 7)
        pdf.set_font("Helvetica", "", 6)
        pdf.multi_cell(tw, 2.6, _latin1(label.detail)[:80], align="L", max_line_height=2.6)


def label_pdf(labels: Sequence[Label], layout: str = "roll", *, compress: bool = True) -> bytes:
    """The labels as PDF bytes, in the order given (see the module doc for the two layouts).

    Raises ValueError for an unknown layout or no labels.
    """
    if not labels:
        raise ValueError("no labels to print")
    if layout == "roll":
        pdf = FPDF(unit="mm", format=ROLL)
        pdf.set_auto_page_break(False)
        pdf.set_margins(0, 0, 0)
        for label in labels:
            pdf.add_page()
            _draw(pdf, label, 0, 0, *ROLL)
    elif layout == "sheet":
        pdf = FPDF(unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(0, 0, 0)
        per_page = SHEET_COLUMNS * SHEET_ROWS
        for i, label in enumerate(labels):
            if i % per_page == 0:
                pdf.add_page()
            slot = i % per_page
            col, row = slot % SHEET_COLUMNS, slot // SHEET_COLUMNS
            x = SHEET_MARGIN_LEFT + col * (SHEET_LABEL[0] + SHEET_GAP_X)
            y = SHEET_MARGIN_TOP + row * SHEET_LABEL[1]
            _draw(pdf, label, x, y, *SHEET_LABEL)
    else:
        raise ValueError(f"unknown label layout {layout!r}: 'roll' or 'sheet'")
    pdf.set_compression(compress)
    pdf.set_title("Atelier labels")
    return bytes(pdf.output())
