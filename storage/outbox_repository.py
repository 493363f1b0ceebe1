"""Write-path SQL of customer notifications: queueing outbox rows, the dispatcher's claims and
results, staff actions on messages, templates, switches and customer preferences.

Every function takes a connection inside the caller's transaction (a `UnitOfWork`), except
where it says otherwise, and keeps to SQL that PostgreSQL also accepts (GUIDE.md §1). Instants
are TIMESTAMPTZ in UTC.

Claiming (see `claim_due`): DuckDB has no `FOR UPDATE SKIP LOCKED`; a claim is one
`UPDATE ... WHERE id IN (...) AND (claimed_until IS NULL OR claimed_until < now) RETURNING id`
in its own transaction, and a write-write conflict with another claimer surfaces as
`duckdb.TransactionException` at that statement (GUIDE.md §3). On PostgreSQL the inner SELECT
would take `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from storage.repositories import _json

MESSAGE_COLUMNS = (
    "id", "dedupe_key", "job_id", "customer_id", "channel", "stage", "status", "payload",
    "created_at", "attempts", "last_error", "sent_at", "recipient_email", "recipient_phone",
    "subject", "body_text", "body_html", "body_sms", "note", "due_since", "next_attempt_at",
    "attempts_at_retry", "claimed_by", "claimed_until", "sent_via", "provider",
    "provider_message_id", "updated_at")
_SELECT = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS)


def _rows(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# --- reads inside a write ---------------------------------------------------------------------

def settings_values(con, keys: Iterable[str]) -> dict[str, str]:
    """The stored values of `keys` in `settings` (missing keys are left out)."""
    keys = list(keys)
    rows = con.execute("SELECT key, value FROM settings WHERE key IN (SELECT unnest(?))",
                       [keys]).fetchall()
    return dict(rows)


def template_row(con, stage: str) -> dict | None:
    """The shop's edited template for `stage`, or None when the default is in use."""
    rows = _rows(con.execute("SELECT * FROM message_templates WHERE stage = ?", [stage]))
    return rows[0] if rows else None


def customer(con, customer_id: int | None) -> dict | None:
    """The customers row (all columns, incl. the opt-out), or None."""
    if customer_id is None:
        return None
    rows = _rows(con.execute("SELECT * FROM customers WHERE id = ?", [customer_id]))
    return rows[0] if rows else None


# What the dispatcher needs to tell whether a message is out of date, each measured from when
# it became due (a retry makes it due again, so staff can still send it): `superseded_by`, the
# stage of the newest message about the job when one for another stage was written since;
# `job_state` and `job_moved_since` (the job entered its current stage since).
_WITH_CONTEXT = f"""
    SELECT {_SELECT}, j.job_number, c.notifications_opt_out AS opted_out, j.state AS job_state,
           j.stage_entered_at >= coalesce(m.due_since, m.created_at) AS job_moved_since,
           (SELECT CASE WHEN bool_or(n.stage <> m.stage) THEN max_by(n.stage, n.id) END
              FROM notification_outbox n
             WHERE n.job_id = m.job_id AND n.id > m.id
               AND n.created_at >= coalesce(m.due_since, m.created_at)) AS superseded_by
      FROM notification_outbox m
      LEFT JOIN jobs j ON j.id = m.job_id
      LEFT JOIN customers c ON c.id = m.customer_id"""


def message(con, outbox_id: int) -> dict | None:
    """One outbox row with its job number, the customer's opt-out (`opted_out`) and what
    shows it out of date (`superseded_by`, `job_state`, `job_moved_since`), or None."""
    rows = _rows(con.execute(f"{_WITH_CONTEXT} WHERE m.id = ?", [outbox_id]))
    return rows[0] if rows else None


def messages(con, ids: Sequence[int]) -> list[dict]:
    """The rows of `ids` (as `message` gives them), in id order."""
    if not ids:
        return []
    return _rows(con.execute(f"{_WITH_CONTEXT} WHERE m.id IN (SELECT unnest(?)) ORDER BY m.id",
                             [list(ids)]))


# --- queueing -------------------------------------------------------------------------------

