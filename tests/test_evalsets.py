"""Proving the loop: a frozen evaluation set, kept out of training, scores every model on the same
questions, and two runs are compared with paired differences and intervals."""
import json

import numpy as np
import pytest

from curate.datasets.build import DatasetConfig, build_dataset
from curate.datasets.evalsets import create_evalset, evalset_items
from curate.errors import TuneloopError

from conftest import shared


@pytest.fixture
def lamini(cli, store):
    cli("ingest", str(shared("lamini_docs")), "--topic", "Lamini")
    cli("pairs", "extract")
    store.execute("UPDATE pairs SET status = 'approved'")
    return store


def test_an_evaluation_set_is_frozen_and_kept_out_of_every_later_build(lamini, tiny_model_dir, tmp_path):
    s = create_evalset(lamini, "lamini-eval", from_status="approved", size=60, seed=1)
    assert s["items"] == 60 and s["lineage"]["status"] == "approved" and s["lineage"]["of"] > 900
    items = evalset_items(lamini, s["id"])
    lamini.execute("UPDATE pairs SET response = 'changed later'")
    assert all(i["response"] != "changed later" for i in evalset_items(lamini, s["id"]))  # frozen
    report = build_dataset(lamini, DatasetConfig("after", model=str(tiny_model_dir), max_length=64,
                                                 semantic_threshold=None), export_root=tmp_path)
    excluded = report["excluded_for_eval_sets"]["lamini-eval"]
    assert excluded > 60  # its own 60, and their paraphrases (lamini_docs has many)
    trained = {r["pair_id"] for r in lamini.rows("SELECT pair_id FROM dataset_items")}
    assert not trained & {i["pair_id"] for i in items}
    with pytest.raises(TuneloopError, match="frozen"):
        create_evalset(lamini, "lamini-eval", from_status="approved", size=5)
    with pytest.raises(TuneloopError, match="only"):
        create_evalset(lamini, "too-big", from_status="approved", size=10**6)


def test_an_evaluation_set_from_a_file_and_from_a_version(cli, store, tmp_path, tiny_model_dir, write):
    path = write("questions.jsonl", "\n".join(json.dumps(r) for r in [
        {"question": "How do I dim the lamp?", "answer": "Slide a finger along the strip."},
        {"question": "What is the capital of Peru?", "answer": "Let's keep the discussion relevant to Lumo."},
        {"nonsense": True}]) + "\n")
    result = cli("evalset", "create", "from-file", "--from", str(path))
    assert result.exit_code == 0 and "2 questions (1 to be refused)" in result.output
    assert "left out: questions.jsonl line 3:" in result.output  # the bad line is named, the good ones kept
    cli("demo-data")
    store.execute("UPDATE pairs SET status = 'approved'")
    build_dataset(store, DatasetConfig("v1", model=str(tiny_model_dir), max_length=64, semantic_threshold=None),
                  export_root=tmp_path)
    held_out = store.scalar("SELECT count(*) FROM dataset_items WHERE split = 'test'")
    assert create_evalset(store, "v1-test", from_dataset="v1")["items"] == held_out
    assert "v1-test" in cli("evalset", "list").output and "[refuse]" in cli("evalset", "show", "from-file").output


def test_paired_differences_by_hand():
    from evals.compare import paired

    a, b = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), np.array([0.2, 0.2, 0.5, 0.6, 0.4, 0.9])
    d = paired(a, b)
    assert d["difference"] == pytest.approx(np.mean(b - a)) and (d["wins"], d["losses"], d["ties"]) == (4, 1, 1)
    assert d["ci_low"] < d["difference"] < d["ci_high"]
    same = paired(a, a)
    assert same["difference"] == 0 and same["p_value"] == 1.0 and same["ci_low"] == same["ci_high"] == 0


