"""Every page renders without an exception for a signed-in manager on the demo shop, and the
import page takes a real Shopify export end to end."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest

from tests.pages.support import (
    APP,
    DEMO_MANAGER,
    EUR_SAMPLE,
    MANAGER,
    assert_no_exception,
    button,
    new_app,
    open_job,
    open_page,
    run_ok,
    values,
)
from workflow import services
from workflow.lifecycle import STAGES
from workflow.model import Role


@pytest.fixture
def manager_on_demo(demo_shop):
    return demo_shop, run_ok(new_app(demo_shop.staff_id(DEMO_MANAGER)))


# Every page the entry script lists for a signed-in person (read from streamlit_app.py, so a
# page added there is covered here too), with the title of those this suite knows.
NAV_PAGES = sorted(set(re.findall(r'"(pages/\w+\.py)"', APP.read_text())))
TITLES = {"pages/board.py": "Board", "pages/new_order.py": "New walk-in order",
          "pages/import_orders.py": "Import Shopify orders", "pages/staff.py": "Staff and workflow",
          "pages/sign_in.py": "Atelier", "pages/job.py": "Job"}


def test_the_navigation_lists_the_workshop_pages():
    assert set(TITLES) <= set(NAV_PAGES)


@pytest.mark.parametrize("page", NAV_PAGES)
def test_each_page_renders_for_a_manager_on_the_demo_shop(manager_on_demo, page):
    _shop, at = manager_on_demo

    open_page(at, page)   # fails with the page's traceback if it raised

    assert values(at.title), "the page shows no title"
    if page in TITLES:
        assert values(at.title) == [TITLES[page]]
    assert "Signed in as **Rosa Marquez** (manager)" in values(at.sidebar.caption)


def test_the_job_page_renders_a_job_in_every_stage(manager_on_demo):
    shop, at = manager_on_demo
    per_stage = shop.rows("""SELECT state, min(job_number) FROM jobs GROUP BY state
                             ORDER BY state""")
    assert len(per_stage) >= 8

    open_job(at, per_stage[0][1])
    for state, number in per_stage:
        at.text_input(key="job_lookup").input(number.lower()).run()   # the lookup box
        assert_no_exception(at)
        assert at.query_params["job"] == number
        assert values(at.title)[0].startswith(f"{number} · "), state
        assert f"**Stage:** {STAGES[state]}" in at.markdown[0].value


def test_the_board_renders_closed_stages_and_the_assignee_filter(manager_on_demo):
    shop, at = manager_on_demo
    at.multiselect(key="board_stages").set_value(["completed", "cancelled"]).run()
    assert_no_exception(at)
    assert "**Completed** · " in " ".join(values(at.markdown))

    at.multiselect(key="board_stages").set_value([]).run()
    at.selectbox(key="board_assignee").set_value(shop.staff_id("Eli Novak")).run()
    assert_no_exception(at)
    cards = [b for b in at.button if b.key.startswith("open_")]
    assert cards
    eli_jobs = {n for (n,) in shop.rows(
        """SELECT job_number FROM jobs j JOIN staff s ON s.id = j.assignee_id
           WHERE s.name = 'Eli Novak' AND j.state NOT IN ('completed', 'cancelled')""")}
    assert {b.label.split()[-1] for b in cards} <= eli_jobs


def test_the_import_page_previews_and_imports_a_shopify_export(empty_shop, samples_dir):
    empty_shop.call(services.add_staff, MANAGER, Role.MANAGER)
    at = open_page(run_ok(new_app(empty_shop.staff_id(MANAGER))), "pages/import_orders.py")
    data = (samples_dir / EUR_SAMPLE).read_bytes()

    at.file_uploader(key="shopify_file").set_value(("dev_store_eur_2025.csv", data, "text/csv"))
    run_ok(at)

    metrics = {m.label: m.value for m in at.metric}
    assert metrics["New orders"] == "19"            # dev_store_eur_2025.csv: 19 orders
    assert (metrics["Changed orders"], metrics["Unchanged orders"],
            metrics["Rows that can't be read"]) == ("0", "0", "0")
    assert int(metrics["New jobs"]) > 0
    assert empty_shop.count("orders") == 0          # a preview writes nothing

    button(at, "Import").click().run()
    assert_no_exception(at)

    # the parsed file is let go once imported (a big export's frames are tens of MB)
    assert "import_parsed" not in at.session_state
    # What the preview promised is what was stored, and the page says so.
    assert (empty_shop.count("orders"), empty_shop.count("jobs")) == (
        19, int(metrics["New jobs"]))
    success, = values(at.success)
    assert success.startswith(f"Imported dev_store_eur_2025.csv: 19 new orders, "
                              f"{metrics['New jobs']} new jobs, ")
    assert empty_shop.rows("SELECT actor, file_name FROM import_batch") == [
        (MANAGER, "dev_store_eur_2025.csv")]


def import_page_with(shop, name: str, data: bytes):
    shop.call(services.add_staff, MANAGER, Role.MANAGER)
    at = open_page(run_ok(new_app(shop.staff_id(MANAGER))), "pages/import_orders.py")
    at.file_uploader(key="shopify_file").set_value((name, data, "text/csv"))
    return run_ok(at)


def test_ambiguous_dates_are_asked_with_no_answer_preselected(empty_shop):
    from connectors.shopify import SHOPIFY_EXPORT_COLUMNS as COLUMNS

    header = ",".join(COLUMNS)
    row = {c: "" for c in COLUMNS}
    row.update({"Name": "#1", "Id": "6400000000001", "Financial Status": "paid",
                "Currency": "USD", "Total": "10.00", "Subtotal": "10.00",
                "Created at": "06/12/2025 10:00", "Lineitem name": "Ring",
                "Lineitem quantity": "1", "Lineitem price": "10.00"})
    data = (header + "\n" + ",".join(row[c] for c in COLUMNS) + "\n").encode()
    at = import_page_with(empty_shop, "ambiguous.csv", data)

    assert at.radio(key="import_date_choice").value is None
    assert not at.metric and "Import" not in [b.label for b in at.button]
    at.radio(key="import_date_choice").set_value(False).run()  # month first: 12 June
    run_ok(at)
    assert {m.label: m.value for m in at.metric}["New orders"] == "1"
    button(at, "Import").click().run()
    assert empty_shop.scalar("SELECT CAST(placed_at AS DATE) FROM orders") == date(2025, 6, 12)


def test_a_file_where_every_order_has_a_bad_row_says_so_and_offers_no_import(
        empty_shop, samples_dir):
    text = (samples_dir / EUR_SAMPLE).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    at_id = rows[0].index("Id")
    for row in rows[1:]:
        if row[at_id]:
            row[at_id] = "6.6E+12"  # what a spreadsheet does to a 13-digit Id
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    at = import_page_with(empty_shop, "sci.csv", out.getvalue().encode())

    assert values(at.warning)[0].startswith("19 rows can't be read; their orders are left out")
    assert values(at.error) == [
        "No order in this file can be imported: each has a row that can't be read (see "
        "above). Correct the file, or export it again from Shopify, and upload it again."]
    assert "Import" not in [b.label for b in at.button]
    assert not any("up to date" in v for v in values(at.info))
