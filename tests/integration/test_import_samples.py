"""The real Shopify exports in ../shared/samples import with exact counts, and importing one
twice changes nothing but the batch record."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from connectors.shopify import parse_orders_export
from storage.db import connect, cursor
from storage.unit_of_work import UnitOfWork
from workflow.import_service import import_orders, preview_import
from workflow.model import SYSTEM_IMPORT

SAMPLES = ["jewelry_store_pkr_2026.csv", "dev_store_eur_2025.csv", "dev_store_inr_2025.csv"]


def count_from_file(path: Path) -> dict[str, int]:
    """Orders, line items and customers counted with the stdlib, independently of the app.

    A customer is known by email, else phone, else billing (or shipping) name, as the import
    says; order-level columns are read from an order's first row only.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    first_rows: dict[str, dict] = {}
    for row in rows:
        first_rows.setdefault(row["Name"], row)
    # The default job rules: gift cards, wrapping, protection plans and supplies get no job.
    no_job_words = ("gift card", "giftcard", "gift wrap", "gift box", "shipping protection",
                    "package protection", "insurance", "warranty", "polishing cloth",
                    "cleaning kit")
    jobs = sum(1 for row in rows
               if not any(w in row["Lineitem name"].lower() for w in no_job_words))
    customers = set()
    for row in first_rows.values():
        email = row["Email"].strip().lower()
        phone = "".join(ch for ch in (row.get("Phone") or row.get("Billing Phone") or
                                      row.get("Shipping Phone") or "").lstrip("'")
                        if ch.isdigit() or ch == "+")
        name = (row["Billing Name"] or row["Shipping Name"]).strip().lower()
        if email:
            customers.add(f"email:{email}")
        elif phone:
            customers.add(f"phone:{phone}")
        elif name:
            customers.add(f"name:{name}")
    return {"orders": len(first_rows), "lines": len(rows), "jobs": jobs,
            "customers": len(customers)}


@pytest.fixture
def db(tmp_path):
    con = connect(tmp_path / "atelier.duckdb")
    cur = cursor(con)
    yield cur
    cur.close()
    con.close()


def table_counts(cur) -> dict[str, int]:
    return {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("orders", "jobs", "customers", "order_lines", "job_status_history",
                      "audit_log", "payments", "import_batch")}


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_real_export_imports_with_exact_counts_and_twice_changes_nothing(db, samples_dir,
                                                                           sample):
    path = samples_dir / "shopify" / sample
    expected = count_from_file(path)
    parsed = parse_orders_export(path)
    assert parsed.problems == []

    first = import_orders(UnitOfWork(db), parsed, SYSTEM_IMPORT)
    counts = table_counts(db)
    assert (first.orders_created, first.jobs_created, first.customers_created) == (
        expected["orders"], expected["jobs"], expected["customers"])
    assert counts["orders"] == expected["orders"]
    assert counts["jobs"] == expected["jobs"]
    assert counts["order_lines"] == expected["lines"]
    assert counts["customers"] == expected["customers"]
    # one history row and one audit row per job; one audit row per order and per customer
    assert counts["job_status_history"] == expected["jobs"]
    assert counts["audit_log"] == expected["jobs"] + expected["orders"] + expected["customers"]

    second = import_orders(UnitOfWork(db), parse_orders_export(path), SYSTEM_IMPORT)
    after = table_counts(db)
    assert second.nothing_changed
    assert second.orders_unchanged == expected["orders"]
    assert second.sentence().startswith("Nothing changed")
    assert after == counts | {"import_batch": 2}
    batch = db.execute("SELECT orders_created, orders_updated, jobs_created, summary "
                       "FROM import_batch WHERE id = ?", [second.batch_id]).fetchone()
    assert batch[:3] == (0, 0, 0) and batch[3].startswith("Nothing changed")


