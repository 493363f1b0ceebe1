"""The "Materials" section of the job page: what the job plans to use and what it holds, and
the bench jeweler's metal check-in at the end of production.

Not a page (st.navigation lists the pages): `pages/job.py` calls `materials_section(job,
actor)`. Reads through `storage.inventory_queries`, writes through
`workflow.inventory_services`; a refusal is shown in the service's own words.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import streamlit as st

from pages import common
from storage import inventory_queries as invq
from workflow import inventory_services as inv
from workflow.errors import AtelierError
from workflow.inventory import (
    CATEGORY_LABELS,
    Category,
    NewItem,
    Origin,
    carats_to_grams,
    fmt_qty,
    to_dwt,
)
from workflow.lifecycle import CLOSED_STATES
from workflow.model import Actor

FLASH = "materials_flash"


def _run(action: Callable[[], object], success: str | Callable[[object], str]) -> None:
    """Call a service; keep its refusal, or the success sentence (a text, or made from the
    service's result), for the next run; rerun."""
    try:
        result = action()
    except AtelierError as exc:
        st.session_state[FLASH] = ("error", str(exc))
    else:
        st.session_state[FLASH] = ("success", success(result) if callable(success) else success)
    st.rerun()


def _grams(qty, unit: str, show_dwt: bool) -> str:
    text = fmt_qty(qty, unit)
    if show_dwt and unit == "g" and qty:
        text += f" ({to_dwt(Decimal(qty))} dwt)"
    return text


def materials_section(job: dict, actor: Actor) -> None:
    """Show and change one job's materials. `job` is the row of `storage.queries.job_detail`
    (id, job_number, state ...); `actor` the person at the screen."""
    cur = common.cursor()
    job_id, number, state = job["id"], job["job_number"], job["state"]
    show_dwt = invq.inventory_setting(cur, "show_dwt") == "yes"
    st.subheader("Materials")
    flash = st.session_state.pop(FLASH, None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(flash[1])
    materials = invq.job_materials(cur, job_id)
    if materials.empty:
        st.caption("No materials planned. Add stones by their code, metal in grams, melee and "
                   "findings in pieces: they are reserved when the design is approved and "
                   "issued to the bench when production starts.")
    else:
        rows = [{"code": m.code, "what": m.description,
                 "kind": CATEGORY_LABELS.get(m.category, m.category)
                 + (" (customer's)" if m.ownership == "customer" else ""),
                 "planned": _grams(m.planned, m.unit, show_dwt) if m.planned is not None
                 else "—",
                 "reserved": fmt_qty(m.reserved, m.unit),
                 "at the bench": _grams(m.issued, m.unit, show_dwt),
                 "available in stock": fmt_qty(m.available, m.unit)}
                for m in materials.itertuples()]
        st.dataframe(rows, hide_index=True, width="stretch")
    shown = set()
    for r in invq.job_metal_results(cur, job_id):      # newest first: the latest per metal
        if r["code"] in shown:
            continue
        shown.add(r["code"])
        over = r["loss_pct"] > r["norm_pct"]
        line = (f"Metal loss {r['code']} ({r['description']}): **{r['loss_pct']}%** of "
                f"{r['issued_g']} g issued — {r['finished_g']} g in the piece, "
                f"{r['returned_g']} g returned, {r['loss_g']} g lost (norm {r['norm_pct']}%).")
        (st.warning if over else st.info)(line + (" Above the shop's norm." if over else ""))
    if state in CLOSED_STATES:
        return

    with st.form("mat_add", clear_on_submit=True):
        c1, c2 = st.columns([2, 1])
        code = c1.text_input("Item code (scan or type)", key="mat_code",
                             placeholder="S-0012, M-0003 ...")
        qty = c2.text_input("Quantity (g or pieces)", key="mat_qty", placeholder="6.0")
        note = st.text_input("Note", key="mat_note")
        if st.form_submit_button("Add to the plan"):
            _run(lambda: inv.plan_material(common.uow(), job_id, code, qty or "1", actor,
                                           note=note), f"{code.strip().upper()} planned.")
    planned = [m.code for m in materials.itertuples() if m.planned is not None]
    held = materials[(materials["reserved"] != 0) | (materials["issued"] != 0)] \
        if not materials.empty else materials
    b1, b2, b3 = st.columns(3)
    if planned and state not in ("in_production", "quality_check", "ready"):
        if b1.button("Reserve now", key="mat_reserve"):
            _run(lambda: inv.reserve_materials(common.uow(), job_id, actor),
                 f"Materials reserved for {number}.")
    if not held.empty and (held["reserved"] != 0).any():
        if b2.button("Release reservations", key="mat_release"):
            _run(lambda: inv.release_materials(common.uow(), job_id, actor),
                 f"Reservations of {number} released.")
    if planned:
        with b3.popover("Take off the plan"):
            gone = st.selectbox("Item", planned, key="mat_remove_code")
            if st.button("Take it off", key="mat_remove"):
                _run(lambda: inv.remove_material(common.uow(), job_id, gone, actor),
                     f"{gone} taken off the plan.")

    if state == "in_production":
        _bench_moves(job_id, actor)
        metals = [m for m in materials.itertuples() if m.category == Category.METAL
                  and (m.issued != 0 or m.planned is not None)]
        if metals:
            _finish_form(job_id, actor, metals, materials)
    _customer_stone(job_id, actor)


def _bench_moves(job_id: int, actor: Actor) -> None:
    with st.form("mat_bench", clear_on_submit=True):
        st.markdown("**Issue more to the bench, or return to the safe**")
        c1, c2, c3 = st.columns([2, 1, 1])
        code = c1.text_input("Item code", key="mat_move_code")
        qty = c2.text_input("Quantity", key="mat_move_qty")
        way = c3.radio("Move", ["issue", "return"], key="mat_move_way", horizontal=True)
        if st.form_submit_button("Record the move"):
            if way == "issue":
                _run(lambda: inv.issue_to_job(common.uow(), job_id, code, qty, actor),
                     f"{code.strip().upper()}: {qty} issued.")
            else:
                _run(lambda: inv.return_from_job(common.uow(), job_id, code, qty, actor),
                     f"{code.strip().upper()}: {qty} returned to the safe.")


def _finish_form(job_id: int, actor: Actor, metals: list, materials) -> None:
    # The frame holds floats (DuckDB DECIMAL in pandas): back to Decimal through text.
    stones_ct = sum((Decimal(str(m.carat)) * Decimal(str(m.issued or 0))
                     for m in materials.itertuples()
                     if m.category == Category.STONE and m.carat is not None), Decimal(0))
    stones_ct = stones_ct.quantize(Decimal("0.001"))
    with st.form("mat_finish"):
        st.markdown("**End of production: metal check-in**")
        st.caption("Weigh the finished piece and the scrap, filings and sprues returned. "
                   "Metal loss = issued − (metal in the piece + returned), as % of issued."
                   + (f" Stones at the bench weigh {stones_ct} ct = "
                      f"{carats_to_grams(stones_ct)} g: take them off the piece's gross weight."
                      if stones_ct else ""))
        weights = {}
        for m in metals:
            c1, c2 = st.columns(2)
            finished = c1.text_input(f"{m.code} in the finished piece (g)",
                                     key=f"mat_fin_{m.code}")
            returned = c2.text_input(f"{m.code} returned (g)", key=f"mat_ret_{m.code}",
                                     value="0")
            weights[m.code] = (finished, returned)
        if st.form_submit_button("Record the finished weight"):
            missing = [c for c, (f, _) in weights.items() if not f.strip()]
            if missing:
                st.session_state[FLASH] = ("error", "Enter the finished weight of "
                                           + ", ".join(missing) + ".")
                st.rerun()
            _run(lambda: inv.finish_production(common.uow(), job_id, actor, weights),
                 lambda results: "Finished weight recorded: " + "; ".join(
                     f"{r['code']} metal loss {r['loss_pct']}% (norm {r['norm_pct']}%)"
                     for r in results) + ".")


def _customer_stone(job_id: int, actor: Actor) -> None:
    with st.expander("Take in the customer's own stone"):
        with st.form("mat_customer_stone", clear_on_submit=True):
            c1, c2, c3 = st.columns(3)
            species = c1.text_input("Stone", value="Diamond", key="cs_species")
            shape = c2.text_input("Shape", key="cs_shape", placeholder="round")
            carat = c3.text_input("Carat (ct)", key="cs_carat")
            c4, c5, c6 = st.columns(3)
            colour = c4.text_input("Colour", key="cs_colour")
            clarity = c5.text_input("Clarity", key="cs_clarity")
            origin = c6.selectbox("Origin", [o.value for o in Origin], key="cs_origin",
                                  format_func=lambda o: o.replace("_", "-"))
            c7, c8, c9 = st.columns(3)
            lab = c7.text_input("Certificate lab", key="cs_lab", placeholder="GIA")
            report = c8.text_input("Report number", key="cs_report")
            value = c9.text_input("Declared value", key="cs_value")
            condition = st.text_area("Condition at intake", key="cs_condition",
                                     placeholder="Chip at 3 o'clock on the girdle; abraded "
                                                 "facet junctions")
            if st.form_submit_button("Take in the stone"):
                def take_in():
                    try:
                        ct = Decimal(carat.strip()) if carat.strip() else None
                    except ArithmeticError as exc:
                        raise AtelierError(f"Carat {carat!r} is not a number.") from exc
                    return inv.take_in_customer_stone(
                        common.uow(), job_id, actor,
                        NewItem(Category.STONE, species=species, shape=shape, carat=ct,
                                colour=colour, clarity=clarity, origin=origin, cert_lab=lab,
                                cert_number=report),
                        declared_value=value, condition=condition)

                _run(take_in, lambda code: f"The customer's stone is taken in as {code} and "
                     "reserved for this job; print its label from the item's page.")
