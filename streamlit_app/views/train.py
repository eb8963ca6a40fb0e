import streamlit as st

from curate.dataset import versions_frame
from streamlit_app.common import get_store, require
from training.runs import curve, hardest, launch, runs_frame, stop, flag_hardest

store = get_store()
require("approve")
st.title("Train")
versions = versions_frame(store)
if versions.empty:
    st.info("Build a dataset version first (Datasets page).")
    st.stop()
with st.form("train"):
    left, middle, right = st.columns(3)
    dataset = left.selectbox("Dataset version", versions["name"].tolist())
    model = middle.text_input("Base model", placeholder="default: SmolLM2-135M-Instruct")
    lora = right.toggle("LoRA", value=True)
    max_steps = left.number_input("Max steps (-1: epochs)", min_value=-1, value=200)
    epochs = middle.number_input("Epochs", min_value=0.1, value=3.0)
    batch_size = right.number_input("Batch size", min_value=1, value=8)
    if st.form_submit_button("Start training", type="primary"):
        options = ["--max-steps", str(max_steps), "--epochs", str(epochs), "--batch-size", str(batch_size)]
        options += (["--model", model] if model else []) + (["--lora"] if lora else [])
        st.success(f"started (process {launch(store, dataset, options)}); the run appears below in a moment")

runs = runs_frame(store)
if runs.empty:
    st.stop()


@st.fragment(run_every=5)
def live() -> None:
    runs = runs_frame(store)
    st.dataframe(runs, hide_index=True, width="stretch")
    run_id = st.selectbox("Run", runs["id"].tolist(), key="run")
    row = runs.set_index("id").loc[run_id]
    points = curve(store, run_id)
    if not points.empty:
        st.line_chart(points, x="step", y=["loss", "eval_loss"])
    stop_col, resume_col, flag_col = st.columns(3)
    if stop_col.button("Stop", disabled=row["state"] != "running"):
        stop(store, run_id)
    if resume_col.button("Resume", disabled=row["state"] not in ("interrupted", "failed")):
        launch(store, "", resume=run_id)
    if flag_col.button("Send the 20 hardest pairs to review", disabled=row["state"] != "succeeded"):
        st.success(f"flagged {flag_hardest(store, run_id)} pairs")
    if row["state"] == "succeeded":
        st.write("Highest-loss examples")
        st.dataframe(hardest(store, run_id), hide_index=True, width="stretch")


live()
