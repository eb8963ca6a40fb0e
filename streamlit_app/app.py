"""tuneloop's curation app. Run it with `tuneloop app`."""
import streamlit as st

from streamlit_app.common import current_user, get_store, sign_in_form, sign_out

st.set_page_config(page_title="tuneloop", page_icon="🔁", layout="wide")
get_store()
user = current_user()
if user is None:
    sign_in_form()
    st.stop()
with st.sidebar:
    st.caption(f"Signed in as **{user['name']}** ({user['role']})")
    if st.session_state.get("user"):
        st.button("Sign out", on_click=sign_out)
st.navigation({
    "Data": [
        st.Page("pages/overview.py", title="Overview", icon="🏠", default=True),
        st.Page("pages/ingest.py", title="Ingest", icon="📥"),
        st.Page("pages/pairs.py", title="Pairs", icon="🗂️"),
        st.Page("pages/generate.py", title="Generate", icon="✨"),
    ],
    "Curation": [
        st.Page("pages/dedupe.py", title="Dedupe", icon="🧬"),
        st.Page("pages/diversity.py", title="Diversity", icon="🌈"),
        st.Page("pages/rate.py", title="Rate", icon="⭐"),
        st.Page("pages/review.py", title="Review", icon="⚖️"),
        st.Page("pages/team.py", title="Team", icon="👥"),
    ],
}).run()
