"""Message templates and switches: which stage's message goes out automatically, is held for
review or is not sent; the shop details the messages use; and each stage's template (subject,
plain text, HTML, SMS) with a live preview against a real job. A template that doesn't render
is refused with the part, line and reason. Managers change; everyone can look.
"""

import streamlit as st

from pages import common
from storage import outbox_queries
from workflow import notification_services as notify
from workflow.errors import AtelierError
from workflow.lifecycle import STAGES
from workflow.notifications import (
    NOTIFY_DEFAULTS,
    SETTING_LABELS,
    TEMPLATE_FIELDS,
    MessageTemplate,
    Switch,
    TemplateInvalid,
    sms_segments,
    stage_switch_key,
)

actor = common.require_actor()
cur = common.cursor()
st.title("Message templates")
can_edit = actor.is_manager
if not can_edit:
    st.info("Only a manager can change these; you can look and preview.")

common.show_flash("template_flash")



def run(action, success: str) -> None:
    common.run_action(action, success, "template_flash")


settings = outbox_queries.notification_settings(cur)
templates = outbox_queries.templates(cur)
stages = list(templates)
templates_tab, switches_tab, details_tab = st.tabs(["Templates", "Which messages go out",
                                                    "Shop details in messages"])

# --- switches --------------------------------------------------------------------------------
with switches_tab, st.form("switches"):
    chosen = {}
    for stage in stages:
        current = settings.get(stage_switch_key(stage), Switch.AUTO)
        chosen[stage] = st.radio(STAGES[stage], list(Switch.ALL), horizontal=True,
                                 index=list(Switch.ALL).index(current),
                                 format_func=Switch.LABELS.get, key=f"switch_{stage}")
    st.caption("\"Hold for review\" puts the message on the Customer messages page for "
               "someone to read, edit and send. Design reviews go even to customers who "
               "asked for no updates. Changes apply to messages queued from now on.")
    if st.form_submit_button("Save switches", disabled=not can_edit):
        run(lambda: notify.save_notification_settings(
                common.uow(), {stage_switch_key(s): m for s, m in chosen.items()}, actor),
            "Switches saved.")

# --- shop details ----------------------------------------------------------------------------
with details_tab, st.form("shop_details"):
    typed = {}
    for key, label in SETTING_LABELS.items():
        typed[key] = st.text_input(label, value=settings.get(key, NOTIFY_DEFAULTS[key]),
                                   key=f"setting_{key}")
    st.caption(f"The shop's name in messages is \"{settings['shop_name']}\" (a shop setting).")
    if st.form_submit_button("Save details", disabled=not can_edit):
        run(lambda: notify.save_notification_settings(common.uow(), typed, actor),
            "Details saved.")

# --- templates -------------------------------------------------------------------------------
with templates_tab:
    stage = st.selectbox("Message", stages, format_func=lambda s: f"{STAGES[s]}"
                         + (" (edited)" if templates[s].edited else ""), key="tpl_stage")
    template = templates[stage]
    edits = outbox_queries.template_edits(cur)
    edit_row = edits[edits["stage"] == stage]
    if template.edited and not edit_row.empty:
        st.caption(f"Edited by {edit_row.iloc[0]['updated_by']}, "
                   f"{common.local_time(edit_row.iloc[0]['updated_at'])}.")
    else:
        st.caption("The shop's default text.")
    st.caption("Fields: " + ", ".join(f"`{{{{ {f} }}}}`" for f in TEMPLATE_FIELDS)
               + ". Jinja2: `{% if job.promised_date %}...{% endif %}`.")

    keys = {part: f"tpl_{part}_{stage}" for part in MessageTemplate.PARTS}
    left, right = st.columns(2)
    with left:
        subject = st.text_input("Subject", value=template.subject, key=keys["subject"])
        text = st.text_area("Plain text", value=template.text, height=260, key=keys["text"])
        html = st.text_area("HTML", value=template.html, height=220, key=keys["html"])
        sms = st.text_area("SMS / WhatsApp text", value=template.sms, height=100, key=keys["sms"])
        draft = MessageTemplate(stage, subject, text, html, sms)
        b1, b2 = st.columns(2)
        if b1.button("Save template", type="primary", disabled=not can_edit, key="tpl_save"):
            run(lambda: notify.save_template(common.uow(), stage, actor, subject=subject,
                                             text=text, html=html, sms=sms),
                f"Template for {STAGES[stage]} saved.")
        if template.edited and b2.button("Back to the default text", disabled=not can_edit,
                                         key="tpl_reset"):
            for key in keys.values():
                st.session_state.pop(key, None)
            run(lambda: notify.reset_template(common.uow(), stage, actor),
                f"{STAGES[stage]} uses the default text again.")

    with right:
        jobs = outbox_queries.jobs_for_preview(cur)
        if jobs.empty:
            st.info("Preview needs a job: add a walk-in order or import orders first.")
        else:
            names = {int(r.id): f"{r.job_number} · {r.piece} · {r.customer or 'no customer'}"
                     for r in jobs.itertuples()}
            job_id = st.selectbox("Preview with job", list(names), format_func=names.get,
                                  key="tpl_preview_job")
            try:
                shown = notify.preview(cur, stage, int(job_id), draft)
            except TemplateInvalid as exc:
                st.error(f"This template doesn't render: {exc}")
            except AtelierError as exc:
                st.error(str(exc))
            else:
                st.caption(f"The email as {names[int(job_id)].split(' · ')[-1]} would see it:")
                with st.container(border=True):
                    st.markdown(f"**{shown.subject}**")
                    st.html(shown.html)
                with st.expander("Plain-text version", expanded=False):
                    st.text(shown.text)
                segments = sms_segments(shown.sms)
                st.caption(f"SMS, {len(shown.sms)} characters"
                           + (f" ({segments} parts)" if segments > 1 else "") + ":")
                st.text(shown.sms)
