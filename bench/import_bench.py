"""Shopify import benchmark: Atelier's import of a 100k-row export against DuckDB's read_csv.

Writes a demo "Export orders" CSV with the project's generator
(connectors.shopify_demo.write_demo_export) into a temporary directory, then measures, each
run in a fresh Python process so that peak memory and caches are the run's own:

  (a) baseline: DuckDB's ``CREATE TABLE t AS SELECT * FROM read_csv(path, all_varchar=true)``
      into a fresh database file (+ CHECKPOINT);
  (b) Atelier's import: parse_orders_export(path) + import_orders(UnitOfWork(cursor), parsed,
      actor) into a fresh database file made by storage.db.connect (+ CHECKPOINT);
  (c) re-import of the same file into that database (should write only the batch record);
  (d) for reference, a per-row INSERT loop of the first 5,000 rows into a plain 79-column
      VARCHAR table in one transaction, and of 200 rows with a commit per row, each
      extrapolated to the whole file (run once: it is slow and only a reference).

Prints seconds (best and median of N runs), the ratios import / read_csv and
re-import / import, and the peak RSS of the import. Never asserts timings.

    python -m bench.import_bench --quick      # 10k rows, 1 run
    python -m bench.import_bench              # 100k rows, best of 3
    python -m bench.import_bench --profile    # + where the import's time and memory go
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/import_bench.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import (  # noqa: E402
    MB,
    ROOT,
    best_median,
    code_line,
    emit,
    machine_line,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    run_child,
    table,
    verdict,
    write_export,
)

MODULE = "bench.import_bench"
TARGET_IMPORT_RATIO = 3.0
TARGET_REIMPORT_RATIO = 1.0
TARGET_PEAK_MB = 500.0
MEASURED = ["connectors/shopify.py", "workflow/import_service.py", "storage/migrations.py"]


# --- children: one measurement each, in a fresh process -----------------------------------------

def _sql_text(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def child_readcsv(csv_path: str, db_path: str) -> dict:
    import duckdb

    con = duckdb.connect(db_path)
    base = rss_mb()
    reset_peak_rss()
    c0, t0 = time.process_time(), time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv({_sql_text(csv_path)}, "
                "all_varchar=true)")
    con.execute("CHECKPOINT")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    peak = peak_rss_mb()
    con.close()
    return {"seconds": seconds, "cpu_s": cpu, "rows": rows, "peak_mb": peak, "base_mb": base}


def _table_counts(cur) -> dict[str, int]:
    names = [r[0] for r in cur.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        " AND schema_name = 'main' ORDER BY table_name").fetchall()]
    return {n: cur.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}


def child_import(csv_path: str, db_path: str, trace: bool) -> dict:
    """First import into a fresh file, then the re-import of the same file."""
    import pyarrow as pa

    from connectors.shopify import parse_orders_export
    from storage import db
    from storage.unit_of_work import UnitOfWork
    from workflow.import_service import import_orders
    from workflow.model import SYSTEM_IMPORT

    con = db.connect(db_path)
    cur = db.cursor(con)
    out: dict = {"traced": trace}

    def one(label: str) -> None:
        gc.collect()
        if trace:
            tracemalloc.start()
            tracemalloc.reset_peak()
        base = rss_mb()
        reset_peak_rss()
        c0, t0 = time.process_time(), time.perf_counter()
        parsed = parse_orders_export(csv_path)
        t1 = time.perf_counter()
        summary = import_orders(UnitOfWork(cur), parsed, SYSTEM_IMPORT)
        cur.execute("CHECKPOINT")
        t2, c2 = time.perf_counter(), time.process_time()
        out[label] = {
            "parse_s": t1 - t0, "store_s": t2 - t1, "seconds": t2 - t0, "cpu_s": c2 - c0,
            "peak_mb": peak_rss_mb(), "base_mb": base, "end_mb": rss_mb(),
            "orders": len(parsed.orders), "lines": len(parsed.lines),
            "problems": len(parsed.problems), "summary": summary.sentence(),
        }
        if trace:
            out[label]["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
            tracemalloc.stop()
        del parsed

    one("first")
    out["arrow_pool_peak_mb"] = pa.default_memory_pool().max_memory() / MB
    before = _table_counts(cur)
    one("again")
    after = _table_counts(cur)
    out["tables"] = before
    out["reimport_wrote"] = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    cur.close()
    con.close()
    return out


def child_rowloop(csv_path: str, db_path: str, rows: int, autocommit_rows: int) -> dict:
    """Insert the file's first `rows` rows one INSERT at a time inside one transaction, then
    `autocommit_rows` more with a commit per row, into plain 79-column VARCHAR tables."""
    import duckdb

    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        data = [row for _, row in zip(range(rows), reader, strict=False)]
    con = duckdb.connect(db_path)
    cols = ", ".join(f"c{i} VARCHAR" for i in range(len(header)))
    marks = ", ".join("?" * len(header))
    con.execute(f"CREATE TABLE t ({cols})")
    con.execute(f"CREATE TABLE u ({cols})")
    t0 = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    for row in data:
        con.execute(f"INSERT INTO t VALUES ({marks})", row)
    con.execute("COMMIT")
    one_txn = time.perf_counter() - t0
    some = data[:autocommit_rows]
    t0 = time.perf_counter()
    for row in some:
        con.execute(f"INSERT INTO u VALUES ({marks})", row)  # autocommit: a commit per row
    per_commit = time.perf_counter() - t0
    con.close()
    return {"rows": len(data), "seconds": one_txn, "autocommit_rows": len(some),
            "autocommit_seconds": per_commit}


class _MemorySampler(threading.Thread):
    """Samples RSS every few ms and charges each rise to what the main thread was doing: the
    SQL statement being executed, else the innermost line of app code (not bench/)."""

    def __init__(self, interval: float = 0.003) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.sql: str | None = None
        self.samples: list[tuple[float, str]] = []
        self._stop_event = threading.Event()
        self._main = threading.main_thread().ident

    def _where(self) -> str:
        if self.sql:
            return "SQL " + self.sql[:70]
        frame = sys._current_frames().get(self._main)
        root, bench = str(ROOT) + os.sep, str(ROOT / "bench") + os.sep
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(root) and not name.startswith(bench):
                return (f"{os.path.relpath(name, ROOT)}:{frame.f_lineno}"
                        f" {frame.f_code.co_name}")
            frame = frame.f_back
        return "(outside app code)"

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((rss_mb(), self._where()))
            time.sleep(self.interval)

    def stop(self) -> list[tuple[str, float, float]]:
        """(where, MB of RSS rise charged to it, highest RSS seen there), biggest rise first."""
        self._stop_event.set()
        self.join()
        rise: dict[str, float] = {}
        top: dict[str, float] = {}
        prev = self.samples[0][0] if self.samples else 0.0
        for rss, where in self.samples:
            if rss > prev:
                rise[where] = rise.get(where, 0.0) + rss - prev
            top[where] = max(top.get(where, 0.0), rss)
            prev = rss
        return sorted(((w, r, top[w]) for w, r in rise.items()), key=lambda x: -x[1])


def child_profile(csv_path: str, db_path: str) -> dict:
    """One first import with each SQL statement timed (RSS and DuckDB's own memory figure
    around it), RSS rises charged to lines and statements, and a pyinstrument profile when
    pyinstrument is installed."""
    from connectors.shopify import parse_orders_export
    from storage import db
    from storage.unit_of_work import UnitOfWork
    from workflow.import_service import import_orders
    from workflow.model import SYSTEM_IMPORT

    sampler = _MemorySampler()

    class TimedConnection:
        """Delegates to the cursor; times each execute and reads duckdb_memory() after
        statements that return no rows."""

        def __init__(self, con) -> None:
            self._con = con
            self.log: list[tuple[float, float, float, float, str]] = []

        def execute(self, sql: str, *args):
            head = " ".join(sql.split())
            before = rss_mb()
            sampler.sql = head
            t0 = time.perf_counter()
            try:
                result = self._con.execute(sql, *args)
            finally:
                sampler.sql = None
            seconds = time.perf_counter() - t0
            mem = float("nan")
            if head.startswith(("CREATE", "INSERT", "UPDATE")) and "RETURNING" not in head:
                mem = self._con.execute(
                    "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
                ).fetchall()[0][0] / MB
            self.log.append((seconds, mem, before, rss_mb(), head))
            return result

        def __getattr__(self, name: str):
            return getattr(self._con, name)

    con = db.connect(db_path)
    cur = db.cursor(con)
    timed_con = TimedConnection(cur)
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None  # noqa: N806
    profiler = Profiler(interval=0.001) if Profiler else None
    base = rss_mb()
    reset_peak_rss()
    sampler.start()
    if profiler:
        profiler.start()
    t0 = time.perf_counter()
    parsed = parse_orders_export(csv_path)
    t1 = time.perf_counter()
    parse_peak = peak_rss_mb()
    import_orders(UnitOfWork(timed_con), parsed, SYSTEM_IMPORT)
    t2 = time.perf_counter()
    text = ""
    if profiler:
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False)
    rises = sampler.stop()
    statements = [{"seconds": s, "duckdb_mb": m, "rss_before": b, "rss_after": a,
                   "sql": q[:88]} for s, m, b, a, q in timed_con.log]
    return {"parse_s": t1 - t0, "store_s": t2 - t1, "statements": statements,
            "base_mb": base, "parse_peak_mb": parse_peak, "peak_mb": peak_rss_mb(),
            "rises": rises[:14],
            "pyinstrument": text or "(pyinstrument not installed: pip install pyinstrument)"}


# --- the parent ---------------------------------------------------------------------------------

def _fmt(seconds: float) -> str:
    return f"{seconds:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k rows, 1 run")
    ap.add_argument("--rows", type=int, help="rows in the export (default 100,000; quick 10,000)")
    ap.add_argument("--runs", type=int, help="best of N runs (default 3; quick 1)")
    ap.add_argument("--loop-rows", type=int,
                    help="rows for the per-row INSERT loop (default 5,000; quick 1,000)")
    ap.add_argument("--autocommit-rows", type=int,
                    help="rows for the commit-per-row loop (default 200; quick 100)")
    ap.add_argument("--profile", action="store_true",
                    help="also profile one import: SQL statements and pyinstrument")
    ap.add_argument("--no-trace", action="store_true",
                    help="skip the extra (untimed) tracemalloc run for Python's share of memory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--child", choices=["readcsv", "import", "rowloop", "profile"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child == "readcsv":
        emit(child_readcsv(args.csv, args.db))
        return 0
    if args.child == "import":
        emit(child_import(args.csv, args.db, args.trace))
        return 0
    if args.child == "rowloop":
        emit(child_rowloop(args.csv, args.db, args.loop_rows, args.autocommit_rows))
        return 0
    if args.child == "profile":
        emit(child_profile(args.csv, args.db))
        return 0

    rows_wanted = args.rows or (10_000 if args.quick else 100_000)
    runs = args.runs or (1 if args.quick else 3)
    args.loop_rows = args.loop_rows or (1_000 if args.quick else 5_000)
    args.autocommit_rows = args.autocommit_rows or (100 if args.quick else 200)
    work = Path(tempfile.mkdtemp(prefix="atelier-import-bench-"))
    try:
        return _run(work, rows_wanted, runs, args)
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, rows_wanted: int, runs: int, args) -> int:
    print("Atelier import benchmark", "(quick)" if args.quick else "",
          time.strftime("%Y-%m-%d %H:%M"))
    print(machine_line())
    print(code_line(MEASURED))
    export = work / "orders_export.csv"
    rows, orders, gen_s = write_export(export, rows_wanted)
    print(f"export: {rows:,} rows, {orders:,} orders, {export.stat().st_size / MB:.1f} MB "
          f"(written in {gen_s:.1f} s) in {work}")
    print(f"runs: {runs} (each measurement in a fresh process)\n")

    csv_arg = ["--csv", str(export)]
    base, base_peak, first, again, imports, cpu = [], [], [], [], [], []
    for i in range(runs):
        r = run_child(MODULE, ["--child", "readcsv", *csv_arg, "--db", str(work / f"r{i}.db")])
        base.append(r["seconds"])
        base_peak.append((r["peak_mb"], r["base_mb"]))
        m = run_child(MODULE, ["--child", "import", *csv_arg, "--db", str(work / f"a{i}.db")])
        imports.append(m)
        first.append(m["first"]["seconds"])
        again.append(m["again"]["seconds"])
        cpu.append((r["cpu_s"], m["first"]["cpu_s"], m["again"]["cpu_s"]))
        print(f"run {i + 1}: read_csv {r['seconds']:.2f} s, import {m['first']['seconds']:.2f} s"
              f" (parse {m['first']['parse_s']:.2f} + store {m['first']['store_s']:.2f}),"
              f" re-import {m['again']['seconds']:.2f} s; this run's import / read_csv "
              f"{m['first']['seconds'] / r['seconds']:.2f}x")
        for f in work.glob("*.db*"):
            f.unlink()

    best_run = min(imports, key=lambda m: m["first"]["seconds"])
    b_best, b_med = best_median(base)
    f_best, f_med = best_median(first)
    a_best, a_med = best_median(again)
    lp = run_child(MODULE, ["--child", "rowloop", *csv_arg, "--db", str(work / "loop.db"),
                            "--loop-rows", str(args.loop_rows),
                            "--autocommit-rows", str(args.autocommit_rows)])
    loop_s = lp["seconds"] / lp["rows"] * rows
    auto_s = lp["autocommit_seconds"] / lp["autocommit_rows"] * rows
    parse_best = best_run["first"]["parse_s"]  # the split of the best run
    store_best = best_run["first"]["store_s"]
    cpu_base, cpu_first, cpu_again = (min(c[i] for c in cpu) for i in range(3))
    print(f"CPU seconds (all threads; less disturbed by other load than wall time), best of "
          f"{runs}: read_csv {cpu_base:.2f}, import {cpu_first:.2f} "
          f"({cpu_first / cpu_base:.2f}x), re-import {cpu_again:.2f} "
          f"({cpu_again / cpu_first:.2f}x of the import)")
    print(f"per-row loops: {lp['rows'] / lp['seconds']:.0f} rows/s in one transaction, "
          f"{lp['autocommit_rows'] / lp['autocommit_seconds']:.0f} rows/s with a commit per row"
          " (79 VARCHAR parameters per row); extrapolated to the whole file below.")
    print()
    print(table([
        ["(a) DuckDB read_csv -> table (baseline)", _fmt(b_best), _fmt(b_med), "1.00"],
        ["(b) Atelier import: parse + import_orders", _fmt(f_best), _fmt(f_med),
         f"{f_best / b_best:.2f}"],
        ["      of which parse_orders_export", _fmt(parse_best), "", f"{parse_best / b_best:.2f}"],
        ["      of which import_orders (+CHECKPOINT)", _fmt(store_best), "",
         f"{store_best / b_best:.2f}"],
        ["(c) re-import of the same file", _fmt(a_best), _fmt(a_med), f"{a_best / b_best:.2f}"],
        [f"(d) per-row INSERT loop, one transaction ({lp['rows']:,} rows, run once)",
         f"~{loop_s:.0f}", "", f"~{loop_s / b_best:.0f}"],
        [f"    per-row INSERT, a commit per row ({lp['autocommit_rows']:,} rows, run once)",
         f"~{auto_s:.0f}", "", f"~{auto_s / b_best:.0f}"],
    ], ["measure", "best s", "median s", "x read_csv"]))

    peak = max(m["first"]["peak_mb"] for m in imports)
    peak_again = max(m["again"]["peak_mb"] for m in imports)
    base_mb = best_run["first"]["base_mb"]
    arrow_mb = max(m["arrow_pool_peak_mb"] for m in imports)
    import_ratio = f_best / b_best
    reimport_ratio = a_best / f_best
    print()
    print(table([
        ["import / read_csv", f"{import_ratio:.2f}x", f"<= {TARGET_IMPORT_RATIO:.0f}x",
         verdict(import_ratio <= TARGET_IMPORT_RATIO)],
        ["re-import / import", f"{reimport_ratio:.2f}x", f"<= {TARGET_REIMPORT_RATIO:.0f}x",
         verdict(reimport_ratio <= TARGET_REIMPORT_RATIO)],
        ["peak RSS of the import process", f"{peak:.0f} MB", f"< {TARGET_PEAK_MB:.0f} MB",
         verdict(peak < TARGET_PEAK_MB)],
        ["per-row loop / read_csv (reference)", f"~{loop_s / b_best:.0f}x", "", ""],
    ], ["figure", "measured", "target", ""]))
    print(f"\nmemory: peak RSS {peak:.0f} MB during the first import (the process was at "
          f"{base_mb:.0f} MB before it: modules loaded, database open; +{peak - base_mb:.0f} MB"
          f" for parse + import); Arrow memory pool peak {arrow_mb:.0f} MB; re-import peak "
          f"{peak_again:.0f} MB; the read_csv baseline's process peaked at "
          f"{max(base_peak)[0]:.0f} MB (from {max(base_peak)[1]:.0f} MB).")
    if not args.no_trace:
        t = run_child(MODULE, ["--child", "import", *csv_arg, "--db", str(work / "t.db"),
                               "--trace"])
        print(f"Python objects (tracemalloc, extra untimed run): peak "
              f"{t['first']['python_peak_mb']:.0f} MB in the first import, "
              f"{t['again']['python_peak_mb']:.0f} MB in the re-import; the rest of the RSS is "
              "Arrow buffers, DuckDB and allocator caches.")

    first_run = best_run["first"]
    print(f"\nfirst import: {first_run['summary']}")
    print(f"re-import:    {best_run['again']['summary']}")
    wrote = best_run["reimport_wrote"]
    only_batch = set(wrote) == {"import_batch"} and wrote["import_batch"] == 1
    print("re-import wrote: " + (", ".join(f"{t} +{n}" for t, n in sorted(wrote.items()))
                                 or "nothing")
          + ("  (only the batch record, as intended)" if only_batch
             else "  (EXPECTED only import_batch +1)"))
    print("rows after the first import: "
          + ", ".join(f"{t} {n:,}" for t, n in best_run["tables"].items() if n))

    if args.profile:
        _print_profile(run_child(MODULE, ["--child", "profile", *csv_arg,
                                          "--db", str(work / "p.db")]))
    return 0


def _print_profile(p: dict) -> None:
    print(f"\n--- profile of one first import: parse {p['parse_s']:.2f} s, "
          f"import_orders {p['store_s']:.2f} s (timings inflated by the instruments) ---")
    stmts = p["statements"]
    total = sum(s["seconds"] for s in stmts)
    print(f"SQL statements in import_orders: {len(stmts)}, {total:.2f} s in all; the slowest "
          "(DuckDB MB: duckdb_memory() after the statement):")
    rows = [[s["sql"][:72], f"{s['seconds']:.3f}",
             "" if s["duckdb_mb"] != s["duckdb_mb"] else f"{s['duckdb_mb']:.0f}",
             f"{s['rss_before']:.0f} -> {s['rss_after']:.0f}"]
            for s in sorted(stmts, key=lambda s: -s["seconds"])[:12]]
    print(table(rows, ["statement", "s", "DuckDB MB", "RSS MB"]))
    print(f"\nmemory: RSS {p['base_mb']:.0f} MB before, peak {p['parse_peak_mb']:.0f} MB by the "
          f"end of parse_orders_export, peak {p['peak_mb']:.0f} MB overall. RSS rises charged "
          "to what was running (sampled every 3 ms):")
    print(table([[w[:92], f"+{r:.0f}", f"{top:.0f}"] for w, r, top in p["rises"]],
                ["running", "MB", "RSS up to"]))
    print("\npyinstrument:")
    print(p["pyinstrument"])


if __name__ == "__main__":
    sys.exit(main())
