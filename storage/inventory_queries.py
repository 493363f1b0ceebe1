"""Read queries for the inventory pages and the job's materials section. Nothing here writes.

The stock list reads the items with their balance rows, never the ledger, so the inventory
page costs the same with 100k or 1M ledger rows; the ledger is read for one item (its history)
or one job at a time. Quantities are Decimals in the item's unit (pieces or grams), money is
DECIMAL(12,2) in the item's currency, instants are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from storage import queries
from workflow.inventory import Category, Ownership

INVENTORY_SETTINGS: dict[str, str] = {
    "metal_loss_norm_pct": "3.0",     # the shop's norm for metal loss, % of metal issued
    "count_tolerance_g": "0.05",      # a metal count within this many grams counts as matched
    "accuracy_counts": "10",          # inventory accuracy over the last N posted counts
    "memo_due_days": "14",            # memo stones due back within this many days are listed
    "show_dwt": "no",                 # also show metal weights in pennyweight
}
INVENTORY_SETTING_HELP: dict[str, str] = {
    "metal_loss_norm_pct": "Metal loss norm (% of metal issued)",
    "count_tolerance_g": "Count tolerance for metal (g)",
    "accuracy_counts": "Accuracy over the last N counts",
    "memo_due_days": "List memo stones due back within (days)",
    "show_dwt": "Show pennyweight beside grams (yes/no)",
}


def inventory_setting(con, key: str) -> str:
    """An inventory setting from `settings`, or its default in `INVENTORY_SETTINGS`."""
    return queries.setting(con, key, INVENTORY_SETTINGS)


def inventory_settings(con) -> dict[str, str]:
    values = dict(INVENTORY_SETTINGS)
    rows = con.execute("SELECT key, value FROM settings WHERE key IN (SELECT unnest(?))",
                       [list(INVENTORY_SETTINGS)]).fetchall()
    values.update(dict(rows))
    return values


def _nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None)


def _record(con, sql: str, params) -> dict | None:
    cur = con.execute(sql, params)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def locations(con, *, stock_only: bool = False) -> pd.DataFrame:
    """Locations: id, code, name, kind (stock locations are the safe and the showcase)."""
    where = "WHERE active" + (" AND kind IN ('safe', 'showcase')" if stock_only else "")
    return con.execute(f"SELECT id, code, name, kind FROM inventory_locations {where}"
                       " ORDER BY CASE kind WHEN 'safe' THEN 0 WHEN 'showcase' THEN 1"
                       " WHEN 'bench' THEN 2 ELSE 3 END, name").df()


@dataclass
class StockFilter:
    """The inventory page's filters. Empty tuples mean "all"; `ownerships` defaults to the
    shop's stock (owned and memo): customer-owned stones are never shop stock."""

    categories: tuple[str, ...] = ()
    ownerships: tuple[str, ...] = (Ownership.OWNED, Ownership.MEMO)
    location_id: int | None = None
    search: str = ""
    low_only: bool = False
    include_empty: bool = False


STOCK_COLUMNS = ["id", "code", "category", "description", "ownership", "unit", "on_hand",
                 "reserved", "available", "issued", "unit_cost", "value", "currency",
                 "reorder_point", "low", "fineness", "carat", "cert", "where"]


