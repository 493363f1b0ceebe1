"""One inventory item: what it is, where it is, which jobs hold it, its moves (the ledger,
newest first), and the moves a person makes by hand: between the safe and the showcase, an
adjustment with a reason, more received, a memo or customer's stone given back, its label.

The URL carries the code (`/inventory_item?item=S-0012`), so the label's QR code, read by a
phone, can open it.
"""

from decimal import Decimal

import streamlit as st

from pages import common
from pages.inventory_labels import label_for, label_pdf
from storage import inventory_queries as invq
from workflow import inventory_services as inv
from workflow.errors import AtelierError
from workflow.inventory import (
    CATEGORY_LABELS,
    MOVE_LABELS,
    Category,
    Ownership,
    fine_weight,
    fmt_qty,
    parse_code,
    to_dwt,
)

actor = common.require_actor()
cur = common.cursor()

code = st.query_params.get("item", "")
typed = st.text_input("Item code", value=code, key="item_lookup", placeholder="S-0012",
                      label_visibility="collapsed")
if typed and typed != code:
    code = parse_code(typed) or typed.strip().upper()
    st.query_params["item"] = code
item = invq.item_by_code(cur, code) if code else None
if item is None:
    st.title("Inventory item")
    st.info(f"No item {code} here." if code else
            "Scan an item's label, or type its code (S- stones, P- parcels, M- metal, "
            "F- findings).")
    st.stop()


def run(action, success) -> None:
    """Call a service; show its refusal in plain words; rerun to show the result."""
    try:
        result = action()
    except AtelierError as exc:
        st.session_state["item_flash"] = ("error", str(exc))
    else:
        st.session_state["item_flash"] = ("success",
                                          success(result) if callable(success) else success)
    st.rerun()


unit = item["unit"]
st.title(f"{item['code']} · {item['description']}")
flash = st.session_state.pop("item_flash", None)
if flash:
    (st.error if flash[0] == "error" else st.success)(flash[1])

facts = [CATEGORY_LABELS.get(item["category"], item["category"])]
if item["ownership"] == Ownership.MEMO:
    facts.append(f"on memo from {item['memo_dealer']} since {item['memo_date'] or '?'}, "
                 f"due back {item['memo_due_date']}")
elif item["ownership"] == Ownership.CUSTOMER:
    facts.append(f"belongs to {item['customer'] or 'the customer'} (job "
                 f"{item['owner_job_number']}), declared value "
                 f"{common.money(item['declared_value'], item['currency']) or 'none'}")
if item["cert_number"]:
    facts.append(f"{item['cert_lab']} report {item['cert_number']}")
if item["category"] == Category.METAL and item["fineness"]:
    facts.append(f"fineness {item['fineness']}: {fine_weight(item['on_hand'], item['fineness'])}"
                 f" g fine metal on hand")
if item["category"] == Category.MELEE and item["carat"] and item["pieces_received"]:
    each = Decimal(item["carat"]) / item["pieces_received"]
    facts.append(f"≈ {(each * Decimal(item['on_hand'])).quantize(Decimal('0.01'))} ctw on hand "
                 f"({item['carat']} ct in {item['pieces_received']} pcs received)")
if item["unit_cost"] is not None:
    facts.append(f"cost {common.money(item['unit_cost'], item['currency'])} per "
                 f"{'gram' if unit == 'g' else 'piece'}")
if item["supplier"]:
    facts.append(f"supplier {item['supplier']}")
st.markdown(" · ".join(facts))
if item["intake_condition"]:
    st.caption(f"Condition at intake: {item['intake_condition']}")

m1, m2, m3, m4 = st.columns(4)
m1.metric("On hand", fmt_qty(item["on_hand"], unit))
m2.metric("Reserved", fmt_qty(item["reserved"], unit))
m3.metric("Available", fmt_qty(item["available"], unit))
m4.metric("At benches", fmt_qty(item["issued"], unit))
if unit == "g" and invq.inventory_setting(cur, "show_dwt") == "yes":
    st.caption(f"On hand {to_dwt(item['on_hand'])} dwt")

