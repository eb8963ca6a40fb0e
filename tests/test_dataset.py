import json

import pytest
from datasets import load_from_disk

from curate.datasets.build import DatasetConfig, build_dataset, split_pairs
from curate.datasets.examples import tokenize_example
from curate.datasets.versions import get_version, version_items
from curate.errors import TuneloopError
from curate.pairs.offtopic import add_offtopic


@pytest.fixture
def approved(cli, store):
    cli("demo-data")
    add_offtopic(store, "Lumo", 10)
    store.execute("UPDATE pairs SET status = 'approved' WHERE id % 4 <> 0")
    return store


def test_split_is_deterministic_stratified_and_offtopic_lands_in_both():
    pairs = [{"id": i, "topic": "Lumo", "origin": "extracted"} for i in range(100)] + \
            [{"id": 100 + i, "topic": "Lumo", "origin": "offtopic"} for i in range(4)]
    first, again = split_pairs(pairs, 0.1, seed=3), split_pairs(list(reversed(pairs)), 0.1, seed=3)
    assert first == again
    assert sum(first[i] == "test" for i in range(100)) == 10
    assert {first[100 + i] for i in range(4)} == {"train", "test"}
    assert split_pairs(pairs, 0.1, seed=4) != first


def test_truncation_cuts_the_answer_first_and_long_prompts_from_the_left(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    short = tokenize_example(tok, "Q: hi", " fine thanks", 64)
    assert not short["truncated_prompt"] and not short["truncated_answer"]
    cut = tokenize_example(tok, "Q: hi", " word" * 100, 16)
    assert cut["truncated_answer"] and len(cut["prompt_ids"]) + len(cut["answer_ids"]) == 16
    long_prompt = tokenize_example(tok, "word " * 100 + "the question?", " yes", 16)
    assert long_prompt["truncated_prompt"] and tok.decode(long_prompt["prompt_ids"]).endswith("the question?")


def test_a_version_freezes_approved_pairs_and_exports_them(approved, tiny_model_dir, tmp_path):
    report = build_dataset(approved, DatasetConfig("v1", model=str(tiny_model_dir), max_length=64, test_size=0.2,
                                                   semantic_threshold=None),
                           export_root=tmp_path)
    n = approved.scalar("SELECT count(*) FROM pairs WHERE status = 'approved'")
    assert report["examples"] == n == report["train"] + report["test"]
    assert report["by_origin"]["offtopic"]["train"] > 0 and report["by_origin"]["offtopic"]["test"] > 0
    assert 0 < report["truncated_answer_share"] < 1  # a few over-long answers in the sample are cut at 64
    version = get_version(approved, "v1")
    assert version["template"] == "qa" and version["max_length"] == 64 and "tiny" in version["tokenizer"]
    # frozen: editing a pair later does not change the version
    approved.execute("UPDATE pairs SET response = 'changed' WHERE status = 'approved'")
    items = version_items(approved, version["id"])
    assert all(i["response"] != "changed" for i in items)
    assert items[0]["prompt"].startswith("### Question:\n") and items[0]["prompt"].endswith("### Answer:")
    # exports: JSON lines in two forms and a DatasetDict with padded, masked token ids
    lines = [json.loads(x) for x in (tmp_path / "v1" / "train.jsonl").read_text().splitlines()]
    assert len(lines) == report["train"] and set(lines[0]) == {"pair_id", "prompt", "completion"}
    chat = json.loads((tmp_path / "v1" / "test_chat.jsonl").read_text().splitlines()[0])
    assert chat["messages"][-1]["role"] == "assistant"
    hf = load_from_disk(str(tmp_path / "v1" / "hf"))
    row = hf["train"][0]
    assert len(row["input_ids"]) == len(row["labels"]) == len(row["attention_mask"]) == 64
    assert row["labels"][0] == -100 and any(label != -100 for label in row["labels"])
    assert len(hf["test"]) == report["test"]


def test_versions_are_immutable_and_errors_are_clear(approved, tiny_model_dir, tmp_path, store):
    build_dataset(approved, DatasetConfig("v1", model=str(tiny_model_dir), max_length=64,
                                          semantic_threshold=None), export_root=tmp_path)
    with pytest.raises(TuneloopError, match="immutable"):
        build_dataset(approved, DatasetConfig("v1", model=str(tiny_model_dir)), export_root=tmp_path)
    with pytest.raises(TuneloopError, match="a dataset name"):
        build_dataset(approved, DatasetConfig("../evil", model=str(tiny_model_dir)), export_root=tmp_path)
    with pytest.raises(TuneloopError, match="no dataset 'v9'; there are v1"):
        get_version(approved, "v9")


def test_no_approved_pairs_is_a_clear_error(store, tiny_model_dir):
    with pytest.raises(TuneloopError, match="no approved pairs"):
        build_dataset(store, DatasetConfig("v1", model=str(tiny_model_dir)))


@pytest.mark.embeddings
def test_cli_dataset_build_and_list(approved, cli, tiny_model_dir, tmp_path):
    result = cli("dataset", "build", "--name", "v2", "--model", str(tiny_model_dir), "--max-length", "128",
                 "--template", "alpaca", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "v2: " in result.output and "offtopic" in result.output and str(tmp_path / "v2") in result.output
    assert "v2 " in cli("dataset", "list").output
    assert "test questions with a match in train: exact 0, near 0, semantic 0" in result.output


def test_split_keeps_each_duplicate_group_on_one_side():
    pairs = [{"id": i, "topic": "t", "origin": "extracted"} for i in range(40)]
    groups = [i // 4 for i in range(40)]  # ten groups of four
    split = split_pairs(pairs, 0.25, seed=1, groups=groups)
    for g in range(10):
        assert len({split[i] for i in range(40) if groups[i] == g}) == 1
    assert sum(v == "test" for v in split.values()) == 12  # three groups reach the 10-pair share
    assert split_pairs(pairs, 0.25, seed=1) == split_pairs(pairs, 0.25, seed=1, groups=list(range(40)))


@pytest.mark.embeddings
def test_a_lamini_docs_build_has_no_train_test_leakage(cli, store, tiny_model_dir, tmp_path):
    """lamini_docs is full of paraphrases; a split by pair puts many of them on both sides."""
    from curate.dedupe.leakage import leakage, question_matches

    from conftest import shared

    cli("ingest", str(shared("lamini_docs")), "--topic", "Lamini")
    cli("pairs", "extract")
    store.execute("UPDATE pairs SET status = 'approved'")
    pairs = store.rows("SELECT id, instruction, topic, origin FROM pairs ORDER BY id")
    from curate.lm.embeddings import vectors_for
    matches = question_matches([p["instruction"] for p in pairs], 0.7, 0.92,
                               vectors_for(store, [p["instruction"] for p in pairs]))
    by_pair = split_pairs(pairs, 0.1, seed=0)
    naive = leakage([by_pair[p["id"]] for p in pairs], matches)
    assert sum(naive.values()) > 0  # the old split by pair leaks
    report = build_dataset(store, DatasetConfig("lamini", model=str(tiny_model_dir), max_length=64),
                           export_root=tmp_path)
    assert report["leakage"]["test_with_a_match_in_train"] == {"exact": 0, "near": 0, "semantic": 0}
    assert report["test"] > 50 and report["leakage"]["largest_group"] > 1


def test_decontamination_finds_planted_benchmark_text_and_none_in_clean_text(cli, store, tmp_path, tiny_model_dir):
    from curate.dedupe.decontaminate import benchmark_items, decontaminate
    from curate.pairs.rows import insert_pairs, make_pair
    from evals.bench.tasks import import_benchmarks

    from conftest import shared

    tasks = tmp_path / "tuneloop_benchmarks"
    import_benchmarks(shared("benchmarks"), tasks)
    items = {(b, i): text for b, i, text in benchmark_items(tasks)}
    arc = next(t for (b, _), t in items.items() if b.startswith("arc_easy") and len(t.split()) > 25)
    mmlu = next(t for (b, _), t in items.items() if b.startswith("mmlu/") and len(t.split()) > 25)
    clean = [make_pair(f"How do I reset lamp number {i}?", "Hold the touch strip for ten seconds until it blinks"
                       " twice, then release it and wait for the light to come back on.", origin="extracted")
             for i in range(20)]
    planted = [make_pair("Quiz question", "Here it is: " + arc, origin="extracted"),
               make_pair(" ".join(mmlu.split()[:30]), "I think the answer is B.", origin="generated")]
    insert_pairs(store, clean + planted)
    found = decontaminate(store, tasks)
    planted_ids = {r["id"] for r in store.rows("SELECT id FROM pairs WHERE instruction = 'Quiz question'"
                                               " OR origin = 'generated'")}
    assert {f["pair_id"] for f in found} == planted_ids
    assert {f["benchmark"].split("/")[0].split("_test")[0] for f in found} == {"arc_easy", "mmlu"}
    assert cli("decontaminate", "--tasks-dir", str(tasks)).exit_code == 0
    store.execute("UPDATE pairs SET status = 'approved'")
    report = build_dataset(store, DatasetConfig("clean", model=str(tiny_model_dir), max_length=64,
                                                semantic_threshold=None), export_root=tmp_path / "ds")
    assert report["examples"] == 20 and sorted(report["contamination"]["found"]) == sorted(planted_ids)
    kept = build_dataset(store, DatasetConfig("all", model=str(tiny_model_dir), max_length=64, semantic_threshold=None,
                                              keep_contaminated=True), export_root=tmp_path / "ds")
    assert kept["examples"] == 22
