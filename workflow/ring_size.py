"""Ring sizes: stored as ISO 8653 inner circumference in mm; read and shown in US, UK/AU, EU.

Conversions (the usual trade charts, which agree within about 0.3 mm):
- US/Canada: inner diameter = 11.63 mm + 0.8128 mm per size; circumference = pi x diameter
  (US 7 -> 54.4 mm).
- UK/AU: letters A..Z, A = 37.8 mm circumference, each letter +1.25 mm, each half +0.625 mm
  (N 1/2 -> 54.7 mm, about US 7).
- EU/ISO: the size *is* the circumference in mm (EU 54 -> 54.0 mm).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

from workflow.errors import InvalidInput

_US_BASE_MM = 11.63
_US_STEP_MM = 0.8128
_UK_A_MM = 37.8
_UK_STEP_MM = 1.25

_FRACTIONS = {"": 0.0, "1/4": 0.25, "1/2": 0.5, "3/4": 0.75, "½": 0.5, "¼": 0.25, "¾": 0.75,
              ".25": 0.25, ".5": 0.5, ".75": 0.75, ".0": 0.0}
_US = re.compile(r"^(?:us\s*)?(\d{1,2})(?:\s*(1/4|1/2|3/4|½|¼|¾)|(\.\d+))?(?:\s*us)?$")
_UK = re.compile(r"^(?:uk|au|uk/au)?\s*([a-z])\s*(½|1/2)?$")
_EU = re.compile(r"^(?:eu|iso)\s*(\d{2}(?:\.\d)?)(?:\s*mm)?$|^(\d{2}(?:\.\d)?)\s*mm$")


def _round(mm: float) -> Decimal:
    return Decimal(str(mm)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# Finger circumferences a ring is made for: EU 38 (a child's) to EU 76.
EU_MIN_MM, EU_MAX_MM = 38.0, 76.0


def _eu(mm: float, raw: str) -> Decimal:
    if not EU_MIN_MM <= mm <= EU_MAX_MM:
        raise InvalidInput(f"Ring size {raw!r} is outside the sizes rings are made in "
                           f"(EU {EU_MIN_MM:.0f} to {EU_MAX_MM:.0f} mm).")
    return _round(mm)


def us_to_mm(size: float) -> Decimal:
    """US size (0-16, quarters allowed) -> ISO circumference in mm."""
    return _round(math.pi * (_US_BASE_MM + _US_STEP_MM * size))


def uk_to_mm(letter: str, half: bool = False) -> Decimal:
    """UK/AU letter (A-Z) with an optional half -> ISO circumference in mm."""
    index = ord(letter.upper()) - ord("A")
    return _round(_UK_A_MM + _UK_STEP_MM * index + (_UK_STEP_MM / 2 if half else 0))


def parse_ring_size(text: str) -> Decimal | None:
    """Read a ring size as typed ("7", "7 1/2", "7.25", "N", "N½", "EU 54", "54 mm").

    Returns the circumference in mm, or None for blank text. A bare number of 30 or more is taken
    as EU (mm). Raises `InvalidInput` naming the value when it is not a ring size.
    """
    raw = (text or "").strip()
    if not raw:
        return None
    t = raw.lower().replace(",", ".")
    t = re.sub(r"^(size|sz)\s*", "", t)
    m = _EU.match(t)
    if m:
        return _eu(float(m.group(1) or m.group(2)), raw)
    m = _US.match(t)
    if m:
        whole = int(m.group(1))
        frac = _FRACTIONS.get(m.group(2) or "", None) if m.group(2) else None
        if frac is None:
            frac = float(m.group(3)) if m.group(3) else 0.0
        size = whole + frac
        if size >= 30 and "us" not in t:  # "US 54" is not 54 mm
            return _eu(size, raw)
        if 0 <= size <= 16:
            return us_to_mm(size)
    m = _UK.match(t)
    if m:
        return uk_to_mm(m.group(1), half=bool(m.group(2)))
    raise InvalidInput(f"Ring size {raw!r} is not a size we know: use US (7, 7 1/2), "
                       "UK/AU (N, N½) or EU (EU 54).")


def mm_to_us(mm: Decimal | float) -> float:
    """Nearest US quarter size for a circumference in mm."""
    size = (float(mm) / math.pi - _US_BASE_MM) / _US_STEP_MM
    return round(size * 4) / 4


def mm_to_uk(mm: Decimal | float) -> str:
    """Nearest UK/AU letter (with ½) for a circumference in mm."""
    halves = round((float(mm) - _UK_A_MM) / (_UK_STEP_MM / 2))
    halves = max(0, min(halves, 51))
    letter = chr(ord("A") + halves // 2)
    return letter + ("½" if halves % 2 else "")


def describe(mm: Decimal | float | None) -> str:
    """"US 7 · UK N½ · EU 54.4" for a stored size; "" when there is none."""
    if mm is None:
        return ""
    us = mm_to_us(mm)
    us_text = f"{us:g}"
    return f"US {us_text} · UK {mm_to_uk(mm)} · EU {float(mm):.1f}"
