"""What every page shares: the process's database connection, this run's cursor, the person
at the screen, and small display helpers. Not a page itself (st.navigation lists the pages).
"""

from __future__ import annotations

import inspect
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import streamlit as st

from pages import dispatcher_runtime
from storage import db, queries
from storage.unit_of_work import UnitOfWork
from workflow.errors import AtelierError, DatabaseBusy
from workflow.lifecycle import STAGES
from workflow.model import Actor
from workflow.services import actor_for

JOB_PAGE = "pages/job.py"
# Flags on job cards and titles, as Material Symbols (they come with Streamlit's fonts).
RUSH_ICON = ":material/local_fire_department:"
OVERDUE_ICON = ":material/schedule:"
BOARD_PAGE = "pages/board.py"


@st.cache_resource(show_spinner=False, on_release=dispatcher_runtime.stop)
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    # One connection per process (GUIDE.md §3); every script run takes a cursor of it.
    # The message dispatcher's thread lives as long as this connection (issue 4).
    con = db.connect(path)
    dispatcher_runtime.start(con, path)
    return con


def process_connection() -> duckdb.DuckDBPyConnection:
    """The process's connection, for work that runs outside this script run (a download's
    callable runs on another thread, without the session): take a `db.cursor` of it there."""
    return _connection(str(database_file()))


def database_file() -> Path:
    return db.database_path()


def files_dir() -> Path:
    """Where design files are kept: `files/` beside the database file (data/files by default)."""
    return database_file().parent / "files"


def open_cursor() -> duckdb.DuckDBPyConnection:
    """This script run's cursor; shows the remedy and stops when another program holds the
    database file."""
    try:
        con = _connection(str(database_file()))
    except DatabaseBusy as exc:
        st.error(str(exc))
        st.stop()
    previous = st.session_state.get("_cursor")
    if previous is not None:
        try:
            previous.close()
        except duckdb.Error:
            pass
    cur = db.cursor(con)
    st.session_state["_cursor"] = cur
    return cur


ENTRY_SCRIPT = "streamlit_app.py"


def mark_entry() -> None:
    """Called by streamlit_app.py on every run: this session goes through the entry script."""
    st.session_state["_entry_ran"] = True


def ensure_entry() -> None:
    """Send a page run without the entry script back through it, keeping where it was going.

    Until some session has run `st.navigation`, Streamlit treats the `pages/` folder the old
    way: a first visit to /job?job=J-0042 on a fresh server runs pages/job.py alone (no
    sign-in, no page list). Remember the page and its query, and go through the entry.
    """
    if st.session_state.get("_entry_ran"):
        return
    here = Path(__file__).resolve().parent
    page = next((Path(f.filename) for f in inspect.stack()
                 if Path(f.filename).resolve().parent == here
                 and Path(f.filename).name not in ("common.py", "__init__.py")), None)
    if page is not None:
        st.session_state["_return_to"] = {"page": f"pages/{page.name}",
                                          "query": st.query_params.to_dict()}
    st.switch_page(ENTRY_SCRIPT)


def return_to_requested_page() -> None:
    """In the entry script, once the page list is built: finish a redirect by ensure_entry."""
    target = st.session_state.pop("_return_to", None)
    if target:
        st.switch_page(target["page"], query_params=target["query"] or None)


def cursor() -> duckdb.DuckDBPyConnection:
    """The cursor opened for this run by the entry script (or a new one)."""
    ensure_entry()
    cur = st.session_state.get("_cursor")
    return cur if cur is not None else open_cursor()


def uow() -> UnitOfWork:
    """A new unit of work on this run's cursor, for one service call."""
    return UnitOfWork(cursor())


def current_actor() -> Actor | None:
    """The staff member picked on entry, or None before anyone has been picked."""
    staff_id = st.session_state.get("staff_id")
    if staff_id is None:
        return None
    try:
        return actor_for(cursor(), int(staff_id))
    except AtelierError:
        st.session_state.pop("staff_id", None)
        return None


