"""Stage changes through the real services on a real DuckDB file: each one is the job row with a
version check, a history row, an audit row and the customer's outbox row, all or nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest

from storage import db
from storage import repositories as repo
from storage.unit_of_work import UnitOfWork
from workflow import lifecycle, services
from workflow.errors import InvalidInput, StaleJob, TransitionRefused


def history(shop, job_id: int) -> list[tuple]:
    return shop.rows("""SELECT from_state, to_state, trigger, actor FROM job_status_history
                        WHERE job_id = ? ORDER BY id""", [job_id])


def audit_actions(shop, since_id: int = 0) -> list[tuple]:
    return shop.rows("""SELECT actor, action, entity, entity_id FROM audit_log
                        WHERE id > ? ORDER BY id""", [since_id])


def last_audit_id(shop) -> int:
    return int(shop.rows("SELECT coalesce(max(id), 0) FROM audit_log")[0][0])


# --- the whole way -----------------------------------------------------------------------------

def test_a_walk_in_piece_goes_from_new_to_completed_leaving_a_full_trail(shop, png):
    mara, dev, ben, bea = shop.manager, shop.designer, shop.ben, shop.bea
    staff_audit = last_audit_id(shop)

    order = shop.walk_in("Solitaire ring", price="1200.00", deposit="200.00",
                         metal="gold", karat="18K", ring_size="7")
    job_id, number = order["job_id"], order["job_numbers"][0]
    assert number == f"J-{job_id:04d}"
    assert shop.job(job_id)["ring_size_mm"] == Decimal("54.41")

    moved = shop.change(job_id, "start_design", dev, expected_version=1)
    assert (moved.from_state, moved.to_state, moved.version) == ("new", "design_consultation", 2)
    assert moved.notifications_queued == 1

    assert services.attach_design_version(shop.uow(), job_id, "solitaire-v1.png", png, dev,
                                          files_dir=shop.files_dir) == 1
    moved = shop.change(job_id, "send_for_approval", dev, expected_version=2)
    assert moved.to_state == "awaiting_approval"

    moved = services.record_design_decision(shop.uow(), job_id, 1, "approved", mara,
                                            channel="in person", expected_version=3)
    assert (moved.to_state, moved.version) == ("in_production", 4)

    assert services.update_job(shop.uow(), job_id, mara, {"assignee_id": ben.staff_id},
                               expected_version=4) == 5
    moved = shop.change(job_id, "submit_for_qc", ben, expected_version=5)
    assert (moved.to_state, moved.notifications_queued) == ("quality_check", 0)

    assert shop.sign_qc(job_id, bea) is True
    moved = shop.change(job_id, "pass_qc", bea, expected_version=6)
    assert moved.to_state == "ready"

    assert services.take_payment(shop.uow(), order["order_id"], "1000.00", mara) == 0
    moved = shop.change(job_id, "hand_over", mara, expected_version=7)
    assert (moved.to_state, moved.version) == ("completed", 8)

    job = shop.job(job_id)
    assert (job["state"], job["version"], job["assignee_id"], job["last_bench_jeweler_id"]) == \
        ("completed", 8, ben.staff_id, ben.staff_id)

    assert history(shop, job_id) == [
        (None, "new", "create", "Mara Quinn"),
        ("new", "design_consultation", "start_design", "Dev Rao"),
        ("design_consultation", "awaiting_approval", "send_for_approval", "Dev Rao"),
        ("awaiting_approval", "in_production", "approve", "Mara Quinn"),
        ("in_production", "quality_check", "submit_for_qc", "Ben Ortiz"),
        ("quality_check", "ready", "pass_qc", "Bea Lind"),
        ("ready", "completed", "hand_over", "Mara Quinn"),
    ]

    order_id, customer_id = order["order_id"], order["customer_id"]
    assert audit_actions(shop, staff_audit) == [
        ("Mara Quinn", "customer.create", "customer", customer_id),
        ("Mara Quinn", "order.create", "order", order_id),
        ("Mara Quinn", "payment.take", "order", order_id),
        ("Mara Quinn", "job.create", "job", job_id),
        ("Dev Rao", "job.start_design", "job", job_id),
        ("Dev Rao", "design.attach", "job", job_id),
        ("Dev Rao", "job.send_for_approval", "job", job_id),
        ("Mara Quinn", "design.approved", "job", job_id),
        ("Mara Quinn", "job.approve", "job", job_id),
        ("Mara Quinn", "job.update", "job", job_id),
        ("Ben Ortiz", "job.submit_for_qc", "job", job_id),
        ("Bea Lind", "qc.sign", "job", job_id),
        ("Bea Lind", "job.pass_qc", "job", job_id),
        ("Mara Quinn", "payment.take", "order", order_id),
        ("Mara Quinn", "job.hand_over", "job", job_id),
    ]
    before, after = shop.rows("""SELECT before, after FROM audit_log
                                 WHERE action = 'job.start_design'""")[0]
    assert json.loads(before) == {"state": "new", "version": 1}
    assert json.loads(after) == {"state": "design_consultation", "version": 2,
                                 "trigger": "start_design"}

    # The customer hears of each stage the lifecycle marks as told to customers; at least of
    # the design consultation, the approval request, production and the piece being ready.
    told = ("design_consultation", "awaiting_approval", "in_production", "ready")
    assert set(told) <= set(lifecycle.CUSTOMER_NOTIFIED_STAGES)
    versions = {"design_consultation": 2, "awaiting_approval": 3, "in_production": 4,
                "quality_check": 6, "ready": 7, "completed": 8}
    outbox = shop.rows("""SELECT stage, dedupe_key, channel, customer_id, job_id
                          FROM notification_outbox ORDER BY id""")
    assert outbox == [(stage, f"job:{job_id}:v{version}:{stage}", "email", customer_id, job_id)
                      for stage, version in versions.items()
                      if stage in lifecycle.CUSTOMER_NOTIFIED_STAGES]
    assert [row[0] for row in outbox if row[0] in told] == list(told)
    keys = [row[1] for row in outbox]
    assert len(set(keys)) == len(keys)
    payload = json.loads(shop.rows("""SELECT payload FROM notification_outbox
                                      WHERE stage = 'ready'""")[0][0])
    assert payload["job_number"] == number
    assert payload["stage_label"] == "Ready"
    assert payload["customer_name"] == "Jordan Lee"
    assert payload["email"] == "jordan@example.com"
    assert payload["order_name"] == order["order_name"]


def test_a_piece_without_a_design_goes_straight_to_production(shop):
    job_id = shop.walk_in("Plain band", design_needed=False)["job_id"]
    moved = shop.change(job_id, "start_production", shop.ben)
    assert moved.to_state == "in_production"
    assert history(shop, job_id)[-1] == ("new", "in_production", "start_production", "Ben Ortiz")


def test_a_piece_that_needs_a_design_cannot_go_straight_to_production(shop):
    job_id = shop.walk_in("Custom pendant", design_needed=True)["job_id"]
    before = shop.footprint(job_id)
    with pytest.raises(TransitionRefused, match="needs a design"):
        shop.change(job_id, "start_production", shop.ben)
    assert shop.footprint(job_id) == before


# --- stale versions and concurrent writers ----------------------------------------------------

def test_a_move_based_on_an_old_version_is_refused_and_writes_nothing(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "design_consultation")  # version 2 now; the person still sees 1
    before = shop.footprint(job_id)
    with pytest.raises(StaleJob, match="changed by someone else") as caught:
        shop.change(job_id, "hold", shop.bea, expected_version=1)
    assert "Nothing was saved" in str(caught.value)
    assert caught.value.job_number == f"J-{job_id:04d}"
    assert shop.footprint(job_id) == before
    assert shop.job(job_id)["version"] == 2


@pytest.mark.parametrize(("second_trigger", "reason"), [
    ("start_design", ""),
    ("hold", ""),
    ("cancel", "Customer phoned to cancel"),
])
def test_two_people_moving_the_same_job_at_once_one_wins_and_the_other_is_told(
        shop, con, second_trigger, reason):
    job_id = shop.walk_in()["job_id"]
    moves_before = shop.count("job_status_history", "job_id = ?", [job_id])
    audit_before = shop.count("audit_log")
    desk, bench = db.cursor(con), db.cursor(con)
    at = datetime.now(UTC)
    first, second = UnitOfWork(desk, lock=False), UnitOfWork(bench, lock=False)
    with first:
        with second:
            seen_at_desk = repo.get_job(desk, job_id)["version"]
            seen_at_bench = repo.get_job(bench, job_id)["version"]
            services._apply_stage_change(desk, job_id, "start_design", shop.designer,
                                         seen_at_desk, "", "", at)
            first.commit()
            with pytest.raises(StaleJob, match="changed by someone else") as caught:
                services._apply_stage_change(bench, job_id, second_trigger, shop.manager,
                                             seen_at_bench, reason, "", at)
            # DuckDB reports the write-write conflict at the UPDATE, or the version check
            # finds no row: either way the bench's move is refused.
            cause = caught.value.__cause__
            assert cause is None or isinstance(cause, duckdb.TransactionException)
    job = shop.job(job_id)
    assert (job["state"], job["version"]) == ("design_consultation", 2)
    assert shop.count("job_status_history", "job_id = ?", [job_id]) == moves_before + 1
    assert history(shop, job_id)[-1] == ("new", "design_consultation", "start_design",
                                         "Dev Rao")
    assert shop.count("audit_log") == audit_before + 1
    assert audit_actions(shop, last_audit_id(shop) - 1) == [
        ("Dev Rao", "job.start_design", "job", job_id)]
    assert shop.count("notification_outbox", "job_id = ?", [job_id]) == 1
    desk.close()
    bench.close()


# --- refusals and failures write nothing -------------------------------------------------------

@pytest.mark.parametrize(("stage", "trigger", "words"), [
    ("new", "pass_qc", "is not a step from there"),
    ("design_consultation", "send_for_approval", "no design version has been attached"),
    ("in_production", "submit_for_qc", "no bench jeweler is assigned"),
    ("quality_check", "pass_qc", "quality check has not passed"),
    ("completed", "cancel", "nothing more can happen to it"),
])
def test_a_refused_move_writes_nothing(shop, stage, trigger, words):
    if stage == "in_production":  # straight to production, with nobody assigned yet
        job_id = shop.walk_in("Plain band", design_needed=False)["job_id"]
        shop.change(job_id, "start_production", shop.manager)
    else:  # in quality_check nobody has signed the QC checklist yet
        job_id = shop.walk_in()["job_id"]
        shop.drive(job_id, stage)
    before = shop.footprint(job_id)
    with pytest.raises(TransitionRefused, match=words) as caught:
        shop.change(job_id, trigger, shop.manager, reason="because")
    assert str(caught.value).startswith(f"Job J-{job_id:04d}")
    assert shop.footprint(job_id) == before


def test_a_failure_half_way_through_a_move_leaves_nothing_behind(shop):
    job_id = shop.walk_in()["job_id"]
    # A stray outbox row already holds the key the move is about to use, so the last insert of
    # the move fails after the job row, the history row and the audit row were written.
    shop.cur.execute("""INSERT INTO notification_outbox (dedupe_key, job_id, channel, stage,
                            payload, created_at) VALUES (?, ?, 'email', 'design_consultation',
                            '{}', now())""", [f"job:{job_id}:v2:design_consultation", job_id])
    before = shop.footprint(job_id)
    with pytest.raises(duckdb.ConstraintException):
        shop.change(job_id, "start_design", shop.designer)
    assert shop.footprint(job_id) == before
    job = shop.job(job_id)
    assert (job["state"], job["version"]) == ("new", 1)
    assert history(shop, job_id) == [(None, "new", "create", "Mara Quinn")]


# --- hold, resume, revision rounds, reworks, cancel --------------------------------------------

@pytest.mark.parametrize("stage", ["new", "design_consultation", "awaiting_approval",
                                   "in_production", "quality_check", "ready"])
def test_a_job_put_on_hold_resumes_in_the_stage_it_was_in(shop, stage):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, stage)
    shop.change(job_id, "hold", shop.manager, reason="Waiting for the customer's stone")
    held = shop.job(job_id)
    assert (held["state"], held["held_from"]) == ("on_hold", stage)
    moved = shop.change(job_id, "resume", shop.manager)
    assert (moved.from_state, moved.to_state) == ("on_hold", stage)
    resumed = shop.job(job_id)
    assert (resumed["state"], resumed["held_from"]) == (stage, None)
    assert history(shop, job_id)[-2:] == [
        (stage, "on_hold", "hold", "Mara Quinn"),
        ("on_hold", stage, "resume", "Mara Quinn"),
    ]


def test_a_job_on_hold_can_be_cancelled_and_forgets_where_it_was(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "design_consultation")
    shop.change(job_id, "hold", shop.manager)
    shop.change(job_id, "cancel", shop.manager, reason="Customer moved abroad")
    job = shop.job(job_id)
    assert (job["state"], job["held_from"]) == ("cancelled", None)


def test_each_change_request_from_the_customer_counts_a_revision_round(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "awaiting_approval")
    for round_no, words in enumerate(["Thinner band, please", "Smaller halo"], start=1):
        latest = shop.rows("SELECT max(version_no) FROM design_versions WHERE job_id = ?",
                           [job_id])[0][0]
        moved = services.record_design_decision(shop.uow(), job_id, latest, "changes_requested",
                                                shop.manager, channel="phone",
                                                customer_words=words)
        assert (moved.from_state, moved.to_state) == ("awaiting_approval",
                                                      "design_consultation")
        assert shop.job(job_id)["revision_rounds"] == round_no
        assert shop.rows("""SELECT note FROM job_status_history WHERE job_id = ?
                            ORDER BY id DESC LIMIT 1""", [job_id]) == [(words,)]
        shop.drive(job_id, "awaiting_approval")  # the designer attaches the next version
    shop.drive(job_id, "in_production")
    job = shop.job(job_id)
    assert (job["state"], job["revision_rounds"], job["reworks"]) == ("in_production", 2, 0)
    assert shop.count("design_versions", "job_id = ?", [job_id]) == 3


def test_a_change_request_and_the_move_back_to_design_are_one_transaction(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "awaiting_approval")
    version = shop.job(job_id)["version"]
    # The move back to design fails at its last step: nothing of the decision may stay.
    shop.cur.execute("""INSERT INTO notification_outbox (dedupe_key, job_id, channel, stage,
                            payload, created_at) VALUES (?, ?, 'email', 'design_consultation',
                            '{}', now())""",
                     [f"job:{job_id}:v{version + 1}:design_consultation", job_id])
    before = shop.footprint(job_id)
    with pytest.raises(duckdb.ConstraintException):
        services.record_design_decision(shop.uow(), job_id, 1, "changes_requested",
                                        shop.manager, channel="email",
                                        customer_words="Rose gold instead")
    assert shop.footprint(job_id) == before
    # And a decision taken on a stale screen is refused whole, too.
    with pytest.raises(StaleJob):
        services.record_design_decision(shop.uow(), job_id, 1, "changes_requested",
                                        shop.manager, channel="email",
                                        customer_words="Rose gold instead",
                                        expected_version=version - 1)
    assert shop.footprint(job_id) == before
    job = shop.job(job_id)
    assert (job["state"], job["revision_rounds"]) == ("awaiting_approval", 0)


def test_approving_an_older_design_version_does_not_start_production(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "design_consultation")
    shop.attach_design(job_id)
    shop.attach_design(job_id, name="render-v2.png")
    shop.change(job_id, "send_for_approval", shop.designer)
    with pytest.raises(TransitionRefused) as caught:
        services.record_design_decision(shop.uow(), job_id, 1, "approved", shop.manager,
                                        channel="email")
    assert "design version 1" in str(caught.value)
    assert "version 2 is the latest" in str(caught.value)
    assert shop.job(job_id)["state"] == "awaiting_approval"
    moved = services.record_design_decision(shop.uow(), job_id, 2, "approved", shop.manager,
                                            channel="email")
    assert moved.to_state == "in_production"


def test_a_failed_qc_sends_the_piece_back_to_the_bench_and_counts_a_rework(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "quality_check")
    assert shop.sign_qc(job_id, shop.bea, passed=False, note="Loose stone") is False
    with pytest.raises(TransitionRefused, match="a reason is required"):
        shop.change(job_id, "fail_qc", shop.bea)
    moved = shop.change(job_id, "fail_qc", shop.bea, reason="Centre stone loose")
    assert (moved.to_state, shop.job(job_id)["reworks"]) == ("in_production", 1)
    assert shop.rows("""SELECT trigger, note FROM job_status_history WHERE job_id = ?
                        ORDER BY id DESC LIMIT 1""", [job_id]) == [("fail_qc",
                                                                    "Centre stone loose")]
    shop.drive(job_id, "ready")
    job = shop.job(job_id)
    assert (job["state"], job["reworks"], job["revision_rounds"]) == ("ready", 1, 0)


def test_a_job_cannot_pass_qc_checked_by_its_own_bench_jeweler(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "quality_check")  # Ben made it
    before = shop.footprint(job_id)
    with pytest.raises(InvalidInput, match="Ben .* made job J-.*; someone else must sign"):
        shop.sign_qc(job_id, shop.ben)
    with pytest.raises(TransitionRefused, match="quality check has not passed"):
        shop.change(job_id, "pass_qc", shop.manager)
    assert shop.footprint(job_id) == before
    shop.sign_qc(job_id, shop.bea)
    assert shop.change(job_id, "pass_qc", shop.manager).to_state == "ready"


def test_a_qc_check_signed_before_a_rework_does_not_pass_the_reworked_piece(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "quality_check")
    shop.sign_qc(job_id, shop.bea)  # every point passed ...
    shop.change(job_id, "fail_qc", shop.manager, reason="Polish marks under the loupe")
    shop.change(job_id, "submit_for_qc", shop.ben)  # ... Ben reworks it and sends it back
    with pytest.raises(TransitionRefused, match="quality check has not passed"):
        shop.change(job_id, "pass_qc", shop.manager)
    assert shop.job(job_id)["state"] == "quality_check"


def test_cancelling_a_job_needs_a_reason(shop):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "in_production")
    before = shop.footprint(job_id)
    for blank in ("", "   "):
        with pytest.raises(TransitionRefused, match="a reason is required"):
            shop.change(job_id, "cancel", shop.manager, reason=blank)
    assert shop.footprint(job_id) == before
    moved = shop.change(job_id, "cancel", shop.manager, reason="Customer changed their mind")
    assert moved.to_state == "cancelled"
    assert shop.rows("""SELECT note FROM job_status_history WHERE job_id = ?
                        ORDER BY id DESC LIMIT 1""", [job_id]) == [
        ("Customer changed their mind",)]
    after = json.loads(shop.rows("""SELECT after FROM audit_log WHERE action = 'job.cancel'""")
                       [0][0])
    assert after["note"] == "Customer changed their mind"


def test_a_piece_with_a_balance_is_handed_over_only_by_a_manager_with_a_reason(shop):
    job_id = shop.walk_in(price="1200.00", deposit="200.00")["job_id"]
    shop.drive(job_id, "ready")
    before = shop.footprint(job_id)
    with pytest.raises(TransitionRefused, match="balance of USD 1,000.00 is unpaid"):
        shop.change(job_id, "hand_over", shop.bea)
    with pytest.raises(TransitionRefused, match="is unpaid"):
        shop.change(job_id, "hand_over", shop.bea, override_reason="Pays on Friday")
    with pytest.raises(TransitionRefused, match="is unpaid"):
        shop.change(job_id, "hand_over", shop.manager)
    assert shop.footprint(job_id) == before
    moved = shop.change(job_id, "hand_over", shop.manager, override_reason="Pays on Friday")
    assert moved.to_state == "completed"
    note = shop.rows("""SELECT note FROM job_status_history WHERE job_id = ?
                        ORDER BY id DESC LIMIT 1""", [job_id])[0][0]
    assert note == "Manager override, balance USD 1000.00: Pays on Friday"


# --- design files -----------------------------------------------------------------------------

CONTENTS = {
    "a PNG": lambda png: png,
    "a PDF": lambda png: b"%PDF-1.7\n%fake",
    "a GIF": lambda png: b"GIF89a\x01\x00\x01\x00",
    "a PNG over 20 MB": lambda png: png + b"\0" * (20 * 1024 * 1024),
    "nothing": lambda png: b"",
}


@pytest.mark.parametrize(("file_name", "content", "words"), [
    ("render.gif", "a PNG", "must be PNG, JPEG or PDF"),
    ("render", "a PNG", "must be PNG, JPEG or PDF"),
    ("render.png", "a PDF", "is named .png but its content is not"),
    ("render.pdf", "a PNG", "is named .pdf but its content is not"),
    ("render.jpg", "a GIF", "is named .jpg but its content is not"),
    ("render.png", "a PNG over 20 MB", "the limit is 20 MB"),
    ("render.png", "nothing", "is empty"),
])
def test_a_design_file_that_is_not_a_usable_render_is_refused_and_nothing_is_kept(
        shop, png, file_name, content, words):
    data = CONTENTS[content](png)
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "design_consultation")
    before = shop.footprint(job_id)
    with pytest.raises(InvalidInput, match=words) as caught:
        services.attach_design_version(shop.uow(), job_id, file_name, data, shop.designer,
                                       files_dir=shop.files_dir)
    assert file_name in str(caught.value)
    assert [p for p in shop.files_dir.rglob("*") if p.is_file()] == []
    assert shop.footprint(job_id) == before


def test_a_design_render_is_kept_as_the_next_numbered_version(shop, png):
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, "design_consultation")
    data = png
    assert shop.attach_design(job_id, name="Ring.PNG") == 1
    assert shop.attach_design(job_id) == 2
    rows = shop.rows("""SELECT version_no, file_path, media_type, size_bytes FROM design_versions
                        WHERE job_id = ? ORDER BY version_no""", [job_id])
    assert [(r[0], r[2], r[3]) for r in rows] == [(1, "image/png", len(data)),
                                                  (2, "image/png", len(data))]
    for row in rows:
        path = shop.files_dir / "jobs" / str(job_id)
        assert row[1].startswith(str(path))
        assert open(row[1], "rb").read() == data


def test_no_design_can_be_attached_to_a_cancelled_job(shop):
    job_id = shop.walk_in()["job_id"]
    shop.change(job_id, "cancel", shop.manager, reason="Duplicate order")
    with pytest.raises(InvalidInput, match="no more designs can be attached"):
        shop.attach_design(job_id)
    assert [p for p in shop.files_dir.rglob("*") if p.is_file()] == []
