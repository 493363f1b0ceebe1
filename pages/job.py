"""One job: what it is, where it is, what can happen next, and everything that happened.

Actions come from the lifecycle table; those whose guard is not met are shown greyed with the
reason. Every write goes through a workflow service with the version this page showed, so a
change made meanwhile by someone else is refused with "reload" instead of being overwritten.
"""

from datetime import date
from pathlib import Path

import streamlit as st

from pages import common
from pages.materials import materials_section
from storage import queries
from workflow import services
from workflow.lifecycle import STAGES, allowed_actions
from workflow.model import Location
from workflow.ring_size import describe

actor = common.require_actor()
cur = common.cursor()

number = st.query_params.get("job", "")
if st.session_state.get("_job_lookup_for") != number:
    # opened for another job (URL, board, QR code): the box shows that job, not the last typed
    st.session_state["job_lookup"] = number
    st.session_state["_job_lookup_for"] = number
typed = st.text_input("Job number", key="job_lookup", placeholder="J-0042",
                      label_visibility="collapsed")
if typed and typed.strip().upper() != number:
    st.query_params["job"] = typed.strip().upper()
    number = typed.strip().upper()
    st.session_state["_job_lookup_for"] = number
job_id = queries.job_id_by_number(cur, number) if number else None
if job_id is None:
    st.title("Job")
    st.info(f"No job {number} here." if number else
            "Open a job from the board, or type its number (it's on the job envelope).")
    st.stop()

job = queries.job_detail(cur, job_id)
seen_key = f"seen_version_{job_id}"
seen_version = st.session_state.get(seen_key, job["version"])


def run(action, success: str | None = None) -> None:
    """Call a service; its refusal or `success` is shown after the rerun."""
    common.run_action(action, success, "job_flash",
                      on_success=lambda: st.session_state.pop(seen_key, None))


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1024 else (f"{n / 1024:.0f} KB" if n < 1024 * 1024
                                         else f"{n / 1024 / 1024:.1f} MB")


flags = (f" {common.RUSH_ICON} Rush" if job["rush"] else "")
times = f" × {job['quantity']}" if job["quantity"] > 1 else ""
st.title(f"{job['job_number']} · {job['piece']}{times}{flags}")
if job["quantity"] > 1:
    st.info(f"The order asks for {job['quantity']} of this piece: one job makes them all.")
common.show_flash("job_flash")
if seen_version != job["version"]:
    st.warning("This job was changed by someone else since you opened it.")
    if st.button("Reload", key="reload"):
        st.session_state[seen_key] = job["version"]
        st.rerun()

stage = STAGES[job["state"]]
held = f" (held from {STAGES[job['held_from']]})" if job["held_from"] else ""
due = job["promised_date"].strftime("%d %b %Y") if job["promised_date"] else "no date"
st.markdown(f"**Stage:** {stage}{held} · **Promised:** {due} · "
            f"**Assignee:** {job['assignee'] or 'unassigned'} · "
            f"**Where:** {job['location'].replace('_', ' ')} · "
            f"revision rounds {job['revision_rounds']} · reworks {job['reworks']}")
if job["cancelled_in_shopify"] and job["state"] not in ("cancelled", "completed"):
    what = "cancelled" if job["cancelled_at"] is not None else job["financial_status"]
    st.error(f"This order was {what} in Shopify. Decide: cancel the job, or keep making it.")

# --- actions ---------------------------------------------------------------------------------
facts = queries.job_facts(cur, job_id, actor_is_manager=actor.is_manager)
actions = allowed_actions(job["state"], job["held_from"], facts)
st.subheader("Next steps")
if not actions:
    st.caption(f"Nothing more happens to a {stage.lower()} job.")
def _needs_text(transition) -> bool:
    return transition.needs_reason or (transition.trigger == "hand_over"
                                       and job["balance_due"] > 0 and actor.is_manager)


# Plain moves side by side; moves that need words (cancel, QC failed, an override) each in a
# small form below; what is waiting, and why, under them.
plain = [(t, b) for t, b in actions if not _needs_text(t)]
worded = [(t, b) for t, b in actions if _needs_text(t)]
if plain:
    for col, (transition, blocked) in zip(st.columns(len(plain)), plain, strict=True):
        if col.button(transition.label, key=f"act_{transition.trigger}",
                      disabled=blocked is not None, help=blocked,
                      # the way forward stands out; putting on hold does not
                      type="primary" if blocked is None and transition.trigger != "hold"
                      else "secondary",
                      width="stretch"):
            run(lambda t=transition: services.change_stage(
                common.uow(), job_id, t.trigger, actor, expected_version=seen_version),
                f"{job['job_number']}: {transition.label}.")
