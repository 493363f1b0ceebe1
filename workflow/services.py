"""Use cases of the workshop: each takes plain arguments, runs in one unit of work, and returns
plain values. Pages and the command line call these; they never write SQL themselves.

Every write appends to the audit log in the same transaction. A state change also writes the
status history row and, for the stages a customer hears about, an outbox row (GUIDE.md §3).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb

from storage import repositories as repo
from storage.unit_of_work import UnitOfWork
from workflow import inventory_services, lifecycle, notification_services
from workflow.errors import InvalidInput, NotFound, StaleJob
from workflow.model import Actor, Channel, Location, NewJob, Role
from workflow.numbers import parse_decimal
from workflow.ring_size import parse_ring_size

DESIGN_FILE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                     ".pdf": "application/pdf"}
DESIGN_FILE_MAX_BYTES = 20 * 1024 * 1024
QC_CHECKLIST = ("Stones secure and set level", "Prongs smooth, no snagging",
                "Metal finish and polish even", "Engraving matches the order",
                "Size and dimensions match the order", "Hallmark / karat stamp present",
                "Cleaned, photographed for the file")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StageChange:
    """What a successful move did: the job's new stage and version, and the outbox rows queued."""

    job_id: int
    job_number: str
    from_state: str
    to_state: str
    version: int
    notifications_queued: int


def change_stage(uow: UnitOfWork, job_id: int, trigger: str, actor: Actor, *,
                 expected_version: int | None = None, reason: str = "",
                 override_reason: str = "", now: datetime | None = None) -> StageChange:
    """Move a job by `trigger` ("approve", "pass_qc", "cancel", ...), all or nothing.

    `expected_version` is the version the person saw; None means "whatever is current" (scripts).
    Raises `TransitionRefused` (the stage has no such move, or a guard refuses; the message says
    why), `StaleJob` (someone else changed the job since it was read), `NotFound`.
    """
    at = now or _now()
    with uow:
        change = _apply_stage_change(uow.con, job_id, trigger, actor, expected_version,
                                     reason, override_reason, at)
        uow.commit()
    return change


def _apply_stage_change(con, job_id: int, trigger: str, actor: Actor,
                        expected_version: int | None, reason: str, override_reason: str,
                        at: datetime) -> StageChange:
    """The body of a stage change, inside the caller's transaction (see `change_stage`)."""
    row = repo.get_job(con, job_id)
    version = row["version"] if expected_version is None else expected_version
    if row["version"] != version:
        raise StaleJob(row["job_number"])
    facts = repo.job_facts(row, reason=reason, override_reason=override_reason,
                           actor_is_manager=actor.is_manager)
    transition = lifecycle.fire(facts, trigger)
    changes: dict[str, Any] = {"state": transition.dest, "stage_entered_at": at}
    if transition.effect == "remember_hold":
        changes["held_from"] = row["state"]
    elif row["state"] == "on_hold":
        changes["held_from"] = None
    if transition.effect == "revision_round":
        changes["revision_rounds"] = row["revision_rounds"] + 1
    if transition.effect == "rework":
        changes["reworks"] = row["reworks"] + 1
    if trigger == "submit_for_qc":
        changes["last_bench_jeweler_id"] = row["assignee_id"]
    note = reason.strip() or None
    if trigger == "hand_over" and row["balance_due"] > 0:
        note = (f"Manager override, balance {row['currency']} {row['balance_due']}: "
                f"{override_reason.strip()}")
    try:
        ok = repo.update_job_checked(con, job_id, version, changes, at)
    except duckdb.TransactionException as exc:
        raise StaleJob(row["job_number"]) from exc
    if not ok:
        raise StaleJob(row["job_number"])
    inventory_services.on_stage_change(con, row, transition, actor, at)
    repo.insert_history(con, job_id=job_id, from_state=row["state"], to_state=transition.dest,
                        trigger=trigger, actor=actor.name, at=at, note=note)
    before = {"state": row["state"], "version": version}
    after = {"state": transition.dest, "version": version + 1, "trigger": trigger}
    if note:
        after["note"] = note
    repo.append_audit(con, actor=actor.name, action=f"job.{trigger}", entity="job",
                      entity_id=job_id, before=before, after=after, at=at)
    # Back from hold: the customer already heard about this stage when the job first entered it.
    queued = 0 if trigger == "resume" else _queue_customer_message(con, row, transition.dest,
                                                                   version + 1, at)
    return StageChange(job_id, row["job_number"], row["state"], transition.dest, version + 1,
                       queued)