def test_the_file_counts_match_the_samples_readme(samples_dir):
    # ../shared/samples/README.md: 140, 19 and 51 orders; 182, 40 and 121 rows
    got = {s: count_from_file(samples_dir / "shopify" / s) for s in SAMPLES}
    assert [(g["orders"], g["lines"]) for g in got.values()] == [
        (140, 182), (19, 40), (51, 121)]
    # 17 of the EUR store's 40 lines are gift cards: listed on their orders, no job
    assert [g["jobs"] for g in got.values()] == [182, 23, 121]


def test_preview_writes_nothing_and_matches_the_import(db, samples_dir):
    path = samples_dir / "shopify" / "dev_store_eur_2025.csv"
    parsed = parse_orders_export(path)
    before = table_counts(db)
    preview = preview_import(UnitOfWork(db), parsed)
    assert table_counts(db) == before
    assert len(preview.new_orders) == 19 and preview.summary.jobs_created == 23
    done = import_orders(UnitOfWork(db), parsed, SYSTEM_IMPORT)
    assert (done.orders_created, done.jobs_created) == (19, 23)


def edited_copy(src: Path, dst: Path, order_name: str, column: str, value: str) -> None:
    with src.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    name_at, col_at = header.index("Name"), header.index(column)
    for row in rows[1:]:
        if row[name_at] == order_name:
            row[col_at] = value
            break  # the order's first row holds its order-level fields
    with dst.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_a_reimport_updates_only_the_changed_order_and_audits_before_and_after(db, samples_dir,
                                                                               tmp_path):
    src = samples_dir / "shopify" / "dev_store_eur_2025.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    name = db.execute("SELECT name FROM orders ORDER BY id LIMIT 1").fetchone()[0]
    old_status = db.execute("SELECT financial_status FROM orders WHERE name = ?",
                            [name]).fetchone()[0]
    jobs_before = db.execute("SELECT id, state, version FROM jobs ORDER BY id").fetchall()
    edited = tmp_path / "edited.csv"
    edited_copy(src, edited, name, "Financial Status", "partially_refunded")

    summary = import_orders(UnitOfWork(db), parse_orders_export(edited), SYSTEM_IMPORT)
    assert (summary.orders_created, summary.orders_updated, summary.orders_unchanged) == (
        0, 1, 18)
    assert summary.changed_fields == {name: ["financial_status"]}
    rows = db.execute("SELECT before, after, actor, import_batch_id FROM audit_log "
                      "WHERE action = 'order.update'").fetchall()
    assert len(rows) == 1
    before, after, actor, batch = rows[0]
    assert json.loads(before) == {"financial_status": old_status}
    assert json.loads(after) == {"financial_status": "partially_refunded"}
    assert actor == SYSTEM_IMPORT.name and batch == summary.batch_id
    # the workshop owns the jobs: a re-import never touches them
    assert db.execute("SELECT id, state, version FROM jobs ORDER BY id").fetchall() == \
        jobs_before


