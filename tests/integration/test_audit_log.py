"""The audit log is append-only: no code changes or removes a row, and every write adds one."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from workflow import services
from workflow.model import NewJob, Role

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["workflow", "storage", "connectors", "pages", "streamlit_app.py", "cli.py"]
FORBIDDEN = re.compile(
    r"UPDATE\s+audit_log\b"
    r"|DELETE\s+FROM\s+audit_log\b"
    r"|TRUNCATE\s+(?:TABLE\s+)?audit_log\b"
    r"|DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?audit_log\b"
    r"|ALTER\s+TABLE\s+audit_log\b",
    re.IGNORECASE)


def _source_files() -> list[Path]:
    files = []
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
        elif path.is_file():
            files.append(path)
    return files


def test_the_forbidden_statements_pattern_catches_what_it_should():
    for sql in ("UPDATE audit_log SET actor = 'x'", "delete  from\naudit_log WHERE id = 1",
                "TRUNCATE audit_log", "TRUNCATE TABLE audit_log", "DROP TABLE audit_log",
                "drop table if exists audit_log"):
        assert FORBIDDEN.search(sql), sql
    for sql in ("INSERT INTO audit_log (actor) VALUES ('x')", "SELECT * FROM audit_log",
                "UPDATE audit_log_summary SET n = 1", "DROP TABLE IF EXISTS _import_stage"):
        assert not FORBIDDEN.search(sql), sql


def test_no_code_updates_deletes_or_drops_audit_rows():
    files = _source_files()
    assert any(f.parent.name == "workflow" for f in files)
    assert any(f.parent.name == "storage" for f in files)
    offences = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in FORBIDDEN.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            offences.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}")
    assert offences == []


def _audit_rows(shop) -> list[tuple]:
    return shop.rows("SELECT * FROM audit_log ORDER BY id")


def test_a_day_of_work_only_ever_adds_audit_rows(shop):
    first = shop.walk_in("Solitaire ring")
    earlier = _audit_rows(shop)
    assert earlier, "the staff and the first order were audited"

    job_id = first["job_id"]
    second = shop.walk_in("Signet ring", customer_name="Ana Silva", email="ana@example.com",
                          design_needed=False, price="450.00", deposit="0")
    shop.drive(job_id, "in_production")
    services.update_job(shop.uow(), job_id, shop.manager,
                        {"assignee_id": shop.ben.staff_id, "ring_size": "N½", "rush": True})
    services.add_job_note(shop.uow(), job_id, "Customer prefers a high polish", shop.ben)
    services.take_payment(shop.uow(), first["order_id"], "300.00", shop.manager, method="cash")
    shop.change(second["job_id"], "start_production", shop.ben)
    shop.change(second["job_id"], "hold", shop.manager, reason="Waiting for the signet blank")
    shop.drive(job_id, "ready")
    shop.drive(job_id, "completed")

    now = _audit_rows(shop)
    assert now[:len(earlier)] == earlier  # every earlier row is still there, unchanged
    ids = [row[0] for row in now]
    assert ids == sorted(set(ids))  # strictly increasing
    assert len(now) > len(earlier) + 10
    assert min(ids[len(earlier):]) > max(ids[:len(earlier)])


def _at(shop, stage: str) -> int:
    job_id = shop.walk_in()["job_id"]
    shop.drive(job_id, stage)
    return job_id


def _in_qc(shop) -> int:
    job_id = _at(shop, "in_production")
    shop.change(job_id, "hold", shop.manager)
    shop.change(job_id, "resume", shop.manager)
    services.update_job(shop.uow(), job_id, shop.manager, {"assignee_id": shop.ben.staff_id})
    shop.change(job_id, "submit_for_qc", shop.ben)
    return job_id


def _awaiting(shop) -> int:
    return _at(shop, "awaiting_approval")


WRITES = {
    "add_staff": (
        lambda shop: None,
        lambda shop, _: services.add_staff(shop.uow(), "Sol Park", Role.SETTER, shop.manager),
        {"staff.add"}),
    "create_walk_in_order": (
        lambda shop: None,
        lambda shop, _: services.create_walk_in_order(
            shop.uow(), shop.manager, customer_name="Kim Ode", phone="+1 555 0100",
            preferred_channel="sms", jobs=[NewJob("Tennis bracelet", price=Decimal("900"))]),
        {"customer.create", "order.create", "job.create"}),
    "change_stage": (
        lambda shop: _at(shop, "new"),
        lambda shop, job_id: services.change_stage(shop.uow(), job_id, "start_design",
                                                   shop.designer),
        {"job.start_design"}),
    "update_job": (
        lambda shop: _at(shop, "new"),
        lambda shop, job_id: services.update_job(shop.uow(), job_id, shop.manager,
                                                 {"engraving": "Always", "location": "safe"}),
        {"job.update"}),
    "add_job_note": (
        lambda shop: _at(shop, "new"),
        lambda shop, job_id: services.add_job_note(shop.uow(), job_id, "Called the customer",
                                                   shop.manager),
        {"job.note"}),
    "take_payment": (
        lambda shop: _at(shop, "new"),
        lambda shop, job_id: services.take_payment(shop.uow(), shop.job(job_id)["order_id"],
                                                   "100.00", shop.manager),
        {"payment.take"}),
    "attach_design_version": (
        lambda shop: _at(shop, "design_consultation"),
        lambda shop, job_id: shop.attach_design(job_id),
        {"design.attach"}),
    "record_design_decision": (
        _awaiting,
        lambda shop, job_id: services.record_design_decision(
            shop.uow(), job_id, 1, "approved", shop.manager, channel="phone"),
        {"design.approved", "job.approve"}),
    "record_qc_check": (
        _in_qc,
        lambda shop, job_id: shop.sign_qc(job_id, shop.bea),
        {"qc.sign"}),
}


@pytest.mark.parametrize("service", list(WRITES))
def test_every_write_leaves_an_audit_row_naming_who_did_it(shop, service):
    arrange, act, actions = WRITES[service]
    subject = arrange(shop)
    before = _audit_rows(shop)
    act(shop, subject)
    after = _audit_rows(shop)
    assert after[:len(before)] == before
    added = after[len(before):]
    assert {row[2] for row in added} >= actions  # (id, actor, action, ...)
    assert all(row[1] for row in added)
    expected_actor = shop.bea.name if service == "record_qc_check" else (
        shop.designer.name if service in ("change_stage", "attach_design_version")
        else shop.manager.name)
    assert {row[1] for row in added} == {expected_actor}


def test_a_write_that_changes_nothing_adds_no_audit_row(shop):
    job_id = _at(shop, "new")
    services.update_job(shop.uow(), job_id, shop.manager, {"engraving": "Always"})
    before = _audit_rows(shop)
    assert services.update_job(shop.uow(), job_id, shop.manager, {"engraving": "Always"}) == 2
    assert _audit_rows(shop) == before
