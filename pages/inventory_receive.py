"""Receive stock: a new stone, melee parcel, metal or finding into the safe or the showcase
(the shop's own, or a dealer's stone on memo), or more of an item already in the books; and
outside vendors (caster, setter) as places materials can be issued to.
"""

from datetime import date, timedelta
from decimal import Decimal

import streamlit as st

from pages import common
from pages.inventory_labels import label_for, label_pdf
from storage import inventory_queries as invq
from workflow import inventory_services as inv
from workflow.errors import AtelierError, InvalidInput
from workflow.inventory import (
    ALLOYS,
    CATEGORY_LABELS,
    Category,
    LocationKind,
    NewItem,
    Origin,
    Ownership,
    fmt_qty,
    parse_code,
)
from workflow.numbers import parse_decimal

actor = common.require_actor()
cur = common.cursor()
st.title("Receive stock")
flash = st.session_state.pop("receive_flash", None)
if flash:
    (st.error if flash[0] == "error" else st.success)(flash[1])
last = st.session_state.get("receive_last_code")
if last:
    labels = invq.items_for_labels(cur, [last])
    if labels and labels[0]["category"] in (Category.STONE, Category.MELEE):
        st.download_button(f"Print the label of {last} (PDF)",
                           label_pdf([label_for(i) for i in labels]),
                           file_name=f"{last}.pdf", mime="application/pdf", key="rcv_label")

locations = invq.locations(cur, stock_only=True)
loc_codes = list(locations["code"])
loc_names = dict(zip(locations["code"], locations["name"], strict=True))


def number(text: str, what: str) -> Decimal | None:
    return parse_decimal(text, what)  # the shared reading (workflow.numbers)


def add(spec: NewItem, qty: str, location: str) -> None:
    try:
        result = inv.add_item(common.uow(), actor, spec, quantity=qty or "0",
                              location=location)
    except AtelierError as exc:
        st.session_state["receive_flash"] = ("error", str(exc))
    else:
        st.session_state["receive_flash"] = (
            "success", f"{result['code']} · {result['description']} received into "
                       f"{loc_names.get(location, location)}. Write {result['code']} on its "
                       "parcel paper, or print its label.")
        st.session_state["receive_last_code"] = result["code"]
    st.rerun()


new_tab, more_tab, vendor_tab = st.tabs(["New item", "More of an item", "Outside vendors"])

