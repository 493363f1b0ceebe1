"""Customer notifications benchmark (issue 4).

1. Dispatch throughput: N queued messages in a fresh DuckDB file, delivered by the real
   dispatcher (`workflow.notification_services.Dispatcher`) through the real `sendgrid` client
   to the loopback SendGrid stub (tests/integration/notification_stubs.py, http.server on
   127.0.0.1): one dispatcher thread, then two threads (own cursors, the app's write lock),
   then the .eml-file notifier (no provider configured). Each message is claimed in a batch,
   sent, and marked in its own transaction (one commit per message: at most one repeat after
   a crash). Messages/s = N / wall time of the drain.
2. The outbox write's added cost on a state change: M walk-in jobs moved `start_design` with
   `workflow.services.change_stage`, alternating job by job between the real change (which
   renders the stage's template and writes the outbox row in the same transaction) and the
   same change with `services._queue_customer_message` replaced by `lambda *a: 0`, in the same
   run and the same file. Prints the median per change of each and their ratio.

    python -m bench.notify_bench --quick     # N=300, M=200
    python -m bench.notify_bench             # N=2,000, M=1,000

Prints figures; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench._util import code_line, machine_line, table
from connectors.eml_file import EmlFileNotifier  # noqa: E402  (bench._util sets sys.path)
from connectors.sendgrid_email import SendGridNotifier  # noqa: E402
from storage import db  # noqa: E402
from storage import outbox_repository as outbox  # noqa: E402
from storage.unit_of_work import UnitOfWork  # noqa: E402
from tests.integration.notification_stubs import ProviderStub  # noqa: E402
from workflow import notification_services as notify  # noqa: E402
from workflow import services  # noqa: E402
from workflow.model import NewJob, Role  # noqa: E402

CODE = ["workflow/notification_services.py", "workflow/notifications.py",
        "storage/outbox_repository.py", "connectors/sendgrid_email.py"]


def _shop(path: Path) -> tuple:
    con = db.connect(path)
    cur = db.cursor(con)
    manager = services.actor_for(cur, services.add_staff(UnitOfWork(cur), "Mara Quinn",
                                                         Role.MANAGER))
    return con, cur, manager


def _queue(path: Path, n: int) -> None:
    con, cur, manager = _shop(path)
    order = services.create_walk_in_order(UnitOfWork(cur), manager, customer_name="Jordan Lee",
                                          email="jordan@example.com", jobs=[NewJob("Ring")])
    now = datetime.now(UTC)
    with UnitOfWork(cur) as uow:
        for i in range(n):
            outbox.insert_message(
                uow.con, dedupe_key=f"bench:{i}", job_id=order["job_ids"][0],
                customer_id=order["customer_id"], channel="email", stage="ready",
                status="queued", payload={"n": i}, recipient_email=f"c{i}@example.com",
                recipient_phone=None, subject=f"Your ring {i} is ready",
                body_text="Hi Jordan,\n\nYour ring is ready.\n", body_html="<p>Ready</p>\n",
                body_sms="Ready", note=None, at=now)
        uow.commit()
    cur.close()
    con.close()


def dispatch_rate(folder: Path, n: int, threads: int, provider: str) -> tuple[float, float]:
    """(messages/s, seconds) draining `n` queued messages with `threads` dispatchers."""
    path = folder / f"dispatch-{provider}-{threads}.duckdb"
    _queue(path, n)
    con = db.connect(path)
    with ProviderStub() as stub:
        def notifier():
            if provider == "sendgrid":
                return SendGridNotifier("SG.bench", "shop@example.com", host=stub.url,
                                        timeout=10)
            return EmlFileNotifier(folder / f"outbox-{threads}")

        def work(i: int) -> None:
            cur = db.cursor(con)
            notify.Dispatcher(cur, {"email": notifier()}, name=f"bench-{i}",
                              batch_size=50).drain()
            cur.close()

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        seconds = time.perf_counter() - t0
        received = len(stub.requests)
    done = con.execute("SELECT count(*) FROM notification_outbox WHERE status IN "
                       "('sent', 'delivered_locally')").fetchone()[0]
    con.close()
    if done != n or (provider == "sendgrid" and received != n):
        raise SystemExit(f"expected {n} delivered, got {done} (stub saw {received})")
    return n / seconds, seconds


def outbox_cost(folder: Path, m: int) -> dict[str, float]:
    """Median ms of a `start_design` change with and without the outbox write."""
    path = folder / "changes.duckdb"
    con, cur, manager = _shop(path)
    order = services.create_walk_in_order(
        UnitOfWork(cur), manager, customer_name="Jordan Lee", email="jordan@example.com",
        jobs=[NewJob(f"Ring {i}") for i in range(m)])
    real = services._queue_customer_message
    timings: dict[str, list[float]] = {"with": [], "without": []}
    for i, job_id in enumerate(order["job_ids"]):
        kind = "with" if i % 2 == 0 else "without"
        if kind == "without":
            services._queue_customer_message = lambda *a, **k: 0
        try:
            t0 = time.perf_counter()
            services.change_stage(UnitOfWork(cur), job_id, "start_design", manager)
            timings[kind].append(time.perf_counter() - t0)
        finally:
            services._queue_customer_message = real
    queued = cur.execute("SELECT count(*) FROM notification_outbox").fetchone()[0]
    cur.close()
    con.close()
    assert queued == len(timings["with"]), (queued, len(timings["with"]))
    with_ms = statistics.median(timings["with"]) * 1000
    without_ms = statistics.median(timings["without"]) * 1000
    return {"with_ms": with_ms, "without_ms": without_ms, "ratio": with_ms / without_ms,
            "n": len(timings["with"])}


def main(argv: list[str] | None = None) -> None:
    """Run both measurements and print their tables (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=300 messages, M=200 changes")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--changes", type=int)
    args = parser.parse_args(argv)
    n = args.messages or (300 if args.quick else 2000)
    m = args.changes or (200 if args.quick else 1000)
    print(machine_line())
    print(code_line(CODE))
    with tempfile.TemporaryDirectory(prefix="notify-bench-") as tmp:
        folder = Path(tmp)
        rows = []
        for provider, threads in (("sendgrid", 1), ("sendgrid", 2), ("eml-file", 1)):
            rate, seconds = dispatch_rate(folder, n, threads, provider)
            label = ("loopback SendGrid stub" if provider == "sendgrid" else ".eml files")
            rows.append((f"{label}, {threads} dispatcher thread{'s' * (threads > 1)}", n,
                         f"{seconds:.2f}", f"{rate:,.0f}"))
        print()
        print("Dispatch throughput")
        print(table(rows, ["delivered to", "messages", "seconds", "messages/s"]))
        cost = outbox_cost(folder, m)
        print()
        print(f"Outbox write on a state change (start_design, {cost['n']} changes each, "
              "interleaved, same file)")
        print(table([("with the outbox row (render + insert)", f"{cost['with_ms']:.2f}"),
                     ("without it", f"{cost['without_ms']:.2f}"),
                     ("ratio", f"{cost['ratio']:.2f}x")],
                    ["change_stage, median", "ms"]))


if __name__ == "__main__":
    main()
