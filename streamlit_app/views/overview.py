import streamlit as st

from curate import privacy as pii
from curate.stats import jobs_frame, rejects_frame, sources_frame, stats
from streamlit_app.common import get_store
from streamlit_app.render import table

store = get_store()
st.title("Overview")
st.caption(f"Store: `{store.path}`")
counts = stats(store)
columns = st.columns(len(counts["tables"]))
for column, (name, n) in zip(columns, counts["tables"].items()):
    column.metric(name.replace("_", " "), f"{n:,}")

left, right = st.columns(2)
left.subheader("Pairs by origin")
left.bar_chart(counts["pairs_by_origin"], horizontal=True)
right.subheader("Pairs by status")
right.bar_chart(counts["pairs_by_status"], horizontal=True)

st.subheader("Personal data")
found = pii.counts_by_entity(store)
if not found:
    st.info("No personal-data scan yet: `tuneloop pii scan` counts e-mails, phone and card numbers and more.")
else:
    st.caption("Findings of the latest scan, by entity (`tuneloop pii redact` replaces them with placeholders)."
               + (" The app shows pairs redacted." if pii.display_redacted(store) else " The app shows pairs as written."))
    st.bar_chart(found, horizontal=True)

st.subheader("Sources")
table(sources_frame(store))
st.subheader("Rejected records")
rejects = rejects_frame(store)
if rejects.empty:
    st.info("No record has been rejected.")
else:
    table(rejects)
st.subheader("Recent jobs")
table(jobs_frame(store))
