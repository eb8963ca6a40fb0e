import streamlit as st

from curate.datasets.evalsets import evalsets_frame
from curate.datasets.versions import versions_frame
from curate.errors import TuneloopError
from curate.lm.backends import BACKEND_HELP, BACKENDS
from curate.lm.device import DEVICE_HELP, PRECISION_HELP, PRECISIONS
from curate.lm.resolve import model_choices
from evals.ab import create_study
from evals.bench.run import run_benchmarks
from evals.bench.tasks import TASKS, default_tasks_dir, import_benchmarks
from evals.compare import compare, evaluated_models, tables
from evals.domain import evaluate_domain
from evals.loop import history, history_frame
from evals.results import ab_table, answers, benchmark_table, domain_runs, latest_evaluated_run, question_sets
from streamlit_app import report_panel
from streamlit_app.common import get_store, require
from streamlit_app.render import escape_markdown, table
from training.runs import runs_frame

store = get_store()
require("approve")
st.title("Evaluate")
versions = versions_frame(store)
runs = runs_frame(store)
models = model_choices(store)
sets = evalsets_frame(store)
questions = question_sets(store)

with st.form("domain"):
    st.subheader("Domain evaluation")
    left, middle, right = st.columns(3)
    model = left.selectbox("Model", list(models))
    asked = middle.selectbox("Questions", list(questions))
    limit = right.number_input("Questions (0: all)", min_value=0, value=20)
    device, precision, backend = st.columns(3)
    device = device.text_input("Device", "auto", help=DEVICE_HELP)
    precision = precision.selectbox("Precision", PRECISIONS, help=PRECISION_HELP)
    backend = backend.selectbox("Backend", BACKENDS, help=BACKEND_HELP)
    if st.form_submit_button("Evaluate", type="primary", disabled=not questions):
        try:
            with st.spinner("Generating answers…"):
                metrics = evaluate_domain(store, models[model], **questions[asked], limit=int(limit) or None,
                                          device=device, precision=precision, backend=backend)
            st.success(f"token F1 {metrics['token_f1']}, ROUGE-L {metrics['rouge_l']},"
                       f" {metrics['flagged_outputs']} flagged outputs sent to review")
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))

with st.expander("Import benchmark files (needed once, before running benchmarks offline)"):
    folder = st.text_input("Folder with arc_easy/, hellaswag/, mmlu/, truthfulqa/", key="bench-folder")
    if st.button("Import benchmarks", disabled=not folder):
        try:
            st.success("Imported: " + ", ".join(import_benchmarks(folder, default_tasks_dir(store))))
        except (TuneloopError, OSError) as exc:
            st.error(escape_markdown(str(exc)))

with st.form("bench"):
    st.subheader("Benchmarks (lm-eval)")
    left, middle, right = st.columns(3)
    bench_model = left.selectbox("Model", list(models), key="bench-model")
    tasks = middle.multiselect("Tasks", TASKS, default=["arc_easy"])
    bench_limit = right.number_input("Items per task", min_value=1, value=20)
    bench_device, bench_precision = st.columns(2)
    bench_device = bench_device.text_input("Device", "auto", help=DEVICE_HELP, key="bench-device")
    bench_precision = bench_precision.selectbox("Precision", PRECISIONS, help=PRECISION_HELP, key="bench-precision")
    if st.form_submit_button("Run benchmarks"):
        try:
            with st.spinner("Running lm-eval…"):
                run_benchmarks(store, models[bench_model], tasks, int(bench_limit),
                               device=bench_device, precision=bench_precision, local_only=True)
        except TuneloopError as exc:
            st.error(escape_markdown(str(exc)))

if not sets.empty:
    st.subheader("Compare models on an evaluation set")
    chosen_set = st.selectbox("Evaluation set", sets["name"].tolist())
    scored = evaluated_models(store, chosen_set)
    picked = st.multiselect("Models (the first is the baseline)", scored, default=scored[:3])
    if len(picked) >= 2:
        scores, diffs = tables(compare(store, chosen_set, picked))
        table(scores)
        st.caption("Differences from the baseline over the same questions: mean, bootstrap 95% interval,"
                   " p-value (McNemar for exact match and refusals, else Wilcoxon), and questions won, lost and tied.")
        table(diffs)
    else:
        st.info("Evaluate two or more models on this set (above) to compare them.")

loop = history_frame(history(store))
if not loop.empty:
    st.subheader("The loop, version by version")
    st.caption("Each dataset version, the runs trained on it and their scores on the evaluation sets; the move"
               " from the previous version's run with its paired 95% interval; what changed in the data.")
    table(loop)

results = benchmark_table(store)
if not results.empty:
    table(results.pivot_table(index=["task", "metric"], columns="model", values="value").reset_index())
evals = domain_runs(store)
if not evals.empty:
    st.subheader("Domain runs")
    table(evals)
    chosen = st.selectbox("Answers of", evals["id"].tolist(),
                          format_func=lambda i: f"eval run {i} · {evals.set_index('id').loc[i, 'model']}")
    st.caption("The model's answers beside the references, with the error heuristics' flags.")
    table(answers(store, chosen))
    st.subheader("Blind A/B")
    with st.form("ab"):
        left, right = st.columns(2)
        run_a = left.selectbox("A (usually the base model)", evals["id"].tolist(), index=min(1, len(evals) - 1),
                               format_func=lambda i: f"eval run {i} · {evals.set_index('id').loc[i, 'model']}")
        run_b = right.selectbox("B (usually the fine-tuned model)", evals["id"].tolist(),
                                format_func=lambda i: f"eval run {i} · {evals.set_index('id').loc[i, 'model']}")
        if st.form_submit_button("Start a blind A/B study (annotators vote on the Rate page)"):
            try:
                st.success(f"Started A/B study {create_study(store, int(run_a), int(run_b))}")
            except TuneloopError as exc:
                st.error(escape_markdown(str(exc)))
    studies = ab_table(store)
    if not studies.empty:
        table(studies)
if not runs.empty:
    report_panel.show(store, runs["id"].tolist(), latest_evaluated_run(store))
