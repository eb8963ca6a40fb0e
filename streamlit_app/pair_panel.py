"""The pair part of the Rate page, one fragment: a key press reruns only this part (the queue, the
pair and its buttons), not the whole page."""
import streamlit as st

from curate import rating
from curate.errors import TuneloopError
from curate.rating.screen import after_shown, pair_to_rate
from curate.rating.settle import where_it_stands
from streamlit_app.common import require
from streamlit_app.render import escape_markdown, finding_markdown, shortcut_keys


def _choose(pair_id: int, question: str, value) -> None:
    st.session_state.setdefault(f"answers-{pair_id}", {})[question] = value


def _submit(store, user: dict, schema: dict, pair_id: int, question: str | None = None, value=None) -> None:
    answers = dict(st.session_state.get(f"answers-{pair_id}", {}))
    if question:
        answers[question] = value
    for q in schema["questions"]:
        if q["type"] in ("text", "text_edit") and f"{q['name']}-{pair_id}" in st.session_state:
            answers[q["name"]] = st.session_state[f"{q['name']}-{pair_id}"]
    try:
        rating.submit(store, user["id"], pair_id, answers)
        st.session_state.pop(f"answers-{pair_id}", None)
        st.session_state["saved"] = f"Pair {pair_id}: {where_it_stands(store, pair_id)}"
    except TuneloopError as exc:
        st.session_state["error"] = escape_markdown(str(exc))


def _undo(store, user: dict) -> None:
    pair_id = rating.undo_last(store, user["id"])
    st.session_state["saved"] = f"Took back your rating of pair {pair_id}" if pair_id else "Nothing to undo"


def _suggestion(hint: dict | None) -> None:
    if not hint:
        return
    # collapsed: the person decides; a suggestion is never a rating
    with st.expander(f"Model judge's suggestion · {hint['scorer']}"
                     + (" · not trustworthy" if hint["trusted"] is False else ""), expanded=False):
        verdict = f"{hint['score']:g}" if hint["score"] is not None else "unreadable reply"
        st.markdown(f"**{verdict}** · " + escape_markdown(hint["reason"] or "no reason given"))
        if hint["trusted"] is False:
            st.warning(f"This judge agrees with the team's raters at kappa {hint['kappa']:.2f}, below the"
                       f" {hint['min_kappa']:.2f} it needs: weigh its suggestion lightly.")
        st.caption(escape_markdown(f"by {hint['model']}; a model's suggestion, not a rating"
                                   + ("" if hint["calibrated"] else "; not yet compared with the raters")))


@st.fragment
def show(store, schema: dict) -> None:
    user = require("rate")   # again on every key press: a user deactivated meanwhile stops here
    pair, hint = pair_to_rate(store, user["id"])
    mine, team = st.columns(2)
    counts = mine.empty(), team.empty()   # filled once the pair is on screen
    for message in ("saved", "error"):
        if message in st.session_state:
            (st.toast if message == "saved" else st.error)(st.session_state.pop(message))
    _pair(store, user, schema, pair, hint)
    progress = after_shown(store, user["id"], pair["id"] if pair else None)
    counts[0].metric("You rated", progress["mine"])
    counts[1].progress(progress["done"] / max(progress["total"], 1),
                       text=f"Team: {progress['done']} of {progress['total']} pairs have enough ratings")


def _pair(store, user: dict, schema: dict, pair: dict | None, hint: dict | None) -> None:
    skip_col, undo_col = st.columns([1, 1])
    undo_col.button("Undo last rating", shortcut="U", on_click=_undo, args=(store, user))
    if pair is None:
        st.success("Nothing left for you to rate. Thank you!")
        return
    skip_col.button("Skip this pair", shortcut="S", on_click=rating.skip, args=(store, user["id"], pair["id"]))

    with st.expander("Guidelines"):
        st.markdown(schema["guidelines"])  # written by the team's admin, not by the data

    where = f"pair {pair['id']} · {pair['origin']}"
    if pair["source"]:
        where += f" · {pair['source']} line {pair['source_line']}"
    if pair["lineage"] and pair["lineage"].get("model"):
        where += f" · made by {pair['lineage']['model'].split('/')[-1]}"
    st.caption(escape_markdown(where))  # file and model names are data
    if pair["context"]:   # folded: the verdict controls stay in view, and the answer to rate stands out
        with st.expander(f"Earlier in the conversation ({len(pair['context'])} turns)"):
            for turn in pair["context"]:
                st.chat_message(turn["role"]).markdown(escape_markdown(turn["content"]))
    with st.container(border=True):
        st.chat_message("user").markdown(escape_markdown(pair["instruction"] + (f"\n\n{pair['input']}" if pair["input"] else "")))
        st.caption("The answer to rate")
        st.chat_message("assistant").markdown(escape_markdown(pair["response"]))
    _suggestion(hint)
    for finding in pair.get("findings") or []:   # the quality scan's evidence, a hint beside the pair
        st.warning(finding_markdown(finding))

    answers = st.session_state.get(f"answers-{pair['id']}", {})
    for q in schema["questions"]:
        if q["type"] == "rating":
            st.write(f"**{q['title']}** (keys {q['values'][0]}–{q['values'][-1]})" + (f" · {q['help']}" if q.get("help") else ""))
            keys = shortcut_keys(q["values"])
            for column, value in zip(st.columns(len(q["values"])), q["values"]):
                column.button(str(value), key=f"{q['name']}-{pair['id']}-{value}", shortcut=keys.get(value),
                              type="primary" if str(answers.get(q["name"])) == str(value) else "secondary",
                              on_click=_choose, args=(pair["id"], q["name"], value), width="stretch")
    # the verdicts before the text boxes, so they stay in view on a laptop screen
    labels = [q for q in schema["questions"] if q["type"] == "label"]
    for q in labels:
        st.write(f"**{q['title']}**: choosing one saves your answers (an edit below included)")
        keys = shortcut_keys(q["values"])
        for column, value in zip(st.columns(len(q["values"])), q["values"]):
            column.button(str(value), key=f"{q['name']}-{pair['id']}-{value}", shortcut=keys[value],
                          on_click=_submit, args=(store, user, schema, pair["id"], q["name"], value), width="stretch")
    for q in schema["questions"]:
        if q["type"] == "text_edit":
            st.text_area(q["title"], value=pair["response"], key=f"{q['name']}-{pair['id']}")
        elif q["type"] == "text":
            st.text_input(q["title"], key=f"{q['name']}-{pair['id']}")
    if not labels:
        st.button("Save", type="primary", shortcut="Shift+Enter", on_click=_submit, args=(store, user, schema, pair["id"]))