def test_a_cancellation_in_shopify_cancels_new_jobs_and_flags_jobs_already_in_work(
        db, samples_dir, tmp_path):
    src = samples_dir / "shopify" / "dev_store_inr_2025.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    # two open orders: one whose job is still new, one whose job has started
    open_orders = db.execute("""
        SELECT o.name, min(j.id) FROM orders o JOIN jobs j ON j.order_id = o.id
         WHERE j.state = 'new' GROUP BY o.name HAVING count(*) = 1 ORDER BY o.name LIMIT 2
        """).fetchall()
    (untouched_name, new_job), (started_name, started_job) = open_orders
    from workflow.services import change_stage

    change_stage(UnitOfWork(db), started_job, "start_design", SYSTEM_IMPORT)
    step1 = tmp_path / "one.csv"
    step2 = tmp_path / "two.csv"
    edited_copy(src, step1, untouched_name, "Cancelled at", "2025-06-01 10:00:00 -0400")
    edited_copy(step1, step2, started_name, "Cancelled at", "2025-06-01 10:00:00 -0400")

    preview = preview_import(UnitOfWork(db), parse_orders_export(step2))
    assert (preview.summary.jobs_cancelled, preview.summary.jobs_flagged) == (1, 1)
    numbers = dict(db.execute("SELECT id, job_number FROM jobs WHERE id IN (?, ?)",
                              [new_job, started_job]).fetchall())
    assert (preview.jobs_to_cancel, preview.jobs_to_flag) == (
        [numbers[new_job]], [numbers[started_job]])
    summary = import_orders(UnitOfWork(db), parse_orders_export(step2), SYSTEM_IMPORT)
    assert summary.orders_updated == 2
    assert "; 1 job cancelled and 1 in work flagged to decide" in summary.sentence()
    states = dict(db.execute("SELECT id, state FROM jobs WHERE id IN (?, ?)",
                             [new_job, started_job]).fetchall())
    assert states == {new_job: "cancelled", started_job: "design_consultation"}
    history = db.execute("SELECT from_state, to_state, actor FROM job_status_history "
                         "WHERE job_id = ? ORDER BY id DESC LIMIT 1", [new_job]).fetchone()
    assert history == ("new", "cancelled", SYSTEM_IMPORT.name)
    from storage.queries import BoardFilter, board_jobs

    board = board_jobs(db, BoardFilter(), "Asia/Kolkata")
    flagged = board[board["id"] == started_job].iloc[0]
    assert flagged["cancelled_in_shopify"]


def test_an_edited_copy_gives_exactly_its_three_updates_in_the_audit_log(db, samples_dir,
                                                                        tmp_path):
    """The jewelry store's export, then a copy where one order was cancelled, one refunded and
    one shipping address changed: exactly those three orders are updated and audited."""
    src = samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    names = [r[0] for r in db.execute("""
        SELECT name FROM orders WHERE cancelled_at IS NULL AND financial_status = 'paid'
         ORDER BY name LIMIT 3""").fetchall()]
    cancelled, refunded, moved = names
    step1, step2, step3 = (tmp_path / f"{i}.csv" for i in range(3))
    edited_copy(src, step1, cancelled, "Cancelled at", "2026-01-20 10:00:00 +0500")
    edited_copy(step1, step2, refunded, "Financial Status", "refunded")
    edited_copy(step2, step3, moved, "Shipping City", "Lahore Cantt")
    with step3.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    for row in rows[1:]:
        if row[header.index("Name")] == refunded and row[header.index("Total")]:
            row[header.index("Refunded Amount")] = row[header.index("Total")]
    with step3.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)

    summary = import_orders(UnitOfWork(db), parse_orders_export(step3), SYSTEM_IMPORT)
    assert (summary.orders_created, summary.orders_updated) == (0, 3)
    audit = db.execute("""
        SELECT o.name, a.before, a.after FROM audit_log a JOIN orders o ON o.id = a.entity_id
         WHERE a.action = 'order.update' ORDER BY o.name""").fetchall()
    changed = {name: (json.loads(before), json.loads(after)) for name, before, after in audit}
    assert set(changed) == {cancelled, refunded, moved}
    assert list(changed[cancelled][1]) == ["cancelled_at"]
    assert changed[cancelled][0] == {"cancelled_at": None}
    assert sorted(changed[refunded][1]) == ["financial_status", "refunded_amount"]
    assert changed[refunded][1]["financial_status"] == "refunded"
    assert list(changed[moved][1]) == ["shipping_address"]
    assert "Lahore Cantt" in changed[moved][1]["shipping_address"]


def test_board_search_takes_percent_and_underscore_as_typed(db, samples_dir):
    from storage.queries import BoardFilter, board_jobs, orders

    import_orders(UnitOfWork(db), parse_orders_export(
        samples_dir / "shopify" / "dev_store_inr_2025.csv"), SYSTEM_IMPORT)
    assert len(board_jobs(db, BoardFilter(), "Asia/Kolkata")) > 0
    assert board_jobs(db, BoardFilter(search="%"), "Asia/Kolkata").empty
    assert board_jobs(db, BoardFilter(search="_"), "Asia/Kolkata").empty
    assert orders(db, search="%", open_only=False).empty


