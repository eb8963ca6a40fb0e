import streamlit as st

from curate.pairs.export import spreadsheet_csv
from curate.pairs.rows import ORIGINS
from curate.pairs.search import search
from curate.pairs.status import STATUSES
from curate.rating.users import can
from curate.stats import sources_frame
from streamlit_app.common import current_user, get_store
from streamlit_app.render import page_picker

PAGE_SIZE = 50
store = get_store()
st.title("Pairs")
sources = sources_frame(store)
text_col, origin_col, status_col, source_col = st.columns([3, 1, 1, 2])
text = text_col.text_input("Search instruction and response")
origin = origin_col.selectbox("Origin", ["", *ORIGINS], format_func=lambda v: v or "any")
status = status_col.selectbox("Status", ["", *STATUSES], format_func=lambda v: v or "any")
source_names = dict(zip(sources["id"], sources["name"]))
source_id = source_col.selectbox("Source", [None, *source_names], format_func=lambda v: source_names.get(v, "any"))

_, total = search(store, text, origin, status, source_id, page=1, page_size=1)
page = page_picker(total, PAGE_SIZE, "pairs-page")
frame, total = search(store, text, origin, status, source_id, page=page, page_size=PAGE_SIZE)
st.caption(f"{total:,} pairs match")
st.dataframe(frame, hide_index=True, width="stretch")  # the table's own export is off (tuneloop app)
if can(current_user(), "export"):
    st.download_button("Download this page as CSV", spreadsheet_csv(frame), file_name=f"pairs-page-{page}.csv",
                       mime="text/csv", help="Cells a spreadsheet would run as formulas are made text.")
