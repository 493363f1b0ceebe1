"""Inventory benchmark: does the inventory page's cost follow the stock, not the ledger's
history, and what does reserving a job's materials add to a stage change?

Builds two database files in a temporary directory, the same shop in both:

  S: 3,000 items (2,000 stones, 40 metals, 160 melee parcels, 800 findings) and a ledger of
     100,000 rows;
  L: the same items and a ledger of 1,000,000 rows.

Items and ledger rows are written set-based (each item received once, then rounds of "issued
to a job, put into its piece, received again" on metals, parcels and findings, so the balances
end where they began), the balance table is summed from the ledger, and then, through the real
services, four jobs reserve materials and six counts of a showcase tray of ten stones are
posted, three of them with a stone not found (so the page shows reserved stock and an accuracy
figure). Bench set-up writes SQL directly; the app never does.

Then it times, interleaved (S, L, S, L, ...) so other load on the machine falls on both alike:
  - the inventory page's whole script run under streamlit.testing.v1.AppTest: streamlit_app.py
    with session_state["staff_id"] set to a manager, ``at.switch_page("pages/inventory.py")
    .run()`` (one warm-up run each, then best and median of N);
  - on a copy of L, in the same run: `workflow.services.change_stage(..., "start_production")`
    of walk-in jobs with no materials, against jobs planning 6 g of 14K gold, a stone and 12
    melee (reserved and issued to the bench inside the stage change), pairs interleaved; and
    jobs planning the gold alone.
Prints best and median, and the ratios L / S (target <= 1.5x) and with materials / without
(target <= 1.5x). Never asserts timings.

    python -m bench.inventory_bench --quick      # 10,000 vs 100,000 rows, N=3, 20 pairs
    python -m bench.inventory_bench              # 100,000 vs 1,000,000 rows, N=7, 60 pairs
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/inventory_bench.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import (  # noqa: E402
    ROOT,
    best_median,
    code_line,
    machine_line,
    scratch,
    table,
    verdict,
)

TARGET_RATIO = 1.5
MEASURED = ["pages/inventory.py", "storage/inventory_queries.py", "streamlit_app.py",
            "workflow/inventory_services.py", "storage/inventory_repository.py",
            "workflow/services.py"]
# (category, count, unit, prefix): item ids run in this order from 1.
ITEMS = [("stone", 2000, "pc", "S"), ("metal", 40, "g", "M"), ("melee", 160, "pc", "P"),
         ("finding", 800, "pc", "F")]
BULK_FIRST = 2001            # the first id that is not a stone
ITEM_COUNT = sum(n for _, n, _, _ in ITEMS)


# --- building the files -------------------------------------------------------------------------

def build(path: Path, ledger_rows: int) -> dict:
    """The shop with `ledger_rows` ledger rows; returns the manager's staff id and counts."""
    from storage import db
    from storage.unit_of_work import UnitOfWork
    from workflow import inventory_services as inv
    from workflow import services
    from workflow.model import NewJob, Role

    con = db.connect(path)
    cur = db.cursor(con)
    uow = lambda: UnitOfWork(cur)  # noqa: E731
    manager_id = services.add_staff(uow(), "Mara Quinn", Role.MANAGER)
    services.add_staff(uow(), "Ben Ortiz", Role.BENCH_JEWELER)
    mara = services.actor_for(cur, manager_id)
    t0 = time.perf_counter()
    cur.execute("BEGIN TRANSACTION")
    first = 1
    for category, count, unit, prefix in ITEMS:
        cur.execute(f"""
            INSERT INTO inventory_items (id, code, category, description, unit, species, carat,
                pieces_received, alloy, fineness, reorder_point, unit_cost, currency,
                ownership, memo_dealer, memo_date, memo_due_date, created_at, updated_at)
            SELECT g, '{prefix}-' || lpad(CAST(g AS VARCHAR), 4, '0'), '{category}',
                   CASE '{category}' WHEN 'stone' THEN '1.0 ct round diamond ' || g
                                     WHEN 'metal' THEN '14K yellow gold lot ' || g
                                     WHEN 'melee' THEN 'Melee diamond parcel ' || g
                                     ELSE 'Finding ' || g END,
                   '{unit}',
                   CASE WHEN '{category}' IN ('stone', 'melee') THEN 'Diamond' END,
                   CASE '{category}' WHEN 'stone' THEN 1.000 WHEN 'melee' THEN 10.000 END,
                   CASE WHEN '{category}' = 'melee' THEN 1000 END,
                   CASE WHEN '{category}' = 'metal' THEN '14K yellow gold' END,
                   CASE WHEN '{category}' = 'metal' THEN 585 END,
                   CASE WHEN '{category}' IN ('metal', 'finding') THEN 50 END,
                   CASE '{category}' WHEN 'stone' THEN 900 WHEN 'metal' THEN 48.50
                                     WHEN 'melee' THEN 4 ELSE 1.20 END,
                   'USD',
                   CASE WHEN '{category}' = 'stone' AND g % 40 = 0 THEN 'memo'
                        ELSE 'owned' END,
                   CASE WHEN '{category}' = 'stone' AND g % 40 = 0 THEN 'Dealer ' || g % 7
                   END,
                   CASE WHEN '{category}' = 'stone' AND g % 40 = 0 THEN current_date - 20 END,
                   CASE WHEN '{category}' = 'stone' AND g % 40 = 0
                        THEN current_date + CAST(g % 30 AS INTEGER) END,
                   now(), now()
              FROM range({first}, {first + count}) t(g)""")
        first += count
    cur.execute(f"SELECT nextval('inventory_item_id_seq') FROM range({ITEM_COUNT})").fetchall()
    # One receipt per item into the safe (location 1): stones 1, the rest a large stock.
    cur.execute(f"""
        INSERT INTO inventory_ledger (item_id, kind, location_id, on_hand_change, actor,
                                      created_at, reason)
        SELECT g, 'receive', 1, CASE WHEN g < {BULK_FIRST} THEN 1 ELSE 100000 END,
               'Bench set-up', now() - INTERVAL 400 DAY, 'received'
          FROM range(1, {ITEM_COUNT + 1}) t(g)""")
    rounds = max(0, (ledger_rows - ITEM_COUNT) // 3)
    bulk = ITEM_COUNT - BULK_FIRST + 1
    # Each round: issued to job (1,000,000 + r), into its piece, received again.
    cur.execute(f"""
        INSERT INTO inventory_ledger (item_id, kind, location_id, to_location_id, job_id,
            on_hand_change, reserved_change, issued_change, actor, created_at, reason)
        SELECT {BULK_FIRST} + (r * 7919) % {bulk},
               CASE k WHEN 0 THEN 'issue' WHEN 1 THEN 'consume' ELSE 'receive' END,
               CASE k WHEN 1 THEN NULL ELSE 1 END, CASE k WHEN 0 THEN 3 END,
               CASE k WHEN 2 THEN NULL ELSE 1000000 + r END,
               CASE k WHEN 0 THEN -2 WHEN 1 THEN 0 ELSE 2 END, 0,
               CASE k WHEN 0 THEN 2 WHEN 1 THEN -2 ELSE 0 END,
               'Bench set-up', now() - INTERVAL 400 DAY + r * INTERVAL 1 SECOND, 'bench history'
          FROM range({rounds}) a(r), range(3) b(k)
         ORDER BY r, k""")
    cur.execute("INSERT INTO inventory_balances (item_id, location_id, job_id) "
                f"SELECT g, 0, 0 FROM range(1, {ITEM_COUNT + 1}) t(g)")
    cur.execute("""
        INSERT INTO inventory_balances (item_id, location_id, job_id, on_hand)
        SELECT item_id, location_id, 0, sum(on_hand_change) FROM inventory_ledger
         WHERE on_hand_change <> 0 GROUP BY item_id, location_id""")
    cur.execute("COMMIT")
    cur.execute("CHECKPOINT")
    built_s = time.perf_counter() - t0
    # Through the services: jobs holding materials, and counts for the accuracy figure.
    order = services.create_walk_in_order(
        uow(), mara, customer_name="Jordan Lee", email="jordan@example.com",
        jobs=[NewJob(f"Ring {i}", design_needed=False) for i in range(4)])
    for i, job_id in enumerate(order["job_ids"]):
        inv.plan_material(uow(), job_id, f"M-{BULK_FIRST + i:04d}", "6", mara)
        inv.plan_material(uow(), job_id, f"S-{i + 1:04d}", "1", mara)
        inv.reserve_materials(uow(), job_id, mara)
    for c in range(6):        # the showcase tray: 10 stones in, counted (one not found)
        tray = [f"S-{100 + c * 10 + s:04d}" for s in range(10)]
        for code in tray:
            inv.transfer_stock(uow(), code, "1", "SAFE", "SHOWCASE", mara)
        count_id = inv.start_count(uow(), mara, location="SHOWCASE")
        for code in tray[: 9 if c % 2 else 10]:
            inv.record_count(uow(), count_id, code, mara)
        inv.post_count(uow(), count_id, mara, reason="tray count")
        for code in tray[: 9 if c % 2 else 10]:
            inv.transfer_stock(uow(), code, "1", "SHOWCASE", "SAFE", mara)
    rows = cur.execute("SELECT count(*) FROM inventory_ledger").fetchone()[0]
    cur.execute("CHECKPOINT")
    cur.close()
    con.close()
    return {"manager_id": manager_id, "ledger": rows, "built_s": built_s}


# --- the page -----------------------------------------------------------------------------------

def _app_test_like_a_server():
    """AppTest, made to leave Streamlit's old `pages/`-folder mode off as a running server does
    once st.navigation has run (see tests/pages/support.py)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest
    from streamlit.testing.v1 import app_test as app_test_module

    class NavigationOnlyPagesManager(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test_module.PagesManager = NavigationOnlyPagesManager
    return AppTest


def time_inventory_page(paths: dict[str, Path], staff_ids: dict[str, int], runs: int) -> dict:
    """The inventory page's script run under AppTest, one session per file, interleaved."""
    AppTest = _app_test_like_a_server()  # noqa: N806
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(
        logging.ERROR)
    apps = {}
    for k in paths:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
        at.session_state["staff_id"] = int(staff_ids[k])
        apps[k] = at

    def run(k: str) -> float:
        os.environ["ATELIER_DB"] = str(paths[k])
        t0 = time.perf_counter()
        apps[k].switch_page("pages/inventory.py").run()
        seconds = time.perf_counter() - t0
        if apps[k].exception:
            raise SystemExit(f"the inventory page raised on {k}:\n"
                             + "\n".join(str(e.value) for e in apps[k].exception))
        return seconds

    first = {k: run(k) for k in paths}
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(runs):
        for k in paths:
            times[k].append(run(k))
    shown = {}
    for k, at in apps.items():
        metrics = {m.label: m.value for m in at.metric}
        rows = len(at.dataframe[0].value) if len(at.dataframe) else 0
        shown[k] = {"title": [t.value for t in at.title], "metrics": metrics, "rows": rows}
    return {"first": first, "times": times, "shown": shown}


# --- the stage change ---------------------------------------------------------------------------

def time_stage_changes(path: Path, pairs: int) -> dict[str, list[float]]:
    """start_production of jobs without materials, with three, and with metal alone,
    interleaved, on `path` (a copy of the large file)."""
    from storage import db
    from storage.unit_of_work import UnitOfWork
    from workflow import inventory_services as inv
    from workflow import services
    from workflow.inventory import NewItem
    from workflow.model import NewJob

    con = db.connect(path)
    cur = db.cursor(con)
    uow = lambda: UnitOfWork(cur)  # noqa: E731
    mara = services.actor_for(cur, 1)
    kinds = ("none", "three", "metal")
    order = services.create_walk_in_order(
        uow(), mara, customer_name="Ana Ruiz", email="ana@example.com",
        jobs=[NewJob(f"Piece {i}", design_needed=False) for i in range(len(kinds) * pairs)])
    jobs = {k: order["job_ids"][i::len(kinds)] for i, k in enumerate(kinds)}
    for i, job_id in enumerate(jobs["three"]):
        stone = inv.add_item(uow(), mara, NewItem("stone", species="Diamond",
                                                  carat=Decimal("0.500")))
        inv.plan_material(uow(), job_id, f"M-{BULK_FIRST + i % 40:04d}", "6", mara)
        inv.plan_material(uow(), job_id, stone["code"], "1", mara)
        inv.plan_material(uow(), job_id, f"P-{2041 + i % 160:04d}", "12", mara)
    for i, job_id in enumerate(jobs["metal"]):
        inv.plan_material(uow(), job_id, f"M-{BULK_FIRST + i % 40:04d}", "6", mara)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(pairs):
        for k in kinds:
            t0 = time.perf_counter()
            services.change_stage(uow(), jobs[k][i], "start_production", mara)
            times[k].append(time.perf_counter() - t0)
    written = cur.execute("SELECT count(*) FROM inventory_ledger WHERE job_id = ?",
                          [jobs["three"][0]]).fetchone()[0]
    cur.close()
    con.close()
    times["rows_per_job"] = [written]
    return times


# --- main ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10,000 vs 100,000 rows, N=3")
    ap.add_argument("--small", type=int, help="ledger rows of S (default 100,000)")
    ap.add_argument("--large", type=int, help="ledger rows of L (default 1,000,000)")
    ap.add_argument("--runs", type=int, help="timed page runs per file (default 7; quick 3)")
    ap.add_argument("--pairs", type=int, help="stage changes of each kind (default 60)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    small = args.small or (10_000 if args.quick else 100_000)
    large = args.large or (100_000 if args.quick else 1_000_000)
    runs = args.runs or (3 if args.quick else 7)
    pairs = args.pairs or (20 if args.quick else 60)
    # no background sender during the timing
    with scratch("atelier-inventory-bench-", keep=args.keep,
                 env={"ATELIER_DISPATCHER": "off"}) as work:
        return _run(work, small, large, runs, pairs, args)


def _run(work: Path, small: int, large: int, runs: int, pairs: int, args) -> int:
    print("Atelier inventory benchmark", "(quick)" if args.quick else "",
          time.strftime("%Y-%m-%d %H:%M"))
    print(machine_line())
    print(code_line(MEASURED))
    paths = {"S": work / "s.duckdb", "L": work / "l.duckdb"}
    built = {"S": build(paths["S"], small), "L": build(paths["L"], large)}
    for k, b in built.items():
        print(f"{k}: {ITEM_COUNT:,} items, {b['ledger']:,} ledger rows "
              f"(written in {b['built_s']:.1f} s)")
    changes_path = work / "changes.duckdb"
    shutil.copyfile(paths["L"], changes_path)

    p = time_inventory_page(paths, {k: b["manager_id"] for k, b in built.items()}, runs)
    c = time_stage_changes(changes_path, pairs)

    print()
    for k, s in p["shown"].items():
        print(f"page on {k}: title {s['title']}, {s['rows']} rows in the stock table; "
              f"accuracy {s['metrics'].get('Inventory accuracy')}, stock at cost "
              f"{s['metrics'].get('Stock at cost')}")
    print(f"first (warm-up) page run: S {p['first']['S']:.2f} s, L {p['first']['L']:.2f} s\n")
    (sb, sm), (lb, lm) = best_median(p["times"]["S"]), best_median(p["times"]["L"])
    print(table([[f"inventory page script run (AppTest), N={runs}", f"{sb:.3f}", f"{sm:.3f}",
                  f"{lb:.3f}", f"{lm:.3f}", f"{lb / sb:.2f}x", f"{lm / sm:.2f}x"]],
                ["seconds", "S best", "S median", "L best", "L median", "L/S best",
                 "L/S median"]))
    page_ratio = lb / sb
    print(f"\ntarget: page L/S <= {TARGET_RATIO}x, judged on best-of-N (the least disturbed by "
          f"other load): {page_ratio:.2f}x, {verdict(page_ratio <= TARGET_RATIO)}; "
          f"median {lm / sm:.2f}x\n")

    def ms(values: list[float]) -> tuple[str, str]:
        return f"{min(values) * 1000:.1f}", f"{statistics.median(values) * 1000:.1f}"

    base = statistics.median(c["none"])
    rows = []
    for k, label in (("none", "no materials"),
                     ("three", "6 g gold + a stone + 12 melee, reserved and issued"),
                     ("metal", "6 g gold, reserved and issued")):
        best, med = ms(c[k])
        rows.append([f"start_production: {label}", best, med,
                     f"{statistics.median(c[k]) / base:.2f}x"])
    print(table(rows, [f"milliseconds, N={pairs} each, on L", "best", "median",
                       "vs no materials"]))
    ratio = statistics.median(c["three"]) / base
    print(f"\ntarget: a stage change that reserves and issues materials <= {TARGET_RATIO}x one "
          f"without, judged on medians of interleaved runs: {ratio:.2f}x, "
          f"{verdict(ratio <= TARGET_RATIO)} ({c['rows_per_job'][0]} ledger rows per job: a "
          "reserve and an issue row per material, posted with 2 statements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
