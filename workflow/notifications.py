"""Customer notifications, the domain part: which stages a customer hears about, the shop's
default message texts, rendering them with Jinja2, choosing the channel, and the `Notifier`
protocol that the connectors (SendGrid, Twilio, .eml files) implement.

Nothing here touches the database, a file or the network. The services that queue and deliver
messages are in `workflow/notification_services.py`; the connectors in `connectors/`.

Rendering happens when a message is queued (in the stage change's transaction), and the
rendered subject, text, HTML and SMS text are stored on the outbox row. So staff see exactly
what will go out, a message held for review can be edited as plain text, what was sent stays
on record, and editing a template later never changes a message already queued.
"""

from __future__ import annotations

import random
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import jinja2
import phonenumbers
from jinja2.sandbox import SandboxedEnvironment

from workflow.errors import AtelierError, InvalidInput
from workflow.lifecycle import CUSTOMER_NOTIFIED_STAGES, STAGES
from workflow.model import Channel

# --- what is sent, and when -----------------------------------------------------------------

NOTIFIED_STAGES: tuple[str, ...] = CUSTOMER_NOTIFIED_STAGES
# Sent even to a customer who opted out of updates: without it the work can't go on.
MUST_SEND_STAGES: tuple[str, ...] = ("awaiting_approval",)


class Switch:
    """A stage's switch: send automatically, hold for staff to review, or don't send."""

    AUTO = "auto"
    HOLD = "hold"
    OFF = "off"
    ALL = ("auto", "hold", "off")
    LABELS = {"auto": "Send automatically", "hold": "Hold for review", "off": "Don't send"}


class Status:
    """An outbox row's status, as staff read it on the notifications page."""

    QUEUED = "queued"                      # waiting for the dispatcher (or for its next try)
    HELD = "held"                          # waiting for staff to review, edit and send
    SENT = "sent"                          # accepted by SendGrid / Twilio
    DELIVERED_LOCALLY = "delivered_locally"  # written as an .eml file (no provider set up)
    FAILED = "failed"                      # gave up: permanent error or too many attempts
    CANCELLED = "cancelled"                # by staff, or not sent (out of date, opted out)
    SKIPPED = "skipped"                    # never queued: opted out, or no address on file
    ALL = ("queued", "held", "sent", "delivered_locally", "failed", "cancelled", "skipped")
    LABELS = {"queued": "Queued", "held": "Held for review", "sent": "Sent",
              "delivered_locally": "Delivered locally", "failed": "Failed",
              "cancelled": "Cancelled", "skipped": "Not sent"}


# Settings rows (table `settings`) this feature reads, with their defaults.
NOTIFY_DEFAULTS: dict[str, str] = {
    **{f"notify.stage.{s}": Switch.AUTO for s in NOTIFIED_STAGES},
    # A cancellation often comes with talk of refunds: staff look at it before it goes.
    "notify.stage.cancelled": Switch.HOLD,
    "notify.country": "US",          # default region for phone numbers typed without +code
    "notify.shop_phone": "",
    "notify.shop_email": "",
    "notify.shop_address": "",
    "notify.approval_url": "",       # e.g. https://shop.example/approve?job={job_number}
    "notify.max_attempts": "6",
    "notify.max_age_days": "7",      # a queued message older than this is out of date
}
SETTING_LABELS = {
    "notify.country": "Country for phone numbers without a +code (ISO code, e.g. US, GB, DE)",
    "notify.shop_phone": "Shop phone (shown in messages)",
    "notify.shop_email": "Shop email (shown in messages, and replies go there)",
    "notify.shop_address": "Shop address for collection",
    "notify.approval_url": "Design review link ({job_number} is replaced), blank for none",
    "notify.max_attempts": "Attempts before a message is marked failed",
    "notify.max_age_days": "Don't send a queued message older than (days)",
}


def stage_switch_key(stage: str) -> str:
    """The settings key of a stage's switch: "notify.stage.<stage>"."""
    return f"notify.stage.{stage}"


# --- the shop's default texts ---------------------------------------------------------------

@dataclass(frozen=True)
class MessageTemplate:
    """One stage's message as Jinja2 source: email subject, plain text, HTML, and SMS text."""

    stage: str
    subject: str
    text: str
    html: str
    sms: str
    edited: bool = False

    PARTS = ("subject", "text", "html", "sms")
    PART_LABELS = {"subject": "Subject", "text": "Plain text", "html": "HTML", "sms": "SMS text"}


