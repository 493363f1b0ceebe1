"""Cycle count: count one stock location and/or one category against the records.

The counter scans each item's label (a USB barcode scanner types the code and Enter into the
"Scan or type" field, which submits it) and enters the weight of metal or the pieces of melee
and findings; the sheet shows expected against counted as it goes. Posting asks for a reason
when something is off, counts what nobody scanned as missing, and posts each variance to the
ledger as a count adjustment; the accuracy figure moves with it.
"""

import streamlit as st

from pages import common
from storage import inventory_queries as invq
from workflow import inventory_services as inv
from workflow.errors import AtelierError
from workflow.inventory import CATEGORY_LABELS, Category, fmt_qty

actor = common.require_actor()
cur = common.cursor()
st.title("Cycle count")
flash = st.session_state.pop("count_flash", None)
if flash:
    (st.error if flash[0] == "error" else
     st.warning if flash[0] == "warning" else st.success)(flash[1])

acc = invq.accuracy(cur)
st.caption("Inventory accuracy: "
           + (f"**{acc['pct']}%** of {acc['lines']} count lines matched over the last "
              f"{acc['counts']} counts." if acc["pct"] is not None else "no counts posted yet."))

locations = invq.locations(cur, stock_only=True)
loc_names = dict(zip(locations["code"], locations["name"], strict=True))
open_counts = invq.open_counts(cur)

with st.expander("Start a count", expanded=open_counts.empty):
    with st.form("count_start"):
        c1, c2 = st.columns(2)
        where = c1.selectbox("Where", [None, *loc_names], key="count_where",
                             format_func=lambda c: "All stock locations" if c is None
                             else loc_names[c])
        what = c2.selectbox("What", [None, *[c.value for c in Category]], key="count_what",
                            format_func=lambda c: "Everything" if c is None
                            else CATEGORY_LABELS[c])
        if st.form_submit_button("Start counting"):
            try:
                new_id = inv.start_count(common.uow(), actor, location=where, category=what)
            except AtelierError as exc:
                st.session_state["count_flash"] = ("error", str(exc))
            else:
                st.session_state["count_id"] = new_id
                st.session_state["count_flash"] = ("success", f"Count #{new_id} started: scan "
                                                   "the first item.")
            st.rerun()

if open_counts.empty:
    st.info("No count in progress.")
else:
    ids = [int(i) for i in open_counts["id"]]
    labels = {int(r.id): f"#{r.id} · {r.where} · {CATEGORY_LABELS.get(r.category, 'everything')}"
              f" · started by {r.started_by}" for r in open_counts.itertuples()}
    current = st.session_state.get("count_id")
    count_id = st.selectbox("Count in progress", ids, format_func=labels.get, key="count_pick",
                            index=ids.index(current) if current in ids else 0)

    with st.form("count_scan", clear_on_submit=True):
        st.caption("Stones: scan the label. Metal, melee and findings: type the weight or the "
                   "pieces first, then scan (the scanner's Enter counts it).")
        c1, c2 = st.columns([1, 3])
        qty = c1.text_input("Grams or pieces (not for stones)", key="count_qty")
        scanned = c2.text_input("Scan or type the item code", key="count_code",
                                placeholder="scan the label: S-0012")
        if st.form_submit_button("Count it"):
            try:
                line = inv.record_count(common.uow(), count_id, scanned, actor,
                                        quantity=qty or None)
            except AtelierError as exc:
                st.session_state["count_flash"] = ("error", str(exc))
            else:
                text = (f"{line['name']}: counted {fmt_qty(line['counted'], line['unit'])}, "
                        f"records say {fmt_qty(line['expected'], line['unit'])}.")
                if line["again"] and line["stone"]:
                    text = f"{line['name']} was already counted."
                kind = "success" if line["counted"] == line["expected"] else "warning"
                st.session_state["count_flash"] = (kind, text)
            st.rerun()

    sheet = invq.count_sheet(cur, count_id)
    if sheet.empty:
        st.caption("Nothing counted yet, and the records put nothing here.")
    else:
        st.dataframe([{"code": r.code, "item": r.description,
                       "expected": fmt_qty(r.expected, r.unit),
                       "counted": fmt_qty(r.counted, r.unit) if r.counted is not None
                       else "not yet",
                       "variance": fmt_qty(r.variance, r.unit) if r.variance else ""}
                      for r in sheet.itertuples()], hide_index=True, width="stretch")
        waiting = int(sheet["counted"].isna().sum())
        if waiting:
            st.caption(f"{waiting} item(s) the records put here are not counted yet: posting "
                       "counts them as missing.")
    with st.form("count_post"):
        reason = st.text_input("Reason for the differences (needed when something is off)",
                               key="count_reason")
        if st.form_submit_button("Post the count"):
            try:
                summary = inv.post_count(common.uow(), count_id, actor, reason=reason)
            except AtelierError as exc:
                st.session_state["count_flash"] = ("error", str(exc))
            else:
                st.session_state.pop("count_id", None)
                st.session_state["count_flash"] = (
                    "success", f"Count #{count_id} posted: {summary['matched']} of "
                               f"{summary['lines']} lines matched; "
                               f"{len(summary['adjustments'])} adjustment(s) posted.")
            st.rerun()

recent = invq.recent_counts(cur)
if not recent.empty:
    st.subheader("Posted counts")
    st.dataframe(recent, hide_index=True, width="stretch")
