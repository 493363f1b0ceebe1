"""Loopback HTTP stubs of the two providers, for the notification tests and the bench.

`ProviderStub` is an `http.server` in a thread on 127.0.0.1 that answers
- SendGrid v3 `POST /v3/mail/send` (JSON body; 202 with an `X-Message-Id` header), and
- Twilio `POST /2010-04-01/Accounts/{sid}/Messages.json` (form body; 201 with a JSON `sid`),
and records every request. What it answers is planned per request: `plan` is a list of
`Reply`s used in order (then `default`). A `Reply` can be an HTTP status with body and headers,
a slow answer (sleep before answering, to go past the client's timeout), or a hold (keep the
request open until `release()`; `held` is set when it arrives), used to kill a dispatcher
between its send and its mark.

`refused_url()` gives a loopback URL where nothing listens (connection refused). Nothing here
leaves the machine.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int | None = None  # None: success (SendGrid 202, Twilio 201)
    body: dict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0        # seconds to wait before answering
    hold: bool = False        # wait for release() before answering


def sendgrid_error(message: str, field_name: str | None = None) -> dict:
    """A SendGrid v3 error body: {"errors": [{"message", "field", "help"}]}."""
    return {"errors": [{"message": message, "field": field_name, "help": None}]}


def twilio_error(status: int, code: int, message: str) -> dict:
    """A Twilio REST error body: {"code", "message", "more_info", "status"}."""
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


class ProviderStub:
    """A loopback SendGrid + Twilio server; use as a context manager."""

    def __init__(self, plan: list[Reply] | None = None, default: Reply | None = None):
        self.plan = list(plan or [])
        self.default = default
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.held = threading.Event()
        self._release = threading.Event()
        self._ids = itertools.count(1)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                stub._handle(self, raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="provider-stub")

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> ProviderStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def release(self) -> None:
        self._release.set()

    # -- what arrived --------------------------------------------------------------------
    def sendgrid_ids(self) -> list[int]:
        """The outbox ids (custom_args) of the SendGrid requests, in arrival order."""
        with self.lock:
            return [int(r.body["custom_args"]["atelier_outbox_id"]) for r in self.requests
                    if r.path == "/v3/mail/send"]

    def id_counts(self) -> Counter:
        return Counter(self.sendgrid_ids())

    def twilio_requests(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith("/Messages.json")]

    # -- answering -----------------------------------------------------------------------
    def _next_reply(self) -> Reply:
        with self.lock:
            if self.plan:
                return self.plan.pop(0)
        return self.default or Reply()

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        path = urllib.parse.urlsplit(handler.path).path
        if path == "/v3/mail/send":
            body = json.loads(raw or b"{}")
        else:
            body = {k: v[0] if len(v) == 1 else v
                    for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        reply = self._next_reply()
        with self.lock:
            self.requests.append(Received(path, dict(handler.headers), body))
        if reply.hold:
            self.held.set()
            self._release.wait(120)
        if reply.delay:
            time.sleep(reply.delay)
        status, payload, headers = reply.status, reply.body, dict(reply.headers)
        n = next(self._ids)
        if path == "/v3/mail/send":
            status = 202 if status is None else status
            if status == 202:
                headers.setdefault("X-Message-Id", f"sg-{n:06d}")
        elif path.endswith("/Messages.json"):
            status = 201 if status is None else status
            if status == 201 and payload is None:
                payload = {"sid": f"SM{n:032d}", "status": "queued", "to": body.get("To"),
                           "from": body.get("From"), "body": body.get("Body"),
                           "account_sid": path.split("/")[3]}
        else:
            status, payload = 404, {"message": "no such endpoint in the stub"}
        data = b"" if payload is None else (
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        try:
            handler.send_response(status)
            if data:
                handler.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                handler.send_header(k, v)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) or was killed


def refused_url() -> str:
    """A loopback URL where nothing listens: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
