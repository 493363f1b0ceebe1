"""The Customer messages and Message templates pages under AppTest, on a real database file
per test (ATELIER_DB), signed in through session_state["staff_id"]. The app's own background
dispatcher runs meanwhile, writing .eml files beside the test's database."""

from __future__ import annotations

import json
import time

import pytest

from tests.pages.support import (
    BEN,
    MANAGER,
    AppTest,
    Shop,
    button,
    new_app,
    open_page,
    run_ok,
    values,
)
from workflow import notification_services as notify
from workflow import services
from workflow.model import Role
from workflow.notifications import PermanentDeliveryError

MESSAGES, TEMPLATES = "pages/notifications.py", "pages/notification_settings.py"


class Refusing:
    """A provider that refuses every message (as SendGrid does an unverified sender)."""

    name, local, channels = "sendgrid", False, ("email",)

    def send(self, message):
        raise PermanentDeliveryError("The sender address shop@example.com is not verified "
                                     "with SendGrid (403).")


def hire(shop: Shop) -> Shop:
    for name, role in ((MANAGER, Role.MANAGER), (BEN, Role.BENCH_JEWELER)):
        shop.call(services.add_staff, name, role)
    return shop


@pytest.fixture
def shop(empty_shop, monkeypatch) -> Shop:
    """Mara (manager) and Ben (bench jeweler), with the app's dispatcher running (the page
    fixtures switch it off for the other pages' tests)."""
    monkeypatch.delenv("ATELIER_DISPATCHER", raising=False)
    return hire(empty_shop)


def signed_in(shop: Shop, page: str, who: str = MANAGER) -> AppTest:
    return open_page(run_ok(new_app(shop.staff_id(who))), page)


def outbox(shop: Shop, job_number: str) -> list[dict]:
    with shop.cursor() as cur:
        res = cur.execute("""SELECT m.* FROM notification_outbox m JOIN jobs j ON j.id = m.job_id
                             WHERE j.job_number = ? ORDER BY m.id""", [job_number])
        names = [d[0] for d in res.description]
        return [dict(zip(names, r, strict=True)) for r in res.fetchall()]


def failed_message(shop: Shop) -> tuple[str, int]:
    """A job whose design message SendGrid refused (made before the app, and so its
    dispatcher, starts)."""
    number = shop.walk_in()
    shop.change(number, "start_design")
    with shop.cursor() as cur:
        notify.Dispatcher(cur, {"email": Refusing()}).drain()
    (row,) = outbox(shop, number)
    assert row["status"] == "failed"
    return number, int(row["id"])


