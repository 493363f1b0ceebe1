"""Browser-test fixtures: the real app as a subprocess on a free loopback port, and a Playwright
page driving Debian's Chromium (GUIDE.md §6; Playwright's own browser download is not used).

Nothing here reaches the internet: Streamlit listens on 127.0.0.1 with usage stats off, and
Chromium runs with background networking, component updates and sync switched off.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
NO_CHROMIUM = "Debian chromium not installed at /usr/bin/chromium: apt-get install chromium"
HEALTH_TIMEOUT_S = 60
# Screenshots meant for humans (the final board and job) are copied here.
HUMAN_SHOTS = Path("/tmp/atelier-shots")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200 and resp.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class AppServer:
    """The running app: its URL, its database file, and a way to stop it early (DuckDB lets
    one process hold the file, so a test reads the database only after `stop()`)."""

    url: str
    db_path: Path
    proc: subprocess.Popen
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def stderr_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's outcome on the test item, so fixtures can tell a failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _failed(request) -> bool:
    return any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False)
               for w in ("setup", "call"))


@pytest.fixture
def app_server(tmp_path: Path, request) -> Iterator[AppServer]:
    """Start `streamlit run streamlit_app.py` on an empty database in `tmp_path`; yield it once
    /_stcore/health answers ok; stop the process group at the end (printing its stderr when
    the test failed)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    db_path = tmp_path / "atelier.duckdb"
    log_path = tmp_path / "streamlit.stderr.log"
    env = {**os.environ, "ATELIER_DB": str(db_path), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
           "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           # Others edit the code while tests run: no "File change, rerun?" mid-test.
           "--server.fileWatcherType", "none"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log,
                                start_new_session=True)
    server = AppServer(url=url, db_path=db_path, proc=proc, log_path=log_path)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode} before answering "
                            f"/_stcore/health:\n{server.stderr_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer {url}/_stcore/health within "
                            f"{HEALTH_TIMEOUT_S} s:\n{server.stderr_text()}")
            time.sleep(0.25)
        yield server
    finally:
        server.stop()
        if _failed(request):
            print(f"\n--- streamlit stderr ({log_path}) ---\n{server.stderr_text()}")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright; skipped (or failed in CI) when it is absent."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("ATELIER_REQUIRE_BROWSER") == "1":
            pytest.fail(NO_CHROMIUM)
        pytest.skip(NO_CHROMIUM)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, app_server: AppServer, tmp_path: Path, request):
    """A fresh browser tab on the app (a new Streamlit session); a screenshot of the last
    state is kept in `tmp_path` when the test fails."""
    context = browser.new_context(viewport={"width": 1600, "height": 1100})
    # Belt and braces: the tab may talk to the app on loopback only.
    context.route("**/*", lambda route: route.continue_()
                  if route.request.url.startswith(app_server.url)
                  or route.request.url.startswith(("data:", "blob:"))
                  else route.abort())
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        if _failed(request):
            try:
                pg.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"\nfailure screenshot: {tmp_path / 'failure.png'}")
            except Exception as exc:  # the page may be gone; the report matters more
                print(f"\n(no failure screenshot: {exc})")
        context.close()
