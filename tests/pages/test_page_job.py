"""The job page: what can happen next, refusals in plain words, and the forms beside them."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.pages.support import (
    BEA,
    BEN,
    DESIGNER,
    MANAGER,
    SALES,
    AppTest,
    Shop,
    button,
    new_app,
    open_job,
    open_page,
    png_bytes,
    run_ok,
    values,
    widget,
)


def job_page(shop: Shop, job_number: str, who: str = MANAGER) -> AppTest:
    """A fresh browser session signed in as `who`, on the job's page."""
    return open_job(run_ok(new_app(shop.staff_id(who))), job_number)


def click(at: AppTest, label: str) -> AppTest:
    button(at, label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_an_allowed_action_moves_the_job_and_writes_its_history(eur_shop, open_job_numbers):
    first = open_job_numbers[0]
    at = job_page(eur_shop, first, who=DESIGNER)
    assert values(at.title)[0].startswith(f"{first} · ")
    assert "**Stage:** New" in at.markdown[0].value
    before = eur_shop.footprint(first)

    click(at, "Start design consultation")

    assert values(at.success) == [f"{first}: Start design consultation."]
    after = eur_shop.footprint(first)
    assert after["job"]["state"] == "design_consultation"
    assert after["job"]["version"] == before["job"]["version"] + 1
    assert eur_shop.history(first)[-1] == ("new", "design_consultation", "start_design",
                                              "Dev Rao", None)
    assert after["audit"] == before["audit"] + 1
    assert after["outbox"] == before["outbox"] + 1   # the customer hears about design
    assert "**Stage:** Design consultation" in at.markdown[0].value
    assert "Send design for approval" in [b.label for b in at.button]


def test_cancel_without_a_reason_is_refused_and_nothing_is_written(eur_shop, open_job_numbers):
    first = open_job_numbers[0]
    at = job_page(eur_shop, first)
    before = eur_shop.footprint(first)

    click(at, "Cancel the job")

    assert values(at.error) == [f"Job {first} can't be cancelled: a reason is required."]
    assert eur_shop.footprint(first) == before
    assert not values(at.success)

    at.text_input(key="reason_cancel").input("Customer changed their mind")
    click(at, "Cancel the job")

    assert values(at.success) == [f"{first}: Cancel the job."]
    assert eur_shop.job(first)["state"] == "cancelled"
    assert eur_shop.history(first)[-1] == ("new", "cancelled", "cancel", "Mara Quinn",
                                              "Customer changed their mind")
    assert values(at.caption)[0] == "Nothing more happens to a cancelled job."


def test_a_guarded_action_is_shown_disabled_with_its_reason(eur_shop, open_job_numbers):
    first = open_job_numbers[0]
    eur_shop.change(first, "start_design", DESIGNER)
    at = job_page(eur_shop, first, who=DESIGNER)

    send = button(at, "Send design for approval")
    assert send.disabled
    assert ("Send design for approval: waiting — no design version has been attached yet."
            in values(at.caption))

    # Attaching a render on the page lifts the guard.
    at.file_uploader[0].set_value(("ring-v1.png", png_bytes(), "image/png"))
    at.text_input(key="design_note").input("Top and side views")
    click(at, "Attach as the next version")

    assert values(at.success) == ["Design version attached."]
    assert eur_shop.rows("SELECT version_no, file_name, note, uploaded_by FROM design_versions"
                         ) == [(1, "ring-v1.png", "Top and side views", "Dev Rao")]
    assert not button(at, "Send design for approval").disabled
    click(at, "Send design for approval")
    assert eur_shop.job(first)["state"] == "awaiting_approval"


def test_start_production_is_disabled_for_a_job_that_needs_a_design(eur_shop, open_job_numbers):
    first = open_job_numbers[0]
    at = job_page(eur_shop, first)

    assert button(at, "Start production (no design)").disabled
    assert ("Start production (no design): waiting — this job needs a design; start the "
            "design consultation first." in values(at.caption))


def test_a_job_changed_meanwhile_is_refused_as_stale_and_nothing_is_written(
        eur_shop, open_job_numbers):
    first = open_job_numbers[0]
    at = job_page(eur_shop, first)
    # Meanwhile someone at the bench edits the job (a new version).
    eur_shop.update(first, who=BEN, notes="Stone arrived, in the safe")
    before = eur_shop.footprint(first)

    click(at, "Start design consultation")

    assert values(at.error) == [f"Job {first} was changed by someone else; reload it and try "
                                "again. Nothing was saved."]
    assert "This job was changed by someone else since you opened it." in values(at.warning)
    assert eur_shop.footprint(first) == before
    assert before["job"]["state"] == "new"

    click(at, "Reload")
    assert not values(at.warning)
    click(at, "Start design consultation")
    assert eur_shop.job(first)["state"] == "design_consultation"


def test_reopening_a_job_later_starts_from_its_current_version(eur_shop, open_job_numbers):
    first = open_job_numbers[0]
    at = job_page(eur_shop, first)
    open_page(at, "pages/board.py")
    eur_shop.update(first, who=BEN, notes="Stone arrived, in the safe")

    open_job(at, first)   # opened again, after the change
    assert not values(at.warning)
    click(at, "Start design consultation")

    assert values(at.success) == [f"{first}: Start design consultation."]
    assert eur_shop.job(first)["state"] == "design_consultation"


def sign_checklist(at: AppTest, who: str) -> AppTest:
    for box in at.checkbox:
        if box.key and box.key.startswith("qc_"):
            box.check()
    return click(at, f"Sign the checklist as {who}")


def test_qc_is_signed_on_the_page_and_passed_by_someone_other_than_the_maker(eur_shop):
    job = eur_shop.walk_in()
    eur_shop.to_quality_check(job, bench=BEN)

    # Ben made the piece: his signature is refused, and the job can't pass.
    ben = job_page(eur_shop, job, who=BEN)
    assert "Made by Ben Ortiz: someone else signs the check." in values(ben.caption)
    sign_checklist(ben, BEN)
    assert values(ben.error) == [f"Ben Ortiz made job {job}; someone else must sign its QC "
                                 "checklist."]
    assert button(ben, "QC passed: ready").disabled

    # Bea checks it in her own session, then passes it.
    bea = job_page(eur_shop, job, who=BEA)
    assert button(bea, "QC passed: ready").disabled
    sign_checklist(bea, BEA)
    assert not button(bea, "QC passed: ready").disabled
    click(bea, "QC passed: ready")

    assert values(bea.success) == [f"{job}: QC passed: ready."]
    assert eur_shop.job(job)["state"] == "ready"
    assert eur_shop.history(job)[-1] == ("quality_check", "ready", "pass_qc", "Bea Lind", None)
    assert eur_shop.rows("SELECT signed_by, all_passed FROM qc_checks ORDER BY id") == [
        ("Bea Lind", True)]


def test_an_incomplete_checklist_does_not_let_the_job_pass(eur_shop):
    job = eur_shop.walk_in()
    eur_shop.to_quality_check(job, bench=BEN)
    bea = job_page(eur_shop, job, who=BEA)

    bea.checkbox(key="qc_0").check()
    click(bea, "Sign the checklist as Bea Lind")

    assert eur_shop.rows("SELECT signed_by, all_passed FROM qc_checks") == [("Bea Lind", False)]
    assert button(bea, "QC passed: ready").disabled
    assert ("QC passed: ready: waiting — quality check has not passed (the QC checklist is "
            "not complete)." in values(bea.caption))


def test_an_unpaid_balance_blocks_hand_over_for_staff_who_are_not_managers(eur_shop):
    job = eur_shop.walk_in(price="1200.00", deposit="200.00")
    eur_shop.to_ready(job)
    before = eur_shop.footprint(job)

    at = job_page(eur_shop, job, who=SALES)

    assert button(at, "Hand over to the customer").disabled
    assert ("Hand over to the customer: waiting — the balance of USD 1,000.00 is unpaid; take "
            "the payment, or a manager can hand it over with an override and a reason."
            in values(at.caption))
    assert eur_shop.footprint(job) == before


def test_a_manager_hands_over_with_an_unpaid_balance_only_with_an_override_reason(eur_shop):
    job = eur_shop.walk_in(price="1200.00", deposit="200.00")
    eur_shop.to_ready(job)
    at = job_page(eur_shop, job, who=MANAGER)
    override = widget(at.text_input, "Override: why hand over with USD 1,000.00 unpaid?")
    before = eur_shop.footprint(job)

    click(at, "Hand over to the customer")          # no reason typed
    assert values(at.error) == [f"Job {job} can't be handed over: the balance of USD 1,000.00 "
                                "is unpaid; take the payment, or a manager can hand it over "
                                "with an override and a reason."]
    assert eur_shop.footprint(job) == before

    override = widget(at.text_input, "Override: why hand over with USD 1,000.00 unpaid?")
    override.input("Long-standing customer, pays by invoice")
    click(at, "Hand over to the customer")

    assert values(at.success) == [f"{job}: Hand over to the customer."]
    assert eur_shop.job(job)["state"] == "completed"
    assert eur_shop.history(job)[-1] == (
        "ready", "completed", "hand_over", "Mara Quinn",
        "Manager override, balance USD 1000.00: Long-standing customer, pays by invoice")


def test_recording_a_payment_lowers_the_balance_due(eur_shop):
    job = eur_shop.walk_in(price="1200.00", deposit="200.00")
    at = job_page(eur_shop, job, who=SALES)
    # nothing filled in for the cashier: a double click must not post the whole balance
    assert at.text_input(key="pay_amount").value == ""
    assert at.text_input(key="pay_amount").placeholder == "1,000.00 is due"
    before = eur_shop.count("payments")
    click(at, "Record payment")  # blank: ignored
    assert eur_shop.count("payments") == before

    at.text_input(key="pay_amount").input("250.00")
    at.selectbox(key="pay_method").set_value("card")
    click(at, "Record payment")

    assert values(at.success) == ["Payment of USD 250.00 recorded."]
    assert eur_shop.rows("""SELECT p.amount, p.method, p.taken_by FROM payments p
                            JOIN orders o ON o.id = p.order_id WHERE o.name = 'W-0001'
                            ORDER BY p.id""") == [
        (Decimal("200.00"), "cash", "Mara Quinn"), (Decimal("250.00"), "card", "Sol Reyes")]
    assert any("balance due **USD 750.00**" in m for m in values(at.markdown))


def test_a_payment_above_the_balance_is_refused(eur_shop):
    job = eur_shop.walk_in(price="1200.00", deposit="200.00")
    at = job_page(eur_shop, job)
    payments = eur_shop.count("payments")

    at.text_input(key="pay_amount").input("5000")
    click(at, "Record payment")

    assert values(at.error) == ["The payment 5000.00 is more than the balance due USD 1000.00."]
    assert eur_shop.footprint(job)["payments"] == payments


def test_the_details_form_saves_the_assignee_and_a_us_ring_size(eur_shop, open_job_numbers):
    second = open_job_numbers[1]
    at = job_page(eur_shop, second)
    version = eur_shop.job(second)["version"]

    widget(at.selectbox, "Assignee").set_value(eur_shop.staff_id(BEN))
    widget(at.text_input, "Ring size").input("7 1/2")
    click(at, "Save details")

    assert values(at.success) == ["Details saved."]
    row = eur_shop.job(second)
    assert row["assignee_id"] == eur_shop.staff_id(BEN)
    assert row["ring_size_mm"] == Decimal("55.69")
    assert row["ring_size_text"] == "7 1/2"
    assert row["version"] == version + 1
    (actor, after), = eur_shop.rows(
        "SELECT actor, after FROM audit_log WHERE action = 'job.update' AND entity_id = ?",
        [row["id"]])
    assert actor == "Mara Quinn"
    assert json.loads(after)["ring_size_text"] == "7 1/2"
    assert any(c.startswith("Stored as 55.69 mm: US 7.5") for c in values(at.caption))
    assert "**Assignee:** Ben Ortiz" in at.markdown[0].value


def test_an_unreadable_ring_size_is_refused(eur_shop, open_job_numbers):
    second = open_job_numbers[1]
    at = job_page(eur_shop, second)
    before = eur_shop.footprint(second)

    widget(at.text_input, "Ring size").input("huge")
    click(at, "Save details")

    assert len(values(at.error)) == 1 and "huge" in values(at.error)[0]
    assert eur_shop.footprint(second) == before


def test_an_unknown_job_number_says_so(eur_shop):
    at = job_page(eur_shop, "J-9999")

    assert values(at.info) == ["No job J-9999 here."]
    assert not [b for b in at.button if (b.key or "").startswith("act_")]


def test_the_lookup_box_opens_another_job(eur_shop, open_job_numbers):
    first, second = open_job_numbers[:2]
    at = job_page(eur_shop, first)

    at.text_input(key="job_lookup").input(f" {second.lower()} ").run()

    assert not at.exception
    assert values(at.title)[0].startswith(f"{second} · ")
    assert at.query_params["job"] == second


def test_opening_another_job_from_the_job_page_shows_that_job(eur_shop, open_job_numbers):
    first, second = open_job_numbers[:2]
    at = job_page(eur_shop, first)

    open_job(at, second)   # st.switch_page("pages/job.py", query_params={"job": second})

    assert values(at.title)[0].startswith(f"{second} · ")
    assert at.query_params["job"] == second
