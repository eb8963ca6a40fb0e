"""The report on a run, on the Evaluate page: the same figures, charts and flipped items as the
report files (evals.report), and those files to download."""
import streamlit as st

from curate.labels import model_label
from evals.report import charts, render, report_data
from evals.report.benchmarks import flipped, headline, subjects
from evals.report.frames import benchmarks_frame, differences_frame, domain_frame, flipped_frame, questions_frame
from streamlit_app.render import plural, table

NUMBERS = {"format": "%.3f"}


def _numbers(frame, *columns):
    return {c: st.column_config.NumberColumn(c, **NUMBERS) for c in columns if c in frame.columns}


def show(store, run_ids: list[int], default: int | None) -> None:
    st.subheader("Report on a run")
    left, right = st.columns([1, 2])
    run_id = left.selectbox("Run", run_ids, index=run_ids.index(default) if default in run_ids else 0,
                            format_func=lambda i: f"run {i}")
    others = right.multiselect("Compare with more runs", [r for r in run_ids if r != run_id],
                               format_func=lambda i: f"run {i}")
    data = report_data(store, int(run_id), tuple(int(o) for o in others))
    st.caption(f"Against the base model `{model_label(data['base'])}`: benchmark items both answered (bootstrap 95% interval,"
               " McNemar's exact test) and held-out questions both answered (bootstrap 95% interval; McNemar for"
               " exact match and refusals, else Wilcoxon).")
    for model, rows in data["items"].items():
        top = headline(rows)
        if top:
            frame = benchmarks_frame(top, model)
            table(frame, column_config=_numbers(frame, "Base", model, "Change", "McNemar p"))
        for r in flipped(rows):
            for label, listed, count in (("right → wrong", r.get("lost"), r["right_to_wrong"]),
                                         ("wrong → right", r.get("gained"), r["wrong_to_right"])):
                if count:
                    with st.expander(f"{r['task_label']}, {model}: {plural(count, 'item')} {label}"):
                        table(flipped_frame(listed))
        by_subject = subjects(rows)
        if by_subject:
            with st.expander(f"MMLU by subject, {model} ({len(by_subject)} subjects, largest drop first)"):
                st.altair_chart(charts.subjects_chart(by_subject), width="stretch")
    chart = charts.benchmark_chart(data["items"])
    if chart is not None:
        st.altair_chart(chart, width="stretch")
    domain = data["domain"]
    if domain["models"]:
        frame = domain_frame(domain["models"])
        table(frame, column_config=_numbers(frame, "Token F1", "ROUGE-L", "Similarity", "Exact match"))
        for model, comparison in domain["against_baseline"].items():
            if not comparison["questions"]:
                continue
            frame = differences_frame(comparison)
            st.caption(f"{model} against the base model on {plural(comparison['questions'], 'question')}")
            table(frame, column_config=_numbers(frame, "Base", "Fine-tuned", "Change", "p"))
            for label, listed, count in (("lost", comparison["lost"], comparison["lost_count"]),
                                         ("won", comparison["won"], comparison["won_count"])):
                if count:
                    with st.expander(f"{model}: {plural(count, 'question')} {label} on token F1"):
                        table(questions_frame(listed))
        for chart in (charts.flags_chart(domain["models"]), charts.lengths_chart(domain["models"])):
            if chart is not None:
                st.altair_chart(chart, width="stretch")
    elif not any(data["items"].values()):
        st.info("Evaluate the base model and this run (domain evaluation and benchmarks, above) to see what changed.")
    loop = charts.loop_chart(data["iterations"])
    if loop is not None:
        st.altair_chart(loop, width="stretch")
    columns = st.columns(3)
    for column, (fmt, mime) in zip(columns, (("html", "text/html"), ("md", "text/markdown"), ("json", "application/json"))):
        column.download_button(f"Download the report ({fmt.upper()})", render(data, fmt),
                               file_name=f"report-run-{run_id}.{fmt}", mime=mime, key=f"report-{fmt}")
