"""A walk-in order typed at the counter becomes an order with a job per piece."""

from __future__ import annotations

from decimal import Decimal

from tests.pages.support import (
    MANAGER,
    SALES,
    AppTest,
    Shop,
    button,
    new_app,
    open_page,
    run_ok,
    values,
)


def new_order_page(shop: Shop, who: str = SALES) -> AppTest:
    at = open_page(run_ok(new_app(shop.staff_id(who))), "pages/new_order.py")
    assert values(at.title) == ["New walk-in order"]
    return at


def fill(at: AppTest, *, name="Ada Byron", email="ada.byron@example.com",
         piece="Signet ring, engraved crest", price="900.00", deposit="300.00") -> AppTest:
    at.text_input(key="cust_name").input(name)
    at.text_input(key="cust_email").input(email)
    at.text_input(key="piece_0").input(piece)
    at.text_input(key="price_0").input(price)
    at.text_input(key="deposit").input(deposit)
    return at


def submit(at: AppTest) -> AppTest:
    button(at, "Create order").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def new_job_numbers(shop: Shop, order_name: str) -> list[str]:
    return [n for (n,) in shop.rows("""SELECT j.job_number FROM jobs j JOIN orders o
                                        ON o.id = j.order_id WHERE o.name = ? ORDER BY j.id""",
                                    [order_name])]


def test_the_form_creates_a_walk_in_order_with_its_job_and_deposit(eur_shop):
    at = submit(fill(new_order_page(eur_shop)))

    number, = new_job_numbers(eur_shop, "W-0001")
    assert values(at.success) == [f"Order W-0001 created with jobs {number}."]
    (order_id, source, total, status, currency), = eur_shop.rows(
        "SELECT id, source, total, financial_status, currency FROM orders WHERE name = 'W-0001'")
    assert (source, total, status, currency) == ("walk_in", Decimal("900.00"),
                                                 "partially_paid", "USD")
    job = eur_shop.job(number)
    assert (job["order_id"], job["piece"], job["state"], job["design_needed"]) == (
        order_id, "Signet ring, engraved crest", "new", True)
    assert eur_shop.rows("SELECT amount, method, taken_by FROM payments WHERE order_id = ?",
                         [order_id]) == [(Decimal("300.00"), "cash", "Sol Reyes")]
    assert eur_shop.rows("SELECT name, email FROM customers WHERE email = ?",
                         ["ada.byron@example.com"]) == [("Ada Byron", "ada.byron@example.com")]
    assert eur_shop.history(number) == [(None, "new", "create", "Sol Reyes", None)]
    assert f"Open {number}" in [b.label for b in at.button]


def test_an_invalid_email_shows_the_error_and_writes_nothing(eur_shop):
    at = new_order_page(eur_shop)
    tables = ["orders", "jobs", "customers", "payments", "audit_log", "job_status_history"]
    before = {t: eur_shop.count(t) for t in tables}

    submit(fill(at, email="ada.byron-at-example"))

    assert values(at.error) == ["Email 'ada.byron-at-example' doesn't look like an email "
                                "address."]
    assert not values(at.success)
    assert {t: eur_shop.count(t) for t in tables} == before


def test_a_deposit_above_the_total_is_refused(eur_shop):
    at = submit(fill(new_order_page(eur_shop), price="100", deposit="150"))

    assert values(at.error) == ["The deposit 150.00 is more than the order total 100.00."]
    assert eur_shop.count("orders", "source = 'walk_in'") == 0


def test_two_pieces_make_two_jobs_on_one_order(eur_shop):
    at = new_order_page(eur_shop, who=MANAGER)
    at.number_input(key="piece_count").set_value(2).run()
    fill(at, deposit="0")
    at.text_input(key="piece_1").input("Matching band")
    at.text_input(key="price_1").input("400")
    at.text_input(key="size_1").input("N½")
    submit(at)

    ring, band = new_job_numbers(eur_shop, "W-0001")
    assert values(at.success) == [f"Order W-0001 created with jobs {ring}, {band}."]
    assert eur_shop.scalar("SELECT total FROM orders WHERE name = 'W-0001'") == Decimal("1300.00")
    band = eur_shop.job(band)
    assert (band["piece"], band["ring_size_text"]) == ("Matching band", "N½")


def test_open_goes_to_the_new_job(eur_shop):
    at = submit(fill(new_order_page(eur_shop)))
    number, = new_job_numbers(eur_shop, "W-0001")

    at.button(key=f"open_new_{number}").click().run()

    assert not at.exception
    assert values(at.title)[0].startswith(f"{number} · Signet ring")


def test_an_error_on_the_next_customers_form_replaces_the_last_orders_banner(eur_shop):
    at = submit(fill(new_order_page(eur_shop)))
    assert values(at.success)[0].startswith("Order W-0001 created")

    submit(fill(at, name="Grace Hopper", email="grace-at-example"))

    assert values(at.error) == ["Email 'grace-at-example' doesn't look like an email address."]
    assert values(at.success) == []  # no "W-0001 created" beside the refusal
    assert eur_shop.count("orders", "source = 'walk_in'") == 1
