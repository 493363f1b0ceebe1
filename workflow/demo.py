"""The demo shop: staff, an imported export, and jobs moved to every stage through the real
services, so the history, audit log and outbox look like a few months of work.

The export itself comes from the project's own generator (`connectors.shopify_demo`); the page
that offers the demo parses it and hands the result in.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from storage.unit_of_work import UnitOfWork
from workflow import inventory_services, services
from workflow.import_service import import_orders
from workflow.inventory import NewItem
from workflow.model import DEMO_LOADER, Actor, NewJob, ParsedExport, Role

DEMO_STAFF = [
    ("Rosa Marquez", Role.MANAGER),
    ("Eli Novak", Role.BENCH_JEWELER),
    ("Hana Sato", Role.BENCH_JEWELER),
    ("Priya Shah", Role.DESIGNER),
    ("Sam Okafor", Role.SETTER),
    ("Dana Kim", Role.SALES),
]

# The stage each open job is taken to, in turn: most of the work sits in the middle stages.
_TARGETS = ["new", "design_consultation", "awaiting_approval", "in_production",
            "in_production", "quality_check", "ready", "awaiting_approval", "in_production",
            "on_hold", "design_consultation", "ready", "in_production", "completed"]


@dataclass
class DemoResult:
    manager_id: int
    staff_ids: dict[str, int]
    jobs_moved: int
    sentence: str


DEMO_ORDERS = 400
# Made-to-order pieces take five weeks here: a little longer than the generator's window of
# open orders (connectors.shopify_demo.OPEN_WINDOW_DAYS), so a few demo jobs are overdue.
DEMO_LEAD_TIME_DAYS = 35
DEMO_DAYS = 365  # the generator spreads orders over a year from its start date


def demo_start(today: date | None = None) -> date:
    """The first order date of the demo export, so that its year of orders ends today."""
    return (today or datetime.now(UTC).date()) - timedelta(days=DEMO_DAYS)


def render_png(width: int = 96, height: int = 64, rgb: tuple[int, int, int] = (212, 175, 55)
               ) -> bytes:
    """A small solid-colour PNG (a stand-in for a CAD render), made with the standard library."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def load_demo(uow_factory: Callable[[], UnitOfWork], parsed: ParsedExport, *, files_dir: Path,
              now: datetime | None = None) -> DemoResult:
    """Add the demo staff, import `parsed`, and move its open jobs through the workshop.

    Every step goes through the services (audited, with history and outbox rows), back-dated
    between each order's date and `now`. Returns the ids made and a sentence for the screen.
    """
    now = now or datetime.now(UTC)
    staff_ids = {}
    for name, role in DEMO_STAFF:
        staff_ids[name] = services.add_staff(uow_factory(), name, role, DEMO_LOADER,
                                             now=now - timedelta(days=200))
    con = uow_factory().con
    people = {name: services.actor_for(con, sid) for name, sid in staff_ids.items()}
    stock = _stock_the_safe(uow_factory, people["Rosa Marquez"], now - timedelta(days=150))
    services.save_settings(uow_factory(), {"lead_time_days": str(DEMO_LEAD_TIME_DAYS)},
                           people["Rosa Marquez"], now=now - timedelta(days=150))
    summary = import_orders(uow_factory(), parsed, DEMO_LOADER, now=now - timedelta(days=1),
                            lead_time_days=DEMO_LEAD_TIME_DAYS)
    rows = con.execute("""SELECT j.id, o.placed_at FROM jobs j JOIN orders o ON o.id = j.order_id
                          WHERE j.state = 'new' ORDER BY o.placed_at, j.id""").fetchall()
    moved = 0
    for i, (job_id, placed_at) in enumerate(rows):
        target = _TARGETS[i % len(_TARGETS)]
        start = placed_at or now - timedelta(days=30)
        _move(uow_factory, job_id, target, people, files_dir, start, now, revision=(i % 5 == 2),
              rush=(i % 7 == 3), metal=stock["gold"] if i % 3 == 0 else None)
        moved += target != "new"
    repair = services.create_walk_in_order(
        uow_factory(), people["Dana Kim"], customer_name="Walter Brooks",
        email="walter.brooks@example.com", currency=parsed.orders["currency"].iloc[0]
        if len(parsed.orders) else "USD",
        jobs=[NewJob("Repair: re-tip four prongs on a solitaire", design_needed=False,
                     price="85.00", promised_date=(now + timedelta(days=5)).date()),
              NewJob("Resize wedding band to US 9", ring_size="9", design_needed=False,
                     price="60.00", promised_date=(now + timedelta(days=3)).date())],
        deposit="145.00", now=now - timedelta(days=2))
    services.change_stage(uow_factory(), repair["job_ids"][0], "start_production",
                          people["Eli Novak"], now=now - timedelta(days=1))
    sentence = (f"Demo shop ready: {len(DEMO_STAFF)} staff, {summary.orders_created} orders, "
                f"{summary.jobs_created + 2} jobs, {moved} of them moved through the workshop.")
    return DemoResult(staff_ids[DEMO_STAFF[0][0]], staff_ids, moved, sentence)


