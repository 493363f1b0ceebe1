"""Domain types shared by the workflow services, the storage adapters and the connectors.

Plain data only: nothing here touches a database, a file or the network. pandas appears only as
the container for parsed import batches, because imports are stored set-based (GUIDE.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import pandas as pd


class Role(StrEnum):
    """Staff roles as the trade names them (GUIDE.md §2)."""

    MANAGER = "manager"
    BENCH_JEWELER = "bench_jeweler"
    SETTER = "setter"
    DESIGNER = "designer"
    CASTER = "caster"
    SALES = "sales"


class OrderSource(StrEnum):
    SHOPIFY = "shopify"
    WALK_IN = "walk_in"
    LEGACY = "legacy"


class Channel(StrEnum):
    """A customer's preferred channel for hearing about their piece."""

    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    PHONE = "phone"


class Location(StrEnum):
    """Where the physical piece (and its job envelope) is."""

    FRONT_DESK = "front_desk"
    DESIGN_DESK = "design_desk"
    BENCH = "bench"
    SAFE = "safe"
    OUTSIDE_VENDOR = "outside_vendor"
    SHOWCASE = "showcase"


@dataclass(frozen=True)
class Actor:
    """The person at the screen (or a named process such as "Shopify import") doing a write."""

    name: str
    role: str = Role.SALES
    staff_id: int | None = None

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER


SYSTEM_IMPORT = Actor("Shopify import", role="system")
DEMO_LOADER = Actor("Demo loader", role="system")


@dataclass
class JobFacts:
    """What the lifecycle's guards look at for one job, read from its row and related rows.

    Guards are pure functions of these facts (GUIDE.md §4: no side effects in conditions).
    `reason` and `override_reason` are what the person typed for this one action.
    """

    job_number: str
    state: str
    design_needed: bool = True
    held_from: str | None = None
    latest_design_version: int | None = None
    approved_design_version: int | None = None
    assignee_id: int | None = None
    last_bench_jeweler_id: int | None = None
    qc_all_passed: bool = False
    qc_signed_by_id: int | None = None
    balance_due: Decimal = Decimal("0.00")
    currency: str = ""
    reason: str = ""
    override_reason: str = ""
    actor_is_manager: bool = False


@dataclass(frozen=True)
class RowProblem:
    """A row of an input file that can't be read, and why.

    `row_number` counts the header as row 1, as a spreadsheet shows it; `column` is the header
    name; `value` is the cell as it was in the file.
    """

    file_name: str
    row_number: int
    column: str
    value: str
    reason: str
    order_name: str = ""

    def __str__(self) -> str:
        return (f"{self.file_name}, row {self.row_number}, column {self.column!r}, "
                f"value {self.value!r}: {self.reason}")


@dataclass
class ParsedExport:
    """An order export read by a connector, ready for `workflow.import_service` to store.

    `orders`: one row per order, columns listed in `ORDER_COLUMNS` (money as normalised text
    such as "1234.50", cast to DECIMAL(12,2) on storing; instants as UTC pandas timestamps).
    `lines`: one row per line item, columns in `LINE_COLUMNS`, joined to orders by `match_key`.
    Orders with any unreadable row are left out of both frames and listed in `problems`.
    `notes`: plain sentences about the file as a whole (missing columns, encoding used).
    `absent_fields`: order fields (of `ORDER_COLUMNS`) the file has no column for; a re-import
    leaves those fields of known orders as they are, instead of blanking them.
    """

    source: str
    file_name: str
    orders: pd.DataFrame
    lines: pd.DataFrame
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_count: int = 0
    # True when slash dates (31/12/2023) could be read either way and the file did not tell:
    # the preview asks the person, who re-reads the file with `day_first` set.
    date_order_guessed: bool = False
    absent_fields: frozenset[str] = frozenset()


ORDER_COLUMNS = [
    "match_key",          # Shopify Id, or "name:" + Name when the file has no Id
    "external_id",        # Shopify Id as exact text, or None
    "name",               # "#1001"
    "customer_key",       # "email:a@b.c" | "phone:+15550100" | "name:jordan lee" | None
    "customer_name",
    "email",
    "phone",
    "accepts_marketing",  # bool
    "financial_status",
    "fulfillment_status",
    "currency",
    "subtotal", "shipping", "taxes", "total", "refunded_amount", "outstanding_balance",
    "placed_at", "paid_at", "cancelled_at",   # pandas Timestamp (UTC) or NaT
    "notes", "note_attributes", "tags", "source_name", "payment_method", "shipping_address",
    "first_row",          # file row number of the order's first row (header = row 1)
]

LINE_COLUMNS = [
    "match_key", "line_no", "title", "quantity", "price", "sku", "vendor",
    "requires_shipping", "fulfillment_status", "ring_size_text", "options", "row_number",
]


@dataclass
class NewJob:
    """One made-to-order piece typed in at the counter (walk-in order)."""

    piece: str
    metal: str = ""
    karat: str = ""
    stones: str = ""
    ring_size: str = ""          # as typed: "7", "7 1/2", "N½", "EU 54"
    engraving: str = ""
    notes: str = ""
    design_needed: bool = True
    promised_date: date | None = None
    rush: bool = False
    price: Decimal = Decimal("0.00")


@dataclass
class ImportSummary:
    """What an import did (or, in a preview, would do)."""

    batch_id: int | None
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    orders_older: int = 0  # known orders this file has in an earlier state: left as they are
    jobs_created: int = 0
    jobs_cancelled: int = 0  # still new, their order cancelled/voided/refunded in Shopify
    jobs_flagged: int = 0    # already in work when that happened: left for a person
    customers_created: int = 0
    rows_rejected: int = 0
    changed_fields: dict[str, list[str]] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def nothing_changed(self) -> bool:
        return not (self.orders_created or self.orders_updated or self.jobs_created
                    or self.customers_created)

    def sentence(self) -> str:
        older = (f"; {self.orders_older} orders left as they are (this file has them in an "
                 "earlier state)" if self.orders_older else "")
        if self.jobs_cancelled or self.jobs_flagged:
            jobs = "job" if self.jobs_cancelled == 1 else "jobs"
            older += (f"; {self.jobs_cancelled} {jobs} cancelled and {self.jobs_flagged} in work "
                      "flagged to decide (their orders were cancelled or refunded in Shopify)")
        if self.nothing_changed:
            return (f"Nothing changed: {self.orders_unchanged} orders were already up to date"
                    + older
                    + (f"; {self.rows_rejected} rows rejected." if self.rows_rejected else "."))
        return (f"{self.orders_created} new orders, {self.jobs_created} new jobs, "
                f"{self.customers_created} new customers, {self.orders_updated} orders updated, "
                f"{self.orders_unchanged} unchanged, {self.rows_rejected} rows rejected"
                + older + ".")