def test_a_closed_job_is_never_overdue(db, samples_dir):
    from storage.queries import BoardFilter, board_jobs

    import_orders(UnitOfWork(db), parse_orders_export(
        samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"), SYSTEM_IMPORT)
    db.execute("UPDATE jobs SET promised_date = DATE '2020-01-01'")  # all long past
    closed = board_jobs(db, BoardFilter(stages=("completed", "cancelled")), "Asia/Karachi")
    assert len(closed) > 0 and not closed["overdue"].any()
    still_open = board_jobs(db, BoardFilter(), "Asia/Karachi")
    assert still_open["overdue"].all()


def test_paid_is_the_total_less_shopifys_outstanding_balance_and_dead_orders_owe_nothing(
        db, samples_dir):
    # #1087 is "paid" in Shopify with 24,000 of its 54,000 still outstanding (items added after
    # payment); #1096 was voided: nothing was paid and nothing is owed.
    from storage.queries import orders

    import_orders(UnitOfWork(db), parse_orders_export(
        samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"), SYSTEM_IMPORT)
    table = orders(db, open_only=False, shop_tz="Asia/Karachi", limit=1000).set_index("order_name")
    assert (table.loc["#1087", "paid"], table.loc["#1087", "balance_due"]) == (30000, 24000)
    assert (table.loc["#1096", "paid"], table.loc["#1096", "balance_due"]) == (0, 0)
    assert bool(table.loc["#1096", "cancelled_in_shopify"])
    # INR: a development store's test orders, "paid" with the whole total outstanding
    import_orders(UnitOfWork(db), parse_orders_export(
        samples_dir / "shopify" / "dev_store_inr_2025.csv"), SYSTEM_IMPORT)
    inr = orders(db, open_only=False, shop_tz="Asia/Kolkata", limit=1000)
    inr = inr[inr["currency"] == "INR"]
    assert (inr["paid"] + inr["balance_due"] == inr["total"]).all()


def test_a_line_still_pending_on_a_fulfilled_order_is_a_job_to_make(db, samples_dir):
    # #1087 was fulfilled, then two items were added: those two lines are still pending.
    import_orders(UnitOfWork(db), parse_orders_export(
        samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"), SYSTEM_IMPORT)
    states = dict(db.execute("""SELECT j.piece, j.state FROM jobs j JOIN orders o
                                    ON o.id = j.order_id WHERE o.name = '#1087'""").fetchall())
    assert states == {"Petal Bracelet": "new", "North Star Huggies": "new",
                      "Arya Bracelet - Extra Small": "completed", "earrings": "completed"}


def test_a_full_refund_flags_a_job_already_in_work(db, samples_dir, tmp_path):
    from storage.queries import BoardFilter, board_jobs, job_detail
    from workflow.services import change_stage

    src = samples_dir / "shopify" / "dev_store_inr_2025.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    name, job_id = db.execute("""
        SELECT o.name, min(j.id) FROM orders o JOIN jobs j ON j.order_id = o.id
         WHERE j.state = 'new' GROUP BY o.name HAVING count(*) = 1 ORDER BY o.name LIMIT 1
        """).fetchone()
    change_stage(UnitOfWork(db), job_id, "start_design", SYSTEM_IMPORT)
    refunded = tmp_path / "refunded.csv"
    edited_copy(src, refunded, name, "Financial Status", "refunded")
    import_orders(UnitOfWork(db), parse_orders_export(refunded), SYSTEM_IMPORT)
    board = board_jobs(db, BoardFilter(), "Asia/Kolkata")
    assert board[board["id"] == job_id].iloc[0]["cancelled_in_shopify"]
    detail = job_detail(db, job_id)
    assert (detail["state"], detail["cancelled_in_shopify"], detail["balance_due"]) == (
        "design_consultation", True, 0)


def copy_with_columns(src: Path, dst: Path, keep: list[str]) -> None:
    with src.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with dst.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keep, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


KEPT = ["Name", "Email", "Financial Status", "Fulfillment Status", "Created at",
        "Lineitem quantity", "Lineitem name", "Lineitem price", "Total"]


def test_an_export_with_columns_deleted_matches_orders_by_name_and_blanks_nothing(
        db, samples_dir, tmp_path):
    src = samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    before = db.execute("SELECT * FROM orders ORDER BY id").fetchall()
    counts = table_counts(db)
    trimmed = tmp_path / "trimmed.csv"
    copy_with_columns(src, trimmed, KEPT)  # no Id, Currency, Cancelled at, addresses ...

    parsed = parse_orders_export(trimmed)
    assert {"external_id", "currency", "cancelled_at", "shipping_address"} <= parsed.absent_fields
    summary = import_orders(UnitOfWork(db), parsed, SYSTEM_IMPORT)
    assert (summary.orders_created, summary.orders_updated, summary.orders_unchanged,
            summary.jobs_created) == (0, 0, 140, 0)
    assert db.execute("SELECT * FROM orders ORDER BY id").fetchall() == before
    assert table_counts(db) == {**counts, "import_batch": counts["import_batch"] + 1}


def test_orders_first_known_by_name_take_their_shopify_id_from_a_full_export(
        db, samples_dir, tmp_path):
    src = samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"
    trimmed = tmp_path / "trimmed.csv"
    copy_with_columns(src, trimmed, KEPT)
    first = import_orders(UnitOfWork(db), parse_orders_export(trimmed), SYSTEM_IMPORT)
    assert (first.orders_created, first.jobs_created) == (140, 182)

    full = import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    assert (full.orders_created, full.orders_updated, full.jobs_created) == (0, 140, 0)
    assert db.execute("SELECT count(*) FROM orders WHERE match_key = external_id"
                      ).fetchone()[0] == 140
    assert db.execute("SELECT currency, cancelled_at IS NOT NULL FROM orders "
                      "WHERE name = '#1096'").fetchone() == ("PKR", True)
    again = import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    assert (again.orders_created, again.orders_updated) == (0, 0)


def test_an_older_export_never_undoes_a_cancellation_or_a_refund(db, samples_dir, tmp_path):
    src = samples_dir / "shopify" / "dev_store_inr_2025.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    cancelled_name, refunded_name = [r[0] for r in db.execute(
        "SELECT name FROM orders ORDER BY name LIMIT 2").fetchall()]
    total = db.execute("SELECT total FROM orders WHERE name = ?", [refunded_name]).fetchone()[0]
    newer, newer2 = tmp_path / "newer.csv", tmp_path / "newer2.csv"
    edited_copy(src, newer, cancelled_name, "Cancelled at", "2025-06-01 10:00:00 +0530")
    edited_copy(newer, newer2, refunded_name, "Refunded Amount", str(total))
    import_orders(UnitOfWork(db), parse_orders_export(newer2), SYSTEM_IMPORT)
    before = db.execute("SELECT * FROM orders ORDER BY id").fetchall()

    preview = preview_import(UnitOfWork(db), parse_orders_export(src))  # the older file
    assert preview.changed_orders == []
    assert sorted(preview.older_orders) == sorted([
        (cancelled_name, "Atelier has it cancelled in Shopify since 01 Jun 2025"),
        (refunded_name, f"Atelier has {total} refunded; this file 0.00")])
    summary = import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    assert (summary.orders_updated, summary.orders_older) == (0, 2)
    assert "2 orders left as they are (this file has them in an earlier state)" in (
        summary.sentence())
    assert db.execute("SELECT * FROM orders ORDER BY id").fetchall() == before


def test_the_preview_says_each_change_with_before_and_after(db, samples_dir, tmp_path):
    src = samples_dir / "shopify" / "dev_store_eur_2025.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    name = db.execute("SELECT name FROM orders WHERE financial_status = 'paid' "
                      "ORDER BY id LIMIT 1").fetchone()[0]
    edited = tmp_path / "edited.csv"
    edited_copy(src, edited, name, "Financial Status", "partially_refunded")
    preview = preview_import(UnitOfWork(db), parse_orders_export(edited))
    assert preview.changes == {name: [("Payment status", "paid", "partially refunded")]}


def test_jobs_a_cancellation_closes_are_closed_by_shopify_import_not_the_person(
        db, samples_dir, tmp_path):
    from workflow.model import Actor

    maria = Actor("Maria Office", role="manager")
    src = samples_dir / "shopify" / "dev_store_inr_2025.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), maria)
    name, job_id = db.execute("""
        SELECT o.name, min(j.id) FROM orders o JOIN jobs j ON j.order_id = o.id
         WHERE j.state = 'new' GROUP BY o.name ORDER BY o.name LIMIT 1""").fetchone()
    cancelled = tmp_path / "cancelled.csv"
    edited_copy(src, cancelled, name, "Cancelled at", "2025-06-01 10:00:00 +0530")
    import_orders(UnitOfWork(db), parse_orders_export(cancelled), maria)
    assert db.execute("SELECT actor, note FROM job_status_history WHERE job_id = ? "
                      "ORDER BY id DESC LIMIT 1", [job_id]).fetchone() == (
        "Shopify import", "The order was cancelled or refunded in Shopify (import run by "
                          "Maria Office)")
    assert db.execute("SELECT actor FROM audit_log WHERE action = 'job.cancel' "
                      "AND entity_id = ?", [job_id]).fetchall() == [("Shopify import",)]


def test_the_orders_list_is_limited_for_the_screen_and_whole_for_an_export(db, samples_dir):
    from storage.queries import orders

    import_orders(UnitOfWork(db), parse_orders_export(
        samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"), SYSTEM_IMPORT)
    shown = orders(db, open_only=False, limit=10)
    every = orders(db, open_only=False, limit=None)
    assert (len(shown), len(every)) == (10, 140)
    assert list(shown["order_name"]) == list(every["order_name"][:10])  # newest first


def test_what_a_spreadsheet_did_to_a_known_order_is_not_a_change(db, samples_dir, tmp_path):
    # Re-saved by Excel: the zip '00000 became 0 and the seconds of "Created at" were dropped.
    src = samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src, shop_tz="Asia/Karachi"),
                  SYSTEM_IMPORT)
    stored = db.execute("SELECT shipping_address, placed_at FROM orders WHERE name = '#1018'"
                        ).fetchone()
    resaved, resaved2 = tmp_path / "resaved.csv", tmp_path / "resaved2.csv"
    edited_copy(src, resaved, "#1018", "Shipping Zip", "0")
    edited_copy(resaved, resaved2, "#1018", "Created at", "2024-10-18 18:08")
    parsed = parse_orders_export(resaved2, shop_tz="Asia/Karachi")
    assert "0" in parsed.orders.set_index("name").loc["#1018", "shipping_address"].split(", ")
    preview = preview_import(UnitOfWork(db), parsed)
    assert preview.changed_orders == []
    import_orders(UnitOfWork(db), parsed, SYSTEM_IMPORT)
    assert db.execute("SELECT shipping_address, placed_at FROM orders WHERE name = '#1018'"
                      ).fetchone() == stored
    # a real change of the zip is still one
    moved = tmp_path / "moved.csv"
    edited_copy(src, moved, "#1018", "Shipping Zip", "'75500")
    assert preview_import(UnitOfWork(db), parse_orders_export(
        moved, shop_tz="Asia/Karachi")).changes["#1018"][0][0] == "Shipping address"


def test_a_line_for_several_pieces_says_how_many_on_the_board_and_the_job(db, samples_dir):
    from storage.queries import BoardFilter, board_jobs, job_detail

    import_orders(UnitOfWork(db), parse_orders_export(
        samples_dir / "shopify" / "dev_store_inr_2025.csv"), SYSTEM_IMPORT)
    job_id = db.execute("""SELECT j.id FROM jobs j JOIN orders o ON o.id = j.order_id
                            WHERE o.name = '#1049' AND j.piece LIKE 'Wireless%'""").fetchone()[0]
    assert job_detail(db, job_id)["quantity"] == 3
    board = board_jobs(db, BoardFilter(), "Asia/Kolkata").set_index("id")
    assert board.loc[job_id, "quantity"] == 3
    assert set(board["quantity"]) >= {1, 3}


def test_two_stores_numbering_alike_are_told_apart_by_currency_or_refused_by_name(
        db, samples_dir, tmp_path):
    eur = samples_dir / "shopify" / "dev_store_eur_2025.csv"
    inr = samples_dir / "shopify" / "dev_store_inr_2025.csv"
    for src in (eur, inr):
        import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    counts = table_counts(db)
    shared = {n for (n,) in db.execute(
        "SELECT name FROM orders GROUP BY name HAVING count(*) > 1").fetchall()}
    assert shared  # both stores number from #1001

    with_currency = tmp_path / "eur_no_id.csv"
    copy_with_columns(eur, with_currency, [*KEPT, "Currency"])
    summary = import_orders(UnitOfWork(db), parse_orders_export(with_currency), SYSTEM_IMPORT)
    assert (summary.orders_created, summary.orders_updated, summary.orders_unchanged) == (
        0, 0, 19)

    bare = tmp_path / "eur_bare.csv"
    copy_with_columns(eur, bare, KEPT)  # no Id, no Currency: the shared names can't be told
    preview = preview_import(UnitOfWork(db), parse_orders_export(bare))
    refused = {p.order_name: p.reason for p in preview.problems}
    eur_names = set(parse_orders_export(eur).orders["name"])
    assert set(refused) == eur_names & shared
    assert set(preview.unchanged_orders) == eur_names - shared
    assert next(iter(refused.values())) == (
        "this name belongs to 2 orders already imported (from EUR and INR) and the file has "
        "no Id to tell which; export again with the Id column")
    summary = import_orders(UnitOfWork(db), parse_orders_export(bare), SYSTEM_IMPORT)
    assert summary.orders_created == 0 and summary.rows_rejected == len(refused)
    assert table_counts(db) == {**counts, "import_batch": counts["import_batch"] + 2}


def test_a_re_saved_file_read_in_the_wrong_time_zone_is_called_out(db, samples_dir, tmp_path):
    # The Karachi shop's export re-saved by a spreadsheet (offsets dropped), read with the
    # default zone (New York): every placed time would move by 9-10 hours.
    src = samples_dir / "shopify" / "jewelry_store_pkr_2026.csv"
    import_orders(UnitOfWork(db), parse_orders_export(src), SYSTEM_IMPORT)
    with src.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index("Created at")
    for row in rows[1:]:
        row[at] = row[at][:19]  # "2024-10-18 18:08:53 +0500" -> "2024-10-18 18:08:53"
    resaved = tmp_path / "resaved.csv"
    with resaved.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)

    wrong = preview_import(UnitOfWork(db), parse_orders_export(resaved,
                                                               shop_tz="America/New_York"))
    (warning,) = [n for n in wrong.notes if "would move their placed time" in n]
    assert warning.startswith("140 known orders would move their placed time by +9 to +10 h")
    right = preview_import(UnitOfWork(db), parse_orders_export(resaved, shop_tz="Asia/Karachi"))
    assert not [n for n in right.notes if "would move their placed time" in n]
    assert right.changed_orders == []
