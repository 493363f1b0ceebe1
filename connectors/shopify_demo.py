"""Atelier's own demo data: a realistic Shopify "Export orders" CSV for a jewelry shop.

The file has the 79 columns of a current export (2023-2026), in Shopify's order
(`connectors.shopify.SHOPIFY_EXPORT_COLUMNS`), and the quirks measured on real exports
(GUIDE.md §5): one row per line item with order-level columns on the first row only, dates with
the shop's UTC offset at that date (so daylight saving changes it inside one file), zips and
phones written with a leading apostrophe, ring sizes as variant options in `Lineitem name`,
engraving and gift notes in `Note Attributes`, newest order first.

Everything is fake and deterministic from the seed: names and emails come from small pools
(example.com/.net/.org addresses, 555-01xx phone numbers), no Faker needed. Writing 100k rows
takes a few seconds (precomputed pools, one `random.Random`, the csv module).

`write_export()` and the `ExportOrder`/`ExportLine` records are also the writer helpers the
tests use to put exactly the orders they want into Shopify's format.
"""

from __future__ import annotations

import base64
import csv
import gc
import io
import os
import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import IO
from zoneinfo import ZoneInfo

from connectors.shopify import SHOPIFY_DATE_FORMAT, SHOPIFY_EXPORT_COLUMNS

__all__ = [
    "ExportLine",
    "ExportOrder",
    "demo_export_bytes",
    "demo_orders",
    "export_rows",
    "write_demo_export",
    "write_export",
]

DEFAULT_START = date(2025, 1, 6)
SPAN_DAYS = 365
# Orders of the last this many days are still being made (most unfulfilled); older ones are
# fulfilled, as a workshop that keeps its promises has them.
OPEN_WINDOW_DAYS = 40
_CENT = Decimal("0.01")


# --- records and the writer --------------------------------------------------------------------


@dataclass
class ExportLine:
    """One line item as Shopify writes it (`title` is the full `Lineitem name`)."""

    title: str
    quantity: int = 1
    price: Decimal | str = Decimal("0.00")
    sku: str = ""
    vendor: str = ""
    requires_shipping: bool = True
    taxable: bool = True
    fulfillment_status: str = "pending"
    compare_at_price: Decimal | str = ""
    discount: Decimal | str = Decimal("0.00")


@dataclass
class ExportOrder:
    """One order as Shopify writes it: fields of the first row, and its line items.

    Dates are aware datetimes (written in their own UTC offset); money is Decimal or text.
    Addresses are tuples (name, address1, address2, city, zip, province, country, phone).
    """

    name: str
    id: str = ""
    email: str = ""
    created_at: datetime | None = None
    lines: list[ExportLine] = field(default_factory=list)
    financial_status: str = "paid"
    paid_at: datetime | None = None
    fulfillment_status: str = "unfulfilled"
    fulfilled_at: datetime | None = None
    accepts_marketing: bool = False
    currency: str = "USD"
    subtotal: Decimal | str = Decimal("0.00")
    shipping: Decimal | str = Decimal("0.00")
    taxes: Decimal | str = Decimal("0.00")
    total: Decimal | str = Decimal("0.00")
    discount_code: str = ""
    discount_amount: Decimal | str = Decimal("0.00")
    shipping_method: str = ""
    billing: tuple[str, ...] = ()
    shipping_address: tuple[str, ...] = ()
    notes: str = ""
    note_attributes: str = ""
    cancelled_at: datetime | None = None
    payment_method: str = ""
    payment_reference: str = ""
    refunded_amount: Decimal | str = Decimal("0.00")
    outstanding_balance: Decimal | str = Decimal("0.00")
    employee: str = ""
    location: str = ""
    tags: str = ""
    risk_level: str = "Low"
    source: str = "web"
    tax_name: str = ""
    phone: str = ""
    payment_terms: str = ""


def _money(value: Decimal | str) -> str:
    return f"{value:.2f}" if isinstance(value, Decimal) else value


def _when(value: datetime | None) -> str:
    """"2025-05-11 09:55:16 -0400" (SHOPIFY_DATE_FORMAT; isoformat is 2.5x faster)."""
    if value is None:
        return ""
    text = value.isoformat(" ", "seconds")
    if len(text) != 25:  # naive, or an offset with seconds: let strftime say it
        return value.strftime(SHOPIFY_DATE_FORMAT)
    return f"{text[:19]} {text[19:22]}{text[23:]}"


