import streamlit as st

from curate import rating
from evals import ab
from streamlit_app import ab_panel, conversation_panel, pair_panel
from streamlit_app.common import get_store, require

store = get_store()
user = require("rate")
studies = ab.studies(store)
schema = rating.get_schema(store)
mode = st.segmented_control("What to rate", ["Pairs", "Conversations"] + (["Blind A/B"] if studies else []),
                            default="Pairs", key="rate-mode")
if mode in ("Blind A/B", "Conversations"):
    st.title(mode)
    for message in ("saved", "error"):
        if message in st.session_state:
            (st.toast if message == "saved" else st.error)(st.session_state.pop(message))
    if mode == "Blind A/B":
        ab_panel.show(store, user, studies)
    else:
        conversation_panel.show(store, user, schema)
    st.stop()
st.title("Rate")
pair_panel.show(store, schema)
