import pandas as pd
import streamlit as st

from curate.datasets.build import DatasetConfig, build_dataset
from curate.datasets.versions import get_version, versions_frame
from curate.errors import TuneloopError
from curate.rating.users import can
from curate.stats import stats
from streamlit_app.common import get_store, require
from streamlit_app.render import config_form, escape_markdown, table

store = get_store()
user = require("approve")
st.title("Datasets")
approved = stats(store)["pairs_by_status"].get("approved", 0)
st.caption(f"{approved:,} approved pairs are ready to freeze into a version.")
with st.form("build"):
    values = config_form(DatasetConfig, ["name", "template", "max_length", "test_size", "seed", "conversations"])
    with st.expander("Choose by score, leakage checks"):
        values |= config_form(DatasetConfig, ["select_budget", "select_by", "select_similarity", "near_threshold",
                                              "semantic_threshold", "keep_contaminated", "model"])
    if st.form_submit_button("Build version", type="primary"):
        try:
            with st.spinner("Tokenizing and exporting…"):
                report = build_dataset(store, DatasetConfig(**values))
            st.success(f"{values['name']}: {report['examples']} examples exported to {report['export_dir']}")
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))

versions = versions_frame(store)
if versions.empty:
    st.info("No dataset version yet.")
    st.stop()
table(versions)
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
table(pd.DataFrame(report["by_origin"]).T.rename_axis("origin").reset_index())
for split in ("train", "test") if can(user, "export") else ():
    path = f"{version['export_dir']}/{split}.jsonl"
    try:
        with open(path, "rb") as fh:
            st.download_button(f"Download {split}.jsonl", fh.read(), file_name=f"{chosen}-{split}.jsonl")
    except OSError:
        st.warning(f"{path} is gone; build a new version to export again")