@pytest.mark.embeddings
def test_two_models_on_one_evaluation_set_are_compared_with_intervals(cli, store, tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evals.compare import compare
    from evals.domain import evaluate_domain

    other = tmp_path / "other-model"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(other)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(other)
    cli("demo-data")
    create_evalset(store, "lumo", from_status="new", size=16, seed=0)
    for spec in (str(tiny_model_dir), str(other)):
        metrics = evaluate_domain(store, spec, evalset="lumo", max_new_tokens=8, flag=False)
        assert metrics["examples"] == 16
    result = compare(store, "lumo", [str(tiny_model_dir), str(other)])
    assert result["questions"] == 16
    d = result["differences"][str(other)]["token_f1"]
    assert d["ci_low"] <= d["difference"] <= d["ci_high"] and d["wins"] + d["losses"] + d["ties"] == 16
    out = cli("compare", "--evalset", "lumo", str(tiny_model_dir), str(other)).output
    assert "95% bootstrap interval" in out and "token_f1" in out
    with pytest.raises(TuneloopError, match="has not been evaluated on lumo"):
        compare(store, "lumo", [str(tiny_model_dir), "run:99"])


@pytest.mark.embeddings
def test_the_report_and_the_loop_history_compare_runs_on_an_evaluation_set(cli, store, tiny_model_dir, tmp_path):
    from evals.domain import evaluate_domain
    from training.config import TrainConfig
    from training.train import train

    cli("demo-data")
    create_evalset(store, "lumo", from_status="new", size=12, seed=0)
    store.execute("UPDATE pairs SET status = 'approved'")
    build_dataset(store, DatasetConfig("v1", model=str(tiny_model_dir), max_length=64, semantic_threshold=None),
                  export_root=tmp_path / "ds")
    def run_on(version):
        return train(store, TrainConfig(dataset=version, model=str(tiny_model_dir), max_steps=3, lr=3e-3, eval_steps=3,
                                        save_steps=3, output_root=str(tmp_path / "runs")))

    runs = [run_on("v1")]
    from curate.pairs.offtopic import add_offtopic
    add_offtopic(store, "Lumo", 6)
    store.execute("UPDATE pairs SET status = 'approved' WHERE origin = 'offtopic'")
    build_dataset(store, DatasetConfig("v2", model=str(tiny_model_dir), max_length=64, semantic_threshold=None),
                  export_root=tmp_path / "ds")
    runs.append(run_on("v2"))
    for spec in (str(tiny_model_dir), *(f"run:{r}" for r in runs)):
        evaluate_domain(store, spec, evalset="lumo", max_new_tokens=6, flag=False)
    out = tmp_path / "report.html"
    result = cli("report", "--run", str(runs[0]), "--run", str(runs[1]), "--evalset", "lumo", "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Runs on the evaluation set lumo" in page and f"run:{runs[1]}" in page and "95% interval" in page
    history = cli("loop", "history").output
    assert "v2: " in history and "+6 −0 pairs" in history and f"run:{runs[0]} → run:{runs[1]} token_f1" in history


def test_a_pair_sent_back_and_edited_shows_before_and_after(cli, store):
    from curate import rating
    from curate.pairs.rows import insert_pairs, make_pair
    from curate.pairs.status import send_to_review
    from curate.rating.users import add_user
    from evals.loop import pair_story

    insert_pairs(store, [make_pair("How do I pair the lamp?", "Press it.", origin="extracted")])
    with store.transaction() as con:
        send_to_review(con, [1])
    ann = add_user(store, "ann", "annotator", "password123")
    rating.submit(store, ann, 1, {"quality": 2, "verdict": "needs-edit",
                                  "response": "Hold the touch strip for five seconds, then choose Lumo in the app."})
    story = pair_story(store, 1)
    before, after = story["versions"]
    assert (before["origin"], before["status"], after["origin"]) == ("extracted", "superseded", "edited")  # the edit replaces it
    assert after["response"].startswith("Hold the touch strip") and any(r["value"] == "2" for r in before["ratings"])
    assert "Hold the touch strip" in cli("loop", "history", "--pair", "2").output  # from either end