def stock_list(con, flt: StockFilter, limit: int = 500) -> pd.DataFrame:
    """Items with on hand / reserved / available / issued and value at cost (on hand x unit
    cost), most recently added first, at most `limit` rows. `where` lists the stock locations
    holding it ("Safe 12.500, Showcase 3.000"). Items with nothing on hand or issued are left
    out unless `include_empty` (or a search) asks for them. Columns: `STOCK_COLUMNS`."""
    where, params = [], {"lim": limit}
    if flt.categories:
        where.append("i.category IN (SELECT unnest($cats))")
        params["cats"] = list(flt.categories)
    if flt.ownerships:
        where.append("i.ownership IN (SELECT unnest($owns))")
        params["owns"] = list(flt.ownerships)
    if flt.location_id is not None:
        where.append("EXISTS (SELECT 1 FROM inventory_balances s WHERE s.item_id = i.id"
                     " AND s.location_id = $loc AND s.job_id = 0 AND s.on_hand <> 0)")
        params["loc"] = flt.location_id
    if flt.search.strip():
        where.append("(i.code ILIKE $q OR i.description ILIKE $q OR i.cert_number ILIKE $q"
                     " OR i.supplier ILIKE $q OR i.memo_dealer ILIKE $q)")
        params["q"] = f"%{flt.search.strip()}%"
    if flt.low_only:
        where.append("i.reorder_point IS NOT NULL AND b.on_hand - b.reserved <= i.reorder_point")
    if not (flt.include_empty or flt.search.strip() or flt.low_only):
        where.append("(b.on_hand <> 0 OR b.issued <> 0)")
    sql = f"""
        SELECT i.id, i.code, i.category, i.description, i.ownership, i.unit,
               b.on_hand, b.reserved, b.on_hand - b.reserved AS available, b.issued,
               i.unit_cost,
               CASE WHEN i.ownership = 'customer' THEN NULL
                    ELSE CAST(b.on_hand * coalesce(i.unit_cost, 0) AS DECIMAL(12,2))
               END AS value,
               i.currency, i.reorder_point,
               coalesce(i.reorder_point IS NOT NULL
                        AND b.on_hand - b.reserved <= i.reorder_point, false) AS low,
               i.fineness, i.carat,
               CASE WHEN i.cert_number IS NOT NULL THEN i.cert_lab || ' ' || i.cert_number
               END AS cert,
               (SELECT string_agg(l.name || ' ' || CAST(s.on_hand AS VARCHAR), ', '
                                  ORDER BY l.name)
                  FROM inventory_balances s JOIN inventory_locations l ON l.id = s.location_id
                 WHERE s.item_id = i.id AND s.job_id = 0 AND s.on_hand <> 0) AS "where"
          FROM inventory_items i JOIN inventory_item_totals b ON b.item_id = i.id
         {('WHERE ' + ' AND '.join(where)) if where else ''}
         ORDER BY i.id DESC LIMIT $lim"""
    return _nulls_as_none(con.execute(sql, params).df())


def stock_totals(con) -> dict:
    """Figures for the page's head: value at cost of owned stock on hand and at the benches
    (work in progress), memo stones held at cost, customer stones held, item count; and the
    currency (None when items are in more than one currency)."""
    row = _record(con, """
        SELECT coalesce(sum(CASE WHEN i.ownership = 'owned'
                                 THEN b.on_hand * coalesce(i.unit_cost, 0) END), 0) AS stock,
               coalesce(sum(CASE WHEN i.ownership = 'owned'
                                 THEN b.issued * coalesce(i.unit_cost, 0) END), 0) AS at_bench,
               coalesce(sum(CASE WHEN i.ownership = 'memo'
                                 THEN (b.on_hand + b.issued) * coalesce(i.unit_cost, 0) END), 0)
                   AS memo,
               count(*) FILTER (WHERE i.ownership = 'customer'
                                AND b.on_hand + b.issued > 0) AS customer_stones,
               count(*) FILTER (WHERE b.on_hand + b.issued > 0) AS items,
               CASE WHEN count(DISTINCT i.currency) <= 1 THEN min(i.currency) END AS currency
          FROM inventory_items i JOIN inventory_item_totals b ON b.item_id = i.id""", [])
    for k in ("stock", "at_bench", "memo"):
        row[k] = Decimal(row[k]).quantize(Decimal("0.01"))
    return row


def memo_due(con, days: int, shop_tz: str) -> pd.DataFrame:
    """Memo stones still held (in stock or at a bench) and due back to their dealer within
    `days` days of today in the shop's zone (overdue ones included), soonest first.
    Columns: code, description, memo_dealer, memo_date, memo_due_date, days_left, on_hand,
    issued, unit_cost, currency."""
    return _nulls_as_none(con.execute("""
        SELECT i.code, i.description, i.memo_dealer, i.memo_date, i.memo_due_date,
               date_diff('day', CAST(timezone($tz, now()) AS DATE), i.memo_due_date)
                   AS days_left,
               b.on_hand, b.issued, i.unit_cost, i.currency
          FROM inventory_items i JOIN inventory_item_totals b ON b.item_id = i.id
         WHERE i.ownership = 'memo' AND b.on_hand + b.issued > 0
           AND i.memo_due_date <= CAST(timezone($tz, now()) AS DATE) + $days
         ORDER BY i.memo_due_date, i.code""", {"tz": shop_tz, "days": int(days)}).df())