def _queue_customer_message(con, job_row: dict, stage: str, version: int, at: datetime) -> int:
    """The customer's message for a job entering `stage`, in the stage change's transaction:
    rendered now from the stage's template, on the customer's channel, per the stage's switch
    (see `workflow.notification_services.queue_stage_message`). Returns 1 when queued/held."""
    return notification_services.queue_stage_message(con, job_row, stage, version, at)


# --- staff -----------------------------------------------------------------------------------

def add_staff(uow: UnitOfWork, name: str, role: str, actor: Actor | None = None,
              now: datetime | None = None) -> int:
    """Add a staff member; returns their id. Raises `InvalidInput` for a blank or taken name."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A staff member needs a name.")
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"Role {role!r} is not one of: {', '.join(r.value for r in Role)}.")
    at = now or _now()
    with uow:
        if uow.con.execute("SELECT 1 FROM staff WHERE lower(name) = lower(?)",
                           [name]).fetchone():
            raise InvalidInput(f"There is already a staff member called {name}.")
        staff_id = repo.insert_returning_id(
            uow.con, "INSERT INTO staff (name, role, created_at) VALUES (?, ?, ?) RETURNING id",
            [name, role, at])
        repo.append_audit(uow.con, actor=(actor.name if actor else name), action="staff.add",
                          entity="staff", entity_id=staff_id, before=None,
                          after={"name": name, "role": role}, at=at)
        uow.commit()
    return staff_id


# --- walk-in orders --------------------------------------------------------------------------

def _money(value: Any, what: str) -> Decimal:
    """Money as typed ("1,200.00", "$300", "12,50"; see workflow.numbers), blank as 0."""
    try:
        amount = (parse_decimal(value, what) or Decimal("0")).quantize(Decimal("0.01"))
    except (InvalidInput, InvalidOperation) as exc:
        raise InvalidInput(f"{what} {str(value).strip()!r} is not an amount of money.") from exc
    if amount < 0:
        raise InvalidInput(f"{what} can't be negative (got {amount}).")
    return amount


def create_walk_in_order(uow: UnitOfWork, actor: Actor, *, customer_name: str,
                         jobs: Sequence[NewJob], email: str = "", phone: str = "",
                         preferred_channel: str = Channel.EMAIL,
                         marketing_consent: bool = False, currency: str = "USD",
                         deposit: Any = "0", deposit_method: str = "cash",
                         notes: str = "", now: datetime | None = None) -> dict:
    """Record a walk-in customer's order with one job per made-to-order piece.

    Returns {"order_id", "order_name", "job_ids", "job_numbers", "customer_id"}. The customer is
    matched by email (then phone) to an existing one. Raises `InvalidInput` naming the field.
    """
    customer_name = (customer_name or "").strip()
    email = (email or "").strip().lower()
    phone = (phone or "").strip()
    if not customer_name:
        raise InvalidInput("The customer's name is required.")
    if email and ("@" not in email or "." not in email.split("@")[-1]):
        raise InvalidInput(f"Email {email!r} doesn't look like an email address.")
    if not jobs:
        raise InvalidInput("An order needs at least one piece.")
    if preferred_channel in (Channel.SMS, Channel.WHATSAPP, Channel.PHONE) and not phone:
        raise InvalidInput(f"Preferred channel {preferred_channel} needs a phone number.")
    if preferred_channel == Channel.EMAIL and not email:
        raise InvalidInput("Preferred channel email needs an email address.")
    currency = (currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput(f"Currency {currency!r} is not an ISO code such as USD or EUR.")
    deposit_amount = _money(deposit, "The deposit")
    prepared = []
    for i, job in enumerate(jobs, start=1):
        if not job.piece.strip():
            raise InvalidInput(f"Piece {i}: describe the piece (e.g. 'Solitaire ring').")
        try:
            size_mm = parse_ring_size(job.ring_size)
        except InvalidInput as exc:
            raise InvalidInput(f"Piece {i}: {exc}") from exc
        prepared.append((job, size_mm, _money(job.price, f"Piece {i}: the price")))
    total = sum((p for _, _, p in prepared), Decimal("0.00"))
    if deposit_amount > total:
        raise InvalidInput(f"The deposit {deposit_amount} is more than the order total {total}.")
    at = now or _now()
    with uow:
        con = uow.con
        key = f"email:{email}" if email else (f"phone:{_digits(phone)}" if phone else None)
        existing = con.execute("SELECT id FROM customers WHERE customer_key = ?",
                               [key]).fetchone() if key else None
        if existing:
            customer_id = int(existing[0])
        else:
            customer_id = repo.insert_returning_id(con, """
                INSERT INTO customers (customer_key, name, email, phone, preferred_channel,
                    marketing_consent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                [key, customer_name, email or None, phone or None, str(preferred_channel),
                 marketing_consent, at])
            repo.append_audit(con, actor=actor.name, action="customer.create",
                              entity="customer", entity_id=customer_id, before=None,
                              after={"name": customer_name, "email": email, "phone": phone,
                                     "preferred_channel": str(preferred_channel)}, at=at)
        seq = con.execute("SELECT count(*) + 1 FROM orders WHERE source = 'walk_in'").fetchone()
        order_name = f"W-{int(seq[0]):04d}"
        order_id = repo.insert_returning_id(con, """
            INSERT INTO orders (source, match_key, name, customer_id, financial_status,
                fulfillment_status, currency, subtotal, total, placed_at, notes, created_at,
                updated_at) VALUES ('walk_in', ?, ?, ?, ?, 'unfulfilled', ?, ?, ?, ?, ?, ?, ?)
            RETURNING id""",
            [f"name:{order_name}", order_name, customer_id,
             "paid" if deposit_amount >= total and total > 0 else
             ("partially_paid" if deposit_amount > 0 else "pending"),
             currency, total, total, at, notes or None, at, at])
        repo.append_audit(con, actor=actor.name, action="order.create", entity="order",
                          entity_id=order_id, before=None,
                          after={"name": order_name, "source": "walk_in", "total": total,
                                 "currency": currency, "customer_id": customer_id}, at=at)
        if deposit_amount > 0:
            _insert_payment(con, order_id, deposit_amount, currency, deposit_method, actor, at,
                            "Deposit at the counter")
        job_ids, numbers = [], []
        for line_no, (job, size_mm, price) in enumerate(prepared, start=1):
            line_id = repo.insert_returning_id(con, """
                INSERT INTO order_lines (order_id, line_no, title, quantity, price)
                VALUES (?, ?, ?, 1, ?) RETURNING id""", [order_id, line_no, job.piece, price])
            job_id = _insert_job(con, order_id=order_id, order_line_id=line_id, job=job,
                                 size_mm=size_mm, actor=actor, at=at)
            job_ids.append(job_id)
            numbers.append(job_number(job_id))
        uow.commit()
    return {"order_id": order_id, "order_name": order_name, "job_ids": job_ids,
            "job_numbers": numbers, "customer_id": customer_id}


