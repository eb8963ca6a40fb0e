"""Reports on a run: a tiny model before and after fine-tuning on real benchmark mirrors and a
domain evaluation, compared item by item and question by question, written as HTML, markdown and
JSON, and looked at in Chromium."""
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.store import Store

from conftest import ARTIFACTS, shared

pytestmark = pytest.mark.embeddings
TASKS = ["arc_easy", "hellaswag", "mmlu_anatomy", "mmlu_astronomy"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory, tiny_model_dir):
    """Demo data approved and frozen, the tiny model and two runs fine-tuned from it (a gentle one
    and a harsh one), all three evaluated on the held-out split and on four real benchmark mirrors
    (30 items each). (store, the harsh run, the gentle run, folder, store path)"""
    from curate.datasets.build import DatasetConfig, build_dataset
    from curate.pairs.rows import insert_pairs, make_pair
    from evals.bench.run import run_benchmarks
    from evals.bench.tasks import import_benchmarks
    from evals.domain import evaluate_domain
    from training.config import TrainConfig
    from training.train import train
    from tuneloop.cli import main

    folder = tmp_path_factory.mktemp("report")
    db = folder / "store.duckdb"
    CliRunner().invoke(main, ["--db", str(db), "demo-data"], catch_exceptions=False)
    store = Store(db)
    insert_pairs(store, [make_pair("<script>alert(1)</script> question", "<img src=x onerror=alert(1)>",
                                   origin="extracted", topic="Lumo")])
    store.execute("UPDATE pairs SET status = 'approved'")
    build_dataset(store, DatasetConfig("v1", model=str(tiny_model_dir), max_length=96, test_size=0.2,
                                       semantic_threshold=None), export_root=folder / "ds")
    gentle, harsh = (train(store, TrainConfig(dataset="v1", model=str(tiny_model_dir), max_steps=steps, save_steps=100,
                                              lr=lr, output_root=str(folder / "runs"))) for steps, lr in ((4, 1e-3), (12, 5e-3)))
    import_benchmarks(shared("benchmarks"), folder / "tasks")
    for model in (str(tiny_model_dir), f"run:{gentle}", f"run:{harsh}"):
        evaluate_domain(store, model, "v1", max_new_tokens=12, limit=12)
        run_benchmarks(store, model, TASKS, limit=30, tasks_dir=folder / "tasks")
    return store, harsh, gentle, folder, db


def test_benchmark_items_are_stored_with_what_each_model_picked(reported):
    store, run_id, _, _, _ = reported
    items = store.rows("SELECT * FROM benchmark_items WHERE model = ?", [f"run:{run_id}"])
    assert len(items) == 4 * 30 and {i["task"] for i in items} == set(TASKS)
    for item in items:
        choices, picks, scores = (json.loads(item[k]) for k in ("choices", "picks", "scores"))
        assert len(choices) == len(json.loads(item["loglikelihoods"])) and item["question"]
        for metric in scores:  # lm-eval's score is the pick's (acc_norm: per character of the choice)
            assert scores[metric] == float(picks[metric] == item["target"]), (metric, item["task"])
    mmlu = next(i for i in items if i["task"] == "mmlu_anatomy")
    assert json.loads(mmlu["choices"])[0].startswith("A. ")  # the answer's text, not just its letter


