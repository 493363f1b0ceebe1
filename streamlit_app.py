"""Atelier's entry point: `streamlit run streamlit_app.py`.

Opens the database (DuckDB file, `ATELIER_DB` or data/atelier.duckdb), asks who is at the screen,
and lists the pages. Pages left out of the list cannot be opened by URL.
"""

import streamlit as st

from pages import common

st.set_page_config(page_title="Atelier", page_icon="💍", layout="wide")

common.mark_entry()
common.open_cursor()
actor = common.current_actor()

signed_in = actor is not None


def page(path: str, title: str, icon: str, default: bool = False) -> st.Page:
    # Before anyone is picked, the pages stay listed but hidden: a bookmarked job URL still
    # opens, and the page asks who is at the screen first (common.require_actor).
    return st.Page(path, title=title, icon=icon, default=default and signed_in,
                   visibility="visible" if signed_in else "hidden")


sign_in = st.Page("pages/sign_in.py", title="Who's at the screen", icon=":material/badge:",
                  default=not signed_in)
pages = {
    "Workshop": [
        page("pages/board.py", "Board", ":material/view_kanban:", default=True),
        page("pages/job.py", "Job", ":material/diamond:"),
        page("pages/orders.py", "Orders", ":material/receipt_long:"),
        page("pages/new_order.py", "New walk-in order", ":material/add_shopping_cart:"),
    ],
    "Inventory": [
        page("pages/inventory.py", "Inventory", ":material/inventory_2:"),
        page("pages/inventory_item.py", "Item", ":material/qr_code_2:"),
        page("pages/inventory_receive.py", "Receive stock", ":material/move_to_inbox:"),
        page("pages/inventory_count.py", "Cycle count", ":material/checklist:"),
    ],
    "Data": [
        page("pages/import_orders.py", "Import Shopify orders", ":material/upload_file:"),
    ],
    "Customers": [
        page("pages/notifications.py", "Customer messages", ":material/mail:"),
        page("pages/notification_settings.py", "Message templates", ":material/edit_note:"),
    ],
    "Shop": [
        page("pages/staff.py", "Staff and workflow", ":material/group:"),
        page("pages/settings.py", "Shop settings", ":material/settings:"),
        sign_in,
    ],
}
if signed_in:
    with st.sidebar:
        st.caption(f"Signed in as **{actor.name}** ({actor.role.replace('_', ' ')})")

current = st.navigation(pages, expanded=True)
common.return_to_requested_page()
# The job page remembers the version it showed; coming back to it later starts afresh.
if st.session_state.get("_last_page") != current.url_path:
    for key in [k for k in st.session_state if k.startswith("seen_version_")]:
        del st.session_state[key]
    st.session_state["_last_page"] = current.url_path
current.run()
