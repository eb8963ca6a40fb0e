import streamlit as st

from curate.dedupe.decide import (
    accept_all,
    cluster_members,
    clusters_frame,
    diff_segments,
    dismiss,
    proposed_ids,
    reopen,
    reopen_all,
    resolve,
)
from curate.dedupe.find import KEEPERS, METHODS, DedupeConfig, dedupe
from streamlit_app.common import get_store, require
from streamlit_app.render import diff_markdown, escape_markdown, page_picker, table

PAGE_SIZE = 20
store = get_store()
require("review")  # annotators rate; changing the data is for reviewers and admins
st.title("Dedupe")

with st.expander("Find duplicates", expanded=False):
    with st.form("run"):
        methods = st.multiselect("Methods", METHODS, default=["exact", "minhash"])
        keeper = st.selectbox("Propose to keep", KEEPERS)
        if st.form_submit_button("Find duplicates", type="primary"):
            found = []
            for method in methods:
                with st.spinner(f"{method}…"):
                    found.append(dedupe(store, DedupeConfig(method=method, keeper=keeper)).summary())
            st.session_state["dedupe-note"] = " · ".join(found)   # shown below: the expander may fold on rerun

left, middle, pages_col, right = st.columns([1, 1, 1, 2])
method = left.selectbox("Method", ["", *METHODS], format_func=lambda m: m or "any")
state = middle.selectbox("State", ["proposed", "resolved", "dismissed"])
if state == "proposed" and (waiting := proposed_ids(store, method or None)):
    with right.popover(f"Accept all {len(waiting):,} {method + ' ' if method else ''}proposals"):
        st.write(f"Keep each cluster's proposed pair and mark the other members of {len(waiting):,} clusters"
                 " duplicate. You can undo it as one action.")
        if st.button("Yes, accept them all", type="primary"):
            st.session_state["accepted"] = waiting
            st.session_state["dedupe-note"] = f"accepted {accept_all(store, ids=waiting):,} clusters"
            st.rerun()
if "accepted" in st.session_state and right.button(f"Undo accept all ({len(st.session_state['accepted']):,} clusters)"):
    st.session_state["dedupe-note"] = f"reopened {reopen_all(store, st.session_state.pop('accepted')):,} clusters"
    st.rerun()
if "dedupe-note" in st.session_state:
    st.success(st.session_state.pop("dedupe-note"))

_, total = clusters_frame(store, method or None, state, page_size=1)
page = page_picker(total, PAGE_SIZE, "dedupe-page", where=pages_col)
frame, total = clusters_frame(store, method or None, state, page=page, page_size=PAGE_SIZE)
st.caption(f"{total:,} {state} clusters, largest first")
if frame.empty:
    st.info("No clusters here. Find duplicates above, or look at another state.")
    st.stop()
table(frame.rename(columns={"method": "Found by"}), height=212)   # five rows, scrolling: the decision stays in view

ids = frame["id"].tolist()


def _decide(action, cluster_id: int, extra=None) -> None:
    """Decide, then land on the next cluster of the list (not back on the first)."""
    action(store, cluster_id, *(extra() if extra else ()))
    later = ids[ids.index(cluster_id) + 1:]
    st.session_state["cluster"] = later[0] if later else None


if st.session_state.get("cluster") not in ids:
    st.session_state.pop("cluster", None)   # decided meanwhile, or another filter
cluster_id = st.selectbox("Cluster", ids, key="cluster",
                          format_func=lambda c: f"#{c}: " + frame.set_index("id").loc[c, "keeper_instruction"])
members = cluster_members(store, cluster_id)
keeper = members[0]
st.subheader(f"Cluster #{cluster_id}: {len(members)} pairs")
st.caption(f"Found by {frame.set_index('id').loc[cluster_id, 'method']}")
st.radio("Keep", [m["pair_id"] for m in members], horizontal=True, key=f"keep-{cluster_id}",
                  format_func=lambda p: f"pair {p}" + (" (proposed)" if p == keeper["pair_id"] else ""))


def _distinct() -> tuple:
    return st.session_state[f"keep-{cluster_id}"], [m["pair_id"] for m in members[1:]
                                                    if st.session_state.get(f"distinct-{cluster_id}-{m['pair_id']}")]


resolve_col, dismiss_col, reopen_col = st.columns(3)
resolve_col.button("Keep the chosen pair, mark the rest duplicate", type="primary", shortcut="K",
                   on_click=_decide, args=(resolve, cluster_id, _distinct), help="Key K")
dismiss_col.button("Not duplicates", shortcut="N", on_click=_decide, args=(dismiss, cluster_id), help="Key N")
reopen_col.button("Undo decision", disabled=state == "proposed", shortcut="U", on_click=reopen, args=(store, cluster_id),
                  help="Key U")
columns = st.columns(min(len(members), 3))
for i, member in enumerate(members):
    with columns[i % len(columns)].container(border=True):
        st.caption(f"pair {member['pair_id']} · similarity {member['similarity']:.3f} · {member['origin']}"
                   f" · {member['status']}" + (f" · {member['decision']}" if member["decision"] else ""))
        if member["pair_id"] == keeper["pair_id"]:
            st.markdown("**Q:** " + escape_markdown(member["instruction"][:400]))
            st.markdown("**A:** " + escape_markdown(member["response"][:600]))
        else:
            st.markdown("**Q:** " + diff_markdown(diff_segments(keeper["instruction"][:400], member["instruction"][:400])))
            st.markdown("**A:** " + diff_markdown(diff_segments(keeper["response"][:600], member["response"][:600])))
            st.checkbox("not a duplicate", key=f"distinct-{cluster_id}-{member['pair_id']}")
