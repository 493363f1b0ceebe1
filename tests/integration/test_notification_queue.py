"""Customer messages on a real DuckDB file: what a stage change queues (switches, opt-out,
preferred channel, templates), what the dispatcher then does with it (here through the .eml
connector, the default of a shop with no provider), and the staff's actions, all audited."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.eml_file import EmlFileNotifier
from storage import outbox_queries, queries
from workflow import notification_services as notify
from workflow import services
from workflow.errors import InvalidInput
from workflow.notifications import Status, TemplateInvalid


def messages(shop, job_id: int | None = None) -> list[dict]:
    sql = "SELECT * FROM notification_outbox" + (" WHERE job_id = ?" if job_id else "")
    cur = shop.cur.execute(sql + " ORDER BY id", [job_id] if job_id else [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def dispatcher(shop, folder: Path, **kw) -> notify.Dispatcher:
    local = EmlFileNotifier(folder, sender="shop@example.com")
    return notify.Dispatcher(shop.cur, {"email": local, "sms": local, "whatsapp": local}, **kw)


def eml_files(folder: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))]


def switch(shop, stage: str, mode: str) -> None:
    notify.set_stage_switch(shop.uow(), stage, mode, shop.manager)


# --- a stage change, end to end ---------------------------------------------------------------

def test_a_stage_change_queues_one_message_the_dispatcher_delivers_and_the_timeline_shows(
        shop, tmp_path):
    job_id = shop.walk_in("Solitaire ring", customer_name="Jordan Lee",
                          email="jordan@example.com")["job_id"]
    moved = shop.change(job_id, "start_design", shop.designer)
    assert moved.notifications_queued == 1
    (row,) = messages(shop, job_id)
    assert (row["status"], row["channel"], row["recipient_email"], row["stage"]) == (
        "queued", "email", "jordan@example.com", "design_consultation")
    assert row["subject"] == "We've started designing your Solitaire ring"
    assert row["body_text"].startswith("Hi Jordan,\n\nGood news: our designer has started")
    assert row["dedupe_key"] == f"job:{job_id}:v2:design_consultation"

    report = dispatcher(shop, tmp_path / "outbox").drain()
    assert (report.delivered_locally, report.sent, report.failed) == (1, 0, 0)
    (row,) = messages(shop, job_id)
    assert (row["status"], row["attempts"], row["sent_via"], row["provider"]) == (
        "delivered_locally", 1, "email", "eml-file")
    assert row["provider_message_id"].startswith("local:") and row["claimed_by"] is None
    (eml,) = eml_files(tmp_path / "outbox")
    assert eml["To"] == "jordan@example.com"
    assert eml["Subject"] == "We've started designing your Solitaire ring"
    assert eml["X-Atelier-Outbox-Id"] == str(row["id"])
    assert "our designer has started" in eml.get_body(("plain",)).get_content()
    assert "<p>Hi Jordan,</p>" in eml.get_body(("html",)).get_content()

    lines = queries.timeline(shop.cur, job_id)
    told = lines[lines["kind"] == "message"]
    assert list(told["text"]) == [
        "Message written as a local file to jordan@example.com (Design consultation): "
        f"{row['provider_message_id']}",
        "Message to the customer queued (Design consultation, by email)"]


def test_nothing_is_sent_twice_by_running_the_dispatcher_again(shop, tmp_path):
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    d = dispatcher(shop, tmp_path / "outbox")
    assert d.drain().delivered_locally == 1
    assert d.drain().claimed == 0
    assert len(eml_files(tmp_path / "outbox")) == 1


def test_hand_over_and_cancel_tell_the_customer_too(shop):
    done = shop.walk_in("Wedding band", design_needed=False)["job_id"]
    shop.change(done, "start_production", shop.ben)
    shop.drive(done, "completed")
    stages = [(m["stage"], m["status"]) for m in messages(shop, done)]
    assert stages == [("in_production", "queued"), ("ready", "queued"),
                      ("completed", "queued")]
    completed = messages(shop, done)[-1]
    assert completed["subject"] == "Thank you from Atelier workshop"

    dropped = shop.walk_in("Pendant")["job_id"]
    moved = shop.change(dropped, "cancel", shop.manager, reason="Customer changed their mind")
    assert moved.notifications_queued == 1
    (cancelled,) = messages(shop, dropped)
    # A cancellation is held for staff to look at first (the shop's default switch).
    assert (cancelled["stage"], cancelled["status"]) == ("cancelled", "held")
    assert "has been cancelled" in cancelled["body_text"]


def test_a_job_resumed_from_hold_does_not_tell_the_customer_again(shop):
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    shop.change(job_id, "hold", shop.manager)
    shop.change(job_id, "resume", shop.manager)
    assert [m["stage"] for m in messages(shop, job_id)] == ["design_consultation"]


# --- switches ---------------------------------------------------------------------------------

def test_a_stage_switched_off_queues_nothing(shop):
    switch(shop, "design_consultation", "off")
    job_id = shop.walk_in()["job_id"]
    assert shop.change(job_id, "start_design", shop.designer).notifications_queued == 0
    assert messages(shop, job_id) == []


def test_a_held_message_is_edited_and_sent_by_staff_and_both_are_audited(shop, tmp_path):
    switch(shop, "ready", "hold")
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "ready")
    held = messages(shop, job_id)[-1]
    assert (held["stage"], held["status"]) == ("ready", "held")
    d = dispatcher(shop, tmp_path / "outbox")
    d.drain()
    assert messages(shop, job_id)[-1]["status"] == "held"        # the dispatcher leaves it

    edited = notify.edit_held_message(
        shop.uow(), held["id"], shop.bea, subject="Your ring is ready, Jordan",
        text="Hi Jordan,\n\nIt's ready & polished. Come by after 2pm.\n", send=True)
    assert edited is True
    row = messages(shop, job_id)[-1]
    assert (row["status"], row["subject"]) == ("queued", "Your ring is ready, Jordan")
    assert row["body_html"] == ("<p>Hi Jordan,</p>\n<p>It&#39;s ready &amp; polished. Come by "
                                "after 2pm.</p>\n")
    d.drain()
    assert messages(shop, job_id)[-1]["status"] == "delivered_locally"
    (eml,) = [e for e in eml_files(tmp_path / "outbox") if e["Subject"].startswith("Your ring")]
    assert "Come by after 2pm" in eml.get_body(("plain",)).get_content()

    audit = shop.rows("""SELECT actor, action, entity, entity_id, before, after FROM audit_log
                         WHERE action LIKE 'message.%' ORDER BY id""")
    assert [(a, act, e, i) for a, act, e, i, _, _ in audit] == [
        ("Bea Lind", "message.edit", "job", job_id),
        ("Bea Lind", "message.send_held", "job", job_id)]
    before, after = json.loads(audit[0][4]), json.loads(audit[0][5])
    assert before["subject"] == "Your Solitaire ring is ready"
    assert after["subject"] == "Your ring is ready, Jordan" and after["outbox_id"] == held["id"]


def test_only_a_held_message_can_be_edited_from_the_review_queue(shop):
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    (row,) = messages(shop, job_id)
    with pytest.raises(InvalidInput, match=f"Message {row['id']} is queued; it can't be "
                                           "edited or sent from the review queue"):
        notify.edit_held_message(shop.uow(), row["id"], shop.manager, subject="x", send=True)


def test_only_a_manager_changes_switches_and_the_values_are_checked(shop):
    with pytest.raises(InvalidInput, match="Only a manager"):
        notify.set_stage_switch(shop.uow(), "ready", "hold", shop.ben)
    with pytest.raises(InvalidInput, match="'sometimes' is not one of: auto, hold, off"):
        notify.set_stage_switch(shop.uow(), "ready", "sometimes", shop.manager)
    with pytest.raises(InvalidInput, match="stage 'quality_check'"):
        notify.set_stage_switch(shop.uow(), "quality_check", "auto", shop.manager)
    with pytest.raises(InvalidInput, match="'XX' is not a country code"):
        notify.save_notification_settings(shop.uow(), {"notify.country": "xx"}, shop.manager)
    with pytest.raises(InvalidInput, match="review link must start with https"):
        notify.save_notification_settings(shop.uow(), {"notify.approval_url": "shop/x"},
                                          shop.manager)
    with pytest.raises(InvalidInput, match="only use {job_number}"):
        notify.save_notification_settings(
            shop.uow(), {"notify.approval_url": "https://x/{order}"}, shop.manager)
    changed = notify.save_notification_settings(
        shop.uow(), {"notify.country": "gb", "notify.max_attempts": "4"}, shop.manager)
    assert changed == {"notify.country": "GB", "notify.max_attempts": "4"}
    assert outbox_queries.notification_settings(shop.cur)["notify.country"] == "GB"
    assert shop.rows("SELECT actor, action FROM audit_log WHERE action LIKE 'settings.%'") == [
        ("Mara Quinn", "settings.notifications")]


# --- the customer's wishes --------------------------------------------------------------------

def test_an_opted_out_customer_gets_only_the_design_review(shop):
    order = shop.walk_in()
    notify.set_customer_preferences(shop.uow(), order["customer_id"], shop.manager,
                                    opted_out=True)
    job_id = order["job_id"]
    shop.drive(job_id, "in_production")
    rows = [(m["stage"], m["status"], m["note"]) for m in messages(shop, job_id)]
    assert rows == [
        ("design_consultation", "skipped", "Not sent: the customer asked not to get updates."),
        ("awaiting_approval", "queued", "Sent although the customer opted out of updates: a "
                                        "design review can't go on without them."),
        ("in_production", "skipped", "Not sent: the customer asked not to get updates."),
    ]
    audit = shop.rows("""SELECT action, entity, after FROM audit_log
                         WHERE action = 'customer.preferences'""")
    assert audit[0][:2] == ("customer.preferences", "customer")
    assert json.loads(audit[0][2])["notifications_opt_out"] is True


def test_an_opt_out_is_honoured_from_the_next_message_on_even_if_already_queued(shop, tmp_path):
    order = shop.walk_in()
    shop.change(order["job_id"], "start_design", shop.designer)      # queued before opting out
    notify.set_customer_preferences(shop.uow(), order["customer_id"], shop.manager,
                                    opted_out=True)
    report = dispatcher(shop, tmp_path / "outbox").drain()
    assert (report.cancelled, report.delivered_locally) == (1, 0)
    (row,) = messages(shop, order["job_id"])
    assert (row["status"], row["last_error"]) == (
        "cancelled", "Not sent: the customer asked not to get updates.")
    assert eml_files(tmp_path / "outbox") == []


def test_a_customer_who_prefers_sms_gets_it_on_their_e164_number(shop):
    result = services.create_walk_in_order(
        shop.uow(), shop.manager, customer_name="Priya Nair", email="priya@example.com",
        phone="(202) 555-0143", preferred_channel="sms",
        jobs=[services.NewJob("Signet ring")])
    shop.change(result["job_ids"][0], "start_design", shop.designer)
    (row,) = messages(shop, result["job_ids"][0])
    assert (row["channel"], row["recipient_phone"], row["note"]) == ("sms", "+12025550143", None)
    assert row["body_sms"] == ("Atelier workshop: Hi Priya, our designer has started on your "
                               "Signet ring. Sketches will follow soon.")


def test_sms_without_a_valid_mobile_number_falls_back_to_email_and_says_why(shop):
    result = services.create_walk_in_order(
        shop.uow(), shop.manager, customer_name="Sam Ode", email="sam@example.com",
        phone="12", preferred_channel="sms", jobs=[services.NewJob("Cuff")])
    shop.change(result["job_ids"][0], "start_design", shop.designer)
    (row,) = messages(shop, result["job_ids"][0])
    assert (row["channel"], row["recipient_email"]) == ("email", "sam@example.com")
    assert row["note"] == "by email instead of sms: the phone number '12' isn't a valid number."


def test_a_customer_with_nowhere_to_send_is_recorded_as_not_sent(shop):
    result = services.create_walk_in_order(
        shop.uow(), shop.manager, customer_name="Walk-in", phone="12", preferred_channel="phone",
        jobs=[services.NewJob("Repair")])
    moved = shop.change(result["job_ids"][0], "start_design", shop.designer)
    assert moved.notifications_queued == 0
    (row,) = messages(shop, result["job_ids"][0])
    assert (row["status"], row["note"]) == (
        "skipped", "Not sent: no email address or mobile number on file.")


def test_preferences_are_checked_against_the_customers_contact_details(shop):
    order = shop.walk_in()
    with pytest.raises(InvalidInput, match="no valid mobile number on file"):
        notify.set_customer_preferences(shop.uow(), order["customer_id"], shop.manager,
                                        preferred_channel="whatsapp")
    assert notify.set_customer_preferences(shop.uow(), order["customer_id"], shop.manager,
                                           opted_out=False) == {}


# --- templates --------------------------------------------------------------------------------

def test_a_saved_template_is_used_for_the_next_message_and_audited(shop):
    notify.save_template(shop.uow(), "design_consultation", shop.manager,
                         subject="{{ customer.first_name }}, sketching has begun!",
                         text="Dear {{ customer.first_name }},\nsketches soon.\n",
                         html="<p>Dear {{ customer.first_name }}</p>",
                         sms="Sketches soon, {{ customer.first_name }}")
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    (row,) = messages(shop, job_id)
    assert (row["subject"], row["body_text"], row["body_sms"]) == (
        "Jordan, sketching has begun!", "Dear Jordan,\nsketches soon.\n",
        "Sketches soon, Jordan")
    assert json.loads(row["payload"])["switch"] == "auto"
    edited = outbox_queries.templates(shop.cur)["design_consultation"]
    assert edited.edited and edited.subject.startswith("{{ customer.first_name }}")
    assert shop.rows("SELECT actor, action, entity FROM audit_log WHERE action LIKE 'template%'"
                     ) == [("Mara Quinn", "template.save", "message_template")]

    assert notify.reset_template(shop.uow(), "design_consultation", shop.manager) is True
    assert not outbox_queries.templates(shop.cur)["design_consultation"].edited
    assert notify.reset_template(shop.uow(), "design_consultation", shop.manager) is False


def test_a_template_that_does_not_render_is_refused_with_line_and_reason(shop):
    with pytest.raises(TemplateInvalid, match=r"^Plain text, line 2: there is no field 'custmer'"):
        notify.save_template(shop.uow(), "ready", shop.manager, subject="Ready",
                             text="Hi\n{{ custmer.first_name }}\n", html="<p>x</p>", sms="x")
    assert shop.count("message_templates") == 0
    with pytest.raises(InvalidInput, match="Only a manager"):
        notify.save_template(shop.uow(), "ready", shop.ben, subject="x", text="x", html="x",
                             sms="x")


def test_a_template_failing_on_one_jobs_values_falls_back_to_the_default_text(shop):
    # Renders for the sample job (karat "18K"), divides by zero for a job without a karat.
    notify.save_template(shop.uow(), "design_consultation", shop.manager, subject="Hi",
                         text="{{ 10 // (job.karat | length) }}", html="<p>x</p>", sms="x")
    job_id = shop.walk_in()["job_id"]
    assert shop.change(job_id, "start_design", shop.designer).notifications_queued == 1
    (row,) = messages(shop, job_id)
    assert row["subject"] == "We've started designing your Solitaire ring"
    assert row["note"].startswith("The shop's template didn't render for this job "
                                  "(Plain text, line 1: it can't be filled in (integer "
                                  "division or modulo by zero))")
    assert row["note"].endswith("the default text was used.")


def test_preview_renders_a_draft_against_a_real_job_and_writes_nothing(shop):
    job_id = shop.walk_in("Halo pendant")["job_id"]
    before = shop.count("notification_outbox"), shop.count("audit_log")
    draft = notify.template_for(shop.cur, "ready")
    shown = notify.preview(shop.cur, "ready", job_id, draft)
    assert shown.subject == "Your Halo pendant is ready"
    with pytest.raises(TemplateInvalid, match="line 1"):
        notify.preview(shop.cur, "ready", job_id,
                       type(draft)("ready", "{{ job.nope }}", "x", "x", "x"))
    assert (shop.count("notification_outbox"), shop.count("audit_log")) == before


# --- staff: retry and cancel ------------------------------------------------------------------

def test_staff_retry_a_failed_message_with_fresh_attempts_and_cancel_a_queued_one(shop,
                                                                                   tmp_path):
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    (row,) = messages(shop, job_id)

    class Refusing:
        name, local, channels = "refusing", False, ("email",)

        def send(self, message):
            from workflow.notifications import PermanentDeliveryError
            raise PermanentDeliveryError("The sender address is not verified.")

    notify.Dispatcher(shop.cur, {"email": Refusing()}).drain()
    failed = messages(shop, job_id)[0]
    assert (failed["status"], failed["attempts"], failed["last_error"]) == (
        "failed", 1, "The sender address is not verified.")
    with pytest.raises(InvalidInput, match="is failed; it can't be cancelled|can't be edited"):
        notify.edit_held_message(shop.uow(), row["id"], shop.manager, subject="x")

    notify.retry_message(shop.uow(), row["id"], shop.manager)
    again = messages(shop, job_id)[0]
    assert (again["status"], again["attempts"], again["attempts_at_retry"]) == ("queued", 1, 1)
    dispatcher(shop, tmp_path / "outbox").drain()
    assert messages(shop, job_id)[0]["status"] == "delivered_locally"
    with pytest.raises(InvalidInput, match="is delivered locally; it can't be retried"):
        notify.retry_message(shop.uow(), row["id"], shop.manager)
    with pytest.raises(InvalidInput, match="it can't be cancelled"):
        notify.cancel_message(shop.uow(), row["id"], shop.manager)

    shop.change(job_id, "hold", shop.manager)
    shop.change(job_id, "cancel", shop.manager, reason="Customer moved away")
    held = messages(shop, job_id)[-1]
    notify.cancel_message(shop.uow(), held["id"], shop.ben, reason="we'll call them instead")
    cancelled = messages(shop, job_id)[-1]
    assert (cancelled["status"], cancelled["last_error"]) == (
        "cancelled", "Cancelled by Ben Ortiz: we'll call them instead")
    assert shop.rows("""SELECT actor, action FROM audit_log WHERE action LIKE 'message.%'
                        ORDER BY id""") == [("Mara Quinn", "message.retry"),
                                            ("Ben Ortiz", "message.cancel")]
    lines = queries.timeline(shop.cur, job_id)
    staff = lines[(lines["kind"] == "message") & (lines["actor"] != "Atelier")]
    assert list(zip(staff["actor"], staff["text"], strict=True)) == [
        ("Ben Ortiz", f"Message #{held['id']} cancelled: we'll call them instead"),
        ("Mara Quinn", f"Message #{row['id']} queued again")]
    assert "Message not sent (Cancelled): Cancelled by Ben Ortiz: we'll call them instead" in \
        list(lines["text"])


def test_a_message_being_sent_right_now_cannot_be_cancelled(shop):
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    (row,) = messages(shop, job_id)
    now = datetime.now(UTC)
    with shop.uow() as uow:
        from storage import outbox_repository
        assert outbox_repository.claim_due(uow.con, "other:1:x", now, now + timedelta(
            minutes=5), 10) == [row["id"]]
        uow.commit()
    with pytest.raises(InvalidInput, match="is being sent right now"):
        notify.cancel_message(shop.uow(), row["id"], shop.manager)


def test_a_message_queued_too_long_ago_is_not_sent(shop, tmp_path):
    job_id = shop.walk_in()["job_id"]
    long_ago = datetime.now(UTC) - timedelta(days=30)
    services.change_stage(shop.uow(), job_id, "start_design", shop.designer, now=long_ago)
    report = dispatcher(shop, tmp_path / "outbox").drain()
    assert (report.cancelled, report.delivered_locally) == (1, 0)
    (row,) = messages(shop, job_id)
    assert row["status"] == "cancelled"
    assert row["last_error"].startswith("Not sent: it waited more than 7 days")
    notify.retry_message(shop.uow(), row["id"], shop.manager)     # staff can still send it
    dispatcher(shop, tmp_path / "outbox").drain()
    assert messages(shop, job_id)[0]["status"] == "delivered_locally"


def test_a_row_queued_before_messages_were_stored_rendered_is_rendered_when_sent(shop,
                                                                                 tmp_path):
    job_id = shop.walk_in()["job_id"]
    # As the core wrote them before migration 3: key, job, channel, stage and payload only.
    shop.cur.execute("""INSERT INTO notification_outbox (dedupe_key, job_id, channel, stage,
                            payload, created_at) VALUES ('legacy-1', ?, 'email', 'ready', '{}',
                            now())""", [job_id])
    report = dispatcher(shop, tmp_path / "outbox").drain()
    assert report.delivered_locally == 1
    (row,) = messages(shop, job_id)
    assert (row["subject"], row["recipient_email"]) == ("Your Solitaire ring is ready",
                                                        "jordan@example.com")
    assert Status.LABELS[row["status"]] == "Delivered locally"


def test_a_message_the_piece_has_moved_past_is_not_sent_but_staff_can_still_send_it(
        shop, tmp_path):
    # Approved and in production before the dispatcher ran: "your design awaits approval" would
    # only confuse; the newest message goes out, the older ones are closed with the reason.
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    shop.drive(job_id, "in_production")
    stages = [m["stage"] for m in messages(shop, job_id)]
    assert stages == ["design_consultation", "awaiting_approval", "in_production"]
    report = dispatcher(shop, tmp_path / "outbox").drain()
    assert (report.cancelled, report.delivered_locally) == (2, 1)
    rows = {m["stage"]: m for m in messages(shop, job_id)}
    assert rows["in_production"]["status"] == "delivered_locally"
    for stage in ("design_consultation", "awaiting_approval"):
        assert rows[stage]["status"] == "cancelled"
        assert rows[stage]["last_error"] == (
            "Not sent: the piece had moved on before it went out; the newer message (In "
            "production) tells the customer where it is (retry it to send it anyway).")
    assert [e["Subject"] for e in eml_files(tmp_path / "outbox")] == [
        rows["in_production"]["subject"]]

    notify.retry_message(shop.uow(), rows["awaiting_approval"]["id"], shop.manager)
    assert dispatcher(shop, tmp_path / "outbox").drain().delivered_locally == 1
    assert [m["status"] for m in messages(shop, job_id)] == [
        "cancelled", "delivered_locally", "delivered_locally"]


def test_a_message_the_piece_has_moved_past_is_not_sent_with_that_stages_messages_off(
        shop, tmp_path):
    switch(shop, "in_production", "off")
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    shop.drive(job_id, "in_production")
    # no newer message was written, but the job is past approval: nothing stale goes out
    report = dispatcher(shop, tmp_path / "outbox").drain()
    assert (report.cancelled, report.delivered_locally) == (2, 0)
    rows = messages(shop, job_id)
    assert [(m["stage"], m["status"]) for m in rows] == [
        ("design_consultation", "cancelled"), ("awaiting_approval", "cancelled")]
    assert rows[1]["last_error"] == ("Not sent: the piece had moved on to In production "
                                     "before it went out (retry it to send it anyway).")
    notify.retry_message(shop.uow(), rows[1]["id"], shop.manager)
    assert dispatcher(shop, tmp_path / "outbox").drain().delivered_locally == 1


def test_a_job_on_hold_or_in_quality_check_still_gets_its_message(shop, tmp_path):
    held = shop.walk_in("Signet ring")["job_id"]
    shop.change(held, "start_design", shop.designer)
    shop.change(held, "hold", shop.manager, reason="Waiting for the stone")
    checked = shop.walk_in("Band", design_needed=False)["job_id"]
    shop.change(checked, "start_production", shop.ben)
    shop.drive(checked, "quality_check")
    report = dispatcher(shop, tmp_path / "outbox").drain()
    assert (report.cancelled, report.delivered_locally) == (0, 2)
