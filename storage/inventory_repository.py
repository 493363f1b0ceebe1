"""Write-path SQL for the inventory services: items, locations, the ledger and its balances,
planned materials, metal results and cycle counts.

Every function takes the unit of work's connection (inside its transaction) and keeps to SQL
that PostgreSQL also accepts (GUIDE.md §1). The ledger is append-only: `post_moves` is the only
writer, and nothing updates or deletes its rows. In the same statement batch it keeps three
balance tables, which are caches of ledger sums (a test checks them against the ledger):
`inventory_balances` (per item), `inventory_stock` (per item and stock location) and
`inventory_job_holdings` (per job and item). Each posting costs four statements, however
many moves it holds.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import duckdb

from storage.repositories import insert_returning_id
from workflow.inventory import (
    ZERO,
    Category,
    ItemState,
    LocationKind,
    Move,
    StockRefused,
    item_code,
)


def _one(con, sql: str, params: list) -> dict | None:
    cur = con.execute(sql, params)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


# --- locations -------------------------------------------------------------------------------


def location_by_code(con, code: str) -> dict | None:
    return _one(con, "SELECT * FROM inventory_locations WHERE upper(code) = upper(?)",
                [code.strip()])


def location_by_id(con, location_id: int) -> dict | None:
    return _one(con, "SELECT * FROM inventory_locations WHERE id = ?", [location_id])


def insert_location(con, *, code: str, name: str, kind: str, at: datetime,
                    staff_id: int | None = None) -> int:
    return insert_returning_id(con, """
        INSERT INTO inventory_locations (code, name, kind, staff_id, created_at)
        VALUES (?, ?, ?, ?, ?) RETURNING id""", [code, name, kind, staff_id, at])


def next_vendor_code(con) -> str:
    row = con.execute("SELECT count(*) + 1 FROM inventory_locations WHERE kind = 'vendor'"
                      ).fetchone()
    return f"VENDOR-{int(row[0])}"


def bench_of(con, staff_id: int | None, staff_name: str | None, at: datetime) -> int:
    """The location id of a bench jeweler's bench (made on first use), or the shared BENCH."""
    if staff_id is None:
        return int(location_by_code(con, "BENCH")["id"])
    code = f"BENCH-{staff_id}"
    row = location_by_code(con, code)
    if row is not None:
        return int(row["id"])
    return insert_location(con, code=code, name=f"{staff_name or 'Staff ' + str(staff_id)}'s "
                           "bench", kind=LocationKind.BENCH, staff_id=staff_id, at=at)


# --- items -----------------------------------------------------------------------------------

ITEM_COLUMNS = ("category", "description", "unit", "species", "origin", "shape", "carat",
                "pieces_received", "colour", "clarity", "cut", "measurements", "cert_lab",
                "cert_number", "alloy", "fineness", "reorder_point", "unit_cost", "currency",
                "supplier", "ownership", "memo_dealer", "memo_date", "memo_due_date",
                "customer_id", "owner_job_id", "declared_value", "intake_condition", "notes")


def insert_item(con, fields: dict, at: datetime) -> tuple[int, str]:
    """Insert an item (columns of `ITEM_COLUMNS` in `fields`) with its empty balance row;
    returns (id, code)."""
    item_id = int(con.execute("SELECT nextval('inventory_item_id_seq')").fetchone()[0])
    code = item_code(fields["category"], item_id)
    cols = [c for c in ITEM_COLUMNS if c in fields]
    con.execute(
        f"INSERT INTO inventory_items (id, code, {', '.join(cols)}, created_at, updated_at)"
        f" VALUES (?, ?, {', '.join('?' for _ in cols)}, ?, ?)",
        [item_id, code, *[fields[c] for c in cols], at, at])
    con.execute("INSERT INTO inventory_balances (item_id, on_hand, reserved, issued, updated_at)"
                " VALUES (?, 0, 0, 0, ?)", [item_id, at])
    return item_id, code


def update_item(con, item_id: int, changes: dict, at: datetime) -> None:
    cols = ", ".join(f"{k} = ?" for k in changes)
    con.execute(f"UPDATE inventory_items SET {cols}, version = version + 1, updated_at = ?"
                " WHERE id = ?", [*changes.values(), at, item_id])


