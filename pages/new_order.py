"""A walk-in customer's order: who they are, how they want to hear from us, and one or more
pieces, each becoming a job."""

from datetime import timedelta

import streamlit as st

from pages import common
from storage import queries
from workflow import services
from workflow.errors import AtelierError
from workflow.model import Channel, NewJob

actor = common.require_actor()
cur = common.cursor()
settings = queries.all_settings(cur)
st.title("New walk-in order")

# The last order's banner goes here, filled at the end of the run: a new submission replaces
# it, so an error about the next customer's form never sits beside an old "created".
banner = st.container()
FORM_KEYS = ("piece_count", "cust_", "piece_", "price_", "size_", "metal_", "karat_",
             "stones_", "engraving_", "due_", "rush_", "design_", "notes_", "currency",
             "deposit", "order_notes")

count = st.number_input("How many pieces?", min_value=1, max_value=10, value=1, step=1,
                        key="piece_count")
with st.form("walk_in"):
    st.subheader("Customer")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Name", key="cust_name")
    email = c2.text_input("Email", key="cust_email")
    phone = c3.text_input("Phone", key="cust_phone")
    c4, c5 = st.columns(2)
    channel = c4.selectbox("Tell them about their piece by", [c.value for c in Channel],
                           key="cust_channel")
    consent = c5.checkbox("Happy to receive news and offers", key="cust_consent")
    jobs = []
    default_due = queries.today(cur, settings["shop_tz"]) + timedelta(
        days=int(settings["lead_time_days"]))
    for i in range(int(count)):
        st.subheader(f"Piece {i + 1}")
        a, b, c = st.columns([3, 1, 1])
        piece = a.text_input("Piece", key=f"piece_{i}",
                             placeholder="Solitaire engagement ring, 6-prong")
        price = b.text_input("Price", key=f"price_{i}", value="0.00")
        size = c.text_input("Ring size", key=f"size_{i}", placeholder="7 1/2, N½, EU 54")
        d, e, f = st.columns(3)
        metal = d.text_input("Metal", key=f"metal_{i}", placeholder="yellow gold")
        karat = e.selectbox("Karat", ["", "9K", "10K", "14K", "18K", "22K", "Pt950", "925"],
                            key=f"karat_{i}")
        stones = f.text_input("Stones", key=f"stones_{i}")
        g, h, k = st.columns(3)
        engraving = g.text_input("Engraving", key=f"engraving_{i}")
        promised = h.date_input("Promised date", value=default_due, key=f"due_{i}")
        rush = k.checkbox("Rush", key=f"rush_{i}")
        design_needed = k.checkbox("Needs a design", value=True, key=f"design_{i}",
                                   help="Untick for repairs and re-orders: they go straight "
                                        "to production.")
        notes = st.text_input("Notes for the bench", key=f"notes_{i}")
        jobs.append(NewJob(piece=piece, metal=metal, karat=karat, stones=stones,
                           ring_size=size, engraving=engraving, notes=notes,
                           design_needed=design_needed, promised_date=promised, rush=rush,
                           price=price))
    st.subheader("Payment")
    p1, p2, p3 = st.columns(3)
    currency = p1.text_input("Currency", value=settings["currency"], key="currency")
    deposit = p2.text_input("Deposit taken now", value="0.00", key="deposit")
    method = p3.selectbox("Method", ["cash", "card", "bank transfer"], key="deposit_method")
    order_notes = st.text_area("Order notes", key="order_notes")
    submitted = st.form_submit_button("Create order", type="primary")

# Each filled-in form creates at most one order: a double click (a second run with the same
# form) finds this form's number already used and does nothing.
form_number = st.session_state.setdefault("walk_in_form_number", 0)
if submitted and st.session_state.get("walk_in_form_used") != form_number:
    st.session_state["walk_in_form_used"] = form_number
    st.session_state.pop("last_created", None)
    try:
        result = services.create_walk_in_order(
            common.uow(), actor, customer_name=name, email=email, phone=phone,
            preferred_channel=channel, marketing_consent=consent, currency=currency,
            deposit=deposit, deposit_method=method, notes=order_notes, jobs=jobs)
    except AtelierError as exc:
        st.session_state["walk_in_form_used"] = None  # corrected and sent again: allowed
        common.show_error(exc)
    else:
        st.session_state["walk_in_form_number"] = form_number + 1
        st.session_state["last_created"] = result
        for key in [k for k in st.session_state if k.startswith(FORM_KEYS)]:
            del st.session_state[key]  # a fresh, empty form for the next customer
        st.rerun()

created = st.session_state.get("last_created")
if created:
    with banner:
        st.success(f"Order {created['order_name']} created with jobs "
                   f"{', '.join(created['job_numbers'])}.")
        cols = st.columns(len(created["job_numbers"]) + 1)
        for col, number in zip(cols, created["job_numbers"], strict=False):
            if col.button(f"Open {number}", key=f"open_new_{number}"):
                st.session_state.pop("last_created", None)
                common.open_job(number)
