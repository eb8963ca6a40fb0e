"""Preference pairs from the signal people already give (A/B votes, edits, reviewers' decisions),
frozen as a version, written in TRL's forms, and trained on with DPO."""
import json

import pytest

from curate import rating
from curate.pairs.rows import insert_pairs, make_pair
from curate.rating.review import review
from curate.rating.users import add_user
from evals import ab

from conftest import eval_run

POLITE = "Happy to help! Hold the power button for five seconds and the lamp resets."


@pytest.fixture
def scripted(store):
    """Ten questions; an A/B study three annotators voted on; four edits on the Rate page."""
    insert_pairs(store, [make_pair(f"How do I reset lamp model {i}?", f"Reset {i}.", origin="extracted")
                         for i in range(10)])
    ids = [r["id"] for r in store.rows("SELECT id FROM pairs ORDER BY id")]
    base = eval_run(store, "base", {i: f"no idea {i}" for i in ids})
    tuned = eval_run(store, "run:1", {i: f"{POLITE} (model {i})" for i in ids})
    study = ab.create_study(store, base, tuned)
    voters = [add_user(store, f"voter{k}") for k in range(3)]
    for n, pair_id in enumerate(ids):
        for k, voter in enumerate(voters):
            if n == 0:
                choice = "tie"                                   # question 0: all ties → left out
            elif n == 1:
                choice = ("b", "a", "tie")[k]                    # question 1: b 1, a 1 → a tie, left out
            elif n == 2:
                choice = ("b", "tie", "tie")[k]                  # question 2: 1 of 3 for b → under 60%, left out
            elif n == 3:
                choice = ("a", "a", "b")[k]                      # question 3: the base model wins
            else:
                choice = "b"
            side = "left" if (choice == "a") == ab.a_on_left(study, pair_id, voter) else "right"
            ab.vote(store, study, pair_id, voter, "tie" if choice == "tie" else side)
    editor = add_user(store, "editor")
    reviewer = {"id": add_user(store, "rev", "reviewer", "password123"), "name": "rev", "role": "reviewer"}
    rating.submit(store, editor, ids[0], {"quality": 2, "verdict": "needs-edit", "response": POLITE})   # kept: edit
    rating.submit(store, editor, ids[2], {"quality": 2, "verdict": "needs-edit", "response": "Worse answer."})
    rating.undo_last(store, editor)                                                        # withdrawn
    rating.submit(store, editor, ids[3], {"quality": 2, "verdict": "needs-edit", "response": "A wrong fix."})
    edited = store.scalar("SELECT id FROM pairs WHERE origin = 'edited' AND parent_id = ?", [ids[3]])
    review(store, reviewer, edited, "reject")     # the reviewer prefers the original: the edit's direction flips
    review(store, reviewer, ids[3], "approve")
    return store, study, ids


def test_export_takes_votes_edits_and_reviews_and_counts_what_it_left_out(scripted, cli, tmp_path):
    store, study, ids = scripted
    out = tmp_path / "prefs.jsonl"
    result = cli("preferences", "export", str(out), "--name", "prefs1", "--format", "prompt")
    assert result.exit_code == 0, result.output
    assert "9 pair(s) (7 from ab, 1 from edit, 1 from review)" in result.output
    assert "1 A/B tie" not in result.output and "2 A/B tie" in result.output
    assert "1 A/B voters agreed under 60%" in result.output
    assert "1 edit withdrawn or rejected" in result.output   # (an unchanged answer makes no edit at all)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 9 and set(lines[0]) == {"prompt", "chosen", "rejected", "split", "source"}
    by_prompt = {(r["prompt"], r["source"]): r for r in lines}
    assert by_prompt[("How do I reset lamp model 3?", "ab")]["chosen"] == "no idea 4"        # the base model won (pair 4)
    assert by_prompt[("How do I reset lamp model 3?", "review")]["chosen"] == "Reset 3."     # reviewer's choice
    assert by_prompt[("How do I reset lamp model 0?", "edit")] == {
        "prompt": "How do I reset lamp model 0?", "chosen": POLITE, "rejected": "Reset 0.",
        "split": by_prompt[("How do I reset lamp model 0?", "edit")]["split"], "source": "edit"}
    # one question, one side of the split, whatever its sources
    sides = {}
    for r in lines:
        sides.setdefault(r["prompt"], set()).add(r["split"])
    assert all(len(s) == 1 for s in sides.values()) and {"train", "test"} <= set().union(*sides.values())
    # frozen: the version is in the store and its name cannot be reused
    assert store.scalar("SELECT count(*) FROM preference_items WHERE version_id = 1") == 9
    again = cli("preferences", "export", str(out), "--name", "prefs1")
    assert again.exit_code != 0 and "exists" in again.output