def job_number(job_id: int) -> str:
    """The number printed on the job envelope: J-0042."""
    return f"J-{job_id:04d}"


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit() or ch == "+")


def _insert_job(con, *, order_id: int, order_line_id: int | None, job: NewJob,
                size_mm: Decimal | None, actor: Actor, at: datetime) -> int:
    job_id = int(con.execute("SELECT nextval('job_id_seq')").fetchone()[0])
    con.execute("""
        INSERT INTO jobs (id, job_number, order_id, order_line_id, piece, metal, karat, stones,
            ring_size_mm, ring_size_text, engraving, notes, details, design_needed,
            promised_date, rush, location, state, stage_entered_at, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'front_desk', 'new', ?, ?, ?)""",
        [job_id, job_number(job_id), order_id, order_line_id, job.piece.strip(),
         job.metal or None, job.karat or None, job.stones or None, size_mm,
         job.ring_size or None, job.engraving or None, job.notes or None, json.dumps({}),
         job.design_needed, job.promised_date, job.rush, at, at, at])
    repo.insert_history(con, job_id=job_id, from_state=None, to_state="new", trigger="create",
                        actor=actor.name, at=at, note=None)
    repo.append_audit(con, actor=actor.name, action="job.create", entity="job", entity_id=job_id,
                      before=None, after={"job_number": job_number(job_id), "piece": job.piece,
                                          "order_id": order_id, "state": "new"}, at=at)
    return job_id


