"""The unit of work: one transaction, rolled back unless `commit()` is called (cosmicpython).

Writes are serialised in the process with one lock (GUIDE.md §3), so two browser sessions never
interleave their transactions; a second *process* is kept out by DuckDB's file lock.
"""

from __future__ import annotations

import threading

import duckdb

WRITE_LOCK = threading.RLock()


class UnitOfWork:
    """`with UnitOfWork(cur) as uow: ...; uow.commit()`: all the statements or none.

    DuckDB raises a write-write conflict at the statement and then lets COMMIT "succeed" while
    rolling back, so callers check each statement's result (e.g. the version check's RETURNING)
    and never rely on `commit()` alone.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, lock: bool = True):
        self.con = con
        self._lock = lock
        self._open = False

    def __enter__(self) -> UnitOfWork:
        if self._lock:
            WRITE_LOCK.acquire()
        try:
            self.con.execute("BEGIN TRANSACTION")
        except BaseException:
            if self._lock:
                WRITE_LOCK.release()
            raise
        self._open = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._open:
                self.rollback()
        finally:
            if self._lock:
                WRITE_LOCK.release()

    def commit(self) -> None:
        self.con.execute("COMMIT")
        self._open = False

    def rollback(self) -> None:
        if self._open:
            self._open = False
            try:
                self.con.execute("ROLLBACK")
            except duckdb.TransactionException:
                pass  # already aborted by a conflict

    def execute(self, sql: str, params=None):
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)