def _guard(value: str) -> str:
    """Shopify's formula-injection guard: a leading apostrophe before +, - or a digit."""
    return "'" + value if value and value[0] in "+-0123456789" else value


@lru_cache(maxsize=4096)  # customers come back: their address cells are made once
def _address(prefix: str, parts: tuple[str, ...]) -> dict[str, str]:
    if not parts:
        return {}
    name, address1, address2, city, zip_code, province, country, phone = parts
    street = f"{address1}, {address2}" if address2 else address1
    return {
        f"{prefix} Name": name, f"{prefix} Street": street, f"{prefix} Address1": address1,
        f"{prefix} Address2": address2, f"{prefix} City": city,
        f"{prefix} Zip": _guard(zip_code), f"{prefix} Province": province,
        f"{prefix} Country": country, f"{prefix} Phone": _guard(phone),
        f"{prefix} Province Name": _PROVINCE_NAMES.get(province, ""),
    }


def _line_cells(line: ExportLine) -> dict[str, str]:
    return {
        "Lineitem quantity": str(line.quantity),
        "Lineitem name": line.title,
        "Lineitem price": _money(line.price),
        "Lineitem compare at price": _money(line.compare_at_price),
        "Lineitem sku": line.sku,
        "Lineitem requires shipping": "true" if line.requires_shipping else "false",
        "Lineitem taxable": "true" if line.taxable else "false",
        "Lineitem fulfillment status": line.fulfillment_status,
        "Vendor": line.vendor,
        "Lineitem discount": _money(line.discount),
    }


def export_rows(order: ExportOrder) -> list[dict[str, str]]:
    """The CSV rows of one order, as {column: cell}: the first row carries the order-level
    fields; later rows only Name, Email, Created at, the Lineitem columns, Vendor and
    Lineitem discount (as Shopify writes them)."""
    created = _when(order.created_at)
    first = {
        "Name": order.name, "Email": order.email, "Financial Status": order.financial_status,
        "Paid at": _when(order.paid_at), "Fulfillment Status": order.fulfillment_status,
        "Fulfilled at": _when(order.fulfilled_at),
        "Accepts Marketing": "yes" if order.accepts_marketing else "no",
        "Currency": order.currency, "Subtotal": _money(order.subtotal),
        "Shipping": _money(order.shipping), "Taxes": _money(order.taxes),
        "Total": _money(order.total), "Discount Code": order.discount_code,
        "Discount Amount": _money(order.discount_amount),
        "Shipping Method": order.shipping_method, "Created at": created,
        **_address("Billing", order.billing), **_address("Shipping", order.shipping_address),
        "Notes": order.notes, "Note Attributes": order.note_attributes,
        "Cancelled at": _when(order.cancelled_at), "Payment Method": order.payment_method,
        "Payment Reference": order.payment_reference,
        "Refunded Amount": _money(order.refunded_amount),
        "Outstanding Balance": _money(order.outstanding_balance),
        "Employee": order.employee, "Location": order.location, "Id": order.id,
        "Tags": order.tags, "Risk Level": order.risk_level, "Source": order.source,
        "Tax 1 Name": order.tax_name, "Tax 1 Value": _money(order.taxes) if order.tax_name
        else "", "Phone": _guard(order.phone),
        "Payment ID": order.payment_reference, "Payment Terms Name": order.payment_terms,
        "Payment References": order.payment_reference,
    }
    rows = []
    for i, line in enumerate(order.lines or [ExportLine(title="")]):
        row = first if i == 0 else {"Name": order.name, "Email": order.email,
                                    "Created at": created}
        row.update(_line_cells(line))
        rows.append(row)
    return rows


