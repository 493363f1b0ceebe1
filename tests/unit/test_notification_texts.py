"""Customer messages without I/O: the shop's default texts, rendering and refusing templates
with the line and reason, choosing the channel, phone numbers, backoff, SMS parts."""

from __future__ import annotations

import random
from datetime import date

import pytest

from workflow.lifecycle import CUSTOMER_NOTIFIED_STAGES
from workflow.notifications import (
    DEFAULT_TEMPLATES,
    MUST_SEND_STAGES,
    MessageTemplate,
    RetryPolicy,
    TemplateInvalid,
    check_template,
    choose_recipient,
    email_addresses,
    first_name,
    nice_date,
    normalise_phone,
    render,
    sample_context,
    sms_segments,
    template_context,
    text_to_html,
)

JOB = {"job_number": "J-0042", "piece": "Solitaire ring", "order_name": "#1001",
       "promised_date": date(2026, 3, 14)}
JORDAN = {"id": 1, "name": "Jordan Lee", "email": "jordan@example.com", "phone": "555-0100",
          "preferred_channel": "email"}


def context(stage="ready", customer=JORDAN, **settings):
    return template_context(job=JOB, customer=customer, stage=stage,
                            settings={"shop_name": "Quinn & Co. Jewelers", **settings})


# --- the defaults ------------------------------------------------------------------------------

def test_every_stage_the_customer_hears_about_has_a_default_text_that_renders():
    assert set(DEFAULT_TEMPLATES) == set(CUSTOMER_NOTIFIED_STAGES)
    assert {"completed", "cancelled"} <= set(CUSTOMER_NOTIFIED_STAGES)
    for stage, template in DEFAULT_TEMPLATES.items():
        check_template(template)
        out = render(template, context(stage))
        assert out.text.startswith("Hi Jordan,\n\n"), stage
        assert out.text.rstrip().endswith("Warmly,\nQuinn & Co. Jewelers"), stage
        assert "Solitaire ring" in out.text and "Solitaire ring" in out.html, stage
        assert out.sms.startswith("Quinn & Co. Jewelers: ") and len(out.sms) <= 160, stage
        assert "{{" not in out.text + out.html + out.sms + out.subject, stage


def test_the_defaults_say_what_the_issue_asks_in_the_shops_voice():
    texts = {s: render(t, context(s, **{"notify.approval_url":
                                        "https://shop.example/approve?job={job_number}"}))
             for s, t in DEFAULT_TEMPLATES.items()}
    assert "designer has started" in texts["design_consultation"].text
    assert "Sketches will follow" in texts["design_consultation"].text
    approval = texts["awaiting_approval"]
    assert "https://shop.example/approve?job=J-0042" in approval.text
    assert 'href="https://shop.example/approve?job=J-0042"' in approval.html
    assert "on the bench" in texts["in_production"].text
    assert "ready by Saturday 14 March 2026" in texts["in_production"].text
    assert "ready for you" in texts["ready"].text and "on its way" in texts["ready"].text
    assert texts["completed"].subject == "Thank you from Quinn & Co. Jewelers"  # not escaped
    assert "#1001" in texts["cancelled"].text


def test_without_a_review_link_the_approval_request_asks_them_to_reply_or_call():
    out = render(DEFAULT_TEMPLATES["awaiting_approval"],
                 context("awaiting_approval", **{"notify.shop_phone": "555-0199"}))
    assert "Reply to this message or call us on 555-0199" in out.text
    assert "http" not in out.text


def test_html_is_escaped_and_text_is_not():
    customer = dict(JORDAN, name="<b>Jo</b> & Ann")
    out = render(MessageTemplate("ready", "{{ customer.name }}", "{{ customer.name }}",
                                 "<p>{{ customer.name }}</p>", "{{ customer.name }}"),
                 context(customer=customer))
    assert out.text.strip() == "<b>Jo</b> & Ann"
    assert out.html.strip() == "<p>&lt;b&gt;Jo&lt;/b&gt; &amp; Ann</p>"


