"""Customer messages: the review queue (messages held for staff to edit and send), every
message with its job, customer, channel, status, attempts, provider id, last error and time,
retry and cancel, and a customer's own preferences (channel, opt-out).

Reads through `storage.outbox_queries`; every write is a `workflow.notification_services` call
(audited). The dispatcher that sends the queue runs in the background of this app.
"""

from datetime import UTC, datetime, timedelta

import streamlit as st

from pages import common, dispatcher_runtime
from storage import outbox_queries
from workflow import notification_services as notify
from workflow.lifecycle import STAGES
from workflow.model import Channel
from workflow.notifications import NOTIFIED_STAGES, Status

actor = common.require_actor()
cur = common.cursor()
st.title("Customer messages")

common.show_flash("notify_flash")



def run(action, success: str) -> None:
    common.run_action(action, success, "notify_flash")


def channel_label(channel: str | None) -> str:
    return {"email": "Email", "sms": "SMS", "whatsapp": "WhatsApp", "phone": "Phone call"}.get(
        channel or "", channel or "")


# --- how messages go out ---------------------------------------------------------------------
runtime = dispatcher_runtime.runtime_for(common.database_file())
if runtime is None:
    st.caption("No dispatcher is running in this app process; queued messages wait for "
               "`python cli.py dispatch`.")
else:
    for problem in runtime.wiring.problems:
        st.warning(problem)
    routes = " · ".join(f"**{channel_label(c)}**: {d}"
                        for c, d in runtime.wiring.descriptions.items())
    if runtime.disabled:
        st.warning("The dispatcher is switched off in this app (ATELIER_DISPATCHER=off): "
                   "queued messages go out only with `python cli.py dispatch`.")
    elif not runtime.running:
        st.error("The dispatcher has stopped; restart the app to start it again.")
    else:
        last = runtime.dispatcher.last_run_at if runtime.dispatcher else None
        st.caption("The dispatcher checks for due messages every few seconds"
                   + (f" (last check {common.local_time(last, '%H:%M:%S')})." if last else "."))
        if runtime.dispatcher and runtime.dispatcher.last_problem:
            st.error(f"The dispatcher's last round failed: {runtime.dispatcher.last_problem}")
    st.caption(routes)

counts = outbox_queries.status_counts(cur)
tiles = (Status.HELD, Status.QUEUED, Status.FAILED, Status.SENT, Status.DELIVERED_LOCALLY,
         Status.CANCELLED, Status.SKIPPED)  # every status has a tile: nothing hides
cols = st.columns(len(tiles))
for col, status in zip(cols, tiles, strict=True):
    col.metric(Status.LABELS[status], counts.get(status, 0))

# --- the review queue ------------------------------------------------------------------------
held = outbox_queries.messages(cur, outbox_queries.MessageFilter(statuses=(Status.HELD,)),
                               limit=50)
st.subheader(f"Held for review ({len(held)})")
if held.empty:
    st.caption("Nothing waiting. A stage set to \"Hold for review\" on the Message templates "
               "page puts its messages here for you to read, edit and send.")
for row in held.itertuples():
    msg = outbox_queries.message(cur, int(row.id))
    if msg is None:
        continue
    is_text = msg["channel"] in (Channel.SMS, Channel.WHATSAPP)
    title = (f"{row.job_number} · {row.customer or 'no customer'} · {STAGES.get(row.stage)} · "
             f"{channel_label(msg['channel'])} to {row.to or '—'}")
    with st.expander(title, expanded=len(held) <= 3):
        if msg["note"]:
            st.caption(msg["note"])
        with st.form(f"held_{row.id}"):
            subject = st.text_input("Subject", value=msg["subject"] or "",
                                    key=f"held_subject_{row.id}")
            text = st.text_area("Message", value=msg["body_text"] or "", height=240,
                                key=f"held_text_{row.id}")
            sms = st.text_area("SMS text", value=msg["body_sms"] or "", height=90,
                               key=f"held_sms_{row.id}") if is_text else None
            st.caption("The HTML version is rebuilt from the message text when you change it.")
            c1, c2, c3 = st.columns(3)
            send = c1.form_submit_button("Send", type="primary")
            save = c2.form_submit_button("Save without sending")
            drop = c3.form_submit_button("Don't send")
        if send or save:
            run(lambda i=int(row.id), s=subject, t=text, m=sms, go=send:
                notify.edit_held_message(common.uow(), i, actor, subject=s, text=t, sms=m,
                                         send=go),
                f"Message to {row.customer or row.to} " + ("queued to go out now."
                                                          if send else "saved."))
        if drop:
            run(lambda i=int(row.id): notify.cancel_message(common.uow(), i, actor,
                                                             reason="not sent after review"),
                "Message cancelled: it won't be sent.")

# --- every message ---------------------------------------------------------------------------
st.subheader("All messages")
f1, f2, f3, f4, f5 = st.columns([2, 2, 2, 2, 1])
statuses = f1.multiselect("Status", list(Status.ALL), format_func=Status.LABELS.get,
                          key="msg_status")
channels = f2.multiselect("Channel", ["email", "sms", "whatsapp"], format_func=channel_label,
                          key="msg_channel")
stages = f3.multiselect("Stage", list(NOTIFIED_STAGES), format_func=STAGES.get,
                        key="msg_stage")
search = f4.text_input("Job, customer, email or phone", key="msg_search")
period = f5.selectbox("Since", ["7 days", "30 days", "90 days", "all"], index=1,
                      key="msg_period")