def staff_picker(key: str) -> bool:
    """"Who's at the screen?": a staff list and Continue. True on the run Continue was
    pressed (the staff id is then in the session). Shows nothing when there is no staff."""
    staff = queries.staff(cursor())
    if staff.empty:
        return False
    labels = {int(r.id): f"{r.name} — {r.role.replace('_', ' ')}" for r in staff.itertuples()}
    ids = list(labels)
    current = st.session_state.get("staff_id")
    choice = st.selectbox("I am", ids, format_func=labels.get, key=f"{key}_pick",
                          index=ids.index(current) if current in ids else 0)
    if st.button("Continue", type="primary", key=f"{key}_continue"):
        st.session_state["staff_id"] = int(choice)
        return True
    return False


def require_actor() -> Actor:
    """The person at the screen; when nobody is picked yet, ask here and stop the page, so a
    bookmarked page (a job envelope's QR code) opens after the question."""
    actor = current_actor()
    if actor is None:
        st.subheader("Who's at the screen?")
        if staff_picker("inline_sign_in"):
            st.rerun()  # the same page again, its URL and query kept
        if queries.staff(cursor()).empty:
            st.page_link("pages/sign_in.py", label="Set up the shop first")
        st.stop()
    return actor


def shop_tz() -> str:
    return queries.setting(cursor(), "shop_tz")


def local_time(ts, fmt: str = "%d %b %Y %H:%M") -> str:
    """A stored UTC instant shown in the shop's zone; "" for none."""
    if ts is None or (isinstance(ts, float) and pd.isna(ts)) or ts is pd.NaT:
        return ""
    if not isinstance(ts, datetime):
        ts = pd.Timestamp(ts).to_pydatetime()
    return ts.astimezone(ZoneInfo(shop_tz())).strftime(fmt)


def stage_label(state: str | None) -> str:
    return STAGES.get(state or "", state or "")


# The board export's columns, with the headers a spreadsheet reader sees.
JOB_EXPORT_HEADERS = {"job_number": "Job", "state": "Stage", "piece": "Piece",
                      "quantity": "Pieces", "customer": "Customer", "email": "Email",
                      "order_name": "Order", "promised_date": "Promised",
                      "days_in_stage": "Days in stage", "rush": "Rush", "overdue": "Overdue",
                      "assignee": "Assignee"}


def jobs_for_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Board rows as a spreadsheet reader wants them: stage names, yes/no, plain headers, the
    promised date as a date (not a time at midnight), only `JOB_EXPORT_HEADERS`' columns."""
    yes_no = {True: "yes", False: "no"}
    out = frame.assign(state=frame["state"].map(STAGES), rush=frame["rush"].map(yes_no),
                       overdue=frame["overdue"].map(yes_no),
                       promised_date=pd.to_datetime(frame["promised_date"]).dt.date)
    return out[list(JOB_EXPORT_HEADERS)].rename(columns=JOB_EXPORT_HEADERS)


def money(amount, currency: str) -> str:
    if amount is None:
        return ""
    return f"{currency} {amount:,.2f}"


def open_job(job_number: str) -> None:
    """Go to the job page for `job_number` (it stays in the URL, so it can be bookmarked)."""
    st.switch_page(JOB_PAGE, query_params={"job": job_number})


def show_error(exc: Exception) -> None:
    st.error(str(exc))


def show_flash(key: str) -> None:
    """Show (once) the message the last action left under `key`."""
    flash = st.session_state.pop(key, None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(flash[1])


def run_action(action, success: str | None, key: str, *, on_success=None) -> None:
    """Call a service; keep its refusal in plain words (or `success`) under `key` for
    `show_flash`, and rerun so the page shows the result. A database refusal nobody foresaw
    is said plainly too: nothing was saved."""
    try:
        action()
    except AtelierError as exc:
        st.session_state[key] = ("error", str(exc))
    except duckdb.Error as exc:
        st.session_state[key] = ("error", "This could not be saved, and nothing was changed. "
                                 f"The database said: {exc}")
    else:
        if on_success is not None:
            on_success()
        if success:
            st.session_state[key] = ("success", success)
    st.rerun()
