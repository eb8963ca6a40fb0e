import json

import datasets
import pytest

from curate.datasets.build import DatasetConfig, build_dataset
from curate.errors import TuneloopError
from evals.bench.run import model_fingerprint, run_benchmarks
from evals.bench.tasks import convert_arc, convert_hellaswag, convert_mmlu, convert_truthfulqa, import_benchmarks

from conftest import shared


def test_local_formats_convert_to_the_official_schemas():
    easy = convert_arc(shared("benchmarks", "arc_easy", "arc_easy.jsonl"))
    assert set(easy[0]) == {"id", "question", "choices", "answerKey"}
    assert easy[0]["choices"]["label"] == ["A", "B", "C", "D"] and not easy[0]["question"].startswith("Question:")
    challenge = convert_arc(shared("benchmarks", "arc_challenge", "arc_challenge_test.jsonl"))
    assert all(c["answerKey"] in c["choices"]["label"] for c in challenge)
    hella = convert_hellaswag(shared("benchmarks", "hellaswag", "hellaswag.jsonl"))
    assert isinstance(hella[0]["label"], str) and len(hella[0]["endings"]) == 4
    mmlu = convert_mmlu(shared("benchmarks", "mmlu", "test", "anatomy_test.csv"), "anatomy")
    assert mmlu[0]["answer"] == 0 and len(mmlu[0]["choices"]) == 4 and mmlu[0]["subject"] == "anatomy"
    redux = convert_mmlu(shared("benchmarks", "mmlu_redux", "mmlu_moral_scenarios.csv"), "moral_scenarios")
    assert len(redux) > 10 and all(0 <= r["answer"] <= 3 for r in redux)  # the Mac-Roman byte is read
    tqa = convert_truthfulqa(shared("benchmarks", "truthfulqa", "mc_task.json"))
    assert set(tqa[0]["mc2_targets"]) == {"choices", "labels"} and 1 in tqa[0]["mc2_targets"]["labels"]


def test_import_writes_tasks_that_include_lm_evals_own(tmp_path):
    import yaml

    made = import_benchmarks(shared("benchmarks"), tmp_path)
    assert made == ["local_arc_easy", "local_arc_challenge", "local_hellaswag", "local_truthfulqa_mc2", "local_mmlu"]
    config = yaml.safe_load((tmp_path / "local_arc_easy.yaml").read_text())
    assert config["include"].endswith("lm_eval/tasks/arc/arc_easy.yaml")
    assert config["dataset_path"] == "json" and "doc_to_text" not in config  # prompts stay lm-eval's
    assert len(list(tmp_path.glob("local_mmlu_*.yaml"))) == 57


