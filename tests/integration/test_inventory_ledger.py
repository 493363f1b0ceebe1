"""The inventory ledger through the real services on a real DuckDB file: jobs reserving,
issuing and returning materials in the same transactions as their stage changes, metal loss,
cancellations, counts and the refusals that keep stock from going below zero."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from storage import inventory_queries as invq
from storage import inventory_repository as irepo
from storage import migrations
from storage.unit_of_work import UnitOfWork
from workflow import inventory_services as inv
from workflow import services
from workflow.errors import InvalidInput, TransitionRefused
from workflow.inventory import Move, NewItem, StockRefused

D = Decimal


# --- helpers ---------------------------------------------------------------------------------

def books_balance(cur) -> None:
    """The balance table equals the ledger's sums, and nothing is negative."""
    mismatches = invq.balance_mismatches(cur)
    assert mismatches.empty, mismatches.to_dict("records")
    assert cur.execute("""SELECT count(*) FROM inventory_item_totals
                          WHERE on_hand < reserved OR issued < 0""").fetchone()[0] == 0


def item(shop, code: str) -> dict:
    return invq.item_by_code(shop.cur, code)


def held(shop, job_id: int) -> dict[str, tuple[Decimal, Decimal]]:
    """What a job holds: code -> (reserved, at the bench), non-zero rows only."""
    rows = shop.rows("""SELECT i.code, b.reserved, b.issued FROM inventory_balances b
                        JOIN inventory_items i ON i.id = b.item_id
                        WHERE b.job_id = ? AND (b.reserved <> 0 OR b.issued <> 0)
                        ORDER BY i.code""", [job_id])
    return {code: (r, i) for code, r, i in rows}


def ledger(shop, job_id: int | None = None) -> list[tuple]:
    where, params = ("WHERE g.job_id = ?", [job_id]) if job_id is not None else ("", [])
    return shop.rows(f"""SELECT i.code, g.kind, g.on_hand_change, g.reserved_change,
                                g.issued_change FROM inventory_ledger g
                           JOIN inventory_items i ON i.id = g.item_id {where}
                          ORDER BY g.id""", params)


@pytest.fixture
def stock(shop):
    """The safe holds 50 g of 14K yellow gold at 48.50 a gram (M-0001), a certified 1.02 ct lab
    diamond (S-0002), a parcel of 200 melee diamonds, 2.000 ctw (P-0003), and 30 clasps
    (F-0004)."""
    mara = shop.manager
    shop.gold = inv.add_item(shop.uow(), mara, NewItem("metal", alloy="14K yellow gold",
                                                       unit_cost=D("48.50")), quantity="50")
    shop.stone = inv.add_item(shop.uow(), mara, NewItem(
        "stone", species="Diamond", origin="lab_grown", shape="Round", carat=D("1.02"),
        colour="G", clarity="VS1", cert_lab="IGI", cert_number="LG611", unit_cost=D("900")))
    shop.melee = inv.add_item(shop.uow(), mara, NewItem(
        "melee", species="Diamond", shape="Round", measurements="1.3 mm", carat=D("2.000"),
        unit_cost=D("4.00")), quantity="200")
    shop.clasp = inv.add_item(shop.uow(), mara, NewItem(
        "finding", description="14K lobster clasp 10 mm", unit_cost=D("18.00"),
        reorder_point=D("10")), quantity="30")
    assert [shop.gold["code"], shop.stone["code"], shop.melee["code"], shop.clasp["code"]] == \
        ["M-0001", "S-0002", "P-0003", "F-0004"]
    return shop


def ring(shop, **kw) -> int:
    """A walk-in solitaire ring planning 6 g of gold, the diamond and 12 melee."""
    job_id = shop.walk_in(**kw)["job_id"]
    for code, qty in (("M-0001", "6.000"), ("S-0002", "1"), ("P-0003", "12")):
        inv.plan_material(shop.uow(), job_id, code, qty, shop.manager)
    return job_id


# --- a job from approval to completion -------------------------------------------------------