left, right = st.columns([3, 2])
with right:
    stock = invq.item_stock(cur, item["id"])
    st.subheader("Where")
    if stock.empty:
        st.caption("Not in a stock location.")
    else:
        st.dataframe(stock.rename(columns={"name": "location", "on_hand": "on hand"}),
                     hide_index=True, width="stretch")
    jobs = invq.item_jobs(cur, item["id"])
    if not jobs.empty:
        st.markdown("**Held by jobs**")
        st.dataframe(jobs, hide_index=True, width="stretch")
        for j in jobs.itertuples():
            if st.button(f"Open {j.job_number}", key=f"item_job_{j.job_number}"):
                common.open_job(j.job_number)

    if item["category"] in (Category.STONE, Category.MELEE):
        pdf = label_pdf([label_for(i) for i in invq.items_for_labels(cur, [item["code"]])])
        st.download_button("Download label (PDF)", pdf, file_name=f"{item['code']}.pdf",
                           mime="application/pdf", key="item_label")

    locations = invq.locations(cur, stock_only=True)
    loc_codes = list(locations["code"])
    loc_names = dict(zip(locations["code"], locations["name"], strict=True))
    st.subheader("Move or correct")
    with st.form("item_transfer", clear_on_submit=True):
        st.markdown("**Move between stock locations**")
        c1, c2 = st.columns(2)
        src = c1.selectbox("From", loc_codes, key="tr_from", format_func=loc_names.get)
        dst = c2.selectbox("To", loc_codes, key="tr_to", format_func=loc_names.get,
                           index=min(1, len(loc_codes) - 1))
        qty = st.text_input("Quantity", value="1" if unit == "pc" else "", key="tr_qty")
        if st.form_submit_button("Move"):
            run(lambda: inv.transfer_stock(common.uow(), item["code"], qty, src, dst, actor),
                f"{item['code']}: moved to {loc_names.get(dst)}.")
    with st.form("item_adjust", clear_on_submit=True):
        st.markdown("**Adjust (a reason is required)**")
        c1, c2 = st.columns(2)
        change = c1.text_input("Change (+ found, − broken or missing)", key="adj_change",
                               placeholder="-0.250" if unit == "g" else "-1")
        where = c2.selectbox("At", loc_codes, key="adj_loc", format_func=loc_names.get)
        reason = st.text_input("Reason", key="adj_reason")
        if st.form_submit_button("Adjust"):
            run(lambda: inv.adjust_stock(common.uow(), item["code"], change, reason, actor,
                                         location=where),
                lambda total: f"{item['code']}: adjusted; {fmt_qty(total, unit)} on hand.")
    if item["category"] != Category.STONE:
        with st.form("item_receive", clear_on_submit=True):
            st.markdown("**Receive more**")
            c1, c2, c3 = st.columns(3)
            more = c1.text_input("Quantity (g or pieces)", key="rcv_qty")
            cost = c2.text_input("Unit cost", key="rcv_cost")
            ct = c3.text_input("Total ct (melee)", key="rcv_ct",
                               disabled=item["category"] != Category.MELEE)
            into = st.selectbox("Into", loc_codes, key="rcv_loc", format_func=loc_names.get)
            if st.form_submit_button("Receive"):
                run(lambda: inv.receive_stock(common.uow(), item["code"], more, actor,
                                              location=into, unit_cost=cost or None,
                                              carats=ct or None),
                    lambda total: f"{item['code']}: received; {fmt_qty(total, unit)} on hand.")
    if item["ownership"] != Ownership.OWNED and item["on_hand"] > 0:
        who = "dealer" if item["ownership"] == Ownership.MEMO else "customer"
        with st.form("item_give_back"):
            note = st.text_input("Note", key="gb_note", placeholder="memo returned, courier …")
            if st.form_submit_button(f"Give back to the {who}"):
                run(lambda: inv.give_back(common.uow(), item["code"], actor, reason=note),
                    f"{item['code']} given back to the {who}.")

with left:
    st.subheader("Moves")
    ledger = invq.item_ledger(cur, item["id"])
    if ledger.empty:
        st.caption("No moves yet.")
    else:
        st.dataframe([{"when": common.local_time(g.created_at),
                       "move": MOVE_LABELS.get(g.kind, g.kind),
                       "on hand": g.on_hand_change or "", "reserved": g.reserved_change or "",
                       "at bench": g.issued_change or "",
                       "where": " → ".join(x for x in (g.location, g.to_location) if x),
                       "job": g.job_number or "", "why": g.reason or "", "who": g.actor}
                      for g in ledger.itertuples()], hide_index=True, width="stretch")
        if len(ledger) >= 200:
            st.caption("The latest 200 moves.")
