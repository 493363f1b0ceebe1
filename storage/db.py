"""Opening the DuckDB file (GUIDE.md §3).

One connection per process; each script run or thread takes its own `cursor()` of it, because a
DuckDB connection is not safe to share between threads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from storage.migrations import migrate
from workflow.errors import DatabaseBusy

DEFAULT_DB = Path("data") / "atelier.duckdb"


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
    try:
        con = duckdb.connect(str(db_path))
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" not in text.lower():
            raise
        pid = re.search(r"PID (\d+)", text)
        holder = f" (process {pid.group(1)})" if pid else ""
        raise DatabaseBusy(
            f"The database {db_path} is in use by another program{holder}, probably the running "
            "Atelier app. Use the page in the running app, or stop the app first and try again."
        ) from exc
    _session_settings(con)
    # A cap for a small shared box (e.g. ATELIER_DB_MEMORY=512MB); past it DuckDB spills to
    # disk. Unset by default: at 256MB a 100k-row import took 2x longer and peaked 541 MB
    # instead of 706 MB (bench/README.md).
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
    # Instants are stored and compared in UTC; pages convert to the shop's zone for people.
    con.execute("SET TimeZone = 'UTC'")
