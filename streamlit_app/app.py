"""tuneloop's curation app. Run it with `tuneloop app`."""
import streamlit as st

from streamlit_app.common import current_user, get_store, sign_in_form, sign_out
from streamlit_app.render import escape_markdown

st.set_page_config(page_title="tuneloop", page_icon=":material/model_training:", layout="wide")
store = get_store()
if store.missing():   # deleted or moved while the app runs: said, never made again empty
    st.error(f"The store {escape_markdown(store.path)} is gone (deleted or moved while the app was running)."
             " Put it back and reload this page, or start the app on another store with `tuneloop --db PATH app`.")
    st.stop()
user = current_user()
if user is None:
    sign_in_form()
    st.stop()
with st.sidebar:
    st.caption(f"Signed in as **{escape_markdown(user['name'])}** ({user['role']})")
    if st.session_state.get("user"):
        st.button("Sign out", on_click=sign_out)
st.navigation({
    "Data": [
        st.Page("views/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("views/ingest.py", title="Ingest", icon=":material/upload_file:"),
        st.Page("views/pairs.py", title="Pairs", icon=":material/table_rows:"),
        st.Page("views/generate.py", title="Generate", icon=":material/auto_awesome:"),
    ],
    "Curation": [
        st.Page("views/dedupe.py", title="Dedupe", icon=":material/join_inner:"),
        st.Page("views/quality.py", title="Quality", icon=":material/rule:"),
        st.Page("views/diversity.py", title="Diversity", icon=":material/scatter_plot:"),
        st.Page("views/rate.py", title="Rate", icon=":material/star:"),
        st.Page("views/review.py", title="Review", icon=":material/gavel:"),
        st.Page("views/team.py", title="Team", icon=":material/group:"),
    ],
    "Training": [
        st.Page("views/datasets.py", title="Datasets", icon=":material/dataset:"),
        st.Page("views/train.py", title="Train", icon=":material/model_training:"),
        st.Page("views/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    ],
}).run()