def insert_message(con, *, dedupe_key: str, job_id: int, customer_id: int | None,
                   channel: str, stage: str, status: str, payload: dict,
                   recipient_email: str | None, recipient_phone: str | None,
                   subject: str | None, body_text: str | None, body_html: str | None,
                   body_sms: str | None, note: str | None, at: datetime) -> int:
    """Insert one outbox row; returns its id. `dedupe_key` is unique (ConstraintException)."""
    row = con.execute("""
        INSERT INTO notification_outbox (dedupe_key, job_id, customer_id, channel, stage,
            status, payload, created_at, recipient_email, recipient_phone, subject, body_text,
            body_html, body_sms, note, due_since, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [dedupe_key, job_id, customer_id, channel, stage, status, _json(payload), at,
         recipient_email, recipient_phone, subject, body_text, body_html, body_sms, note, at,
         at]).fetchone()
    return int(row[0])


def fill_content(con, outbox_id: int, *, recipient_email: str | None,
                 recipient_phone: str | None, subject: str, body_text: str, body_html: str,
                 body_sms: str, note: str | None, at: datetime) -> None:
    """Store the rendered message on a row queued without one (rows from before migration 3)."""
    con.execute("""
        UPDATE notification_outbox SET recipient_email = ?, recipient_phone = ?, subject = ?,
               body_text = ?, body_html = ?, body_sms = ?,
               note = coalesce(?, note), updated_at = ?
         WHERE id = ?""",
        [recipient_email, recipient_phone, subject, body_text, body_html, body_sms, note, at,
         outbox_id])


# --- the dispatcher -------------------------------------------------------------------------

def due_count(con, now: datetime) -> int:
    """How many queued messages are due and unclaimed (a cheap read before claiming)."""
    row = con.execute("""
        SELECT count(*) FROM notification_outbox
         WHERE status = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
           AND (claimed_until IS NULL OR claimed_until < ?)""", [now, now]).fetchone()
    return int(row[0])


def claim_due(con, worker: str, now: datetime, lease_until: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due messages for `worker` until `lease_until`; return their ids.

    Due: queued, `next_attempt_at` passed (or none), and not claimed by anyone whose lease is
    still running. Oldest first. The caller runs this in its own short transaction and treats
    `duckdb.TransactionException` as "another dispatcher claimed them".
    """
    rows = con.execute("""
        UPDATE notification_outbox SET claimed_by = ?, claimed_until = ?
         WHERE id IN (SELECT id FROM notification_outbox
                       WHERE status = 'queued'
                         AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                         AND (claimed_until IS NULL OR claimed_until < ?)
                       ORDER BY coalesce(next_attempt_at, created_at), id
                       LIMIT ?)
           AND (claimed_until IS NULL OR claimed_until < ?)
        RETURNING id""", [worker, lease_until, now, now, limit, now]).fetchall()
    return sorted(int(r[0]) for r in rows)


def expire_out_of_date(con, cutoff: datetime, reason: str, at: datetime) -> int:
    """Cancel, in one statement, queued messages waiting since before `cutoff` (and not
    claimed): they are no longer news. `reason` goes to `last_error`. Returns how many."""
    rows = con.execute("""
        UPDATE notification_outbox SET status = 'cancelled', last_error = ?,
               next_attempt_at = NULL, updated_at = ?
         WHERE status = 'queued' AND coalesce(due_since, created_at) < ?
           AND (claimed_until IS NULL OR claimed_until < ?)
        RETURNING id""", [reason, at, cutoff, at]).fetchall()
    return len(rows)


def release_claims(con, ids: Sequence[int], worker: str, not_before: datetime | None,
                   at: datetime) -> int:
    """Give back claims of `worker` without an attempt (e.g. the provider is throttling us);
    with `not_before`, they are not due again before it. Returns how many were released."""
    if not ids:
        return 0
    rows = con.execute("""
        UPDATE notification_outbox SET claimed_by = NULL, claimed_until = NULL,
               next_attempt_at = CASE WHEN CAST(? AS TIMESTAMPTZ) IS NULL THEN next_attempt_at
                                      WHEN next_attempt_at IS NULL OR next_attempt_at < ?
                                      THEN ? ELSE next_attempt_at END,
               updated_at = ?
         WHERE id IN (SELECT unnest(?)) AND claimed_by = ? AND status = 'queued'
        RETURNING id""", [not_before, not_before, not_before, at, list(ids), worker]).fetchall()
    return len(rows)


def release_other_processes_claims(con, own_prefix: str, at: datetime) -> list[int]:
    """Free claims left by dispatchers of other processes; returns the ids freed.

    DuckDB lets one process write the file at a time, so a claim held by another process is
    left over from one that stopped (crashed or killed) before marking its batch. A message it
    was sending when it stopped may have gone out: it is sent again (at most one repeat).
    """
    rows = con.execute("""
        UPDATE notification_outbox SET claimed_by = NULL, claimed_until = NULL,
               note = coalesce(note || ' ', '')
                      || '(A dispatcher stopped while this was claimed; it is sent again and '
                      || 'may arrive twice.)',
               updated_at = ?
         WHERE claimed_by IS NOT NULL AND claimed_by NOT LIKE ? AND status = 'queued'
        RETURNING id""", [at, own_prefix + "%"]).fetchall()
    return sorted(int(r[0]) for r in rows)


def mark_delivered(con, outbox_id: int, worker: str, *, status: str, sent_via: str,
                   provider: str, provider_message_id: str, note: str | None,
                   at: datetime) -> bool:
    """Record a delivery ("sent" or "delivered_locally"); False when `worker` no longer held
    the claim (its lease ran out and another dispatcher took the row)."""
    rows = con.execute("""
        UPDATE notification_outbox SET status = ?, attempts = attempts + 1, sent_at = ?,
               sent_via = ?, provider = ?, provider_message_id = ?, last_error = NULL,
               note = coalesce(?, note), claimed_by = NULL, claimed_until = NULL,
               next_attempt_at = NULL, updated_at = ?
         WHERE id = ? AND claimed_by = ? RETURNING id""",
        [status, at, sent_via, provider, provider_message_id, note, at, outbox_id,
         worker]).fetchall()
    return len(rows) == 1


def mark_attempt_failed(con, outbox_id: int, worker: str, *, error: str, give_up: bool,
                        next_attempt_at: datetime | None, sent_via: str | None,
                        provider: str | None, at: datetime) -> bool:
    """Count a failed attempt: back to queued until `next_attempt_at`, or failed (`give_up`).
    False when `worker` no longer held the claim."""
    rows = con.execute("""
        UPDATE notification_outbox SET status = ?, attempts = attempts + 1, last_error = ?,
               next_attempt_at = ?, sent_via = coalesce(?, sent_via),
               provider = coalesce(?, provider),
               claimed_by = NULL, claimed_until = NULL, updated_at = ?
         WHERE id = ? AND claimed_by = ? RETURNING id""",
        ["failed" if give_up else "queued", error, None if give_up else next_attempt_at,
         sent_via, provider, at, outbox_id, worker]).fetchall()
    return len(rows) == 1


def mark_not_sent(con, outbox_id: int, worker: str, *, status: str, reason: str,
                  at: datetime) -> bool:
    """Close a claimed message without sending it ("cancelled": out of date, opted out;
    "failed": nowhere to send it), with the reason in `last_error`."""
    rows = con.execute("""
        UPDATE notification_outbox SET status = ?, last_error = ?, claimed_by = NULL,
               claimed_until = NULL, next_attempt_at = NULL, updated_at = ?
         WHERE id = ? AND claimed_by = ? RETURNING id""",
        [status, reason, at, outbox_id, worker]).fetchall()
    return len(rows) == 1


# --- staff actions --------------------------------------------------------------------------

def set_status(con, outbox_id: int, *, status: str, from_statuses: Sequence[str],
               now: datetime, reset_attempts: bool = False, error: str | None = None) -> bool:
    """Move a message that isn't being sent right now from one of `from_statuses` to
    `status` (due again at once when queued). `reset_attempts` gives it a fresh set of
    attempts (staff retry). False when it was not in such a state or is claimed."""
    rows = con.execute("""
        UPDATE notification_outbox SET status = ?,
               attempts_at_retry = CASE WHEN ? THEN attempts ELSE attempts_at_retry END,
               due_since = CASE WHEN ? = 'queued' THEN ? ELSE due_since END,
               next_attempt_at = NULL, last_error = coalesce(?, last_error), updated_at = ?
         WHERE id = ? AND status IN (SELECT unnest(?))
           AND (claimed_until IS NULL OR claimed_until < ?)
        RETURNING id""",
        [status, reset_attempts, status, now, error, now, outbox_id, list(from_statuses),
         now]).fetchall()
    return len(rows) == 1


def update_content(con, outbox_id: int, *, subject: str, body_text: str, body_html: str,
                   body_sms: str, at: datetime) -> bool:
    """Replace a held message's texts (staff edited it); False when it isn't held."""
    rows = con.execute("""
        UPDATE notification_outbox SET subject = ?, body_text = ?, body_html = ?,
               body_sms = ?, updated_at = ?
         WHERE id = ? AND status = 'held' RETURNING id""",
        [subject, body_text, body_html, body_sms, at, outbox_id]).fetchall()
    return len(rows) == 1


# --- templates, switches, customers ---------------------------------------------------------

def upsert_template(con, *, stage: str, subject: str, body_text: str, body_html: str,
                    body_sms: str, actor: str, at: datetime) -> None:
    """Store the shop's template for `stage` (Jinja2 sources), replacing an earlier edit."""
    con.execute("""
        INSERT INTO message_templates (stage, subject, body_text, body_html, body_sms,
            updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (stage) DO UPDATE SET subject = excluded.subject,
            body_text = excluded.body_text, body_html = excluded.body_html,
            body_sms = excluded.body_sms, updated_by = excluded.updated_by,
            updated_at = excluded.updated_at""",
        [stage, subject, body_text, body_html, body_sms, actor, at])


def delete_template(con, stage: str) -> bool:
    """Drop the shop's edit of a stage's template (the default applies again)."""
    rows = con.execute("DELETE FROM message_templates WHERE stage = ? RETURNING id",
                       [stage]).fetchall()
    return len(rows) == 1


def upsert_setting(con, key: str, value: str) -> None:
    """Set one `settings` row (key -> text value)."""
    con.execute("""INSERT INTO settings (key, value) VALUES (?, ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value""", [key, value])


def update_customer_preferences(con, customer_id: int, changes: dict[str, Any]) -> None:
    """Write `changes` (preferred_channel, notifications_opt_out, opted_out_at) to a customer."""
    allowed = {"preferred_channel", "notifications_opt_out", "opted_out_at"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not customer preference columns: {sorted(unknown)}")
    if not changes:
        return
    cols = ", ".join(f"{k} = ?" for k in changes)
    con.execute(f"UPDATE customers SET {cols} WHERE id = ?", [*changes.values(), customer_id])


def payload_of(row: dict) -> dict:
    """The JSON payload of an outbox row as a dict ({} when empty or unreadable)."""
    value = row.get("payload")
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}