def test_a_local_mirror_scores_identically_to_lm_evals_own_task_fed_the_same_rows(tiny_model_dir, tmp_path,
                                                                                  monkeypatch):
    """lm-eval's arc_easy, its hub download answered with our converted rows, against local_arc_easy."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from curate.lm.load import load_causal_lm

    import_benchmarks(shared("benchmarks"), tmp_path)
    rows = [json.loads(x) for x in (tmp_path / "data" / "arc_easy_test.jsonl").read_text().splitlines()]
    original = datasets.load_dataset

    def hub(path=None, name=None, *args, **kwargs):
        if path == "allenai/ai2_arc":  # the hub's three splits; only test is scored (no few-shot)
            return datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:5]),
                                         "validation": datasets.Dataset.from_list(rows[:5]),
                                         "test": datasets.Dataset.from_list(rows)})
        return original(path, name, *args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", hub)
    model, tokenizer, _ = load_causal_lm(str(tiny_model_dir))
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8, device="cpu")
    manager = TaskManager(include_path=str(tmp_path))
    own = manager.load(["arc_easy"])["tasks"]["arc_easy"]
    results = lm_eval.simple_evaluate(model=lm, tasks=[own, "local_arc_easy"], limit=30, task_manager=manager,
                                      bootstrap_iters=0)["results"]
    for metric in ("acc,none", "acc_norm,none"):
        assert round(results["arc_easy"][metric], 4) == round(results["local_arc_easy"][metric], 4)


def test_benchmarks_not_imported_say_what_to_do_instead_of_asking_the_hub(store, tiny_model_dir, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TuneloopError, match="arc_easy: not imported.*tuneloop eval import-benchmark"):
        run_benchmarks(store, str(tiny_model_dir), ["arc_easy"], limit=2, tasks_dir=tmp_path / "nothing")
    assert store.scalar("SELECT count(*) FROM jobs") == 0   # stopped before any work began


def test_results_are_stored_and_cached_by_model_fingerprint(store, tiny_model_dir, tmp_path):
    import_benchmarks(shared("benchmarks"), tmp_path / "tasks")
    first = run_benchmarks(store, str(tiny_model_dir), ["arc_easy"], limit=8, tasks_dir=tmp_path / "tasks")
    assert 0 <= first["arc_easy"]["acc"]["value"] <= 1
    rows = store.rows("SELECT * FROM benchmark_results")
    assert {r["metric"] for r in rows} == {"acc", "acc_norm"} and all(r["local"] and r["limit_n"] == 8 for r in rows)
    again = run_benchmarks(store, str(tiny_model_dir), ["arc_easy"], limit=8, tasks_dir=tmp_path / "tasks")
    assert again == first and store.scalar("SELECT count(*) FROM benchmark_results") == len(rows)  # cached
    from curate.lm.load import load_causal_lm
    model, _, _ = load_causal_lm(str(tiny_model_dir))
    before = model_fingerprint(model)
    model.model.embed_tokens.weight.data[0] += 1.0
    assert model_fingerprint(model) != before


@pytest.fixture
def evaluated(cli, store, tiny_model_dir, tmp_path):
    from curate.pairs.rows import insert_pairs, make_pair
    from evals.domain import evaluate_domain

    cli("demo-data")
    evil = "<script>alert(1)</script> question"
    insert_pairs(store, [make_pair(evil, "<img src=x onerror=alert(1)>", origin="extracted", topic="Lumo")])
    store.execute("UPDATE pairs SET status = 'approved'")
    build_dataset(store, DatasetConfig("v1", model=str(tiny_model_dir), max_length=96, test_size=0.2, semantic_threshold=None),
                  export_root=tmp_path / "ds")
    return evaluate_domain(store, str(tiny_model_dir), "v1", max_new_tokens=12, limit=12)


@pytest.mark.embeddings
def test_domain_evaluation_stores_outputs_metrics_and_flags(evaluated, store):
    assert evaluated["examples"] == 12
    outputs = store.rows("SELECT * FROM model_outputs")
    assert len(outputs) == 12 and all(o["prompt"].startswith("### Question:") for o in outputs)
    assert all(0 <= o["token_f1"] <= 1 and 0 <= o["rouge_l"] <= 1 for o in outputs)
    flags = store.rows("SELECT * FROM output_flags")
    assert flags and sum(evaluated["flags"].values()) == len(flags)  # a random model's answers get flagged
    nearest = json.loads(flags[0]["nearest_pairs"])
    assert len(nearest) == 3
    flagged = {r["id"] for r in store.rows("SELECT id FROM pairs WHERE status = 'flagged'")}
    assert set(nearest) <= flagged  # the training pairs behind a failure go back to the rating queue


@pytest.mark.embeddings
def test_report_is_self_contained_and_escapes_text(evaluated, store, cli, tiny_model_dir, tmp_path):
    from training.config import TrainConfig
    from training.train import train

    run_id = train(store, TrainConfig(dataset="v1", model=str(tiny_model_dir), max_steps=2, save_steps=10,
                                      output_root=str(tmp_path / "runs")))
    from evals.domain import evaluate_domain
    tuned_eval = evaluate_domain(store, f"run:{run_id}", "v1", max_new_tokens=8, limit=12)["eval_run_id"]
    from curate.rating.users import add_user
    from evals import ab
    study_id = ab.create_study(store, evaluated["eval_run_id"], tuned_eval)
    judge = add_user(store, "judge")
    item = ab.next_item(store, study_id, judge)
    ab.vote(store, study_id, item["pair_id"], judge, "right" if item["a_on_left"] else "left")  # the tuned answer
    out = tmp_path / "report.html"
    result = cli("report", "--run", str(run_id), "--out", str(out))
    assert result.exit_code == 0
    page = out.read_text()
    assert "Domain evaluation" in page and f"run:{run_id}" in page and "Worst answers" in page
    assert "1 vote, won 1, lost 0, tied 0" in page and "Win rate of the fine-tuned model: <b>100.0%" in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere


def test_shared_context_scoring_equals_lm_evals_own_model_class(tiny_model_dir, tmp_path):
    """Every request's log-likelihood and greedy flag, and every score, as lm-eval's HFLM computes them."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from curate.lm.load import load_causal_lm
    from evals.bench.shared_context_lm import SharedContextLM

    import_benchmarks(shared("benchmarks"), tmp_path)
    model, tokenizer, _ = load_causal_lm(str(tiny_model_dir))
    tasks = ["local_arc_challenge", "local_hellaswag", "local_truthfulqa_mc2", "local_mmlu_anatomy"]
    runs = {}
    for name, cls in (("hflm", HFLM), ("shared", SharedContextLM)):
        lm = cls(pretrained=model, tokenizer=tokenizer, batch_size=4, device="cpu")
        runs[name] = lm_eval.simple_evaluate(model=lm, tasks=tasks, limit=6, log_samples=True, bootstrap_iters=0,
                                             task_manager=TaskManager(include_path=str(tmp_path)))
    for task in tasks:
        ours, theirs = runs["shared"]["samples"][task], runs["hflm"]["samples"][task]
        assert len(ours) == len(theirs) == 6
        for a, b in zip(ours, theirs):
            assert len(a["resps"]) == len(b["resps"]) >= 2
            for (ll_a, greedy_a), (ll_b, greedy_b) in ((r[0], s[0]) for r, s in zip(a["resps"], b["resps"])):
                assert ll_a == pytest.approx(ll_b, abs=1e-4) and greedy_a == greedy_b
        for metric, value in runs["hflm"]["results"][task].items():
            if isinstance(value, float) and "stderr" not in metric:
                assert round(runs["shared"]["results"][task][metric], 4) == round(value, 4), (task, metric)


def test_contexts_run_after_their_shared_prefix_in_batches_of_similar_length():
    from evals.bench.shared_context_lm import _batches_by_tokens, _families

    intro = tuple(range(100, 110))  # ten tokens of instructions, as MMLU's subject line
    questions = [intro + (1, 2), intro + (1, 3, 4, 5), intro + (7,), (5, 6, 7)]
    families = _families(questions)
    assert families == [(0, [(5, 6, 7)]), (10, [intro + (1, 2), intro + (1, 3, 4, 5), intro + (7,)])]
    assert _families([intro, intro + (1,)]) == [(9, [intro, intro + (1,)])]  # a context's last token always runs
    contexts = [(0,) * n for n in (3, 3, 4, 5, 9)]
    lengths = [len(b) for b in _batches_by_tokens(contexts, size=len, cached=len, budget=12, cache_budget=100)]
    assert lengths == [3, 1, 1]  # 3 contexts of up to 4 tokens, then 5 and 9 alone (each padded batch within 12)
    lengths = [len(b) for b in _batches_by_tokens(contexts, size=len, cached=lambda c: 10, budget=100, cache_budget=20)]
    assert lengths == [2, 2, 1]  # at most 2 rows of 10 cached tokens