def _insert_payment(con, order_id, amount, currency, method, actor, at, note):
    payment_id = repo.insert_returning_id(con, """
        INSERT INTO payments (order_id, amount, currency, method, source, taken_at, taken_by,
            note) VALUES (?, ?, ?, ?, 'counter', ?, ?, ?) RETURNING id""",
        [order_id, amount, currency, method, at, actor.name, note])
    repo.append_audit(con, actor=actor.name, action="payment.take", entity="order",
                      entity_id=order_id, before=None,
                      after={"payment_id": payment_id, "amount": amount, "currency": currency,
                             "method": method}, at=at)


def take_payment(uow: UnitOfWork, order_id: int, amount: Any, actor: Actor, *,
                 method: str = "card", note: str = "", now: datetime | None = None) -> Decimal:
    """Record a payment taken at the counter; returns the balance still due."""
    value = _money(amount, "The payment")
    if value <= 0:
        raise InvalidInput("A payment must be more than zero.")
    at = now or _now()
    with uow:
        order = repo.order_row(uow.con, order_id)
        if value > order["balance_due"]:
            raise InvalidInput(f"The payment {value} is more than the balance due "
                               f"{order['currency']} {order['balance_due']}.")
        _insert_payment(uow.con, order_id, value, order["currency"], method, actor, at,
                        note or None)
        uow.commit()
    return order["balance_due"] - value


# --- job details -----------------------------------------------------------------------------

EDITABLE_JOB_FIELDS = {"piece", "metal", "karat", "stones", "ring_size", "engraving", "notes",
                       "design_needed", "promised_date", "rush", "assignee_id", "location"}


def update_job(uow: UnitOfWork, job_id: int, actor: Actor, changes: dict[str, Any], *,
               expected_version: int | None = None, now: datetime | None = None) -> int:
    """Change a job's details (assignee, location, promised date, customizations ...).

    `ring_size` is read as typed and stored as mm plus the original text. Only fields that
    really change are written and audited. Returns the new version (the same one when nothing
    changed). Raises `StaleJob`, `InvalidInput`, `NotFound`.
    """
    unknown = set(changes) - EDITABLE_JOB_FIELDS
    if unknown:
        raise InvalidInput(f"These job fields can't be edited here: {', '.join(sorted(unknown))}.")
    values = dict(changes)
    if "ring_size" in values:
        text = (values.pop("ring_size") or "").strip()
        values["ring_size_mm"] = parse_ring_size(text)
        values["ring_size_text"] = text or None
    if "location" in values and values["location"] not in {loc.value for loc in Location}:
        raise InvalidInput(f"Location {values['location']!r} is not one of the shop's places.")
    if "piece" in values and not str(values["piece"] or "").strip():
        raise InvalidInput("The piece description can't be blank.")
    at = now or _now()
    with uow:
        row = repo.get_job(uow.con, job_id)
        version = row["version"] if expected_version is None else expected_version
        if row["version"] != version:
            raise StaleJob(row["job_number"])
        if values.get("assignee_id") is not None and \
                repo.staff_member(uow.con, values["assignee_id"]) is None:
            raise InvalidInput(f"There is no staff member with id {values['assignee_id']}.")
        diff = {k: v for k, v in values.items() if _differs(row.get(k), v)}
        if not diff:
            return version
        try:
            ok = repo.update_job_checked(uow.con, job_id, version, diff, at)
        except duckdb.TransactionException as exc:
            raise StaleJob(row["job_number"]) from exc
        if not ok:
            raise StaleJob(row["job_number"])
        before, after = {k: row.get(k) for k in diff}, dict(diff)
        if "assignee_id" in diff:  # names too, so the timeline reads without a lookup
            old_person = row.get("assignee_id") and repo.staff_member(uow.con, row["assignee_id"])
            new_person = diff["assignee_id"] and repo.staff_member(uow.con, diff["assignee_id"])
            before["assignee"] = old_person["name"] if old_person else None
            after["assignee"] = new_person["name"] if new_person else None
        repo.append_audit(uow.con, actor=actor.name, action="job.update", entity="job",
                          entity_id=job_id, before=before, after=after, at=at)
        uow.commit()
    return version + 1


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return (None if old is None else Decimal(str(old))) != \
               (None if new is None else Decimal(str(new)))
    if isinstance(old, datetime) and isinstance(new, date) and not isinstance(new, datetime):
        old = old.date()
    return old != new


