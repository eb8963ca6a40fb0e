"""tuneloop's curation app. Run it with `tuneloop app`."""
import streamlit as st

from streamlit_app.common import get_store

st.set_page_config(page_title="tuneloop", page_icon="🔁", layout="wide")
get_store()
st.navigation([
    st.Page("pages/overview.py", title="Overview", icon="🏠", default=True),
    st.Page("pages/ingest.py", title="Ingest", icon="📥"),
    st.Page("pages/pairs.py", title="Pairs", icon="🗂️"),
    st.Page("pages/generate.py", title="Generate", icon="✨"),
    st.Page("pages/dedupe.py", title="Dedupe", icon="🧬"),
    st.Page("pages/diversity.py", title="Diversity", icon="🌈"),
]).run()
