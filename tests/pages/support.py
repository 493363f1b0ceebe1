"""Helpers for the page tests: the app under AppTest, and a test's database (`Shop`).

Data is put in place through the real services (`workflow.services`, `workflow.import_service`,
`workflow.demo`), never with SQL; SQL here only reads, to check what a page wrote.

AppTest and the `pages/` folder: Streamlit runs an app whose entry script sits beside a
`pages/` folder in its old (v1) multipage mode until `st.navigation` has been called once in
the process, and AppTest resets that flag before *every* run. Under plain AppTest every run
would therefore register all of `pages/*.py`, and `switch_page("pages/board.py")` would run
the board directly, without `streamlit_app.py` (no sign-in check, no page list, and
`st.switch_page` to a page missing from the list would work although it fails in the app).
A running server behaves like that only until its first script run has called
`st.navigation` (checked with a real server and Chromium). `NavigationOnlyPagesManager`
(installed by the autouse fixture in conftest.py) makes every AppTest run behave like that
running server, so these tests see what people see.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from connectors.shopify import parse_orders_export
from pages import common
from storage import db
from storage.unit_of_work import UnitOfWork
from workflow import demo, services
from workflow.import_service import import_orders
from workflow.model import Actor, NewJob, Role

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"
EUR_SAMPLE = "shopify/dev_store_eur_2025.csv"

# The EUR sample shop's people.
MANAGER, BEN, BEA, DESIGNER, SALES = ("Mara Quinn", "Ben Ortiz", "Bea Lind", "Dev Rao",
                                      "Sol Reyes")
SHOP_STAFF = [(MANAGER, Role.MANAGER), (BEN, Role.BENCH_JEWELER), (BEA, Role.BENCH_JEWELER),
              (DESIGNER, Role.DESIGNER), (SALES, Role.SALES)]
DEMO_MANAGER = demo.DEMO_STAFF[0][0]   # Rosa Marquez, who "Load demo data" signs in


def png_bytes() -> bytes:
    """A small valid PNG (a stand-in for a CAD render)."""
    return demo.render_png(width=4, height=4)


# --- AppTest -------------------------------------------------------------------------------

class NavigationOnlyPagesManager(PagesManager):
    """A PagesManager that leaves the old `pages/`-folder mode off, as a running server does
    once `st.navigation` has run (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


def new_app(staff_id: int | None = None) -> AppTest:
    """The app as a fresh browser session (not run yet), signed in as `staff_id` if given."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    if staff_id is not None:
        at.session_state["staff_id"] = int(staff_id)
    return at


def run_ok(at: AppTest) -> AppTest:
    """Run and fail with the page's own traceback text when the script raised."""
    at.run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, "the page raised:\n" + "\n".join(
        f"{e.value}\n{''.join(e.stack_trace)}" for e in at.exception)


def open_page(at: AppTest, page: str, **query) -> AppTest:
    """Go to `page` ("pages/board.py") the way a click in the menu does; run it."""
    at.switch_page(page)
    for key, value in query.items():
        at.query_params[key] = value
    return run_ok(at)


def open_job(at: AppTest, job_number: str) -> AppTest:
    return open_page(at, "pages/job.py", job=job_number)


def values(elements) -> list:
    return [e.value for e in elements]


def labels(elements) -> list[str]:
    return [e.label for e in elements]


def button(at: AppTest, label: str):
    """The one button (plain or form submit) with this label."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"expected one button {label!r}, found {labels(at.button)}"
    return found[0]


def widget(widgets, label: str):
    found = [w for w in widgets if w.label == label]
    assert len(found) == 1, f"expected one widget {label!r}, found {labels(widgets)}"
    return found[0]


# --- the database --------------------------------------------------------------------------

class Shop:
    """One test's database file: set-up and checks through the real services and a cursor."""

    def __init__(self, path: Path):
        self.path = path
        self.files_dir = path.parent / "files"

    @contextmanager
    def cursor(self) -> Iterator:
        """A cursor of the app's own cached connection to this file (`pages.common._connection`,
        opened here first if the app has not run yet), so set-up, checks and the app share one
        connection, as two browser sessions of one app process do."""
        cur = db.cursor(common._connection(str(self.path)))
        try:
            yield cur
        finally:
            cur.close()

    def scalar(self, sql: str, params: list | None = None):
        with self.cursor() as cur:
            return cur.execute(sql, params or []).fetchone()[0]

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with self.cursor() as cur:
            return cur.execute(sql, params or []).fetchall()

    def count(self, table: str, where: str = "", params: list | None = None) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}"
                               + (f" WHERE {where}" if where else ""), params))

    def staff_id(self, name: str) -> int:
        return int(self.scalar("SELECT id FROM staff WHERE name = ?", [name]))

    def actor(self, name: str) -> Actor:
        with self.cursor() as cur:
            return services.actor_for(cur, self.staff_id(name))

    def job(self, job_number: str) -> dict:
        with self.cursor() as cur:
            res = cur.execute("SELECT * FROM jobs WHERE job_number = ?", [job_number])
            row = res.fetchone()
            assert row is not None, f"no job {job_number}"
            return dict(zip([d[0] for d in res.description], row, strict=True))

    def open_jobs(self) -> list[str]:
        """Job numbers of the open jobs (what the board shows), in number order."""
        return [n for (n,) in self.rows(
            "SELECT job_number FROM jobs WHERE state NOT IN ('completed', 'cancelled')"
            " ORDER BY job_number")]

    def footprint(self, job_number: str) -> dict:
        """What a write to a job leaves behind: its row and the row counts of the logs."""
        return {"job": self.job(job_number),
                "history": self.count("job_status_history"),
                "audit": self.count("audit_log"),
                "outbox": self.count("notification_outbox"),
                "payments": self.count("payments"),
                "qc": self.count("qc_checks")}

    def history(self, job_number: str) -> list[tuple]:
        return self.rows("""SELECT h.from_state, h.to_state, h.trigger, h.actor, h.note
                              FROM job_status_history h JOIN jobs j ON j.id = h.job_id
                             WHERE j.job_number = ? ORDER BY h.id""", [job_number])

    # --- errands through the services ----------------------------------------------------
    def call(self, service, *args, **kwargs):
        """`service(uow, *args, **kwargs)` in its own unit of work on a fresh cursor."""
        with self.cursor() as cur:
            return service(UnitOfWork(cur), *args, **kwargs)

    def job_id(self, job_number: str) -> int:
        return int(self.job(job_number)["id"])

    def change(self, job_number: str, trigger: str, who: str = MANAGER, **kw):
        return self.call(services.change_stage, self.job_id(job_number), trigger,
                         self.actor(who), **kw)

    def update(self, job_number: str, who: str = MANAGER, **changes) -> int:
        return self.call(services.update_job, self.job_id(job_number), self.actor(who),
                         changes)

    def walk_in(self, piece: str = "Solitaire engagement ring", *, customer: str = "Jordan Lee",
                email: str = "jordan.lee@example.com", price: str = "1200.00",
                deposit: str = "200.00", **job_fields) -> str:
        """A walk-in order with one piece; returns its job number."""
        result = self.call(services.create_walk_in_order, self.actor(MANAGER),
                           customer_name=customer, email=email, deposit=deposit,
                           jobs=[NewJob(piece, price=price, **job_fields)])
        return result["job_numbers"][0]

    def attach_design(self, job_number: str) -> int:
        return self.call(services.attach_design_version, self.job_id(job_number),
                         "render.png", png_bytes(), self.actor(DESIGNER),
                         files_dir=self.files_dir)

    def to_quality_check(self, job_number: str, bench: str = BEN) -> None:
        """new -> design -> approval -> production (assigned to `bench`) -> quality check."""
        self.change(job_number, "start_design", DESIGNER)
        version = self.attach_design(job_number)
        self.change(job_number, "send_for_approval", DESIGNER)
        self.call(services.record_design_decision, self.job_id(job_number), version,
                  "approved", self.actor(MANAGER), channel="in person")
        self.update(job_number, assignee_id=self.staff_id(bench))
        self.change(job_number, "submit_for_qc", bench)

    def sign_qc(self, job_number: str, who: str) -> bool:
        return self.call(services.record_qc_check, self.job_id(job_number),
                         {p: True for p in services.QC_CHECKLIST}, self.actor(who))

    def to_ready(self, job_number: str, bench: str = BEN, checker: str = BEA) -> None:
        self.to_quality_check(job_number, bench)
        self.sign_qc(job_number, checker)
        self.change(job_number, "pass_qc", checker)


def build_eur_shop(path: Path, sample: Path) -> list[str]:
    """Staff (`SHOP_STAFF`) and the sample imported into a new file; returns the open jobs."""
    with db.connect(path) as con:
        cur = db.cursor(con)
        ids = [services.add_staff(UnitOfWork(cur), name, role) for name, role in SHOP_STAFF]
        parsed = parse_orders_export(sample)
        assert not parsed.problems, parsed.problems
        import_orders(UnitOfWork(cur), parsed, services.actor_for(cur, ids[0]))
        open_jobs = [n for (n,) in cur.execute(
            "SELECT job_number FROM jobs WHERE state NOT IN ('completed', 'cancelled')"
            " ORDER BY job_number").fetchall()]
        cur.close()
    return open_jobs


def copy_database(template: Path, target: Path) -> None:
    shutil.copy(template, target)
    wal = template.with_name(template.name + ".wal")
    if wal.exists():
        shutil.copy(wal, target.with_name(target.name + ".wal"))


