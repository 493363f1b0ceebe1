"""The inventory pages and the job's materials section under AppTest, from the real entry
`streamlit_app.py`, on a real DuckDB file per test (ATELIER_DB), signed in through
session_state["staff_id"]. Stock is put in place through the real services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages import common
from storage import db, queries
from storage import inventory_queries as invq
from storage.unit_of_work import UnitOfWork
from workflow import inventory_services as inv
from workflow import services
from workflow.inventory import NewItem
from workflow.model import Actor, NewJob, Role

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


class Workshop:
    """This test's database file, filled and read through the real services."""

    def __init__(self, path: Path):
        self.path = path

    def call(self, service, *args, **kwargs):
        con = db.connect(self.path)
        cur = db.cursor(con)
        try:
            return service(UnitOfWork(cur), *args, **kwargs)
        finally:
            cur.close()
            con.close()

    def read(self, query, *args, **kwargs):
        con = db.connect(self.path)
        cur = db.cursor(con)
        try:
            return query(cur, *args, **kwargs)
        finally:
            cur.close()
            con.close()

    def actor(self, staff_id: int) -> Actor:
        return self.read(services.actor_for, staff_id)


@pytest.fixture
def shop(tmp_path, monkeypatch) -> Iterator[Workshop]:
    """A stocked workshop: Mara (manager), Ben (bench jeweler); 25 g of 14K yellow gold at
    48.50/g (reorder at 20 g), a 1.02 ct lab diamond, a memo sapphire due back in 5 days,
    40 jump rings (reorder at 50), and job J-0001 planning 6 g of the gold."""
    path = tmp_path / "atelier.duckdb"
    monkeypatch.setenv("ATELIER_DB", str(path))
    monkeypatch.setenv("ATELIER_DISPATCHER", "off")
    w = Workshop(path)
    w.mara = w.call(services.add_staff, "Mara Quinn", Role.MANAGER)
    w.ben = w.call(services.add_staff, "Ben Ortiz", Role.BENCH_JEWELER)
    mara = w.actor(w.mara)
    w.call(inv.add_item, mara, NewItem("metal", alloy="14K yellow gold", unit_cost="48.50",
                                       reorder_point="20"), quantity="25.000")
    w.call(inv.add_item, mara, NewItem("stone", species="Diamond", origin="lab_grown",
                                       shape="Round", carat=Decimal("1.02"), colour="G",
                                       clarity="VS1", cert_lab="IGI", cert_number="LG611",
                                       unit_cost="900"))
    today = w.read(queries.today, "America/New_York")      # the shop's zone (default)
    w.call(inv.add_item, mara, NewItem("stone", species="Sapphire", shape="Oval",
                                       carat=Decimal("2.10"), unit_cost="3000",
                                       ownership="memo", memo_dealer="Blue Stones Ltd",
                                       memo_date=today - timedelta(days=25),
                                       memo_due_date=today + timedelta(days=5)))
    w.call(inv.add_item, mara, NewItem("finding", description="14K jump ring 4 mm",
                                       unit_cost="0.90", reorder_point="50"), quantity="40")
    order = w.call(services.create_walk_in_order, mara, customer_name="Jordan Lee",
                   email="jordan@example.com",
                   jobs=[NewJob("Solitaire ring", design_needed=False, price="1500")])
    w.job_id = order["job_ids"][0]
    w.call(inv.plan_material, w.job_id, "M-0001", "6", mara)
    yield w
    common._connection.clear()


