import streamlit as st

from curate.errors import TuneloopError
from curate.ingest.importer import FORMATS, MAX_UPLOAD_BYTES, UPLOAD_TYPES, ingest_upload, parse_mapping
from curate.pairs.extract import extract
from streamlit_app.common import get_store, require
from streamlit_app.render import escape_markdown

store = get_store()
require("review")  # annotators rate; changing the data is for reviewers and admins
st.title("Ingest")
st.write("Import FAQs, support logs, chats or documents. Bad records are kept aside with the reason;"
         " the good ones are stored. Importing the same file twice does nothing.")
uploaded = st.file_uploader(f"Files (up to {MAX_UPLOAD_BYTES // 2**20} MiB each; .gz, .zip and .xlsx too)",
                            type=UPLOAD_TYPES, accept_multiple_files=True)
with st.expander("Options"):
    fmt = st.selectbox("Format", FORMATS, help="auto detects it from the name and the first bytes")
    topic = st.text_input("Topic", help="The domain these logs are about, e.g. your product's name")
    mapping = st.text_input("Field mapping", placeholder="instruction=question response=reply",
                            help="FIELD=COLUMN pairs separated by spaces, when the names aren't recognised")

if st.button("Import", type="primary", disabled=not uploaded):
    for file in uploaded:
        try:
            with st.spinner(f"Importing {file.name}…"):
                reports = ingest_upload(store, file.name, file.getvalue(), format=fmt, topic=topic or None,
                                        mapping=parse_mapping(mapping.split()))
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))
            continue
        for report in reports:
            (st.success if report.ok else st.error)(escape_markdown(report.summary()))  # file and field names are data
            for line in report.reason_lines():
                st.warning(escape_markdown(line))

st.divider()
st.subheader("Pairs from imported logs")
st.write("Q&A records become pairs; each customer turn and the agent turn answering it become a pair.")
if st.button("Extract pairs"):
    with st.spinner("Extracting pairs…"):
        report = extract(store)
    st.success(escape_markdown(report.summary()))
