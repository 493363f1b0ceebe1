"""The dispatcher under pressure, on a real DuckDB file and the real `sendgrid` client against a
loopback SendGrid: two dispatchers never send a message twice; a dispatcher process killed
between a send and its mark loses nothing and repeats only that message; the command line
steps aside when the app holds the database; the app's background thread delivers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.sendgrid_email import SendGridNotifier
from pages import dispatcher_runtime
from storage import db
from storage import outbox_repository as outbox
from storage.unit_of_work import UnitOfWork
from tests.integration.notification_stubs import ProviderStub, Reply
from workflow import notification_services as notify
from workflow import services
from workflow.model import NewJob, Role

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def make_shop(path: Path, messages: int) -> list[int]:
    """A database with one job and `messages` queued emails to distinct customers; returns
    their outbox ids. Rows are written by the storage function the queueing service uses."""
    con = db.connect(path)
    cur = db.cursor(con)
    manager = services.actor_for(cur, services.add_staff(UnitOfWork(cur), "Mara Quinn",
                                                         Role.MANAGER))
    order = services.create_walk_in_order(UnitOfWork(cur), manager, customer_name="Jordan Lee",
                                          email="jordan@example.com", jobs=[NewJob("Ring")])
    now = datetime.now(UTC)
    ids = []
    with UnitOfWork(cur) as uow:
        for i in range(messages):
            ids.append(outbox.insert_message(
                uow.con, dedupe_key=f"load:{i}", job_id=order["job_ids"][0],
                customer_id=order["customer_id"], channel="email", stage="ready",
                status="queued", payload={"n": i}, recipient_email=f"c{i}@example.com",
                recipient_phone=None, subject=f"Message {i}", body_text=f"Hello {i}\n",
                body_html=f"<p>Hello {i}</p>\n", body_sms=f"Hello {i}", note=None, at=now))
        uow.commit()
    cur.close()
    con.close()
    return ids


def statuses(path: Path) -> dict[str, int]:
    con = db.connect(path)
    try:
        return dict(con.execute("SELECT status, count(*) FROM notification_outbox"
                                " GROUP BY status").fetchall())
    finally:
        con.close()


# --- two dispatchers -----------------------------------------------------------------------------

@pytest.mark.parametrize("process_lock", [True, False],
                         ids=["app-write-lock", "database-conflicts-only"])
def test_two_dispatcher_threads_send_each_of_1000_messages_exactly_once(tmp_path, process_lock):
    """With the app's write lock, and without it (claims then collide in DuckDB itself and
    the loser's TransactionException means "someone else claimed them")."""
    path = tmp_path / "load.duckdb"
    ids = make_shop(path, 1000)
    con = db.connect(path)
    reports = {}
    with ProviderStub() as stub:
        def work(name: str) -> None:
            cur = db.cursor(con)
            d = notify.Dispatcher(cur, {"email": SendGridNotifier(
                "SG.key", "shop@example.com", host=stub.url, timeout=5)}, name=name,
                batch_size=20, lock=process_lock)
            reports[name] = d.drain()
            cur.close()

        threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        counts = stub.id_counts()
    assert sorted(counts) == ids
    assert set(counts.values()) == {1}, [i for i, n in counts.items() if n > 1]
    assert reports["t1"].sent + reports["t2"].sent == 1000
    assert reports["t1"].sent > 0 and reports["t2"].sent > 0, reports
    assert con.execute("""SELECT count(*), count(DISTINCT provider_message_id),
                                 max(attempts), count(claimed_by)
                            FROM notification_outbox WHERE status = 'sent'""").fetchone() == (
        1000, 1000, 1, 0)
    con.close()


# --- a dispatcher killed between send and mark -----------------------------------------------

def dispatch_command(path: Path) -> list[str]:
    return [sys.executable, "cli.py", "dispatch", "--db", str(path), "--once"]


