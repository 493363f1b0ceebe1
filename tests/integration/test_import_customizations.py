"""What an imported job carries: metal, karat, finish, ring size and engraving lifted from
the line item and the order's cart attributes; stock items listed but not made."""

import json
from decimal import Decimal

import pytest

from connectors.shopify import parse_orders_export
from connectors.shopify_demo import ExportLine, ExportOrder, write_export
from storage.db import connect, cursor
from storage.unit_of_work import UnitOfWork
from workflow.import_service import import_orders
from workflow.job_rules import JobRule
from workflow.model import SYSTEM_IMPORT, Actor
from workflow.services import save_job_rules


@pytest.fixture
def db(tmp_path):
    con = connect(tmp_path / "a.duckdb")
    cur = cursor(con)
    yield cur
    cur.close()
    con.close()


def export(tmp_path, orders):
    path = tmp_path / "orders.csv"
    write_export(path, orders)
    return parse_orders_export(path)


def test_a_ring_order_gives_a_job_with_its_metal_size_and_engraving(db, tmp_path):
    order = ExportOrder(name="#2001", id="6400000000001",
                        lines=[ExportLine("Solitaire Ring - 14K Yellow Gold / 6.5",
                                          price="1200.00"),
                               ExportLine("Gift Card - $50", price="50.00")],
                        note_attributes="Engraving: Always, M.\nGift wrap: yes",
                        total="1250.00", subtotal="1250.00", financial_status="paid")
    summary = import_orders(UnitOfWork(db), export(tmp_path, [order]), SYSTEM_IMPORT)
    assert summary.jobs_created == 1
    job = db.execute("SELECT piece, metal, karat, ring_size_text, ring_size_mm, engraving, "
                     "details FROM jobs").fetchone()
    assert job[:6] == ("Solitaire Ring - 14K Yellow Gold / 6.5", "yellow gold", "14K", "6.5",
                       Decimal("53.13"), "Always, M.")
    assert json.loads(job[6])["options"] == "14K Yellow Gold / 6.5"
    # the gift card is on the order, with no job
    assert db.execute("SELECT title FROM order_lines ORDER BY line_no").fetchall() == [
        ("Solitaire Ring - 14K Yellow Gold / 6.5",), ("Gift Card - $50",)]


def test_cart_attributes_of_an_order_with_two_pieces_stay_on_the_order(db, tmp_path):
    order = ExportOrder(name="#2002", id="6400000000002",
                        lines=[ExportLine("Signet Ring - 18K White Gold / 9"),
                               ExportLine("Band - Platinum / 8")],
                        note_attributes="Engraving: J & K")
    import_orders(UnitOfWork(db), export(tmp_path, [order]), SYSTEM_IMPORT)
    rows = db.execute("SELECT metal, karat, engraving FROM jobs ORDER BY id").fetchall()
    assert rows == [("white gold", "18K", None), ("platinum", "Pt950", None)]
    assert db.execute("SELECT note_attributes FROM orders").fetchone()[0] == "Engraving: J & K"


def test_the_shops_rules_decide_which_lines_become_jobs(db, tmp_path):
    manager = Actor("Mara", role="manager")
    save_job_rules(UnitOfWork(db), [JobRule("name_pattern", "chain", makes_job=False)],
                   manager)
    order = ExportOrder(name="#2003", id="6400000000003",
                        lines=[ExportLine("Cuban Chain - 14K Yellow Gold / 20\""),
                               ExportLine("Gift Card - $25")])
    summary = import_orders(UnitOfWork(db), export(tmp_path, [order]), SYSTEM_IMPORT)
    # the shop's own rules replace the defaults: the gift card is made, the chain is stock
    assert summary.jobs_created == 1
    assert db.execute("SELECT piece FROM jobs").fetchone()[0] == "Gift Card - $25"
    audit = db.execute("SELECT actor FROM audit_log WHERE action = 'settings.change'"
                       ).fetchall()
    assert audit == [("Mara",)]


