"""Atelier's command line, the second entry point beside streamlit_app.py.

    python cli.py import-shopify FILE [--db PATH] [--dry-run]

It wires connectors to workflow services exactly as the pages do. Exit codes: 0 all well,
1 rows were rejected or the file was refused, 2 the database is held by the running app.
"""

from __future__ import annotations

import argparse
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
            ("unchanged orders", s.orders_unchanged), ("rejected rows", s.rows_rejected)]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>7}", file=out)
    for name, fields in s.changed_fields.items():
        print(f"  changed {name}: {', '.join(fields)}", file=out)
    for note in preview.notes:
        print(f"  note: {note}", file=out)
    for problem in preview.problems:
        print(f"  rejected: {problem}", file=out)


def import_shopify(args: argparse.Namespace, out=sys.stdout, err=sys.stderr) -> int:
    """Preview, then (unless --dry-run) import a Shopify orders export. Returns the exit code."""
    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: no such file.", file=err)
        return 1
    try:
        con = db.connect(args.db)
    except DatabaseBusy as exc:
        print(str(exc), file=err)
        return 2
    try:
        cur = db.cursor(con)
        try:
            parsed = parse_orders_export(path, shop_tz=queries.setting(cur, "shop_tz"))
        except (NotAnOrdersExport, ValueError) as exc:
            print(str(exc), file=err)
            return 1
        preview = preview_import(UnitOfWork(cur), parsed)
        print(f"{path.name}: {parsed.row_count} rows read", file=out)
        _print_preview(preview, out)
        if args.dry_run:
            print("Dry run: nothing was written.", file=out)
        else:
            summary = import_orders(UnitOfWork(cur), parsed, SYSTEM_IMPORT,
                                    lead_time_days=int(queries.setting(cur, "lead_time_days")))
            print(f"Imported as batch {summary.batch_id}: {summary.sentence()}", file=out)
        return 1 if parsed.problems else 0
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
    p.set_defaults(func=import_shopify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
