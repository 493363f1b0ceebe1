"""Shop settings: name, time zone, currency, lead time; and the rules that decide which Shopify
line items become jobs."""

import pandas as pd
import streamlit as st

from pages import common
from storage import queries
from workflow import services
from workflow.errors import AtelierError
from workflow.job_rules import RULE_KINDS, JobRule, rules_from_json

actor = common.require_actor()
cur = common.cursor()
st.title("Shop settings")
settings = queries.all_settings(cur)
if not actor.is_manager:
    st.info("Only a manager can change these; you can look.")

with st.form("shop_settings"):
    name = st.text_input("Shop name", value=settings["shop_name"])
    tz = st.text_input("Time zone", value=settings["shop_tz"],
                       help="An IANA zone such as America/New_York or Europe/London: days, "
                            "due dates and times on screen are the shop's.")
    currency = st.text_input("Currency for walk-in orders", value=settings["currency"])
    lead = st.text_input("Standard lead time (days) for a new job's promised date",
                         value=settings["lead_time_days"])
    if st.form_submit_button("Save settings", disabled=not actor.is_manager):
        try:
            changed = services.save_settings(common.uow(), {
                "shop_name": name, "shop_tz": tz, "currency": currency,
                "lead_time_days": lead}, actor)
            words = [services.SETTING_WORDS[k][0].lower() for k in changed]
            st.success(f"Saved: {', '.join(words)}." if words else "Nothing changed.")
        except AtelierError as exc:
            common.show_error(exc)

st.subheader("Which line items become jobs")
st.caption("Read top to bottom; the first rule that matches a line decides. A line no rule "
           "matches becomes a job. Lines without a job are still listed on their order.")
rules = rules_from_json(settings.get("job_rules"))
# The editor shows the kinds in words; they are stored as their codes.
KIND_WORDS = {"name_pattern": "Product name matches", "sku_prefix": "SKU starts with",
              "vendor": "Vendor is", "tag": "Order has tag"}
KIND_CODES = {words: code for code, words in KIND_WORDS.items()}
frame = pd.DataFrame([{"kind": KIND_WORDS.get(r.kind, r.kind), "value": r.value,
                       "makes_job": r.makes_job, "note": r.note} for r in rules],
                     columns=["kind", "value", "makes_job", "note"])
edited = st.data_editor(
    frame, num_rows="dynamic", width="stretch", key="job_rules_editor",
    disabled=not actor.is_manager,
    column_config={
        "kind": st.column_config.SelectboxColumn("When", options=list(KIND_CODES),
                                                 required=True),
        "value": st.column_config.TextColumn("matches", required=True),
        "makes_job": st.column_config.CheckboxColumn("becomes a job", default=False),
        "note": st.column_config.TextColumn("why"),
    })
st.caption(" · ".join(f"**{KIND_WORDS[k]}**: {v}" for k, v in RULE_KINDS.items()))
if st.button("Save rules", disabled=not actor.is_manager, key="save_rules"):
    try:
        new_rules = [JobRule(KIND_CODES.get(str(r.kind), str(r.kind)), str(r.value or ""),
                             bool(r.makes_job),
                             str(r.note or "")) for r in edited.itertuples()
                     if isinstance(r.kind, str)]
        count = services.save_job_rules(common.uow(), new_rules, actor)
        st.success(f"{count} rules saved; they apply to the next import.")
    except AtelierError as exc:
        common.show_error(exc)
