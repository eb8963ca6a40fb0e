import streamlit as st

from curate.dedupe.decide import accept_all, cluster_members, clusters_frame, diff_segments, dismiss, reopen, resolve
from curate.dedupe.find import KEEPERS, METHODS, DedupeConfig, dedupe
from streamlit_app.common import get_store, require
from streamlit_app.render import diff_markdown, escape_markdown, page_picker

PAGE_SIZE = 20
store = get_store()
require("review")  # annotators rate; changing the data is for reviewers and admins
st.title("Dedupe")

with st.expander("Find duplicates", expanded=False):
    with st.form("run"):
        methods = st.multiselect("Methods", METHODS, default=["exact", "minhash"])
        keeper = st.selectbox("Propose to keep", KEEPERS)
        if st.form_submit_button("Find duplicates", type="primary"):
            for method in methods:
                with st.spinner(f"{method}…"):
                    st.success(dedupe(store, DedupeConfig(method=method, keeper=keeper)).summary())

left, middle, right = st.columns([1, 1, 2])
method = left.selectbox("Method", ["", *METHODS], format_func=lambda m: m or "any")
state = middle.selectbox("State", ["proposed", "resolved", "dismissed"])
if right.button(f"Accept all {'proposals' if not method else method + ' proposals'}", disabled=state != "proposed"):
    st.success(f"accepted {accept_all(store, method or None)} clusters")

_, total = clusters_frame(store, method or None, state, page_size=1)
page = page_picker(total, PAGE_SIZE, "dedupe-page")
frame, total = clusters_frame(store, method or None, state, page=page, page_size=PAGE_SIZE)
st.caption(f"{total:,} {state} clusters, largest first")
if frame.empty:
    st.info("No clusters here. Find duplicates above, or look at another state.")
    st.stop()
st.dataframe(frame, hide_index=True, width="stretch")

cluster_id = st.selectbox("Cluster", frame["id"].tolist(),
                          format_func=lambda c: f"#{c}: " + frame.set_index("id").loc[c, "keeper_instruction"])
members = cluster_members(store, cluster_id)
keeper = members[0]
st.subheader(f"Cluster #{cluster_id}: {len(members)} pairs")
chosen = st.radio("Keep", [m["pair_id"] for m in members], horizontal=True,
                  format_func=lambda p: f"pair {p}" + (" (proposed)" if p == keeper["pair_id"] else ""))
distinct = []
columns = st.columns(min(len(members), 3))
for i, member in enumerate(members):
    with columns[i % len(columns)].container(border=True):
        st.caption(f"pair {member['pair_id']} · similarity {member['similarity']:.3f} · {member['origin']}"
                   f" · {member['status']}" + (f" · {member['decision']}" if member["decision"] else ""))
        if member["pair_id"] == keeper["pair_id"]:
            st.markdown("**Q:** " + escape_markdown(member["instruction"]))
            st.markdown("**A:** " + escape_markdown(member["response"]))
        else:
            st.markdown("**Q:** " + diff_markdown(diff_segments(keeper["instruction"], member["instruction"])))
            st.markdown("**A:** " + diff_markdown(diff_segments(keeper["response"], member["response"])))
            if st.checkbox("not a duplicate", key=f"distinct-{cluster_id}-{member['pair_id']}"):
                distinct.append(member["pair_id"])

resolve_col, dismiss_col, reopen_col = st.columns(3)
if resolve_col.button("Keep the chosen pair, mark the rest duplicate", type="primary"):
    resolve(store, cluster_id, chosen, distinct)
    st.rerun()
if dismiss_col.button("Not duplicates"):
    dismiss(store, cluster_id)
    st.rerun()
if reopen_col.button("Undo decision", disabled=state == "proposed"):
    reopen(store, cluster_id)
    st.rerun()