def add_job_note(uow: UnitOfWork, job_id: int, body: str, actor: Actor,
                 now: datetime | None = None) -> int:
    """Add a staff note to a job's timeline; returns its id."""
    body = (body or "").strip()
    if not body:
        raise InvalidInput("The note is empty.")
    at = now or _now()
    with uow:
        repo.get_job(uow.con, job_id)
        note_id = repo.insert_returning_id(uow.con, """
            INSERT INTO job_notes (job_id, author, body, created_at) VALUES (?, ?, ?, ?)
            RETURNING id""", [job_id, actor.name, body, at])
        repo.append_audit(uow.con, actor=actor.name, action="job.note", entity="job",
                          entity_id=job_id, before=None, after={"note": body}, at=at)
        uow.commit()
    return note_id


# --- designs and approval --------------------------------------------------------------------

def attach_design_version(uow: UnitOfWork, job_id: int, file_name: str, data: bytes,
                          actor: Actor, *, files_dir: Path, note: str = "",
                          now: datetime | None = None) -> int:
    """Store a render or photo as the job's next numbered design version; returns its number.

    The file goes under `files_dir/jobs/<job id>/`; its path, size and sha256 go to DuckDB.
    Accepts PNG, JPEG and PDF up to 20 MB, checked by the file's own signature, not only its
    name. Raises `InvalidInput`.
    """
    suffix = Path(file_name).suffix.lower()
    media = DESIGN_FILE_TYPES.get(suffix)
    if media is None:
        raise InvalidInput(f"{file_name}: design files must be PNG, JPEG or PDF.")
    if len(data) == 0:
        raise InvalidInput(f"{file_name} is empty.")
    if len(data) > DESIGN_FILE_MAX_BYTES:
        raise InvalidInput(f"{file_name} is {len(data) / 1e6:.1f} MB; the limit is "
                           f"{DESIGN_FILE_MAX_BYTES // (1024 * 1024)} MB.")
    signatures = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8", "application/pdf": b"%PDF"}
    if not data.startswith(signatures[media]):
        raise InvalidInput(f"{file_name} is named {suffix} but its content is not "
                           f"{mimetypes.guess_extension(media) or media}.")
    digest = hashlib.sha256(data).hexdigest()
    at = now or _now()
    with uow:
        row = repo.get_job(uow.con, job_id)
        if row["state"] in lifecycle.CLOSED_STATES:
            raise InvalidInput(f"Job {row['job_number']} is {row['state']}; "
                               "no more designs can be attached.")
        number = repo.next_design_version(uow.con, job_id)
        target = Path(files_dir) / "jobs" / str(job_id) / f"v{number}-{digest[:12]}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        try:
            repo.insert_returning_id(uow.con, """
                INSERT INTO design_versions (job_id, version_no, file_path, file_name,
                    media_type, size_bytes, sha256, note, uploaded_by, uploaded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                [job_id, number, str(target), file_name, media, len(data), digest,
                 note or None, actor.name, at])
            repo.append_audit(uow.con, actor=actor.name, action="design.attach", entity="job",
                              entity_id=job_id, before=None,
                              after={"version": number, "file": file_name, "sha256": digest,
                                     "size_bytes": len(data)}, at=at)
            uow.commit()
        except BaseException:
            target.unlink(missing_ok=True)  # no file without its row
            raise
    return number


def record_design_decision(uow: UnitOfWork, job_id: int, version_no: int, decision: str,
                           actor: Actor, *, channel: str, customer_words: str = "",
                           expected_version: int | None = None,
                           now: datetime | None = None) -> StageChange | None:
    """Record the customer's approval of, or change request for, one design version.

    `decision` is "approved" or "changes_requested"; `channel` how it reached us (in person,
    phone, email ...). When the job is awaiting approval, the job moves in the same transaction
    (approve -> in production, changes -> back to design, a revision round). Returns that move,
    or None when the job was not awaiting approval. Raises `InvalidInput`, `TransitionRefused`,
    `StaleJob`.
    """
    if decision not in ("approved", "changes_requested"):
        raise InvalidInput(f"Decision {decision!r} must be 'approved' or 'changes_requested'.")
    if not (channel or "").strip():
        raise InvalidInput("Say how the customer told us (in person, phone, email ...).")
    if decision == "changes_requested" and not customer_words.strip():
        raise InvalidInput("Write down what the customer wants changed.")
    at = now or _now()
    with uow:
        row = repo.get_job(uow.con, job_id)
        if row["state"] in lifecycle.CLOSED_STATES:
            raise InvalidInput(f"Job {row['job_number']} is {row['state']}; its design can no "
                               "longer be approved or changed.")
        design = repo.design_version(uow.con, job_id, version_no)
        if design is None:
            raise InvalidInput(f"Job {row['job_number']} has no design version {version_no}.")
        repo.insert_returning_id(uow.con, """
            INSERT INTO design_decisions (job_id, design_version_id, version_no, decision,
                channel, decided_at, taken_by, customer_words)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [job_id, design["id"], version_no, decision, channel.strip(), at, actor.name,
             customer_words.strip() or None])
        repo.append_audit(uow.con, actor=actor.name, action=f"design.{decision}", entity="job",
                          entity_id=job_id, before=None,
                          after={"version": version_no, "channel": channel,
                                 "customer_words": customer_words}, at=at)
        change = None
        if row["state"] == "awaiting_approval":
            trigger = "approve" if decision == "approved" else "request_changes"
            change = _apply_stage_change(uow.con, job_id, trigger, actor, expected_version,
                                         customer_words, "", at)
        uow.commit()
    return change


