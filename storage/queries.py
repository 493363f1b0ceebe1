"""Read queries for the pages. Nothing here writes.

Times come back as UTC instants; "days" for people are counted in the shop's zone
(`timezone(shop_tz, ts)::DATE`, GUIDE.md §3). The board reads open jobs only, so its cost follows
open work, not history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import pandas as pd

from storage import repositories
from workflow.lifecycle import CLOSED_STATES, OPEN_STATES, STAGES, TRIGGERS

DEFAULT_SETTINGS = {
    "shop_name": "Atelier workshop",
    "shop_tz": "America/New_York",
    "currency": "USD",
    "lead_time_days": "21",
}


def setting(con, key: str, defaults: dict[str, str] = DEFAULT_SETTINGS) -> str:
    """A setting from the `settings` table, or its default in `defaults` (the shop's
    `DEFAULT_SETTINGS` unless another group, such as inventory's, is given)."""
    rows = con.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else defaults[key]


def all_settings(con) -> dict[str, str]:
    values = dict(DEFAULT_SETTINGS)
    values.update(dict(con.execute("SELECT key, value FROM settings").fetchall()))
    return values


def is_empty(con) -> bool:
    """True when there are no orders and no staff: a new shop (the app offers demo data)."""
    row = con.execute("SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM staff)"
                      ).fetchone()
    return row[0] == 0


def staff(con, *, active_only: bool = True) -> pd.DataFrame:
    """Staff as a frame: id, name, role, active."""
    where = "WHERE active" if active_only else ""
    return con.execute(f"SELECT id, name, role, active FROM staff {where} ORDER BY name").df()


def today(con, shop_tz: str) -> date:
    return con.execute("SELECT CAST(timezone(?, now()) AS DATE)", [shop_tz]).fetchone()[0]


@dataclass
class BoardFilter:
    """The board's filters. `stages` empty means every open stage."""

    stages: tuple[str, ...] = ()
    assignee_id: int | None = None
    overdue: bool = False
    due_this_week: bool = False
    rush: bool = False
    search: str = ""


# How many of the piece the line item asked for (Shopify's Lineitem quantity; 1 otherwise).
QUANTITY_SQL = "coalesce(TRY_CAST(j.details->>'quantity' AS INTEGER), 1)"

BOARD_COLUMNS = ["id", "job_number", "state", "held_from", "piece", "promised_date", "rush",
                 "assignee_id", "assignee", "customer", "email", "order_name", "version",
                 "days_in_stage", "overdue", "cancelled_in_shopify", "quantity"]


def board_jobs(con, flt: BoardFilter, shop_tz: str, closed_limit: int = 200) -> pd.DataFrame:
    """Jobs for the board, most urgent first within each stage.

    Open stages are read whole (they are the day's work); a closed stage asked for in
    `flt.stages` gives its latest `closed_limit` jobs. Urgency: rush, then overdue, then the
    nearest promised date, then the longest in the stage. "Due this week" is the next 7 days.
    """
    open_wanted = [s for s in (flt.stages or OPEN_STATES) if s in OPEN_STATES]
    closed_wanted = [s for s in flt.stages if s in CLOSED_STATES]
    where, params = [], {"tz": shop_tz}
    if flt.assignee_id is not None:
        where.append("j.assignee_id = $assignee")
        params["assignee"] = flt.assignee_id
    if flt.overdue:
        where.append("j.promised_date < CAST(timezone($tz, now()) AS DATE)")
    if flt.due_this_week:
        where.append("j.promised_date BETWEEN CAST(timezone($tz, now()) AS DATE)"
                     " AND CAST(timezone($tz, now()) AS DATE) + 7")
    if flt.rush:
        where.append("j.rush")
    if flt.search.strip():
        where.append("(o.name ILIKE $q ESCAPE '\\' OR c.name ILIKE $q ESCAPE '\\'"
                     " OR c.email ILIKE $q ESCAPE '\\' OR j.job_number ILIKE $q ESCAPE '\\')")
        params["q"] = f"%{_like_text(flt.search.strip())}%"
    extra = "".join(f" AND {w}" for w in where)
    select = f"""
        SELECT j.id, j.job_number, j.state, j.held_from, j.piece, j.promised_date, j.rush,
               j.assignee_id, s.name AS assignee, c.name AS customer, c.email,
               o.name AS order_name, j.version,
               date_diff('day', CAST(timezone($tz, j.stage_entered_at) AS DATE),
                         CAST(timezone($tz, now()) AS DATE)) AS days_in_stage,
               coalesce(j.promised_date < CAST(timezone($tz, now()) AS DATE)
                        AND j.state NOT IN ('completed', 'cancelled'), false) AS overdue,
               {repositories.cancelled_in_shopify_sql()} AS cancelled_in_shopify,
               {QUANTITY_SQL} AS quantity
          FROM jobs j
          JOIN orders o ON o.id = j.order_id
          LEFT JOIN customers c ON c.id = o.customer_id
          LEFT JOIN staff s ON s.id = j.assignee_id"""
    order = """ ORDER BY j.rush DESC, overdue DESC, j.promised_date ASC NULLS LAST,
                         j.stage_entered_at ASC, j.id"""
    frames = []
    if open_wanted:
        p = dict(params, states=open_wanted)
        frames.append(con.execute(
            f"{select} WHERE j.state IN (SELECT unnest($states)){extra}{order}", p).df())
    for state in closed_wanted:
        p = dict(params, state=state, lim=closed_limit)
        frames.append(con.execute(
            f"{select} WHERE j.state = $state{extra} ORDER BY j.stage_entered_at DESC"
            " LIMIT $lim", p).df())
    if not frames:
        return pd.DataFrame(columns=BOARD_COLUMNS)
    frames = [f for f in frames if not f.empty] or frames[:1]
    board = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return _nulls_as_none(board)


def _nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as None (not NaN/NA), so pages can test them with `if value`."""
    return frame.astype(object).where(frame.notna(), None)


def _like_text(text: str) -> str:
    """Text searched for as typed: % and _ are letters here, not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def stage_counts(con) -> dict[str, int]:
    """Open jobs per stage (closed stages are not counted here: they grow forever)."""
    rows = con.execute("SELECT state, count(*) FROM jobs WHERE state IN (SELECT unnest(?))"
                       " GROUP BY state", [list(OPEN_STATES)]).fetchall()
    return {s: 0 for s in OPEN_STATES} | dict(rows)


def _record(con, sql: str, params) -> dict | None:
    cur = con.execute(sql, params)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def job_detail(con, job_id: int) -> dict | None:
    """One job with its order, customer and assignee, and the order's balance due."""
    return _record(con, f"""
        SELECT j.*, o.name AS order_name, o.source AS order_source, o.currency, o.total,
               o.financial_status, o.fulfillment_status, o.placed_at, o.cancelled_at,
               o.notes AS order_notes, o.note_attributes, o.shipping_address,
               o.refunded_amount,
               {repositories.balance_due_sql()} AS balance_due,
               {repositories.cancelled_in_shopify_sql()} AS cancelled_in_shopify,
               {QUANTITY_SQL} AS quantity,
               c.id AS customer_id, c.name AS customer, c.email, c.phone, c.preferred_channel,
               c.marketing_consent,
               a.name AS assignee, b.name AS last_bench_jeweler
          FROM jobs j JOIN orders o ON o.id = j.order_id
          LEFT JOIN customers c ON c.id = o.customer_id
          LEFT JOIN staff a ON a.id = j.assignee_id
          LEFT JOIN staff b ON b.id = j.last_bench_jeweler_id
         WHERE j.id = ?""", [job_id])


def job_id_by_number(con, job_number: str) -> int | None:
    row = con.execute("SELECT id FROM jobs WHERE upper(job_number) = upper(?)",
                      [job_number.strip()]).fetchone()
    return int(row[0]) if row else None


def jobs_of_order(con, order_id: int) -> pd.DataFrame:
    return con.execute("""SELECT id, job_number, piece, state FROM jobs WHERE order_id = ?
                          ORDER BY id""", [order_id]).df()


def design_versions(con, job_id: int) -> pd.DataFrame:
    return con.execute("""
        SELECT d.version_no, d.file_name, d.file_path, d.media_type, d.size_bytes, d.sha256,
               d.note, d.uploaded_by, d.uploaded_at,
               (SELECT dd.decision FROM design_decisions dd WHERE dd.design_version_id = d.id
                 ORDER BY dd.decided_at DESC, dd.id DESC LIMIT 1) AS decision
          FROM design_versions d WHERE d.job_id = ? ORDER BY d.version_no DESC""",
                       [job_id]).df()


def qc_checks(con, job_id: int) -> pd.DataFrame:
    return con.execute("""SELECT signed_at, signed_by, all_passed, checklist, note
                          FROM qc_checks WHERE job_id = ? ORDER BY signed_at DESC, id DESC""",
                       [job_id]).df()


def timeline(con, job_id: int) -> pd.DataFrame:
    """The job's story, newest first: stage moves (history), edits, designs, approvals, QC,
    notes, payments on its order and the customer messages queued (audit and outbox rows).

    Columns: changed_at (UTC), actor, kind, text.
    """
    events = con.execute("""
        SELECT changed_at, actor, 'stage' AS kind,
               to_json(struct_pack(from_state := from_state, to_state := to_state,
                                   trigger := trigger, note := note))::VARCHAR AS text
          FROM job_status_history WHERE job_id = $id
        UNION ALL
        SELECT changed_at, actor, split_part(action, '.', 1) AS kind,
               to_json(struct_pack(action := action, after := after,
                                   before := before))::VARCHAR AS text
          FROM audit_log
         WHERE entity = 'job' AND entity_id = $id
           AND action NOT IN (SELECT 'job.' || trigger FROM job_status_history
                              WHERE job_id = $id)
           AND action NOT IN ('job.create', 'job.import', 'job.note')
        UNION ALL
        SELECT created_at, author, 'note', body FROM job_notes WHERE job_id = $id
        UNION ALL
        SELECT a.changed_at, a.actor, 'payment',
               to_json(struct_pack(action := a.action, after := a.after,
                                   before := NULL))::VARCHAR
          FROM audit_log a JOIN jobs j ON j.order_id = a.entity_id
         WHERE j.id = $id AND a.entity = 'order' AND a.action LIKE 'payment.%'
        UNION ALL
        SELECT created_at, 'Atelier', 'message',
               to_json(struct_pack(event := 'queued', id := id, status := status,
                                   channel := channel, stage := stage,
                                   note := note))::VARCHAR
          FROM notification_outbox WHERE job_id = $id
        UNION ALL
        SELECT coalesce(sent_at, updated_at), 'Atelier', 'message',
               to_json(struct_pack(event := 'outcome', id := id, status := status,
                                   channel := coalesce(sent_via, channel), stage := stage,
                                   recipient := CASE WHEN coalesce(sent_via, channel) = 'email'
                                                     THEN recipient_email
                                                     ELSE recipient_phone END,
                                   provider := provider, provider_id := provider_message_id,
                                   error := last_error))::VARCHAR
          FROM notification_outbox
         WHERE job_id = $id AND status IN ('sent', 'delivered_locally', 'failed', 'cancelled')
        ORDER BY 1 DESC""", {"id": job_id}).df()
    if not events.empty:
        events["text"] = [_event_text(k, t) for k, t in zip(events["kind"], events["text"],
                                                             strict=True)]
    return events


_FIELD_NAMES = {"assignee_id": "assignee", "ring_size_mm": "ring size (mm)",
                "ring_size_text": "ring size", "promised_date": "promised date",
                "design_needed": "needs a design"}


def _word(value) -> str:
    """A changed value as a person reads it: yes/no, "front desk", — for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("_", " ") if isinstance(value, str) and "_" in value \
        and " " not in value else str(value)


def _event_text(kind: str, text: str) -> str:
    """A timeline row in words: stage labels instead of state names, fields instead of JSON."""
    if kind == "message" and text.startswith("{"):
        return _message_text(json.loads(text))
    if kind not in ("stage", "job", "design", "qc", "payment") or not text.startswith("{"):
        return text
    data = json.loads(text)
    if kind == "stage":
        source = STAGES.get(data["from_state"] or "", "")
        move = f"{source} → {STAGES.get(data['to_state'], data['to_state'])}" if source else \
            f"Created in {STAGES.get(data['to_state'], data['to_state'])}"
        how = {"import": "imported", "create": "created"}.get(data["trigger"],
                                                              TRIGGERS.get(data["trigger"], ""))
        return f"{move} ({how})" + (f": {data['note']}" if data.get("note") else "")
    action = data.get("action", "")
    after = json.loads(data["after"]) if isinstance(data.get("after"), str) else \
        (data.get("after") or {})
    before = json.loads(data["before"]) if isinstance(data.get("before"), str) else \
        (data.get("before") or {})
    if action == "job.update":
        shown = {k: v for k, v in after.items()
                 if not (k == "assignee_id" and "assignee" in after) and k != "ring_size_mm"}
        parts = [f"{_FIELD_NAMES.get(k, k.replace('_', ' '))}: {_word(before.get(k))} → "
                 f"{_word(v)}" for k, v in shown.items()]
        return "Changed " + "; ".join(parts)
    if action == "design.attach":
        return f"Design version {after.get('version')} attached ({after.get('file')})"
    if action in ("design.approved", "design.changes_requested"):
        said = "approved" if action.endswith("approved") else "asked for changes to"
        words = f": “{after['customer_words']}”" if after.get("customer_words") else ""
        return (f"Customer {said} design version {after.get('version')} "
                f"({after.get('channel')}){words}")
    if action == "qc.sign":
        failed = after.get("failed") or []
        return "QC checklist signed: " + ("every point passed" if after.get("all_passed")
                                          else "failed on " + ", ".join(failed))
    if action.startswith("payment."):
        return (f"Payment of {after.get('currency', '')} {after.get('amount')} "
                f"({after.get('method', '')})").replace("  ", " ")
    return f"{action}: {json.dumps(after, ensure_ascii=False)}"


_CHANNELS = {"email": "email", "sms": "SMS", "whatsapp": "WhatsApp", "phone": "phone"}


def _message_text(data: dict) -> str:
    """A customer-message row of the timeline in words (outbox rows and `message.*` audit
    rows: see workflow/notification_services.py)."""
    if "action" in data:                                  # a staff action, from the audit log
        after = json.loads(data["after"]) if isinstance(data.get("after"), str) else \
            (data.get("after") or {})
        number = f"#{after.get('outbox_id')}"
        return {"message.retry": f"Message {number} queued again",
                "message.cancel": f"Message {number} cancelled"
                + (f": {after['reason']}" if after.get("reason") else ""),
                "message.edit": f"Held message {number} edited",
                "message.send_held": f"Held message {number} released to be sent",
                }.get(data["action"], f"{data['action']} {number}")
    stage = STAGES.get(data.get("stage") or "", data.get("stage") or "")
    by = _CHANNELS.get(data.get("channel") or "", data.get("channel") or "")
    status = data.get("status")
    if data.get("event") == "queued":
        if status == "skipped":
            return f"Message to the customer not sent ({stage})" + (
                f": {data['note'].removeprefix('Not sent: ')}" if data.get("note") else "")
        return f"Message to the customer {'held for review' if status == 'held' else 'queued'}" \
               f" ({stage}, by {by})"
    to = f" to {data['recipient']}" if data.get("recipient") else ""
    if status == "sent":
        return f"Message sent by {by}{to} ({stage}); {data.get('provider')} id " \
               f"{data.get('provider_id') or '—'}"
    if status == "delivered_locally":
        return f"Message written as a local file{to} ({stage}): {data.get('provider_id')}"
    if status == "failed":
        return f"Message by {by}{to} failed ({stage}): {data.get('error') or ''}"
    return f"Message not sent ({stage}): {data.get('error') or ''}"


def import_batches(con, limit: int = 20) -> pd.DataFrame:
    """The latest import batches, newest first."""
    return con.execute("""SELECT id, created_at, source, file_name, actor, rows_read,
                                 orders_created, orders_updated, orders_unchanged,
                                 jobs_created, customers_created, rows_rejected, summary
                          FROM import_batch ORDER BY id DESC LIMIT ?""", [limit]).df()


def counts(con) -> dict[str, int]:
    """Totals for headers and tests: orders, jobs, customers, staff."""
    row = con.execute("""SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM jobs),
                                (SELECT count(*) FROM customers), (SELECT count(*) FROM staff)
                      """).fetchone()
    return dict(zip(["orders", "jobs", "customers", "staff"], row, strict=True))


def job_facts(con, job_id: int, *, actor_is_manager: bool = False):
    """The facts the lifecycle's guards read for one job (for showing allowed actions)."""
    return repositories.job_facts(repositories.get_job(con, job_id),
                                  actor_is_manager=actor_is_manager)


