"""Email through SendGrid's v3 Mail Send API (`POST /v3/mail/send`) with the real `sendgrid`
client (6.x, urllib underneath; GUIDE.md §6).

- `SendGridAPIClient(api_key, host=...)`: tests point `host` at a loopback server.
- There is no default timeout: `client.client.timeout` is set.
- SendGrid has no idempotency key: our outbox id and key travel as `custom_args`
  (`atelier_outbox_id`, `atelier_key`) and come back in event webhooks.
- Several addresses for one customer go as `is_multiple=True`, so no one sees another's address.

Errors (SendGrid v3 status codes): 202 accepted (the provider id is the `X-Message-Id` header);
429 -> `RateLimited` until `X-RateLimit-Reset` (epoch seconds); 5xx, timeouts and refused
connections -> `RetryableDeliveryError`; 400/401/403/404/413 -> `PermanentDeliveryError` with a
reason a person can act on. Never writes the database.
"""

from __future__ import annotations

import json
import urllib.error
from datetime import UTC, datetime, timedelta

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, From, Mail, ReplyTo, To

from workflow.notifications import (
    OutboundMessage,
    PermanentDeliveryError,
    RateLimited,
    RetryableDeliveryError,
)

DEFAULT_HOST = "https://api.sendgrid.com"


def _sendgrid_messages(body: bytes | str | None) -> list[str]:
    """The `errors[].message` texts of a SendGrid error body ({"errors": [{"message", "field",
    "help"}]}), or the body itself when it isn't that JSON."""
    if body is None:
        return []
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)
        return [str(e.get("message", "")).strip() for e in data.get("errors", [])
                if e.get("message")]
    except (ValueError, AttributeError):
        return [text.strip()[:300]] if text.strip() else []


def _header(headers, name: str) -> str | None:
    if headers is None:
        return None
    try:
        return headers.get(name)
    except AttributeError:
        return None


class SendGridNotifier:
    """Sends email through SendGrid. `sender`: the verified "from" address; `sender_name`:
    the name shown; `reply_to`: where replies go (the shop's address); `timeout` in seconds."""

    name = "sendgrid"
    local = False
    channels = ("email",)

    def __init__(self, api_key: str, sender: str, *, sender_name: str | None = None,
                 reply_to: str | None = None, host: str = DEFAULT_HOST,
                 timeout: float = 10.0):
        if not api_key:
            raise ValueError("a SendGrid API key is required")
        if not sender:
            raise ValueError("a sender address is required (a verified SendGrid sender)")
        self.sender = sender
        self.sender_name = sender_name
        self.reply_to = reply_to
        self.timeout = timeout
        self.client = SendGridAPIClient(api_key, host=host)
        self.client.client.timeout = timeout

    def build(self, message: OutboundMessage) -> Mail:
        """The `Mail` for `message` (the request body of POST /v3/mail/send)."""
        mail = Mail(from_email=From(self.sender, self.sender_name),
                    to_emails=[To(a) for a in message.to], subject=message.subject,
                    plain_text_content=message.text, html_content=message.html or None,
                    is_multiple=len(message.to) > 1)
        mail.custom_arg = [CustomArg("atelier_outbox_id", str(message.outbox_id)),
                           CustomArg("atelier_key", message.dedupe_key)]
        reply_to = self.reply_to or message.reply_to  # configured, else the shop's
        if reply_to:
            mail.reply_to = ReplyTo(reply_to)
        return mail

    def send(self, message: OutboundMessage) -> str:
        """Send one email; returns SendGrid's message id (X-Message-Id, or "" if absent).

        Raises `RateLimited`, `RetryableDeliveryError`, `PermanentDeliveryError`.
        """
        if not message.to:
            raise PermanentDeliveryError("The message has no email address to send to.")
        mail = self.build(message)
        try:
            response = self.client.send(mail)
        except http_errors.HTTPError as exc:
            raise self._classify(exc) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise RetryableDeliveryError(
                    f"SendGrid didn't answer within {self.timeout:g} s.") from exc
            raise RetryableDeliveryError(f"Couldn't reach SendGrid: {reason}.") from exc
        except TimeoutError as exc:
            raise RetryableDeliveryError(
                f"SendGrid didn't answer within {self.timeout:g} s (the message may have been "
                "accepted; it will be tried again).") from exc
        except (ConnectionError, OSError) as exc:
            raise RetryableDeliveryError(f"The connection to SendGrid failed: {exc}.") from exc
        status = getattr(response, "status_code", 0)
        if status not in (200, 201, 202):
            raise RetryableDeliveryError(f"SendGrid answered {status} instead of 202.")
        return _header(getattr(response, "headers", None), "X-Message-Id") or ""

    def _classify(self, exc: http_errors.HTTPError):
        status = int(getattr(exc, "status_code", 0) or 0)
        details = _sendgrid_messages(getattr(exc, "body", None))
        detail = "; ".join(d for d in details if d).rstrip(".")
        joined = detail.lower()
        if status == 429:
            reset = _header(getattr(exc, "headers", None), "X-RateLimit-Reset")
            retry_at = None
            try:
                retry_at = datetime.fromtimestamp(int(float(reset)), UTC) if reset else None
            except (TypeError, ValueError, OverflowError):
                retry_at = None
            if retry_at is None:
                retry_at = datetime.now(UTC) + timedelta(seconds=60)
            return RateLimited(f"SendGrid is limiting how fast we send (429); waiting until "
                               f"{retry_at:%H:%M:%S} UTC.", retry_at=retry_at)
        if status >= 500:
            return RetryableDeliveryError(f"SendGrid had a problem on its side ({status})"
                                          + (f": {detail}" if detail else "") + ".")
        if status == 401:
            return PermanentDeliveryError(
                "SendGrid refused the API key (401): check SENDGRID_API_KEY.")
        if status == 403:
            if "sender" in joined or "from address" in joined or "verified" in joined:
                return PermanentDeliveryError(
                    f"The sender address {self.sender} is not verified with SendGrid (403): "
                    "verify it under Settings > Sender Authentication, or change the sender."
                    + (f" SendGrid said: {detail}" if detail else ""))
            return PermanentDeliveryError(
                "SendGrid refused the request (403): the API key may lack the Mail Send "
                "permission." + (f" SendGrid said: {detail}" if detail else ""))
        if status == 400:
            return PermanentDeliveryError(
                "SendGrid rejected the message (400)" + (f": {detail}" if detail else "")
                + ". Check the customer's email address and the template.")
        if status == 413:
            return PermanentDeliveryError("The message is too large for SendGrid (413).")
        return PermanentDeliveryError(f"SendGrid refused the message ({status})"
                                      + (f": {detail}" if detail else "") + ".")
