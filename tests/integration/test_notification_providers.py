"""The real `sendgrid` and `twilio` clients against a loopback server that speaks SendGrid's
v3 `POST /v3/mail/send` and Twilio's Messages endpoint: every answer a provider gives ends in
the right outcome on the outbox row, with the right number of attempts (GUIDE.md §6).

Retries are immediate here (`RetryPolicy(base_seconds=0)`) so the attempt limit is reached in
one `drain()`; the backoff itself is tested in tests/unit. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from connectors.sendgrid_email import SendGridNotifier
from connectors.twilio_sms import TwilioNotifier
from tests.integration.notification_stubs import (
    ProviderStub,
    Reply,
    refused_url,
    sendgrid_error,
    twilio_error,
)
from workflow import notification_services as notify
from workflow import services
from workflow.notifications import RetryPolicy

TWILIO_SID = "AC" + "0" * 32
SMS_FROM = "+15005550006"
MOBILE = "(202) 555-0143"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Loopback only: no proxy from the environment may take these requests elsewhere."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def row(shop, outbox_id: int) -> dict:
    cur = shop.cur.execute("SELECT * FROM notification_outbox WHERE id = ?", [outbox_id])
    return dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))


def queue_email(shop, email: str = "jordan@example.com") -> int:
    job_id = shop.walk_in(email=email)["job_id"]
    shop.change(job_id, "start_design", shop.designer)
    return int(shop.rows("SELECT max(id) FROM notification_outbox")[0][0])


def queue_text(shop, channel: str = "sms") -> int:
    result = services.create_walk_in_order(
        shop.uow(), shop.manager, customer_name="Priya Nair", email="", phone=MOBILE,
        preferred_channel=channel, jobs=[services.NewJob("Signet ring")])
    shop.change(result["job_ids"][0], "start_design", shop.designer)
    return int(shop.rows("SELECT max(id) FROM notification_outbox")[0][0])


def sendgrid(url: str, timeout: float = 2.0) -> SendGridNotifier:
    return SendGridNotifier("SG.test-key", "studio@example.com", sender_name="Quinn Studio",
                            host=url, timeout=timeout)


def twilio(url: str, timeout: float = 2.0) -> TwilioNotifier:
    return TwilioNotifier(TWILIO_SID, "test-token", sms_from=SMS_FROM,
                          whatsapp_from="+14155238886", base_url=url, timeout=timeout)


def dispatcher(shop, notifiers: dict, max_attempts: int = 3, **kw) -> notify.Dispatcher:
    return notify.Dispatcher(shop.cur, notifiers, max_attempts=max_attempts,
                             policy=RetryPolicy(base_seconds=0), **kw)


# --- SendGrid ---------------------------------------------------------------------------------

def test_sendgrid_202_marks_the_message_sent_with_its_message_id(shop):
    notify.save_notification_settings(shop.uow(), {"notify.shop_email": "hello@quinn.example"},
                                      shop.manager)
    outbox_id = queue_email(shop)
    with ProviderStub() as stub:
        report = dispatcher(shop, {"email": sendgrid(stub.url)}).drain()
    assert (report.sent, report.failed) == (1, 0)
    sent = row(shop, outbox_id)
    assert (sent["status"], sent["attempts"], sent["provider"], sent["provider_message_id"]) == (
        "sent", 1, "sendgrid", "sg-000001")
    (request,) = stub.requests
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == "Bearer SG.test-key"
    body = request.body
    assert body["from"] == {"email": "studio@example.com", "name": "Quinn Studio"}
    assert body["personalizations"] == [{"to": [{"email": "jordan@example.com"}]}]
    assert body["subject"] == "We've started designing your Solitaire ring"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["reply_to"] == {"email": "hello@quinn.example"}      # replies reach the shop
    assert body["custom_args"] == {"atelier_outbox_id": str(outbox_id),
                                   "atelier_key": sent["dedupe_key"]}


def test_two_addresses_go_as_separate_personalizations(shop):
    queue_email(shop, email="ann@example.com, bo@example.com")
    with ProviderStub() as stub:
        dispatcher(shop, {"email": sendgrid(stub.url)}).drain()
    # One personalization each (is_multiple): neither sees the other's address.
    assert sorted(stub.requests[0].body["personalizations"], key=str) == [
        {"to": [{"email": "ann@example.com"}]}, {"to": [{"email": "bo@example.com"}]}]


@pytest.mark.parametrize(("plan", "status", "attempts", "requests", "error"), [
    ([Reply(400, sendgrid_error("Does not contain a valid address.",
                                "personalizations.0.to.0.email"))],
     "failed", 1, 1, "SendGrid rejected the message (400): Does not contain a valid address. "
                     "Check the customer's email address and the template."),
    ([Reply(401, sendgrid_error("The provided authorization grant is invalid, expired, or "
                                "revoked"))],
     "failed", 1, 1, "SendGrid refused the API key (401): check SENDGRID_API_KEY."),
    ([Reply(403, sendgrid_error("The from address does not match a verified Sender Identity. "
                                "Mail cannot be sent until this error is resolved.", "from"))],
     "failed", 1, 1, "The sender address studio@example.com is not verified with SendGrid "
                     "(403)"),
    ([Reply(403, sendgrid_error("access forbidden"))],
     "failed", 1, 1, "SendGrid refused the request (403): the API key may lack the Mail Send "
                     "permission. SendGrid said: access forbidden"),
    ([Reply(500, sendgrid_error("internal"))] * 3,
     "failed", 3, 3, "SendGrid had a problem on its side (500): internal. (gave up after 3 "
                     "attempts)"),
    ([Reply(503), Reply(500)], "sent", 3, 3, None),
    ([Reply(delay=1.5)] * 3, "failed", 3, 3, "SendGrid didn't answer within 0.4 s"),
])
def test_sendgrid_answers_end_in_the_right_outcome_and_attempt_count(shop, plan, status,
                                                                     attempts, requests, error):
    outbox_id = queue_email(shop)
    with ProviderStub(plan=list(plan)) as stub:
        dispatcher(shop, {"email": sendgrid(stub.url, timeout=0.4)}).drain()
        arrived = len(stub.requests)
    done = row(shop, outbox_id)
    assert (done["status"], done["attempts"], arrived) == (status, attempts, requests)
    if error is None:
        assert done["last_error"] is None and done["provider_message_id"].startswith("sg-")
    else:
        assert done["last_error"].startswith(error), done["last_error"]
        assert done["sent_at"] is None


def test_sendgrid_unreachable_is_retried_then_failed(shop):
    outbox_id = queue_email(shop)
    dispatcher(shop, {"email": sendgrid(refused_url())}, max_attempts=2).drain()
    done = row(shop, outbox_id)
    assert (done["status"], done["attempts"]) == ("failed", 2)
    assert done["last_error"].startswith("Couldn't reach SendGrid: [Errno 111] Connection "
                                         "refused.")
    assert done["last_error"].endswith("(gave up after 2 attempts)")


def test_a_retryable_failure_waits_with_backoff_before_the_next_try(shop):
    outbox_id = queue_email(shop)
    now = datetime.now(UTC)
    with ProviderStub(plan=[Reply(500)]) as stub:
        d = notify.Dispatcher(shop.cur, {"email": sendgrid(stub.url)}, max_attempts=5,
                              policy=RetryPolicy(base_seconds=30), clock=lambda: now)
        report = d.drain()
        assert (report.retrying, len(stub.requests)) == (1, 1)
        waiting = row(shop, outbox_id)
        assert (waiting["status"], waiting["attempts"]) == ("queued", 1)
        assert timedelta(seconds=15) <= waiting["next_attempt_at"] - now <= timedelta(seconds=30)
        assert d.drain().claimed == 0 and len(stub.requests) == 1      # not due yet
        later = notify.Dispatcher(shop.cur, {"email": sendgrid(stub.url)},
                                  clock=lambda: now + timedelta(seconds=31))
        assert later.drain().sent == 1
    assert (row(shop, outbox_id)["status"], row(shop, outbox_id)["attempts"]) == ("sent", 2)


def test_sendgrid_429_pauses_sending_until_its_rate_limit_reset(shop):
    first, second = queue_email(shop), queue_email(shop, email="sam@example.com")
    reset = int(time.time()) + 120
    with ProviderStub(plan=[Reply(429, sendgrid_error("too many requests"),
                                  {"X-RateLimit-Reset": str(reset)})]) as stub:
        report = dispatcher(shop, {"email": sendgrid(stub.url)}).drain()
        assert report.rate_limited_until == datetime.fromtimestamp(reset, UTC)
        assert (len(stub.requests), report.retrying, report.released) == (1, 1, 1)
        for outbox_id, attempts in ((first, 1), (second, 0)):
            waiting = row(shop, outbox_id)
            assert (waiting["status"], waiting["attempts"]) == ("queued", attempts)
            assert waiting["next_attempt_at"] == datetime.fromtimestamp(reset, UTC)
        assert row(shop, first)["last_error"].startswith("SendGrid is limiting how fast we "
                                                         "send (429)")
        assert dispatcher(shop, {"email": sendgrid(stub.url)}).drain().claimed == 0
        after_reset = dispatcher(shop, {"email": sendgrid(stub.url)},
                                 clock=lambda: datetime.fromtimestamp(reset + 1, UTC))
        assert after_reset.drain().sent == 2
    assert [(row(shop, i)["status"], row(shop, i)["attempts"]) for i in (first, second)] == [
        ("sent", 2), ("sent", 1)]


# --- Twilio -------------------------------------------------------------------------------------

def test_twilio_201_marks_the_sms_sent_with_its_sid(shop):
    outbox_id = queue_text(shop)
    with ProviderStub() as stub:
        report = dispatcher(shop, {"sms": twilio(stub.url)}).drain()
    assert report.sent == 1
    done = row(shop, outbox_id)
    assert (done["status"], done["attempts"], done["sent_via"], done["provider"]) == (
        "sent", 1, "sms", "twilio")
    assert done["provider_message_id"] == "SM" + "1".zfill(32)
    (request,) = stub.twilio_requests()
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.body == {"To": "+12025550143", "From": SMS_FROM, "Body": done["body_sms"]}
    assert request.headers["Authorization"].startswith("Basic ")


def test_twilio_whatsapp_goes_with_the_whatsapp_prefix(shop):
    queue_text(shop, channel="whatsapp")
    with ProviderStub() as stub:
        assert dispatcher(shop, {"whatsapp": twilio(stub.url)}).drain().sent == 1
    (request,) = stub.twilio_requests()
    assert (request.body["To"], request.body["From"]) == ("whatsapp:+12025550143",
                                                           "whatsapp:+14155238886")


@pytest.mark.parametrize(("plan", "status", "attempts", "requests", "error"), [
    ([Reply(400, twilio_error(400, 21211, "The 'To' number is not a valid phone number."))],
     "failed", 1, 1, "Twilio refused the message (Twilio 400, error 21211): the customer's "
                     "phone number isn't a valid mobile number."),
    ([Reply(400, twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"))],
     "failed", 1, 1, "Twilio refused the message (Twilio 400, error 21610): the customer "
                     "texted STOP"),
    ([Reply(401, twilio_error(401, 20003, "Authenticate"))],
     "failed", 1, 1, "Twilio refused the account SID / auth token (Twilio 401, error 20003)"),
    ([Reply(403, twilio_error(403, 20403, "Forbidden"))],
     "failed", 1, 1, "Twilio refused the message (Twilio 403, error 20403): Forbidden."),
    ([Reply(500, twilio_error(500, 20500, "Internal Server Error"))] * 3,
     "failed", 3, 3, "Twilio had a problem on its side (Twilio 500, error 20500): Internal "
                     "Server Error. (gave up after 3 attempts)"),
    ([Reply(502, "bad gateway"), Reply()], "sent", 2, 2, None),
    ([Reply(delay=1.5)] * 3, "failed", 3, 3, "Twilio didn't answer within 0.4 s."),
])
def test_twilio_answers_end_in_the_right_outcome_and_attempt_count(shop, plan, status,
                                                                   attempts, requests, error):
    outbox_id = queue_text(shop)
    with ProviderStub(plan=list(plan)) as stub:
        dispatcher(shop, {"sms": twilio(stub.url, timeout=0.4)}).drain()
        arrived = len(stub.twilio_requests())
    done = row(shop, outbox_id)
    assert (done["status"], done["attempts"], arrived) == (status, attempts, requests)
    if error is None:
        assert done["provider_message_id"].startswith("SM")
    else:
        assert done["last_error"].startswith(error), done["last_error"]


def test_twilio_429_waits_and_counts_one_attempt(shop):
    outbox_id = queue_text(shop)
    with ProviderStub(plan=[Reply(429, twilio_error(429, 20429, "Too Many Requests"))]) as stub:
        report = dispatcher(shop, {"sms": twilio(stub.url)}).drain()
    assert report.rate_limited_until is not None and len(stub.twilio_requests()) == 1
    waiting = row(shop, outbox_id)
    assert (waiting["status"], waiting["attempts"]) == ("queued", 1)
    assert waiting["next_attempt_at"] > datetime.now(UTC) + timedelta(seconds=30)


def test_twilio_unreachable_is_retried_then_failed(shop):
    outbox_id = queue_text(shop)
    dispatcher(shop, {"sms": twilio(refused_url())}, max_attempts=2).drain()
    done = row(shop, outbox_id)
    assert (done["status"], done["attempts"]) == ("failed", 2)
    assert done["last_error"].startswith("Couldn't reach Twilio")


# --- channels without a provider --------------------------------------------------------------

def test_sms_without_twilio_goes_by_email_when_there_is_an_address(shop):
    result = services.create_walk_in_order(
        shop.uow(), shop.manager, customer_name="Priya Nair", email="priya@example.com",
        phone=MOBILE, preferred_channel="sms", jobs=[services.NewJob("Signet ring")])
    shop.change(result["job_ids"][0], "start_design", shop.designer)
    with ProviderStub() as stub:
        assert dispatcher(shop, {"email": sendgrid(stub.url)}).drain().sent == 1
    done = row(shop, int(shop.rows("SELECT max(id) FROM notification_outbox")[0][0]))
    assert (done["channel"], done["sent_via"], done["note"]) == (
        "sms", "email", "By email: sms isn't set up here.")
    assert stub.requests[0].body["personalizations"][0]["to"] == [
        {"email": "priya@example.com"}]


def test_sms_without_twilio_and_without_email_fails_with_what_to_do(shop):
    outbox_id = queue_text(shop)
    with ProviderStub() as stub:
        report = dispatcher(shop, {"email": sendgrid(stub.url)}).drain()
    assert (report.failed, stub.requests) == (1, [])
    assert row(shop, outbox_id)["last_error"] == (
        "SMS isn't set up here (no Twilio account configured) and the customer has no email "
        "address: call them, or set up Twilio.")