def low_stock(con) -> pd.DataFrame:
    """Owned items at or below their reorder point (available counted), metal and findings
    first. Columns: code, category, description, unit, available, reorder_point, supplier."""
    return _nulls_as_none(con.execute("""
        SELECT i.code, i.category, i.description, i.unit, b.on_hand - b.reserved AS available,
               i.reorder_point, i.supplier
          FROM inventory_items i JOIN inventory_item_totals b ON b.item_id = i.id
         WHERE i.ownership = 'owned' AND i.reorder_point IS NOT NULL
           AND b.on_hand - b.reserved <= i.reorder_point
         ORDER BY CASE i.category WHEN 'metal' THEN 0 WHEN 'finding' THEN 1 ELSE 2 END,
                  i.code""").df())


def accuracy(con, last_counts: int | None = None) -> dict:
    """Inventory accuracy: the share of count lines that matched (stones and parcels: exact
    pieces, findings: exact count, metal: within the gram tolerance) over the last N posted
    counts (the `accuracy_counts` setting unless given).

    Returns {"pct": Decimal or None when nothing was counted yet, "matched", "lines",
    "counts"}.
    """
    n = int(last_counts or inventory_setting(con, "accuracy_counts"))
    row = con.execute("""
        SELECT coalesce(sum(matched), 0), coalesce(sum(lines), 0), count(*)
          FROM (SELECT matched, lines FROM inventory_counts WHERE status = 'posted'
                 ORDER BY posted_at DESC, id DESC LIMIT ?)""", [n]).fetchone()
    matched, lines, counts = int(row[0]), int(row[1]), int(row[2])
    pct = (Decimal(matched) * 100 / lines).quantize(Decimal("0.1")) if lines else None
    return {"pct": pct, "matched": matched, "lines": lines, "counts": counts}


def item_by_code(con, code: str) -> dict | None:
    """One item with its balances, its owner (customer-owned) and the job that owns it."""
    return _record(con, """
        SELECT i.*, b.on_hand, b.reserved, b.on_hand - b.reserved AS available, b.issued,
               c.name AS customer, j.job_number AS owner_job_number
          FROM inventory_items i JOIN inventory_item_totals b ON b.item_id = i.id
          LEFT JOIN customers c ON c.id = i.customer_id
          LEFT JOIN jobs j ON j.id = i.owner_job_id
         WHERE upper(i.code) = upper(?)""", [code.strip()])


def item_stock(con, item_id: int) -> pd.DataFrame:
    """Where an item's stock is: location code, name and quantity."""
    return con.execute("""
        SELECT l.code, l.name, s.on_hand FROM inventory_balances s
          JOIN inventory_locations l ON l.id = s.location_id
         WHERE s.item_id = ? AND s.job_id = 0 AND s.on_hand <> 0 ORDER BY l.name""",
                       [item_id]).df()


def item_jobs(con, item_id: int) -> pd.DataFrame:
    """The jobs holding an item now: job number, stage, reserved, issued."""
    return con.execute("""
        SELECT j.job_number, j.state, h.reserved, h.issued FROM inventory_balances h
          JOIN jobs j ON j.id = h.job_id
         WHERE h.item_id = ? AND h.job_id <> 0 AND (h.reserved <> 0 OR h.issued <> 0)
         ORDER BY j.job_number""", [item_id]).df()


def item_ledger(con, item_id: int, limit: int = 200) -> pd.DataFrame:
    """An item's ledger rows, newest first: created_at, kind, on_hand_change, reserved_change,
    issued_change, location, to_location, job_number, reason, actor."""
    return _nulls_as_none(con.execute("""
        SELECT g.id, g.created_at, g.kind, g.on_hand_change, g.reserved_change, g.issued_change,
               l.name AS location, t.name AS to_location, j.job_number, g.reason, g.actor
          FROM (SELECT * FROM inventory_ledger WHERE item_id = ? ORDER BY id DESC LIMIT ?) g
          LEFT JOIN inventory_locations l ON l.id = g.location_id
          LEFT JOIN inventory_locations t ON t.id = g.to_location_id
          LEFT JOIN jobs j ON j.id = g.job_id
         ORDER BY g.id DESC""", [item_id, limit]).df())