def record_qc_check(uow: UnitOfWork, job_id: int, results: dict[str, bool], actor: Actor, *,
                    note: str = "", now: datetime | None = None) -> bool:
    """Sign a QC checklist for a job; returns whether every point passed.

    `results` maps each point of `QC_CHECKLIST` to passed/failed. The signer is `actor`, who
    must be a staff member. Raises `InvalidInput` for a missing point or an unknown signer.
    """
    if actor.staff_id is None:
        raise InvalidInput("A QC checklist must be signed by a staff member.")
    missing = [p for p in QC_CHECKLIST if p not in results]
    if missing:
        raise InvalidInput(f"The QC checklist is missing: {', '.join(missing)}.")
    all_passed = all(bool(results[p]) for p in QC_CHECKLIST)
    at = now or _now()
    with uow:
        row = repo.get_job(uow.con, job_id)
        if row["state"] != "quality_check":
            raise InvalidInput(f"Job {row['job_number']} is not in quality check.")
        if actor.staff_id is not None and actor.staff_id == row["last_bench_jeweler_id"]:
            raise InvalidInput(f"{actor.name} made job {row['job_number']}; someone else must "
                               "sign its QC checklist.")
        repo.insert_returning_id(uow.con, """
            INSERT INTO qc_checks (job_id, checklist, all_passed, signed_by_id, signed_by,
                signed_at, note) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [job_id, json.dumps({p: bool(results[p]) for p in QC_CHECKLIST}), all_passed,
             actor.staff_id, actor.name, at, note or None])
        repo.append_audit(uow.con, actor=actor.name, action="qc.sign", entity="job",
                          entity_id=job_id, before=None,
                          after={"all_passed": all_passed,
                                 "failed": [p for p in QC_CHECKLIST if not results[p]]}, at=at)
        uow.commit()
    return all_passed


def actor_for(con, staff_id: int) -> Actor:
    """The `Actor` for a staff member picked at the screen; raises `NotFound`."""
    row = repo.staff_member(con, staff_id)
    if row is None:
        raise NotFound(f"There is no staff member with id {staff_id}.")
    return Actor(name=row["name"], role=row["role"], staff_id=row["id"])


# --- shop settings ---------------------------------------------------------------------------

SETTING_RULES = {
    "shop_name": lambda v: v.strip() or None,
    "shop_tz": lambda v: v if _known_zone(v) else None,
    "currency": lambda v: v.strip().upper() if len(v.strip()) == 3 and v.strip().isalpha()
    else None,
    "lead_time_days": lambda v: v.strip() if v.strip().isdigit() and 0 < int(v) <= 365
    else None,
}


SETTING_WORDS = {
    "shop_name": ("Shop name", "give the shop a name"),
    "shop_tz": ("Time zone", "use a zone name such as America/New_York or Europe/London"),
    "currency": ("Currency", "use a three-letter ISO code such as USD, EUR or GBP"),
    "lead_time_days": ("Lead time", "use a whole number of days from 1 to 365"),
}


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def save_settings(uow: UnitOfWork, values: dict[str, str], actor: Actor,
                  now: datetime | None = None) -> dict[str, str]:
    """Change shop settings (shop_name, shop_tz, currency, lead_time_days); audited.

    Returns the settings that changed. Raises `InvalidInput` naming the setting and value.
    """
    if not actor.is_manager:
        raise InvalidInput("Only a manager can change the shop's settings.")
    clean = {}
    for key, value in values.items():
        check = SETTING_RULES.get(key)
        if check is None:
            raise InvalidInput(f"There is no setting called {key!r}.")
        ok = check(str(value))
        if ok is None:
            label, rule = SETTING_WORDS[key]
            raise InvalidInput(f"{label}: {value!r} can't be used; {rule}.")
        clean[key] = ok
    return _write_settings(uow, clean, actor, now or _now())


def save_job_rules(uow: UnitOfWork, rules: list, actor: Actor,
                   now: datetime | None = None) -> int:
    """Replace the rules that decide which line items become jobs; returns how many.

    Each rule is checked (kind, something to match, a valid pattern); raises `InvalidInput`.
    """
    from workflow.job_rules import rules_to_json

    if not actor.is_manager:
        raise InvalidInput("Only a manager can change which items become jobs.")
    for i, rule in enumerate(rules, start=1):
        rule.validate(i)
    _write_settings(uow, {"job_rules": rules_to_json(list(rules))}, actor, now or _now())
    return len(rules)


def _write_settings(uow: UnitOfWork, values: dict[str, str], actor: Actor,
                    at: datetime) -> dict[str, str]:
    changed = {}
    with uow:
        for key, value in values.items():
            row = uow.con.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
            old = row[0] if row else None
            if old == value:
                continue
            if row:
                uow.con.execute("UPDATE settings SET value = ? WHERE key = ?", [value, key])
            else:
                uow.con.execute("INSERT INTO settings (key, value) VALUES (?, ?)", [key, value])
            repo.append_audit(uow.con, actor=actor.name, action="settings.change",
                              entity="settings", entity_id=None, before={key: old},
                              after={key: value}, at=at)
            changed[key] = value
        uow.commit()
    return changed
