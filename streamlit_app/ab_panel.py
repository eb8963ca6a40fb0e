"""The blind A/B part of the Rate page: a question and two answers, sides randomized, no model names."""
import streamlit as st

from evals import ab
from streamlit_app.render import escape_markdown


def _vote(store, study_id: int, pair_id: int, annotator_id: int, preferred: str) -> None:
    ab.vote(store, study_id, pair_id, annotator_id, preferred)
    st.session_state["saved"] = f"Saved your choice on question {pair_id}"


def show(store, user: dict, studies: list[dict]) -> None:
    labels = {s["id"]: f"Study {s['id']} · {s['items']} questions · {s['votes']} votes" for s in studies}
    study_id = st.selectbox("A/B study", list(labels), format_func=labels.get)
    st.caption("Two models answered the same question. You are not told which is which, and the sides"
               " change from question to question. Pick the better answer (keys 1, 2, 3).")
    item = ab.next_item(store, study_id, user["id"])
    if item is None:
        st.success("You have judged every question of this study. Thank you!")
        return
    st.chat_message("user").markdown(escape_markdown(item["question"]))
    left, right = st.columns(2)
    for column, side in ((left, "left"), (right, "right")):
        with column.container(border=True):
            st.markdown(f"**{side.capitalize()} answer**")
            st.markdown(escape_markdown(item[side]))
    for column, (label, choice, key) in zip(st.columns(3), (("Left is better", "left", "1"), ("Tie", "tie", "2"),
                                                             ("Right is better", "right", "3"))):
        column.button(label, key=f"ab-{study_id}-{item['pair_id']}-{choice}", shortcut=key, width="stretch",
                      on_click=_vote, args=(store, study_id, item["pair_id"], user["id"], choice))
