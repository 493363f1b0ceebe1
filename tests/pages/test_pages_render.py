"""Every page renders without an exception for a signed-in manager on the demo shop, and the
import page takes a real Shopify export end to end."""

from __future__ import annotations

import re

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

    # What the preview promised is what was stored, and the page says so.
    assert (empty_shop.count("orders"), empty_shop.count("jobs")) == (
        19, int(metrics["New jobs"]))
    success, = values(at.success)
    assert success.startswith(f"Imported dev_store_eur_2025.csv: 19 new orders, "
                              f"{metrics['New jobs']} new jobs, ")
    assert empty_shop.rows("SELECT actor, file_name FROM import_batch") == [
        (MANAGER, "dev_store_eur_2025.csv")]