def test_the_subject_comes_out_plain_text_and_on_one_line():
    out = render(MessageTemplate("ready", "Your\n {{ job.piece }}\n is ready", "x", "x", "x"),
                 context())
    assert out.subject == "Your Solitaire ring is ready"


# --- templates that don't render are refused with line and reason ------------------------------

def broken(**parts) -> MessageTemplate:
    base = DEFAULT_TEMPLATES["ready"]
    return MessageTemplate("ready", parts.get("subject", base.subject),
                           parts.get("text", base.text), parts.get("html", base.html),
                           parts.get("sms", base.sms))


def test_a_syntax_error_is_refused_with_its_part_and_line():
    with pytest.raises(TemplateInvalid) as caught:
        check_template(broken(html="<p>Hi</p>\n<p>\n{{ job.piece }</p>"))
    reason = "a '}' with nothing to close: fields are written {{ name }}, with two on each side"
    assert str(caught.value) == f"HTML, line 3: {reason}"
    assert caught.value.problems == [("html", 3, reason)]


def test_an_unclosed_block_is_refused_with_the_line_and_what_to_add():
    with pytest.raises(TemplateInvalid) as caught:
        check_template(broken(text="Hi\n{% if job.promised_date %}\nsoon\n"))
    assert str(caught.value) == ("Plain text, line 2: a {% if %} is never closed: add "
                                 "{% endif %} where it should end")


@pytest.mark.parametrize(("source", "reason"), [
    ("{% endif %}", "a {% endif %} closes nothing: remove it, or open it first"),
    ("{{ job.promised_date | nice_dat }}",
     "there is no filter 'nice_dat' (you can use nice_date, upper, lower, title, default)"),
    ("Hi {{ customer.name", "something was opened ({{, {% or a quote) and never closed"),
    ("{{ customer.nme }}", "there is no field 'nme' (fields are written "
                           "{{ customer.first_name }}, {{ job.piece }} ...; see the list of "
                           "fields)"),
    ("{{ 1 // 0 }}", "it can't be filled in (integer division or modulo by zero)"),
])
def test_jinjas_errors_are_said_in_the_editors_words(source, reason):
    with pytest.raises(TemplateInvalid) as caught:
        check_template(broken(subject=source))
    assert str(caught.value) == f"Subject, line 1: {reason}"
    assert "Jinja" not in str(caught.value) and "Error" not in str(caught.value)


def test_a_misspelt_field_is_refused_with_its_line():
    with pytest.raises(TemplateInvalid) as caught:
        check_template(broken(text="Hi {{ customer.first_name }},\n\nYour {{ jb.piece }}"))
    assert str(caught.value).startswith("Plain text, line 3: there is no field 'jb' (")


def test_each_broken_part_is_named():
    with pytest.raises(TemplateInvalid) as caught:
        check_template(broken(subject="{{ job.piece", sms="{% for %}"))
    assert [p[0] for p in caught.value.problems] == ["subject", "sms"]
    assert str(caught.value).startswith("Subject, line 1: ")
    assert "; SMS text, line 1: " in str(caught.value)


def test_an_empty_subject_is_refused():
    with pytest.raises(TemplateInvalid, match="^Subject: the subject is empty$"):
        check_template(broken(subject="  "))


def test_a_template_cannot_reach_into_python():
    with pytest.raises(TemplateInvalid, match="unsafe|access"):
        render(broken(text="{{ job.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}"),
               sample_context(), strict=True)


def test_when_sending_a_missing_value_renders_empty_instead_of_failing():
    out = render(broken(text="Hi {{ customer.nickname }}!"), context())
    assert out.text == "Hi !\n"


# --- values ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "first"), [("Jordan Lee", "Jordan"), ("Mrs. Ada Byron", "Ada"),
                                             ("Lee, Jordan", "Lee"), ("", "there"),
                                             (None, "there"), ("Dr", "Dr")])
def test_first_name(name, first):
    assert first_name(name) == first


