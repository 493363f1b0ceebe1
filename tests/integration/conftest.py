"""Integration fixtures: a real DuckDB file per test, real staff, real walk-in orders, and a
helper that drives a job through the real services to a stage.

Nothing is mocked: every fixture writes through `workflow.services` into the file under
`tmp_path`, the same way the app does.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from storage import db
from storage.unit_of_work import UnitOfWork
from workflow import services
from workflow.model import Actor, NewJob, Role

# The main path through the lifecycle, in the order a job walks it.
MAIN_PATH = ["new", "design_consultation", "awaiting_approval", "in_production",
             "quality_check", "ready", "completed"]


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, valid PNG image (grey pixels), built without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Shop:
    """The workshop in a test: its database cursor, its people and the usual errands.

    `drive(job_id, stage)` walks a job along `MAIN_PATH` with the services a person would use:
    the designer starts the design and attaches a render, the customer approves it in person,
    the manager assigns Ben, Ben sends it to QC, Bea signs the checklist and passes it, the
    manager takes the balance and hands it over.
    """

    def __init__(self, con, cur, files_dir: Path, manager: Actor, ben: Actor, bea: Actor,
                 designer: Actor):
        self.con = con
        self.cur = cur
        self.files_dir = files_dir
        self.manager = manager
        self.ben = ben
        self.bea = bea
        self.designer = designer

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.cur)

    # --- reading -------------------------------------------------------------------------
    def job(self, job_id: int) -> dict:
        cur = self.cur.execute("SELECT * FROM jobs WHERE id = ?", [job_id])
        return dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))

    def count(self, table: str, where: str = "", params: list | None = None) -> int:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(self.cur.execute(sql, params or []).fetchone()[0])

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.cur.execute(sql, params or []).fetchall()

    def footprint(self, job_id: int) -> dict:
        """What a write to a job leaves behind: its row, and the rows of the logs."""
        return {
            "job": self.job(job_id),
            "history": self.count("job_status_history"),
            "audit": self.count("audit_log"),
            "outbox": self.count("notification_outbox"),
            "decisions": self.count("design_decisions"),
            "designs": self.count("design_versions"),
        }

    # --- errands -------------------------------------------------------------------------
    def walk_in(self, piece: str = "Solitaire ring", *, price: str = "1200.00",
                deposit: str = "200.00", design_needed: bool = True,
                customer_name: str = "Jordan Lee", email: str = "jordan@example.com",
                **job_fields) -> dict:
        """A walk-in order with one job; returns the service's result plus "job_id"."""
        result = services.create_walk_in_order(
            self.uow(), self.manager, customer_name=customer_name, email=email,
            jobs=[NewJob(piece, price=Decimal(price), design_needed=design_needed,
                         **job_fields)],
            deposit=deposit)
        result["job_id"] = result["job_ids"][0]
        return result

    def change(self, job_id: int, trigger: str, actor: Actor | None = None, **kw):
        return services.change_stage(self.uow(), job_id, trigger, actor or self.manager, **kw)

    def attach_design(self, job_id: int, actor: Actor | None = None,
                      name: str = "render.png") -> int:
        return services.attach_design_version(self.uow(), job_id, name, png_bytes(),
                                              actor or self.designer, files_dir=self.files_dir)

    def approve_latest(self, job_id: int, actor: Actor | None = None):
        latest = self.rows("SELECT max(version_no) FROM design_versions WHERE job_id = ?",
                           [job_id])[0][0]
        return services.record_design_decision(self.uow(), job_id, latest, "approved",
                                               actor or self.manager, channel="in person")

    def sign_qc(self, job_id: int, signer: Actor, passed: bool = True, note: str = "") -> bool:
        results = {point: True for point in services.QC_CHECKLIST}
        if not passed:
            results[services.QC_CHECKLIST[0]] = False
        return services.record_qc_check(self.uow(), job_id, results, signer, note=note)

    def settle(self, job_id: int) -> None:
        order_id = self.job(job_id)["order_id"]
        balance = self.rows("""SELECT o.total - coalesce(sum(p.amount), 0) FROM orders o
                               LEFT JOIN payments p ON p.order_id = o.id
                               WHERE o.id = ? GROUP BY o.total""", [order_id])[0][0]
        if balance > 0:
            services.take_payment(self.uow(), order_id, balance, self.manager, method="card")

    def drive(self, job_id: int, stage: str) -> dict:
        """Walk the job forward along `MAIN_PATH` until it is in `stage`; returns its row."""
        if stage not in MAIN_PATH:
            raise ValueError(f"drive() walks the main path only, not to {stage!r}")
        steps = {
            "new": self._to_design,
            "design_consultation": self._to_approval,
            "awaiting_approval": lambda j: self.approve_latest(j),
            "in_production": self._to_qc,
            "quality_check": self._to_ready,
            "ready": self._to_completed,
        }
        while (state := self.job(job_id)["state"]) != stage:
            if MAIN_PATH.index(state) > MAIN_PATH.index(stage):
                raise ValueError(f"job {job_id} is already past {stage!r} (it is {state!r})")
            steps[state](job_id)
        return self.job(job_id)

    def _to_design(self, job_id: int) -> None:
        self.change(job_id, "start_design", self.designer)

    def _to_approval(self, job_id: int) -> None:
        self.attach_design(job_id)
        self.change(job_id, "send_for_approval", self.designer)

    def _to_qc(self, job_id: int) -> None:
        if self.job(job_id)["assignee_id"] is None:
            services.update_job(self.uow(), job_id, self.manager,
                                {"assignee_id": self.ben.staff_id})
        self.change(job_id, "submit_for_qc", self.ben)

    def _to_ready(self, job_id: int) -> None:
        self.sign_qc(job_id, self.bea)
        self.change(job_id, "pass_qc", self.bea)

    def _to_completed(self, job_id: int) -> None:
        self.settle(job_id)
        self.change(job_id, "hand_over", self.manager)


