"""Random sequences of receive / reserve / issue / return / consume / adjust / move / count /
cancel against the real services on a real DuckDB file (hypothesis RuleBasedStateMachine).

After every step: no available quantity is negative (nor any balance row), every stone is in
at most one place and held by at most one job, the balance table equals the ledger's sums,
and a cancelled job holds nothing. A refused step (any `AtelierError`) must write nothing.

Kept to a modest number of examples so the test runs in well under 30 s; raise
`ATELIER_HYPOTHESIS_EXAMPLES` for a longer hunt.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from storage import db
from storage import inventory_queries as invq
from storage.unit_of_work import UnitOfWork
from workflow import inventory_services as inv
from workflow import services
from workflow.errors import AtelierError
from workflow.inventory import NewItem
from workflow.model import NewJob, Role

EXAMPLES = int(os.environ.get("ATELIER_HYPOTHESIS_EXAMPLES", "12"))
STONES = ["S-0001", "S-0002"]
BULK = ["M-0003", "P-0004", "F-0005"]     # 14K gold (g), melee (pcs), clasps (pcs)
ITEMS = STONES + BULK
GRAMS = {"M-0003"}
LOCATIONS = ["SAFE", "SHOWCASE"]
_TEMPLATE: Path | None = None


def _template() -> Path:
    """A migrated file with two staff, two stones, gold, melee, clasps and three walk-in jobs
    (made once; each example works on its own copy)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        path = Path(tempfile.mkdtemp(prefix="atelier-sm-")) / "template.duckdb"
        con = db.connect(path)
        cur = db.cursor(con)
        uow = lambda: UnitOfWork(cur)  # noqa: E731
        mara = services.actor_for(cur, services.add_staff(uow(), "Mara Quinn", Role.MANAGER))
        services.add_staff(uow(), "Ben Ortiz", Role.BENCH_JEWELER)
        for carat in ("1.02", "0.75"):
            inv.add_item(uow(), mara, NewItem("stone", species="Diamond", carat=Decimal(carat)))
        inv.add_item(uow(), mara, NewItem("metal", alloy="14K yellow gold"), quantity="20")
        inv.add_item(uow(), mara, NewItem("melee", species="Diamond", carat=Decimal("1")),
                     quantity="100")
        inv.add_item(uow(), mara, NewItem("finding", description="clasp"), quantity="10")
        services.create_walk_in_order(
            uow(), mara, customer_name="Jordan Lee", email="jordan@example.com",
            jobs=[NewJob(f"Piece {i}", design_needed=False) for i in range(3)])
        cur.execute("CHECKPOINT")
        cur.close()
        con.close()
        _TEMPLATE = path
    return _TEMPLATE


def qty(code: str, n: int) -> str:
    """n steps of the item's unit: quarter grams for metal, pieces otherwise."""
    return str(Decimal(n) / 4) if code in GRAMS else str(n)