def wait_for(check, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


# --- Customer messages ------------------------------------------------------------------------

def test_the_messages_page_lists_every_message_with_what_happened_to_it(shop):
    number, outbox_id = failed_message(shop)
    at = signed_in(shop, MESSAGES)
    assert values(at.title) == ["Customer messages"]
    assert {m.label: m.value for m in at.metric}["Failed"] == "1"
    assert any(".eml files in" in c for c in values(at.caption))

    table = at.dataframe[0].value
    assert list(table.columns) == ["id", "when", "job_number", "customer", "channel", "to",
                                   "stage", "status", "attempts", "provider_message_id",
                                   "last_error", "sent"]
    first = table.iloc[0]
    assert (first["id"], first["job_number"], first["customer"], first["channel"],
            first["to"], first["stage"], first["status"], first["attempts"]) == (
        outbox_id, number, "Jordan Lee", "Email", "jordan.lee@example.com",
        "Design consultation", "Failed", 1)
    assert first["last_error"].startswith("The sender address shop@example.com is not "
                                          "verified with SendGrid")


def test_filters_narrow_the_list(shop):
    failed_message(shop)
    at = signed_in(shop, MESSAGES)
    at.multiselect(key="msg_status").set_value(["sent"]).run()
    assert not at.dataframe and "No messages match." in values(at.info)
    at.multiselect(key="msg_status").set_value(["failed"]).run()
    assert len(at.dataframe[0].value) == 1
    at.multiselect(key="msg_status").set_value([])
    at.text_input(key="msg_search").input("nobody-like-this").run()
    assert "No messages match." in values(at.info)


def test_staff_retry_a_failed_message_and_the_app_delivers_it(shop):
    number, outbox_id = failed_message(shop)
    at = signed_in(shop, MESSAGES, who=BEN)
    at.selectbox(key="msg_open").set_value(outbox_id).run()
    assert any("not verified with SendGrid" in e for e in values(at.error))
    at.button(key=f"retry_{outbox_id}").click().run()
    assert values(at.success) == [f"Message #{outbox_id} queued again."]
    assert wait_for(lambda: outbox(shop, number)[0]["status"] == "delivered_locally")
    assert shop.rows("SELECT actor, action FROM audit_log WHERE action LIKE 'message.%'") == [
        (BEN, "message.retry")]
    assert len(list((shop.path.parent / "outbox").glob("*.eml"))) == 1


def test_staff_cancel_a_failed_message_with_a_reason(shop):
    number, outbox_id = failed_message(shop)
    at = signed_in(shop, MESSAGES)
    at.selectbox(key="msg_open").set_value(outbox_id).run()
    at.text_input(key=f"cancel_reason_{outbox_id}").input("told them at the counter")
    button(at, "Cancel this message").click().run()
    assert values(at.success) == [f"Message #{outbox_id} cancelled."]
    row = outbox(shop, number)[0]
    assert (row["status"], row["last_error"]) == (
        "cancelled", f"Cancelled by {MANAGER}: told them at the counter")
    (after,) = shop.rows("SELECT after FROM audit_log WHERE action = 'message.cancel'")
    assert json.loads(after[0])["reason"] == "told them at the counter"


def test_a_held_message_is_edited_and_sent_from_the_review_queue(shop):
    shop.call(notify.set_stage_switch, "design_consultation", "hold", shop.actor(MANAGER))
    number = shop.walk_in()
    shop.change(number, "start_design")
    (held,) = outbox(shop, number)
    at = signed_in(shop, MESSAGES)
    assert values(at.subheader)[0] == "Held for review (1)"
    assert {m.label: m.value for m in at.metric}["Held for review"] == "1"
    time.sleep(2.5)                                 # the dispatcher runs and leaves it alone
    assert outbox(shop, number)[0]["status"] == "held"

    hid = held["id"]
    assert at.text_input(key=f"held_subject_{hid}").value == held["subject"]
    at.text_input(key=f"held_subject_{hid}").input("Your design has begun, Jordan")
    at.text_area(key=f"held_text_{hid}").input("Hi Jordan,\n\nDev has started sketching.\n")
    button(at, "Send").click().run()
    assert values(at.success) == ["Message to Jordan Lee queued to go out now."]
    assert wait_for(lambda: outbox(shop, number)[0]["status"] == "delivered_locally")
    row = outbox(shop, number)[0]
    assert (row["subject"], row["body_text"]) == ("Your design has begun, Jordan",
                                                  "Hi Jordan,\n\nDev has started sketching.\n")
    assert shop.rows("""SELECT action FROM audit_log WHERE action LIKE 'message.%'
                        ORDER BY id""") == [("message.edit",), ("message.send_held",)]
    assert "Held for review (0)" in values(run_ok(at).subheader)


def test_a_customer_opts_out_on_the_page(shop):
    number = shop.walk_in()
    at = signed_in(shop, MESSAGES)
    at.text_input(key="pref_search").input("jordan").run()
    at.checkbox(key="pref_opt_out").check()
    button(at, "Save preferences").click().run()
    assert values(at.success) == ["Preferences of Jordan Lee saved."]
    assert shop.rows("SELECT notifications_opt_out FROM customers") == [(True,)]
    assert shop.change(number, "start_design").notifications_queued == 0
    assert outbox(shop, number)[0]["status"] == "skipped"


# --- Message templates ------------------------------------------------------------------------

def test_the_templates_page_previews_against_a_real_job_as_it_is_typed(shop):
    shop.walk_in("Halo pendant")
    at = signed_in(shop, TEMPLATES)
    assert values(at.title) == ["Message templates"]
    at.selectbox(key="tpl_stage").set_value("ready").run()
    assert "Your Halo pendant is ready" in [m.value.strip("*") for m in at.markdown]
    at.text_input(key="tpl_subject_ready").input("{{ customer.first_name }}, it's done!").run()
    assert "Jordan, it's done!" in [m.value.strip("*") for m in at.markdown]
    assert shop.count("message_templates") == 0          # a preview saves nothing


def test_a_template_that_does_not_render_is_refused_with_line_and_reason(shop):
    shop.walk_in()
    at = signed_in(shop, TEMPLATES)
    at.text_area(key="tpl_text_design_consultation").input(
        "Hi {{ customer.first_name }},\n\n{% if job.promised_date %}soon\n").run()
    (preview_error,) = values(at.error)
    assert preview_error == ("This template doesn't render: Plain text, line 3: a {% if %} is "
                             "never closed: add {% endif %} where it should end")
    at.button(key="tpl_save").click().run()
    assert values(at.error)[0].startswith("Plain text, line 3: a {% if %} is never closed")
    assert shop.count("message_templates") == 0


def test_a_manager_saves_a_template_and_resets_it(shop):
    shop.walk_in()
    at = signed_in(shop, TEMPLATES)
    at.text_input(key="tpl_subject_design_consultation").input(
        "Sketching your {{ job.piece }}").run()
    at.button(key="tpl_save").click().run()
    assert values(at.success) == ["Template for Design consultation saved."]
    assert shop.rows("SELECT stage, subject, updated_by FROM message_templates") == [
        ("design_consultation", "Sketching your {{ job.piece }}", MANAGER)]
    assert at.selectbox(key="tpl_stage").format_func("design_consultation") == (
        "Design consultation (edited)")
    at.button(key="tpl_reset").click().run()
    assert values(at.success) == ["Design consultation uses the default text again."]
    assert shop.count("message_templates") == 0
    assert at.text_input(key="tpl_subject_design_consultation").value == (
        "We've started designing your {{ job.piece }}")


def test_switches_and_shop_details_are_saved_from_the_page(shop):
    at = signed_in(shop, TEMPLATES)
    at.radio(key="switch_ready").set_value("hold")
    at.radio(key="switch_completed").set_value("off")
    button(at, "Save switches").click().run()
    assert values(at.success) == ["Switches saved."]
    assert dict(shop.rows("SELECT key, value FROM settings WHERE key LIKE 'notify.stage.%'")) \
        == {"notify.stage.ready": "hold", "notify.stage.completed": "off"}

    at.text_input(key="setting_notify.shop_phone").input("555-0199")
    at.text_input(key="setting_notify.country").input("Narnia")
    button(at, "Save details").click().run()
    assert values(at.error) == ["'NARNIA' is not a country code phone numbers know (use two "
                                "letters, e.g. US, GB, DE)."]
    at.text_input(key="setting_notify.country").input("GB")
    button(at, "Save details").click().run()
    assert values(at.success) == ["Details saved."]
    assert dict(shop.rows("""SELECT key, value FROM settings
                             WHERE key IN ('notify.country', 'notify.shop_phone')""")) == {
        "notify.country": "GB", "notify.shop_phone": "555-0199"}


def test_staff_who_are_not_managers_can_look_but_not_change(shop):
    shop.walk_in()
    at = signed_in(shop, TEMPLATES, who=BEN)
    assert values(at.info)[0] == "Only a manager can change these; you can look and preview."
    assert at.button(key="tpl_save").disabled
    assert button(at, "Save switches").disabled and button(at, "Save details").disabled


def test_the_page_says_so_when_the_apps_dispatcher_is_switched_off(empty_shop):
    shop = hire(empty_shop)                    # the page fixtures set ATELIER_DISPATCHER=off
    at = signed_in(shop, MESSAGES)
    assert values(at.warning) == ["The dispatcher is switched off in this app "
                                  "(ATELIER_DISPATCHER=off): queued messages go out only with "
                                  "`python cli.py dispatch`."]