def test_cart_attributes_fill_what_the_line_lacks_for_a_single_piece(db, tmp_path):
    orders = [
        ExportOrder(name="#2004", id="6400000000004", lines=[ExportLine("Custom Ring")],
                    note_attributes="Metal: Rose gold\nRing size: 7\nEngraving: R+L\nBox: red"),
        # an unreadable size stays as text for staff to correct; the mm stays empty
        ExportOrder(name="#2005", id="6400000000005", lines=[ExportLine("Custom Band")],
                    note_attributes="Ring size: XL"),
        # the line's own options win over the attributes
        ExportOrder(name="#2006", id="6400000000006",
                    lines=[ExportLine("Signet Ring - 18K White Gold / 9")],
                    note_attributes="Metal: Silver\nRing size: 5"),
    ]
    import_orders(UnitOfWork(db), export(tmp_path, orders), SYSTEM_IMPORT)
    rows = db.execute("""SELECT o.name, j.metal, j.karat, j.ring_size_text, j.ring_size_mm,
                                j.engraving
                           FROM jobs j JOIN orders o ON o.id = j.order_id ORDER BY o.name"""
                      ).fetchall()
    assert rows == [
        ("#2004", "Rose gold", None, "7", Decimal("54.41"), "R+L"),
        ("#2005", None, None, "XL", None, None),
        ("#2006", "white gold", "18K", "9", Decimal("59.52"), None),
    ]


def test_an_export_with_no_options_sizes_or_attributes_imports_plainly(db, tmp_path):
    order = ExportOrder(name="#2007", id="6400000000007",
                        lines=[ExportLine("Custom Pendant"), ExportLine("Custom Brooch")])
    summary = import_orders(UnitOfWork(db), export(tmp_path, [order]), SYSTEM_IMPORT)
    assert summary.jobs_created == 2
    assert db.execute("SELECT piece, metal, karat, ring_size_text, ring_size_mm, engraving "
                      "FROM jobs ORDER BY id").fetchall() == [
        ("Custom Pendant", None, None, None, None, None),
        ("Custom Brooch", None, None, None, None, None)]


def test_line_and_job_numbers_follow_the_files_order(db, tmp_path):
    orders = [ExportOrder(name=f"#3{n:03d}", id=f"64000000010{n:02d}",
                          lines=[ExportLine(f"Ring {n}a"), ExportLine(f"Ring {n}b")])
              for n in range(40)]
    import_orders(UnitOfWork(db), export(tmp_path, orders), SYSTEM_IMPORT)
    lines = [r[0] for r in db.execute("SELECT title FROM order_lines ORDER BY id").fetchall()]
    jobs = [r[0] for r in db.execute("SELECT piece FROM jobs ORDER BY id").fetchall()]
    expected = [f"Ring {n}{s}" for n in range(40) for s in "ab"]
    assert lines == expected
    assert jobs == expected
    orders_by_id = [r[0] for r in db.execute("SELECT name FROM orders ORDER BY id").fetchall()]
    assert orders_by_id == [o.name for o in orders]


def test_an_order_given_twice_by_a_source_is_imported_once_first_one_wins(db, tmp_path):
    # The Shopify parser refuses an order whose rows are in two places; another source's
    # ParsedExport may still repeat one, and the import takes the first.
    import pandas as pd

    parsed = export(tmp_path, [ExportOrder(name="#2008", id="6400000000008",
                                           lines=[ExportLine("Custom Ring")])])
    again = parsed.orders.assign(name="#2008-again", first_row=parsed.orders["first_row"] + 9)
    parsed.orders = pd.concat([again, parsed.orders], ignore_index=True)
    summary = import_orders(UnitOfWork(db), parsed, SYSTEM_IMPORT)
    assert (summary.orders_created, summary.jobs_created) == (1, 1)
    assert db.execute("SELECT name FROM orders").fetchall() == [("#2008",)]
