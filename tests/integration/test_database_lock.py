"""One program at a time holds the database file; a second one is told plainly what to do.
And the schema is brought up to date once, by numbered migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from storage import db
from storage.migrations import MIGRATIONS, current_version, migrate

ROOT = Path(__file__).resolve().parents[2]
LATEST = MIGRATIONS[-1][0]

SECOND_PROGRAM = textwrap.dedent("""
    import sys
    from storage.db import connect
    from workflow.errors import DatabaseBusy
    try:
        con = connect(sys.argv[1])
    except DatabaseBusy as exc:
        print(exc, file=sys.stderr)
        print(type(exc.__cause__).__name__)
        sys.exit(3)
    print("opened", con.execute("SELECT max(version) FROM schema_version").fetchone()[0])
""")


def _run_second_program(db_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", SECOND_PROGRAM, str(db_path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def test_a_second_program_is_told_the_database_is_in_use_and_what_to_do(con, db_path):
    con.execute("SELECT 1").fetchone()  # this process holds the file open
    done = _run_second_program(db_path)
    assert done.returncode == 3, done.stderr
    message = done.stderr.strip()
    assert "Traceback" not in done.stderr
    assert message.startswith(f"The database {db_path} is in use by another program")
    assert f"(process {os.getpid()})" in message
    assert "Use the page in the running app" in message
    assert "stop the app first" in message
    assert "Conflicting lock" not in message  # DuckDB's own words stay out of the sentence
    assert done.stdout.strip() == "IOException"


def test_the_second_program_opens_the_database_once_the_first_has_closed_it(con, db_path):
    con.close()
    done = _run_second_program(db_path)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, f"opened {LATEST}", "")


def test_the_migrations_are_numbered_from_1_without_gaps():
    assert [number for number, _, _ in MIGRATIONS] == list(range(1, LATEST + 1))


def test_a_new_database_has_schema_version_1_and_every_later_migration(con):
    rows = con.execute("SELECT version, description FROM schema_version ORDER BY version"
                       ).fetchall()
    assert rows[0] == (1, "jobs, orders, customers, staff, history, audit, outbox, designs, QC")
    assert rows == [(number, description) for number, description, _ in MIGRATIONS]
    assert current_version(con) == LATEST
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"jobs", "orders", "customers", "staff", "job_status_history", "audit_log",
            "notification_outbox", "design_versions", "design_decisions", "qc_checks",
            "job_notes", "payments", "order_lines", "import_batch"} <= tables


def test_migrations_are_applied_once(tmp_path):
    path = tmp_path / "fresh.duckdb"
    con = db.connect(path, migrate_schema=False)
    assert migrate(con) == list(range(1, LATEST + 1))
    assert migrate(con) == []
    first = con.execute("SELECT * FROM schema_version").fetchall()
    con.close()

    con = db.connect(path)  # connecting again applies nothing
    assert migrate(con) == []
    assert con.execute("SELECT * FROM schema_version").fetchall() == first
    assert len(first) == LATEST
    con.close()


def test_connecting_twice_keeps_the_data(tmp_path):
    path = tmp_path / "shop.duckdb"
    con = db.connect(path)
    con.execute("INSERT INTO settings VALUES ('shop_tz', 'Europe/Lisbon')")
    con.close()
    con = db.connect(path)
    assert con.execute("SELECT value FROM settings WHERE key = 'shop_tz'").fetchone() == (
        "Europe/Lisbon",)
    assert con.execute("SELECT count(*) FROM schema_version").fetchone() == (LATEST,)
    con.close()


def test_two_connections_in_one_process_share_the_file_and_outlive_each_other(tmp_path):
    # The file is attached to an in-memory database named after it (storage.db.connect): a
    # second connect() in the same process (a page test beside the app's cached connection)
    # must share it, not fail to attach the same file twice.
    path = tmp_path / "shared.duckdb"
    first = db.connect(path)
    second = db.connect(path)
    first.execute("INSERT INTO settings (key, value) VALUES ('probe', 'one')")
    assert second.execute("SELECT value FROM settings WHERE key = 'probe'").fetchall() == [
        ("one",)]
    first.close()
    assert db.cursor(second).execute("SELECT count(*) FROM settings WHERE key = 'probe'"
                                     ).fetchall() == [(1,)]
    second.close()
    again = db.connect(path)  # everything closed: the file is attached afresh
    assert again.execute("SELECT value FROM settings WHERE key = 'probe'").fetchall() == [
        ("one",)]
    again.close()


def test_tables_are_stored_in_small_row_groups_and_the_file_opens_in_plain_duckdb(tmp_path):
    # Small row groups let a big import write full groups to the file as it goes instead of
    # holding the whole transaction in memory (bench/README.md, import finding 2).
    import duckdb

    path = tmp_path / "groups.duckdb"
    con = db.connect(path)
    rows = 2 * db.ROW_GROUP_SIZE + 5
    con.execute("CREATE TABLE probe AS SELECT range AS i FROM range(?)", [rows])
    groups = con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('probe')"
                         ).fetchall()[0][0]
    assert groups == 3
    con.close()
    plain = duckdb.connect(str(path))
    assert plain.execute("SELECT (SELECT count(*) FROM probe), "
                         "(SELECT max(version) FROM schema_version)").fetchall() == [
        (rows, LATEST)]
    plain.close()
