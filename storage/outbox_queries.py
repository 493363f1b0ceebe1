"""Read queries for the notification pages. Nothing here writes.

Times come back as UTC instants (pages show them in the shop's zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from storage import outbox_repository
from workflow.notifications import DEFAULT_TEMPLATES, NOTIFY_DEFAULTS, MessageTemplate, Status


@dataclass
class MessageFilter:
    """The notifications page's filters; empty tuples mean "all"."""

    statuses: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    search: str = ""             # job number, customer name, email or phone
    since: datetime | None = None
    job_id: int | None = None


MESSAGE_LIST_COLUMNS = ["id", "created_at", "job_number", "job_id", "customer", "channel",
                        "sent_via", "stage", "status", "attempts", "provider_message_id",
                        "last_error", "sent_at", "to", "subject", "note", "next_attempt_at"]


def messages(con, flt: MessageFilter, limit: int = 500) -> pd.DataFrame:
    """Outbox rows, newest first, with job number and customer name.

    Columns: `MESSAGE_LIST_COLUMNS`; `to` is the address or number used (or to be used).
    """
    where, params = [], {"lim": limit}
    if flt.statuses:
        where.append("m.status IN (SELECT unnest($statuses))")
        params["statuses"] = list(flt.statuses)
    if flt.channels:
        where.append("coalesce(m.sent_via, m.channel) IN (SELECT unnest($channels))")
        params["channels"] = list(flt.channels)
    if flt.stages:
        where.append("m.stage IN (SELECT unnest($stages))")
        params["stages"] = list(flt.stages)
    if flt.since is not None:
        where.append("m.created_at >= $since")
        params["since"] = flt.since
    if flt.job_id is not None:
        where.append("m.job_id = $job")
        params["job"] = flt.job_id
    if flt.search.strip():
        where.append("(j.job_number ILIKE $q OR c.name ILIKE $q OR m.recipient_email ILIKE $q"
                     " OR m.recipient_phone ILIKE $q OR o.name ILIKE $q)")
        params["q"] = f"%{flt.search.strip()}%"
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    frame = con.execute(f"""
        SELECT m.id, m.created_at, j.job_number, m.job_id, c.name AS customer, m.channel,
               m.sent_via, m.stage, m.status, m.attempts, m.provider_message_id, m.last_error,
               m.sent_at,
               CASE WHEN coalesce(m.sent_via, m.channel) = 'email' THEN m.recipient_email
                    ELSE m.recipient_phone END AS "to",
               m.subject, m.note, m.next_attempt_at
          FROM notification_outbox m
          LEFT JOIN jobs j ON j.id = m.job_id
          LEFT JOIN orders o ON o.id = j.order_id
          LEFT JOIN customers c ON c.id = m.customer_id
          {clause}
         ORDER BY m.id DESC LIMIT $lim""", params).df()
    return frame.astype(object).where(frame.notna(), None)


def message(con, outbox_id: int) -> dict | None:
    """One message with everything stored on it, its job number and customer name."""
    row = outbox_repository.message(con, outbox_id)
    if row is None:
        return None
    c = con.execute("SELECT name FROM customers WHERE id = ?", [row["customer_id"]]).fetchone()
    row["customer"] = c[0] if c else None
    return row


def status_counts(con) -> dict[str, int]:
    """Messages per status (all statuses present, 0 when none)."""
    rows = con.execute("SELECT status, count(*) FROM notification_outbox GROUP BY status"
                       ).fetchall()
    return {s: 0 for s in Status.ALL} | {k: int(v) for k, v in rows}


def notification_settings(con) -> dict[str, str]:
    """The `notify.*` settings with their defaults, plus `shop_name`."""
    values = dict(NOTIFY_DEFAULTS)
    values["shop_name"] = "Atelier workshop"
    rows = con.execute("SELECT key, value FROM settings WHERE key LIKE 'notify.%'"
                       " OR key = 'shop_name'").fetchall()
    values.update(dict(rows))
    return values


def templates(con) -> dict[str, MessageTemplate]:
    """Each notified stage's template in use: the shop's edit, else the default."""
    out = dict(DEFAULT_TEMPLATES)
    for stage, subject, text, html, sms in con.execute(
            "SELECT stage, subject, body_text, body_html, body_sms FROM message_templates"
    ).fetchall():
        if stage in out:
            out[stage] = MessageTemplate(stage, subject, text, html, sms, edited=True)
    return out


def template_edits(con) -> pd.DataFrame:
    """Who last edited which template, and when."""
    return con.execute("""SELECT stage, updated_by, updated_at FROM message_templates
                          ORDER BY stage""").df()


def jobs_for_preview(con, limit: int = 200) -> pd.DataFrame:
    """Recent jobs to preview a template against: id, job_number, piece, customer, state."""
    return con.execute("""
        SELECT j.id, j.job_number, j.piece, c.name AS customer, j.state
          FROM jobs j JOIN orders o ON o.id = j.order_id
          LEFT JOIN customers c ON c.id = o.customer_id
         ORDER BY j.updated_at DESC, j.id DESC LIMIT ?""", [limit]).df()


def find_customers(con, text: str, limit: int = 20) -> pd.DataFrame:
    """Customers whose name, email or phone contains `text`: id, name, email, phone,
    preferred_channel, notifications_opt_out, opted_out_at."""
    q = f"%{(text or '').strip()}%"
    return con.execute("""
        SELECT id, name, email, phone, preferred_channel, notifications_opt_out, opted_out_at
          FROM customers WHERE name ILIKE ? OR email ILIKE ? OR phone ILIKE ?
         ORDER BY name LIMIT ?""", [q, q, q, limit]).df()


def customer_preferences(con, customer_id: int) -> dict | None:
    """A customer's id, name, email, phone, preferred_channel, notifications_opt_out and
    opted_out_at, or None."""
    cur = con.execute("""SELECT id, name, email, phone, preferred_channel,
                                notifications_opt_out, opted_out_at
                           FROM customers WHERE id = ?""", [customer_id])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None
