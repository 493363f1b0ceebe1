"""Use cases of customer notifications: queue a stage's message in the stage change's
transaction, deliver queued messages once each (the dispatcher), and the staff's actions
(retry, cancel, edit and send a held message, templates, per-stage switches, customer
preferences).

Delivery is at-least-once with at most one repeat after a crash: the dispatcher claims a
batch in one short transaction, sends each message outside any transaction, then marks it in
its own transaction. A dispatcher killed between a send and its mark leaves that one message
claimed; the next dispatcher frees the claim and sends it again.

The dispatcher is handed its `Notifier`s per channel ("email", "sms", "whatsapp") by its caller
(pages, cli.py); this module never imports `connectors/`.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import phonenumbers

from storage import outbox_repository as outbox
from storage import repositories as repo
from storage.unit_of_work import UnitOfWork
from workflow.errors import InvalidInput, NotFound
from workflow.lifecycle import STAGES
from workflow.model import Actor, Channel
from workflow.notifications import (
    DEFAULT_TEMPLATES,
    MUST_SEND_STAGES,
    NOTIFIED_STAGES,
    NOTIFY_DEFAULTS,
    MessageTemplate,
    Notifier,
    OutboundMessage,
    PermanentDeliveryError,
    RateLimited,
    RenderedMessage,
    RetryableDeliveryError,
    RetryPolicy,
    Status,
    Switch,
    TemplateInvalid,
    check_template,
    choose_recipient,
    email_addresses,
    normalise_phone,
    render,
    stage_switch_key,
    template_context,
    text_to_html,
)

log = logging.getLogger("atelier.dispatcher")


def _now() -> datetime:
    return datetime.now(UTC)


# --- settings and templates -----------------------------------------------------------------

def notify_settings(con) -> dict[str, str]:
    """The `notify.*` settings (defaults filled in) and `shop_name`, read on `con`."""
    values = dict(NOTIFY_DEFAULTS)
    values["shop_name"] = "Atelier workshop"
    values.update(outbox.settings_values(con, [*NOTIFY_DEFAULTS, "shop_name"]))
    return values


def template_for(con, stage: str) -> MessageTemplate:
    """The stage's template in use: the shop's edit, else the default."""
    row = outbox.template_row(con, stage)
    if row is None:
        return DEFAULT_TEMPLATES[stage]
    return MessageTemplate(stage, row["subject"], row["body_text"], row["body_html"],
                           row["body_sms"], edited=True)


def _join(*notes: str | None) -> str | None:
    text = " ".join(n.strip().rstrip(".") + "." for n in notes if n and n.strip())
    return text or None


def _render_for_job(con, job_row: dict, customer: dict | None, stage: str,
                    settings: dict[str, str]) -> tuple[RenderedMessage, str | None]:
    """The stage's message for this job, and a note when the shop's template failed and the
    default text was used instead (a state change is never refused over a message)."""
    context = template_context(job=job_row, customer=customer, settings=settings, stage=stage)
    template = template_for(con, stage)
    try:
        return render(template, context), None
    except TemplateInvalid as exc:
        if not template.edited:
            raise
        return (render(DEFAULT_TEMPLATES[stage], context),
                f"The shop's template didn't render for this job ({exc}); the default text "
                "was used")


# --- queueing, inside the stage change's transaction ----------------------------------------

def queue_stage_message(con, job_row: dict, stage: str, version: int, at: datetime) -> int:
    """Write the customer's message for a job entering `stage`, in the caller's transaction.

    `job_row` is the job as `storage.repositories.get_job` read it (with `order_name` and
    `customer_id`); `version` the job's new version (part of the unique key
    `job:<id>:v<version>:<stage>`). The stage's switch decides: "auto" queues it, "hold" puts
    it in the review queue (status held), "off" writes nothing. A customer who opted out, or
    one with no address, gets a row with status skipped and the reason (so staff see why),
    except for the stages in `MUST_SEND_STAGES`. The message is rendered now and stored.
    Returns 1 when a message was queued or held, else 0.
    """
    if stage not in NOTIFIED_STAGES:
        return 0
    settings = notify_settings(con)
    mode = settings.get(stage_switch_key(stage), Switch.AUTO)
    if mode == Switch.OFF:
        return 0
    customer = outbox.customer(con, job_row.get("customer_id"))
    recipient = choose_recipient(customer, settings["notify.country"])
    rendered, template_note = _render_for_job(con, job_row, customer, stage, settings)
    status = Status.HELD if mode == Switch.HOLD else Status.QUEUED
    note = _join(recipient.note, template_note)
    if not recipient.deliverable:
        status, note = Status.SKIPPED, _join(f"Not sent: {recipient.note}", template_note)
    elif customer and customer.get("notifications_opt_out"):
        if stage in MUST_SEND_STAGES:
            note = _join("Sent although the customer opted out of updates: a design review "
                         "can't go on without them", note)
        else:
            status, note = Status.SKIPPED, "Not sent: the customer asked not to get updates."
    customer = customer or {}
    payload = {"job_number": job_row["job_number"], "piece": job_row["piece"],
               "order_name": job_row.get("order_name"), "stage": stage,
               "stage_label": STAGES[stage],
               "customer_name": customer.get("name"), "email": customer.get("email"),
               "phone": customer.get("phone"), "promised_date": job_row.get("promised_date"),
               "switch": mode}
    outbox.insert_message(
        con, dedupe_key=f"job:{job_row['id']}:v{version}:{stage}", job_id=job_row["id"],
        customer_id=customer.get("id"), channel=recipient.channel, stage=stage, status=status,
        payload=payload, recipient_email=recipient.email, recipient_phone=recipient.phone,
        subject=rendered.subject, body_text=rendered.text, body_html=rendered.html,
        body_sms=rendered.sms, note=note, at=at)
    return 1 if status in (Status.QUEUED, Status.HELD) else 0


# --- the dispatcher -------------------------------------------------------------------------

def worker_prefix() -> str:
    """"host:pid:": every dispatcher of this process claims under a name starting so."""
    return f"{socket.gethostname()}:{os.getpid()}:"


_WORKER_COUNTER = itertools.count(1)


@dataclass
class DispatchReport:
    """What one or more dispatch rounds did (counts of messages)."""

    claimed: int = 0
    sent: int = 0
    delivered_locally: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    released: int = 0
    lost_claims: int = 0
    recovered: int = 0
    contended: int = 0
    rate_limited_until: datetime | None = None

    def add(self, other: DispatchReport) -> None:
        """Add `other`'s counts to these (the latest rate-limit reset wins)."""
        for name in ("claimed", "sent", "delivered_locally", "retrying", "failed",
                     "cancelled", "released", "lost_claims", "recovered", "contended"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rate_limited_until = other.rate_limited_until or self.rate_limited_until

    def sentence(self) -> str:
        """The counts in words, for a log line or the command line."""
        parts = [f"{self.sent} sent", f"{self.delivered_locally} delivered locally",
                 f"{self.retrying} to retry", f"{self.failed} failed",
                 f"{self.cancelled} not sent"]
        text = ", ".join(parts) + "."
        if self.recovered:
            text += (f" {self.recovered} left claimed by a stopped dispatcher were taken "
                     "back (sent again).")
        if self.rate_limited_until:
            text += f" The provider asked us to wait until {self.rate_limited_until:%H:%M:%S} UTC."
        return text


@dataclass(frozen=True)
class _Outcome:
    rate_limited_until: datetime | None = None


class Dispatcher:
    """Delivers due outbox messages through `notifiers` ({"email": ..., "sms": ...}).

    `con` is this dispatcher's own cursor (never shared with another thread). Writes go
    through `UnitOfWork` (serialised with the process's WRITE_LOCK unless `lock=False`).
    `batch_size` messages are claimed at a time for `lease_seconds`; a claim still running is
    respected by every other dispatcher. `policy` gives the backoff; the shop's setting
    `notify.max_attempts` overrides its `max_attempts` unless `max_attempts` is given here.
    `clock` returns the current UTC instant (tests move it).
    """

    def __init__(self, con, notifiers: Mapping[str, Notifier], *, name: str | None = None,
                 batch_size: int = 20, lease_seconds: float = 300.0,
                 policy: RetryPolicy | None = None, max_attempts: int | None = None,
                 clock: Callable[[], datetime] = _now, lock: bool = True):
        self.con = con
        self.notifiers = dict(notifiers)
        self.worker = worker_prefix() + (name or f"dispatcher-{next(_WORKER_COUNTER)}")
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.policy = policy or RetryPolicy()
        self.max_attempts = max_attempts
        self.clock = clock
        self.lock = lock
        self.recovered = False
        self.last_run_at: datetime | None = None
        self.last_report: DispatchReport | None = None
        self.last_problem: str | None = None
        self.totals = DispatchReport()

    # -- the rounds ------------------------------------------------------------------------
    def recover(self) -> int:
        """Free the claims of dispatchers of other (stopped) processes; once per dispatcher.
        Returns how many messages were freed."""
        if self.recovered:
            return 0
        with UnitOfWork(self.con, lock=self.lock) as uow:
            freed = outbox.release_other_processes_claims(uow.con, worker_prefix(),
                                                          self.clock())
            uow.commit()
        self.recovered = True
        if freed:
            log.warning("took back %d message(s) claimed by a stopped dispatcher: %s",
                        len(freed), freed)
        return len(freed)

    def run_once(self) -> DispatchReport:
        """Claim one batch of due messages and deliver them. Returns what happened."""
        report = DispatchReport(recovered=self.recover())
        now = self.clock()
        self.last_run_at = now
        if outbox.due_count(self.con, now) == 0:
            self._finish(report)
            return report
        settings = notify_settings(self.con)
        report.cancelled += self._expire(settings, now)
        lease_until = now + self.lease
        ids = self._claim(now, lease_until)
        if ids is None:  # another dispatcher claimed at the same moment: try again next round
            report.contended += 1
            ids = []
        report.claimed = len(ids)
        if not ids:
            self._finish(report)
            return report
        rows = outbox.messages(self.con, ids)
        for index, row in enumerate(rows):
            if self.clock() >= lease_until - min(self.lease / 5, timedelta(seconds=60)):
                report.released += self._release([r["id"] for r in rows[index:]], None)
                break
            outcome = self._deliver(row, settings, report)
            if outcome.rate_limited_until is not None:
                report.rate_limited_until = outcome.rate_limited_until
                report.released += self._release([r["id"] for r in rows[index + 1:]],
                                                 outcome.rate_limited_until)
                break
        self._finish(report)
        return report

    def drain(self, max_rounds: int | None = None) -> DispatchReport:
        """Run rounds until nothing is due now (messages waiting for a later retry stay), the
        provider throttles us, or `max_rounds` is reached. Returns the rounds' totals."""
        total = DispatchReport()
        for _ in itertools.count() if max_rounds is None else range(max_rounds):
            report = self.run_once()
            total.add(report)
            if report.rate_limited_until is not None:
                break
            if report.claimed == 0 and not report.contended:
                break
        return total

    def run_forever(self, stop: threading.Event, poll_seconds: float = 2.0) -> None:
        """Deliver until `stop` is set: a round, then wait `poll_seconds` when nothing was due
        (or until the provider's rate-limit reset). Errors are logged and kept in
        `last_problem`; a closed database ends the loop."""
        while not stop.is_set():
            try:
                report = self.run_once()
                self.last_problem = None
            except duckdb.ConnectionException as exc:
                self.last_problem = f"The database connection closed: {exc}"
                log.info("dispatcher %s stops: %s", self.worker, exc)
                return
            except Exception as exc:  # keep the thread alive; say what went wrong
                self.last_problem = f"{type(exc).__name__}: {exc}"
                log.exception("dispatcher %s round failed", self.worker)
                stop.wait(max(poll_seconds, 1.0) * 5)
                continue
            if report.rate_limited_until is not None:
                wait = (report.rate_limited_until - self.clock()).total_seconds()
                stop.wait(min(max(wait, poll_seconds), 3600))
            elif report.claimed == 0 and not report.contended:
                stop.wait(poll_seconds)

    # -- the steps -------------------------------------------------------------------------
    def _finish(self, report: DispatchReport) -> None:
        self.last_report = report
        self.totals.add(report)
        if report.claimed or report.cancelled or report.recovered:
            log.info("%s: %s", self.worker, report.sentence())

    @staticmethod
    def _max_age(settings: dict[str, str]) -> timedelta:
        try:
            return timedelta(days=float(settings.get("notify.max_age_days") or 7))
        except ValueError:
            return timedelta(days=7)

    @staticmethod
    def _moved_past(row: dict) -> str | None:
        """Why a message is out of date, or None. "Your design awaits approval" after the
        approval would only confuse: a message is not sent when a newer one about the job
        was written since it became due (that one tells the customer), or when the job has
        since entered another stage customers hear about (even with that stage's messages
        switched off). Hold is internal: a job on hold still gets its message."""
        if row.get("superseded_by"):
            newer = STAGES.get(row["superseded_by"], row["superseded_by"])
            return ("Not sent: the piece had moved on before it went out; the newer message "
                    f"({newer}) tells the customer where it is (retry it to send it anyway).")
        state = row.get("job_state")
        if (row.get("job_moved_since") and state != row["stage"]
                and state in NOTIFIED_STAGES):
            return (f"Not sent: the piece had moved on to {STAGES.get(state, state)} before it "
                    "went out (retry it to send it anyway).")
        return None

    def _expire(self, settings: dict[str, str], now: datetime) -> int:
        max_age = self._max_age(settings)
        if max_age.total_seconds() <= 0:
            return 0
        reason = (f"Not sent: it waited more than {max_age.days} days and was out of date "
                  "(retry it to send it anyway).")
        with UnitOfWork(self.con, lock=self.lock) as uow:
            try:
                n = outbox.expire_out_of_date(uow.con, now - max_age, reason, now)
            except duckdb.TransactionException:
                return 0
            uow.commit()
        return n

    def _claim(self, now: datetime, lease_until: datetime) -> list[int] | None:
        """Claim a batch in its own transaction; None when another dispatcher's claim
        conflicted with ours at the statement (DuckDB's TransactionException)."""
        with UnitOfWork(self.con, lock=self.lock) as uow:
            try:
                ids = outbox.claim_due(uow.con, self.worker, now, lease_until, self.batch_size)
            except duckdb.TransactionException:
                return None
            uow.commit()
        return ids

    def _release(self, ids: list[int], not_before: datetime | None) -> int:
        if not ids:
            return 0
        with UnitOfWork(self.con, lock=self.lock) as uow:
            n = outbox.release_claims(uow.con, ids, self.worker, not_before, self.clock())
            uow.commit()
        return n

    def _write(self, fn: Callable[..., bool], *args, **kwargs) -> bool:
        with UnitOfWork(self.con, lock=self.lock) as uow:
            try:
                ok = fn(uow.con, *args, **kwargs)
            except duckdb.TransactionException:
                ok = False
            if ok:
                uow.commit()
        return ok

    def _max_attempts(self, settings: dict[str, str]) -> int:
        if self.max_attempts is not None:
            return self.max_attempts
        try:
            return max(1, int(settings.get("notify.max_attempts") or self.policy.max_attempts))
        except ValueError:
            return self.policy.max_attempts

    def _close(self, row: dict, status: str, reason: str, report: DispatchReport) -> _Outcome:
        if self._write(outbox.mark_not_sent, row["id"], self.worker, status=status,
                       reason=reason, at=self.clock()):
            if status == Status.FAILED:
                report.failed += 1
            else:
                report.cancelled += 1
        else:
            report.lost_claims += 1
        return _Outcome()

    def _deliver(self, row: dict, settings: dict[str, str], report: DispatchReport) -> _Outcome:
        now = self.clock()
        if row["subject"] is None:
            problem = self._fill_missing_content(row, settings)
            if problem:
                return self._close(row, Status.FAILED, problem, report)
        max_age = self._max_age(settings)
        due_since = row["due_since"] or row["created_at"]
        if max_age.total_seconds() > 0 and due_since is not None and now - due_since > max_age:
            return self._close(row, Status.CANCELLED,
                               f"Not sent: it waited more than {max_age.days} days and was out "
                               "of date (retry it to send it anyway).", report)
        if row.get("opted_out") and row["stage"] not in MUST_SEND_STAGES:
            return self._close(row, Status.CANCELLED,
                               "Not sent: the customer asked not to get updates.", report)
        moved = self._moved_past(row)
        if moved:
            return self._close(row, Status.CANCELLED, moved, report)
        route = self._route(row, settings.get("notify.shop_email") or None)
        if isinstance(route, str):
            return self._close(row, Status.FAILED, route, report)
        notifier, message, note = route
        try:
            provider_id = notifier.send(message)
        except RetryableDeliveryError as exc:
            return self._failed_attempt(row, settings, exc, notifier, message.channel, report)
        except PermanentDeliveryError as exc:
            if self._write(outbox.mark_attempt_failed, row["id"], self.worker, error=str(exc),
                           give_up=True, next_attempt_at=None, sent_via=message.channel,
                           provider=notifier.name, at=self.clock()):
                report.failed += 1
            else:
                report.lost_claims += 1
            return _Outcome()
        except Exception as exc:  # a connector bug: keep the message, try again later
            log.exception("notifier %s raised an unexpected error", notifier.name)
            wrapped = RetryableDeliveryError(f"Unexpected error from {notifier.name}: "
                                             f"{type(exc).__name__}: {exc}")
            return self._failed_attempt(row, settings, wrapped, notifier, message.channel,
                                        report)
        status = Status.DELIVERED_LOCALLY if notifier.local else Status.SENT
        if self._write(outbox.mark_delivered, row["id"], self.worker, status=status,
                       sent_via=message.channel, provider=notifier.name,
                       provider_message_id=str(provider_id or ""), note=note,
                       at=self.clock()):
            if notifier.local:
                report.delivered_locally += 1
            else:
                report.sent += 1
        else:
            report.lost_claims += 1
            log.warning("message %s was delivered but its claim had run out", row["id"])
        return _Outcome()

    def _failed_attempt(self, row: dict, settings: dict[str, str],
                        exc: RetryableDeliveryError, notifier: Notifier, channel: str,
                        report: DispatchReport) -> _Outcome:
        now = self.clock()
        attempt = int(row["attempts"]) - int(row["attempts_at_retry"] or 0) + 1
        limit = self._max_attempts(settings)
        give_up = attempt >= limit
        retry_at = exc.retry_at if exc.retry_at is not None else now + self.policy.delay(attempt)
        retry_at = max(retry_at, now)
        error = str(exc)
        if give_up:
            error = f"{error} (gave up after {attempt} attempt{'s' if attempt > 1 else ''})"
        if self._write(outbox.mark_attempt_failed, row["id"], self.worker, error=error,
                       give_up=give_up, next_attempt_at=retry_at, sent_via=channel,
                       provider=notifier.name, at=now):
            if give_up:
                report.failed += 1
            else:
                report.retrying += 1
        else:
            report.lost_claims += 1
        if isinstance(exc, RateLimited):
            return _Outcome(rate_limited_until=retry_at)
        return _Outcome()

    def _route(self, row: dict, reply_to: str | None = None
               ) -> tuple[Notifier, OutboundMessage, str | None] | str:
        """The notifier and message for a row (falling back to email when the row's channel
        has no notifier here), or the reason nothing can carry it."""
        channel = row["channel"] or Channel.EMAIL
        emails = tuple(email_addresses(row["recipient_email"]))
        phone = row["recipient_phone"]
        note = None
        notifier = self.notifiers.get(channel)
        if channel in (Channel.SMS, Channel.WHATSAPP):
            if notifier is not None and phone:
                return notifier, self._message(row, channel, (phone,), reply_to), None
            email_notifier = self.notifiers.get(Channel.EMAIL)
            if emails and email_notifier is not None:
                note = (f"By email: {channel} isn't set up here." if notifier is None else
                        f"By email: no mobile number for {channel}.")
                return email_notifier, self._message(row, Channel.EMAIL, emails, reply_to), note
            if notifier is None:
                return (f"{channel.upper() if channel == 'sms' else 'WhatsApp'} isn't set up "
                        "here (no Twilio account configured) and the customer has no email "
                        "address: call them, or set up Twilio.")
            return "No mobile number or email address to send this to."
        if notifier is None:
            return "Email isn't set up here: no email notifier was configured."
        if not emails:
            return "No email address to send this to."
        return notifier, self._message(row, Channel.EMAIL, emails, reply_to), note

    @staticmethod
    def _message(row: dict, channel: str, to: tuple[str, ...],
                 reply_to: str | None = None) -> OutboundMessage:
        is_email = channel == Channel.EMAIL
        return OutboundMessage(
            outbox_id=int(row["id"]), dedupe_key=row["dedupe_key"], channel=channel, to=to,
            subject=row["subject"] or "",
            text=(row["body_text"] if is_email else row["body_sms"]) or "",
            html=row["body_html"] if is_email else None,
            job_number=row.get("job_number") or "", reply_to=reply_to)

    def _fill_missing_content(self, row: dict, settings: dict[str, str]) -> str | None:
        """Render a row queued before messages were stored rendered (schema version < 3).
        Returns a reason when that can't be done."""
        with UnitOfWork(self.con, lock=self.lock) as uow:
            try:
                job = repo.get_job(uow.con, row["job_id"])
            except NotFound:
                return "The job of this message no longer exists."
            if row["stage"] not in NOTIFIED_STAGES:
                return f"There is no message for the stage {row['stage']!r}."
            customer = outbox.customer(uow.con, row["customer_id"] or job.get("customer_id"))
            recipient = choose_recipient(customer, settings["notify.country"])
            try:
                rendered, note = _render_for_job(uow.con, job, customer, row["stage"],
                                                 settings)
            except TemplateInvalid as exc:
                return f"The message doesn't render: {exc}"
            outbox.fill_content(uow.con, row["id"], recipient_email=recipient.email,
                                recipient_phone=recipient.phone, subject=rendered.subject,
                                body_text=rendered.text, body_html=rendered.html,
                                body_sms=rendered.sms, note=_join(recipient.note, note),
                                at=self.clock())
            uow.commit()
        row.update(recipient_email=recipient.email, recipient_phone=recipient.phone,
                   subject=rendered.subject, body_text=rendered.text, body_html=rendered.html,
                   body_sms=rendered.sms)
        return None


# --- staff actions on messages (audited) ----------------------------------------------------

def _message_or_refuse(con, outbox_id: int) -> dict:
    row = outbox.message(con, outbox_id)
    if row is None:
        raise NotFound(f"There is no message {outbox_id}.")
    return row


def _refusal(row: dict, wanted: str, now: datetime) -> InvalidInput:
    label = Status.LABELS.get(row["status"], row["status"]).lower()
    if row["claimed_until"] is not None and row["claimed_until"] >= now:
        return InvalidInput(f"Message {row['id']} is being sent right now; try again in a "
                            "minute.")
    return InvalidInput(f"Message {row['id']} is {label}; it can't be {wanted}.")


def _audit(con, actor: Actor, action: str, row: dict, before: dict | None, after: dict,
           at: datetime) -> None:
    repo.append_audit(con, actor=actor.name, action=f"message.{action}", entity="job",
                      entity_id=row["job_id"], before=before,
                      after={"outbox_id": row["id"], "stage": row["stage"], **after}, at=at)


def retry_message(uow: UnitOfWork, outbox_id: int, actor: Actor, *,
                  now: datetime | None = None) -> None:
    """Queue a failed or cancelled message again, with a fresh set of attempts (audited).

    Raises `NotFound`, or `InvalidInput` when it was sent, is queued, held or being sent.
    """
    at = now or _now()
    with uow:
        row = _message_or_refuse(uow.con, outbox_id)
        if not outbox.set_status(uow.con, outbox_id, status=Status.QUEUED,
                                 from_statuses=(Status.FAILED, Status.CANCELLED), now=at,
                                 reset_attempts=True):
            raise _refusal(row, "retried", at)
        _audit(uow.con, actor, "retry", row, {"status": row["status"],
                                               "attempts": row["attempts"],
                                               "last_error": row["last_error"]},
               {"status": Status.QUEUED}, at)
        uow.commit()


def cancel_message(uow: UnitOfWork, outbox_id: int, actor: Actor, *, reason: str = "",
                   now: datetime | None = None) -> None:
    """Stop a queued, held or failed message from going out (audited, with the reason).

    Raises `NotFound`, or `InvalidInput` when it was sent already or is being sent.
    """
    at = now or _now()
    why = f"Cancelled by {actor.name}" + (f": {reason.strip()}" if reason.strip() else "")
    with uow:
        row = _message_or_refuse(uow.con, outbox_id)
        if not outbox.set_status(uow.con, outbox_id, status=Status.CANCELLED,
                                 from_statuses=(Status.QUEUED, Status.HELD, Status.FAILED),
                                 now=at, error=why):
            raise _refusal(row, "cancelled", at)
        _audit(uow.con, actor, "cancel", row, {"status": row["status"]},
               {"status": Status.CANCELLED, "reason": reason.strip()}, at)
        uow.commit()


def _edits(row: dict, subject: str | None, text: str | None, html: str | None,
           sms: str | None) -> dict[str, str]:
    wanted = {"subject": subject, "body_text": text, "body_html": html, "body_sms": sms}
    changes = {k: v for k, v in wanted.items() if v is not None and v != (row[k] or "")}
    if "subject" in changes and not changes["subject"].strip():
        raise InvalidInput("The subject can't be empty.")
    if "body_text" in changes and not changes["body_text"].strip():
        raise InvalidInput("The message text can't be empty.")
    return changes


def edit_held_message(uow: UnitOfWork, outbox_id: int, actor: Actor, *,
                      subject: str | None = None, text: str | None = None,
                      html: str | None = None, sms: str | None = None, send: bool = False,
                      now: datetime | None = None) -> bool:
    """Save staff's edits to a message held for review; with `send`, queue it to go out now.

    Texts are final (not templates). Returns True when anything was edited. Audited with the
    edited parts before and after. Raises `NotFound`, `InvalidInput` (not held, empty text).
    """
    at = now or _now()
    with uow:
        row = _message_or_refuse(uow.con, outbox_id)
        if row["status"] != Status.HELD:
            raise _refusal(row, "edited or sent from the review queue", at)
        if text is not None and html is None and text != (row["body_text"] or ""):
            html = text_to_html(text)  # keep the HTML part saying what the text says
        changes = _edits(row, subject, text, html, sms)
        if changes:
            merged = {k: changes.get(k, row[k] or "") for k in
                      ("subject", "body_text", "body_html", "body_sms")}
            outbox.update_content(uow.con, outbox_id, **merged, at=at)
            _audit(uow.con, actor, "edit", row, {k: row[k] for k in changes}, changes, at)
        if send:
            if not outbox.set_status(uow.con, outbox_id, status=Status.QUEUED,
                                     from_statuses=(Status.HELD,), now=at):
                raise _refusal(row, "sent", at)
            _audit(uow.con, actor, "send_held", row, {"status": Status.HELD},
                   {"status": Status.QUEUED}, at)
        uow.commit()
    return bool(changes)


# --- templates, switches, settings (managers) -----------------------------------------------

def _require_manager(actor: Actor, what: str) -> None:
    if not actor.is_manager:
        raise InvalidInput(f"Only a manager can change {what}.")


def _check_stage(stage: str) -> None:
    if stage not in NOTIFIED_STAGES:
        raise InvalidInput(f"Customers aren't sent a message for the stage {stage!r}; "
                           f"these have one: {', '.join(NOTIFIED_STAGES)}.")


def save_template(uow: UnitOfWork, stage: str, actor: Actor, *, subject: str, text: str,
                  html: str, sms: str, now: datetime | None = None) -> None:
    """Store the shop's template for `stage` after checking that it renders (audited).

    Raises `TemplateInvalid` (an `InvalidInput`) naming the part, line and reason, e.g.
    "HTML, line 3: a '}' with nothing to close ..." or "Subject, line 1: there is no field
    'custmer' ...".
    """
    _require_manager(actor, "message templates")
    _check_stage(stage)
    template = MessageTemplate(stage, subject, text, html, sms)
    at = now or _now()
    with uow:
        check_template(template, notify_settings(uow.con)["shop_name"])
        before = template_for(uow.con, stage)
        outbox.upsert_template(uow.con, stage=stage, subject=subject, body_text=text,
                               body_html=html, body_sms=sms, actor=actor.name, at=at)
        changed = {p: getattr(template, p) for p in MessageTemplate.PARTS
                   if getattr(template, p) != getattr(before, p)}
        repo.append_audit(uow.con, actor=actor.name, action="template.save",
                          entity="message_template", entity_id=None,
                          before={"stage": stage, "edited": before.edited,
                                  **{p: getattr(before, p) for p in changed}},
                          after={"stage": stage, **changed}, at=at)
        uow.commit()


def reset_template(uow: UnitOfWork, stage: str, actor: Actor, *,
                   now: datetime | None = None) -> bool:
    """Go back to the default text for `stage` (audited). False when it was not edited."""
    _require_manager(actor, "message templates")
    _check_stage(stage)
    at = now or _now()
    with uow:
        before = template_for(uow.con, stage)
        if not outbox.delete_template(uow.con, stage):
            return False
        repo.append_audit(uow.con, actor=actor.name, action="template.reset",
                          entity="message_template", entity_id=None,
                          before={"stage": stage, **{p: getattr(before, p)
                                                     for p in MessageTemplate.PARTS}},
                          after={"stage": stage, "edited": False}, at=at)
        uow.commit()
    return True


def set_stage_switch(uow: UnitOfWork, stage: str, mode: str, actor: Actor, *,
                     now: datetime | None = None) -> None:
    """Send a stage's message automatically, hold it for review, or not at all (audited).
    Applies to messages queued from now on. Raises `InvalidInput`."""
    _require_manager(actor, "which messages are sent")
    _check_stage(stage)
    if mode not in Switch.ALL:
        raise InvalidInput(f"{mode!r} is not one of: {', '.join(Switch.ALL)}.")
    save_notification_settings(uow, {stage_switch_key(stage): mode}, actor, now=now)


def save_notification_settings(uow: UnitOfWork, values: Mapping[str, Any], actor: Actor, *,
                               now: datetime | None = None) -> dict[str, str]:
    """Store `notify.*` settings (see `NOTIFY_DEFAULTS`); returns those that changed.

    Checked: switches are auto/hold/off, the country is a region phonenumbers knows, counts
    are whole numbers (attempts 1-20, age 0-365 days, 0 = no limit), the review link starts
    with http(s):// and uses only {job_number}. Audited. Raises `InvalidInput`.
    """
    _require_manager(actor, "notification settings")
    clean = {k: _check_setting(k, v) for k, v in values.items()}
    at = now or _now()
    with uow:
        current = notify_settings(uow.con)
        changed = {k: v for k, v in clean.items() if current.get(k) != v}
        for key, value in changed.items():
            outbox.upsert_setting(uow.con, key, value)
        if changed:
            repo.append_audit(uow.con, actor=actor.name, action="settings.notifications",
                              entity="settings", entity_id=None,
                              before={k: current.get(k) for k in changed}, after=changed,
                              at=at)
            uow.commit()
    return changed


def _check_setting(key: str, value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if key not in NOTIFY_DEFAULTS:
        raise InvalidInput(f"{key!r} is not a notification setting.")
    if key.startswith("notify.stage."):
        if text not in Switch.ALL:
            raise InvalidInput(f"{text!r} is not one of: {', '.join(Switch.ALL)}.")
    elif key == "notify.country":
        text = text.upper()
        if text not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(f"{text!r} is not a country code phone numbers know "
                               "(use two letters, e.g. US, GB, DE).")
    elif key in ("notify.max_attempts", "notify.max_age_days"):
        low, high = (1, 20) if key == "notify.max_attempts" else (0, 365)
        if not text.isdigit() or not low <= int(text) <= high:
            raise InvalidInput(f"{key.split('.')[-1].replace('_', ' ').capitalize()} must be "
                               f"a whole number from {low} to {high}.")
    elif key == "notify.approval_url" and text:
        if not text.startswith(("http://", "https://")):
            raise InvalidInput("The review link must start with https:// (or http://).")
        try:
            text.format(job_number="J-0001")
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidInput("The review link may only use {job_number} in braces "
                               f"(problem: {exc}).") from exc
    elif key == "notify.shop_email" and text and not email_addresses(text):
        raise InvalidInput(f"{text!r} doesn't look like an email address.")
    return text


# --- customers ------------------------------------------------------------------------------

def set_customer_preferences(uow: UnitOfWork, customer_id: int, actor: Actor, *,
                             preferred_channel: str | None = None,
                             opted_out: bool | None = None,
                             now: datetime | None = None) -> dict[str, Any]:
    """Change how a customer hears from us: preferred channel and/or opt-out of updates.

    An opt-out applies from the next message on: queued messages that are not a design review
    are not sent either (the dispatcher checks again before sending). Returns what changed;
    audited. Raises `NotFound`, `InvalidInput` (SMS/WhatsApp without a valid mobile number,
    email without an address).
    """
    at = now or _now()
    with uow:
        cust = outbox.customer(uow.con, customer_id)
        if cust is None:
            raise NotFound(f"There is no customer with id {customer_id}.")
        changes: dict[str, Any] = {}
        if preferred_channel is not None and preferred_channel != cust["preferred_channel"]:
            if preferred_channel not in {c.value for c in Channel}:
                raise InvalidInput(f"{preferred_channel!r} is not one of: "
                                   f"{', '.join(c.value for c in Channel)}.")
            country = notify_settings(uow.con)["notify.country"]
            if preferred_channel in (Channel.SMS, Channel.WHATSAPP) and \
                    normalise_phone(cust.get("phone"), country) is None:
                raise InvalidInput(f"{cust['name']} has no valid mobile number on file "
                                   f"({cust.get('phone') or 'none'}), so {preferred_channel} "
                                   "can't be their channel.")
            if preferred_channel == Channel.EMAIL and not email_addresses(cust.get("email")):
                raise InvalidInput(f"{cust['name']} has no email address on file.")
            changes["preferred_channel"] = preferred_channel
        if opted_out is not None and bool(opted_out) != bool(cust["notifications_opt_out"]):
            changes["notifications_opt_out"] = bool(opted_out)
            changes["opted_out_at"] = at if opted_out else None
        if not changes:
            return {}
        outbox.update_customer_preferences(uow.con, customer_id, changes)
        repo.append_audit(uow.con, actor=actor.name, action="customer.preferences",
                          entity="customer", entity_id=customer_id,
                          before={k: cust.get(k) for k in changes}, after=changes, at=at)
        uow.commit()
    return changes


# --- preview ---------------------------------------------------------------------------------

def preview(con, stage: str, job_id: int, template: MessageTemplate | None = None
            ) -> RenderedMessage:
    """The message `template` (default: the one in use) would give for a real job, written
    nowhere. Renders strictly: raises `TemplateInvalid` with the part, line and reason, and
    `NotFound` for an unknown job."""
    _check_stage(stage)
    job = repo.get_job(con, job_id)
    settings = notify_settings(con)
    customer = outbox.customer(con, job.get("customer_id"))
    context = template_context(job=job, customer=customer, settings=settings, stage=stage)
    return render(template or template_for(con, stage), context, strict=True)