def _unwrap(text: str) -> str:
    """Join the lines of each paragraph (the defaults are wrapped only to fit the source)."""
    paragraphs = [" ".join(line.strip() for line in block.splitlines() if line.strip())
                  for block in text.strip().split("\n\n")]
    return "\n\n".join(paragraphs)


def _t(stage: str, subject: str, text: str, html: str, sms: str) -> MessageTemplate:
    sign_text = "\n\nWarmly,\n{{ shop.name }}\n"
    sign_html = "\n<p>Warmly,<br>{{ shop.name }}</p>\n"
    return MessageTemplate(stage, subject, _unwrap(text) + sign_text,
                           html.strip() + sign_html, " ".join(sms.split()))


_CALL_US = "{% if shop.phone %} or call us on {{ shop.phone }}{% endif %}"

DEFAULT_TEMPLATES: dict[str, MessageTemplate] = {t.stage: t for t in [
    _t("design_consultation",
       "We've started designing your {{ job.piece }}",
       """
Hi {{ customer.first_name }},

Good news: our designer has started on your {{ job.piece }}. Sketches will follow soon, and
nothing is made until you're happy with them.

If a detail or a photo comes to mind in the meantime, just reply to this message.
""",
       """
<p>Hi {{ customer.first_name }},</p>
<p>Good news: our designer has started on your {{ job.piece }}. Sketches will follow soon,
and nothing is made until you're happy with them.</p>
<p>If a detail or a photo comes to mind in the meantime, just reply to this message.</p>
""",
       """{{ shop.name }}: Hi {{ customer.first_name }}, our designer has started on your
       {{ job.piece }}. Sketches will follow soon."""),
    _t("awaiting_approval",
       "Your design is ready for you to review",
       """
Hi {{ customer.first_name }},

The design for your {{ job.piece }} is ready for you to look over.
{% if approval_link -%}
See it and tell us what you think: {{ approval_link }}
{%- else -%}
Reply to this message""" + _CALL_US + """ and we'll walk you through it.
{%- endif %}

Take your time: we only start making it once you've said yes, and changes are part of the
process.
""",
       """
<p>Hi {{ customer.first_name }},</p>
<p>The design for your {{ job.piece }} is ready for you to look over.</p>
{% if approval_link -%}
<p><a href="{{ approval_link }}">See the design and tell us what you think</a></p>
{%- else -%}
<p>Reply to this message""" + _CALL_US + """ and we'll walk you through it.</p>
{%- endif %}
<p>Take your time: we only start making it once you've said yes, and changes are part of
the process.</p>
""",
       """{{ shop.name }}: Hi {{ customer.first_name }}, the design for your {{ job.piece }}
       is ready for your review{% if approval_link %}: {{ approval_link }}{% else %}. Reply or
       call us and we'll go through it.{% endif %}"""),
    _t("in_production",
       "Your {{ job.piece }} is on the bench",
       """
Hi {{ customer.first_name }},

Your {{ job.piece }} is now on the bench: our jewelers have started making it by hand.
{%- if job.promised_date %} We expect it to be ready by {{ job.promised_date }}.{% endif %}

We'll let you know the moment it's finished.
""",
       """
<p>Hi {{ customer.first_name }},</p>
<p>Your {{ job.piece }} is now on the bench: our jewelers have started making it by hand.
{%- if job.promised_date %} We expect it to be ready by {{ job.promised_date }}.{% endif %}</p>
<p>We'll let you know the moment it's finished.</p>
""",
       """{{ shop.name }}: Hi {{ customer.first_name }}, your {{ job.piece }} is now being made
       at the bench.{% if job.promised_date %} Expected by {{ job.promised_date }}.{% endif %}"""),
    _t("ready",
       "Your {{ job.piece }} is ready",
       """
Hi {{ customer.first_name }},

Your {{ job.piece }} is finished, checked and ready for you. Come and collect it
{% if shop.address %}at {{ shop.address }} {% endif %}whenever suits you; if we're sending
it, it will be on its way shortly.

We can't wait for you to see it.
""",
       """
<p>Hi {{ customer.first_name }},</p>
<p>Your {{ job.piece }} is finished, checked and ready for you. Come and collect it
{% if shop.address %}at {{ shop.address }} {% endif %}whenever suits you; if we're sending
it, it will be on its way shortly.</p>
<p>We can't wait for you to see it.</p>
""",
       """{{ shop.name }}: Hi {{ customer.first_name }}, your {{ job.piece }} is ready! Come and
       collect it whenever suits you."""),
    _t("completed",
       "Thank you from {{ shop.name }}",
       """
Hi {{ customer.first_name }},

Thank you for trusting us with your {{ job.piece }}. We hope you love wearing it.

If it ever needs a clean, a check of its settings or a resize, bring it in: we look after
what we make.
""",
       """
<p>Hi {{ customer.first_name }},</p>
<p>Thank you for trusting us with your {{ job.piece }}. We hope you love wearing it.</p>
<p>If it ever needs a clean, a check of its settings or a resize, bring it in: we look after
what we make.</p>
""",
       """{{ shop.name }}: Thank you for choosing us for your {{ job.piece }},
       {{ customer.first_name }}. Enjoy wearing it!"""),
    _t("cancelled",
       "Your {{ job.piece }} has been cancelled",
       """
Hi {{ customer.first_name }},

This is to confirm that your {{ job.piece }} (order {{ order.name }}) has been cancelled.
If that comes as a surprise, or you'd like to talk it over, just reply to this
message""" + _CALL_US + """.
""",
       """
<p>Hi {{ customer.first_name }},</p>
<p>This is to confirm that your {{ job.piece }} (order {{ order.name }}) has been cancelled.
If that comes as a surprise, or you'd like to talk it over, just reply to this
message""" + _CALL_US + """.</p>
""",
       """{{ shop.name }}: Hi {{ customer.first_name }}, your order {{ order.name }} for
       {{ job.piece }} has been cancelled. Questions? Reply or call us."""),
]}
assert set(DEFAULT_TEMPLATES) == set(NOTIFIED_STAGES)