STAFF = {"manager": ("Mara Quinn", Role.MANAGER),
         "ben": ("Ben Ortiz", Role.BENCH_JEWELER),
         "bea": ("Bea Lind", Role.BENCH_JEWELER),
         "designer": ("Dev Rao", Role.DESIGNER)}


@pytest.fixture(scope="session")
def _staffed_template(tmp_path_factory) -> Path:
    """A database file made once per run the way the app makes one (connect, migrations, staff
    added through `services.add_staff`); each test gets its own copy, which keeps the suite fast.
    """
    path = tmp_path_factory.mktemp("template") / "t.duckdb"
    con = db.connect(path)
    cur = db.cursor(con)
    for name, role in STAFF.values():
        services.add_staff(UnitOfWork(cur), name, role)
    cur.close()
    con.close()
    return path


@pytest.fixture
def db_path(tmp_path, _staffed_template) -> Path:
    """This test's own database file, already migrated and with the four staff members."""
    path = tmp_path / "t.duckdb"
    shutil.copyfile(_staffed_template, path)
    wal = _staffed_template.with_name(_staffed_template.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, path.with_name(path.name + ".wal"))
    return path


@pytest.fixture
def con(db_path):
    connection = db.connect(db_path)
    yield connection
    try:  # the file is thrown away: skip the checkpoint on close, it only costs time
        connection.execute("PRAGMA disable_checkpoint_on_shutdown")
    except Exception:  # already closed by the test
        pass
    connection.close()


@pytest.fixture
def cur(con):
    cursor = db.cursor(con)
    yield cursor
    cursor.close()


@pytest.fixture
def png() -> bytes:
    """The bytes of a small, valid PNG render."""
    return png_bytes()


@pytest.fixture
def files_dir(tmp_path) -> Path:
    path = tmp_path / "files"
    path.mkdir()
    return path


def _staff(cur, key: str) -> Actor:
    name, role = STAFF[key]
    row = cur.execute("SELECT id FROM staff WHERE name = ?", [name]).fetchone()
    actor = services.actor_for(cur, int(row[0]))
    assert actor.role == role
    return actor


@pytest.fixture
def manager(cur) -> Actor:
    """Mara, the workshop manager."""
    return _staff(cur, "manager")


@pytest.fixture
def ben(cur) -> Actor:
    """A bench jeweler: Ben makes the pieces in these tests."""
    return _staff(cur, "ben")


@pytest.fixture
def bea(cur) -> Actor:
    """A second bench jeweler: Bea checks Ben's pieces at QC."""
    return _staff(cur, "bea")


@pytest.fixture
def designer(cur) -> Actor:
    """Dev, the CAD designer."""
    return _staff(cur, "designer")


@pytest.fixture
def shop(con, cur, files_dir, manager, ben, bea, designer) -> Shop:
    return Shop(con, cur, files_dir, manager, ben, bea, designer)
