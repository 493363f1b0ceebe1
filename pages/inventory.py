"""Inventory: what the shop holds (on hand, reserved for jobs, available, at the benches), its
value at cost, memo stones due back, low stock, the accuracy of the counts, and labels.

Reads the items with their balance rows (never the whole ledger), so the page costs the same
with a long history. Writes (settings) go through `workflow.inventory_services`.
"""

from decimal import Decimal

import streamlit as st

from pages import common
from pages.inventory_labels import label_for, label_pdf
from storage import inventory_queries as invq
from workflow import inventory_services as inv
from workflow.errors import AtelierError
from workflow.inventory import CATEGORY_LABELS, Category, Ownership, parse_code, to_dwt

ITEM_PAGE = "pages/inventory_item.py"
OWNERSHIP_LABELS = {Ownership.OWNED: "Shop's own", Ownership.MEMO: "Memo (dealer's)",
                    Ownership.CUSTOMER: "Customer's stones"}

actor = common.require_actor()
cur = common.cursor()
settings = invq.inventory_settings(cur)
st.title("Inventory")
flash = st.session_state.pop("inv_flash", None)
if flash:
    (st.error if flash[0] == "error" else st.success)(flash[1])

# --- the figures -----------------------------------------------------------------------------
totals = invq.stock_totals(cur)
acc = invq.accuracy(cur)
currency = totals["currency"] or ""
m1, m2, m3, m4 = st.columns(4)
m1.metric("Stock at cost", common.money(totals["stock"], currency),
          help="The shop's own stock on hand, at unit cost.")
m2.metric("At the benches (at cost)", common.money(totals["at_bench"], currency),
          help="The shop's own stock issued to jobs and not yet in a finished piece.")
m3.metric("Memo stones held", common.money(totals["memo"], currency),
          help="Dealers' stones on consignment: held, not owned.")
m4.metric("Inventory accuracy",
          f"{acc['pct']}%" if acc["pct"] is not None else "no counts yet",
          help=(f"Count lines that matched the records (stones, parcels, findings: exact "
                f"pieces; metal: within {settings['count_tolerance_g']} g) over the last "
                f"{settings['accuracy_counts']} counts: {acc['matched']} of {acc['lines']} "
                f"lines in {acc['counts']} counts."))
st.caption(f"{totals['items']} items in the books · {totals['customer_stones']} customer's "
           "stones held (never counted as shop stock)")

# --- open an item ----------------------------------------------------------------------------


def _scanned() -> None:
    # Keep what was typed for this run and empty the field, so coming back finds it empty.
    st.session_state["inv_open_typed"] = st.session_state.get("inv_open", "")
    st.session_state["inv_open"] = ""


st.text_input("Open an item (scan its label or type its code)", key="inv_open",
              placeholder="S-0012", on_change=_scanned)
typed = st.session_state.pop("inv_open_typed", "")
if typed.strip():
    code = parse_code(typed)
    if code is None:
        st.error(f"{typed.strip()!r} is not an item code such as S-0012.")
    else:
        st.switch_page(ITEM_PAGE, query_params={"item": code})

# --- the stock list --------------------------------------------------------------------------
locations = invq.locations(cur, stock_only=True)
loc_names = dict(zip(locations["id"].astype(int), locations["name"], strict=True))
with st.container(border=True):
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    search = c1.text_input("Search", key="inv_search",
                           placeholder="Code, description, report number, supplier, dealer")
    categories = c2.multiselect("Category", [c.value for c in Category], key="inv_categories",
                                format_func=CATEGORY_LABELS.get, placeholder="All")
    ownerships = c3.multiselect("Ownership", [o.value for o in Ownership],
                                default=[Ownership.OWNED.value, Ownership.MEMO.value],
                                key="inv_ownerships", format_func=OWNERSHIP_LABELS.get)
    location_id = c4.selectbox("Location", [None, *loc_names], key="inv_location",
                               format_func=lambda i: "Anywhere" if i is None else loc_names[i])
    f1, f2, _ = st.columns([1, 1, 4])
    low_only = f1.toggle("Low stock only", key="inv_low")
    include_empty = f2.toggle("Include used up", key="inv_empty")