class InventoryLedger(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="atelier-sm-"))
        shutil.copyfile(_template(), self.dir / "t.duckdb")
        self.con = db.connect(self.dir / "t.duckdb")
        self.cur = db.cursor(self.con)
        self.mara = services.actor_for(self.cur, 1)
        self.ben = services.actor_for(self.cur, 2)
        self.jobs = [int(r[0]) for r in self.cur.execute("SELECT id FROM jobs ORDER BY id")
                     .fetchall()]
        self.counts = 0

    def teardown(self):
        self.cur.close()
        self.con.execute("PRAGMA disable_checkpoint_on_shutdown")
        self.con.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- running a step --------------------------------------------------------------------
    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.cur)

    def rows(self) -> int:
        return int(self.cur.execute("SELECT count(*) FROM inventory_ledger").fetchone()[0])

    def attempt(self, action) -> bool:
        """Run a service; a refusal is fine but must leave the ledger as it was."""
        before = self.rows()
        try:
            action()
        except AtelierError:
            assert self.rows() == before, "a refused step wrote to the ledger"
            return False
        return True

    def state(self, job_id: int) -> str:
        return self.cur.execute("SELECT state FROM jobs WHERE id = ?", [job_id]).fetchone()[0]

    # --- rules -----------------------------------------------------------------------------
    @rule(code=st.sampled_from(BULK), n=st.integers(1, 40), where=st.sampled_from(LOCATIONS))
    def receive(self, code, n, where):
        self.attempt(lambda: inv.receive_stock(self.uow(), code, qty(code, n), self.mara,
                                               location=where))

    @rule(job=st.integers(0, 2), code=st.sampled_from(ITEMS), n=st.integers(1, 30))
    def plan_and_reserve(self, job, code, n):
        job_id = self.jobs[job]
        if self.attempt(lambda: inv.plan_material(self.uow(), job_id, code, qty(code, n),
                                                  self.mara)):
            self.attempt(lambda: inv.reserve_materials(self.uow(), job_id, self.mara))

    @rule(job=st.integers(0, 2))
    def start_production(self, job):
        self.attempt(lambda: services.change_stage(self.uow(), self.jobs[job],
                                                   "start_production", self.mara))

    @rule(job=st.integers(0, 2), code=st.sampled_from(ITEMS), n=st.integers(1, 20))
    def issue(self, job, code, n):
        self.attempt(lambda: inv.issue_to_job(self.uow(), self.jobs[job], code, qty(code, n),
                                              self.ben))

    @rule(job=st.integers(0, 2), code=st.sampled_from(ITEMS), n=st.integers(1, 20),
          where=st.sampled_from(LOCATIONS))
    def give_back_from_bench(self, job, code, n, where):
        self.attempt(lambda: inv.return_from_job(self.uow(), self.jobs[job], code,
                                                 qty(code, n), self.ben, location=where))

    @rule(job=st.integers(0, 2), finished=st.integers(0, 100), returned=st.integers(0, 100))
    def consume(self, job, finished, returned):
        """Finish production: metal in the piece and returned as % of what is at the bench
        (over 100% in all must be refused); stones, melee, clasps go into the piece."""
        job_id = self.jobs[job]
        at_bench = self.cur.execute(
            "SELECT coalesce(sum(issued), 0) FROM inventory_balances WHERE job_id = ? AND "
            "item_id = 3", [job_id]).fetchone()[0]
        weights = {"M-0003": (str((at_bench * finished / 100).quantize(Decimal("0.001"))),
                              str((at_bench * returned / 100).quantize(Decimal("0.001"))))}
        ok = self.attempt(lambda: inv.finish_production(self.uow(), job_id, self.ben,
                                                        weights if at_bench else {}))
        if ok:
            assert self.cur.execute(
                "SELECT coalesce(sum(issued), 0) FROM inventory_balances WHERE job_id = ?",
                [job_id]).fetchone()[0] == 0

    @rule(code=st.sampled_from(ITEMS), n=st.integers(-30, 30), where=st.sampled_from(LOCATIONS))
    def adjust(self, code, n, where):
        self.attempt(lambda: inv.adjust_stock(self.uow(), code, qty(code, n), "checked",
                                              self.mara, location=where))

    @rule(code=st.sampled_from(ITEMS), n=st.integers(1, 20), forth=st.booleans())
    def move(self, code, n, forth):
        src, dst = LOCATIONS if forth else LOCATIONS[::-1]
        self.attempt(lambda: inv.transfer_stock(self.uow(), code, qty(code, n), src, dst,
                                                self.mara))

    @rule(job=st.integers(0, 2))
    def cancel(self, job):
        self.attempt(lambda: services.change_stage(self.uow(), self.jobs[job], "cancel",
                                                   self.mara, reason="customer cancelled"))

    @precondition(lambda self: self.counts < 3)
    @rule(where=st.sampled_from(LOCATIONS), seen=st.lists(
        st.tuples(st.sampled_from(ITEMS), st.integers(0, 40)), max_size=4))
    def count(self, where, seen):
        self.counts += 1
        count_id = inv.start_count(self.uow(), self.mara, location=where)
        for code, n in seen:
            self.attempt(lambda c=code, k=n: inv.record_count(
                self.uow(), count_id, c, self.mara, quantity=qty(c, k)))
        self.attempt(lambda: inv.post_count(self.uow(), count_id, self.mara,
                                            reason="cycle count"))

    # --- invariants ------------------------------------------------------------------------
    @invariant()
    def nothing_is_negative(self):
        bad = self.cur.execute("""
            SELECT count(*) FROM inventory_item_totals
             WHERE on_hand - reserved < 0 OR on_hand < 0 OR reserved < 0 OR issued < 0
        """).fetchone()[0]
        bad_rows = self.cur.execute("""SELECT count(*) FROM inventory_balances
                                       WHERE on_hand < 0 OR reserved < 0 OR issued < 0
                                    """).fetchone()[0]
        assert bad == 0 and bad_rows == 0

    @invariant()
    def a_stone_has_at_most_one_holder(self):
        for (item_id,) in self.cur.execute(
                "SELECT id FROM inventory_items WHERE category = 'stone'").fetchall():
            on_hand, reserved, issued = self.cur.execute(
                "SELECT on_hand, reserved, issued FROM inventory_item_totals WHERE item_id = ?",
                [item_id]).fetchone()
            assert on_hand + issued <= 1 and reserved <= 1
            places = self.cur.execute(
                "SELECT count(*) FROM inventory_balances WHERE item_id = ? AND job_id = 0"
                " AND on_hand > 0", [item_id]).fetchone()[0]
            holders = self.cur.execute(
                "SELECT count(*) FROM inventory_balances WHERE item_id = ? AND job_id <> 0"
                " AND (reserved > 0 OR issued > 0)", [item_id]).fetchone()[0]
            assert places <= 1 and holders <= 1

    @invariant()
    def balances_equal_the_ledger(self):
        mismatches = invq.balance_mismatches(self.cur)
        assert mismatches.empty, mismatches.to_dict("records")

    @invariant()
    def a_cancelled_job_holds_nothing(self):
        held = self.cur.execute("""
            SELECT count(*) FROM inventory_balances b JOIN jobs j ON j.id = b.job_id
             WHERE j.state = 'cancelled' AND (b.reserved <> 0 OR b.issued <> 0)""").fetchone()[0]
        assert held == 0


InventoryLedger.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=20, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_random_sequences_keep_the_books_straight = InventoryLedger.TestCase
