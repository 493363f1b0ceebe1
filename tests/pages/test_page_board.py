"""The board: the day's open work by stage, with search, filters and "Show more"."""

from __future__ import annotations

from datetime import date, timedelta

from pages.common import OVERDUE_ICON, RUSH_ICON
from tests.pages.support import (
    DEMO_MANAGER,
    MANAGER,
    AppTest,
    Shop,
    button,
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


def test_the_board_shows_the_open_jobs_of_the_imported_export(eur_shop, open_job_numbers):
    at = board(eur_shop)

    assert sorted(job_buttons(at)) == open_job_numbers
    # Lines already fulfilled in Shopify were imported as completed jobs: not on the board.
    completed = [n for (n,) in eur_shop.rows(
        "SELECT job_number FROM jobs WHERE state = 'completed'")]
    assert completed
    assert not set(completed) & set(job_buttons(at))
    n = len(open_job_numbers)
    assert at.caption[0].value.startswith(
        f"{n} jobs shown · open work by stage: New {n} · Design consultation 0")
    assert f"**New** · {n}" in values(at.markdown)
    # The sample's jobs were promised in June 2025: all overdue, flagged on the card.
    assert all(OVERDUE_ICON in b.label for b in at.button if (b.key or "").startswith("open_"))


def test_clicking_a_card_opens_that_job(eur_shop, open_job_numbers):
    number = open_job_numbers[-1]
    at = board(eur_shop)

    at.button(key=f"open_{eur_shop.job_id(number)}").click().run()

    assert not at.exception
    assert values(at.title)[0].startswith(f"{number} · ")
    assert at.query_params["job"] == number


def test_search_finds_jobs_by_order_name_or_job_number(eur_shop, open_job_numbers):
    order_name = eur_shop.scalar("""SELECT o.name FROM jobs j JOIN orders o ON o.id = j.order_id
                                    WHERE j.job_number = ?""", [open_job_numbers[0]])
    of_order = [n for (n,) in eur_shop.rows(
        """SELECT j.job_number FROM jobs j JOIN orders o ON o.id = j.order_id
            WHERE o.name = ? AND j.state = 'new' ORDER BY 1""", [order_name])]
    at = board(eur_shop)

    for query, expected in [(order_name, of_order),                # "#1019"
                            (order_name.lstrip("#"), of_order),    # "1019"
                            (open_job_numbers[-1], [open_job_numbers[-1]]),
                            ("#9999", [])]:
        at.text_input(key="board_search").input(query).run()
        assert not at.exception
        assert sorted(job_buttons(at)) == expected, query
        shown = f"{len(expected)} job{'' if len(expected) == 1 else 's'} shown"
        assert at.caption[0].value.startswith(shown), query


def test_search_finds_jobs_by_customer_email(eur_shop):
    jordan = eur_shop.walk_in(customer="Jordan Lee", email="jordan.lee@example.com")
    eur_shop.walk_in(customer="Ada Byron", email="ada@example.org")
    at = board(eur_shop)

    at.text_input(key="board_search").input("JORDAN.LEE@example").run()
    assert job_buttons(at) == [jordan]

    at.text_input(key="board_search").input("nobody@example.com").run()
    assert job_buttons(at) == []
    assert values(at.info) == ["No jobs match these filters."]


def test_rush_and_overdue_filters_narrow_the_list(eur_shop, open_job_numbers):
    rush, later, *_ = open_job_numbers[1:] + open_job_numbers[:1]
    eur_shop.update(rush, rush=True)
    eur_shop.update(later, promised_date=date.today() + timedelta(days=30))
    everything = sorted(open_job_numbers)
    at = board(eur_shop)
    assert sorted(job_buttons(at)) == everything
    assert job_buttons(at)[0] == rush   # rush first

    at.toggle(key="board_overdue").set_value(True).run()
    assert sorted(job_buttons(at)) == [j for j in everything if j != later]

    at.toggle(key="board_rush").set_value(True).run()
    assert job_buttons(at) == [rush]

    at.toggle(key="board_overdue").set_value(False).run()
    assert job_buttons(at) == [rush]
    assert any(b.label.startswith(RUSH_ICON) for b in at.button if b.key.startswith("open_"))

    at.toggle(key="board_rush").set_value(False).run()
    assert sorted(job_buttons(at)) == everything


def test_show_more_appears_past_eight_jobs_in_a_stage_and_reveals_the_rest(
        eur_shop, open_job_numbers):
    # Walk-in orders until the New column holds 11 jobs: 8 shown, 3 more behind the button.
    extra = [eur_shop.walk_in(f"Band {i}", email=f"c{i}@example.com")
             for i in range(11 - len(open_job_numbers))]
    at = board(eur_shop)

    assert len(job_buttons(at)) == 8
    assert "**New** · 11" in values(at.markdown)
    more = at.button(key="more_new")
    assert more.label == "Show more (3)"

    more.click().run()

    assert not at.exception
    assert sorted(job_buttons(at)) == sorted(open_job_numbers + extra)
    assert not [b for b in at.button if (b.key or "").startswith("more_")]


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
