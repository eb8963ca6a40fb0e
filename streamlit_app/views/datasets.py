import pandas as pd
import streamlit as st

from curate.dataset import DatasetConfig, build_dataset, get_version, versions_frame
from curate.errors import TuneloopError
from curate.options import field_help
from curate.stats import stats
from curate.templates import TEMPLATES
from curate.users import can
from streamlit_app.common import get_store, require
from streamlit_app.render import escape_markdown

store = get_store()
user = require("approve")
st.title("Datasets")
approved = stats(store)["pairs_by_status"].get("approved", 0)
st.caption(f"{approved:,} approved pairs are ready to freeze into a version.")
with st.form("build"):
    left, middle, right = st.columns(3)
    name = left.text_input("Version name", placeholder="v1")
    template = middle.selectbox("Prompt template", list(TEMPLATES), format_func=lambda t: f"{t}: {TEMPLATES[t].description}")
    max_length = right.number_input("Max length (tokens)", min_value=16, max_value=8192, value=512, step=64)
    test_size = left.slider("Held-out share", 0.0, 0.5, 0.1, 0.05)
    seed = middle.number_input("Split seed", min_value=0, value=0)
    conversations = right.checkbox("Whole conversations", help=field_help(DatasetConfig)["conversations"])
    budget = left.number_input("Choose at most (0: every approved pair)", min_value=0, value=0, step=100,
                               help=field_help(DatasetConfig)["select_budget"])
    if st.form_submit_button("Build version", type="primary"):
        try:
            with st.spinner("Tokenizing and exporting…"):
                report = build_dataset(store, DatasetConfig(name, template, None, int(max_length), test_size, int(seed),
                                                            conversations=conversations,
                                                            select_budget=int(budget) or None))
            st.success(f"{name}: {report['examples']} examples exported to {report['export_dir']}")
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))

versions = versions_frame(store)
if versions.empty:
    st.info("No dataset version yet.")
    st.stop()
st.dataframe(versions, hide_index=True, width="stretch")
chosen = st.selectbox("Version", versions["name"].tolist())
version = get_version(store, chosen)
report = version["report"]
cols = st.columns(4)
cols[0].metric("examples", report["examples"])
cols[1].metric("mean tokens", report["tokens"]["mean"])
cols[2].metric("answers cut", f"{100 * report['truncated_answer_share']:.1f}%")
cols[3].metric("prompts cut", f"{100 * report['truncated_prompt_share']:.1f}%")
hist = report["length_histogram"]
st.subheader("Tokens per example")
st.bar_chart(pd.DataFrame({"tokens from": hist["edges"][:-1], "examples": hist["counts"]}), x="tokens from", y="examples")
if report.get("selection"):
    st.info("Chosen by score: " + escape_markdown(report["selection"]["how"]) + f" ({report['selection']['selected']}"
            f" chosen of {report['selection']['candidates']}, {report['selection']['skipped_as_too_alike']} skipped as"
            " too alike)")
st.subheader("By origin")
st.dataframe(pd.DataFrame(report["by_origin"]).T, width="stretch")
for split in ("train", "test") if can(user, "export") else ():
    path = f"{version['export_dir']}/{split}.jsonl"
    try:
        with open(path, "rb") as fh:
            st.download_button(f"Download {split}.jsonl", fh.read(), file_name=f"{chosen}-{split}.jsonl")
    except OSError:
        st.warning(f"{path} is gone; build a new version to export again")