def test_a_job_from_approval_to_completion_issues_and_returns_metal_and_reports_the_loss(stock):
    shop = stock
    job_id = ring(shop)
    services.update_job(shop.uow(), job_id, shop.manager, {"assignee_id": shop.ben.staff_id})
    shop.drive(job_id, "awaiting_approval")
    assert held(shop, job_id) == {}                      # planned, not held yet

    moved = shop.approve_latest(job_id)                  # the customer approves: production

    assert moved.to_state == "in_production"
    assert held(shop, job_id) == {"M-0001": (0, D("6.000")), "P-0003": (0, 12),
                                  "S-0002": (0, 1)}
    assert [(c, k) for c, k, *_ in ledger(shop, job_id)] == [
        ("M-0001", "reserve"), ("M-0001", "issue"), ("P-0003", "reserve"), ("P-0003", "issue"),
        ("S-0002", "reserve"), ("S-0002", "issue")]
    # Reserved and issued in the stage change's own transaction: same instant as its history.
    changed_at = shop.rows("SELECT max(changed_at) FROM job_status_history WHERE job_id = ?",
                           [job_id])[0][0]
    assert {r[0] for r in shop.rows("SELECT created_at FROM inventory_ledger WHERE job_id = ?",
                                    [job_id])} == {changed_at}
    bench = shop.rows("""SELECT DISTINCT l.name FROM inventory_ledger g
                         JOIN inventory_locations l ON l.id = g.to_location_id
                         WHERE g.job_id = ? AND g.kind = 'issue'""", [job_id])
    assert bench == [("Ben Ortiz's bench",)]
    gold = item(shop, "M-0001")
    assert (gold["on_hand"], gold["reserved"], gold["issued"]) == (D("44.000"), 0, D("6.000"))

    # Not to QC while the metal is at the bench without a finished weight; nothing written.
    before = shop.footprint(job_id)
    with pytest.raises(StockRefused) as refused:
        shop.change(job_id, "submit_for_qc", shop.ben)
    assert str(refused.value) == (
        f"Job J-{job_id:04d} can't go to Quality check: 6.000 g of 14K yellow gold (M-0001) is "
        "still at the bench; record the finished weight and the metal returned first.")
    assert shop.footprint(job_id) == before

    results = inv.finish_production(shop.uow(), job_id, shop.ben,
                                    {"M-0001": ("5.640", "0.180")})

    assert results == [{"code": "M-0001", "description": "14K yellow gold",
                        "issued_g": D("6.000"), "finished_g": D("5.640"),
                        "returned_g": D("0.180"), "loss_g": D("0.180"), "loss_pct": D("3.00"),
                        "norm_pct": D("3.0"), "over_norm": False}]
    assert held(shop, job_id) == {}                      # everything is in the piece
    gold = item(shop, "M-0001")
    assert (gold["on_hand"], gold["issued"]) == (D("44.180"), 0)       # scrap back in the safe
    assert [(k, c) for _, k, _, _, c in ledger(shop, job_id)[6:]] == [
        ("return", D("-0.180")), ("consume", D("-5.640")), ("loss", D("-0.180")),
        ("consume", D("-12.000")), ("consume", D("-1.000"))]

    shop.drive(job_id, "completed")
    assert shop.job(job_id)["state"] == "completed"
    assert held(shop, job_id) == {}
    assert item(shop, "S-0002")["on_hand"] == 0
    books_balance(shop.cur)
    actions = [a for (a,) in shop.rows("""SELECT action FROM audit_log WHERE entity = 'job'
                                          AND entity_id = ? AND action LIKE 'inventory.%'
                                          ORDER BY id""", [job_id])]
    assert actions == ["inventory.plan", "inventory.plan", "inventory.plan",
                       "inventory.approve", "inventory.finish_production"]