def signed_in(shop: Workshop, page: str, staff_id: int | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["staff_id"] = staff_id or shop.mara
    ok(at.run())
    at.switch_page(page)
    for key, value in query.items():
        at.query_params[key] = value
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    return at


def submit(at: AppTest, label: str) -> AppTest:
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, [b.label for b in at.button]
    found[0].click()
    return ok(at.run())


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def table_with(at: AppTest, column: str, value, having: str | None = None) -> dict:
    """The row whose `column` is `value` in the first table that has such a row (and a
    column `having`, when given)."""
    for frame in at.dataframe:
        df = frame.value
        if having is not None and having not in df.columns:
            continue
        if column in df.columns and (df[column] == value).any():
            return df[df[column] == value].iloc[0].to_dict()
    raise AssertionError(f"no table row with {column} = {value!r}")


# --- the inventory page ----------------------------------------------------------------------

def test_the_inventory_page_shows_on_hand_reserved_available_value_memo_and_low_stock(shop):
    shop.call(inv.reserve_materials, shop.job_id, shop.actor(shop.mara))

    at = signed_in(shop, "pages/inventory.py")

    assert texts(at.title) == ["Inventory"]
    gold = table_with(at, "code", "M-0001")
    assert (gold["on hand"], gold["reserved"], gold["available"]) == (25, 6, 19)
    assert gold["value at cost"] == pytest.approx(1212.50)          # 25 g x 48.50
    metrics = {m.label: m.value for m in at.metric}
    # Owned stock only: the gold, the diamond and the jump rings; the memo sapphire apart.
    assert metrics["Stock at cost"] == "USD 2,148.50"
    assert metrics["Memo stones held"] == "USD 3,000.00"
    assert metrics["Inventory accuracy"] == "no counts yet"
    memo = table_with(at, "code", "S-0003", having="dealer")
    assert (memo["dealer"], memo["days left"]) == ("Blue Stones Ltd", 5)
    low = table_with(at, "code", "F-0004", having="reorder at")
    assert (low["available"], low["reorder at"]) == (40, 50)
    # 19 g of gold available is still below its reorder point of 20 g.
    assert table_with(at, "code", "M-0001", having="reorder at")["available"] == 19


def test_scanning_a_code_into_the_open_field_opens_the_item_with_its_ledger(shop):
    at = signed_in(shop, "pages/inventory.py")
    at.text_input(key="inv_open").input("m-1\n").run()      # what a scanner types
    ok(at)

    assert texts(at.title) == ["M-0001 · 14K yellow gold"]
    moves = table_with(at, "move", "Received")
    assert moves["on hand"] == 25 and moves["who"] == "Mara Quinn"


def test_an_adjustment_without_a_reason_is_refused_and_with_one_is_posted(shop):
    at = signed_in(shop, "pages/inventory_item.py", item="M-0001")
    at.text_input(key="adj_change").input("-0.250")
    at = submit(at, "Adjust")
    assert "Say why 14K yellow gold (M-0001) is adjusted." in texts(at.error)

    at.text_input(key="adj_change").input("-0.250")
    at.text_input(key="adj_reason").input("filings found short at the weekly check")
    at = submit(at, "Adjust")

    assert "M-0001: adjusted; 24.750 g on hand." in texts(at.success)
    assert table_with(at, "move", "Adjusted")["why"] == "filings found short at the weekly check"


def test_the_receive_page_adds_a_certified_stone_and_offers_its_label(shop):
    at = signed_in(shop, "pages/inventory_receive.py")
    at.text_input(key="rcv_shape").input("Oval")
    at.text_input(key="rcv_carat").input("1.51")
    at.text_input(key="rcv_colour").input("F")
    at.text_input(key="rcv_clarity").input("VVS2")
    at.text_input(key="rcv_lab").input("gia")
    at.text_input(key="rcv_report").input("2141438167")
    at.text_input(key="rcv_cost").input("5200")
    at = submit(at, "Add and receive")

    assert texts(at.success)[0].startswith("S-0005 · 1.510 ct oval diamond, F VVS2 received "
                                           "into Safe.")
    assert [b.label for b in at.download_button] == ["Print the label of S-0005 (PDF)"]
    item = shop.read(invq.item_by_code, "S-0005")
    assert (item["cert_lab"], item["cert_number"], item["on_hand"]) == ("GIA", "2141438167", 1)

    # The same report number again is refused, saying which stone has it.
    at.text_input(key="rcv_carat").input("1.51")
    at.text_input(key="rcv_lab").input("GIA")
    at.text_input(key="rcv_report").input("2141438167")
    at = submit(at, "Add and receive")
    assert texts(at.error) == ["GIA report 2141438167 is already on stone S-0005."]


# --- the cycle count page --------------------------------------------------------------------

def test_a_scanned_count_with_a_variance_posts_the_adjustment_and_moves_the_accuracy(shop):
    at = signed_in(shop, "pages/inventory_count.py")
    assert "no counts posted yet" in at.caption[0].value
    at.selectbox(key="count_where").set_value("SAFE")
    at = submit(at, "Start counting")

    # The scanner types each label's code and Enter; metal and findings need a quantity.
    said = {}
    for code, qty in [("S-0002", ""), ("S-0003", ""), ("M-0001", "24.900"), ("F-0004", "40")]:
        at.text_input(key="count_code").input(code)
        at.text_input(key="count_qty").input(qty)
        at = submit(at, "Count it")
        said[code] = texts(at.success) + texts(at.warning)
    assert said["S-0002"] == ["Stone S-0002: counted 1 pc, records say 1 pc."]
    assert said["M-0001"] == ["14K yellow gold (M-0001): counted 24.900 g, records say "
                              "25.000 g."]
    assert table_with(at, "code", "M-0001", having="variance")["variance"] == "-0.100 g"
    at = submit(at, "Post the count")
    assert texts(at.error) == ["1 of 4 lines differ from the records (M-0001); say why before "
                               "posting."]

    at.text_input(key="count_reason").input("scale recalibrated")
    at = submit(at, "Post the count")

    assert texts(at.success) == ["Count #1 posted: 3 of 4 lines matched; 1 adjustment(s) "
                                 "posted."]
    assert "**75.0%** of 4 count lines matched over the last 1 counts." in at.caption[0].value
    assert shop.read(invq.item_by_code, "M-0001")["on_hand"] == Decimal("24.900")
    at = signed_in(shop, "pages/inventory.py")
    assert {m.label: m.value for m in at.metric}["Inventory accuracy"] == "75.0%"


# --- the job page's materials ----------------------------------------------------------------

def test_the_job_page_plans_issues_and_checks_in_metal_with_its_loss(shop):
    mara = shop.actor(shop.mara)
    at = signed_in(shop, "pages/job.py", job="J-0001")
    assert "Materials" in texts(at.subheader)
    assert table_with(at, "code", "M-0001")["planned"] == "6.000 g"

    at.text_input(key="mat_code").input("S-0002")
    at = submit(at, "Add to the plan")
    assert "S-0002 planned." in texts(at.success)

    shop.call(services.change_stage, shop.job_id, "start_production", mara)
    at = signed_in(shop, "pages/job.py", job="J-0001")
    assert table_with(at, "code", "M-0001")["at the bench"] == "6.000 g"
    assert table_with(at, "code", "S-0002")["at the bench"] == "1 pc"

    at.text_input(key="mat_fin_M-0001").input("5.640")
    at.text_input(key="mat_ret_M-0001").input("0.180")
    at = submit(at, "Record the finished weight")

    assert ("Finished weight recorded: M-0001 metal loss 3.00% (norm 3.0%)."
            in texts(at.success))
    assert any("**3.00%** of 6.000 g issued" in t for t in texts(at.info))
    gold = shop.read(invq.item_by_code, "M-0001")
    assert (gold["on_hand"], gold["issued"]) == (Decimal("19.180"), 0)


def test_starting_production_short_of_metal_is_refused_on_the_job_page(shop):
    shop.call(inv.plan_material, shop.job_id, "M-0001", "30", shop.actor(shop.mara))
    at = signed_in(shop, "pages/job.py", job="J-0001")
    at = submit(at, "Start production (no design)")

    assert texts(at.error) == ["Job J-0001 can't start production: only 25.000 g of 14K "
                               "yellow gold (M-0001) is available; job J-0001 needs "
                               "30.000 g."]
    assert shop.read(lambda cur: cur.execute(
        "SELECT state FROM jobs WHERE id = ?", [shop.job_id]).fetchone()[0]) == "new"
