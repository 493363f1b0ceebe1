"""Atelier's command line, the second entry point beside streamlit_app.py.

    python cli.py import-shopify FILE [--db PATH] [--dry-run]
    python cli.py dispatch [--db PATH] [--once]     send the customer messages that are due

It wires connectors to workflow services exactly as the pages do. Exit codes: 0 all well,
1 rows were rejected or the file was refused, 2 the database is held by the running app.
`dispatch` exits 1 when a message failed for good during the run, and 2 when the app holds
the database (its own dispatcher is doing the work then).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from connectors.shopify import NotAnOrdersExport, parse_orders_export
from storage import db, queries
from storage.unit_of_work import UnitOfWork
from workflow.errors import AtelierError, DatabaseBusy
from workflow.import_service import ImportPreview, import_orders, preview_import
from workflow.model import SYSTEM_IMPORT


def _print_preview(preview: ImportPreview, out) -> None:
    s = preview.summary
    rows = [("new orders", s.orders_created), ("new jobs", s.jobs_created),
            ("new customers", s.customers_created), ("changed orders", s.orders_updated),
            ("unchanged orders", s.orders_unchanged), ("rejected rows", s.rows_rejected),
            ("jobs to cancel", s.jobs_cancelled), ("jobs to decide", s.jobs_flagged)]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>7}", file=out)
    for name, changes in preview.changes.items():
        said = "; ".join(f"{label} {before} -> {after}" for label, before, after in changes)
        print(f"  changed {name}: {said}", file=out)
    for name, why in preview.older_orders:
        print(f"  left as it is {name}: this file has it in an earlier state ({why})", file=out)
    if preview.older_orders and preview.changed_orders:
        print("  warning: this file is older than Atelier for some orders, so its other "
              "changes may be old too; check them, or export a fresh file from Shopify",
              file=out)
    for note in preview.notes:
        print(f"  note: {note}", file=out)
    for problem in preview.problems:
        print(f"  rejected: {problem}", file=out)


def import_shopify(args: argparse.Namespace, out=sys.stdout, err=sys.stderr) -> int:
    """Preview, then (unless --dry-run) import a Shopify orders export. Returns the exit code."""
    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: no such file." if not path.is_dir() else
              f"{path} is a folder; give the export's file.", file=err)
        return 1
    if args.db and not Path(args.db).parent.is_dir():
        # a typo in --db must not quietly start a new, empty shop somewhere else
        print(f"--db {args.db}: the folder {Path(args.db).parent} doesn't exist; check the "
              "path (a new database is made only in an existing folder).", file=err)
        return 1
    try:
        con = db.connect(args.db)
    except DatabaseBusy as exc:
        print(str(exc), file=err)
        return 2
    try:
        cur = db.cursor(con)
        try:
            parsed = parse_orders_export(path, shop_tz=queries.setting(cur, "shop_tz"),
                                         day_first=args.day_first)
        except (NotAnOrdersExport, ValueError) as exc:
            print(str(exc), file=err)
            return 1
        if parsed.row_count == 0:
            print(f"{path.name} has a header but no orders in it: nothing to import.",
                  file=err)
            return 1
        if parsed.date_order_guessed:
            print(f"{path.name}: its dates (like 03/04/2024) can be read day first or month "
                  "first, and nothing in the file tells which. Run again with --day-first or "
                  "--month-first.", file=err)
            return 1
        preview = preview_import(UnitOfWork(cur), parsed)
        print(f"{path.name}: {parsed.row_count} rows read", file=out)
        _print_preview(preview, out)
        if preview.nothing_to_import:
            print(f"{path.name}: no order in it can be imported (each has a row that can't be "
                  "read); nothing was written.", file=err)
            return 1
        if args.dry_run:
            print("Dry run: nothing was written.", file=out)
        else:
            summary = import_orders(UnitOfWork(cur), parsed, SYSTEM_IMPORT,
                                    lead_time_days=int(queries.setting(cur, "lead_time_days")))
            print(f"Imported as batch {summary.batch_id}: {summary.sentence()}", file=out)
        return 1 if preview.problems else 0
    except AtelierError as exc:
        print(str(exc), file=err)
        return 1
    finally:
        con.close()


def dispatch(args: argparse.Namespace, out=sys.stdout, err=sys.stderr) -> int:
    """Send the customer messages that are due (issue 4), as the app's dispatcher does.

    With --once: until nothing is due now, then exit (for a scheduled run); else until
    Ctrl-C/SIGTERM, checking every --poll seconds. Notifiers come from the environment (see
    pages/dispatcher_runtime.py). Returns the exit code (module docstring).
    """
    import logging
    import signal
    import threading

    from pages.dispatcher_runtime import build_notifiers, config_from, outbox_folder
    from workflow.notification_services import Dispatcher

    try:
        con = db.connect(args.db)
    except DatabaseBusy as exc:
        print("The Atelier app has the database open, and its own dispatcher is sending the "
              f"messages: nothing to do here.\n({exc})", file=err)
        return 2
    try:
        wiring = build_notifiers(config_from(), outbox_folder(db.database_path(args.db)))
        for problem in wiring.problems:
            print(f"note: {problem}", file=err)
        for channel, described in wiring.descriptions.items():
            print(f"{channel}: {described}", file=out)
        dispatcher = Dispatcher(db.cursor(con), wiring.notifiers, name="cli")
        if args.once:
            report = dispatcher.drain()
            print(report.sentence(), file=out)
            return 1 if report.failed else 0
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                            stream=err)  # a line per round that sent anything
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print("Sending due messages until stopped (Ctrl-C).", file=out, flush=True)
        dispatcher.run_forever(stop, poll_seconds=args.poll)
        print(dispatcher.totals.sentence(), file=out)
        return 1 if dispatcher.totals.failed else 0
    except AtelierError as exc:
        print(str(exc), file=err)
        return 1
    finally:
        con.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description="Atelier command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import-shopify", help="import a Shopify 'Export orders' CSV")
    p.add_argument("file", help="the CSV exported from Shopify (Orders > Export)")
    p.add_argument("--db", help="database file (default: $ATELIER_DB or data/atelier.duckdb)")
    p.add_argument("--dry-run", action="store_true", help="show the preview, write nothing")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--day-first", dest="day_first", action="store_true", default=None,
                       help="dates like 03/04/2024 are 3 April (a file re-saved outside the US)")
    order.add_argument("--month-first", dest="day_first", action="store_false",
                       help="dates like 03/04/2024 are 4 March")
    p.set_defaults(func=import_shopify)
    p = sub.add_parser("dispatch", help="send the customer messages that are due")
    p.add_argument("--db", help="database file (default: $ATELIER_DB or data/atelier.duckdb)")
    p.add_argument("--once", action="store_true",
                   help="send what is due now, then exit (for a scheduled run)")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between checks (default 5)")
    p.set_defaults(func=dispatch)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `python cli.py import-shopify ... | head`: the reader left before the end, so the
        # work may not have been done; exit 1 without a traceback (Python's documented recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)