def order_stage_sql(states: str) -> str:
    """SQL for an order's stage from the list of its jobs' states (`states`, a LIST column).

    All cancelled -> cancelled; nothing open and something completed -> completed; otherwise the
    earliest stage among its open jobs (an order is as far along as its slowest piece), with
    on_hold only when every open job is on hold.
    """
    ladder = ["new", "design_consultation", "awaiting_approval", "in_production",
              "quality_check", "ready"]
    cases = " ".join(f"WHEN list_contains({states}, '{s}') THEN '{s}'" for s in ladder)
    return (f"CASE WHEN len({states}) = 0 THEN 'no jobs' "
            f"WHEN list_bool_and(list_transform({states}, lambda s: s = 'cancelled')) "
            "THEN 'cancelled' "
            f"{cases} "
            f"WHEN list_contains({states}, 'on_hold') THEN 'on_hold' "
            "ELSE 'completed' END")


def orders(con, *, search: str = "", open_only: bool = True, shop_tz: str = "UTC",
           limit: int | None = 500) -> pd.DataFrame:
    """Orders with their customer, derived stage, job count, total, paid and balance due.

    `open_only` keeps orders with at least one open job. Newest first, at most `limit` (None:
    all of them, for an export).
    """
    where, params = [], {"tz": shop_tz}
    if search.strip():
        where.append("(o.name ILIKE $q ESCAPE '\\' OR c.name ILIKE $q ESCAPE '\\'"
                     " OR c.email ILIKE $q ESCAPE '\\')")
        params["q"] = f"%{_like_text(search.strip())}%"
    if open_only:
        where.append(f"o.id IN (SELECT order_id FROM jobs WHERE state IN "
                     f"({', '.join(repr(s) for s in OPEN_STATES)}))")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    frame = con.execute(f"""
        WITH j AS (SELECT order_id, list(state ORDER BY id) AS states, count(*) AS jobs,
                          string_agg(job_number, ', ' ORDER BY id) AS job_numbers
                     FROM jobs GROUP BY order_id),
             p AS (SELECT order_id, sum(amount) AS paid FROM payments GROUP BY order_id)
        SELECT o.id, o.name AS order_name, o.source,
               timezone($tz, o.placed_at) AS placed_local, c.name AS customer, c.email,
               c.phone, {order_stage_sql("coalesce(j.states, [])")} AS stage,
               coalesce(j.jobs, 0) AS jobs, j.job_numbers, o.currency, o.total,
               coalesce(p.paid, 0) AS paid,
               {repositories.balance_due_sql(paid="coalesce(p.paid, 0)")} AS balance_due,
               o.refunded_amount, o.financial_status, o.fulfillment_status,
               {repositories.cancelled_in_shopify_sql()} AS cancelled_in_shopify
          FROM orders o
          LEFT JOIN customers c ON c.id = o.customer_id
          LEFT JOIN j ON j.order_id = o.id
          LEFT JOIN p ON p.order_id = o.id
          {clause}
         ORDER BY o.placed_at DESC NULLS LAST, o.id DESC
         {"" if limit is None else f"LIMIT {int(limit)}"}""", params).df()
    return frame
