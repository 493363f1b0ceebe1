"""Who's at the screen: the sign-in page, the demo data, and what is open before sign-in."""

from __future__ import annotations

import pytest

from connectors.shopify_demo import OPEN_WINDOW_DAYS
from tests.pages.support import (
    BEN,
    DEMO_MANAGER,
    assert_no_exception,
    button,
    labels,
    new_app,
    open_page,
    run_ok,
    values,
    widget,
)
from workflow import demo
from workflow.lifecycle import OPEN_STATES, STAGES
from workflow.model import Role


def pick(at, staff_id: int):
    """Pick a person in "I am" and press Continue."""
    widget(at.selectbox, "I am").set_value(staff_id)
    button(at, "Continue").click().run()
    return at


def stage_caption(shop) -> str:
    """The board's caption as it should read for the database's open jobs."""
    per_stage = dict(shop.rows("SELECT state, count(*) FROM jobs GROUP BY state"))
    total = sum(per_stage.get(s, 0) for s in OPEN_STATES)
    return (f"{total} jobs shown · open work by stage: "
            + " · ".join(f"{STAGES[s]} {per_stage.get(s, 0)}" for s in OPEN_STATES))


def test_an_empty_database_offers_demo_data_and_a_first_manager(empty_shop):
    at = run_ok(new_app())

    assert values(at.title) == ["Atelier"]
    assert "A new workshop" in values(at.subheader)
    assert at.button(key="load_demo").label == "Load demo data"
    assert "Add and sign in" in labels(at.button)
    assert "Board" not in values(at.title)


def test_load_demo_data_fills_the_shop_and_signs_in_its_manager(demo_click, demo_shop):
    at = demo_click.at
    rosa = demo_shop.staff_id(DEMO_MANAGER)

    assert at.session_state["staff_id"] == rosa
    assert demo_shop.count("staff") == 6
    assert demo_shop.count("orders") == demo.DEMO_ORDERS + 1   # the export + a walk-in repair
    in_stages = {s for (s,) in demo_shop.rows("SELECT DISTINCT state FROM jobs")}
    assert {"new", "design_consultation", "awaiting_approval", "in_production",
            "quality_check", "ready", "on_hold", "completed"} <= in_stages
    assert demo_shop.count("job_status_history", "trigger NOT IN ('create', 'import')") > 100
    assert demo_shop.count("design_versions") > 0

    # The manager is signed in: opening the app shows the board with the demo's open work.
    board = run_ok(new_app(rosa))
    assert values(board.title) == ["Board"]
    assert board.caption[0].value == stage_caption(demo_shop)
    assert "Signed in as **Rosa Marquez** (manager)" in values(board.sidebar.caption)


def test_the_demos_open_work_comes_from_the_last_weeks_orders(demo_shop):
    # A piece still on the bench ten months after its order looks like a forgotten job: the
    # demo's open jobs come from the last weeks' orders (the generator fulfils older ones), and
    # most are not overdue (the demo shop's lead time is longer than that window).
    open_states = ", ".join(f"'{s}'" for s in OPEN_STATES)
    oldest = demo_shop.scalar(f"""
        SELECT max(date_diff('day', o.placed_at, now())) FROM jobs j
          JOIN orders o ON o.id = j.order_id
         WHERE j.state IN ({open_states}) AND o.source = 'shopify'""")
    assert 0 < oldest <= OPEN_WINDOW_DAYS + 1
    open_jobs = demo_shop.count("jobs", f"state IN ({open_states})")
    overdue = demo_shop.count("jobs", f"state IN ({open_states}) AND promised_date < current_date")
    assert open_jobs >= 40 and 0 < overdue < open_jobs / 3


def test_load_demo_data_lands_on_the_board_with_its_summary(demo_click, demo_shop):
    at = demo_click.at

    assert_no_exception(at)
    assert values(at.title) == ["Board"]
    assert values(at.success)[0].startswith(
        f"Demo shop ready: 6 staff, {demo.DEMO_ORDERS} orders")
    assert at.caption[0].value == stage_caption(demo_shop)


def test_picking_a_person_and_continue_signs_them_in(eur_shop):
    at = run_ok(new_app())
    assert at.subheader[0].value == "Who's at the screen?"
    assert "Ben Ortiz — bench jeweler" in widget(at.selectbox, "I am").options

    pick(at, eur_shop.staff_id(BEN))

    assert at.session_state["staff_id"] == eur_shop.staff_id(BEN)
    run_ok(at)  # the next run builds the signed-in page list: the board is in the menu
    board = open_page(at, "pages/board.py")
    assert values(board.title) == ["Board"]
    assert "Signed in as **Ben Ortiz** (bench jeweler)" in values(board.sidebar.caption)


def test_continue_goes_straight_to_the_board(eur_shop):
    at = run_ok(new_app())

    pick(at, eur_shop.staff_id(BEN))

    assert_no_exception(at)
    assert values(at.title) == ["Board"]
    assert len([b for b in at.button if b.key.startswith("open_")]) == len(eur_shop.open_jobs())


def test_the_first_staff_member_is_added_as_a_manager_and_signed_in(empty_shop):
    at = run_ok(new_app())

    at.text_input[0].input("Ines Duarte")
    button(at, "Add and sign in").click().run()

    assert empty_shop.rows("SELECT name, role FROM staff") == [("Ines Duarte", Role.MANAGER)]
    assert at.session_state["staff_id"] == empty_shop.staff_id("Ines Duarte")


def test_add_the_first_staff_member_goes_straight_to_the_board(empty_shop):
    at = run_ok(new_app())
    at.text_input[0].input("Ines Duarte")

    button(at, "Add and sign in").click().run()

    assert_no_exception(at)
    assert values(at.title) == ["Board"]


@pytest.mark.parametrize("page", ["pages/board.py", "pages/job.py", "pages/new_order.py",
                                  "pages/import_orders.py", "pages/staff.py"])
def test_no_page_shows_its_content_before_anyone_signs_in(eur_shop, page):
    # Asked for before anyone is picked (a bookmarked URL, a job envelope's QR code).
    at = new_app()
    at.switch_page(page)
    at.query_params["job"] = eur_shop.open_jobs()[0]
    run_ok(at)

    assert "Who's at the screen?" in values(at.subheader)
    assert "I am" in labels(at.selectbox)
    assert not set(values(at.title)) & {"Board", "New walk-in order", "Import Shopify orders",
                                        "Staff and workflow"}
    assert not [t for t in values(at.title) if t.startswith("J-")]
    assert not [b for b in at.button if (b.key or "").startswith(("open_", "act_"))]
    assert not at.text_input and not at.file_uploader and not at.dataframe
    assert "staff_id" not in at.session_state


def test_a_bookmarked_job_opens_once_the_person_is_picked(eur_shop):
    number = eur_shop.open_jobs()[0]
    at = new_app()
    at.switch_page("pages/job.py")
    at.query_params["job"] = number
    run_ok(at)

    pick(at, eur_shop.staff_id(BEN))
    assert_no_exception(at)

    assert at.session_state["staff_id"] == eur_shop.staff_id(BEN)
    assert values(at.title)[0].startswith(f"{number} · ")
    assert at.query_params["job"] == number
