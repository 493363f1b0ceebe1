"""Write-path SQL for the services: jobs, history, audit, outbox, designs, QC, payments.

Every function takes the unit of work's connection (inside its transaction) and keeps to SQL
that PostgreSQL also accepts (GUIDE.md §1). The audit log has only `append_audit`: nothing here,
or anywhere, updates or deletes it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from workflow.errors import NotFound
from workflow.model import JobFacts


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_json_default, sort_keys=True)


def _json_default(o: Any):
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime | date):
        return o.isoformat()
    return str(o)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> dict | None:
    cur = con.execute(sql, params)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def append_audit(con, *, actor: str, action: str, entity: str, entity_id: int | None,
                 before: dict | None, after: dict | None, at: datetime,
                 import_batch_id: int | None = None) -> None:
    """Append one audit row (who, what, when, before and after as JSON)."""
    con.execute(
        "INSERT INTO audit_log (actor, action, entity, entity_id, before, after, changed_at,"
        " import_batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [actor, action, entity, entity_id, _json(before), _json(after), at, import_batch_id])


def insert_history(con, *, job_id: int, from_state: str | None, to_state: str, trigger: str,
                   actor: str, at: datetime, note: str | None) -> None:
    con.execute(
        "INSERT INTO job_status_history (job_id, from_state, to_state, trigger, actor,"
        " changed_at, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [job_id, from_state, to_state, trigger, actor, at, note])


# Shopify statuses after which nothing more is owed nor made: the order is dead there.
DEAD_IN_SHOPIFY = ("voided", "expired", "refunded")


def dead_sql(row: str) -> str:
    """SQL for "cancelled, voided, expired or fully refunded" on any row alias with the
    order's `cancelled_at` and `financial_status` (a stored order, or an import's staged one)."""
    dead = ", ".join(f"'{s}'" for s in DEAD_IN_SHOPIFY)
    return (f"({row}.cancelled_at IS NOT NULL "
            f"OR coalesce({row}.financial_status, '') IN ({dead}))")


def cancelled_in_shopify_sql(order: str = "o") -> str:
    """SQL for "Shopify cancelled, voided, expired or fully refunded this order" (bool)."""
    return f"({order}.source = 'shopify' AND {dead_sql(order)})"


def balance_due_sql(order: str = "o", paid: str | None = None) -> str:
    """SQL for what the customer still owes on `order`: its total less payments (`paid`, an
    SQL expression, defaults to a subquery on payments); nothing for an order Shopify
    cancelled, voided, expired or refunded (no piece will be handed over for it)."""
    paid = paid or (f"coalesce((SELECT sum(p.amount) FROM payments p "
                    f"WHERE p.order_id = {order}.id), 0)")
    return (f"CASE WHEN {cancelled_in_shopify_sql(order)} THEN 0 "
            f"ELSE {order}.total - {paid} END")


def get_job(con, job_id: int) -> dict:
    """The job row joined with what the guards need; raises `NotFound`."""
    row = _one(con, f"""
        SELECT j.*, o.name AS order_name, o.currency, o.total, o.customer_id,
               {balance_due_sql()} AS balance_due,
               (SELECT max(version_no) FROM design_versions d WHERE d.job_id = j.id)
                   AS latest_design_version,
               (SELECT dd.version_no FROM design_decisions dd
                 WHERE dd.job_id = j.id AND dd.decision = 'approved'
                 ORDER BY dd.decided_at DESC, dd.id DESC LIMIT 1) AS approved_design_version
          FROM jobs j JOIN orders o ON o.id = j.order_id
         WHERE j.id = ?""", [job_id])
    if row is None:
        raise NotFound(f"There is no job with id {job_id}.")
    # Only a check signed since the job last went to QC counts: a rework needs a new one.
    # (The last submit_for_qc, not stage_entered_at, so hold/resume in QC keeps a valid check.)
    qc = _one(con, """
        SELECT all_passed, signed_by_id FROM qc_checks q
         WHERE q.job_id = ?
           AND q.signed_at >= (SELECT max(h.changed_at) FROM job_status_history h
                                WHERE h.job_id = q.job_id AND h.trigger = 'submit_for_qc')
         ORDER BY signed_at DESC, id DESC LIMIT 1""", [job_id])
    row["qc_all_passed"] = bool(qc and qc["all_passed"])
    row["qc_signed_by_id"] = qc["signed_by_id"] if qc else None
    return row


def job_facts(row: dict, *, reason: str = "", override_reason: str = "",
              actor_is_manager: bool = False) -> JobFacts:
    return JobFacts(
        job_number=row["job_number"], state=row["state"], design_needed=row["design_needed"],
        held_from=row["held_from"], latest_design_version=row["latest_design_version"],
        approved_design_version=row["approved_design_version"], assignee_id=row["assignee_id"],
        last_bench_jeweler_id=row["last_bench_jeweler_id"], qc_all_passed=row["qc_all_passed"],
        qc_signed_by_id=row["qc_signed_by_id"], balance_due=row["balance_due"] or Decimal(0),
        currency=row["currency"] or "", reason=reason, override_reason=override_reason,
        actor_is_manager=actor_is_manager)


def update_job_checked(con, job_id: int, expected_version: int, changes: dict[str, Any],
                       at: datetime) -> bool:
    """Apply `changes` to the job if its version is still `expected_version`; bump the version.

    Returns False (and changes nothing) when another writer got there first. A concurrent
    transaction's conflict surfaces here as `duckdb.TransactionException`, at the statement.
    """
    cols = ", ".join(f"{k} = ?" for k in changes)
    sql = (f"UPDATE jobs SET {cols}{', ' if cols else ''}version = version + 1, updated_at = ?"
           " WHERE id = ? AND version = ? RETURNING id")
    rows = con.execute(sql, [*changes.values(), at, job_id, expected_version]).fetchall()
    return len(rows) == 1


def customer_of_order(con, order_id: int) -> dict | None:
    return _one(con, """SELECT c.* FROM customers c JOIN orders o ON o.customer_id = c.id
                        WHERE o.id = ?""", [order_id])


def staff_member(con, staff_id: int) -> dict | None:
    return _one(con, "SELECT * FROM staff WHERE id = ?", [staff_id])


def next_design_version(con, job_id: int) -> int:
    row = con.execute("SELECT coalesce(max(version_no), 0) + 1 FROM design_versions"
                      " WHERE job_id = ?", [job_id]).fetchone()
    return int(row[0])


def design_version(con, job_id: int, version_no: int) -> dict | None:
    return _one(con, "SELECT * FROM design_versions WHERE job_id = ? AND version_no = ?",
                [job_id, version_no])


def insert_returning_id(con, sql: str, params: list) -> int:
    """Run an INSERT ... RETURNING id and give the id back."""
    return int(con.execute(sql, params).fetchone()[0])


def order_row(con, order_id: int) -> dict:
    row = _one(con, f"SELECT o.*, {balance_due_sql()} AS balance_due FROM orders o WHERE o.id = ?",
               [order_id])
    if row is None:
        raise NotFound(f"There is no order with id {order_id}.")
    return row
