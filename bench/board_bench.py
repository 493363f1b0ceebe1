"""Board benchmark: does the board's cost follow open work, not history?

Builds two database files in a temporary directory:

  A: 5,000 open jobs alone;
  B: the same 5,000 open jobs plus about 200,000 finished ones (completed / cancelled).

B is built fast: a demo Shopify export (connectors.shopify_demo.write_demo_export) imported
with the real parse_orders_export + import_orders (one job, one history row and one audit row
per line, as the import writes them), then set-based SQL picks the 5,000 most recent `new` jobs
and spreads them over the open stages, and hands every other `new` job over (completed), each
move with its job_status_history and audit_log row as the services write them. A is the same
staff, then the 5,000 open jobs copied from B with their orders, customers, lines, payments,
history and audit rows. (Bench set-up writes SQL directly; the app never does.)

Then it times, on A and on B, interleaved (A, B, A, B, ...) so that other load on the machine
falls on both alike:
  - storage.queries.board_jobs(cursor, BoardFilter(), shop_tz) alone;
  - the board page's whole script run under streamlit.testing.v1.AppTest: streamlit_app.py
    with session_state["staff_id"] set to a manager, ``at.switch_page("pages/board.py").run()``
    (one warm-up run each, then best and median of N);
  - where the page builds its CSV / Excel downloads on every run (pages/board.py calls
    connectors.spreadsheet_export.to_csv_bytes / to_xlsx_bytes): the same page runs with those
    two builders stubbed, and the two builders alone on the board's frame.
Prints best and median and the ratio B / A (target <= 1.5x). Never asserts timings.

    python -m bench.board_bench --quick      # 500 open + 20,000 finished, N=3
    python -m bench.board_bench              # 5,000 open + 200,000 finished, N=7
    python -m bench.board_bench --profile    # + cProfile of one board run on A and B
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from unittest import mock

if __package__ in (None, ""):  # run as `python bench/board_bench.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import (  # noqa: E402
    ROOT,
    best_median,
    code_line,
    machine_line,
    scratch,
    table,
    timed,
    verdict,
    write_export,
)

TARGET_RATIO = 1.5
MEASURED = ["pages/board.py", "storage/queries.py", "streamlit_app.py", "pages/common.py"]
BENCH_ACTOR = "Bench set-up"
JOBS_PER_LINE = 0.973  # the import makes no job for stock lines (chains, gift boxes)

# Staff added through workflow.services.add_staff, in this order, in both files (same ids).
STAFF = [("Mara Quinn", "manager"), ("Ben Ortiz", "bench_jeweler"),
         ("Bea Lind", "bench_jeweler"), ("Cy Tran", "bench_jeweler"),
         ("Dev Rao", "designer"), ("Sol Reyes", "sales")]
BENCH_JEWELERS = (2, 3, 4)  # their staff ids (1-based, in STAFF order)

# How the open jobs are spread over the open stages (out of 20), and the trigger that
# brought a job there (the last move; one history row each).
OPEN_SPREAD = [("new", 4, None), ("design_consultation", 3, "start_design"),
               ("awaiting_approval", 3, "send_for_approval"), ("in_production", 5, "approve"),
               ("quality_check", 2, "submit_for_qc"), ("ready", 2, "pass_qc"),
               ("on_hold", 1, "hold")]


# --- building the files -------------------------------------------------------------------------

def _staff(cur) -> int:
    from storage.unit_of_work import UnitOfWork
    from workflow import services

    ids = [services.add_staff(UnitOfWork(cur), name, role) for name, role in STAFF]
    return ids[0]


def build_b(path: Path, export: Path, open_jobs: int, finished: int) -> dict:
    """File B: staff, the imported export, then `open_jobs` open and the rest finished."""
    from connectors.shopify import parse_orders_export
    from storage import db
    from storage.unit_of_work import UnitOfWork
    from workflow.import_service import import_orders
    from workflow.model import SYSTEM_IMPORT

    timings = {}
    lines, _orders, timings["export_s"] = write_export(
        export, round((open_jobs + finished) / JOBS_PER_LINE))

    con = db.connect(path)
    cur = db.cursor(con)
    manager_id = _staff(cur)
    t0 = time.perf_counter()
    parsed = parse_orders_export(export, shop_tz="America/New_York")
    import_orders(UnitOfWork(cur), parsed, SYSTEM_IMPORT)
    del parsed
    timings["import_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    new_jobs = cur.execute("SELECT count(*) FROM jobs WHERE state = 'new'").fetchall()[0][0]
    if new_jobs < open_jobs:
        raise SystemExit(f"the export gave only {new_jobs} new jobs; {open_jobs} are needed")
    _set_states(cur, open_jobs)
    cur.execute("CHECKPOINT")
    timings["states_s"] = time.perf_counter() - t0
    counts = dict(cur.execute("""
        SELECT CASE WHEN state IN ('completed', 'cancelled') THEN 'finished' ELSE 'open' END,
               count(*) FROM jobs GROUP BY 1""").fetchall())
    counts.update(lines=lines, history=_count(cur, "job_status_history"),
                  audit=_count(cur, "audit_log"), orders=_count(cur, "orders"))
    cur.close()
    con.close()
    return {"manager_id": manager_id, "counts": counts, "timings": timings}


def _count(cur, table_name: str) -> int:
    return cur.execute(f"SELECT count(*) FROM {table_name}").fetchall()[0][0]


def _set_states(cur, open_jobs: int) -> None:
    """Set-based: the `open_jobs` most recent `new` jobs spread over the open stages, every
    other `new` job handed over; a history and an audit row for each move, as services do."""
    buckets, start = [], 0
    for state, share, trigger in OPEN_SPREAD:
        buckets.append((start, start + share, state, trigger))
        start += share
    target = " ".join(f"WHEN rn % 20 >= {lo} AND rn % 20 < {hi} THEN '{state}'"
                      for lo, hi, state, _t in buckets)
    trigger = " ".join(f"WHEN rn % 20 >= {lo} AND rn % 20 < {hi} THEN '{t}'"
                       for lo, hi, _s, t in buckets if t)
    jewelers = ", ".join(str(i) for i in BENCH_JEWELERS)
    cur.execute("BEGIN TRANSACTION")
    cur.execute(f"""
        CREATE OR REPLACE TEMP TABLE moves AS
        SELECT id, from_state, to_state, trigger, rn, version FROM (
            SELECT j.id, j.state AS from_state, j.version, p.rn,
                   CASE WHEN p.rn <= {open_jobs} THEN CASE {target} END
                        ELSE 'completed' END AS to_state,
                   CASE WHEN p.rn <= {open_jobs} THEN CASE {trigger} END
                        ELSE 'hand_over' END AS trigger
              FROM jobs j
              JOIN (SELECT j2.id, row_number() OVER (ORDER BY o.placed_at DESC, j2.id) AS rn
                      FROM jobs j2 JOIN orders o ON o.id = j2.order_id
                     WHERE j2.state = 'new') p ON p.id = j.id)
         WHERE to_state <> from_state""")
    # the moment of each move: open jobs entered their stage 0-29 days ago, handed-over jobs
    # left the bench 10-59 days after the import's `now`... in the past: 30-400 days ago
    cur.execute("""
        CREATE OR REPLACE TEMP TABLE moved AS
        SELECT *, CASE WHEN to_state = 'completed'
                       THEN now() - to_days(CAST(30 + rn % 370 AS INTEGER))
                       ELSE now() - to_days(CAST(rn % 30 AS INTEGER)) END AS changed_at
          FROM moves""")
    cur.execute("""
        INSERT INTO job_status_history (job_id, from_state, to_state, trigger, actor,
                                        changed_at, note)
        SELECT id, from_state, to_state, trigger, $actor, changed_at,
               CASE WHEN to_state = 'on_hold' THEN 'Waiting for the customer''s stone' END
          FROM moved""", {"actor": BENCH_ACTOR})
    cur.execute("""
        INSERT INTO audit_log (actor, action, entity, entity_id, before, after, changed_at)
        SELECT $actor, 'job.' || trigger, 'job', id,
               to_json(struct_pack(state := from_state, version := version)),
               to_json(struct_pack(state := to_state, version := version + 1,
                                   trigger := trigger)),
               changed_at
          FROM moved""", {"actor": BENCH_ACTOR})
    cur.execute(f"""
        UPDATE jobs SET state = m.to_state,
               held_from = CASE WHEN m.to_state = 'on_hold' THEN 'in_production' END,
               stage_entered_at = m.changed_at,
               promised_date = CASE WHEN m.to_state = 'completed' THEN jobs.promised_date
                                    ELSE CAST(timezone('America/New_York', now()) AS DATE)
                                         + CAST(m.rn % 56 AS INTEGER) - 14 END,
               rush = m.to_state <> 'completed' AND m.rn % 25 = 0,
               assignee_id = CASE
                   WHEN m.to_state IN ('in_production', 'quality_check', 'ready', 'on_hold')
                     OR m.rn % 3 = 0
                   THEN list_extract([{jewelers}], CAST(m.rn % {len(BENCH_JEWELERS)} AS INTEGER)
                                     + 1) END,
               version = jobs.version + 1, updated_at = m.changed_at
          FROM moved m WHERE jobs.id = m.id""")
    # the `new` jobs left open keep their import row; give them a promised date near today
    cur.execute("""
        UPDATE jobs SET promised_date = CAST(timezone('America/New_York', now()) AS DATE)
                                        + CAST(id % 56 AS INTEGER) - 14
         WHERE state = 'new'""")
    cur.execute("DROP TABLE moved")
    cur.execute("DROP TABLE moves")
    cur.execute("COMMIT")


def build_a(path: Path, b_path: Path) -> dict:
    """File A: the same staff, then B's open jobs with what belongs to them."""
    from storage import db

    con = db.connect(path)
    cur = db.cursor(con)
    manager_id = _staff(cur)
    cur.execute(f"ATTACH '{str(b_path).replace(chr(39), chr(39) * 2)}' AS b (READ_ONLY)")
    cur.execute("BEGIN TRANSACTION")
    cur.execute("""CREATE TEMP TABLE keep_jobs AS SELECT id, order_id, order_line_id
                   FROM b.jobs WHERE state NOT IN ('completed', 'cancelled')""")
    cur.execute("CREATE TEMP TABLE keep_orders AS SELECT DISTINCT order_id AS id FROM keep_jobs")
    copies = {
        "jobs": "id IN (SELECT id FROM keep_jobs)",
        "orders": "id IN (SELECT id FROM keep_orders)",
        "customers": "id IN (SELECT customer_id FROM b.orders"
                     " WHERE id IN (SELECT id FROM keep_orders))",
        "order_lines": "id IN (SELECT order_line_id FROM keep_jobs)",
        "payments": "order_id IN (SELECT id FROM keep_orders)",
        "job_status_history": "job_id IN (SELECT id FROM keep_jobs)",
        "audit_log": "(entity = 'job' AND entity_id IN (SELECT id FROM keep_jobs))"
                     " OR (entity = 'order' AND entity_id IN (SELECT id FROM keep_orders))"
                     " OR (entity = 'customer' AND entity_id IN (SELECT customer_id"
                     " FROM b.orders WHERE id IN (SELECT id FROM keep_orders)))",
        "import_batch": "true",
        "settings": "true",
    }
    for name, where in copies.items():
        verb = "INSERT OR REPLACE" if name == "settings" else "INSERT"  # migrations may seed it
        cur.execute(f"{verb} INTO main.{name} SELECT * FROM b.main.{name} WHERE {where}")
    cur.execute("COMMIT")
    cur.execute("DETACH b")
    # keep each sequence past the copied ids, so the file stays usable in the app
    for name, seq in (("jobs", "job_id_seq"), ("orders", "order_id_seq"),
                      ("customers", "customer_id_seq"), ("order_lines", "order_line_id_seq"),
                      ("payments", "payment_id_seq"),
                      ("job_status_history", "job_status_history_id_seq"),
                      ("audit_log", "audit_log_id_seq"), ("import_batch", "import_batch_id_seq")):
        top = cur.execute(f"SELECT coalesce(max(id), 0) FROM {name}").fetchall()[0][0]
        cur.execute(f"SELECT max(nextval('{seq}')) FROM range({int(top)})").fetchall()
    cur.execute("CHECKPOINT")
    counts = {"open": _count(cur, "jobs"), "history": _count(cur, "job_status_history"),
              "audit": _count(cur, "audit_log"), "orders": _count(cur, "orders")}
    cur.close()
    con.close()
    return {"manager_id": manager_id, "counts": counts}


