"""`python cli.py import-shopify FILE [--db PATH] [--dry-run]`, as a scheduled job runs it."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def count(db: Path, table: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def test_a_dry_run_prints_the_preview_and_writes_nothing(tmp_path, samples_dir):
    db = tmp_path / "a.duckdb"
    done = cli("import-shopify", str(samples_dir / "shopify" / "dev_store_eur_2025.csv"),
               "--db", str(db), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "new orders" in done.stdout and " 19" in done.stdout
    assert "Dry run: nothing was written." in done.stdout
    assert count(db, "orders") == 0 and count(db, "import_batch") == 0


def test_an_import_then_the_same_file_again_says_nothing_changed(tmp_path, samples_dir):
    db = tmp_path / "a.duckdb"
    path = str(samples_dir / "shopify" / "dev_store_inr_2025.csv")
    first = cli("import-shopify", path, "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "51 new orders, 121 new jobs" in first.stdout
    again = cli("import-shopify", path, "--db", str(db))
    assert again.returncode == 0
    assert "Nothing changed: 51 orders were already up to date." in again.stdout
    assert count(db, "orders") == 51 and count(db, "import_batch") == 2


def test_rejected_rows_are_listed_and_the_exit_code_says_so(tmp_path):
    export = tmp_path / "orders.csv"
    export.write_text(textwrap.dedent("""\
        Name,Id,Created at,Total,Lineitem name,Lineitem quantity,Lineitem price
        #1001,1001,2025-05-11 09:55:16 -0400,10.00,Ring,1,10.00
        #1002,1002,2025-05-11 09:56:16 -0400,ten,Band,1,10.00
        """), encoding="utf-8")
    db = tmp_path / "a.duckdb"
    done = cli("import-shopify", str(export), "--db", str(db))
    assert done.returncode == 1
    assert "rejected: orders.csv, row 3, column 'Total', value 'ten'" in done.stdout
    assert count(db, "orders") == 1  # every other order imports


def test_a_file_that_is_not_an_orders_export_is_refused_in_one_sentence(tmp_path):
    export = tmp_path / "products.csv"
    export.write_text("Handle,Title,Vendor\nring,Ring,Atelier\n", encoding="utf-8")
    done = cli("import-shopify", str(export), "--db", str(tmp_path / "a.duckdb"))
    assert done.returncode == 1
    assert "products.csv has no Name column" in done.stderr
    assert "Traceback" not in done.stderr


def test_dates_that_read_both_ways_need_the_option(tmp_path):
    export = tmp_path / "excel.csv"
    export.write_text("Name,Id,Created at,Total,Lineitem name,Lineitem quantity,Lineitem price\n"
                      "#1,1,03/04/2024 10:00,10.00,Ring,1,10.00\n", encoding="utf-8")
    db = tmp_path / "a.duckdb"
    refused = cli("import-shopify", str(export), "--db", str(db))
    assert refused.returncode == 1 and "--day-first or --month-first" in refused.stderr
    done = cli("import-shopify", str(export), "--db", str(db), "--day-first")
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(db), read_only=True)
    placed, currency = con.execute("SELECT timezone('America/New_York', placed_at)::DATE, "
                                   "currency FROM orders").fetchone()
    con.close()
    assert str(placed) == "2024-04-03"
    assert currency == "USD"  # no Currency column: the shop's currency


def test_the_running_app_holding_the_database_gets_a_plain_message(tmp_path, samples_dir):
    db = tmp_path / "a.duckdb"
    holder = duckdb.connect(str(db))  # stands in for the running app
    try:
        done = cli("import-shopify", str(samples_dir / "shopify" / "dev_store_eur_2025.csv"),
                   "--db", str(db))
    finally:
        holder.close()
    assert done.returncode == 2
    assert "in use by another program" in done.stderr and "Traceback" not in done.stderr


def test_a_db_path_in_a_folder_that_does_not_exist_is_refused_not_created(tmp_path,
                                                                         samples_dir):
    from types import SimpleNamespace

    import cli

    wrong = tmp_path / "no-such-folder" / "atelier.duckdb"
    out, err = io.StringIO(), io.StringIO()
    args = SimpleNamespace(file=str(samples_dir / "shopify" / "dev_store_eur_2025.csv"),
                           db=str(wrong), dry_run=False, day_first=None)
    assert cli.import_shopify(args, out, err) == 1
    assert err.getvalue().startswith(f"--db {wrong}: the folder {wrong.parent} doesn't exist")
    assert not wrong.parent.exists()