if worded:
    for col, (transition, blocked) in zip(st.columns(len(worded)), worded, strict=True):
        with col.form(key=f"form_{transition.trigger}", border=True):
            label = "Reason" if transition.needs_reason else (
                f"Override: why hand over with {common.money(job['balance_due'], job['currency'])}"
                " unpaid?")
            text = st.text_input(label, key=f"reason_{transition.trigger}")
            pressed = st.form_submit_button(transition.label, disabled=blocked is not None)
        if pressed:
            run(lambda t=transition, x=text: services.change_stage(
                common.uow(), job_id, t.trigger, actor, expected_version=seen_version,
                reason=x if t.needs_reason else "", override_reason="" if t.needs_reason else x),
                f"{job['job_number']}: {transition.label}.")
for transition, blocked in actions:
    if blocked:
        st.caption(f"{transition.label}: waiting — {blocked}.")

left, right = st.columns([3, 2])

# --- design versions and the customer's answer -----------------------------------------------
with left:
    st.subheader("Design")
    versions = queries.design_versions(cur, job_id)
    for v in versions.itertuples():
        with st.container(border=True):
            decision = {"approved": "✅ approved", "changes_requested": "✏️ changes asked"}.get(
                v.decision or "", "no answer yet")
            st.markdown(f"**Version {v.version_no}** · {v.file_name} · {decision}  \n"
                        f"{v.note or ''}")
            st.caption(f"by {v.uploaded_by}, {common.local_time(v.uploaded_at)} · "
                       f"{_size(v.size_bytes)} · sha256 {v.sha256[:12]}…")
            if Path(v.file_path).exists():
                if v.media_type.startswith("image/"):
                    st.image(v.file_path, width=220)
                else:
                    st.download_button("Download PDF", Path(v.file_path).read_bytes(),
                                       file_name=v.file_name, key=f"dl_{v.version_no}")
    if job["state"] not in ("completed", "cancelled"):
        with st.form("upload_design", clear_on_submit=True):
            upload = st.file_uploader("Attach a render or photo (PNG, JPEG or PDF, up to 20 MB)",
                                      type=["png", "jpg", "jpeg", "pdf"])
            note = st.text_input("What changed in this version", key="design_note")
            if st.form_submit_button("Attach as the next version") and upload is not None:
                run(lambda: services.attach_design_version(
                    common.uow(), job_id, upload.name, upload.getvalue(), actor,
                    files_dir=common.files_dir(), note=note), "Design version attached.")
    if not versions.empty and job["state"] in ("design_consultation", "awaiting_approval"):
        with st.form("design_answer", clear_on_submit=True):
            st.markdown("**Record the customer's answer**")
            version_no = st.selectbox("Version", list(versions["version_no"]),
                                      key="answer_version")
            decision = st.radio("Answer", ["approved", "changes_requested"], horizontal=True,
                                format_func=lambda d: {"approved": "Approved",
                                                       "changes_requested": "Asked for changes"}[d])
            channel = st.selectbox("How they told us", ["in person", "phone", "email", "text",
                                                        "WhatsApp", "approval link"])
            words = st.text_area("The customer's words", key="answer_words")
            if st.form_submit_button("Record answer"):
                run(lambda: services.record_design_decision(
                    common.uow(), job_id, int(version_no), decision, actor, channel=channel,
                    customer_words=words, expected_version=seen_version), "Answer recorded.")

    if job["state"] == "quality_check":
        st.subheader("Quality check")
        if job["last_bench_jeweler"]:
            st.caption(f"Made by {job['last_bench_jeweler']}: someone else signs the check.")
        with st.form("qc", clear_on_submit=True):
            results = {p: st.checkbox(p, key=f"qc_{i}")
                       for i, p in enumerate(services.QC_CHECKLIST)}
            qc_note = st.text_input("Note", key="qc_note")
            if st.form_submit_button(f"Sign the checklist as {actor.name}"):
                failed = [p for p, ok in results.items() if not ok]
                run(lambda: services.record_qc_check(common.uow(), job_id, results, actor,
                                                     note=qc_note),
                    "QC checklist signed: every point passed." if not failed else
                    f"QC checklist signed as FAILED on {len(failed)} of {len(results)} points "
                    f"(unticked points count as failed): {', '.join(failed)}.")
    checks = queries.qc_checks(cur, job_id)
    if not checks.empty:
        st.dataframe(checks[["signed_at", "signed_by", "all_passed", "note"]],
                     hide_index=True, width="stretch")

    materials_section(job, actor)
    st.subheader("Timeline")
    with st.form("add_note", clear_on_submit=True):
        body = st.text_area("Add a note", key="note_body", height=70)
        if st.form_submit_button("Add note"):
            run(lambda: services.add_job_note(common.uow(), job_id, body, actor), "Note added.")
    events = queries.timeline(cur, job_id)
    for e in events.itertuples():
        st.markdown(f"`{common.local_time(e.changed_at)}` **{e.actor}** · {e.kind} — {e.text}")