def job_materials(con, job_id: int) -> pd.DataFrame:
    """A job's materials: what is planned and what it holds (reserved, at the bench), with
    each item's availability. Columns: item_id, code, category, description, unit, ownership,
    planned, reserved, issued, available, note, fineness, carat."""
    return _nulls_as_none(con.execute("""
        WITH ids AS (SELECT item_id FROM job_materials WHERE job_id = $job
                     UNION SELECT item_id FROM inventory_balances WHERE job_id = $job
                       AND (reserved <> 0 OR issued <> 0))
        SELECT i.id AS item_id, i.code, i.category, i.description, i.unit, i.ownership,
               m.quantity AS planned, coalesce(h.reserved, 0) AS reserved,
               coalesce(h.issued, 0) AS issued, b.on_hand - b.reserved AS available, m.note,
               i.fineness, i.carat
          FROM ids JOIN inventory_items i ON i.id = ids.item_id
          JOIN inventory_item_totals b ON b.item_id = i.id
          LEFT JOIN job_materials m ON m.job_id = $job AND m.item_id = i.id
          LEFT JOIN inventory_balances h ON h.job_id = $job AND h.item_id = i.id
               AND h.location_id = 0
         ORDER BY CASE i.category WHEN 'metal' THEN 0 WHEN 'stone' THEN 1
                                  WHEN 'melee' THEN 2 ELSE 3 END, i.code""",
                                     {"job": job_id}).df())


def job_metal_results(con, job_id: int) -> list[dict]:
    """The metal accounts recorded at the end of production, newest first, as dicts with
    Decimals (grams to 0.001, percentages to 0.01): code, description, issued_g, finished_g,
    returned_g, loss_g, loss_pct, norm_pct, recorded_by, recorded_at."""
    cur = con.execute("""
        SELECT i.code, i.description, r.issued_g, r.finished_g, r.returned_g, r.loss_g,
               r.loss_pct, r.norm_pct, r.recorded_by, r.recorded_at
          FROM job_metal_results r JOIN inventory_items i ON i.id = r.item_id
         WHERE r.job_id = ? ORDER BY r.id DESC""", [job_id])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def job_material_moves(con, job_id: int, limit: int = 100) -> pd.DataFrame:
    """The ledger rows of one job, newest first: created_at, code, kind, changes, actor."""
    return con.execute("""
        SELECT g.created_at, i.code, g.kind, g.on_hand_change, g.reserved_change,
               g.issued_change, i.unit, g.actor, g.reason
          FROM inventory_ledger g JOIN inventory_items i ON i.id = g.item_id
         WHERE g.job_id = ? ORDER BY g.id DESC LIMIT ?""", [job_id, limit]).df()


def open_counts(con) -> pd.DataFrame:
    """Counts not posted yet: id, where, category, started_by, started_at, lines."""
    return con.execute("""
        SELECT c.id, coalesce(l.name, 'All stock locations') AS "where", c.category,
               c.started_by, c.started_at,
               (SELECT count(*) FROM inventory_count_lines x WHERE x.count_id = c.id) AS lines
          FROM inventory_counts c LEFT JOIN inventory_locations l ON l.id = c.location_id
         WHERE c.status = 'open' ORDER BY c.id DESC""").df()


def recent_counts(con, limit: int = 10) -> pd.DataFrame:
    """Posted counts, newest first: id, where, category, posted_by, posted_at, lines, matched."""
    return con.execute("""
        SELECT c.id, coalesce(l.name, 'All stock locations') AS "where", c.category,
               c.posted_by, c.posted_at, c.lines, c.matched, c.reason
          FROM inventory_counts c LEFT JOIN inventory_locations l ON l.id = c.location_id
         WHERE c.status = 'posted' ORDER BY c.posted_at DESC, c.id DESC LIMIT ?""",
                       [limit]).df()


def count_header(con, count_id: int) -> dict | None:
    return _record(con, """
        SELECT c.*, l.name AS location_name, l.code AS location_code
          FROM inventory_counts c LEFT JOIN inventory_locations l ON l.id = c.location_id
         WHERE c.id = ?""", [count_id])


def count_sheet(con, count_id: int) -> pd.DataFrame:
    """Expected against counted for an open or posted count: every item counted so far plus,
    for an open count, every item the records put in its scope that is not counted yet
    (counted None). Columns: code, category, description, unit, expected, counted, variance,
    matched."""
    head = count_header(con, count_id)
    if head is None:
        return pd.DataFrame(columns=["code", "category", "description", "unit", "expected",
                                     "counted", "variance", "matched"])
    params = {"count": count_id}
    missing = ""
    if head["status"] == "open":
        params.update(loc=head["location_id"], cat=head["category"])
        missing = """
        UNION ALL
        SELECT i.code, i.category, i.description, i.unit, sum(s.on_hand), NULL, NULL, NULL
          FROM inventory_balances s JOIN inventory_items i ON i.id = s.item_id
         WHERE s.on_hand <> 0 AND s.job_id = 0
           AND ($loc IS NULL OR s.location_id = $loc)
           AND ($cat IS NULL OR i.category = $cat)
           AND s.item_id NOT IN (SELECT item_id FROM inventory_count_lines
                                 WHERE count_id = $count)
         GROUP BY i.code, i.category, i.description, i.unit"""
    return _nulls_as_none(con.execute(f"""
        SELECT i.code, i.category, i.description, i.unit, l.expected, l.counted,
               l.counted - l.expected AS variance, l.matched
          FROM inventory_count_lines l JOIN inventory_items i ON i.id = l.item_id
         WHERE l.count_id = $count{missing}
         ORDER BY 6 NULLS FIRST, 1""", params).df())