def test_the_report_lists_the_items_that_flipped_with_intervals_and_human_labels(reported, tmp_path):
    from scipy.stats import binomtest

    from evals.report import render, report_data

    store, run_id, gentle, _, _ = reported
    data = report_data(store, run_id, (gentle,))
    tuned = f"run:{run_id}"
    assert set(data["items"]) == {tuned, f"run:{gentle}"}   # each run against the base model
    assert set(data["domain"]["against_baseline"]) == {tuned, f"run:{gentle}"}
    domain = {d["metric"]: d for d in data["domain"]["against_baseline"][tuned]["metrics"]}
    assert domain["exact_match"]["test"] == "McNemar" and domain["token_f1"]["test"] == "Wilcoxon"
    rows = {(r["task"], r["metric"]): r for r in data["items"][tuned]}
    assert ("mmlu", "acc") in rows and rows[("mmlu", "acc")]["items"] == 60  # the subjects together
    arc = rows[("arc_easy", "acc_norm")]
    assert arc["items"] == 30 and arc["ci_low"] <= arc["difference"] <= arc["ci_high"]
    changed = arc["right_to_wrong"] + arc["wrong_to_right"]   # McNemar's exact test on the items that changed
    assert arc["test"] == "McNemar" and arc["p_value"] == (
        binomtest(arc["wrong_to_right"], changed, 0.5).pvalue if changed else 1.0)
    flips = sum(r["right_to_wrong"] + r["wrong_to_right"] for r in data["items"][tuned]
                if r["primary"] and r["task"] != "mmlu")
    assert flips > 0, "twelve steps at a high learning rate change some of a random model's picks"
    page = render(data, "html")
    assert f"<th>run:{gentle}</th>" in page and f"<th>{tuned}</th>" in page
    listed = next(r for r in data["items"][tuned] if r.get("lost") or r.get("gained"))
    item = (listed.get("lost") or listed.get("gained"))[0]
    assert f"{listed['task_label']}, {tuned}:" in page
    from html import escape
    assert escape(item["question"], quote=False) in page or escape(item["question"]) in page
    assert "95% interval" in page and "McNemar" in page and "Wilcoxon" in page
    assert "Questions won and lost" in page and "<svg" in page and "MMLU by subject" in page
    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    for field in ("token_f1", "exact_match", "offtopic_refused", "mean_words", "acc_norm", "rouge_l"):
        assert field not in text, f"the field name {field} shows"
    assert "Token F1" in text and "Accuracy (length-normalised)" in text and "ARC-Easy" in text
    assert "<script" not in page and "<img src=x" not in page  # the pairs' text is escaped
    assert "http://" not in page and "https://" not in page and "url(" not in page  # nothing from elsewhere
    markdown = render(data, "md")
    assert "| Task | Metric | Items |" in markdown and "← tuned" in markdown and "token_f1" not in markdown
    as_json = json.loads(render(data, "json"))
    assert as_json["items"][tuned][0]["ci_low"] is not None and as_json["domain"]["models"][tuned]["questions"] == 12


def test_the_report_command_writes_each_format(reported, tmp_path):
    from tuneloop.cli import main

    _, run_id, gentle, _, db = reported
    for fmt in ("html", "md", "json"):
        out = tmp_path / f"report.{fmt}"
        result = CliRunner().invoke(main, ["--db", str(db), "report", "--run", str(run_id), "--run", str(gentle),
                                           "--format", fmt, "--out", str(out)], catch_exceptions=False)
        assert result.exit_code == 0 and out.stat().st_size > 1000
    assert json.loads((tmp_path / "report.json").read_text())["tuned"] == f"run:{run_id}"


@pytest.mark.browser
def test_the_html_report_reads_in_chromium_without_the_network(reported, tmp_path):
    from evals.report import write_report

    from browser import CHROMIUM, browser_page

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make test installs it)")
    store, run_id, gentle, _, _ = reported
    path = write_report(store, run_id, tmp_path / "report.html", (gentle,))
    asked = []
    with browser_page(tmp_path) as page:
        page.on("request", lambda r: asked.append(r.url))
        page.goto(path.as_uri())
        page.get_by_text("Benchmark items that flipped").first.wait_for()
        assert page.locator("svg").count() >= 3  # the charts drew
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert [u for u in asked if not u.startswith("file:")] == []


def test_the_evaluate_page_shows_the_same_report(reported, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from streamlit_app.common import _open

    from conftest import ROOT

    store, run_id, _, _, db = reported
    monkeypatch.setenv("TUNELOOP_DB", str(db))
    _open.clear()
    app = AppTest.from_file(str(ROOT / "streamlit_app" / "app.py"), default_timeout=120).run()
    app.switch_page("views/evaluate.py").run()
    assert not app.exception
    bench = [d.value for d in app.dataframe if "Right → wrong" in d.value.columns][0]
    assert set(bench["Task"]) == {"ARC-Easy", "HellaSwag", "MMLU"} and bench["95% interval"].str.contains("…").all()
    flipped = [e.label for e in app.expander if "wrong → right" in e.label or "right → wrong" in e.label]
    assert flipped and all(f"run:{run_id}" in label for label in flipped)
    assert any(e.label.startswith("MMLU by subject") for e in app.expander)
    tests = [d.value for d in app.dataframe if "Test" in d.value.columns][0].set_index("Metric")["Test"]
    assert tests["Exact match"] == "McNemar" and tests["Token F1"] == "Wilcoxon"   # right-or-wrong vs scores
    assert len(app.get("vega_lite_chart")) >= 3 and len(app.get("download_button")) == 3