# --- timing -------------------------------------------------------------------------------------

def time_board_jobs(paths: dict[str, Path], runs: int) -> dict[str, list[float]]:
    """storage.queries.board_jobs with the default filter (all open stages), interleaved."""
    from storage import db, queries

    cons = {k: db.connect(p) for k, p in paths.items()}
    curs = {k: db.cursor(c) for k, c in cons.items()}
    tz = {k: queries.setting(c, "shop_tz") for k, c in curs.items()}
    flt = queries.BoardFilter()
    times: dict[str, list[float]] = {k: [] for k in paths}
    rows = {}
    for k, cur in curs.items():  # warm-up
        rows[k] = len(queries.board_jobs(cur, flt, tz[k]))
    for _ in range(runs):
        for k, cur in curs.items():
            t0 = time.perf_counter()
            queries.board_jobs(cur, flt, tz[k])
            times[k].append(time.perf_counter() - t0)
    for k in paths:
        curs[k].close()
        cons[k].close()
    return {"times": times, "rows": rows}


def _app_test_like_a_server():
    """AppTest, made to leave Streamlit's old `pages/`-folder mode off as a running server does
    once st.navigation has run (see tests/pages/support.py): without this AppTest's
    switch_page("pages/board.py") runs board.py alone, skipping streamlit_app.py."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest
    from streamlit.testing.v1 import app_test as app_test_module

    class NavigationOnlyPagesManager(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test_module.PagesManager = NavigationOnlyPagesManager
    return AppTest


def time_board_page(paths: dict[str, Path], staff_ids: dict[str, int], runs: int,
                    profile: bool) -> dict:
    """The board page's script run under AppTest, one session per file, interleaved."""
    AppTest = _app_test_like_a_server()  # noqa: N806
    # "missing ScriptRunContext" warnings for session_state set before the first run: noise
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(
        logging.ERROR)

    apps = {}
    for k in paths:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
        at.session_state["staff_id"] = int(staff_ids[k])
        apps[k] = at

    def run(k: str, stub: bool = False) -> float:
        os.environ["ATELIER_DB"] = str(paths[k])
        with _export_builders_stubbed(stub):
            t0 = time.perf_counter()
            apps[k].switch_page("pages/board.py").run()
            seconds = time.perf_counter() - t0
        if apps[k].exception:
            raise SystemExit(f"the board raised on {k}:\n"
                             + "\n".join(str(e.value) for e in apps[k].exception))
        return seconds

    first = {k: run(k) for k in paths}  # warm-up: opens and caches the connection
    variants = [(k, False) for k in paths]
    if _page_builds_exports():
        variants += [(k, True) for k in paths]
    times: dict[str, list[float]] = {_key(k, stub): [] for k, stub in variants}
    for _ in range(runs):
        for k, stub in variants:
            times[_key(k, stub)].append(run(k, stub))
    shown = {}
    for k, at in apps.items():
        title = [t.value for t in at.title]
        caption = at.caption[0].value if len(at.caption) else ""
        cards = sum(1 for b in at.button if (b.key or "").startswith("open_"))
        shown[k] = {"title": title, "caption": caption, "cards": cards}
    text = ""
    if profile:
        for k in paths:
            text += f"\n--- one board page run on {k}, cProfile of the script thread ---\n"
            text += _profile_script_thread(lambda k=k: run(k))
    return {"first": first, "times": times, "shown": shown, "profile": text}