def test_a_rework_issues_more_metal_and_the_loss_is_over_the_whole_job(stock):
    shop = stock
    job_id = ring(shop, design_needed=False)
    shop.change(job_id, "start_production")
    inv.finish_production(shop.uow(), job_id, shop.ben, {"M-0001": ("5.640", "0.180")})
    services.update_job(shop.uow(), job_id, shop.manager, {"assignee_id": shop.ben.staff_id})
    shop.drive(job_id, "quality_check")
    shop.sign_qc(job_id, shop.bea, passed=False)
    shop.change(job_id, "fail_qc", shop.bea, reason="prong too thin")

    inv.issue_to_job(shop.uow(), job_id, "M-0001", "0.500", shop.ben)
    # The whole piece now weighs 6.000 g of metal; 0.060 g of filings come back.
    results = inv.finish_production(shop.uow(), job_id, shop.ben,
                                    {"M-0001": ("6.000", "0.060")})

    # Issued 6.500 in all; returned 0.240; in the piece 6.000: loss 0.260 g = 4.00% > 3.0%.
    assert results[0]["issued_g"] == D("6.500")
    assert results[0]["returned_g"] == D("0.240")
    assert (results[0]["loss_g"], results[0]["loss_pct"]) == (D("0.260"), D("4.00"))
    assert results[0]["over_norm"] is True
    assert invq.job_metal_results(shop.cur, job_id)[0]["loss_pct"] == D("4.00")
    books_balance(shop.cur)


def test_a_finished_weight_above_what_was_issued_is_refused(stock):
    shop = stock
    job_id = ring(shop, design_needed=False)
    shop.change(job_id, "start_production")

    with pytest.raises(StockRefused, match=r"weigh more than job J-\d+ had: 6.000 g at the "
                                           r"bench plus 0(\.000)? g already in the piece"):
        inv.finish_production(shop.uow(), job_id, shop.ben, {"M-0001": ("5.900", "0.200")})
    with pytest.raises(InvalidInput, match=r"Give the finished and returned weight of 14K "
                                           r"yellow gold \(M-0001\): 6.000 g is at the bench."):
        inv.finish_production(shop.uow(), job_id, shop.ben, {})
    assert held(shop, job_id)["M-0001"] == (0, D("6.000"))


# --- cancelling ------------------------------------------------------------------------------

def test_a_cancelled_job_releases_everything_and_returns_what_was_issued(stock):
    shop = stock
    started = ring(shop, design_needed=False)
    shop.change(started, "start_production")
    inv.issue_to_job(shop.uow(), started, "F-0004", "2", shop.ben)
    waiting = shop.walk_in(customer_name="Ana Ruiz", email="ana@example.com")["job_id"]
    inv.plan_material(shop.uow(), waiting, "M-0001", "8", shop.manager)
    inv.reserve_materials(shop.uow(), waiting, shop.manager)
    assert item(shop, "M-0001")["available"] == D("36.000")        # 50 - 6 issued - 8 reserved

    shop.change(started, "cancel", reason="customer changed their mind")
    shop.change(waiting, "cancel", reason="deposit refunded")

    assert held(shop, started) == {} and held(shop, waiting) == {}
    assert [(c, k) for c, k, *_ in ledger(shop, started)][-4:] == [
        ("F-0004", "return"), ("M-0001", "return"), ("P-0003", "return"), ("S-0002", "return")]
    assert [(c, k) for c, k, *_ in ledger(shop, waiting)] == [("M-0001", "reserve"),
                                                              ("M-0001", "release")]
    for code, on_hand in (("M-0001", D("50.000")), ("S-0002", 1), ("P-0003", 200),
                          ("F-0004", 30)):
        row = item(shop, code)
        assert (row["on_hand"], row["reserved"], row["available"], row["issued"]) == \
            (on_hand, 0, on_hand, 0), code
    assert invq.item_stock(shop.cur, shop.gold["id"]).to_dict("records") == [
        {"code": "SAFE", "name": "Safe", "on_hand": 50.0}]
    books_balance(shop.cur)