def test_dates_are_written_out_and_missing_ones_are_blank():
    assert nice_date(date(2026, 3, 14)) == "Saturday 14 March 2026"
    assert nice_date(None) == ""
    assert context()["job"]["promised_date"] == "Saturday 14 March 2026"


def test_the_review_link_gets_the_job_number():
    ctx = context(**{"notify.approval_url": "https://x.example/a/{job_number}"})
    assert ctx["approval_link"] == "https://x.example/a/J-0042"


# --- channel and phone numbers ------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "region", "e164"), [
    ("(202) 555-0143", "US", "+12025550143"),
    ("'+1 202-555-0143", "US", "+12025550143"),      # Shopify's apostrophe
    ("020 7946 0958", "GB", "+442079460958"),
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("030 901820", "DE", "+4930901820"),
    ("555-0100", "US", None),                         # too short to be a number
    ("not a phone", "US", None),
    ("", "US", None),
])
def test_phone_numbers_become_e164_with_the_shops_country_as_default(typed, region, e164):
    assert normalise_phone(typed, region) == e164


def test_the_preferred_channel_is_used_when_it_can_be():
    sms = dict(JORDAN, phone="(202) 555-0143", preferred_channel="sms")
    r = choose_recipient(sms, "US")
    assert (r.channel, r.phone, r.email, r.note, r.deliverable) == (
        "sms", "+12025550143", "jordan@example.com", None, True)
    whatsapp = dict(sms, preferred_channel="whatsapp")
    assert choose_recipient(whatsapp, "US").channel == "whatsapp"


def test_sms_without_a_valid_number_falls_back_to_email_and_says_why():
    r = choose_recipient(dict(JORDAN, phone="12", preferred_channel="sms"), "US")
    assert (r.channel, r.email, r.phone) == ("email", "jordan@example.com", None)
    assert r.note == "by email instead of sms: the phone number '12' isn't a valid number"


def test_a_phone_call_preference_is_sent_by_email():
    r = choose_recipient(dict(JORDAN, preferred_channel="phone"), "US")
    assert r.channel == "email" and "phone call" in r.note


def test_no_address_at_all_is_not_deliverable():
    r = choose_recipient(dict(JORDAN, email=None, phone=None), "US")
    assert not r.deliverable
    assert r.note == "no email address or mobile number on file"
    assert not choose_recipient(None, "US").deliverable


def test_email_only_customer_without_email_gets_an_sms_when_the_number_is_valid():
    r = choose_recipient(dict(JORDAN, email="", phone="(202) 555-0143"), "US")
    assert (r.channel, r.phone) == ("sms", "+12025550143")


def test_several_addresses_are_kept_each_on_its_own():
    assert email_addresses("A@x.com; b@y.org , nonsense") == ["a@x.com", "b@y.org"]


def test_design_approval_requests_are_the_must_send_messages():
    assert MUST_SEND_STAGES == ("awaiting_approval",)


# --- retries ---------------------------------------------------------------------------------

def test_backoff_doubles_up_to_the_cap_with_jitter_between_half_and_all():
    policy = RetryPolicy(base_seconds=30, cap_seconds=600, rng=random.Random(4))
    for attempt, full in [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 600), (9, 600)]:
        waits = {policy.delay(attempt).total_seconds() for _ in range(50)}
        assert all(full / 2 <= w <= full for w in waits), attempt
        assert len(waits) > 1, "jittered"


# --- small helpers -----------------------------------------------------------------------------

def test_sms_parts_follow_gsm_and_unicode_lengths():
    assert (sms_segments(""), sms_segments("a" * 160), sms_segments("a" * 161)) == (0, 1, 2)
    assert sms_segments("a" * 306) == 2 and sms_segments("a" * 307) == 3
    assert sms_segments("💍" * 70) == 1 and sms_segments("💍" * 71) == 2


def test_edited_plain_text_becomes_escaped_html_paragraphs():
    assert text_to_html("Hi <Jo>,\n\nline one\nline two\n") == (
        "<p>Hi &lt;Jo&gt;,</p>\n<p>line one<br>\nline two</p>\n")
