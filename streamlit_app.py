"""Atelier's entry point: `streamlit run streamlit_app.py`.

Opens the database (DuckDB file, `ATELIER_DB` or data/atelier.duckdb), asks who is at the screen,
and lists the pages. Pages left out of the list cannot be opened by URL.
"""

import streamlit as st

from pages import common

st.set_page_config(page_title="Atelier", page_icon="💍", layout="wide")

common.open_cursor()
actor = common.current_actor()

sign_in = st.Page("pages/sign_in.py", title="Who's at the screen", icon=":material/badge:")
if actor is None:
    pages = [sign_in]
else:
    pages = {
        "Workshop": [
            st.Page("pages/board.py", title="Board", icon=":material/view_kanban:",
                    default=True),
            st.Page("pages/job.py", title="Job", icon=":material/diamond:"),
            st.Page("pages/orders.py", title="Orders", icon=":material/receipt_long:"),
            st.Page("pages/new_order.py", title="New walk-in order",
                    icon=":material/add_shopping_cart:"),
        ],
        "Inventory": [
            st.Page("pages/inventory.py", title="Inventory", icon=":material/inventory_2:"),
            st.Page("pages/inventory_item.py", title="Item", icon=":material/qr_code_2:"),
            st.Page("pages/inventory_receive.py", title="Receive stock",
                    icon=":material/move_to_inbox:"),
            st.Page("pages/inventory_count.py", title="Cycle count",
                    icon=":material/checklist:"),
        ],
        "Data": [
            st.Page("pages/import_orders.py", title="Import Shopify orders",
                    icon=":material/upload_file:"),
        ],
        "Customers": [
            st.Page("pages/notifications.py", title="Customer messages",
                    icon=":material/mail:"),
            st.Page("pages/notification_settings.py", title="Message templates",
                    icon=":material/edit_note:"),
        ],
        "Shop": [
            st.Page("pages/staff.py", title="Staff and workflow", icon=":material/group:"),
            st.Page("pages/settings.py", title="Shop settings", icon=":material/settings:"),
            sign_in,
        ],
    }
    with st.sidebar:
        st.caption(f"Signed in as **{actor.name}** ({actor.role.replace('_', ' ')})")

st.navigation(pages).run()
