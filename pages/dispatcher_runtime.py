"""The app's message dispatcher: one background thread per process and database, started with
the process's database connection (`pages.common._connection`) and stopped when that cached
connection is released. Also the wiring of notifiers from settings, shared with `cli.py
dispatch`.

Configuration, from the environment or `st.secrets` (same names; the environment wins):

    SENDGRID_API_KEY            email through SendGrid (else: .eml files under data/outbox/)
    ATELIER_MAIL_FROM           the sender address, verified with SendGrid (required with a key)
    ATELIER_MAIL_FROM_NAME      the sender's name (default: none)
    ATELIER_MAIL_REPLY_TO       where replies go (default: none)
    SENDGRID_HOST               API base URL (default https://api.sendgrid.com)
    TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN   SMS/WhatsApp through Twilio (optional)
    TWILIO_SMS_FROM, TWILIO_WHATSAPP_FROM, TWILIO_MESSAGING_SERVICE_SID, TWILIO_BASE_URL
    ATELIER_NOTIFY_TIMEOUT      seconds per provider request (default 10)
    ATELIER_DISPATCHER          "off": no dispatcher thread in this app process

Not a page: it is never listed in st.navigation.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from connectors.eml_file import EmlFileNotifier
from connectors.sendgrid_email import DEFAULT_HOST, SendGridNotifier
from connectors.twilio_sms import TwilioNotifier
from storage import db
from workflow.notification_services import Dispatcher
from workflow.notifications import Notifier

log = logging.getLogger("atelier.dispatcher")

CONFIG_KEYS = ("SENDGRID_API_KEY", "ATELIER_MAIL_FROM", "ATELIER_MAIL_FROM_NAME",
               "ATELIER_MAIL_REPLY_TO", "SENDGRID_HOST", "TWILIO_ACCOUNT_SID",
               "TWILIO_AUTH_TOKEN", "TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM",
               "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_BASE_URL", "ATELIER_NOTIFY_TIMEOUT",
               "ATELIER_DISPATCHER")
POLL_SECONDS = 2.0


def streamlit_secrets() -> dict[str, str]:
    """The configuration keys found in `st.secrets` ({} when there is no secrets file)."""
    try:
        import streamlit as st

        return {k: str(st.secrets[k]) for k in CONFIG_KEYS if k in st.secrets}
    except Exception:  # no secrets.toml, or not running under Streamlit
        return {}


def config_from(env: Mapping[str, str] | None = None,
                secrets: Mapping[str, str] | None = None) -> dict[str, str]:
    """The notification configuration: `CONFIG_KEYS` from `secrets`, overridden by `env`
    (default `os.environ`); blank values are left out."""
    env = os.environ if env is None else env
    merged = {k: str(v) for k, v in (secrets or {}).items() if k in CONFIG_KEYS}
    merged.update({k: env[k] for k in CONFIG_KEYS if env.get(k)})
    return {k: v.strip() for k, v in merged.items() if v and v.strip()}


def outbox_folder(db_path: str | os.PathLike) -> Path:
    """Where .eml files go: `outbox/` beside the database file (data/outbox by default)."""
    return Path(db_path).parent / "outbox"


@dataclass
class Wiring:
    """The notifiers per channel, and a sentence per channel for the screen."""

    notifiers: dict[str, Notifier]
    descriptions: dict[str, str]
    problems: list[str] = field(default_factory=list)


def build_notifiers(config: Mapping[str, str], folder: str | os.PathLike) -> Wiring:
    """Pick a notifier per channel from `config` (see `config_from`).

    Email: SendGrid with an API key and a sender, else .eml files in `folder`. SMS/WhatsApp:
    Twilio when its SID, token and a sender are set; with neither email provider nor Twilio
    (a shop trying the app), SMS/WhatsApp are written as .eml files too; with SendGrid but no
    Twilio they fall back to email. A half-configured provider is reported in `problems`.
    """
    timeout = 10.0
    problems: list[str] = []
    try:
        timeout = float(config.get("ATELIER_NOTIFY_TIMEOUT", "10"))
    except ValueError:
        problems.append(f"ATELIER_NOTIFY_TIMEOUT={config['ATELIER_NOTIFY_TIMEOUT']!r} is not "
                        "a number of seconds; using 10.")
    local = EmlFileNotifier(folder, sender=config.get("ATELIER_MAIL_FROM", "atelier@localhost"))
    notifiers: dict[str, Notifier] = {}
    described: dict[str, str] = {}
    key, sender = config.get("SENDGRID_API_KEY"), config.get("ATELIER_MAIL_FROM")
    if key and sender:
        host = config.get("SENDGRID_HOST", DEFAULT_HOST)
        notifiers["email"] = SendGridNotifier(key, sender,
                                              sender_name=config.get("ATELIER_MAIL_FROM_NAME"),
                                              reply_to=config.get("ATELIER_MAIL_REPLY_TO"),
                                              host=host, timeout=timeout)
        described["email"] = f"SendGrid ({host}), from {sender}"
    else:
        if key and not sender:
            problems.append("SENDGRID_API_KEY is set but ATELIER_MAIL_FROM is not: email is "
                            "written as .eml files until a verified sender is set.")
        notifiers["email"] = local
        described["email"] = f".eml files in {Path(folder)} (no SendGrid key set)"
    sid, token = config.get("TWILIO_ACCOUNT_SID"), config.get("TWILIO_AUTH_TOKEN")
    twilio = None
    if sid and token:
        try:
            twilio = TwilioNotifier(sid, token, sms_from=config.get("TWILIO_SMS_FROM"),
                                    whatsapp_from=config.get("TWILIO_WHATSAPP_FROM"),
                                    messaging_service_sid=config.get(
                                        "TWILIO_MESSAGING_SERVICE_SID"),
                                    base_url=config.get("TWILIO_BASE_URL"), timeout=timeout)
        except ValueError as exc:
            problems.append(f"Twilio is not usable: {exc}.")
    for channel in ("sms", "whatsapp"):
        if twilio is not None and channel in twilio.channels:
            notifiers[channel] = twilio
            described[channel] = "Twilio"
        elif notifiers["email"] is local:
            notifiers[channel] = local
            described[channel] = f".eml files in {Path(folder)} (no Twilio account set)"
        else:
            described[channel] = "not set up: sent by email instead where there is an address"
    return Wiring(notifiers, described, problems)


# --- the background thread ------------------------------------------------------------------

@dataclass
class Runtime:
    """One process's dispatcher thread for one database file."""

    path: str
    dispatcher: Dispatcher | None
    wiring: Wiring
    thread: threading.Thread | None
    stop_event: threading.Event
    started_at: datetime
    disabled: bool = False

    @property
    def running(self) -> bool:
        """True while the dispatcher thread is alive."""
        return self.thread is not None and self.thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait up to `timeout` seconds for it."""
        self.stop_event.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)


_RUNTIMES: dict[int, Runtime] = {}
_BY_PATH: dict[str, Runtime] = {}
_LOCK = threading.Lock()


def start(con: duckdb.DuckDBPyConnection, path: str, *,
          config: Mapping[str, str] | None = None) -> Runtime:
    """Start the dispatcher thread for the process's connection `con` to `path` (once per
    connection: a second call returns the running one). It works on its own cursor."""
    with _LOCK:
        existing = _RUNTIMES.get(id(con))
        if existing is not None:
            return existing
        cfg = config_from(secrets=streamlit_secrets()) if config is None else dict(config)
        wiring = build_notifiers(cfg, outbox_folder(path))
        stop_event = threading.Event()
        if cfg.get("ATELIER_DISPATCHER", "").lower() in ("off", "0", "false", "no"):
            runtime = Runtime(str(path), None, wiring, None, stop_event, datetime.now(UTC),
                              disabled=True)
        else:
            dispatcher = Dispatcher(db.cursor(con), wiring.notifiers, name="app")
            thread = threading.Thread(target=dispatcher.run_forever,
                                      args=(stop_event, POLL_SECONDS), daemon=True,
                                      name=f"atelier-dispatcher:{Path(path).name}")
            runtime = Runtime(str(path), dispatcher, wiring, thread, stop_event,
                              datetime.now(UTC))
            thread.start()
        _RUNTIMES[id(con)] = runtime
        _BY_PATH[str(path)] = runtime
        return runtime


def stop(con: duckdb.DuckDBPyConnection) -> None:
    """Stop the dispatcher started for `con` (the cached connection is being released)."""
    with _LOCK:
        runtime = _RUNTIMES.pop(id(con), None)
        if runtime is not None and _BY_PATH.get(runtime.path) is runtime:
            _BY_PATH.pop(runtime.path, None)
    if runtime is not None:
        runtime.stop()


def runtime_for(path: str | os.PathLike) -> Runtime | None:
    """The dispatcher running in this process for the database at `path`, if any."""
    with _LOCK:
        return _BY_PATH.get(str(path))