def write_export(target: str | os.PathLike | IO[str], orders: Iterable[ExportOrder], *,
                 columns: Iterable[str] = SHOPIFY_EXPORT_COLUMNS, bom: bool = False) -> int:
    """Write `orders` as a Shopify "Export orders" CSV; returns the data rows written.

    `target`: a path or a text file opened with newline="". `columns`: the header to write
    (default the 79 current columns; pass fewer to imitate an older export). `bom`: start with
    a UTF-8 byte order mark, as a spreadsheet does.
    """
    columns = list(columns)
    if isinstance(target, (str, os.PathLike)):
        with open(target, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
            return write_export(f, orders, columns=columns)
    if bom:
        target.write("\ufeff")
    writer = csv.writer(target, lineterminator="\n")
    writer.writerow(columns)
    blank = dict.fromkeys(columns, "")
    cells = itemgetter(*columns)
    count = 0
    for order in orders:
        rows = export_rows(order)
        writer.writerows(cells({**blank, **row}) for row in rows)
        count += len(rows)
    return count


# --- pools -------------------------------------------------------------------------------------

_FIRST = (
    "Maya", "Olivia", "Liam", "Noah", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Amelia",
    "Harper", "Evelyn", "Ethan", "Lucas", "Mason", "Logan", "James", "Aiden", "Elijah", "Oliver",
    "Zoë", "José", "Chloé", "Søren", "Aoife", "Łukasz", "Ngozi", "Priya", "Arjun", "Mei",
    "Hiroshi", "Fatima", "Omar", "Leila", "Mateo", "Camila", "Santiago", "Valentina", "Kwame",
    "Amara", "Nikolai", "Ingrid", "Rafael", "Beatriz", "Yusuf", "Elif", "Dmitri", "Anya",
    "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Rowan", "Sasha",
)
_LAST = (
    "Chen", "Patel", "Garcia", "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller",
    "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Moore", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill",
    "O'Brien", "Müller", "Kowalski", "Okafor", "Tanaka", "Kim", "Park", "Singh", "Khan",
    "Rossi", "Dubois", "Andersen", "Novak", "Haddad", "Costa", "Silva", "Cohen", "Levy",
    "Murphy", "Kelly", "Byrne", "van der Berg", "de la Cruz", "St. James", "Fitzgerald",
)
_DOMAINS = ("example.com", "example.net", "example.org")
_STREETS = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Park Ave", "Washington St",
    "Lake Rd", "Hill St", "River Rd", "Orchard Way", "Church St", "Mill Ln", "Grove Pl",
    "Highland Ave", "Bleecker St", "Atlantic Ave", "Court St", "Prospect Pl", "Union St",
)
# city, zip, province, country: per currency so that the addresses fit the shop
_PLACES = {
    "USD": (("New York", "10013", "NY", "US"), ("Brooklyn", "11201", "NY", "US"),
            ("Hoboken", "07030", "NJ", "US"), ("Boston", "02116", "MA", "US"),
            ("Philadelphia", "19103", "PA", "US"), ("Stamford", "06901", "CT", "US"),
            ("Chicago", "60611", "IL", "US"), ("Austin", "78701", "TX", "US"),
            ("Los Angeles", "90012", "CA", "US"), ("Seattle", "98101", "WA", "US"),
            ("Miami", "33131", "FL", "US"), ("Denver", "80202", "CO", "US")),
    "CAD": (("Toronto", "M5C 1N7", "ON", "CA"), ("Ottawa", "K2P 2L8", "ON", "CA"),
            ("Montréal", "H2Y 1C6", "QC", "CA"), ("Vancouver", "V6B 1A1", "BC", "CA")),
    "GBP": (("London", "EC1A 1BB", "", "GB"), ("Manchester", "M1 1AE", "", "GB"),
            ("Edinburgh", "EH1 1YZ", "", "GB"), ("Bristol", "BS1 4DJ", "", "GB")),
    "EUR": (("Berlin", "10115", "", "DE"), ("Paris", "75003", "", "FR"),
            ("Amsterdam", "1012 JS", "", "NL"), ("Milano", "20121", "MI", "IT"),
            ("Dublin", "D02 X285", "", "IE")),
    "AUD": (("Sydney", "2000", "NSW", "AU"), ("Melbourne", "3000", "VIC", "AU"),
            ("Brisbane", "4000", "QLD", "AU")),
}
_PROVINCE_NAMES = {
    "NY": "New York", "NJ": "New Jersey", "MA": "Massachusetts", "PA": "Pennsylvania",
    "CT": "Connecticut", "IL": "Illinois", "TX": "Texas", "CA": "California",
    "WA": "Washington", "FL": "Florida", "CO": "Colorado", "ON": "Ontario", "QC": "Quebec",
    "BC": "British Columbia", "MI": "Milano", "NSW": "New South Wales", "VIC": "Victoria",
    "QLD": "Queensland",
}
_DIAL = {"USD": "+1", "CAD": "+1", "GBP": "+44", "EUR": "+49", "AUD": "+61"}
_AREA = ("212", "718", "917", "646", "201", "617", "215", "203", "312", "512", "213", "206")

