import streamlit as st

from curate.errors import TuneloopError
from curate.pairs.changes import change_status
from curate.pairs.export import spreadsheet_csv
from curate.pairs.rows import ORIGINS
from curate.pairs.search import search, search_ids
from curate.pairs.status import STATUSES
from curate.rating.detail import edit_pair, pair_detail
from curate.rating.users import can
from curate.stats import sources_frame
from streamlit_app import changes_panel
from streamlit_app.common import current_user, get_store
from streamlit_app.render import escape_markdown, finding_markdown, highlight_markdown, page_picker, plural, table

PAGE_SIZE = 50
store = get_store()
user = current_user()
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
st.caption(f"{plural(total, 'pair')} {'matches' if total == 1 else 'match'}"
           + (" · click a row to open the pair" if total else ""))
picked = table(frame, height=420, on_select="rerun", selection_mode="multi-row", key="pairs-table",
               column_config={"instruction": st.column_config.TextColumn("Instruction", width="large"),
                              "response": st.column_config.TextColumn("Response", width="large")})
selected = [int(frame.iloc[i]["id"]) for i in picked.selection.rows]
open_col, export_col = st.columns([1, 3])
opened = open_col.number_input("Open pair number", min_value=1, value=None, step=1,
                               help="Or click a row above")
if can(user, "export"):
    export_col.download_button("Download this page as CSV", spreadsheet_csv(frame), file_name=f"pairs-page-{page}.csv",
                               mime="text/csv", help="Cells a spreadsheet would run as formulas are made text.")

shown_id = selected[0] if selected else opened
if shown_id:
    try:
        pair = pair_detail(store, int(shown_id))
    except TuneloopError as exc:
        st.error(escape_markdown(str(exc)))
        pair = None
if shown_id and pair:
    with st.container(border=True):
        st.subheader(f"Pair {pair['id']} · {pair['status']}")
        where = f"{pair['origin']}" + (f" · {pair['source']} line {pair['source_line']}" if pair["source"] else "")
        if pair["parent_id"]:
            where += f" · a version of pair {pair['parent_id']}"
        if pair["edits"]:
            where += " · edited as pair " + ", ".join(map(str, pair["edits"]))
        st.caption(escape_markdown(where))
        for turn in pair["context"] or []:
            st.chat_message(turn["role"]).markdown(escape_markdown(turn["content"]))
        st.chat_message("user").markdown(highlight_markdown(pair["instruction"], text))
        st.chat_message("assistant").markdown(highlight_markdown(pair["response"], text))
        for finding in pair["findings"]:
            st.warning(finding_markdown(finding))
        ratings, history, lineage = st.tabs(["Ratings", "History", "Lineage"])
        if pair["ratings"]:
            table(pair["ratings"], ratings)
        else:
            ratings.caption("No ratings yet.")
        if pair["changes"]:
            table(pair["changes"], history)
        else:
            history.caption("No bulk change has touched it.")
        lineage.json(pair["lineage"] or {})
        if can(user, "review"):
            with st.form(f"edit-{pair['id']}"):
                st.write("**Edit** — saved as a new version that takes this one's place")
                instruction = st.text_area("Instruction", pair["instruction"])
                response = st.text_area("Response", pair["response"], height=160)
                if st.form_submit_button("Save the edit"):
                    try:
                        new_id = edit_pair(store, user, pair["id"], instruction, response)
                        st.success(f"saved as pair {new_id}" if new_id != pair["id"] else "nothing changed")
                    except TuneloopError as exc:
                        st.error(escape_markdown(str(exc)))

if can(user, "review") and total:
    st.subheader("Change the status of several pairs")
    matching = search_ids(store, text, origin, status, source_id)   # now, after any edit above
    scope = st.radio("Which pairs", ["selected", "matching"], horizontal=True, index=0 if selected else 1,
                     format_func=lambda s: {"selected": f"the {plural(len(selected), 'selected pair')}",
                                            "matching": f"all {plural(len(matching), 'pair')} matching the filters"}[s])
    to = st.selectbox("New status", ["rejected", "approved", "flagged", "new"],
                      format_func=lambda s: {"flagged": "flagged (back to the rating queue)"}.get(s, s))
    ids = selected if scope == "selected" else matching
    confirm = st.checkbox(f"Yes, make {plural(len(ids), 'pair')} {to}", key=f"confirm-{scope}-{to}-{len(ids)}")
    if st.button(f"Change {plural(len(ids), 'pair')}", disabled=not (confirm and ids)):
        reason = f"pairs page: {scope}" + (f" '{text}'" if text and scope == "matching" else "") + f" → {to}"
        done = change_status(store, ids, to, reason, user["name"])
        st.success(f"{plural(done['changed'], 'pair')} changed (change {done['change']}); undo below")
    changes_panel.show(store, "pairs")
