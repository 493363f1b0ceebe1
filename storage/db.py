"""Opening the DuckDB file (GUIDE.md §3).

One connection per process; each script run or thread takes its own `cursor()` of it, because a
DuckDB connection is not safe to share between threads.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import duckdb

from storage.migrations import migrate
from workflow.errors import DatabaseBusy

DEFAULT_DB = Path("data") / "atelier.duckdb"
# The file is attached under this name and made the default catalog of every cursor.
CATALOG = "atelier"
# Rows per row group (DuckDB's default is 122,880). A transaction's inserts stay in memory
# until a row group fills, so with the default a whole 100k-row import sat in memory until
# COMMIT; at 16,384 rows full groups are written to the file as the import goes (DuckDB's
# "optimistic writes"). bench/README.md (import, finding 2) has the figures.
ROW_GROUP_SIZE = 16_384


def database_path(explicit: str | os.PathLike | None = None) -> Path:
    """The database file: `explicit`, else `$ATELIER_DB`, else `data/atelier.duckdb`."""
    return Path(explicit or os.environ.get("ATELIER_DB") or DEFAULT_DB)


def connect(path: str | os.PathLike | None = None, *, migrate_schema: bool = True
            ) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the database file and bring its schema up to date.

    Raises `DatabaseBusy` with the remedy when another process holds DuckDB's file lock.
    """
    db_path = database_path(path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    # The file is ATTACHed to an in-memory database because the row group size is an ATTACH
    # option (duckdb.org/docs/stable/sql/statements/attach); the file itself is an ordinary
    # DuckDB database that any DuckDB opens. The in-memory database is named after the file,
    # so that a second connect() in this process shares it (as duckdb.connect(file) would)
    # instead of failing to attach the same file twice.
    resolved = str(db_path.resolve())
    con = duckdb.connect(f":memory:atelier_{hashlib.sha1(resolved.encode()).hexdigest()[:16]}")
    path_sql = "'" + resolved.replace("'", "''") + "'"
    try:
        con.execute(f"ATTACH IF NOT EXISTS {path_sql} AS {CATALOG} "
                    f"(ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
    except duckdb.IOException as exc:
        con.close()
        text = str(exc)
        if "lock" not in text.lower():
            raise
        pid = re.search(r"PID (\d+)", text)
        holder = f" (process {pid.group(1)})" if pid else ""
        raise DatabaseBusy(
            f"The database {db_path} is in use by another program{holder}, probably the running "
            "Atelier app. Use the page in the running app, or stop the app first and try again."
        ) from exc
    # Write each full row group out instead of buffering five of them (the default).
    con.execute("SET GLOBAL write_buffer_row_group_count = 1")
    _session_settings(con)
    # A cap for a small shared box (e.g. ATELIER_DB_MEMORY=512MB); past it DuckDB spills to
    # disk. Unset by default: small row groups keep a 100k-row import under 500 MB without it,
    # and a 256MB cap made that import twice as slow (bench/README.md).
    if os.environ.get("ATELIER_DB_MEMORY"):
        con.execute("SET memory_limit = ?", [os.environ["ATELIER_DB_MEMORY"]])
    if migrate_schema:
        migrate(con)
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """An independent connection to the same database, for one script run or one thread."""
    cur = con.cursor()
    _session_settings(cur)
    return cur


def _session_settings(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"USE {CATALOG}")
    # Instants are stored and compared in UTC; pages convert to the shop's zone for people.
    con.execute("SET TimeZone = 'UTC'")