_US_SIZES = ("4", "4.5", "5", "5.25", "5.5", "5.75", "6", "6.25", "6.5", "6.75", "7", "7.25",
             "7.5", "7.75", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12")
_UK_SIZES = ("H", "I½", "J", "K", "L", "L½", "M", "M½", "N", "N½", "O", "P", "Q", "R½", "S")
_EU_SIZES = ("EU 46", "EU 48", "EU 50", "EU 52", "EU 53", "EU 54", "EU 56", "EU 58", "EU 60")
_GOLDS = ("14K Yellow Gold", "14K White Gold", "14K Rose Gold", "18K Yellow Gold",
          "18K White Gold", "Platinum")


@dataclass(frozen=True)
class _Product:
    title: str
    metals: tuple[str, ...]
    base_price: int            # whole currency units
    vendor: str
    sku: str = ""
    sized: bool = False        # ring size as the last option
    extra: tuple[str, ...] = ()  # one more option (stone size, length, initial)
    made_to_order: bool = True
    weight: int = 10


_PRODUCTS = (
    _Product("Solitaire Engagement Ring", _GOLDS, 2400, "Atelier Bridal", sized=True,
             weight=14),
    _Product("Halo Engagement Ring", _GOLDS, 3100, "Atelier Bridal", sized=True, weight=9),
    _Product("Three Stone Engagement Ring", _GOLDS, 3800, "Atelier Bridal", sized=True,
             weight=6),
    _Product("Custom Signet Ring", ("Sterling Silver", "14K Yellow Gold", "18K Yellow Gold"),
             650, "Atelier Workshop", sized=True, weight=8),
    _Product("Comfort Fit Wedding Ring", _GOLDS, 890, "Atelier Bridal", sized=True, weight=10),
    _Product("Eternity Ring", ("14K White Gold", "18K White Gold", "Platinum"), 1950,
             "Atelier Bridal", sized=True, weight=5),
    _Product("Stacking Ring", ("14K Yellow Gold", "14K Rose Gold", "Sterling Silver"), 240,
             "Atelier Workshop", sized=True, weight=7),
    _Product("Birthstone Pendant", ("14K Yellow Gold", "Sterling Silver"), 320,
             "Atelier Workshop", extra=("January, Garnet", "April, Diamond", "May, Emerald",
                                        "September, Sapphire", "December, Blue Topaz"),
             weight=6),
    _Product("Initial Pendant", ("14K Yellow Gold", "14K Rose Gold", "Sterling Silver"), 180,
             "Atelier Workshop", extra=tuple("ABCDEJLMNRS"), weight=6),
    _Product("Diamond Stud Earrings", ("14K White Gold", "14K Yellow Gold"), 1100,
             "Atelier Bridal", extra=("0.25 ctw", "0.50 ctw", "1.00 ctw"), weight=5),
    _Product("Huggie Hoop Earrings", ("14K Yellow Gold", "Sterling Silver"), 260,
             "Atelier Workshop", made_to_order=False, weight=5),
    _Product("Tennis Bracelet", ("14K White Gold", "14K Yellow Gold"), 2900, "Atelier Bridal",
             extra=('6.5"', '7"', '7.5"'), weight=3),
    _Product("Cable Chain", ("14K Yellow Gold", "Sterling Silver"), 150, "Chainworks Supply",
             sku="CH-CAB", extra=('16"', '18"', '20"'), made_to_order=False, weight=9),
    _Product("Rope Chain", ("14K Yellow Gold", "Sterling Silver"), 420, "Chainworks Supply",
             sku="CH-ROP", extra=('18"', '20"', '22"'), made_to_order=False, weight=4),
    _Product("Ring Sizing", (), 45, "Atelier Workshop", weight=2),
    _Product("Gift Box", (), 0, "Atelier", sku="GIFT-BOX", made_to_order=False, weight=3),
)
_METAL_FACTOR = {"Sterling Silver": Decimal("0.35"), "14K Yellow Gold": Decimal("1.00"),
                 "14K White Gold": Decimal("1.00"), "14K Rose Gold": Decimal("1.00"),
                 "18K Yellow Gold": Decimal("1.30"), "18K White Gold": Decimal("1.30"),
                 "Platinum": Decimal("1.55")}
_METAL_CODES = {"Sterling Silver": "SS", "14K Yellow Gold": "14Y", "14K White Gold": "14W",
                "14K Rose Gold": "14R", "18K Yellow Gold": "18Y", "18K White Gold": "18W",
                "Platinum": "PT"}
_ENGRAVINGS = ("Forever & always", "J + M 14.02.2025", "Always yours", "Te amo", "Est. 2025",
               "∞", "Mi corazón", "To the moon and back", "L ♥ S", "Semper fidelis",
               "You & me", "Amor vincit omnia", "12.06.2021", "Mum")
_NOTES = (
    "Please call before shipping.",
    "It's a surprise: please don't email the shipping notice to him.",
    "Size might be 7 or 7 1/2, will confirm after the sizing visit.",
    "Need it before our anniversary on the 14th.",
    "Customer bringing her grandmother's diamond (customer-owned stone).",
    "Pick up at the studio, no shipping.",
    "Wants the engraving in script font.",
)
_TAGS = ("custom", "engagement", "bridal", "repeat customer", "rush", "wholesale")
_STATUSES = (  # financial status, weight
    ("paid", 66), ("partially_paid", 10), ("pending", 6), ("authorized", 4), ("refunded", 3),
    ("partially_refunded", 3), ("voided", 3), ("expired", 1),
)
_METHODS = ("Shopify Payments", "Shopify Payments", "Shopify Payments", "manual",
            "Bank Deposit", "Cash")


def _variants(product: _Product, currency: str) -> list[tuple[str, Decimal, str]]:
    """(Lineitem name, price, sku) of every variant of `product`."""
    sizes = {"GBP": _UK_SIZES, "AUD": _UK_SIZES, "EUR": _EU_SIZES}.get(currency, _US_SIZES)
    out = []
    for metal in product.metals or ("",):
        factor = _METAL_FACTOR.get(metal, Decimal("1"))
        price = (Decimal(product.base_price) * factor).quantize(Decimal("1"))
        if product.base_price and price % 10 == 0:
            price -= 1  # 2399.00 style prices
        code = _METAL_CODES.get(metal, "")
        base_sku = f"{product.sku}-{code}" if product.sku else ""
        seconds: tuple[str, ...] = sizes if product.sized else product.extra or ("",)
        for second in seconds:
            options = [o for o in (metal, second) if o]
            title = product.title + (" - " + " / ".join(options) if options else "")
            sku = f"{base_sku}-{second.strip(chr(34))}" if base_sku and second else base_sku
            out.append((title, Decimal(price).quantize(_CENT), sku))
    return out


class _Dice:
    """`random.Random` with the few draws the generator needs, made cheap (one C call each)."""

    def __init__(self, seed: int):
        self._rng = random.Random(seed)
        self.random = self._rng.random

    def int(self, low: int, high: int) -> int:
        """A whole number in low..high inclusive."""
        return low + int(self.random() * (high - low + 1))

    def pick(self, seq):  # noqa: ANN001, ANN201 - any sequence
        return seq[int(self.random() * len(seq))]

    def sample(self, seq, k):  # noqa: ANN001, ANN201
        return self._rng.sample(seq, k)

    def token(self) -> str:
        """A 25-character payment reference like Shopify's ("rZcE2A8z2PsX5lSwvlVnslhPs")."""
        return "r" + base64.b64encode(self._rng.randbytes(18), altchars=b"xQ").decode()


def _weighted(pairs) -> list:  # noqa: ANN001
    """Expand (item, weight) pairs into a list to `pick` from."""
    return [item for item, weight in pairs for _ in range(weight)]


# --- the demo orders ---------------------------------------------------------------------------


def demo_orders(orders: int, *, seed: int = 7, start: date | None = None,
                shop_tz: str = "America/New_York", currency: str = "USD") -> list[ExportOrder]:
    """`orders` fake but plausible jewelry orders #1001.., oldest first, deterministic from
    `seed`, placed over the year from `start` (default 2025-01-06) in shop hours of `shop_tz`.

    About 30% have 2-4 line items; statuses include deposits (partially_paid), refunds,
    voids and a few cancellations; recent orders are mostly not yet fulfilled.
    """
    rng = _Dice(seed)
    tz = ZoneInfo(shop_tz)
    start = start or DEFAULT_START
    currency = currency.upper()
    places = _PLACES.get(currency, _PLACES["USD"])
    dial = _DIAL.get(currency, "+1")
    catalog = _weighted(((p, _variants(p, currency)), p.weight) for p in _PRODUCTS)
    statuses = _weighted(_STATUSES)
    tax_rate = Decimal("0.08875") if currency == "USD" else Decimal("0")

    n_customers = max(3, int(orders * 0.6))
    customers = []
    for i in range(n_customers):
        first = _FIRST[i % len(_FIRST)]
        last = _LAST[(i // len(_FIRST) + i * 7) % len(_LAST)]
        round_no = i // (len(_FIRST) * len(_LAST))
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email = f"{local}{round_no or ''}@{_DOMAINS[i % len(_DOMAINS)]}"
        city, zip_code, province, country = places[i % len(places)]
        if dial == "+1":
            phone = f"+1 {_AREA[i % len(_AREA)]}-555-01{i % 100:02d}"
        else:
            phone = f"{dial} 20 7946 0{i % 1000:03d}"
        street = f"{rng.int(1, 2400)} {_STREETS[i % len(_STREETS)]}"
        address2 = f"Apt {rng.int(1, 40)}{'ABCD'[i % 4]}" if i % 5 == 0 else ""
        customers.append((f"{first} {last}", email, phone,
                          (f"{first} {last}", street, address2, city, zip_code, province,
                           country, phone)))

    # order times: shop-local days over the span, shop hours (never inside a DST gap)
    day_offsets = sorted(rng.int(0, SPAN_DAYS - 1) for _ in range(orders))
    last_day = start + timedelta(days=SPAN_DAYS)
    order_id = 6_400_000_000_000 + rng.int(0, 9_999_999)
    out = []
    for k in range(orders):
        day = start + timedelta(days=day_offsets[k])
        created = datetime.combine(day, time(rng.int(9, 20), rng.int(0, 59),
                                             rng.int(0, 59)), tzinfo=tz)
        order_id += rng.int(9_000, 400_000)
        name, email, phone, address = customers[rng.int(0, n_customers - 1)
                                                if rng.random() < 0.7 else k % n_customers]
        walk_in = rng.random() < 0.08

        n_lines = 1 if rng.random() < 0.7 else rng.pick((2, 2, 2, 3, 3, 4))
        lines: list[ExportLine] = []
        engraving = []
        for _ in range(n_lines):
            product, variants = rng.pick(catalog)
            title, price, sku = rng.pick(variants)
            qty = rng.pick((1, 1, 1, 2)) if not product.made_to_order else 1
            lines.append(ExportLine(title=title, quantity=qty, price=price, sku=sku,
                                    vendor=product.vendor, requires_shipping=not walk_in,
                                    taxable=product.base_price > 0))
            if product.sized and rng.random() < 0.45:
                engraving.append(f"Engraving: {rng.pick(_ENGRAVINGS)}")
        attributes = engraving[:1]
        if rng.random() < 0.15:
            attributes.append("Gift wrap: yes")
        if attributes and rng.random() < 0.2:
            attributes.append(f"Ring size confirmed: {rng.pick(('yes', 'no'))}")

        subtotal = sum((line.price * line.quantity for line in lines), Decimal("0.00"))
        discount_code = ""
        discount = Decimal("0.00")
        if rng.random() < 0.06 and subtotal > 0:
            discount_code = rng.pick(("WELCOME10", "BRIDAL10", "VIP10"))
            discount = (subtotal * Decimal("0.10")).quantize(_CENT)
            subtotal -= discount
        shipping = Decimal("0.00") if walk_in or subtotal >= 500 else Decimal("15.00")
        taxes = (subtotal * tax_rate).quantize(_CENT)
        total = subtotal + shipping + taxes

        status = rng.pick(statuses)
        paid_at = created + timedelta(seconds=rng.int(1, 90))
        refunded = outstanding = Decimal("0.00")
        cancelled_at = None
        if status == "partially_paid":
            outstanding = total - (total * Decimal(rng.pick(("0.3", "0.5")))).quantize(_CENT)
        elif status in ("pending", "authorized", "expired"):
            outstanding = total if status != "expired" else Decimal("0.00")
            paid_at = None
        elif status == "refunded":
            refunded = total
        elif status == "partially_refunded":
            refunded = (total * Decimal("0.2")).quantize(_CENT)
        elif status == "voided":
            paid_at = None
        if status in ("voided", "refunded") or (status == "expired"):
            cancelled_at = created + timedelta(days=rng.int(0, 20), hours=rng.int(0, 8))

        # made to order: recent orders are still on the bench
        age_days = (last_day - day).days
        fulfilled_at = None
        if cancelled_at is not None:
            fulfillment = "restocked" if status == "refunded" else "unfulfilled"
        elif age_days > OPEN_WINDOW_DAYS or rng.random() < 0.15:
            # A piece still unmade months later would be a forgotten job, not a demo of one:
            # only recent orders are partly fulfilled (one piece handed over, one on the bench).
            partial = age_days <= OPEN_WINDOW_DAYS and n_lines > 1 and rng.random() < 0.5
            fulfillment = "partial" if partial else "fulfilled"
            fulfilled_at = created + timedelta(days=rng.int(7, 42) if not partial else
                                               rng.int(1, max(1, age_days)),
                                               hours=rng.int(0, 9))
        else:
            fulfillment = "unfulfilled"
        for i, line in enumerate(lines):
            done = fulfillment == "fulfilled" or (fulfillment == "partial" and i == 0)
            line.fulfillment_status = "fulfilled" if done else "pending"
        if fulfillment == "restocked":
            for line in lines:
                line.fulfillment_status = "restocked"

        reference = rng.token()
        out.append(ExportOrder(
            name=f"#{1001 + k}", id=str(order_id), email="" if walk_in else email,
            created_at=created, lines=lines, financial_status=status, paid_at=paid_at,
            fulfillment_status=fulfillment, fulfilled_at=fulfilled_at,
            accepts_marketing=rng.random() < 0.35, currency=currency, subtotal=subtotal,
            shipping=shipping, taxes=taxes, total=total, discount_code=discount_code,
            discount_amount=discount,
            shipping_method="" if walk_in else rng.pick(("Standard Shipping",
                                                           "Insured Express", "Free Shipping")),
            billing=address, shipping_address=() if walk_in else address,
            notes=rng.pick(_NOTES) if rng.random() < 0.12 else "",
            note_attributes="\n".join(attributes), cancelled_at=cancelled_at,
            payment_method=rng.pick(_METHODS), payment_reference=reference,
            refunded_amount=refunded, outstanding_balance=outstanding,
            employee=rng.pick(("Rosa Vega", "Sam Ito", "")) if walk_in else "",
            location="Studio" if walk_in else "",
            tags=", ".join(rng.sample(_TAGS, rng.int(1, 2))) if rng.random() < 0.2
            else "",
            source="pos" if walk_in else rng.pick(("web", "web", "web",
                                                      "shopify_draft_order")),
            tax_name="NY State Tax 8.875%" if tax_rate else "",
            phone=phone if walk_in or rng.random() < 0.25 else "",
            payment_terms="Due on fulfillment" if status == "partially_paid" else "",
        ))
    return out


@contextmanager
def _bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while building ~100k short-lived records (it
    rescans them all again and again: a third of the run time); nothing here makes cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def write_demo_export(path: str | os.PathLike, *, orders: int, seed: int = 7,
                      start: date | None = None, shop_tz: str = "America/New_York",
                      currency: str = "USD") -> int:
    """Write a demo Shopify "Export orders" CSV (79 columns, newest order first) to `path`.

    `orders`: how many orders (#1001..); about 1.45 rows per order. Returns the data rows
    written. Deterministic from `seed`. Raises ZoneInfoNotFoundError for an unknown `shop_tz`.
    """
    with _bulk():
        data = demo_orders(orders, seed=seed, start=start, shop_tz=shop_tz, currency=currency)
        return write_export(path, reversed(data))


def demo_export_bytes(orders: int, seed: int = 7, **kw: object) -> bytes:
    """The same file as `write_demo_export` (keywords `start`, `shop_tz`, `currency`), in
    memory, as UTF-8 bytes."""
    buffer = io.StringIO(newline="")
    with _bulk():
        write_export(buffer, reversed(demo_orders(orders, seed=seed, **kw)))  # type: ignore[arg-type]
    return buffer.getvalue().encode("utf-8")

