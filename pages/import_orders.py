"""Import a Shopify "Export orders" CSV: preview what would change, then import."""

import hashlib

import pandas as pd
import streamlit as st

from connectors.shopify import NotAnOrdersExport, parse_orders_export
from pages import common
from storage import queries
from workflow.errors import AtelierError
from workflow.import_service import import_orders, preview_import, problems_csv

actor = common.require_actor()
cur = common.cursor()
st.title("Import Shopify orders")
st.caption("In Shopify: Orders → Export → All orders → CSV for Excel, Numbers or other "
           "spreadsheet programs. Importing the same file again changes nothing; orders that "
           "changed in Shopify are updated, and jobs already in work are never touched.")

upload = st.file_uploader("Orders export (CSV)", type=["csv"], key="shopify_file")
if upload is None:
    for key in ("import_digest", "import_parsed", "import_done", "import_date_order"):
        st.session_state.pop(key, None)
    st.subheader("Earlier imports")
    batches = queries.import_batches(cur)
    batches["created_at"] = batches["created_at"].map(common.local_time)
    st.dataframe(batches.drop(columns=["id", "source"]), hide_index=True, width="stretch",
                 column_config={"created_at": "When", "file_name": "File", "actor": "By",
                                "rows_read": "Rows", "orders_created": "New orders",
                                "orders_updated": "Changed", "orders_unchanged": "Unchanged",
                                "jobs_created": "New jobs", "customers_created": "New customers",
                                "rows_rejected": "Rejected rows", "summary": "Result"})
    st.stop()

data = upload.getvalue()
date_order = st.session_state.get("import_date_order")  # None until the person is asked
# Keyed on the upload itself (a new upload of the same bytes is a new preview) and the answer
# about dates.
digest = f"{upload.file_id}:{hashlib.sha256(data).hexdigest()}:{date_order}"
if st.session_state.get("import_digest") != digest:
    try:
        parsed = parse_orders_export(data, file_name=upload.name,
                                     shop_tz=queries.setting(cur, "shop_tz"),
                                     day_first=date_order)
    except (NotAnOrdersExport, AtelierError, ValueError) as exc:
        st.error(str(exc))
        st.stop()
    st.session_state["import_parsed"] = parsed
    st.session_state["import_digest"] = digest
    st.session_state.pop("import_done", None)
done = st.session_state.get("import_done")
if done is not None:
    st.success(done)
    st.stop()
parsed = st.session_state["import_parsed"]

if parsed.date_order_guessed or date_order is not None:
    st.warning("This file's dates (like 03/04/2024) can be read day first or month first, and "
               "nothing in the file tells which. How were they written?")
    # No answer is preselected: a wrong guess moves dates by months, so the person chooses.
    choice = st.radio("Dates are written", [True, False], horizontal=True,
                      index=None if date_order is None else [True, False].index(date_order),
                      format_func=lambda d: "day/month/year (31/12/2024)" if d
                      else "month/day/year (12/31/2024)", key="import_date_choice")
    if choice is not None and choice != date_order:
        st.session_state["import_date_order"] = choice
        st.rerun()
    if date_order is None:
        st.stop()

if parsed.row_count == 0:
    st.warning(f"{upload.name} has a header but no orders in it: nothing to import.")
    st.stop()

preview = preview_import(common.uow(), parsed)
s = preview.summary
st.subheader("Preview: nothing is saved until you import")
m = st.columns(5)
m[0].metric("New orders", s.orders_created)
m[1].metric("New jobs", s.jobs_created)
m[2].metric("Changed orders", s.orders_updated)
m[3].metric("Unchanged orders", s.orders_unchanged)
m[4].metric("Rows that can't be read", s.rows_rejected)
for note in preview.notes:
    st.info(note)
if preview.new_orders:
    with st.expander(f"New orders ({len(preview.new_orders)})"):
        st.write(", ".join(preview.new_orders))
if preview.changed_orders:
    with st.expander(f"Changed orders ({len(preview.changed_orders)})", expanded=True):
        st.dataframe(pd.DataFrame([{"Order": n, "What": label, "Now in Atelier": before,
                                    "In this file": after}
                                   for n, rows in preview.changes.items()
                                   for label, before, after in rows]),
                     hide_index=True, width="stretch")
if preview.older_orders:
    with st.expander(f"Orders this file has in an earlier state ({len(preview.older_orders)})"
                     ": left as they are", expanded=True):
        st.caption("Shopify never un-cancels an order or lowers a refund, so this file is older "
                   "than what Atelier knows about these orders. Export again from Shopify to "
                   "bring them up to date.")
        st.dataframe(pd.DataFrame(preview.older_orders, columns=["Order", "Why"]),
                     hide_index=True, width="stretch")
    if preview.changed_orders:
        st.warning(f"This file is older than Atelier for {len(preview.older_orders)} "
                   "order(s), so its other changes may be old too (an address put back, a "
                   "status undone). Check them above, or export a fresh file from Shopify.")
if preview.unchanged_orders:
    with st.expander(f"Unchanged orders ({len(preview.unchanged_orders)})"):
        st.write(", ".join(preview.unchanged_orders))
if preview.problems:
    rows = len({p.row_number for p in preview.problems})
    st.warning(f"{rows} row{'' if rows == 1 else 's'} can't be read; their orders are left out "
               "(never half an order)."
               + ("" if preview.nothing_to_import else " Everything else can be imported."))
    st.dataframe(pd.DataFrame([{"row": p.row_number, "order": p.order_name, "column": p.column,
                                "value": p.value, "reason": p.reason}
                               for p in preview.problems]),
                 hide_index=True, width="stretch")
    st.download_button("Download the rejected rows (CSV)", problems_csv(preview.problems),
                       file_name=f"rejected-{upload.name}", key="dl_rejected")

if preview.jobs_to_cancel or preview.jobs_to_flag:
    said = []
    if preview.jobs_to_cancel:
        said.append(f"cancels {', '.join(preview.jobs_to_cancel)} (not yet started)")
    if preview.jobs_to_flag:
        said.append(f"flags {', '.join(preview.jobs_to_flag)} (already in work) for you to "
                    "decide")
    st.warning(f"Importing {' and '.join(said)}: their orders were cancelled, voided or "
               "refunded in Shopify since the last import.")
if preview.nothing_to_import:
    st.error("No order in this file can be imported: each has a row that can't be read (see "
             "above). Correct the file, or export it again from Shopify, and upload it again.")
    st.stop()
if s.nothing_changed:
    st.info("Every order in this file is already up to date: importing records only that "
            "the file was read.")
if st.button("Import", type="primary", key="do_import"):
    bar = st.progress(0.0, text="Starting")
    try:
        summary = import_orders(common.uow(), parsed, actor,
                                lead_time_days=int(queries.setting(cur, "lead_time_days")),
                                progress=lambda f, msg: bar.progress(f, text=msg))
    except AtelierError as exc:
        common.show_error(exc)
    else:
        st.session_state["import_done"] = f"Imported {upload.name}: {summary.sentence()}"
        # The parsed file is not needed past here: a 100k-row export's frames are ~50 MB
        # that the session would otherwise keep until the next upload.
        st.session_state.pop("import_parsed", None)
        st.rerun()