def dispatch_env(stub: ProviderStub) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(SENDGRID_API_KEY="SG.test", SENDGRID_HOST=stub.url,
               ATELIER_MAIL_FROM="shop@example.com", ATELIER_NOTIFY_TIMEOUT="60",
               NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    return env


def test_a_dispatcher_killed_between_send_and_mark_loses_none_and_repeats_at_most_one(
        tmp_path):
    path = tmp_path / "crash.duckdb"
    ids = make_shop(path, 30)
    # The 8th request reaches "SendGrid" (it is counted: sent) and is held open, so the
    # dispatcher is killed after sending it and before marking it.
    with ProviderStub(plan=[Reply()] * 7 + [Reply(hold=True)]) as stub:
        proc = subprocess.Popen(dispatch_command(path), cwd=REPO, env=dispatch_env(stub),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert stub.held.wait(60), "the dispatcher never sent the 8th message"
        finally:
            proc.kill()
            proc.wait(30)
        assert proc.returncode == -9
        in_flight = stub.sendgrid_ids()[-1]
        assert stub.sendgrid_ids() == ids[:8]
        assert statuses(path) == {"sent": 7, "queued": 23}
        stub.release()

        again = subprocess.run(dispatch_command(path), cwd=REPO, env=dispatch_env(stub),
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert "23 sent" in again.stdout and "taken back (sent again)" in again.stdout
        counts = stub.id_counts()
    assert sorted(counts) == ids                                  # none lost
    assert [i for i, n in counts.items() if n > 1] == [in_flight]  # one repeat: the in-flight one
    assert counts[in_flight] == 2 and sum(counts.values()) == 31
    assert statuses(path) == {"sent": 30}
    con = db.connect(path)
    note = con.execute("SELECT note FROM notification_outbox WHERE id = ?",
                       [in_flight]).fetchone()[0]
    con.close()
    assert "may arrive twice" in note


# --- the command line and the app ------------------------------------------------------------

def test_the_command_steps_aside_when_the_app_holds_the_database(tmp_path):
    path = tmp_path / "held.duckdb"
    make_shop(path, 1)
    con = db.connect(path)                      # as the running app does
    try:
        done = subprocess.run(dispatch_command(path), cwd=REPO, capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "SENDGRID_API_KEY": ""})
    finally:
        con.close()
    assert done.returncode == 2
    assert done.stderr.startswith("The Atelier app has the database open, and its own "
                                  "dispatcher is sending the messages: nothing to do here.")
    assert statuses(path) == {"queued": 1}


def test_the_command_without_a_provider_writes_eml_files_beside_the_database(tmp_path):
    path = tmp_path / "local.duckdb"
    make_shop(path, 3)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SENDGRID", "TWILIO", "ATELIER_MAIL"))}
    done = subprocess.run(dispatch_command(path), cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (f"email: .eml files in {tmp_path / 'outbox'} "
                                           "(no SendGrid key set)")
    assert "3 delivered locally" in done.stdout
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
    assert statuses(path) == {"delivered_locally": 3}


def test_the_apps_background_dispatcher_delivers_and_stops_with_its_connection(tmp_path):
    path = tmp_path / "app.duckdb"
    make_shop(path, 0)
    con = db.connect(path)
    with ProviderStub() as stub:
        runtime = dispatcher_runtime.start(con, str(path), config={
            "SENDGRID_API_KEY": "SG.x", "ATELIER_MAIL_FROM": "shop@example.com",
            "SENDGRID_HOST": stub.url})
        try:
            assert dispatcher_runtime.start(con, str(path)) is runtime     # once per connection
            assert runtime.running
            assert runtime.wiring.descriptions["email"].startswith("SendGrid (http://127.0.0.1")
            cur = db.cursor(con)
            job_id = cur.execute("SELECT min(id) FROM jobs").fetchone()[0]
            manager = services.actor_for(cur, 1)
            services.change_stage(UnitOfWork(cur), job_id, "start_design", manager)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not stub.sendgrid_ids():
                time.sleep(0.1)
            assert len(stub.sendgrid_ids()) == 1
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and statuses(path).get("sent") != 1:
                time.sleep(0.1)
            assert statuses(path) == {"sent": 1}
            cur.close()
        finally:
            dispatcher_runtime.stop(con)
    assert not runtime.running
    assert dispatcher_runtime.runtime_for(str(path)) is None
    con.close()


def test_notifiers_are_picked_from_the_configuration(tmp_path):
    wiring = dispatcher_runtime.build_notifiers({}, tmp_path)
    assert {c: n.name for c, n in wiring.notifiers.items()} == {
        "email": "eml-file", "sms": "eml-file", "whatsapp": "eml-file"}
    wiring = dispatcher_runtime.build_notifiers({"SENDGRID_API_KEY": "SG.x"}, tmp_path)
    assert wiring.notifiers["email"].name == "eml-file"
    assert wiring.problems == ["SENDGRID_API_KEY is set but ATELIER_MAIL_FROM is not: email is "
                               "written as .eml files until a verified sender is set."]
    wiring = dispatcher_runtime.build_notifiers(
        {"SENDGRID_API_KEY": "SG.x", "ATELIER_MAIL_FROM": "a@example.com"}, tmp_path)
    assert set(wiring.notifiers) == {"email"}               # SMS falls back to email
    assert wiring.notifiers["email"].client.client.timeout == 10.0
    wiring = dispatcher_runtime.build_notifiers(
        {"SENDGRID_API_KEY": "SG.x", "ATELIER_MAIL_FROM": "a@example.com",
         "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_SMS_FROM": "+15005550006",
         "ATELIER_NOTIFY_TIMEOUT": "4"}, tmp_path)
    assert {c: n.name for c, n in wiring.notifiers.items()} == {"email": "sendgrid",
                                                                "sms": "twilio"}
    assert wiring.notifiers["sms"].client.http_client.timeout == 4.0
    merged = dispatcher_runtime.config_from({"ATELIER_MAIL_FROM": "env@example.com"},
                                            {"ATELIER_MAIL_FROM": "secret@example.com",
                                             "SENDGRID_API_KEY": "SG.s", "OTHER": "x"})
    assert merged == {"ATELIER_MAIL_FROM": "env@example.com", "SENDGRID_API_KEY": "SG.s"}