flt = invq.StockFilter(categories=tuple(categories), ownerships=tuple(ownerships),
                       location_id=location_id, search=search, low_only=low_only,
                       include_empty=include_empty)
stock = invq.stock_list(cur, flt)
show_dwt = settings["show_dwt"] == "yes"
if stock.empty:
    st.info("Nothing matches these filters." if (search or categories or low_only)
            else "No stock yet. Receive stones, metal and findings on the Receive stock page.")
else:
    rows = []
    for r in stock.itertuples():
        row = {"code": r.code, "description": r.description,
               "kind": CATEGORY_LABELS.get(r.category, r.category),
               "owner": OWNERSHIP_LABELS.get(r.ownership, r.ownership),
               "where": r.where or "—", "unit": r.unit, "on hand": r.on_hand,
               "reserved": r.reserved, "available": r.available, "at benches": r.issued,
               "value at cost": r.value, "low": "⚠️ low" if r.low else ""}
        if show_dwt:
            row["on hand (dwt)"] = to_dwt(Decimal(r.on_hand)) if r.unit == "g" else None
        if r.fineness:
            row["description"] = f"{r.description} ({r.fineness})"
        if r.cert:
            row["description"] = f"{r.description} · {r.cert}"
        rows.append(row)
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(f"{len(stock)} items shown" + (" (the first 500)" if len(stock) >= 500 else "")
               + f" · values in {currency or 'each item’s currency'}")

# --- memo due back and low stock -------------------------------------------------------------
left, right = st.columns(2)
with left:
    days = int(settings["memo_due_days"])
    st.subheader(f"Memo stones due back within {days} days")
    memo = invq.memo_due(cur, days, common.shop_tz())
    if memo.empty:
        st.caption("None.")
    else:
        st.dataframe([{"code": m.code, "stone": m.description, "dealer": m.memo_dealer,
                       "due": m.memo_due_date, "days left": m.days_left,
                       "where": "at a bench" if m.issued else "in stock"}
                      for m in memo.itertuples()], hide_index=True, width="stretch")
with right:
    st.subheader("Low stock")
    low = invq.low_stock(cur)
    if low.empty:
        st.caption("Nothing at or below its reorder point.")
    else:
        st.dataframe([{"code": r.code, "item": r.description, "available": r.available,
                       "reorder at": r.reorder_point, "unit": r.unit, "supplier": r.supplier}
                      for r in low.itertuples()], hide_index=True, width="stretch")

# --- labels ----------------------------------------------------------------------------------
st.subheader("Labels")
labelled = invq.labelled_items(cur)
if labelled.empty:
    st.caption("Stones and melee parcels get a label with a QR code of their code.")
else:
    names = dict(zip(labelled["code"], labelled["description"], strict=True))
    c1, c2 = st.columns([4, 1])
    chosen = c1.multiselect("Print labels for", list(names), key="inv_labels",
                            format_func=lambda c: f"{c} · {names[c]}")
    layout = c2.radio("Layout", ["roll", "sheet"], key="inv_label_layout",
                      format_func={"roll": "Label printer (57×32 mm)",
                                   "sheet": "A4 sheet (21 labels)"}.get)
    if chosen:
        pdf = label_pdf([label_for(i) for i in invq.items_for_labels(cur, chosen)], layout)
        st.download_button(f"Download {len(chosen)} label(s) (PDF)", pdf,
                           file_name="atelier-labels.pdf", mime="application/pdf",
                           key="inv_labels_pdf")

# --- settings --------------------------------------------------------------------------------
if actor.is_manager:
    with st.expander("Inventory settings"):
        with st.form("inv_settings"):
            typed_settings = {key: st.text_input(label, value=settings[key],
                                                 key=f"inv_set_{key}")
                              for key, label in invq.INVENTORY_SETTING_HELP.items()}
            if st.form_submit_button("Save settings"):
                try:
                    for key, value in typed_settings.items():
                        if value.strip() != settings[key]:
                            inv.set_inventory_setting(common.uow(), key, value, actor)
                except AtelierError as exc:
                    st.session_state["inv_flash"] = ("error", str(exc))
                else:
                    st.session_state["inv_flash"] = ("success", "Settings saved.")
                st.rerun()