# --- the values a template sees -------------------------------------------------------------

def nice_date(value: date | datetime | None) -> str:
    """A date written out for a customer: "Saturday 14 March 2026" (English), "" for none."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return f"{value:%A} {value.day} {value:%B %Y}"


def first_name(name: str | None) -> str:
    """The first word of a customer's name ("Jordan Lee" -> "Jordan"); "there" when unknown."""
    words = (name or "").replace(",", " ").split()
    titles = {"mr", "mrs", "ms", "miss", "mx", "dr"}
    words = [w for w in words if w.rstrip(".").lower() not in titles] or words
    return words[0] if words else "there"


def template_context(*, job: Mapping[str, Any], customer: Mapping[str, Any] | None,
                     settings: Mapping[str, str], stage: str) -> dict[str, Any]:
    """The variables a message template sees, from plain rows.

    `job`: a jobs row with `order_name` (as `storage.repositories.get_job` returns it);
    `customer`: a customers row or None; `settings`: shop settings (`shop_name`, `notify.*`).
    Gives `customer.{name, first_name, email, phone}`, `job.{number, piece, metal, karat,
    stones, engraving, ring_size, promised_date}` (promised_date already written out, "" when
    none), `order.name`, `shop.{name, phone, email, address}`, `stage.{key, label}` and
    `approval_link` ("" when the shop has no review link).
    """
    customer = customer or {}
    number = job.get("job_number") or ""
    link_pattern = settings.get("notify.approval_url") or ""
    try:
        approval_link = link_pattern.format(job_number=number) if link_pattern else ""
    except (KeyError, IndexError, ValueError):
        approval_link = link_pattern
    return {
        "customer": {"name": customer.get("name") or "", "first_name":
                     first_name(customer.get("name")), "email": customer.get("email") or "",
                     "phone": customer.get("phone") or ""},
        "job": {"number": number, "job_number": number, "piece": job.get("piece") or "piece",
                "metal": job.get("metal") or "", "karat": job.get("karat") or "",
                "stones": job.get("stones") or "", "engraving": job.get("engraving") or "",
                "ring_size": job.get("ring_size_text") or "",
                "promised_date": nice_date(job.get("promised_date"))},
        "order": {"name": job.get("order_name") or ""},
        "shop": {"name": settings.get("shop_name") or "", "phone":
                 settings.get("notify.shop_phone") or "", "email":
                 settings.get("notify.shop_email") or "", "address":
                 settings.get("notify.shop_address") or ""},
        "stage": {"key": stage, "label": STAGES.get(stage, stage)},
        "approval_link": approval_link,
    }


