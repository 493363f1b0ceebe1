"""The shop's people and its workflow: add staff, see the lifecycle as a diagram, settings."""

import streamlit as st

from pages import common
from storage import queries
from workflow import lifecycle
from workflow.errors import AtelierError
from workflow.model import Role
from workflow.services import add_staff

actor = common.require_actor()
cur = common.cursor()
st.title("Staff and workflow")

st.subheader("Staff")
staff_table = st.empty()  # filled after the form, so a person just added is listed
if actor.is_manager:
    with st.form("add_staff", clear_on_submit=True):
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key="new_staff_name")
        roles = [r.value for r in Role]
        role = c2.selectbox("Role", roles, key="new_staff_role",
                            index=roles.index(Role.BENCH_JEWELER),
                            format_func=lambda r: r.replace("_", " "))
        if st.form_submit_button("Add staff member"):
            try:
                add_staff(common.uow(), name, role, actor)
                st.success(f"{name} added.")
            except AtelierError as exc:
                common.show_error(exc)
else:
    st.caption("Only a manager can add staff.")
people = queries.staff(cur, active_only=False)
people["role"] = people["role"].str.replace("_", " ")
staff_table.dataframe(people[["name", "role", "active"]], hide_index=True, width="stretch")

st.subheader("The lifecycle of a job")
st.caption("Generated from the same table that decides which moves are allowed.")
st.graphviz_chart(lifecycle.graphviz_dot())
with st.expander("The same diagram as Mermaid text (as in the README)"):
    st.code(lifecycle.mermaid(), language="mermaid")
rows = [{"action": t.label, "trigger": t.trigger, "from": lifecycle.STAGES[t.source],
         "to": lifecycle.STAGES[t.dest], "needs": ", ".join(t.guards) or "—"}
        for t in lifecycle.TRANSITIONS if t.trigger not in ("hold", "resume", "cancel")]
st.dataframe(rows, hide_index=True, width="stretch")
st.caption("Any open stage can also be put on hold (and resumed where it was) or cancelled "
           "with a reason.")