def _key(k: str, stub: bool) -> str:
    return f"{k} stubbed" if stub else k


def _page_builds_exports() -> bool:
    """True when the board page builds its CSV/Excel downloads (connectors.spreadsheet_export)
    on every run."""
    return "spreadsheet_export" in (ROOT / "pages" / "board.py").read_text(encoding="utf-8")


@contextlib.contextmanager
def _export_builders_stubbed(stub: bool):
    """With `stub`, connectors.spreadsheet_export.to_csv_bytes / to_xlsx_bytes return b"" (the
    page imports them from the module on every run): the page's cost without building the
    downloads, i.e. what handing download_button a callable (built on click) would save."""
    if not stub:
        yield
        return
    from connectors import spreadsheet_export

    with mock.patch.object(spreadsheet_export, "to_csv_bytes", lambda *a, **k: b""), \
            mock.patch.object(spreadsheet_export, "to_xlsx_bytes", lambda *a, **k: b""):
        yield


def time_exports(paths: dict[str, Path], runs: int) -> dict[str, dict[str, list[float]]]:
    """to_csv_bytes and to_xlsx_bytes of the board's frame (as the page calls them)."""
    from storage import db, queries

    if not _page_builds_exports():
        return {}
    from connectors.spreadsheet_export import to_csv_bytes, to_xlsx_bytes
    from pages.common import jobs_for_people  # what the page's download buttons hand over

    out: dict[str, dict[str, list[float]]] = {"csv": {}, "xlsx": {}}
    for k, path in paths.items():
        con = db.connect(path)
        cur = db.cursor(con)
        frame = queries.board_jobs(cur, queries.BoardFilter(), queries.setting(cur, "shop_tz"))
        cur.close()
        con.close()
        out["csv"][k] = [timed(lambda f=frame: to_csv_bytes(jobs_for_people(f)))[0]
                         for _ in range(runs)]
        out["xlsx"][k] = [timed(lambda f=frame: to_xlsx_bytes(jobs_for_people(f), "Jobs"))[0]
                          for _ in range(runs)]
    return out


