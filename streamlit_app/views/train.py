import streamlit as st

from curate.datasets.preferences import preference_versions_frame
from curate.datasets.versions import versions_frame
from curate.lm.resolve import model_choices
from streamlit_app.common import get_store, require
from streamlit_app.render import config_form, table
from training.background import launch, log_tail, stop
from training.config import METHODS, TrainConfig, help_text
from training.runs import curve, flag_hardest, get_run, hardest, newest_run, runs_frame

store = get_store()
require("approve")
st.title("Train")
method = st.segmented_control("Method", METHODS, default="sft", help=help_text()["method"]) or "sft"
versions = versions_frame(store) if method == "sft" else preference_versions_frame(store)
if versions.empty:
    st.info("Build a dataset version first (Datasets page)." if method == "sft" else
            "Export preferences first: `tuneloop preferences export FILE --name NAME` (A/B votes, edits, reviews).")
    st.stop()
with st.form("train"):
    dataset = st.selectbox("Dataset version" if method == "sft" else "Preference version", versions["name"].tolist(),
                           help=help_text()["dataset"])
    models = model_choices(store)
    base = st.selectbox("Base model", list(models), help=help_text()["model"])
    values = config_form(TrainConfig, ["lora", "max_steps", "epochs", "batch_size", "lr", "device",
                                       "precision"] + (["beta", "max_length"] if method == "dpo" else []),
                         {"lora": True, "max_steps": 200})
    with st.expander("More options"):
        values |= config_form(TrainConfig, ["lora_r", "lora_alpha", "lora_dropout", "grad_accum", "warmup_ratio",
                                            "weight_decay", "seed", "logging_steps", "eval_steps", "save_steps",
                                            "group_by_length", "threads", "gradient_checkpointing", "qlora",
                                            "num_processes", "fsdp"])
    if st.form_submit_button("Start training", type="primary"):
        started = launch(store, TrainConfig(dataset=dataset, method=method, model=models[base], **values))
        st.session_state["launched"] = started
        st.session_state["follow_after"] = newest_run(store)   # show the new run once it appears
        st.success(f"started (process {started['pid']}); the run appears below in a moment")
if "launched" in st.session_state and (text := log_tail(st.session_state["launched"]["log"])):
    with st.expander("Output of the last run started here"):
        st.code(text, language=None)

if runs_frame(store).empty and "launched" not in st.session_state:
    st.stop()


@st.fragment(run_every=5)
def live() -> None:
    runs = runs_frame(store)
    if runs.empty:
        st.info("The run is starting…")
        return
    table(runs)
    ids = runs["id"].tolist()
    if "follow_after" in st.session_state and ids[0] != st.session_state["follow_after"]:
        st.session_state["run"] = ids[0]   # the run just started, once it exists
        del st.session_state["follow_after"]
    run_id = st.selectbox("Run", ids, key="run")
    run = get_run(store, run_id)
    points = curve(store, run_id)
    if not points.empty:
        st.line_chart(points, x="step", y=["loss", "eval_loss"])
        if points["reward_margin"].notna().any():
            st.line_chart(points, x="step", y=["reward_margin", "eval_accuracy"])
    if run["state"] == "failed":
        st.error(run["error"] or "the run failed")
        if text := log_tail(run["log_path"]):
            st.code(text, language=None)
    stop_col, resume_col, flag_col = st.columns(3)
    if stop_col.button("Stop", disabled=run["state"] != "running"):
        stop(store, run_id)
    if resume_col.button("Resume", disabled=run["state"] not in ("interrupted", "failed")):
        st.session_state["launched"] = launch(store, resume=run_id)
    if flag_col.button("Send the 20 hardest pairs to review", disabled=run["state"] != "succeeded"):
        st.success(f"flagged {flag_hardest(store, run_id)} pairs")
    if run["state"] == "succeeded":
        st.write("Highest-loss examples")
        table(hardest(store, run_id))


live()
