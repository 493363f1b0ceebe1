"""Reading numbers and amounts of money as people type them at a counter.

One rule everywhere (walk-in prices, payments, stock costs, weights, carats):
- a currency symbol or code and spaces around are ignored ("$1,200.00", "USD 1200");
- a comma followed by groups of exactly three digits is a thousands separator ("1,200",
  "12,500.50");
- otherwise a single comma is the decimal mark, as much of the world writes it ("0,5", "12,75");
- anything else ("1.200.00", "1,2,3", "ten") is refused with the value quoted as typed.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from workflow.errors import InvalidInput

# A currency symbol, or an ISO code in capitals before or after the digits ("USD 1200").
_SYMBOLS = re.compile(r"^[\s$€£¥₹₨]*(?:[A-Z]{3}(?=[\s\d+-]))?\s*|\s*(?:\s[A-Z]{3})?[\s$€£¥₹₨]*$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def parse_decimal(value, what: str) -> Decimal | None:
    """`value` as typed -> Decimal, or None when blank. Raises `InvalidInput` naming `what`
    and the value exactly as it was typed."""
    raw = "" if value is None else str(value)
    text = _SYMBOLS.sub("", raw.strip())
    if not text:
        return None
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    elif _DECIMAL_COMMA.match(text):
        text = text.replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidInput(f"{what} {raw.strip()!r} is not a number.") from exc
    if not number.is_finite():
        raise InvalidInput(f"{what} {raw.strip()!r} is not a number.")
    return number