with new_tab:
    category = st.radio("What arrived", [c.value for c in Category], horizontal=True,
                        key="rcv_category", format_func=CATEGORY_LABELS.get)
    with st.form("rcv_new", clear_on_submit=True):
        if category in (Category.STONE, Category.MELEE):
            c1, c2, c3 = st.columns(3)
            species = c1.text_input("Stone", value="Diamond", key="rcv_species")
            shape = c2.text_input("Shape", key="rcv_shape", placeholder="round, oval, pear …")
            origin = c3.selectbox("Origin", [o.value for o in Origin], key="rcv_origin",
                                  format_func=lambda o: o.replace("_", "-"))
            c4, c5, c6 = st.columns(3)
            carat = c4.text_input("Carat weight (ct)" if category == Category.STONE
                                  else "Total carat weight of the parcel (ctw)",
                                  key="rcv_carat")
            colour = c5.text_input("Colour", key="rcv_colour", placeholder="G")
            clarity = c6.text_input("Clarity", key="rcv_clarity", placeholder="VS1")
            c7, c8, c9 = st.columns(3)
            cut = c7.text_input("Cut", key="rcv_cut", placeholder="Excellent")
            measurements = c8.text_input("Measurements / size", key="rcv_measure",
                                         placeholder="6.45 × 6.48 × 3.98 mm")
            lab = c9.text_input("Certificate lab", key="rcv_lab", placeholder="GIA, IGI",
                                disabled=category != Category.STONE)
            report = st.text_input("Report number", key="rcv_report",
                                   disabled=category != Category.STONE)
        if category == Category.METAL:
            c1, c2 = st.columns(2)
            alloy = c1.selectbox("Alloy", [*ALLOYS, "Other"], key="rcv_alloy")
            other = c2.text_input("Other alloy and its fineness", key="rcv_other",
                                  placeholder="18K green gold, 750")
        if category == Category.FINDING:
            description = st.text_input("Finding", key="rcv_desc",
                                        placeholder="14K yellow lobster clasp 10 mm")
        c1, c2, c3 = st.columns(3)
        qty = c1.text_input("Grams" if category == Category.METAL else "Pieces",
                            value="1" if category == Category.STONE else "", key="rcv_qty",
                            disabled=category == Category.STONE)
        cost = c2.text_input("Cost per gram" if category == Category.METAL else
                             ("Total cost of the parcel" if category == Category.MELEE
                              else "Cost per piece"), key="rcv_cost")
        location = c3.selectbox("Into", loc_codes, key="rcv_loc", format_func=loc_names.get)
        c4, c5 = st.columns(2)
        supplier = c4.text_input("Supplier", key="rcv_supplier")
        reorder = c5.text_input("Reorder at (g or pieces)", key="rcv_reorder",
                                disabled=category == Category.STONE)
        memo = False
        if category == Category.STONE:
            memo = st.checkbox("On memo from a dealer (held, not owned)", key="rcv_memo")
            m1, m2 = st.columns(2)
            memo_date = m1.date_input("Memo date", value=date.today(), key="rcv_memo_date")
            due = m2.date_input("Due back", value=date.today() + timedelta(days=30),
                                key="rcv_memo_due")
        if st.form_submit_button("Add and receive"):
            def spec() -> NewItem:
                total = number(cost, "The cost")
                pieces = number(qty, "The quantity")
                unit_cost = total
                if category == Category.MELEE and total is not None and pieces:
                    unit_cost = (total / pieces).quantize(Decimal("0.01"))
                common_fields = dict(unit_cost=unit_cost, supplier=supplier,
                                     reorder_point=number(reorder, "The reorder point"))
                if category in (Category.STONE, Category.MELEE):
                    return NewItem(category, species=species, shape=shape, origin=origin,
                                   carat=number(carat, "The carat weight"), colour=colour,
                                   clarity=clarity, cut=cut, measurements=measurements,
                                   cert_lab=lab if category == Category.STONE else "",
                                   cert_number=report if category == Category.STONE else "",
                                   ownership=Ownership.MEMO if memo else Ownership.OWNED,
                                   memo_dealer=supplier if memo else "",
                                   memo_date=memo_date if memo else None,
                                   memo_due_date=due if memo else None, **common_fields)
                if category == Category.METAL:
                    if alloy == "Other":
                        name, _, fine = other.rpartition(",")
                        if not name.strip() or not fine.strip().isdigit():
                            raise InvalidInput("Type the other alloy as 'name, fineness' "
                                               "(e.g. '18K green gold, 750').")
                        return NewItem(category, alloy=name.strip(),
                                       fineness=int(fine.strip()), **common_fields)
                    return NewItem(category, alloy=alloy, **common_fields)
                return NewItem(category, description=description, **common_fields)

            try:
                built = spec()
            except AtelierError as exc:
                st.session_state["receive_flash"] = ("error", str(exc))
                st.rerun()
            add(built, qty, location)

with more_tab:
    with st.form("rcv_more", clear_on_submit=True):
        c1, c2 = st.columns([2, 1])
        code = c1.text_input("Item code (scan or type)", key="more_code", placeholder="M-0003")
        qty = c2.text_input("Quantity (g or pieces)", key="more_qty")
        c3, c4, c5 = st.columns(3)
        cost = c3.text_input("Unit cost", key="more_cost")
        ct = c4.text_input("Total ct (melee)", key="more_ct")
        into = c5.selectbox("Into", loc_codes, key="more_loc", format_func=loc_names.get)
        if st.form_submit_button("Receive"):
            try:
                total = inv.receive_stock(common.uow(), code, qty, actor, location=into,
                                          unit_cost=cost or None, carats=ct or None)
            except AtelierError as exc:
                st.session_state["receive_flash"] = ("error", str(exc))
            else:
                typed_code = parse_code(code) or code.strip().upper()
                received = invq.item_by_code(cur, typed_code)
                unit = received["unit"] if received else "pc"
                st.session_state["receive_flash"] = (
                    "success", f"{typed_code} received; {fmt_qty(total, unit)} on hand.")
            st.rerun()

with vendor_tab:
    vendors = invq.locations(cur)
    st.dataframe(vendors[["code", "name", "kind"]], hide_index=True, width="stretch")
    with st.form("rcv_vendor", clear_on_submit=True):
        name = st.text_input("Outside vendor", key="vendor_name",
                             placeholder="Caster: Acme Casting")
        if st.form_submit_button("Add vendor"):
            try:
                new_code = inv.add_location(common.uow(), name, LocationKind.VENDOR, actor)
            except AtelierError as exc:
                st.session_state["receive_flash"] = ("error", str(exc))
            else:
                st.session_state["receive_flash"] = ("success", f"{name} added as {new_code}.")
            st.rerun()