def _stock_the_safe(uow_factory, manager: Actor, at: datetime) -> dict[str, str]:
    """Metal, stones, melee and findings in the safe, as a small workshop keeps them."""
    def add(item: NewItem, quantity) -> str:
        return inventory_services.add_item(uow_factory(), manager, item, quantity=quantity,
                                           now=at)["code"]

    codes = {
        "gold": add(NewItem("metal", alloy="14K yellow gold", unit_cost=Decimal("48.50"),
                            reorder_point=Decimal("50"), supplier="Hoover & Strong"), "250"),
        "white": add(NewItem("metal", alloy="18K white gold", unit_cost=Decimal("66.00"),
                             reorder_point=Decimal("30"), supplier="Hoover & Strong"), "120"),
        "platinum": add(NewItem("metal", alloy="Pt950 platinum", unit_cost=Decimal("38.00"),
                                reorder_point=Decimal("20"), supplier="Stuller"), "15"),
    }
    add(NewItem("stone", species="diamond", origin="natural", shape="round",
                carat=Decimal("1.02"), colour="G", clarity="VS1", cut="Excellent",
                cert_lab="GIA", cert_number="2215438790", unit_cost=Decimal("5200"),
                supplier="Rapaport trade"), 1)
    add(NewItem("stone", species="diamond", origin="lab_grown", shape="oval",
                carat=Decimal("1.50"), colour="F", clarity="VS2", cert_lab="IGI",
                cert_number="LG612345678", unit_cost=Decimal("900"), supplier="Lab Gems Co"), 1)
    add(NewItem("stone", species="sapphire", origin="natural", shape="cushion",
                carat=Decimal("2.10"), colour="royal blue", unit_cost=Decimal("3100"),
                ownership="memo", memo_dealer="Ceylon Sapphire House",
                memo_date=(at + timedelta(days=140)).date(),
                memo_due_date=(at + timedelta(days=160)).date()), 1)
    add(NewItem("melee", species="diamond", origin="natural", shape="round",
                carat=Decimal("1.20"), measurements="1.3 mm", unit_cost=Decimal("12"),
                reorder_point=Decimal("100")), 240)
    add(NewItem("finding", description="Jump ring, 14K yellow, 4 mm", unit_cost=Decimal("3.20"),
                reorder_point=Decimal("50")), 40)
    add(NewItem("finding", description="Lobster clasp, 14K yellow", unit_cost=Decimal("18"),
                reorder_point=Decimal("10")), 25)
    return codes


