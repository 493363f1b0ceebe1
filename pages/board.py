"""The board: open jobs by stage, most urgent first, with filters and search."""

import streamlit as st

from connectors.spreadsheet_export import to_csv_bytes, to_xlsx_bytes
from pages import common
from storage import queries
from workflow.lifecycle import OPEN_STATES, STAGES

PAGE_SIZE = 8

common.require_actor()
cur = common.cursor()
tz = common.shop_tz()
st.title("Board")
if "flash" in st.session_state:
    st.success(st.session_state.pop("flash"))

staff = queries.staff(cur)
with st.container(border=True):
    c1, c2, c3 = st.columns([3, 2, 3])
    search = c1.text_input("Search", placeholder="Order #, customer name or email, job number",
                           key="board_search")
    stage_options = list(STAGES)
    stages = c3.multiselect("Stages", stage_options, format_func=STAGES.get,
                            key="board_stages", placeholder="All open stages")
    staff_ids = [None] + [int(i) for i in staff["id"]]
    names = dict(zip(staff["id"].astype(int), staff["name"], strict=True))
    assignee = c2.selectbox("Assignee", staff_ids, key="board_assignee",
                            format_func=lambda i: "Anyone" if i is None else names[i])
    f1, f2, f3, _ = st.columns([1, 1, 1, 4])
    overdue = f1.toggle("Overdue", key="board_overdue")
    this_week = f2.toggle("Due this week", key="board_week")
    rush = f3.toggle("Rush", key="board_rush")

flt = queries.BoardFilter(stages=tuple(stages), assignee_id=assignee, overdue=overdue,
                          due_this_week=this_week, rush=rush, search=search)
jobs = queries.board_jobs(cur, flt, tz)
columns_wanted = [s for s in (stages or OPEN_STATES)]
counts = jobs.groupby("state").size().to_dict() if not jobs.empty else {}
today = queries.today(cur, tz)
st.caption(f"{len(jobs)} job{'' if len(jobs) == 1 else 's'} shown · open work by stage: "
           + " · ".join(f"{STAGES[s]} {n}" for s, n in queries.stage_counts(cur).items()))

if not jobs.empty:
    e1, e2, _ = st.columns([1, 1, 6])
    # Files are built only when a button is pressed (a callable), not on every rerun.
    e1.download_button("Export CSV",
                       lambda: to_csv_bytes(common.jobs_for_people(jobs)),
                       file_name="jobs.csv", mime="text/csv", key="board_csv")
    e2.download_button("Export Excel",
                       lambda: to_xlsx_bytes(common.jobs_for_people(jobs), "Jobs"),
                       file_name="jobs.xlsx", key="board_xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
if jobs.empty:
    st.info("No jobs match these filters." if (search or stages or assignee or overdue
                                                 or this_week or rush)
            else "No open jobs. Add a walk-in order or import a Shopify export.")

cols = st.columns(len(columns_wanted)) if columns_wanted else []
for col, state in zip(cols, columns_wanted, strict=True):
    in_stage = jobs[jobs["state"] == state] if not jobs.empty else jobs
    with col:
        st.markdown(f"**{STAGES[state]}** · {counts.get(state, 0)}")
        shown = st.session_state.get(f"board_more_{state}", PAGE_SIZE)
        for job in in_stage.head(shown).itertuples():
            with st.container(border=True):
                # Material Symbols come with Streamlit's fonts; emoji need the machine's
                # (a browser without an emoji font showed empty boxes)
                flags = (f"{common.RUSH_ICON} " if job.rush else "") + (
                    f"{common.OVERDUE_ICON} " if job.overdue else "")
                if st.button(f"{flags}{job.job_number}", key=f"open_{job.id}",
                             width="stretch"):
                    common.open_job(job.job_number)
                times = f" **× {job.quantity}**" if job.quantity > 1 else ""
                st.markdown(f"{job.piece}{times}  \n{job.customer or '—'} · {job.order_name}")
                promised = "no date"
                if job.promised_date:
                    same_year = job.promised_date.year == today.year
                    promised = job.promised_date.strftime("%d %b" if same_year else "%d %b %Y")
                extra = f" · from {STAGES.get(job.held_from, '')}" if job.held_from else ""
                st.caption(f"Due {promised} · {job.days_in_stage} d in stage{extra}"
                           f" · {job.assignee or 'unassigned'}")
                if job.cancelled_in_shopify and state not in ("cancelled", "completed"):
                    st.caption(":red[Cancelled or refunded in Shopify: decide]")
        if len(in_stage) > shown:
            if st.button(f"Show more ({len(in_stage) - shown})", key=f"more_{state}"):
                st.session_state[f"board_more_{state}"] = shown + PAGE_SIZE
                st.rerun()
