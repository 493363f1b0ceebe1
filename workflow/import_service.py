"""Storing a parsed order export: preview, then import, set-based in one transaction.

Any source that yields a `ParsedExport` (Shopify today, the old spreadsheets next) goes through
here: the same preview, row problems and import batch record. Orders are matched by
(source, match_key): Shopify's `Id`, or the order name where the file has none, so importing the
same file twice changes nothing and says so.

Shopify owns the order's fields (payment, fulfillment, totals, addresses, cancellation); the
workshop owns the jobs. A re-import updates the first and never the second.

Bulk work is set-based (GUIDE.md §3): the parsed frames are registered with DuckDB and moved with
`INSERT ... SELECT`; only orders whose fields changed are diffed row by row for the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from storage import repositories as repo
from storage.unit_of_work import UnitOfWork
from workflow.errors import InvalidInput
from workflow.job_rules import (
    JobRule,
    cart_attributes,
    makes_job,
    metal_and_karat,
    rules_from_json,
)
from workflow.model import SYSTEM_IMPORT, Actor, ImportSummary, ParsedExport, RowProblem
from workflow.ring_size import parse_ring_size

# Order fields Shopify owns: compared on re-import, updated and audited when they differ.
SHOPIFY_ORDER_FIELDS = ("external_id", "name", "financial_status", "fulfillment_status",
                        "currency", "subtotal", "shipping", "taxes", "total", "refunded_amount",
                        "placed_at", "cancelled_at", "notes", "note_attributes", "tags",
                        "shipping_address", "source_name")
_MONEY = ("subtotal", "shipping", "taxes", "total", "refunded_amount", "outstanding_balance")
# Financial statuses that mean the money was taken (before any refund, which is its own column).
_PAID = ("paid", "partially_refunded", "refunded")
# What the customer has paid, as Shopify says it: the total less the Outstanding Balance when
# the file has that column (a "paid" order edited afterwards still owes the added items);
# older exports without it: the whole total for a paid status, part for partially_paid.
_PAID_AMOUNT = f"""CASE WHEN i.outstanding_known
                         THEN greatest(i.total - i.outstanding_balance, 0)
                        WHEN i.financial_status IN {_PAID} THEN i.total
                        WHEN i.financial_status = 'partially_paid'
                         THEN greatest(i.total - i.outstanding_balance, 0)
                        ELSE 0 END"""

Progress = Callable[[float, str], None]


@dataclass
class ImportPreview:
    """What an import would do, computed without writing anything.

    `new_orders`, `changed_orders` (with `changed_fields`: name -> list of field names) and
    `unchanged_orders` are lists of order names; `changes`: name -> [(label, before, after)]
    in words for people; `older_orders`: (name, why) of orders this file has in an earlier
    state than Atelier (left as they are); `jobs_to_cancel` / `jobs_to_flag`: job numbers
    the import cancels (still new) or flags (in work) because Shopify cancelled, voided or
    refunded their order; `problems` the rows that can't be read.
    """

    summary: ImportSummary
    new_orders: list[str] = field(default_factory=list)
    changed_orders: list[str] = field(default_factory=list)
    unchanged_orders: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changes: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    older_orders: list[tuple[str, str]] = field(default_factory=list)
    jobs_to_cancel: list[str] = field(default_factory=list)  # job numbers, still new
    jobs_to_flag: list[str] = field(default_factory=list)    # job numbers, in work

    @property
    def nothing_to_import(self) -> bool:
        """True when every order of the file had a row that can't be read."""
        return bool(self.problems) and not (self.new_orders or self.changed_orders
                                            or self.unchanged_orders or self.older_orders)


# The order fields as the preview names them.
FIELD_LABELS = {
    "external_id": "Shopify Id", "name": "Order", "financial_status": "Payment status",
    "fulfillment_status": "Fulfillment", "currency": "Currency", "subtotal": "Subtotal",
    "shipping": "Shipping", "taxes": "Taxes", "total": "Total",
    "refunded_amount": "Refunded", "placed_at": "Placed", "cancelled_at": "Cancelled",
    "notes": "Notes", "note_attributes": "Cart attributes", "tags": "Tags",
    "shipping_address": "Shipping address", "source_name": "Sales channel",
}


def _shown(value) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, datetime):
        return value.strftime("%d %b %Y %H:%M UTC")
    return str(value).replace("_", " ")