def _profile_script_thread(fn) -> str:
    """cProfile of the threads `fn` starts (AppTest runs the script in its own thread, which a
    profiler started in this thread does not see): the top 30 functions by cumulative time."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()

    def start_in_new_thread(*_args) -> None:
        sys.setprofile(None)
        try:
            prof.enable()
        except ValueError:  # another thread already has it
            pass

    threading.setprofile(start_in_new_thread)
    try:
        fn()
    finally:
        threading.setprofile(None)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(30)
    return out.getvalue()


# --- main ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 open + 20,000 finished, N=3")
    ap.add_argument("--open", type=int, help="open jobs (default 5,000; quick 500)")
    ap.add_argument("--finished", type=int,
                    help="finished jobs in B (default 200,000; quick 20,000)")
    ap.add_argument("--runs", type=int, help="timed page runs per file (default 7; quick 3)")
    ap.add_argument("--query-runs", type=int,
                    help="timed board_jobs calls per file (default 15; quick 5)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile of one board page run on each file (the script thread)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    open_jobs = args.open or (500 if args.quick else 5_000)
    finished = args.finished or (20_000 if args.quick else 200_000)
    runs = args.runs or (3 if args.quick else 7)
    query_runs = args.query_runs or (5 if args.quick else 15)

    with scratch("atelier-board-bench-", keep=args.keep) as work:
        return _run(work, open_jobs, finished, runs, query_runs, args)


def _run(work: Path, open_jobs: int, finished: int, runs: int, query_runs: int, args) -> int:
    print("Atelier board benchmark", "(quick)" if args.quick else "",
          time.strftime("%Y-%m-%d %H:%M"))
    print(machine_line())
    print(code_line(MEASURED))
    paths = {"A": work / "a.duckdb", "B": work / "b.duckdb"}
    t0 = time.perf_counter()
    b = build_b(paths["B"], work / "export.csv", open_jobs, finished)
    a = build_a(paths["A"], paths["B"])
    bc, ac = b["counts"], a["counts"]
    print(f"built in {time.perf_counter() - t0:.0f} s (export {b['timings']['export_s']:.0f} s, "
          f"import {b['timings']['import_s']:.0f} s, states {b['timings']['states_s']:.1f} s)"
          f" in {work}")
    print(f"A: {ac['open']:,} open jobs, {ac['orders']:,} orders, {ac['history']:,} history rows,"
          f" {ac['audit']:,} audit rows")
    print(f"B: {bc.get('open', 0):,} open + {bc.get('finished', 0):,} finished jobs, "
          f"{bc['orders']:,} orders, {bc['history']:,} history rows, {bc['audit']:,} audit rows")

    q = time_board_jobs(paths, query_runs)
    staff_ids = {"A": a["manager_id"], "B": b["manager_id"]}
    p = time_board_page(paths, staff_ids, runs, args.profile)
    e = time_exports(paths, 3)

    print()
    for k in paths:
        s = p["shown"][k]
        print(f"page on {k}: title {s['title']}, {s['cards']} job cards; caption: "
              f"{s['caption'][:110]}")
    print(f"board_jobs rows: A {q['rows']['A']:,}, B {q['rows']['B']:,}")
    print(f"first (warm-up) page run: A {p['first']['A']:.2f} s, B {p['first']['B']:.2f} s\n")

    def row(label: str, a_times: list[float], b_times: list[float]) -> list[str]:
        (ab, am), (bb, bm) = best_median(a_times), best_median(b_times)
        return [label, f"{ab:.3f}", f"{am:.3f}", f"{bb:.3f}", f"{bm:.3f}", f"{bb / ab:.2f}x",
                f"{bm / am:.2f}x"]

    pt = p["times"]
    rows = [row(f"board page script run (AppTest), N={runs}", pt["A"], pt["B"])]
    if "A stubbed" in pt:
        rows.append(row("  same, CSV/Excel export builders stubbed", pt["A stubbed"],
                        pt["B stubbed"]))
    rows.append(row(f"storage.queries.board_jobs, N={query_runs}", q["times"]["A"],
                    q["times"]["B"]))
    if e:
        rows.append(row("to_xlsx_bytes(board frame), N=3", e["xlsx"]["A"], e["xlsx"]["B"]))
        rows.append(row("to_csv_bytes(board frame), N=3", e["csv"]["A"], e["csv"]["B"]))
    print(table(rows, ["seconds", "A best", "A median", "B best", "B median", "B/A best",
                       "B/A median"]))
    ratio = min(pt["B"]) / min(pt["A"])
    print(f"\ntarget: page B/A <= {TARGET_RATIO}x, judged on best-of-N (the least disturbed by "
          f"other load): {ratio:.2f}x, {verdict(ratio <= TARGET_RATIO)}; "
          f"median {best_median(pt['B'])[1] / best_median(pt['A'])[1]:.2f}x")
    if "A stubbed" in pt:
        share = 1 - min(pt["A stubbed"]) / min(pt["A"])
        print(f"stubbing the CSV/Excel export builders saves {share:.0%} of the page's best "
              f"time on A ({min(pt['A']):.2f} s as is, {min(pt['A stubbed']):.2f} s stubbed)")
    if p["profile"]:
        print(p["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