def test_messages_form_is_trl_conversational(scripted, cli, tmp_path):
    out = tmp_path / "prefs.jsonl"
    assert cli("preferences", "export", str(out), "--name", "m1", "--study", str(scripted[1])).exit_code == 0
    first = json.loads(out.read_text().splitlines()[0])
    assert first["prompt"][-1]["role"] == "user" and first["chosen"][0]["role"] == "assistant"
    assert first["rejected"] == [{"role": "assistant", "content": first["rejected"][0]["content"]}]


def test_nothing_to_export_says_where_preferences_come_from(cli, tmp_path):
    result = cli("preferences", "export", str(tmp_path / "p.jsonl"))
    assert result.exit_code != 0 and "A/B votes, edits" in result.output


def _polite_preferences(store, n=24):
    from curate.datasets.preferences import Preference, build_preferences

    records = [Preference("edit", f"q{i}", i, f"My lamp {i} is blinking, what now?",
                          chosen=f"{POLITE} Lamp {i} will be fine.", rejected=f"Bad lamp {i}. Go away.")
               for i in range(1, n + 1)]
    from collections import Counter

    build_preferences(store, "polite", records, Counter(), test_size=0.25, seed=0)


def test_dpo_on_the_tiny_model_moves_weights_and_raises_the_margin(store, cli, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    _polite_preferences(store)
    result = cli("train", "--method", "dpo", "--dataset", "polite", "--base", str(tiny_model_dir), "--max-steps", "12",
                 "--batch-size", "4", "--lr", "5e-3", "--logging-steps", "2", "--eval-steps", "6", "--save-steps", "6",
                 "--max-length", "96", "--precision", "fp32")
    assert result.exit_code == 0, result.output
    assert "held-out preference accuracy" in result.output
    run = store.one("SELECT * FROM runs")
    metrics = json.loads(run["metrics"])
    assert run["kind"] == "dpo" and json.loads(run["config"])["dataset"] == "polite"
    assert metrics["test_pairs"] == 6 and metrics["preference_accuracy"] is not None
    curve = store.rows("SELECT step, reward_margin FROM run_metrics WHERE reward_margin IS NOT NULL ORDER BY step")
    assert curve[-1]["reward_margin"] > curve[0]["reward_margin"]
    assert metrics["reward_margin"] > 0 and metrics["preference_accuracy"] >= 0.5
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    after = AutoModelForCausalLM.from_pretrained(run["output_dir"])
    assert any(not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values()))
    assert store.scalar("SELECT count(*) FROM models WHERE name = 'run:1'") == 1
    # resume: the run as it would be had it failed after its step-6 checkpoint (no final model, no
    # metrics, the job failed) continues from that checkpoint with its own config
    import shutil
    from pathlib import Path

    run_dir = Path(run["output_dir"]).parent
    shutil.rmtree(run_dir / "checkpoint-12")
    store.execute("UPDATE runs SET output_dir = ?, metrics = NULL WHERE id = 1", [str(run_dir)])
    store.execute("UPDATE jobs SET state = 'failed' WHERE id = ?", [run["job_id"]])
    logged = store.scalar("SELECT count(*) FROM run_metrics")
    resumed = cli("train", "--resume", "1")
    assert resumed.exit_code == 0, resumed.output
    assert store.scalar("SELECT state FROM jobs WHERE id = ?", [run["job_id"]]) == "succeeded"
    assert (run_dir / "checkpoint-12").is_dir() and store.scalar("SELECT count(*) FROM run_metrics") > logged


def test_dpo_refuses_an_sft_dataset_name(dataset, cli):
    result = cli("train", "--method", "dpo", "--dataset", "v1")
    assert result.exit_code != 0 and "no preference version 'v1'" in result.output


@pytest.mark.slow
def test_dpo_with_the_offline_smollm2_prints_held_out_preference_accuracy(store, cli):
    _polite_preferences(store, n=12)
    result = cli("train", "--method", "dpo", "--dataset", "polite", "--lora", "--max-steps", "4", "--batch-size", "2",
                 "--logging-steps", "1", "--eval-steps", "4", "--save-steps", "4", "--max-length", "128")
    assert result.exit_code == 0, result.output
    assert "held-out preference accuracy" in result.output and "over 3 pairs" in result.output
    assert store.scalar("SELECT count(*) FROM models WHERE name IN ('run:1', 'run:1:adapter')") == 2
