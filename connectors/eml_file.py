"""The notifier used when no email provider is configured: each message is written as an
.eml file (RFC 5322, multipart/alternative text + HTML) under a folder, `data/outbox/` beside
the database by default, so the app works out of the box and staff can open exactly what
would have gone out in any mail program.

SMS and WhatsApp messages are written the same way (To: the E.164 number, the SMS text as the
body). The outbox row becomes "delivered_locally". Never writes the database.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from workflow.notifications import OutboundMessage, PermanentDeliveryError, RetryableDeliveryError


class EmlFileNotifier:
    """Writes each message to `folder/<UTC time>-<outbox id>-<job>.eml`; returns
    "local:<file name>" as the provider id. Errors: a full or read-only disk is retryable."""

    name = "eml-file"
    local = True
    channels = ("email", "sms", "whatsapp")

    def __init__(self, folder: str | os.PathLike, sender: str = "atelier@localhost"):
        self.folder = Path(folder)
        self.sender = sender

    def send(self, message: OutboundMessage) -> str:
        """Write `message` as an .eml file; returns "local:<file name>"."""
        if not message.to:
            raise PermanentDeliveryError("The message has no recipient.")
        eml = EmailMessage()
        eml["From"] = self.sender
        eml["To"] = ", ".join(message.to)
        eml["Subject"] = message.subject if message.channel == "email" else (
            f"[{message.channel.upper()}] {message.subject}")
        eml["Date"] = format_datetime(datetime.now(UTC))
        eml["Message-ID"] = make_msgid(domain="atelier.local")
        eml["X-Atelier-Outbox-Id"] = str(message.outbox_id)
        eml["X-Atelier-Key"] = message.dedupe_key
        eml["X-Atelier-Channel"] = message.channel
        if message.reply_to:
            eml["Reply-To"] = message.reply_to
        eml.set_content(message.text)
        if message.html:
            eml.add_alternative(message.html, subtype="html")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        job = re.sub(r"[^A-Za-z0-9-]", "", message.job_number) or "job"
        name = f"{stamp}-{message.outbox_id}-{job}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / (name + ".part")
            tmp.write_bytes(bytes(eml))
            tmp.replace(self.folder / name)
        except OSError as exc:
            raise RetryableDeliveryError(
                f"Couldn't write the message to {self.folder}: {exc.strerror or exc}") from exc
        return f"local:{name}"
