"""SMS and WhatsApp through Twilio's Messages API (`POST /2010-04-01/Accounts/{AccountSid}/
Messages.json`, form-encoded To, From, Body; 201 with the message `sid`) with the real `twilio`
client (9.x, requests underneath).

Numbers are E.164 (`workflow.notifications.normalise_phone`); WhatsApp numbers go as
`whatsapp:+15550100`. `base_url` replaces https://api.twilio.com (tests point it at a loopback
server). A timeout is always set.

Errors: 429 and 5xx, timeouts and refused connections -> retryable; 400/401/403/404 ->
permanent, with Twilio's error code turned into words where it is a common one (21211 invalid
number, 21610 the customer texted STOP, 21408 region not enabled, 21608 trial account,
63016 WhatsApp outside the 24-hour window). Never writes the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from workflow.notifications import (
    OutboundMessage,
    PermanentDeliveryError,
    RateLimited,
    RetryableDeliveryError,
)

TWILIO_CODES = {
    21211: "the customer's phone number isn't a valid mobile number",
    21214: "the customer's phone number can't receive messages",
    21408: "sending to this country isn't enabled on the Twilio account (Geo permissions)",
    21608: "the Twilio trial account can only send to verified numbers",
    21610: "the customer texted STOP to our number; Twilio won't deliver until they text "
           "START",
    21612: "Twilio can't send from our number to this one",
    21614: "the number isn't a mobile number",
    63016: "WhatsApp only allows a free-form message within 24 hours of the customer's last "
           "message; use an approved template",
    20003: "Twilio refused the account SID / auth token",
}


class TwilioNotifier:
    """Sends SMS (from `sms_from`, or a Messaging Service `messaging_service_sid`) and
    WhatsApp (from `whatsapp_from`) messages. `timeout` in seconds."""

    name = "twilio"
    local = False

    def __init__(self, account_sid: str, auth_token: str, *, sms_from: str | None = None,
                 whatsapp_from: str | None = None, messaging_service_sid: str | None = None,
                 base_url: str | None = None, timeout: float = 10.0):
        if not account_sid or not auth_token:
            raise ValueError("a Twilio account SID and auth token are required")
        if not (sms_from or whatsapp_from or messaging_service_sid):
            raise ValueError("a sender number (SMS or WhatsApp) or messaging service is needed")
        self.sms_from = sms_from
        self.whatsapp_from = whatsapp_from
        self.messaging_service_sid = messaging_service_sid
        self.timeout = timeout
        self.client = Client(account_sid, auth_token,
                             http_client=TwilioHttpClient(timeout=timeout))
        if base_url:
            self.client.api.base_url = base_url.rstrip("/")
        channels = []
        if sms_from or messaging_service_sid:
            channels.append("sms")
        if whatsapp_from:
            channels.append("whatsapp")
        self.channels = tuple(channels)

    def send(self, message: OutboundMessage) -> str:
        """Send one SMS or WhatsApp message; returns Twilio's message sid ("SM...").

        Raises `RateLimited`, `RetryableDeliveryError`, `PermanentDeliveryError`.
        """
        if not message.to:
            raise PermanentDeliveryError("The message has no phone number to send to.")
        kwargs: dict = {"body": message.text}
        if message.channel == "whatsapp":
            if not self.whatsapp_from:
                raise PermanentDeliveryError("No WhatsApp sender number is set up for Twilio.")
            kwargs["to"] = f"whatsapp:{message.to[0]}"
            kwargs["from_"] = f"whatsapp:{self.whatsapp_from}"
        else:
            kwargs["to"] = message.to[0]
            if self.messaging_service_sid:
                kwargs["messaging_service_sid"] = self.messaging_service_sid
            else:
                kwargs["from_"] = self.sms_from
        try:
            sent = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise self._classify(exc) from exc
        except requests.Timeout as exc:
            raise RetryableDeliveryError(
                f"Twilio didn't answer within {self.timeout:g} s.") from exc
        except requests.ConnectionError as exc:
            raise RetryableDeliveryError(f"Couldn't reach Twilio: {exc}.") from exc
        except (requests.RequestException, TwilioException, ValueError) as exc:
            raise RetryableDeliveryError(f"Twilio request failed: {exc}.") from exc
        return sent.sid or ""

    @staticmethod
    def _classify(exc: TwilioRestException):
        status = int(exc.status or 0)
        code = exc.code if isinstance(exc.code, int) else None
        words = TWILIO_CODES.get(code or -1)
        said = (exc.msg or "").strip()
        said = said.removeprefix("Unable to create record:").strip()
        detail = words or said or "no details"
        suffix = f" (Twilio {status}{f', error {code}' if code else ''})"
        if status == 429:
            retry_at = datetime.now(UTC) + timedelta(seconds=60)
            return RateLimited(f"Twilio is limiting how fast we send{suffix}.",
                               retry_at=retry_at)
        if status >= 500:
            return RetryableDeliveryError(f"Twilio had a problem on its side{suffix}: "
                                          f"{said or 'no details'}.")
        if status == 401:
            return PermanentDeliveryError(f"Twilio refused the account SID / auth token"
                                          f"{suffix}: check TWILIO_ACCOUNT_SID and "
                                          "TWILIO_AUTH_TOKEN.")
        return PermanentDeliveryError(f"Twilio refused the message{suffix}: {detail}.")