since = None if period == "all" else datetime.now(UTC) - timedelta(days=int(period.split()[0]))
flt = outbox_queries.MessageFilter(statuses=tuple(statuses), channels=tuple(channels),
                                   stages=tuple(stages), search=search, since=since)
frame = outbox_queries.messages(cur, flt)
if frame.empty:
    st.info("No messages match." if (statuses or channels or stages or search) else
            "No messages yet: they are queued as jobs move through the workshop.")
else:
    shown = frame.assign(
        when=[common.local_time(v) for v in frame["created_at"]],
        sent=[common.local_time(v) for v in frame["sent_at"]],
        stage=[STAGES.get(v, v) for v in frame["stage"]],
        status=[Status.LABELS.get(v, v) for v in frame["status"]],
        channel=[channel_label(s or c) for s, c in zip(frame["sent_via"], frame["channel"],
                                                         strict=True)],
    )[["id", "when", "job_number", "customer", "channel", "to", "stage", "status", "attempts",
       "provider_message_id", "last_error", "sent"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "id": st.column_config.NumberColumn("#", width="small"),
        "when": "Queued", "job_number": "Job", "customer": "Customer", "channel": "Channel",
        "to": "To", "stage": "Stage", "status": "Status", "attempts": "Attempts",
        "provider_message_id": "Provider id", "last_error": "Last error", "sent": "Sent"})
    if len(frame) >= 500:
        st.caption("Showing the latest 500; narrow the filters to see older ones.")

    options = [int(i) for i in frame["id"]]
    labels = {int(r.id): f"#{r.id} · {r.job_number} · {r.customer or ''} · "
              f"{STAGES.get(r.stage, r.stage)} · {Status.LABELS.get(r.status, r.status)}"
              for r in frame.itertuples()}
    chosen = st.selectbox("Open a message", options, format_func=labels.get, index=None,
                          placeholder="Pick a message to read it, retry or cancel it",
                          key="msg_open")
    if chosen is not None:
        msg = outbox_queries.message(cur, int(chosen))
        with st.container(border=True):
            st.markdown(f"**{msg['subject'] or '(no subject)'}**  \n"
                        f"Job {msg['job_number']} · {msg['customer'] or 'no customer'} · "
                        f"{channel_label(msg['sent_via'] or msg['channel'])} · "
                        f"{Status.LABELS.get(msg['status'], msg['status'])} · "
                        f"{msg['attempts']} attempt(s)")
            facts = [f"Email: {msg['recipient_email'] or '—'}",
                     f"Mobile: {msg['recipient_phone'] or '—'}",
                     f"Queued {common.local_time(msg['created_at'])}"]
            if msg["sent_at"]:
                facts.append(f"sent {common.local_time(msg['sent_at'])} via "
                             f"{msg['provider']} ({msg['provider_message_id'] or 'no id'})")
            if msg["status"] == Status.QUEUED and msg["next_attempt_at"]:
                facts.append(f"next try {common.local_time(msg['next_attempt_at'])}")
            st.caption(" · ".join(facts))
            if msg["last_error"]:
                st.error(msg["last_error"])
            if msg["note"]:
                st.info(msg["note"])
            text_tab, sms_tab = st.tabs(["Email text", "SMS text"])
            text_tab.text(msg["body_text"] or "")
            sms_tab.text(msg["body_sms"] or "")
            b1, b2 = st.columns([1, 3])
            if msg["status"] in (Status.FAILED, Status.CANCELLED):
                if b1.button("Retry", key=f"retry_{chosen}", type="primary"):
                    run(lambda: notify.retry_message(common.uow(), int(chosen), actor),
                        f"Message #{chosen} queued again.")
            if msg["status"] in (Status.QUEUED, Status.HELD, Status.FAILED):
                with b2.form(f"cancel_{chosen}", border=False):
                    why = st.text_input("Why not send it", key=f"cancel_reason_{chosen}")
                    if st.form_submit_button("Cancel this message"):
                        run(lambda: notify.cancel_message(common.uow(), int(chosen), actor,
                                                          reason=why),
                            f"Message #{chosen} cancelled.")

# --- a customer's preferences ----------------------------------------------------------------
st.subheader("A customer's preferences")
typed = st.text_input("Find a customer (name, email or phone)", key="pref_search")
if typed.strip():
    found = outbox_queries.find_customers(cur, typed)
    if found.empty:
        st.caption(f"No customer matches {typed!r}.")
    else:
        names = {int(r.id): f"{r.name} · {r.email or r.phone or 'no contact'}"
                 for r in found.itertuples()}
        customer_id = st.selectbox("Customer", list(names), format_func=names.get,
                                   key="pref_customer")
        prefs = outbox_queries.customer_preferences(cur, int(customer_id))
        channels_all = [c.value for c in Channel]
        with st.form("prefs"):
            channel = st.selectbox("Preferred channel", channels_all,
                                   index=channels_all.index(prefs["preferred_channel"])
                                   if prefs["preferred_channel"] in channels_all else 0,
                                   format_func=channel_label, key="pref_channel")
            opted_out = st.checkbox("No updates, please (design reviews still go out)",
                                    value=bool(prefs["notifications_opt_out"]),
                                    key="pref_opt_out")
            if prefs["opted_out_at"] is not None:
                st.caption(f"Opted out {common.local_time(prefs['opted_out_at'])}.")
            if st.form_submit_button("Save preferences"):
                run(lambda: notify.set_customer_preferences(
                        common.uow(), int(customer_id), actor, preferred_channel=channel,
                        opted_out=opted_out),
                    f"Preferences of {prefs['name']} saved.")