# A known order's field and the file's value that a spreadsheet re-save made of it: dates
# lose their seconds, zips and house numbers their leading zeros. Such a value is taken as the
# same, so the re-saved file neither shows a change nor overwrites what Shopify wrote.
_NO_LEADING_ZEROS = "regexp_replace({}, '(^|[^0-9.,])0+([0-9])', '\\1\\2', 'g')"
_SPREADSHEET_SAME = {
    **{d: "date_trunc('minute', {stored}) = {incoming}" for d in ("placed_at", "cancelled_at")},
    "shipping_address": (_NO_LEADING_ZEROS.format("{stored}") + " = "
                         + _NO_LEADING_ZEROS.format("{incoming}")),
}


def _noop(_fraction: float, _message: str) -> None:
    pass


def _run(con, sql: str, params: dict) -> None:
    """Execute with just the named parameters `sql` uses (DuckDB refuses extra ones)."""
    con.execute(sql, {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)})


def _lines_with_job_flags(lines: pd.DataFrame, orders: pd.DataFrame,
                          rules: list[JobRule]) -> pd.DataFrame:
    """The parsed lines plus two bool columns: `makes_job` (the shop's job rules) and
    `single_job` (the line is its order's only job: cart attributes describe that piece)."""
    lines = lines.copy(deep=False)  # copy-on-write: the parsed columns are shared, not copied
    lines["makes_job"] = makes_job(lines, rules, orders.set_index("match_key")["tags"])
    jobs_per_order = lines.loc[lines["makes_job"], "match_key"].value_counts()
    lines["single_job"] = lines["makes_job"] & lines["match_key"].map(jobs_per_order).eq(1)
    return lines


def _customization_lookups(lines: pd.DataFrame, orders: pd.DataFrame
                           ) -> dict[str, pd.DataFrame]:
    """Small tables the staging SQL joins, so that Python works per distinct value, never per
    row (a 100k-row file has a few hundred variants and ring sizes):

    - `variant_lookup` (options -> metal, karat, finish) from the variant options;
    - `attribute_lookup` (match_key -> engraving, ring_size, metal) from the orders' cart
      attributes (`Note Attributes`), for orders that have any;
    - `ring_size_lookup` (text -> mm) for every ring size text in the file or its attributes;
      a size that can't be read maps to NULL (kept as text on the job for staff to correct).
    """
    options = lines["options"].dropna().unique()
    variants = [(o, *metal_and_karat(str(o))) for o in options]
    variant_lookup = pd.DataFrame(variants, columns=["options", "metal", "karat", "finish"],
                                  dtype=object)

    notes = orders[["match_key", "note_attributes"]].dropna()
    notes = notes[notes["note_attributes"].str.contains(":", regex=False)]
    attributes = []
    for key, text in zip(notes["match_key"], notes["note_attributes"], strict=True):
        known = cart_attributes(text)[0]
        if known:
            attributes.append((key, known.get("engraving"), known.get("ring_size"),
                               known.get("metal")))
    attribute_lookup = pd.DataFrame(attributes, dtype=object,
                                    columns=["match_key", "engraving", "ring_size", "metal"])

    texts = set(lines["ring_size_text"].dropna().unique())
    texts.update(attribute_lookup["ring_size"].dropna())
    sizes = []
    for text in texts:
        try:
            size = parse_ring_size(str(text))
        except InvalidInput:
            size = None
        sizes.append((text, None if size is None else float(size)))
    ring_size_lookup = pd.DataFrame(sizes, columns=["text", "mm"]).astype(
        {"text": object, "mm": "float64"})
    return {"variant_lookup": variant_lookup, "attribute_lookup": attribute_lookup,
            "ring_size_lookup": ring_size_lookup}


def _job_rules(con) -> list[JobRule]:
    # fetchall, not fetchone: DuckDB 2 keeps a half-read result open and then refuses
    # `register` on the same connection ("connection has an unfinished result").
    rows = con.execute("SELECT value FROM settings WHERE key = 'job_rules'").fetchall()
    return rules_from_json(rows[0][0] if rows else None)


