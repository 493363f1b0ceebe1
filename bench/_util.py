"""Helpers shared by the benchmarks: the repository root on sys.path, peak memory, timing,
child processes and a plain text table. Nothing here imports the app."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
RESULT_PREFIX = "BENCH-RESULT "


# --- memory -------------------------------------------------------------------------------------

def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """The process's resident set size now, in MB (0 where /proc is missing)."""
    kb = _status_kb("VmRSS")
    return (kb or 0) / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) of this process (Linux: writing 5 to
    /proc/self/clear_refs). False when it can't be reset: `peak_rss_mb` is then the process's
    lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak RSS in MB since the last `reset_peak_rss` (VmHWM), else the lifetime peak
    (getrusage ru_maxrss)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if platform.system() == "Darwin":  # bytes there
            kb //= 1024
    return kb / 1024


# --- the demo export ----------------------------------------------------------------------------

ROWS_PER_ORDER = 1.48  # about what write_demo_export gives (seed 7): line items per order


def write_export(path: Path, rows: int) -> tuple[int, int, float]:
    """Write a demo Shopify export (connectors.shopify_demo.write_demo_export) of about `rows`
    data rows (= line items = jobs); returns (rows, orders, seconds). Written again, up to
    twice, with a corrected order count while more than 1% off."""
    from connectors.shopify_demo import write_demo_export

    t0 = time.perf_counter()
    orders = max(1, round(rows / ROWS_PER_ORDER))
    written = write_demo_export(path, orders=orders)
    for _ in range(2):
        if abs(written - rows) <= rows * 0.01:
            break
        orders = max(1, round(orders * rows / written))
        written = write_demo_export(path, orders=orders)
    return written, orders, time.perf_counter() - t0


# --- timing -------------------------------------------------------------------------------------

def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def best_median(values: Sequence[float]) -> tuple[float, float]:
    return min(values), statistics.median(values)


def load_average() -> str:
    try:
        one, five, _fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def machine_line() -> str:
    return (f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
            f"load average {load_average()}")


def code_line(paths: Sequence[str]) -> str:
    """Short sha256 of the measured source files, to tie figures to the code they measured
    (the working tree changes under the benchmarks)."""
    import hashlib

    parts = []
    for rel in paths:
        try:
            digest = hashlib.sha256((ROOT / rel).read_bytes()).hexdigest()[:8]
        except OSError:
            digest = "missing"
        parts.append(f"{rel} {digest}")
    return "code: " + ", ".join(parts)


# --- child processes ----------------------------------------------------------------------------

def emit(result: dict) -> None:
    """Print a child's result as one JSON line the parent picks out of its stdout."""
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


def run_child(module: str, args: Sequence[str], *, env: dict | None = None) -> dict:
    """Run ``python -m <module> <args>`` from the repository root in a fresh process and return
    the dict it `emit`s. A fresh process per measurement keeps peak RSS and caches apart."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise RuntimeError(f"{module} {' '.join(args)} failed (exit {proc.returncode}):\n"
                       f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


# --- output -------------------------------------------------------------------------------------

def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A plain text table, first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@contextlib.contextmanager
def scratch(prefix: str, *, keep: bool, env: dict[str, str] | None = None):
    """A temporary folder for one benchmark run, with `env` set for its duration; both are
    restored (the folder removed unless `keep`) afterwards. Yields the folder's Path."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    names = {"ATELIER_DB", *(env or {})}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(env or {})
    try:
        yield work
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
