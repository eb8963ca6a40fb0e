"""Recent bulk changes to pairs' statuses and the button that undoes the newest one still standing
(on the Quality and Pairs pages)."""
import streamlit as st

from curate.pairs.changes import changes_frame, undo_change
from streamlit_app.render import table


def show(store, key: str) -> None:
    recent = changes_frame(store, 5)
    if recent.empty:
        return
    st.subheader("Recent changes")
    table(recent.rename(columns={"id": "change", "reason": "what", "status": "to", "actor": "by",
                                 "pairs": "pairs", "created_at": "when", "undone_at": "undone"}))
    open_changes = recent[recent["undone_at"].isna()]["id"].tolist()
    if open_changes and st.button(f"Undo change {open_changes[0]}", key=f"undo-{key}"):
        undone = undo_change(store, int(open_changes[0]))
        st.session_state["changes-note"] = (f"change {undone['change']} undone: {undone['restored']:,} pairs have"
                                            " their earlier status again")
        st.rerun()
    if "changes-note" in st.session_state:
        st.success(st.session_state.pop("changes-note"))
