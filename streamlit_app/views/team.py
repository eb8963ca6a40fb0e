import streamlit as st

from curate import privacy as pii
from curate import rating
from curate.errors import TuneloopError
from curate.rating.users import ROLES, add_user, set_active, sign_in_required, unlock, users_frame
from streamlit_app.common import get_store, require
from streamlit_app.render import escape_markdown, table

store = get_store()
admin = require("manage_users")
st.title("Team")
if not sign_in_required(store):
    st.info("You are working alone: nobody signs in. Add the first account with a password (yourself, as admin)"
            " and everyone will sign in from then on.")
table(users_frame(store))
with st.form("add-user", clear_on_submit=True):
    st.subheader("Add a user")
    name = st.text_input("Name")
    role = st.selectbox("Role", ROLES, index=2 if not sign_in_required(store) else 0)
    password = st.text_input("Password (at least 8 characters)", type="password")
    email = st.text_input("Email (to match an OIDC sign-in)")
    if st.form_submit_button("Add", type="primary"):
        try:
            first = not sign_in_required(store)
            user_id = add_user(store, name, role, password or None, email or None)
            st.success(escape_markdown(f"added {role} {name}"))
            if first:  # the person setting up sign-in stays signed in as the account they made
                st.session_state["user"] = {"id": user_id, "name": name.strip(), "role": role}
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))

names = users_frame(store)["name"].tolist()
if names:
    with st.form("account"):
        st.subheader("An account")
        who = st.selectbox("User", names)
        deactivate, activate, unlock_col = st.columns(3)
        if deactivate.form_submit_button("Deactivate", help="Their open session stops at its next action"):
            set_active(store, who, False)
            st.success(escape_markdown(f"deactivated {who}"))
        if activate.form_submit_button("Activate"):
            set_active(store, who, True)
            st.success(escape_markdown(f"activated {who}"))
        if unlock_col.form_submit_button("Unlock sign-in", help="After repeated failed sign-ins"):
            st.success(escape_markdown(f"forgot {unlock(store, who)} failed sign-ins for {who}"))

st.subheader("Personal data")
shown = st.toggle("Show pairs with personal data replaced by placeholders", value=pii.display_redacted(store),
                  help="Uses the latest `tuneloop pii scan`; on by default once a scan ran.")
if shown != pii.display_redacted(store):
    pii.set_display(store, shown)

st.subheader("Rating schema")
st.caption("What annotators answer on the Rate page, and their guidelines (markdown). Question types: "
           + ", ".join(rating.QUESTION_TYPES) + ". Ratings already given keep their answers.")
schema = rating.get_schema(store)
with st.form("schema-form"):
    rows = st.data_editor(
        rating.schema_rows(schema), num_rows="dynamic", hide_index=True, width="stretch", key="schema-rows",
        column_config={
            "name": st.column_config.TextColumn("Name", help="Stored with each answer; unique, no leading _"),
            "title": st.column_config.TextColumn("Title", help="What annotators read"),
            "type": st.column_config.SelectboxColumn("Type", options=list(rating.QUESTION_TYPES), required=True,
                                                     help="rating: a score; label: one of the values; text_edit: an"
                                                          " edited answer; text: a note"),
            "values": st.column_config.TextColumn("Values", help="For rating and label: comma-separated"),
            "required": st.column_config.CheckboxColumn("Required"),
            "help": st.column_config.TextColumn("Help", help="Shown beside the question")})
    guidelines = st.text_area("Guidelines (markdown)", schema.get("guidelines", ""), height=160)
    if st.form_submit_button("Save schema"):
        try:
            rating.set_schema(store, rating.schema_from_rows(list(rows), guidelines))
            st.success("saved: the Rate page asks these questions from now on")
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))
with st.expander("Edit the schema as JSON (advanced)"), st.form("schema"):
    text = st.text_area("Rating schema (JSON)", rating.schema_text(store), height=420)
    if st.form_submit_button("Save JSON"):
        try:
            rating.set_schema_text(store, text)
            st.success("saved: the Rate page asks these questions from now on")
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))
