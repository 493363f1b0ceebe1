"""The board: the day's open work by stage, with search, filters and "Show more"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.pages.support import (
    DEMO_MANAGER,
    EUR_OPEN_JOBS,
    MANAGER,
    AppTest,
    Shop,
    button,
    labels,
    new_app,
    run_ok,
    values,
)
from workflow.lifecycle import OPEN_STATES, STAGES


def job_buttons(at: AppTest) -> list[str]:
    """The job numbers shown as cards on the board, in the order shown."""
    return [b.label.split()[-1] for b in at.button if (b.key or "").startswith("open_")]


def board(shop: Shop, manager: str = MANAGER) -> AppTest:
    """The board, as the manager sees it right after signing in (it is the default page)."""
    at = run_ok(new_app(shop.staff_id(manager)))
    assert values(at.title) == ["Board"]
    return at


def test_the_board_shows_the_open_jobs_of_the_imported_export(eur_shop):
    at = board(eur_shop)

    assert sorted(job_buttons(at)) == EUR_OPEN_JOBS
    # Jobs of fulfilled lines were imported as completed: not on the board.
    assert eur_shop.job("J-0001")["state"] == "completed"
    assert "J-0001" not in job_buttons(at)
    caption = at.caption[0].value
    assert caption.startswith("8 jobs shown · open work by stage: New 8 · Design consultation 0")
    # Every EUR job is promised for June 2025: all overdue, flagged on the card.
    assert all("⏰" in b.label for b in at.button if (b.key or "").startswith("open_"))
    assert "**New** · 8" in values(at.markdown)


def test_clicking_a_card_opens_that_job(eur_shop):
    at = board(eur_shop)

    at.button(key=f"open_{eur_shop.job_id('J-0030')}").click().run()

    assert not at.exception
    assert values(at.title)[0].startswith("J-0030 · ")
    assert at.query_params["job"] == "J-0030"


@pytest.mark.parametrize(("query", "expected"), [
    ("#1019", ["J-0037", "J-0038", "J-0039", "J-0040"]),   # order name
    ("1013", ["J-0030"]),                                   # part of an order name
    ("karine.ruby@example.com", ["J-0030"]),                # customer email
    ("J-0036", ["J-0036"]),                                 # job number
])
def test_search_finds_jobs_by_order_name_email_or_job_number(eur_shop, query, expected):
    at = board(eur_shop)

    at.text_input(key="board_search").input(query).run()

    assert not at.exception
    assert sorted(job_buttons(at)) == expected
    assert at.caption[0].value.startswith(f"{len(expected)} jobs shown")


def test_search_by_an_email_that_is_not_the_customers_name(eur_shop):
    walk_in = eur_shop.walk_in(customer="Jordan Lee", email="jordan.lee@example.com")
    at = board(eur_shop)

    at.text_input(key="board_search").input("JORDAN.LEE@example").run()
    assert job_buttons(at) == [walk_in]

    at.text_input(key="board_search").input("nobody@example.com").run()
    assert job_buttons(at) == []
    assert values(at.info) == ["No jobs match these filters."]


def test_rush_and_overdue_filters_narrow_the_list(eur_shop):
    eur_shop.update("J-0036", rush=True)
    eur_shop.update("J-0039", promised_date=date.today() + timedelta(days=30))
    at = board(eur_shop)
    assert len(job_buttons(at)) == 8
    assert job_buttons(at)[0] == "J-0036"   # rush first

    at.toggle(key="board_overdue").set_value(True).run()
    assert sorted(job_buttons(at)) == [j for j in EUR_OPEN_JOBS if j != "J-0039"]

    at.toggle(key="board_rush").set_value(True).run()
    assert job_buttons(at) == ["J-0036"]

    at.toggle(key="board_overdue").set_value(False).run()
    assert job_buttons(at) == ["J-0036"]
    assert any(b.label.startswith("🔥") for b in at.button if b.key.startswith("open_"))

    at.toggle(key="board_rush").set_value(False).run()
    assert len(job_buttons(at)) == 8


def test_show_more_appears_past_eight_jobs_in_a_stage_and_reveals_the_rest(eur_shop):
    extra = [eur_shop.walk_in(f"Band {i}", email=f"c{i}@example.com") for i in range(3)]
    at = board(eur_shop)

    assert len(job_buttons(at)) == 8
    assert "**New** · 11" in values(at.markdown)
    more = at.button(key="more_new")
    assert more.label == "Show more (3)"

    more.click().run()

    assert not at.exception
    assert sorted(job_buttons(at)) == sorted(EUR_OPEN_JOBS + extra)
    assert "Show more (3)" not in labels(at.button)


def test_the_caption_counts_match_the_database_on_the_demo_shop(demo_shop):
    at = board(demo_shop, DEMO_MANAGER)

    per_stage = dict(demo_shop.rows("SELECT state, count(*) FROM jobs GROUP BY state"))
    open_total = sum(n for s, n in per_stage.items() if s not in ("completed", "cancelled"))
    caption = at.caption[0].value
    shown, counts = caption.split(" · open work by stage: ")
    assert shown == f"{open_total} jobs shown"
    assert counts == " · ".join(f"{STAGES[s]} {per_stage.get(s, 0)}" for s in OPEN_STATES)
    assert sum(1 for s in OPEN_STATES if per_stage.get(s)) >= 6   # jobs in many stages
    # Each column shows at most 8 cards until "Show more".
    assert len(job_buttons(at)) == sum(min(8, per_stage.get(s, 0)) for s in OPEN_STATES)
    button(at, f"Show more ({per_stage['in_production'] - 8})")