def test_a_customers_stone_is_never_shop_stock_and_leaves_with_the_piece(stock):
    shop = stock
    job_id = shop.walk_in("Reset grandmother's ring", design_needed=False)["job_id"]
    other = shop.walk_in(customer_name="Ana Ruiz", email="ana@example.com")["job_id"]
    before = invq.stock_totals(shop.cur)

    code = inv.take_in_customer_stone(
        shop.uow(), job_id, shop.manager,
        NewItem("stone", species="Diamond", shape="Old European", carat=D("0.85")),
        declared_value="2500", condition="small chip on the girdle at 3 o'clock")

    row = item(shop, code)
    assert (row["ownership"], row["customer"], row["owner_job_number"]) == \
        ("customer", "Jordan Lee", f"J-{job_id:04d}")
    assert row["intake_condition"] == "small chip on the girdle at 3 o'clock"
    assert held(shop, job_id) == {code: (1, 0)}                    # reserved for its own job
    assert code not in set(invq.stock_list(shop.cur, invq.StockFilter())["code"])
    after = invq.stock_totals(shop.cur)
    assert (after["stock"], after["customer_stones"]) == (before["stock"], 1)
    with pytest.raises(StockRefused, match=f"belongs to the customer of job J-{job_id:04d}; "
                                           f"it can't go into job J-{other:04d}"):
        inv.plan_material(shop.uow(), other, code, 1, shop.manager)

    shop.change(job_id, "start_production")
    inv.finish_production(shop.uow(), job_id, shop.ben, {})
    assert held(shop, job_id) == {}
    assert item(shop, code)["on_hand"] == 0 and item(shop, code)["issued"] == 0
    assert ledger(shop, job_id)[-1][:2] == (code, "consume")
    books_balance(shop.cur)


def test_a_memo_stone_is_listed_when_due_and_goes_back_to_the_dealer(stock):
    shop = stock
    today = shop.rows("SELECT CAST(timezone('America/New_York', now()) AS DATE)")[0][0]
    from datetime import timedelta
    memo = inv.add_item(shop.uow(), shop.manager, NewItem(
        "stone", species="Sapphire", shape="Oval", carat=D("2.10"), unit_cost=D("3000"),
        ownership="memo", memo_dealer="Blue Stones Ltd", memo_date=today,
        memo_due_date=today + timedelta(days=10)))
    later = inv.add_item(shop.uow(), shop.manager, NewItem(
        "stone", species="Ruby", carat=D("1.00"), ownership="memo", memo_dealer="R&R",
        memo_due_date=today + timedelta(days=40)))

    due = invq.memo_due(shop.cur, 14, "America/New_York")
    assert list(due["code"]) == [memo["code"]] and list(due["days_left"]) == [10]
    assert later["code"] not in set(due["code"])
    assert invq.stock_totals(shop.cur)["memo"] == D("3000.00")
    with pytest.raises(StockRefused, match="the shop's own"):
        inv.give_back(shop.uow(), "S-0002", shop.manager)

    inv.give_back(shop.uow(), memo["code"], shop.manager)

    assert item(shop, memo["code"])["on_hand"] == 0
    assert invq.memo_due(shop.cur, 14, "America/New_York").empty
    books_balance(shop.cur)


# --- refusals --------------------------------------------------------------------------------

def test_a_serialized_stone_is_refused_for_a_second_job_with_nothing_written(stock):
    shop = stock
    first = ring(shop)
    second = shop.walk_in("Pendant", customer_name="Ana Ruiz", email="ana@example.com")["job_id"]
    inv.plan_material(shop.uow(), second, "S-0002", 1, shop.manager)   # planned by both
    inv.reserve_materials(shop.uow(), first, shop.manager)

    with pytest.raises(StockRefused) as refused:
        inv.reserve_materials(shop.uow(), second, shop.manager)
    assert str(refused.value) == f"Stone S-0002 is already reserved for job J-{first:04d}."
    with pytest.raises(StockRefused, match=f"Stone S-0002 is already reserved for job "
                                           f"J-{first:04d}."):
        inv.plan_material(shop.uow(), shop.walk_in("Studs")["job_id"], "s-2", 1, shop.manager)

    # Approving the second job's design is refused whole: no decision, no move, no rows.
    shop.drive(second, "awaiting_approval")
    before = shop.footprint(second)
    with pytest.raises(StockRefused) as refused:
        shop.approve_latest(second)
    assert str(refused.value) == (f"Job J-{second:04d} can't start production: stone S-0002 "
                                  f"is already reserved for job J-{first:04d}.")
    assert shop.footprint(second) == before
    assert held(shop, second) == {}
    books_balance(shop.cur)