# --- order, customer, details ----------------------------------------------------------------
with right:
    st.subheader("Order and customer")
    st.markdown(
        f"**{job['order_name']}** ({job['order_source'].replace('_', ' ')}) · "
        f"total {common.money(job['total'], job['currency'])} · "
        f"balance due **{common.money(job['balance_due'], job['currency'])}**  \n"
        + " · ".join(part for part in (job["customer"] or "no customer", job["email"],
                                       job["phone"],
                                       f"prefers {job['preferred_channel'] or 'email'}")
                     if part))
    if job["shipping_address"]:
        st.caption(f"Ships to: {job['shipping_address']}")
    if job["refunded_amount"]:
        st.caption(f"Refunded in Shopify: {common.money(job['refunded_amount'], job['currency'])}")
    if job["order_notes"] or job["note_attributes"]:
        st.caption(f"Order notes: {job['order_notes'] or ''} {job['note_attributes'] or ''}")
    siblings = queries.jobs_of_order(cur, job["order_id"])
    if len(siblings) > 1:
        st.caption("Other pieces in this order: " + ", ".join(
            f"{r.job_number} ({STAGES[r.state]})" for r in siblings.itertuples()
            if r.id != job_id))
    if job["balance_due"] > 0:
        # No amount filled in for the cashier: a double click must never post the whole
        # balance; a blank second submit is ignored.
        with st.form("payment", clear_on_submit=True):
            amount = st.text_input("Take a payment", key="pay_amount",
                                   placeholder=f"{job['balance_due']:,.2f} is due")
            method = st.selectbox("Method", ["card", "cash", "bank transfer"], key="pay_method")
            if st.form_submit_button("Record payment") and amount.strip():
                run(lambda: services.take_payment(common.uow(), job["order_id"], amount, actor,
                                                  method=method),
                    f"Payment of {job['currency']} {amount.strip()} recorded.")

    st.subheader("Details")
    staff = queries.staff(cur)
    staff_ids = [None] + [int(i) for i in staff["id"]]
    names = dict(zip(staff["id"].astype(int), staff["name"], strict=True))
    with st.form("details"):
        assignee = st.selectbox("Assignee", staff_ids,
                                index=staff_ids.index(job["assignee_id"])
                                if job["assignee_id"] in staff_ids else 0,
                                format_func=lambda i: "Unassigned" if i is None else names[i])
        locations = [loc.value for loc in Location]
        location = st.selectbox("Where is it", locations,
                                index=locations.index(job["location"]),
                                format_func=lambda s: s.replace("_", " ").capitalize())
        promised = st.date_input("Promised date", value=job["promised_date"],
                                 min_value=date(2000, 1, 1))
        rush = st.checkbox("Rush", value=job["rush"])
        piece = st.text_input("Piece", value=job["piece"])
        c1, c2 = st.columns(2)
        metal = c1.text_input("Metal", value=job["metal"] or "", placeholder="yellow gold")
        karat = c2.text_input("Karat", value=job["karat"] or "", placeholder="14K, 18K, Pt950")
        stones = st.text_input("Stones", value=job["stones"] or "",
                               placeholder="1.02 ct round lab diamond, GIA 1234567890")
        ring = st.text_input("Ring size", value=job["ring_size_text"] or "",
                             help="US (7, 7 1/2), UK/AU (N½) or EU (EU 54)")
        if job["ring_size_mm"] is not None:
            st.caption(f"Stored as {job['ring_size_mm']} mm: {describe(job['ring_size_mm'])}")
        engraving = st.text_input("Engraving", value=job["engraving"] or "")
        notes = st.text_area("Notes for the bench", value=job["notes"] or "")
        design_needed = st.checkbox("Needs a design", value=job["design_needed"])
        if st.form_submit_button("Save details"):
            changes = {"assignee_id": assignee, "location": location, "promised_date": promised,
                       "rush": rush, "piece": piece, "metal": metal or None,
                       "karat": karat or None, "stones": stones or None, "ring_size": ring,
                       "engraving": engraving or None, "notes": notes or None,
                       "design_needed": design_needed}
            run(lambda: services.update_job(common.uow(), job_id, actor, changes,
                                            expected_version=seen_version), "Details saved.")

st.session_state[seen_key] = seen_version