def sample_context(shop_name: str = "Atelier workshop") -> dict[str, Any]:
    """A context with every variable filled, for checking a template before it is saved."""
    return template_context(
        job={"job_number": "J-0042", "piece": "Solitaire ring", "metal": "gold", "karat": "18K",
             "stones": "1 ct oval diamond", "engraving": "Always", "ring_size_text": "7",
             "promised_date": date(2026, 3, 14), "order_name": "#1001"},
        customer={"name": "Jordan Lee", "email": "jordan@example.com", "phone": "+15550100"},
        settings={"shop_name": shop_name, "notify.shop_phone": "555-0100",
                  "notify.shop_email": "hello@example.com", "notify.shop_address": "1 Main St",
                  "notify.approval_url": "https://example.com/approve?job={job_number}"},
        stage="awaiting_approval")


# --- rendering ------------------------------------------------------------------------------

class TemplateInvalid(InvalidInput):
    """A template that does not render, with the part, line and reason for the person.

    `str(error)`: "HTML, line 3: a '}' with nothing to close: ...". `problems` lists every
    part's problem as (part, line or None, reason in plain words).
    """

    def __init__(self, problems: list[tuple[str, int | None, str]]):
        self.problems = problems
        super().__init__("; ".join(_problem_text(p) for p in problems))


def _problem_text(problem: tuple[str, int | None, str]) -> str:
    part, line, reason = problem
    label = MessageTemplate.PART_LABELS.get(part, part)
    return f"{label}, line {line}: {reason}" if line else f"{label}: {reason}"


def _environment(autoescape: bool, strict: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=autoescape, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined if strict else jinja2.ChainableUndefined)
    env.filters["nice_date"] = nice_date
    return env


_ENVS = {(a, s): _environment(a, s) for a in (False, True) for s in (False, True)}


@lru_cache(maxsize=256)
def _compiled(source: str, autoescape: bool, strict: bool) -> jinja2.Template:
    return _ENVS[(autoescape, strict)].from_string(source)


def _error_line(exc: Exception) -> int | None:
    line = getattr(exc, "lineno", None)
    if line:
        return int(line)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == "<template>":
            return frame.lineno
    return None


_FIELDS_HINT = ("fields are written {{ customer.first_name }}, {{ job.piece }} ...; "
                "see the list of fields")


def _reason(exc: Exception) -> str:
    """Jinja's error in the words of a person editing a message (Jinja's own words are for
    programmers: "Unexpected end of template. Jinja was looking for ...")."""
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, jinja2.UndefinedError):
        name = re.search(r"'([^']+)' is undefined", message)
        attribute = re.search(r"has no attribute '([^']+)'", message)
        if name:
            return f"there is no field '{name.group(1)}' ({_FIELDS_HINT})"
        if attribute:
            return f"there is no field '{attribute.group(1)}' ({_FIELDS_HINT})"
        return f"a field that doesn't exist is used ({_FIELDS_HINT})"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return _syntax_reason(message)
    return f"it can't be filled in ({message})"


def _syntax_reason(message: str) -> str:
    unclosed = re.search(r"innermost block that needs to be closed is '(\w+)'", message)
    if unclosed:
        block = unclosed.group(1)
        return f"a {{% {block} %}} is never closed: add {{% end{block} %}} where it should end"
    stray_end = re.search(r"Encountered unknown tag '(end\w+)'", message)
    if stray_end:
        return f"a {{% {stray_end.group(1)} %}} closes nothing: remove it, or open it first"
    unknown_tag = re.search(r"Encountered unknown tag '(\w+)'", message)
    if unknown_tag:
        return (f"'{{% {unknown_tag.group(1)} %}}' is not something a message can do (use "
                "{% if %}, {% else %}, {% endif %})")
    no_filter = re.search(r"No filter named '([^']+)'", message)
    if no_filter:
        return (f"there is no filter '{no_filter.group(1)}' (you can use nice_date, upper, "
                "lower, title, default)")
    if "unexpected '}'" in message:
        return "a '}' with nothing to close: fields are written {{ name }}, with two on each side"
    if "unexpected end of template" in message.lower() or "unexpected end of" in message:
        return "something was opened ({{, {% or a quote) and never closed"
    if message.startswith(("expected token", "Expected an expression", "unexpected")):
        return f"this part can't be read: {{{{ }}}} or {{% %}} is incomplete ({message})"
    return message


