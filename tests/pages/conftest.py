"""Page-test fixtures: the real app under Streamlit's AppTest, on a real DuckDB file per test.

Each test gets its own database path (`pages.common._connection` is cached per path with
`st.cache_resource`; the cache is cleared after each test). The slow set-ups, the EUR sample shop
and the 400-order demo shop, are built once per session and copied for each test. Helpers and
the reason for `navigation_mode_like_a_running_server` are in `support.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module

from pages import common
from tests.pages.support import (
    EUR_SAMPLE,
    NavigationOnlyPagesManager,
    Shop,
    build_eur_shop,
    copy_database,
    new_app,
    run_ok,
)


@pytest.fixture(autouse=True)
def navigation_mode_like_a_running_server(monkeypatch):
    monkeypatch.setattr(app_test_module, "PagesManager", NavigationOnlyPagesManager)


@pytest.fixture(scope="session")
def eur_template(tmp_path_factory, samples_dir) -> Path:
    """Staff plus the EUR sample export imported (`samples_dir` is tests/conftest.py's)."""
    path = tmp_path_factory.mktemp("eur_template") / "atelier.duckdb"
    # The sample's unfulfilled made-to-order lines are the open jobs the tests work on (which
    # lines become jobs is the import's business: the tests read them from the database).
    open_jobs = build_eur_shop(path, samples_dir / EUR_SAMPLE)
    assert len(open_jobs) >= 3, f"the EUR sample gave only {open_jobs} as open jobs"
    return path


@dataclass
class DemoClick:
    """What "Load demo data" did, clicked once per session on an empty database."""

    path: Path        # the database file it filled (closed; copy it, don't change it)
    at: AppTest       # the browser session right after the click (inspect only, don't run)


@pytest.fixture(scope="session")
def demo_click(tmp_path_factory) -> DemoClick:
    """Click "Load demo data" on an empty database, through the page, once per session.

    It is the slowest step of the suite (the 400-order demo shop), so its database is also the
    template of `demo_shop`. The design files it wrote stay beside it (their paths are stored).
    """
    path = tmp_path_factory.mktemp("demo") / "atelier.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_test_module, "PagesManager", NavigationOnlyPagesManager)
        mp.setenv("ATELIER_DB", str(path))
        mp.setenv("ATELIER_DISPATCHER", "off")
        at = run_ok(new_app())
        at.button(key="load_demo").click().run()
        # Write everything into the file, then let the app's connection go.
        with Shop(path).cursor() as cur:
            cur.execute("CHECKPOINT")
            staff = cur.execute("SELECT count(*) FROM staff").fetchone()[0]
        cursor = at.session_state["_cursor"] if "_cursor" in at.session_state else None
        if cursor is not None:
            cursor.close()
        common._connection.clear()
    if staff == 0:
        pytest.fail('"Load demo data" left the database empty: '
                    + "; ".join(str(e.value) for e in at.exception))
    return DemoClick(path, at)


@pytest.fixture
def app_db(tmp_path, monkeypatch) -> Iterator[Path]:
    """This test's database path, handed to the app through ATELIER_DB.

    The app's background message dispatcher is switched off: it would send the outbox's
    messages while a test counts rows (its own tests are elsewhere).
    """
    path = tmp_path / "atelier.duckdb"
    monkeypatch.setenv("ATELIER_DB", str(path))
    monkeypatch.setenv("ATELIER_DISPATCHER", "off")
    yield path
    common._connection.clear()  # drop the app's cached connection to this test's file


@pytest.fixture
def empty_shop(app_db) -> Shop:
    return Shop(app_db)


@pytest.fixture
def eur_shop(app_db, eur_template) -> Shop:
    """The EUR sample imported, with staff: Mara (manager), Ben and Bea (bench jewelers),
    Dev (designer), Sol (sales)."""
    copy_database(eur_template, app_db)
    return Shop(app_db)


@pytest.fixture
def open_job_numbers(eur_shop) -> list[str]:
    """The EUR shop's open jobs (imported, `new`, needing a design), in number order."""
    numbers = eur_shop.open_jobs()
    assert all(eur_shop.job(n)["state"] == "new" for n in numbers)
    return numbers


@pytest.fixture
def demo_shop(app_db, demo_click) -> Shop:
    """The demo shop as "Load demo data" made it (manager: Rosa Marquez)."""
    copy_database(demo_click.path, app_db)
    return Shop(app_db)