def items_for_labels(con, codes: list[str]) -> list[dict]:
    """What a label shows for each code (in the order given; unknown codes left out):
    code, category, description, carat, cert, unit, on_hand."""
    if not codes:
        return []
    cur = con.execute("""
        SELECT i.code, i.category, i.description, i.carat, i.pieces_received, i.ownership,
               CASE WHEN i.cert_number IS NOT NULL THEN i.cert_lab || ' ' || i.cert_number
               END AS cert, i.unit, b.on_hand
          FROM inventory_items i JOIN inventory_item_totals b ON b.item_id = i.id
         WHERE i.code IN (SELECT unnest(?))""", [list(codes)])
    names = [d[0] for d in cur.description]
    found = {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    return [found[c] for c in codes if c in found]


def labelled_items(con, limit: int = 300) -> pd.DataFrame:
    """Stones and melee parcels that carry a label (in stock or at a bench), newest first."""
    return con.execute(f"""
        SELECT i.code, i.description FROM inventory_items i
          JOIN inventory_item_totals b ON b.item_id = i.id
         WHERE i.category IN ('{Category.STONE}', '{Category.MELEE}')
           AND b.on_hand + b.issued > 0
         ORDER BY i.id DESC LIMIT ?""", [limit]).df()


def ledger_totals(con) -> pd.DataFrame:
    """The ledger summed per item (what the balance tables must equal): item_id, on_hand,
    reserved, issued. Reads the whole ledger: for checks and tests, not for pages."""
    return con.execute("""
        SELECT item_id, sum(on_hand_change) AS on_hand, sum(reserved_change) AS reserved,
               sum(issued_change) AS issued
          FROM inventory_ledger GROUP BY item_id ORDER BY item_id""").df()


def balance_mismatches(con) -> pd.DataFrame:
    """Rows of `inventory_balances` that differ from the ledger's sums (empty when they all
    agree): item_id, location_id, job_id, and ledger_/balance_ on_hand, reserved, issued. A
    ledger row's on-hand change belongs to (item, location, job 0), its reserved and issued
    changes to (item, location 0, job). Reads the whole ledger: for checks and tests."""
    return con.execute("""
        WITH parts AS (
            SELECT item_id, coalesce(location_id, 0) AS location_id, 0 AS job_id,
                   on_hand_change AS on_hand, 0 AS reserved, 0 AS issued
              FROM inventory_ledger WHERE on_hand_change <> 0
            UNION ALL
            SELECT item_id, 0, coalesce(job_id, 0), 0, reserved_change, issued_change
              FROM inventory_ledger WHERE reserved_change <> 0 OR issued_change <> 0),
        sums AS (SELECT item_id, location_id, job_id, sum(on_hand) AS on_hand,
                        sum(reserved) AS reserved, sum(issued) AS issued
                   FROM parts GROUP BY item_id, location_id, job_id)
        SELECT coalesce(s.item_id, b.item_id) AS item_id,
               coalesce(s.location_id, b.location_id) AS location_id,
               coalesce(s.job_id, b.job_id) AS job_id,
               s.on_hand AS ledger_on_hand, b.on_hand AS balance_on_hand,
               s.reserved AS ledger_reserved, b.reserved AS balance_reserved,
               s.issued AS ledger_issued, b.issued AS balance_issued
          FROM sums s FULL OUTER JOIN inventory_balances b
            ON b.item_id = s.item_id AND b.location_id = s.location_id AND b.job_id = s.job_id
         WHERE coalesce(s.on_hand, 0) <> coalesce(b.on_hand, 0)
            OR coalesce(s.reserved, 0) <> coalesce(b.reserved, 0)
            OR coalesce(s.issued, 0) <> coalesce(b.issued, 0)
         ORDER BY 1, 2, 3""").df()
