"""Who is at the screen: pick from the staff list (real sign-in comes later). On an empty
database: load the demo data, or add the first staff member."""

import streamlit as st

from connectors.shopify import parse_orders_export
from connectors.shopify_demo import demo_export_bytes
from pages import common
from storage import queries
from storage.unit_of_work import UnitOfWork
from workflow import demo
from workflow.errors import AtelierError
from workflow.model import Role
from workflow.services import add_staff

st.title("Atelier")
cur = common.cursor()
staff = queries.staff(cur)

if queries.is_empty(cur):
    st.subheader("A new workshop")
    st.write("The database is empty. Load demo data to look around (a year of orders from a "
             "made-up Shopify shop, with jobs at every stage and a staff of six), or start "
             "with your own shop by adding the first staff member.")
    if st.button("Load demo data", type="primary", key="load_demo"):
        with st.spinner("Making the demo shop…"):
            parsed = parse_orders_export(demo_export_bytes(orders=demo.DEMO_ORDERS, seed=7,
                                                           start=demo.demo_start()),
                                         file_name="demo_orders_export.csv")
            # The loader's units of work use this run's cursor directly: no Streamlit call
            # inside, so closing the tab mid-way can't stop it half done.
            demo_cursor = common.cursor()
            result = demo.load_demo(lambda: UnitOfWork(demo_cursor), parsed,
                                    files_dir=common.files_dir())
        st.session_state["staff_id"] = result.manager_id
        st.session_state["flash"] = result.sentence
        st.switch_page(common.BOARD_PAGE)

if staff.empty:
    with st.form("first_staff"):
        st.write("Add the first staff member (a manager):")
        name = st.text_input("Name")
        if st.form_submit_button("Add and sign in"):
            try:
                st.session_state["staff_id"] = add_staff(common.uow(), name, Role.MANAGER)
                st.switch_page(common.BOARD_PAGE)
            except AtelierError as exc:
                common.show_error(exc)
else:
    st.subheader("Who's at the screen?")
    if common.staff_picker("sign_in"):
        st.switch_page(common.BOARD_PAGE)