def _stage(con, parsed: ParsedExport, source: str) -> None:
    """Load the parsed frames into temp tables `inc` (orders, matched to existing ones) and
    `inc_lines` (lines with what the import lifts from them), deduplicating an order that
    appears twice in one file (first one wins)."""
    orders = parsed.orders
    if orders["match_key"].duplicated().any():  # the Shopify parser refuses these; others may not
        orders = orders.sort_values("first_row").drop_duplicates("match_key")
    lines = _lines_with_job_flags(parsed.lines, orders, _job_rules(con))
    lookups = _customization_lookups(lines, orders)
    con.register("incoming_orders", orders)
    con.register("incoming_lines", lines)
    for name, frame in lookups.items():
        con.register(name, frame)
    # A money column the file lacks arrives as NULL: stored as 0 (the parser noted it once).
    incoming = {m: f"coalesce(CAST(i.{m} AS DECIMAL(12,2)), 0)" for m in _MONEY}
    incoming.update({
        "currency": "coalesce(nullif(i.currency, ''), (SELECT value FROM settings "
                    "WHERE key = 'currency'), 'USD')",
        **{d: f"CAST(i.{d} AS TIMESTAMPTZ)" for d in ("placed_at", "paid_at", "cancelled_at")}})
    # A field the file has no column for keeps a known order's stored value (an export with
    # columns deleted must not blank them, nor a missing Currency turn PKR into USD).
    absent = parsed.absent_fields

    def value(field: str) -> str:
        mine = incoming.get(field, f"i.{field}")
        if field in absent and field in SHOPIFY_ORDER_FIELDS:
            return f"CASE WHEN i.existing_id IS NULL THEN {mine} ELSE e.{field} END AS {field}"
        same = _SPREADSHEET_SAME.get(field)
        if same:  # what a spreadsheet did to the stored value is not a change in Shopify
            same = same.format(stored=f"e.{field}", incoming=mine)
            return (f"CASE WHEN i.existing_id IS NOT NULL AND {same} THEN e.{field} "
                    f"ELSE {mine} END AS {field}")
        return f"{mine} AS {field}"

    fields = ["external_id", "name", "customer_key", "customer_name", "email", "phone",
              "financial_status", "fulfillment_status", "currency", *_MONEY, "placed_at",
              "paid_at", "cancelled_at", "notes", "note_attributes", "tags",
              "shipping_address", "source_name", "payment_method"]
    # Known orders are found by match key (Shopify's Id), else by name when one side has no
    # Id (an export with the Id column deleted, or an order first imported from one): the one
    # order of that name, or of that name and currency (two stores both number from #1001).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE inc AS
        WITH named AS (
            SELECT name, currency, id, external_id,
                   count(*) OVER (PARTITION BY name) AS of_name,
                   count(*) OVER (PARTITION BY name, currency) AS of_name_currency
              FROM orders WHERE source = '{source}'),
        i AS (
            SELECT i.*, coalesce(o.id, n.id, nc.id) AS existing_id
              FROM incoming_orders i
              LEFT JOIN orders o ON o.source = '{source}' AND o.match_key = i.match_key
              LEFT JOIN named n ON n.name = i.name AND n.of_name = 1
                               AND (i.external_id IS NULL OR n.external_id IS NULL)
              LEFT JOIN named nc ON nc.name = i.name AND nc.currency = i.currency
                                AND nc.of_name > 1 AND nc.of_name_currency = 1
                                AND (i.external_id IS NULL OR nc.external_id IS NULL))
        SELECT i.match_key, {", ".join(value(f) for f in fields)},
               coalesce(i.accepts_marketing, false) AS accepts_marketing, i.first_row,
               i.outstanding_balance IS NOT NULL AS outstanding_known, i.existing_id
          FROM i LEFT JOIN orders e ON e.id = i.existing_id""")
    # A file without Ids whose order name belongs to several known orders (and its currency
    # doesn't tell which) can't be matched: refused by name rather than imported twice.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE inc_refused AS
        SELECT i.match_key, i.name, i.first_row,
               'this name belongs to ' || count(*)::VARCHAR || ' orders already imported (from '
               || string_agg(DISTINCT coalesce(o.currency, '?'), ' and ' ORDER BY
                             coalesce(o.currency, '?'))
               || ') and the file has no Id to tell which; export again with the Id column'
               AS reason
          FROM inc i JOIN orders o ON o.source = '{source}' AND o.name = i.name
         WHERE i.existing_id IS NULL AND i.external_id IS NULL
         GROUP BY ALL""")
    con.execute("DELETE FROM inc WHERE match_key IN (SELECT match_key FROM inc_refused)")
    # Cart attributes (a) describe the piece only when the order has one job (single_job);
    # the line's own variant options (v) and ring size text win over them.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE inc_lines AS
        WITH l AS (
            SELECT l.*, a.engraving AS a_engraving, a.metal AS a_metal,
                   coalesce(l.ring_size_text, a.ring_size) AS size_text
              FROM incoming_lines l
              LEFT JOIN attribute_lookup a ON l.single_job AND a.match_key = l.match_key)
        SELECT l.match_key, CAST(l.line_no AS INTEGER) AS line_no, l.title,
               CAST(l.quantity AS INTEGER) AS quantity, CAST(l.price AS DECIMAL(12,2)) AS price,
               l.sku, l.vendor, l.fulfillment_status,
               CAST(l.size_text AS VARCHAR) AS ring_size_text, l.options,
               CAST(s.mm AS DECIMAL(5,2)) AS ring_size_mm, l.makes_job,
               CAST(l.a_engraving AS VARCHAR) AS engraving,
               CAST(coalesce(v.metal, l.a_metal) AS VARCHAR) AS metal,
               CAST(v.karat AS VARCHAR) AS karat, CAST(v.finish AS VARCHAR) AS finish,
               i.existing_id
          FROM l JOIN inc i USING (match_key)
          LEFT JOIN variant_lookup v ON v.options = l.options
          LEFT JOIN ring_size_lookup s ON s.text = l.size_text""")
    for name in ("incoming_orders", "incoming_lines", *lookups):
        con.unregister(name)
    # Shopify never un-cancels an order, lowers a refund or un-voids: a file that has such an
    # order in an earlier state is older than what Atelier knows, and must not undo it.
    final = ", ".join(f"'{s}'" for s in ("refunded", "voided"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE inc_older AS
        SELECT i.existing_id, i.name, i.first_row,
               CASE WHEN o.cancelled_at IS NOT NULL AND i.cancelled_at IS NULL
                        THEN 'Atelier has it cancelled in Shopify since '
                             || strftime(o.cancelled_at, '%d %b %Y')
                    WHEN i.refunded_amount < o.refunded_amount
                        THEN 'Atelier has ' || o.refunded_amount::VARCHAR
                             || ' refunded; this file ' || i.refunded_amount::VARCHAR
                    ELSE 'Atelier has it ' || o.financial_status || '; this file '
                         || coalesce(i.financial_status, 'no status') END AS why
          FROM inc i JOIN orders o ON o.id = i.existing_id
         WHERE (o.cancelled_at IS NOT NULL AND i.cancelled_at IS NULL)
            OR i.refunded_amount < o.refunded_amount
            OR (o.financial_status IN ({final})
                AND i.financial_status IS DISTINCT FROM o.financial_status)""")
    distinct = " OR ".join(f"o.{f} IS DISTINCT FROM i.{f}" for f in SHOPIFY_ORDER_FIELDS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE inc_changed AS
        SELECT i.existing_id, i.name FROM inc i JOIN orders o ON o.id = i.existing_id
         WHERE ({distinct})
           AND i.existing_id NOT IN (SELECT existing_id FROM inc_older)""")


def _diff_changed(con) -> dict[int, tuple[str, dict, dict]]:
    """For each changed order: (name, before, after) of just the fields that differ."""
    cols = ", ".join(f"o.{f} AS old_{f}, i.{f} AS new_{f}" for f in SHOPIFY_ORDER_FIELDS)
    cur = con.execute(f"""SELECT i.existing_id, i.name, {cols} FROM inc i
                          JOIN inc_changed c USING (existing_id)
                          JOIN orders o ON o.id = i.existing_id ORDER BY i.first_row""")
    names = [d[0] for d in cur.description]
    out = {}
    for row in cur.fetchall():
        r = dict(zip(names, row, strict=True))
        before, after = {}, {}
        for f in SHOPIFY_ORDER_FIELDS:
            if r[f"old_{f}"] != r[f"new_{f}"]:
                before[f], after[f] = r[f"old_{f}"], r[f"new_{f}"]
        out[r["existing_id"]] = (r["name"], before, after)
    return out


def _summary(con, parsed: ParsedExport
             ) -> tuple[ImportSummary, ImportPreview, dict[int, tuple[str, dict, dict]]]:
    """What the staged batch would do, and the changed orders' diffs (computed once)."""
    refused = [RowProblem(file_name=parsed.file_name, row_number=int(row), column="Name",
                          value=name, reason=reason, order_name=name)
               for name, row, reason in con.execute(
                   "SELECT name, first_row, reason FROM inc_refused ORDER BY first_row"
               ).fetchall()]
    problems = [*parsed.problems, *refused]
    new_orders = [r[0] for r in con.execute(
        "SELECT name FROM inc WHERE existing_id IS NULL ORDER BY first_row").fetchall()]
    changed = _diff_changed(con)
    notes = [*parsed.notes, *_zone_shift_notes(con)]
    unchanged = [r[0] for r in con.execute("""
        SELECT name FROM inc WHERE existing_id IS NOT NULL
           AND existing_id NOT IN (SELECT existing_id FROM inc_changed)
           AND existing_id NOT IN (SELECT existing_id FROM inc_older)
         ORDER BY first_row""").fetchall()]
    older = [(r[0], r[1]) for r in con.execute(
        "SELECT name, why FROM inc_older ORDER BY first_row").fetchall()]
    jobs_created = con.execute("""
        SELECT count(*) FROM inc_lines l
         WHERE l.makes_job AND (l.existing_id IS NULL OR NOT EXISTS (
               SELECT 1 FROM order_lines x WHERE x.order_id = l.existing_id
                  AND x.line_no = l.line_no))""").fetchone()[0]
    customers_created = con.execute("""
        SELECT count(DISTINCT customer_key) FROM inc
         WHERE existing_id IS NULL AND customer_key IS NOT NULL
           AND customer_key NOT IN (SELECT customer_key FROM customers
                                    WHERE customer_key IS NOT NULL)""").fetchone()[0]
    # Jobs this import cancels (still new) or flags (in work) because Shopify cancelled,
    # voided or refunded their order since the last import.
    to_cancel, to_flag = con.execute(f"""
        SELECT coalesce(list(j.job_number ORDER BY j.id) FILTER (WHERE j.state = 'new'), []),
               coalesce(list(j.job_number ORDER BY j.id)
                        FILTER (WHERE j.state NOT IN ('new', 'completed', 'cancelled')
                                  AND NOT {repo.dead_sql("o")}),
                        [])
          FROM jobs j JOIN inc i ON i.existing_id = j.order_id
          JOIN orders o ON o.id = i.existing_id
         WHERE i.existing_id IN (SELECT existing_id FROM inc_changed)
           AND {repo.dead_sql("i")}""").fetchall()[0]
    summary = ImportSummary(
        batch_id=None, orders_created=len(new_orders), orders_updated=len(changed),
        jobs_cancelled=len(to_cancel), jobs_flagged=len(to_flag),
        orders_unchanged=len(unchanged), orders_older=len(older),
        jobs_created=int(jobs_created),
        customers_created=int(customers_created),
        rows_rejected=len({p.row_number for p in problems}),  # rows, not cells
        changed_fields={name: sorted(after) for name, _b, after in changed.values()})
    preview = ImportPreview(
        summary=summary, new_orders=new_orders,
        changed_orders=[n for n, _b, _a in changed.values()], unchanged_orders=unchanged,
        problems=problems, notes=notes, older_orders=older,
        jobs_to_cancel=list(to_cancel), jobs_to_flag=list(to_flag),
        changes={name: [(FIELD_LABELS.get(f, f), _shown(before[f]), _shown(after[f]))
                        for f in SHOPIFY_ORDER_FIELDS if f in after]
                 for name, before, after in changed.values()})
    return summary, preview, changed


def _zone_shift_notes(con) -> list[str]:
    """A warning when known orders' placed times all moved by whole hours (or half hours):
    the file's dates lost their UTC offset in a spreadsheet and were read in a time zone that
    is not the one Shopify wrote them in (the shop's zone setting is probably wrong)."""
    moved, whole, low, high = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE shift % 30 = 0 AND abs(shift) <= 14 * 60),
               min(shift), max(shift)
          FROM (SELECT date_diff('minute', o.placed_at, i.placed_at) AS shift
                  FROM inc i JOIN orders o ON o.id = i.existing_id
                 WHERE i.existing_id IN (SELECT existing_id FROM inc_changed)
                   AND i.placed_at <> o.placed_at)""").fetchall()[0]
    if moved < 2 or whole < moved:
        return []
    by = (f"{low / 60:+g} h" if low == high else f"{low / 60:+g} to {high / 60:+g} h")
    return [f"{moved} known orders would move their placed time by {by}: this file's dates "
            "have no UTC offset and were read in the shop's time zone. If that zone is wrong, "
            "set it in Shop settings and upload the file again; don't import it as it is."]


def preview_import(uow: UnitOfWork, parsed: ParsedExport, *, source: str = "shopify"
                   ) -> ImportPreview:
    """What importing `parsed` would create, update and leave as it is; writes nothing."""
    with uow:
        _stage(uow.con, parsed, source)
        _summary_, preview, _changed = _summary(uow.con, parsed)
        # leaving without commit() rolls the temp tables back with everything else
    return preview


def import_orders(uow: UnitOfWork, parsed: ParsedExport, actor: Actor, *,
                  source: str = "shopify", lead_time_days: int = 21,
                  progress: Progress = _noop, now: datetime | None = None) -> ImportSummary:
    """Store a parsed export in one transaction and record the import batch.

    New orders get their customers (matched by `customer_key`), lines, payments known from the
    export, and one job per line item; a job starts `new`, or `completed` when the line was
    fulfilled, or `cancelled` when the order was cancelled, voided, expired or refunded before
    it reached us. Changed orders get their Shopify-owned fields updated, each change audited
    with before/after. Unchanged orders are not touched. Returns the batch's summary.
    """
    at = now or datetime.now(UTC)
    with uow:
        con = uow.con
        progress(0.05, "Matching orders with the database")
        _stage(con, parsed, source)
        summary, _preview, changed = _summary(con, parsed)
        batch_id = repo.insert_returning_id(con, """
            INSERT INTO import_batch (source, file_name, actor, created_at, rows_read,
                orders_created, orders_updated, orders_unchanged, jobs_created,
                customers_created, rows_rejected, summary)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [source, parsed.file_name, actor.name, at, parsed.row_count, summary.orders_created,
             summary.orders_updated, summary.orders_unchanged, summary.jobs_created,
             summary.customers_created, summary.rows_rejected, summary.sentence()])
        summary.batch_id = batch_id
        summary.created_at = at
        params = {"actor": actor.name, "at": at, "batch": batch_id, "source": source,
                  "lead": lead_time_days, "file": parsed.file_name}

        progress(0.2, "Adding customers")
        _run(con, """
            INSERT INTO customers (customer_key, name, email, phone, preferred_channel,
                                   marketing_consent, created_at, import_batch_id)
            SELECT customer_key,
                   coalesce(arg_min(customer_name, first_row), arg_min(email, first_row),
                            arg_min(phone, first_row), 'Unnamed customer'),
                   arg_min(email, first_row), arg_min(phone, first_row),
                   CASE WHEN arg_min(email, first_row) IS NULL
                         AND arg_min(phone, first_row) IS NOT NULL THEN 'sms' ELSE 'email' END,
                   bool_or(accepts_marketing), $at, $batch
              FROM inc
             WHERE existing_id IS NULL AND customer_key IS NOT NULL
               AND customer_key NOT IN (SELECT customer_key FROM customers
                                        WHERE customer_key IS NOT NULL)
             GROUP BY customer_key""", params)
        _run(con, """
            INSERT INTO audit_log (actor, action, entity, entity_id, before, after, changed_at,
                                   import_batch_id)
            SELECT $actor, 'customer.import', 'customer', id, NULL,
                   to_json(struct_pack(name := name, email := email, phone := phone)), $at,
                   $batch
              FROM customers WHERE import_batch_id = $batch""",
                    {"actor": actor.name, "at": at, "batch": batch_id})

        progress(0.35, "Adding new orders")
        _run(con, """
            INSERT INTO orders (source, match_key, external_id, name, customer_id,
                financial_status, fulfillment_status, currency, subtotal, shipping, taxes, total,
                refunded_amount, placed_at, cancelled_at, notes, note_attributes, tags,
                shipping_address, source_name, created_at, updated_at, import_batch_id)
            SELECT $source, i.match_key, i.external_id, i.name, c.id, i.financial_status,
                   i.fulfillment_status, i.currency, i.subtotal, i.shipping, i.taxes, i.total,
                   i.refunded_amount, i.placed_at, i.cancelled_at, i.notes, i.note_attributes,
                   i.tags, i.shipping_address, i.source_name, $at, $at, $batch
              FROM inc i LEFT JOIN customers c ON c.customer_key = i.customer_key
             WHERE i.existing_id IS NULL
             ORDER BY i.first_row""", params)
        _run(con, """
            INSERT INTO audit_log (actor, action, entity, entity_id, before, after, changed_at,
                                   import_batch_id)
            SELECT $actor, 'order.import', 'order', id, NULL,
                   to_json(struct_pack(name := name, external_id := external_id,
                       financial_status := financial_status,
                       fulfillment_status := fulfillment_status, currency := currency,
                       total := total::VARCHAR, refunded_amount := refunded_amount::VARCHAR,
                       placed_at := placed_at, cancelled_at := cancelled_at)),
                   $at, $batch
              FROM orders WHERE import_batch_id = $batch""",
                    {"actor": actor.name, "at": at, "batch": batch_id})

        progress(0.5, "Recording payments known from the export")
        _run(con, f"""
            INSERT INTO payments (order_id, amount, currency, method, source, taken_at,
                                  taken_by, note, import_batch_id)
            SELECT o.id, {_PAID_AMOUNT} AS amount, i.currency,
                   coalesce(i.payment_method, 'shopify'), 'shopify',
                   coalesce(i.paid_at, i.placed_at, $at), $actor,
                   CASE WHEN {_PAID_AMOUNT} < i.total THEN 'Partly paid in Shopify ('
                        ELSE 'Paid in Shopify (' END || i.financial_status || ')', $batch
              FROM inc i JOIN orders o ON o.source = $source AND o.match_key = i.match_key
             WHERE i.existing_id IS NULL AND {_PAID_AMOUNT} > 0""", params)

        progress(0.6, "Updating changed orders")
        if changed:
            # an order first known by name takes its Shopify Id as its key once a file has it
            sets = ", ".join(f"{f} = i.{f}" for f in SHOPIFY_ORDER_FIELDS) + (
                ", match_key = coalesce(i.external_id, orders.match_key)")
            _run(con, f"""
                UPDATE orders SET {sets}, updated_at = $at
                  FROM inc i
                 WHERE orders.id = i.existing_id
                   AND i.existing_id IN (SELECT existing_id FROM inc_changed)""", params)
            for order_id, (_name, before, after) in changed.items():
                repo.append_audit(con, actor=actor.name, action="order.update", entity="order",
                                  entity_id=order_id, before=before, after=after, at=at,
                                  import_batch_id=batch_id)
            _settle_shopify_payments(con, params)
            _cancel_new_jobs_of_dead_orders(con, params)

        progress(0.7, "Adding line items and jobs")
        # Each incoming order's id: the known order's, or the one just inserted.
        _run(con, """
            CREATE OR REPLACE TEMP TABLE inc_order AS
            SELECT i.match_key, coalesce(i.existing_id, o.id) AS id
              FROM inc i LEFT JOIN orders o
                ON i.existing_id IS NULL AND o.source = $source AND o.match_key = i.match_key
            """, params)
        # Narrow on purpose (memory): ids, the starting stage and the staged line's rowid;
        # the line's text columns are read from inc_lines by rowid where they are stored.
        # Ids are drawn over the rows in file order (the subquery's ORDER BY).
        _run(con, f"""
            CREATE OR REPLACE TEMP TABLE new_lines AS
            SELECT nextval('order_line_id_seq') AS line_id, s.*
              FROM (SELECT o.id AS order_id, l.rowid AS staged_line, l.makes_job,
                           coalesce(i.placed_at, $at) AS began_at,
                           CASE WHEN {repo.dead_sql("i")} THEN 'cancelled'
                                -- the line's own status; the order's only when the
                                -- file has none for the line (items added after a
                                -- fulfilment are still to be made)
                                WHEN coalesce(nullif(l.fulfillment_status, ''),
                                              i.fulfillment_status) = 'fulfilled'
                                     THEN 'completed'
                                ELSE 'new' END AS initial_state
                      FROM inc_lines l
                      JOIN inc i USING (match_key)
                      JOIN inc_order o USING (match_key)
                     WHERE NOT EXISTS (SELECT 1 FROM order_lines x
                                        WHERE x.order_id = o.id AND x.line_no = l.line_no)
                     ORDER BY i.first_row, l.line_no) s""", params)
        _run(con, """
            INSERT INTO order_lines (id, order_id, line_no, title, sku, vendor, quantity, price,
                                     options)
            SELECT n.line_id, n.order_id, l.line_no, l.title, l.sku, l.vendor, l.quantity,
                   l.price, l.options
              FROM new_lines n JOIN inc_lines l ON l.rowid = n.staged_line""", params)
        _run(con, """
            CREATE OR REPLACE TEMP TABLE new_jobs AS
            SELECT nextval('job_id_seq') AS job_id, line_id
              FROM (SELECT line_id FROM new_lines WHERE makes_job ORDER BY line_id)""", params)
        # The job began when the order was placed: its stage clock and first history row.
        _run(con, """
            INSERT INTO jobs (id, job_number, order_id, order_line_id, piece, metal, karat,
                ring_size_mm, ring_size_text, engraving, details, design_needed, promised_date,
                rush, location, state, stage_entered_at, created_at, updated_at,
                import_batch_id)
            SELECT j.job_id, printf('J-%04d', j.job_id), n.order_id, n.line_id, l.title,
                   l.metal, l.karat, l.ring_size_mm, l.ring_size_text, l.engraving,
                   to_json(struct_pack(quantity := l.quantity, sku := l.sku,
                                       vendor := l.vendor, options := l.options,
                                       finish := l.finish, price := l.price::VARCHAR,
                                       source_line := l.line_no)),
                   true,
                   CASE WHEN n.initial_state = 'new'
                        THEN CAST(n.began_at AS DATE) + $lead END,
                   false, 'front_desk', n.initial_state, n.began_at, $at, $at, $batch
              FROM new_jobs j
              JOIN new_lines n USING (line_id)
              JOIN inc_lines l ON l.rowid = n.staged_line""", params)
        con.execute("DROP TABLE inc_lines")
        _run(con, """
            INSERT INTO job_status_history (job_id, from_state, to_state, trigger, actor,
                                            changed_at, note)
            SELECT j.job_id, NULL, n.initial_state, 'import', $actor, n.began_at,
                   CASE n.initial_state
                        WHEN 'cancelled' THEN 'Cancelled in Shopify before it was imported'
                        WHEN 'completed' THEN 'Already fulfilled in Shopify when imported'
                        ELSE 'Imported from ' || $file END
              FROM new_jobs j JOIN new_lines n USING (line_id)""", params)
        _run(con, """
            INSERT INTO audit_log (actor, action, entity, entity_id, before, after, changed_at,
                                   import_batch_id)
            SELECT $actor, 'job.import', 'job', id, NULL,
                   to_json(struct_pack(job_number := job_number, piece := piece,
                                       order_id := order_id, state := state)),
                   $at, $batch
              FROM jobs WHERE import_batch_id = $batch""", params)
        progress(0.9, "Saving")
        for table in ("new_jobs", "new_lines", "inc_order", "inc_changed", "inc_older",
                      "inc_refused", "inc"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        uow.commit()
    progress(1.0, summary.sentence())
    return summary


def _cancel_new_jobs_of_dead_orders(con, params: dict) -> None:
    """A cancellation or full refund that arrives for an order cancels its jobs still `new`.

    Jobs already in work are left for a person: the board flags them ("cancelled in Shopify:
    decide"). Each cancelled job gets its history and audit rows, actor "Shopify import" (it
    was Shopify's decision; the note names who ran the import).
    """
    params = {**params, "actor": SYSTEM_IMPORT.name,
              "why": f"The order was cancelled or refunded in Shopify (import run by "
                     f"{params['actor']})"}
    _run(con, f"""
        CREATE OR REPLACE TEMP TABLE shopify_cancelled AS
        SELECT j.id AS job_id, j.version
          FROM jobs j JOIN inc i ON i.existing_id = j.order_id
         WHERE i.existing_id IN (SELECT existing_id FROM inc_changed)
           AND j.state = 'new'
           AND {repo.dead_sql("i")}""", params)
    _run(con, """
        UPDATE jobs SET state = 'cancelled', stage_entered_at = $at, updated_at = $at,
               version = jobs.version + 1
          FROM shopify_cancelled c
         WHERE jobs.id = c.job_id AND jobs.version = c.version""", params)
    _run(con, """
        INSERT INTO job_status_history (job_id, from_state, to_state, trigger, actor,
                                        changed_at, note)
        SELECT job_id, 'new', 'cancelled', 'cancel', $actor, $at, $why
          FROM shopify_cancelled""", params)
    _run(con, """
        INSERT INTO audit_log (actor, action, entity, entity_id, before, after, changed_at,
                               import_batch_id)
        SELECT $actor, 'job.cancel', 'job', job_id,
               to_json(struct_pack(state := 'new', version := version)),
               to_json(struct_pack(state := 'cancelled', version := version + 1,
                                   note := $why)),
               $at, $batch
          FROM shopify_cancelled""", params)
    con.execute("DROP TABLE shopify_cancelled")


def _settle_shopify_payments(con, params: dict) -> None:
    """Bring the payments known from Shopify in line with a changed order's status."""
    con.execute(f"""
        INSERT INTO payments (order_id, amount, currency, method, source, taken_at, taken_by,
                              note, import_batch_id)
        SELECT o.id, want - have, o.currency, 'shopify', 'shopify', $at, $actor,
               'Adjusted to Shopify status ' || o.financial_status, $batch
          FROM (SELECT i.existing_id, {_PAID_AMOUNT} AS want
                  FROM inc i WHERE i.existing_id IN (SELECT existing_id FROM inc_changed)) w
          JOIN orders o ON o.id = w.existing_id
          CROSS JOIN LATERAL (SELECT coalesce(sum(p.amount), 0) AS have FROM payments p
                               WHERE p.order_id = o.id AND p.source = 'shopify') h
         WHERE want <> have""", {"at": params["at"], "actor": params["actor"],
                                 "batch": params["batch"]})


def problems_csv(problems: list[RowProblem]) -> str:
    """The rejected rows as CSV text (file, row, column, value, reason), for download."""
    frame = pd.DataFrame([{"file": p.file_name, "row": p.row_number, "order": p.order_name,
                           "column": p.column, "value": p.value, "reason": p.reason}
                          for p in problems],
                         columns=["file", "row", "order", "column", "value", "reason"])
    return frame.to_csv(index=False)

