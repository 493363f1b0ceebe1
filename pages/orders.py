"""Orders: every order with its customer, its stage (derived from its jobs) and what is owed;
open one job from here; export the list to CSV or Excel."""

import streamlit as st

from connectors.spreadsheet_export import to_csv_bytes, to_xlsx_bytes
from pages import common
from storage import db, queries
from workflow.lifecycle import STAGES

common.require_actor()
cur = common.cursor()
st.title("Orders")

c1, c2 = st.columns([3, 1])
search = c1.text_input("Search", placeholder="Order #, customer name or email",
                       key="orders_search")
open_only = c2.toggle("Only orders with open jobs", value=True, key="orders_open_only")
SHOWN = 500


def for_people(frame):
    frame["stage"] = frame["stage"].map(lambda s: STAGES.get(s, s))
    for column in ("customer", "email", "phone", "job_numbers"):
        frame[column] = frame[column].fillna("")  # blank, not "None"
    return frame


# A download's callable runs after this script run, on another thread and without the
# session: it takes its own cursor of the process's connection and this run's settings.
connection, tz = common.process_connection(), common.shop_tz()


def whole_list():
    """Every matching order, with the headers people read (the export, built on click)."""
    own = db.cursor(connection)
    try:
        every = for_people(queries.orders(own, search=search, open_only=open_only,
                                          shop_tz=tz, limit=None))
    finally:
        own.close()
    return every[columns].rename(columns=HEADERS)


frame = for_people(queries.orders(cur, search=search, open_only=open_only,
                                  shop_tz=tz, limit=SHOWN))
st.caption(f"{len(frame)} orders" + (f" (the newest {SHOWN}; the exports have every "
                                     "matching order)" if len(frame) == SHOWN else ""))

columns = ["order_name", "placed_local", "customer", "email", "stage", "jobs", "job_numbers",
           "currency", "total", "paid", "balance_due", "refunded_amount", "financial_status",
           "fulfillment_status", "source"]
HEADERS = {"order_name": "Order", "placed_local": "Placed", "customer": "Customer",
           "email": "Email", "stage": "Stage", "jobs": "Pieces", "job_numbers": "Jobs",
           "currency": "Currency", "total": "Total", "paid": "Paid",
           "balance_due": "Balance due", "refunded_amount": "Refunded",
           "financial_status": "Payment", "fulfillment_status": "Fulfilment", "source": "From"}
money = {c: st.column_config.NumberColumn(label, format="%.2f") for c, label in
         (("total", "Total"), ("paid", "Paid"), ("balance_due", "Balance due"),
          ("refunded_amount", "Refunded"))}
st.dataframe(frame[columns], hide_index=True, width="stretch",
             column_config={"placed_local": st.column_config.DatetimeColumn(
                 "Placed", format="D MMM YYYY, HH:mm"),
                 "order_name": "Order", "job_numbers": "Jobs", "customer": "Customer",
                 "email": "Email", "stage": "Stage", "jobs": "Pieces",
                 "currency": "Currency", "financial_status": "Payment",
                 "fulfillment_status": "Fulfilment", "source": "From", **money})

e1, e2, e3 = st.columns([1, 1, 3])
e1.download_button("Export CSV", lambda: to_csv_bytes(whole_list()), file_name="orders.csv",
                   mime="text/csv", key="orders_csv")
e2.download_button("Export Excel", lambda: to_xlsx_bytes(whole_list(), "Orders"),
                   file_name="orders.xlsx", key="orders_xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
number = e3.selectbox("Open a job", [""] + [n.strip() for v in frame["job_numbers"].dropna()
                                           for n in v.split(",")], key="orders_open_job")
if number:
    common.open_job(number)