def item_row(con, item_id: int) -> dict | None:
    return _one(con, "SELECT * FROM inventory_items WHERE id = ?", [item_id])


def item_by_code(con, code: str) -> dict | None:
    return _one(con, "SELECT * FROM inventory_items WHERE code = ?", [code])


def stone_with_certificate(con, lab: str, number: str) -> str | None:
    row = con.execute("SELECT code FROM inventory_items WHERE cert_lab = ? AND cert_number = ?",
                      [lab, number]).fetchone()
    return row[0] if row else None


def _in(ids) -> str:
    return ", ".join("?" for _ in ids)


def load_states(con, item_ids) -> dict[int, ItemState]:
    """The `ItemState` of each item in `item_ids` (two queries: the items with their balances,
    then their stock by location and their holding jobs)."""
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        return {}
    states: dict[int, ItemState] = {}
    rows = con.execute(f"""
        SELECT i.id, i.code, i.category, i.description, i.unit, i.ownership, i.owner_job_id,
               b.on_hand, b.reserved, b.issued,
               (SELECT job_number FROM jobs j WHERE j.id = i.owner_job_id) AS owner_job_number
          FROM inventory_items i JOIN inventory_balances b ON b.item_id = i.id
         WHERE i.id IN ({_in(ids)})""", ids).fetchall()
    for (item_id, code, category, description, unit, ownership, owner_job_id, on_hand,
         reserved, issued, owner_number) in rows:
        states[item_id] = ItemState(
            id=item_id, code=code, category=category, description=description, unit=unit,
            ownership=ownership, owner_job_id=owner_job_id, on_hand=on_hand,
            reserved=reserved, issued=issued,
            job_numbers={owner_job_id: owner_number} if owner_job_id else {})
    parts = con.execute(f"""
        SELECT 'stock' AS what, s.item_id, s.location_id AS ref, s.on_hand AS a, 0 AS b,
               NULL AS job_number
          FROM inventory_stock s WHERE s.item_id IN ({_in(ids)}) AND s.on_hand <> 0
        UNION ALL
        SELECT 'job', h.item_id, h.job_id, h.reserved, h.issued, j.job_number
          FROM inventory_job_holdings h LEFT JOIN jobs j ON j.id = h.job_id
         WHERE h.item_id IN ({_in(ids)}) AND (h.reserved <> 0 OR h.issued <> 0)""",
                        ids + ids).fetchall()
    for what, item_id, ref, a, b, job_number in parts:
        state = states.get(item_id)
        if state is None:
            continue
        if what == "stock":
            state.stock[ref] = Decimal(a)
        else:
            state.holders[ref] = (Decimal(a), Decimal(b))
            state.job_numbers[ref] = job_number or f"#{ref}"
    return states


# --- the ledger ------------------------------------------------------------------------------

_LEDGER_COLS = ("item_id", "kind", "location_id", "to_location_id", "job_id", "on_hand_change",
                "reserved_change", "issued_change", "unit_cost", "reason", "count_id", "actor",
                "created_at")


