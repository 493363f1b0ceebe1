"""Write-path SQL for the inventory services: items, locations, the ledger and its balances,
planned materials, metal results and cycle counts.

Every function takes the unit of work's connection (inside its transaction) and keeps to SQL
that PostgreSQL also accepts (GUIDE.md §1). The ledger is append-only: `post_moves` is the only
writer, and nothing updates or deletes its rows. In the same transaction it keeps
`inventory_balances`, a cache of ledger sums (a test checks it against the ledger): one row per
item and stock location (on hand there) and one per item and job (reserved for it, issued to
it). A posting costs two statements however many moves it holds; reading what a stage change
needs about a job's materials costs one (`job_context`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import duckdb

from storage.repositories import insert_returning_id
from workflow.inventory import (
    ZERO,
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
    con.execute("INSERT INTO inventory_balances (item_id, location_id, job_id) VALUES (?, 0, 0)",
                [item_id])
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


def load_states(con, item_ids, *, numbers: bool = True) -> dict[int, ItemState]:
    """The `ItemState` of each item in `item_ids` (unknown ids left out), in one query: the
    items and all their balance rows (its zero row, its stock locations, the open jobs holding
    it; a job's row is dropped when it comes back to zero), so `balance_keys` is exact.

    `numbers` also reads the job numbers that refusals name (a join with jobs); without it the
    query is cheaper and jobs are named "#<id>" (the stage-change hook reads them only when it
    has to refuse)."""
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        return {}
    join_owner = "LEFT JOIN jobs j ON j.id = i.owner_job_id" if numbers else ""
    join_job = "LEFT JOIN jobs j ON j.id = b.job_id" if numbers else ""
    number = "j.job_number" if numbers else "NULL"
    rows = con.execute(f"""
        SELECT 'item', i.id, i.code, i.category, i.description, i.unit, i.ownership,
               i.owner_job_id, {number}, NULL, NULL, NULL, NULL, NULL
          FROM inventory_items i {join_owner}
         WHERE i.id IN ({_in(ids)})
        UNION ALL
        SELECT 'balance', b.item_id, {number}, NULL, NULL, NULL, NULL, NULL, NULL,
               b.location_id, b.job_id, b.on_hand, b.reserved, b.issued
          FROM inventory_balances b {join_job}
         WHERE b.item_id IN ({_in(ids)})""", ids + ids).fetchall()
    states: dict[int, ItemState] = {}
    keys: dict[int, set[tuple[int, int]]] = {}
    for (what, item_id, code, category, description, unit, ownership, owner_job_id,
         owner_number, *_) in rows:
        if what == "item":
            states[item_id] = ItemState(
                id=item_id, code=code, category=category, description=description, unit=unit,
                ownership=ownership, owner_job_id=owner_job_id,
                job_numbers={owner_job_id: owner_number} if owner_number else {})
            keys[item_id] = set()
    for what, item_id, job_number, *_, location_id, job_id, on_hand, reserved, issued in rows:
        if what != "balance" or item_id not in states:
            continue
        state = states[item_id]
        keys[item_id].add((location_id, job_id))
        state.on_hand += on_hand
        state.reserved += reserved
        state.issued += issued
        if job_id and (reserved or issued):
            state.holders[job_id] = (Decimal(reserved), Decimal(issued))
            if job_number:
                state.job_numbers[job_id] = job_number
        elif on_hand and location_id:
            state.stock[location_id] = Decimal(on_hand)
    for item_id, state in states.items():
        state.balance_keys = frozenset(keys[item_id])
    return states


def job_context(con, job_id: int, bench_code: str | None = None, *, numbers: bool = True
                ) -> tuple[list[dict], dict[int, ItemState], int | None]:
    """What a stage change needs about a job's materials: its planned lines ({"item_id",
    "quantity"}, in item-code order), the state of every item it plans or holds, and the id of
    the location `bench_code` (None when it does not exist yet). One query for a job without
    materials (which gives ([], {}, ...)), two for one with."""
    rows = con.execute("""
        SELECT 'plan', item_id, quantity FROM job_materials WHERE job_id = ?
        UNION ALL
        SELECT 'held', item_id, NULL FROM inventory_balances
         WHERE job_id = ? AND (reserved <> 0 OR issued <> 0)
        UNION ALL
        SELECT 'bench', id, NULL FROM inventory_locations WHERE code = ?""",
                       [job_id, job_id, bench_code]).fetchall()
    bench_id = next((i for what, i, _ in rows if what == "bench"), None)
    ids = {i for what, i, _ in rows if what != "bench"}
    if not ids:
        return [], {}, bench_id
    states = load_states(con, ids, numbers=numbers)
    plan = sorted(({"item_id": i, "quantity": q} for what, i, q in rows if what == "plan"),
                  key=lambda line: states[line["item_id"]].code)
    return plan, states, bench_id


# --- the ledger ------------------------------------------------------------------------------

_LEDGER_COLS = ("item_id", "kind", "location_id", "to_location_id", "job_id", "on_hand_change",
                "reserved_change", "issued_change", "unit_cost", "reason", "count_id", "actor",
                "created_at")


def post_moves(con, moves: list[Move], actor: str, at: datetime,
               states: Mapping[int, ItemState] | None = None) -> int:
    """Append `moves` to the ledger and keep `inventory_balances` in step, inside the caller's
    transaction; returns the number of rows appended.

    A move's on-hand change lands on the row of its stock location, its reserved and issued
    changes on the row of its job; the changes are summed per row first. With `states` (as
    `load_states` read them in this transaction, before the moves) the rows they hold are
    UPDATEd and the others INSERTed: the ledger INSERT plus one or two statements. Without,
    one upsert (INSERT ... ON CONFLICT DO UPDATE, slower in DuckDB). A job's row that comes
    back to zero (finished, handed over, cancelled) is deleted, so the table holds the items,
    their stock locations and the open jobs' holdings, not every job ever (a missing row sums
    as zero). The table's CHECK constraint is the last guard against a negative balance;
    tripping it raises `StockRefused` (the transaction is then aborted, and the caller's unit
    of work rolls it back).
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
    rows: dict[tuple[int, int, int], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    for m in moves:
        if m.on_hand:
            rows[(m.item_id, m.location_id or 0, 0)][0] += m.on_hand
        if m.reserved or m.issued:
            row = rows[(m.item_id, 0, m.job_id or 0)]
            row[1] += m.reserved
            row[2] += m.issued
    try:
        con.execute(f"INSERT INTO inventory_ledger ({', '.join(_LEDGER_COLS)}) VALUES "
                    + ", ".join(values), params)
        if states is None:
            done = _upsert_balances(con, rows)
        else:
            done = _write_balances(con, rows, states)
        if done:
            con.execute("DELETE FROM inventory_balances WHERE location_id = 0"
                        " AND reserved = 0 AND issued = 0 AND ("
                        + " OR ".join("(item_id = ? AND job_id = ?)" for _ in done) + ")",
                        [v for pair in done for v in pair])
    except duckdb.ConstraintException as exc:
        raise StockRefused("That would take the stock records below zero; nothing was saved. "
                           "Reload the page and try again.") from exc
    return len(moves)


_SIX = "(?, ?, ?, ?, ?, ?)"


def _upsert_balances(con, rows: dict) -> list[tuple[int, int]]:
    after = con.execute(
        "INSERT INTO inventory_balances (item_id, location_id, job_id, on_hand, reserved,"
        " issued) VALUES " + ", ".join(_SIX for _ in rows)
        + " ON CONFLICT (item_id, location_id, job_id) DO UPDATE SET"
          " on_hand = inventory_balances.on_hand + excluded.on_hand,"
          " reserved = inventory_balances.reserved + excluded.reserved,"
          " issued = inventory_balances.issued + excluded.issued"
          " RETURNING item_id, job_id, reserved, issued",
        [v for key, amounts in rows.items() for v in (*key, *amounts)]).fetchall()
    return [(item_id, job_id) for item_id, job_id, reserved, issued in after
            if job_id != 0 and reserved == 0 and issued == 0]


def _write_balances(con, rows: dict, states: Mapping[int, ItemState]) -> list[tuple[int, int]]:
    known, new, done = {}, {}, []
    for (item_id, location_id, job_id), amounts in rows.items():
        state = states[item_id]
        if (location_id, job_id) in state.balance_keys:
            known[(item_id, location_id, job_id)] = amounts
            if job_id:
                reserved, issued = state.holders.get(job_id, (ZERO, ZERO))
                if reserved + amounts[1] == 0 and issued + amounts[2] == 0:
                    done.append((item_id, job_id))
        else:
            new[(item_id, location_id, job_id)] = amounts
    if known:
        con.execute(
            "UPDATE inventory_balances SET on_hand = inventory_balances.on_hand + v.on_hand,"
            " reserved = inventory_balances.reserved + v.reserved,"
            " issued = inventory_balances.issued + v.issued"
            " FROM (VALUES " + ", ".join(_SIX for _ in known) + ")"
            " AS v(item_id, location_id, job_id, on_hand, reserved, issued)"
            " WHERE inventory_balances.item_id = v.item_id"
            " AND inventory_balances.location_id = v.location_id"
            " AND inventory_balances.job_id = v.job_id",
            [v for key, amounts in known.items() for v in (*key, *amounts)])
    if new:
        con.execute(
            "INSERT INTO inventory_balances (item_id, location_id, job_id, on_hand, reserved,"
            " issued) VALUES " + ", ".join(_SIX for _ in new),
            [v for key, amounts in new.items() for v in (*key, *amounts)])
    return done


# --- jobs' materials -------------------------------------------------------------------------

def plan_line(con, job_id: int, item_id: int) -> dict | None:
    return _one(con, "SELECT * FROM job_materials WHERE job_id = ? AND item_id = ?",
                [job_id, item_id])


def insert_plan_line(con, *, job_id: int, item_id: int, quantity: Decimal, note: str | None,
                     actor: str, at: datetime) -> int:
    return insert_returning_id(con, """
        INSERT INTO job_materials (job_id, item_id, quantity, note, added_by, created_at)
        VALUES (?, ?, ?, ?, ?, ?) RETURNING id""", [job_id, item_id, quantity, note, actor, at])


def ensure_job_row(con, job_id: int, item_id: int) -> None:
    """Make the job's (empty) balance row for an item it plans, so that reserving and issuing
    at production start only UPDATEs balance rows. Dropped again once it is back to zero."""
    con.execute("INSERT INTO inventory_balances (item_id, location_id, job_id) VALUES (?, 0, ?)"
                " ON CONFLICT (item_id, location_id, job_id) DO NOTHING", [item_id, job_id])


def drop_empty_job_row(con, job_id: int, item_id: int) -> None:
    con.execute("DELETE FROM inventory_balances WHERE item_id = ? AND location_id = 0"
                " AND job_id = ? AND reserved = 0 AND issued = 0", [item_id, job_id])


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
    where, params = ["s.on_hand <> 0", "s.job_id = 0"], []
    if location_id is not None:
        where.append("s.location_id = ?")
        params.append(location_id)
    if category:
        where.append("i.category = ?")
        params.append(category)
    rows = con.execute(f"""
        SELECT s.item_id, sum(s.on_hand) FROM inventory_balances s
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
