import streamlit as st

from curate.errors import TuneloopError
from curate.lm.backends import make_backend
from curate.pairs.generate import ANSWERS, SOURCES, GenerationConfig, accept, generate, preview_frame
from curate.pairs.offtopic import DEFAULT_REFUSAL, add_offtopic
from streamlit_app.common import get_store, require
from streamlit_app.render import escape_markdown

store = get_store()
require("review")  # annotators rate; changing the data is for reviewers and admins


@st.cache_resource(show_spinner="Loading the model…")
def backend(kind: str, model: str | None):
    return make_backend(kind, model or None, store)


st.title("Generate")
st.write("Turn documents and raw logs into new pairs with a language model. Nothing enters the store"
         " until you accept it.")
with st.form("generate"):
    left, right = st.columns(2)
    source = left.selectbox("From", SOURCES, help="documents: grounded questions and answers; raw: rewrite logs;"
                                                  " pairs: new questions in the style of existing ones")
    answers = left.radio("Answers from documents", ANSWERS, horizontal=True,
                         help="passage: the documents' own passages, each with the question the model writes for it"
                              " (fast, grounded); model: the model's answers, kept where the text supports them")
    topic = left.text_input("Topic", value="Lumo")
    n = left.number_input("Pairs", min_value=1, max_value=500, value=10)
    kind = right.radio("Backend", ["local", "openai"], horizontal=True)
    model = right.text_input("Model", placeholder="default: SmolLM2-135M-Instruct")
    seed = right.number_input("Seed", min_value=0, value=0)
    submitted = st.form_submit_button("Generate", type="primary")

if submitted:
    bar = st.progress(0.0, text="Loading the model and asking the first prompts…")
    try:
        config = GenerationConfig(source=source, answers=answers, topic=topic or None, n=int(n), seed=int(seed))
        result = generate(store, backend(kind, model), config, write=False,
                          on_progress=lambda text, share: bar.progress(share, text=text))
        st.session_state["generated"] = result.pairs
        st.session_state["generated_summary"] = result.summary()
    except TuneloopError as exc:
        st.error(escape_markdown(str(exc)))

if st.session_state.get("generated"):
    st.subheader("Preview")
    st.caption(st.session_state["generated_summary"])
    edited = st.data_editor(preview_frame(st.session_state["generated"]), hide_index=True, width="stretch",
                            disabled=["instruction", "response", "from"], key="preview")
    accept_col, discard_col = st.columns(2)
    if accept_col.button("Accept kept pairs", type="primary"):
        added = accept(store, st.session_state.pop("generated"), list(edited["keep"]))
        st.success(f"stored {added} new pairs")
    if discard_col.button("Discard"):
        st.session_state.pop("generated")
        st.rerun()

st.divider()
st.subheader("Off-topic guardrails")
st.write("Questions from other subjects, answered with a refusal that keeps to your topic.")
with st.form("offtopic"):
    off_topic = st.text_input("Topic to keep to", value="Lumo")
    off_n = st.number_input("How many", min_value=1, max_value=84, value=20)
    refusal = st.text_input("Refusal", value=DEFAULT_REFUSAL)
    if st.form_submit_button("Add off-topic pairs"):
        try:
            st.success(f"added {add_offtopic(store, off_topic, int(off_n), refusal=refusal)} off-topic pairs")
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))