def test_no_quantity_goes_below_zero_available(stock):
    shop = stock
    first = shop.walk_in()["job_id"]
    second = shop.walk_in("Band", customer_name="Ana Ruiz", email="ana@example.com")["job_id"]
    inv.plan_material(shop.uow(), first, "M-0001", "46", shop.manager)
    inv.plan_material(shop.uow(), second, "M-0001", "6", shop.manager)
    inv.plan_material(shop.uow(), second, "P-0003", "250", shop.manager)
    inv.reserve_materials(shop.uow(), first, shop.manager)
    rows = len(ledger(shop))

    with pytest.raises(StockRefused, match=r"^Only 4.000 g of 14K yellow gold \(M-0001\) is "
                                           rf"available; job J-{second:04d} needs 6.000 g.$"):
        inv.reserve_materials(shop.uow(), second, shop.manager)
    with pytest.raises(StockRefused, match="46.000 g is reserved for jobs and only 4.000 g is "
                                           "available; release it first"):
        inv.adjust_stock(shop.uow(), "M-0001", "-5", "scale check", shop.manager)
    with pytest.raises(StockRefused, match=r"Only 0 pcs of .* is there"):
        inv.transfer_stock(shop.uow(), "P-0003", "5", "SHOWCASE", "SAFE", shop.manager)
    with pytest.raises(InvalidInput, match="whole pieces"):
        inv.adjust_stock(shop.uow(), "F-0004", "-0.5", "broken", shop.manager)
    assert len(ledger(shop)) == rows                     # nothing was written

    # The table's CHECK is the last guard, below the rules: a raw negative move is refused.
    uow = UnitOfWork(shop.cur)
    with uow, pytest.raises(StockRefused, match="below zero"):
        irepo.post_moves(uow.con, [Move(shop.clasp["id"], "adjust", on_hand=D("-31"),
                                        location_id=1)], "test", shop.job(first)["created_at"])
    gold = item(shop, "M-0001")
    assert (gold["on_hand"], gold["reserved"], gold["available"]) == (D("50.000"),
                                                                       D("46.000"), D("4.000"))
    books_balance(shop.cur)


def test_stage_changes_of_jobs_without_materials_write_no_inventory_rows(stock):
    shop = stock
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "completed")
    other = shop.walk_in()["job_id"]
    shop.change(other, "cancel", reason="duplicate order")
    assert ledger(shop, job_id) == [] and ledger(shop, other) == []
    assert shop.count("audit_log", "action LIKE 'inventory.%' AND entity = 'job'") == 0


# --- counting --------------------------------------------------------------------------------

