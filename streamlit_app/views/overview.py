import streamlit as st

from curate.stats import jobs_frame, rejects_frame, sources_frame, stats
from streamlit_app.common import get_store

store = get_store()
st.title("Overview")
st.caption(f"Store: `{store.path}`")
counts = stats(store)
columns = st.columns(len(counts["tables"]))
for column, (table, n) in zip(columns, counts["tables"].items()):
    column.metric(table.replace("_", " "), f"{n:,}")

left, right = st.columns(2)
left.subheader("Pairs by origin")
left.bar_chart(counts["pairs_by_origin"], horizontal=True)
right.subheader("Pairs by status")
right.bar_chart(counts["pairs_by_status"], horizontal=True)

st.subheader("Sources")
st.dataframe(sources_frame(store), hide_index=True, width="stretch")
st.subheader("Rejected records")
rejects = rejects_frame(store)
if rejects.empty:
    st.info("No record has been rejected.")
else:
    st.dataframe(rejects, hide_index=True, width="stretch")
st.subheader("Recent jobs")
st.dataframe(jobs_frame(store), hide_index=True, width="stretch")