def post_moves(con, moves: list[Move], actor: str, at: datetime) -> int:
    """Append `moves` to the ledger and keep the balance tables in step, inside the caller's
    transaction; returns the number of rows appended.

    Four statements whatever the number of moves: one multi-row INSERT into the ledger and one
    upsert per balance table with the moves summed per key (a batch never holds a key twice).
    The tables' CHECK constraints are the last guard against a negative balance; tripping one
    raises `StockRefused` (the transaction is then aborted and rolled back by the caller).
    """
    moves = [m for m in moves if m.on_hand or m.reserved or m.issued]
    if not moves:
        return 0
    values, params = [], []
    for m in moves:
        values.append("(" + ", ".join("?" for _ in _LEDGER_COLS) + ")")
        params += [m.item_id, str(m.kind), m.location_id, m.to_location_id, m.job_id,
                   m.on_hand, m.reserved, m.issued, m.unit_cost, m.reason, m.count_id, actor,
                   at]
    items: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    stock: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    jobs: dict[tuple[int, int], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for m in moves:
        t = items[m.item_id]
        t[0] += m.on_hand
        t[1] += m.reserved
        t[2] += m.issued
        if m.on_hand and m.location_id is not None:
            stock[(m.item_id, m.location_id)] += m.on_hand
        if m.job_id is not None and (m.reserved or m.issued):
            j = jobs[(m.job_id, m.item_id)]
            j[0] += m.reserved
            j[1] += m.issued
    try:
        con.execute(f"INSERT INTO inventory_ledger ({', '.join(_LEDGER_COLS)}) VALUES "
                    + ", ".join(values), params)
        con.execute(
            "INSERT INTO inventory_balances (item_id, on_hand, reserved, issued, updated_at)"
            " VALUES " + ", ".join("(?, ?, ?, ?, ?)" for _ in items)
            + " ON CONFLICT (item_id) DO UPDATE SET"
              " on_hand = inventory_balances.on_hand + excluded.on_hand,"
              " reserved = inventory_balances.reserved + excluded.reserved,"
              " issued = inventory_balances.issued + excluded.issued,"
              " updated_at = excluded.updated_at",
            [v for item_id, t in items.items() for v in (item_id, *t, at)])
        if stock:
            con.execute(
                "INSERT INTO inventory_stock (item_id, location_id, on_hand) VALUES "
                + ", ".join("(?, ?, ?)" for _ in stock)
                + " ON CONFLICT (item_id, location_id) DO UPDATE SET"
                  " on_hand = inventory_stock.on_hand + excluded.on_hand",
                [v for (item_id, loc), q in stock.items() for v in (item_id, loc, q)])
        if jobs:
            con.execute(
                "INSERT INTO inventory_job_holdings (job_id, item_id, reserved, issued) VALUES "
                + ", ".join("(?, ?, ?, ?)" for _ in jobs)
                + " ON CONFLICT (job_id, item_id) DO UPDATE SET"
                  " reserved = inventory_job_holdings.reserved + excluded.reserved,"
                  " issued = inventory_job_holdings.issued + excluded.issued",
                [v for (job_id, item_id), (r, i) in jobs.items() for v in (job_id, item_id, r, i)])
    except duckdb.ConstraintException as exc:
        raise StockRefused("That would take the stock records below zero; nothing was saved. "
                           "Reload the page and try again.") from exc
    return len(moves)


# --- jobs' materials -------------------------------------------------------------------------

def job_item_ids(con, job_id: int) -> tuple[list[dict], list[int]]:
    """A job's planned materials (rows with item_id and quantity) and the ids of every item it
    plans or holds, in one query. Both empty for a job without materials."""
    rows = con.execute("""
        SELECT item_id, quantity, true AS planned FROM job_materials WHERE job_id = ?
        UNION ALL
        SELECT item_id, NULL, false FROM inventory_job_holdings
         WHERE job_id = ? AND (reserved <> 0 OR issued <> 0)""", [job_id, job_id]).fetchall()
    plan = [{"item_id": i, "quantity": q} for i, q, planned in rows if planned]
    return plan, sorted({i for i, _, _ in rows})


def plan_line(con, job_id: int, item_id: int) -> dict | None:
    return _one(con, "SELECT * FROM job_materials WHERE job_id = ? AND item_id = ?",
                [job_id, item_id])


def insert_plan_line(con, *, job_id: int, item_id: int, quantity: Decimal, note: str | None,
                     actor: str, at: datetime) -> int:
    return insert_returning_id(con, """
        INSERT INTO job_materials (job_id, item_id, quantity, note, added_by, created_at)
        VALUES (?, ?, ?, ?, ?, ?) RETURNING id""", [job_id, item_id, quantity, note, actor, at])


def update_plan_line(con, line_id: int, quantity: Decimal, note: str | None) -> None:
    con.execute("UPDATE job_materials SET quantity = ?, note = ? WHERE id = ?",
                [quantity, note, line_id])


def delete_plan_line(con, line_id: int) -> None:
    con.execute("DELETE FROM job_materials WHERE id = ?", [line_id])


def job_metal_totals(con, job_id: int, item_id: int) -> dict[str, Decimal]:
    """What the ledger says a job did with one metal, in grams: issued (gross), returned,
    consumed (in the piece), lost."""
    row = con.execute("""
        SELECT coalesce(sum(CASE WHEN kind = 'issue' THEN issued_change END), 0),
               coalesce(sum(CASE WHEN kind = 'return' THEN -issued_change END), 0),
               coalesce(sum(CASE WHEN kind = 'consume' THEN -issued_change END), 0),
               coalesce(sum(CASE WHEN kind = 'loss' THEN -issued_change END), 0)
          FROM inventory_ledger WHERE job_id = ? AND item_id = ?""",
                      [job_id, item_id]).fetchone()
    return dict(zip(("issued", "returned", "consumed", "lost"), row, strict=True))


def insert_metal_result(con, *, job_id: int, item_id: int, issued_g, finished_g, returned_g,
                        loss_g, loss_pct, norm_pct, actor: str, at: datetime) -> int:
    return insert_returning_id(con, """
        INSERT INTO job_metal_results (job_id, item_id, issued_g, finished_g, returned_g,
            loss_g, loss_pct, norm_pct, recorded_by, recorded_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [job_id, item_id, issued_g, finished_g, returned_g, loss_g, loss_pct, norm_pct, actor,
         at])


# --- cycle counts ----------------------------------------------------------------------------

def insert_count(con, *, location_id: int | None, category: str | None, actor: str,
                 at: datetime) -> int:
    return insert_returning_id(con, """
        INSERT INTO inventory_counts (location_id, category, status, started_by, started_at)
        VALUES (?, ?, 'open', ?, ?) RETURNING id""", [location_id, category, actor, at])


def count_row(con, count_id: int) -> dict | None:
    return _one(con, "SELECT * FROM inventory_counts WHERE id = ?", [count_id])


def count_line(con, count_id: int, item_id: int) -> dict | None:
    return _one(con, "SELECT * FROM inventory_count_lines WHERE count_id = ? AND item_id = ?",
                [count_id, item_id])


def insert_count_line(con, *, count_id: int, item_id: int, location_id: int | None,
                      expected: Decimal, counted: Decimal, actor: str, at: datetime) -> int:
    return insert_returning_id(con, """
        INSERT INTO inventory_count_lines (count_id, item_id, location_id, expected, counted,
            counted_by, counted_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [count_id, item_id, location_id, expected, counted, actor, at])


def update_count_line(con, line_id: int, counted: Decimal, actor: str, at: datetime) -> None:
    con.execute("UPDATE inventory_count_lines SET counted = ?, counted_by = ?, counted_at = ?"
                " WHERE id = ?", [counted, actor, at, line_id])


def count_lines(con, count_id: int) -> list[dict]:
    cur = con.execute("""
        SELECT l.*, i.code, i.category, i.unit FROM inventory_count_lines l
          JOIN inventory_items i ON i.id = l.item_id
         WHERE l.count_id = ? ORDER BY l.id""", [count_id])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def set_line_matched(con, line_id: int, matched: bool) -> None:
    con.execute("UPDATE inventory_count_lines SET matched = ? WHERE id = ?", [matched, line_id])


def expected_in_scope(con, location_id: int | None, category: str | None) -> dict[int, Decimal]:
    """What the records say is in a count's scope: item id -> quantity on hand (at the
    location when the count has one, else in all stock locations)."""
    where, params = ["s.on_hand <> 0"], []
    if location_id is not None:
        where.append("s.location_id = ?")
        params.append(location_id)
    if category:
        where.append("i.category = ?")
        params.append(category)
    rows = con.execute(f"""
        SELECT s.item_id, sum(s.on_hand) FROM inventory_stock s
          JOIN inventory_items i ON i.id = s.item_id
         WHERE {' AND '.join(where)} GROUP BY s.item_id""", params).fetchall()
    return {int(i): Decimal(q) for i, q in rows}


def close_count(con, count_id: int, *, actor: str, at: datetime, reason: str | None,
                lines: int, matched: int) -> None:
    con.execute("""UPDATE inventory_counts SET status = 'posted', posted_by = ?, posted_at = ?,
                   reason = ?, lines = ?, matched = ? WHERE id = ?""",
                [actor, at, reason, lines, matched, count_id])


# --- settings --------------------------------------------------------------------------------

def put_setting(con, key: str, value: str) -> str | None:
    """Store a shop setting; returns the value it had (None when it was the default)."""
    row = con.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    con.execute("INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])
    return row[0] if row else None