def _move(uow_factory, job_id: int, target: str, people: dict[str, Actor], files_dir: Path,
          start: datetime, now: datetime, *, revision: bool, rush: bool,
          metal: str | None = None) -> None:
    plan = _plan(target, revision)
    if not plan:
        return
    if metal is None or "approve" not in plan:
        metal = None
    elif "submit_for_qc" in plan:
        plan.insert(plan.index("submit_for_qc"), "weigh_back")
    step = min(timedelta(days=3), (now - start) / (len(plan) + 2))
    at = start + step
    designer, manager = people["Priya Shah"], people["Rosa Marquez"]
    bench = people["Eli Novak"] if job_id % 2 else people["Hana Sato"]
    if metal is not None:  # 6 g of 14K yellow planned; reserved and issued on approval
        inventory_services.plan_material(uow_factory(), job_id, metal, "6", manager, now=at)
    if rush:
        services.update_job(uow_factory(), job_id, manager, {"rush": True}, now=at)
    for action in plan:
        at += step
        if action == "design":
            services.attach_design_version(uow_factory(), job_id, "cad-render.png",
                                           render_png(rgb=(200, 170 + job_id % 50, 60)),
                                           designer, files_dir=files_dir, now=at,
                                           note="CAD render, top and side views")
        elif action == "approve":
            version = _latest_version(uow_factory, job_id)
            services.record_design_decision(uow_factory(), job_id, version, "approved", manager,
                                            channel="email", now=at,
                                            customer_words="Love it, please go ahead!")
        elif action == "changes":
            version = _latest_version(uow_factory, job_id)
            services.record_design_decision(uow_factory(), job_id, version,
                                            "changes_requested", manager, channel="phone",
                                            customer_words="Could the band be a little thinner?",
                                            now=at)
        elif action == "weigh_back":  # finished 5.6 g, 0.2 g of filings back: 3.3% loss
            inventory_services.finish_production(uow_factory(), job_id, bench,
                                                 {metal: ("5.60", "0.20")}, now=at)
        elif action == "to_bench":
            services.update_job(uow_factory(), job_id, manager,
                                {"assignee_id": bench.staff_id, "location": "bench"}, now=at)
        elif action == "qc":
            services.record_qc_check(uow_factory(), job_id,
                                     {p: True for p in services.QC_CHECKLIST}, manager, now=at)
        elif action == "pay":
            order_id = uow_factory().con.execute("SELECT order_id FROM jobs WHERE id = ?",
                                                 [job_id]).fetchone()[0]
            due = uow_factory().con.execute(
                "SELECT o.total - coalesce((SELECT sum(amount) FROM payments p WHERE "
                "p.order_id = o.id), 0) FROM orders o WHERE o.id = ?", [order_id]).fetchone()[0]
            if due > 0:
                services.take_payment(uow_factory(), order_id, due, manager, now=at,
                                      note="Balance paid at pick-up")
        elif action == "hold":
            services.change_stage(uow_factory(), job_id, "hold", manager, now=at,
                                  reason="Waiting for the customer's own stone to arrive")
        else:
            actor = bench if action == "submit_for_qc" else manager
            services.change_stage(uow_factory(), job_id, action, actor, now=at)


def _latest_version(uow_factory, job_id: int) -> int:
    return uow_factory().con.execute("SELECT max(version_no) FROM design_versions WHERE "
                                     "job_id = ?", [job_id]).fetchone()[0]


def _plan(target: str, revision: bool) -> list[str]:
    design = ["start_design", "design", "send_for_approval"]
    if revision:
        design += ["changes", "design", "send_for_approval"]
    steps = {
        "new": [],
        "design_consultation": ["start_design"],
        "awaiting_approval": design,
        "in_production": design + ["approve", "to_bench"],
        "quality_check": design + ["approve", "to_bench", "submit_for_qc"],
        "ready": design + ["approve", "to_bench", "submit_for_qc", "qc", "pass_qc"],
        "completed": design + ["approve", "to_bench", "submit_for_qc", "qc", "pass_qc", "pay",
                               "hand_over"],
        "on_hold": design + ["approve", "to_bench", "hold"],
    }
    return steps[target]