def test_a_count_with_a_variance_posts_the_right_adjustment_and_moves_the_accuracy(stock):
    shop = stock
    inv.transfer_stock(shop.uow(), "S-0002", "1", "SAFE", "SHOWCASE", shop.manager)
    first = inv.start_count(shop.uow(), shop.manager, location="SAFE")
    for code, qty in (("M-0001", "50.03"), ("P-0003", "200"), ("F-0004", "30")):
        inv.record_count(shop.uow(), first, code, shop.manager, quantity=qty)
    summary = inv.post_count(shop.uow(), first, shop.manager)   # 0.03 g: within 0.05 g
    assert (summary["lines"], summary["matched"], summary["pct"]) == (3, 3, D("100.0"))
    assert invq.accuracy(shop.cur)["pct"] == D("100.0")

    second = inv.start_count(shop.uow(), shop.manager, location="SAFE")
    inv.record_count(shop.uow(), second, " m-0001\n", shop.manager, quantity="49.900")
    inv.record_count(shop.uow(), second, "S-0002", shop.manager)       # found in the safe
    again = inv.record_count(shop.uow(), second, "S-0002", shop.manager)
    assert again["again"] is True
    inv.record_count(shop.uow(), second, "F-0004", shop.manager, quantity="28")
    # P-0003 is not scanned: counted as missing when posted.
    with pytest.raises(InvalidInput, match=r"^4 of 4 lines differ from the records \(M-0001, "
                                           r"S-0002, F-0004, P-0003\); say why before "):
        inv.post_count(shop.uow(), second, shop.manager)

    summary = inv.post_count(shop.uow(), second, shop.manager, reason="weekly safe count")

    assert summary["adjustments"] == [
        {"code": "M-0001", "expected": D("50.030"), "counted": D("49.900"),
         "variance": D("-0.130")},
        {"code": "S-0002", "expected": 0, "counted": 1, "variance": 1},
        {"code": "F-0004", "expected": 30, "counted": 28, "variance": -2},
        {"code": "P-0003", "expected": 200, "counted": 0, "variance": -200}]
    assert (summary["lines"], summary["matched"]) == (4, 0)
    # Accuracy over the last counts: 3 of 7 lines matched.
    assert invq.accuracy(shop.cur) == {"pct": D("42.9"), "matched": 3, "lines": 7, "counts": 2}
    moves = shop.rows("""SELECT i.code, g.kind, g.on_hand_change, l.code, g.reason
                           FROM inventory_ledger g JOIN inventory_items i ON i.id = g.item_id
                           JOIN inventory_locations l ON l.id = g.location_id
                          WHERE g.count_id = ? ORDER BY g.id""", [second])
    why = f"Count #{second}: weekly safe count"
    assert moves == [("M-0001", "count", D("-0.130"), "SAFE", why),
                     ("S-0002", "transfer", D("-1.000"), "SHOWCASE", why),
                     ("S-0002", "transfer", D("1.000"), "SAFE", why),
                     ("F-0004", "count", D("-2.000"), "SAFE", why),
                     ("P-0003", "count", D("-200.000"), "SAFE", why)]
    assert item(shop, "M-0001")["on_hand"] == D("49.900")
    assert item(shop, "S-0002")["on_hand"] == 1                 # moved, not doubled
    books_balance(shop.cur)
    with pytest.raises(InvalidInput, match="was posted already"):
        inv.record_count(shop.uow(), second, "F-0004", shop.manager, quantity="28")


def test_a_stone_at_a_bench_cant_be_counted_in_the_safe(stock):
    shop = stock
    job_id = ring(shop, design_needed=False)
    shop.change(job_id, "start_production")
    count = inv.start_count(shop.uow(), shop.manager, category="stone")
    with pytest.raises(StockRefused, match=f"Stone S-0002 is issued to job J-{job_id:04d}, "
                                           "not in stock; return it from the job first."):
        inv.record_count(shop.uow(), count, "S-0002", shop.manager)
    with pytest.raises(InvalidInput, match="M-0001 is metal; this count is for stone only"):
        inv.record_count(shop.uow(), count, "M-0001", shop.manager, quantity="44")


# --- schema ----------------------------------------------------------------------------------

def test_a_database_made_before_migration_2_landed_gets_it(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    without_2 = [m for m in migrations.MIGRATIONS if m[0] != 2]
    monkeypatch.setattr(migrations, "MIGRATIONS", without_2)
    con = duckdb.connect(str(path))
    migrations.migrate(con)
    monkeypatch.undo()

    assert migrations.migrate(con) == [2]
    assert con.execute("SELECT code FROM inventory_locations ORDER BY id").fetchall() == [
        ("SAFE",), ("SHOWCASE",), ("BENCH",)]
    con.close()


def test_a_refused_stage_change_leaves_no_job_or_stock_change(stock):
    shop = stock
    job_id = shop.walk_in(design_needed=False)["job_id"]
    inv.plan_material(shop.uow(), job_id, "M-0001", "60", shop.manager)
    with pytest.raises(StockRefused, match="only 50.000 g of 14K yellow gold"):
        shop.change(job_id, "start_production")
    assert shop.job(job_id)["state"] == "new"
    with pytest.raises(TransitionRefused):
        shop.change(job_id, "submit_for_qc")
    assert ledger(shop, job_id) == []