@dataclass(frozen=True)
class RenderedMessage:
    """A message filled in for one job: what the outbox row stores and the preview shows."""

    subject: str
    text: str
    html: str
    sms: str


def render(template: MessageTemplate, context: Mapping[str, Any], *,
           strict: bool = False) -> RenderedMessage:
    """Fill `template` with `context` (see `template_context`).

    HTML is auto-escaped; the other parts are not. With `strict`, a name that isn't in the
    context is an error (used to check a template before saving); otherwise it renders empty.
    Raises `TemplateInvalid` listing each part that does not compile or render, with its line.
    """
    out, problems = {}, []
    for part in MessageTemplate.PARTS:
        source = getattr(template, part)
        try:
            out[part] = _compiled(source, part == "html", strict).render(**context)
        except jinja2.TemplateError as exc:
            problems.append((part, _error_line(exc), _reason(exc)))
        except Exception as exc:  # a filter or method failing on this job's values
            problems.append((part, _error_line(exc), _reason(exc)))
    if problems:
        raise TemplateInvalid(problems)
    subject = " ".join(out["subject"].split())
    sms = " ".join(out["sms"].split())
    return RenderedMessage(subject=subject, text=out["text"].strip() + "\n",
                           html=out["html"].strip() + "\n", sms=sms)


def check_template(template: MessageTemplate, shop_name: str = "Atelier workshop") -> None:
    """Refuse a template that doesn't compile, or uses a name that isn't a field.

    Renders it strictly against `sample_context`. Raises `TemplateInvalid` ("Subject, line 1:
    there is no field 'custmer' ..."), or `InvalidInput` for an empty subject or text.
    """
    if not template.subject.strip():
        raise TemplateInvalid([("subject", None, "the subject is empty")])
    if not template.text.strip():
        raise TemplateInvalid([("text", None, "the plain text is empty")])
    if not template.sms.strip():
        raise TemplateInvalid([("sms", None, "the SMS text is empty")])
    render(template, sample_context(shop_name), strict=True)


def text_to_html(text: str) -> str:
    """Plain text as simple HTML: each paragraph a <p>, line breaks kept, everything escaped."""
    from markupsafe import escape

    blocks = [b.strip() for b in (text or "").strip().split("\n\n") if b.strip()]
    return "\n".join("<p>" + str(escape(b)).replace("\n", "<br>\n") + "</p>"
                     for b in blocks) + "\n"


