"""The whole-conversation part of the Rate page: every turn, a score under each answer, one verdict."""
import streamlit as st

from curate.errors import TuneloopError
from curate.rating import conversations
from streamlit_app.render import escape_markdown, shortcut_keys


def _score(key: str, pair_id: int, value) -> None:
    st.session_state.setdefault(f"scores-{key}", {})[pair_id] = value


def _rate(store, user: dict, key: str, verdict: str) -> None:
    try:
        conversations.rate_conversation(store, user["id"], key, st.session_state.get(f"scores-{key}", {}), verdict)
        st.session_state.pop(f"scores-{key}", None)
        st.session_state["saved"] = "Saved your rating of the whole conversation"
    except TuneloopError as exc:
        st.session_state["error"] = escape_markdown(str(exc))


def _skip(store, user: dict, key: str) -> None:
    conversations.skip_conversation(store, user["id"], key)
    st.session_state["saved"] = "Skipped the conversation"


def show(store, user: dict, schema: dict) -> None:
    score_q, verdict_q = conversations.questions(schema)
    st.caption(f"{conversations.conversations_left(store, user['id'])} conversation(s) left for you."
               f" Give each answer a {score_q['title'].lower()} score, then one {verdict_q['title'].lower()}"
               " for the whole conversation.")
    convo = conversations.next_conversation(store, user["id"])
    if convo is None:
        st.success("No conversation left for you to rate. Thank you!")
        return
    scores = st.session_state.get(f"scores-{convo['key']}", {})
    with st.container(border=True):
        if convo["system"]:
            st.caption(escape_markdown(f"System: {convo['system']}"))
        answer = 0
        for turn in convo["turns"]:
            st.chat_message(turn["role"]).markdown(escape_markdown(turn["content"]))
            answer += turn["role"] == "assistant"
            if turn.get("pair_id"):
                pair_id = turn["pair_id"]
                for column, value in zip(st.columns(len(score_q["values"]) + 1), [None, *score_q["values"]]):
                    if value is None:
                        column.caption(f"Answer {answer}")
                        continue
                    column.button(str(value), key=f"turn-{pair_id}-{value}", width="stretch",
                                  type="primary" if str(scores.get(pair_id)) == str(value) else "secondary",
                                  on_click=_score, args=(convo["key"], pair_id, value))
    keys = shortcut_keys(verdict_q["values"])
    st.write(f"**{verdict_q['title']}** for the whole conversation (keys "
             + ", ".join(f"{keys[v]} {v}" for v in verdict_q["values"]) + "): choosing one saves your scores")
    for column, value in zip(st.columns(len(verdict_q["values"]) + 1), [*verdict_q["values"], None]):
        if value is None:
            column.button("Skip", key=f"conversation-{convo['key']}-skip", shortcut="S", width="stretch",
                          help="Key S: pass this conversation to someone else", on_click=_skip,
                          args=(store, user, convo["key"]))
            continue
        column.button(str(value), key=f"conversation-{convo['key']}-{value}", width="stretch", shortcut=keys[value],
                      on_click=_rate, args=(store, user, convo["key"], value))