def sms_segments(text: str) -> int:
    """How many SMS parts `text` is sent as: GSM-7 text 160 characters (153 per part when
    split), anything else (emoji, most accents) UCS-2, 70 (67 per part)."""
    gsm = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJ"
           "KLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")
    single, multi = (160, 153) if all(ch in gsm for ch in text) else (70, 67)
    if len(text) <= single:
        return 1 if text else 0
    return -(-len(text) // multi)


TEMPLATE_FIELDS = (
    "customer.first_name", "customer.name", "customer.email", "customer.phone",
    "job.number", "job.piece", "job.metal", "job.karat", "job.stones", "job.engraving",
    "job.ring_size", "job.promised_date", "order.name", "shop.name", "shop.phone",
    "shop.email", "shop.address", "stage.label", "approval_link")


# --- channel and recipients -----------------------------------------------------------------

def normalise_phone(text: str | None, default_region: str = "US") -> str | None:
    """A phone number as E.164 ("+15550100..."), or None when it isn't a valid number.

    Numbers typed without a +country code are read in `default_region` (ISO 3166 code, the
    shop's country). Shopify writes phones with a leading apostrophe: it is ignored.
    """
    raw = (text or "").strip().lstrip("'")
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, (default_region or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_addresses(text: str | None) -> list[str]:
    """The addresses in a customer's email field ("a@x.com, b@y.com" -> two), lower-cased."""
    parts = (text or "").replace(";", ",").split(",")
    return [p.strip().lower() for p in parts if "@" in p and "." in p.split("@")[-1]]


@dataclass(frozen=True)
class Recipient:
    """Where one message goes: its channel, addresses, and a note saying why when it isn't the
    customer's preferred channel. `deliverable` is False when there is nowhere to send it."""

    channel: str
    email: str | None
    phone: str | None
    note: str | None = None
    deliverable: bool = True


def choose_recipient(customer: Mapping[str, Any] | None, default_region: str) -> Recipient:
    """The customer's preferred channel when it can be used, else email, else nothing.

    SMS and WhatsApp need a valid mobile number (E.164 with `default_region` for local
    numbers); "phone" (a call) can't be automated and falls back to email.
    """
    if not customer:
        return Recipient(Channel.EMAIL, None, None, "the order has no customer on file", False)
    emails = email_addresses(customer.get("email"))
    email = ", ".join(emails) or None
    phone = normalise_phone(customer.get("phone"), default_region)
    preferred = (customer.get("preferred_channel") or Channel.EMAIL).lower()
    if preferred in (Channel.SMS, Channel.WHATSAPP):
        if phone:
            return Recipient(preferred, email, phone)
        why = ("no phone number on file" if not customer.get("phone") else
               f"the phone number {customer.get('phone')!r} isn't a valid number")
        if email:
            return Recipient(Channel.EMAIL, email, None,
                             f"by email instead of {preferred}: {why}")
        return Recipient(preferred, None, None, f"{why}, and no email address", False)
    if email:
        note = None if preferred == Channel.EMAIL else (
            "by email: the customer prefers a phone call, which staff make themselves")
        return Recipient(Channel.EMAIL, email, phone, note)
    if phone:
        return Recipient(Channel.SMS, None, phone, "by SMS: no email address on file")
    return Recipient(Channel.EMAIL, None, None, "no email address or mobile number on file",
                     False)


# --- delivery: the protocol the connectors implement ----------------------------------------

@dataclass(frozen=True)
class OutboundMessage:
    """One message handed to a `Notifier`.

    `to`: email addresses (channel "email") or E.164 numbers ("sms", "whatsapp").
    `outbox_id` and `dedupe_key` are ours; providers get them as metadata (SendGrid
    `custom_args`) so a delivery can be matched to its row. `text` is the plain text (the SMS
    text for sms/whatsapp); `html` is None for sms/whatsapp.
    """

    outbox_id: int
    dedupe_key: str
    channel: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    job_number: str = ""
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class DeliveryError(AtelierError):
    """A provider did not take a message. `str(error)` is the reason a person reads."""

    retryable = False


class RetryableDeliveryError(DeliveryError):
    """Worth trying again later: a timeout, a refused connection, 5xx, or 429.

    `retry_at`: when the provider said to come back (429's X-RateLimit-Reset), else None.
    """

    retryable = True

    def __init__(self, message: str, retry_at: datetime | None = None):
        super().__init__(message)
        self.retry_at = retry_at


class RateLimited(RetryableDeliveryError):
    """The provider is throttling us (429): wait until `retry_at` before sending anything."""


class PermanentDeliveryError(DeliveryError):
    """Trying again won't help (400/401/403 ...): staff must fix something first."""


@runtime_checkable
class Notifier(Protocol):
    """Sends one message and returns the provider's message id.

    `name`: "sendgrid", "twilio", "eml-file"; `local`: True when the message is only written
    to a file here (the outbox row becomes "delivered_locally", not "sent"); `channels`: the
    channels it can carry. `send` raises `RetryableDeliveryError` (incl. `RateLimited`) or
    `PermanentDeliveryError`, never a provider's own exception.
    """

    name: str
    local: bool
    channels: tuple[str, ...]

    def send(self, message: OutboundMessage) -> str:
        """Deliver `message`; return the provider's message id (raises DeliveryError)."""
        ...


# --- retries --------------------------------------------------------------------------------

@dataclass
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits between half and all of
    min(cap, base * 2**(n-1)) seconds ("equal jitter"). `max_attempts` then failed."""

    base_seconds: float = 30.0
    cap_seconds: float = 3600.0
    max_attempts: int = 6
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1-based)."""
        full = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        return timedelta(seconds=full / 2 + self.rng.random() * full / 2)
