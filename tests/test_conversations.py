"""Conversations: rated as a whole (a score for each answer, one verdict), exported as messages,
and trained with the loss on every assistant turn."""
import pytest

from curate.errors import TuneloopError
from curate.rating import approve
from curate.rating.conversations import (
    conversation,
    conversations_left,
    next_conversation,
    rate_conversation,
    skip_conversation,
)
from curate.rating.users import add_user


@pytest.fixture
def demo(cli, store):
    cli("demo-data")
    return store


def test_a_conversation_shows_every_turn_and_which_answers_are_pairs(demo):
    annotator = add_user(demo, "ann")
    convo = next_conversation(demo, annotator)
    roles = [t["role"] for t in convo["turns"]]
    assert roles[0] == "user" and roles[-1] == "assistant" and len(convo["pair_ids"]) >= 2
    for turn in convo["turns"]:
        if turn.get("pair_id"):
            pair = demo.one("SELECT response FROM pairs WHERE id = ?", [turn["pair_id"]])
            assert turn["role"] == "assistant" and turn["content"] == pair["response"]


def test_one_verdict_rates_every_answer_and_approval_follows(demo):
    annotator = add_user(demo, "ann")
    left = conversations_left(demo, annotator)
    convo = next_conversation(demo, annotator)
    with pytest.raises(TuneloopError, match="score every answer"):
        rate_conversation(demo, annotator, convo["key"], {convo["pair_ids"][0]: 5}, "approve")
    assert demo.scalar("SELECT count(*) FROM ratings") == 0   # nothing half-saved
    scores = {pair_id: 5 - i for i, pair_id in enumerate(convo["pair_ids"])}
    assert len(rate_conversation(demo, annotator, convo["key"], scores, "approve")) == len(scores)
    stored = {(r["pair_id"], r["question"]): r["value"] for r in demo.rows("SELECT * FROM current_ratings")}
    for pair_id, score in scores.items():
        assert stored[(pair_id, "quality")] == str(score) and stored[(pair_id, "verdict")] == "approve"
        assert stored[(pair_id, "_conversation")] == convo["key"]
    assert conversations_left(demo, annotator) == left - 1
    assert next_conversation(demo, annotator)["key"] != convo["key"]
    assert approve(demo) == 0   # the rule applied as they rated: quality ≥ 4 and no reject
    approved = {r["id"] for r in demo.rows("SELECT id FROM pairs WHERE status = 'approved'")}
    assert approved == {p for p, s in scores.items() if s >= 4}
    with pytest.raises(TuneloopError, match="not one of"):
        other = next_conversation(demo, annotator)
        rate_conversation(demo, annotator, other["key"], {p: 9 for p in other["pair_ids"]}, "approve")


def test_a_skipped_conversation_goes_to_others(demo):
    ann, bob = add_user(demo, "ann"), add_user(demo, "bob")
    convo = next_conversation(demo, ann)
    assert skip_conversation(demo, ann, convo["key"]) == len(convo["pair_ids"])
    assert next_conversation(demo, ann)["key"] != convo["key"]
    assert next_conversation(demo, bob)["key"] == convo["key"]
    assert demo.scalar("SELECT count(*) FROM current_ratings WHERE question NOT LIKE '\\_%' ESCAPE '\\'") == 0


def test_only_conversations_with_two_answers_to_rate_are_offered_until_none_is_left(demo):
    annotator = add_user(demo, "ann")
    offered = []
    while (convo := next_conversation(demo, annotator)) is not None:
        assert len(convo["pair_ids"]) >= 2
        offered.append(convo["key"])
        rate_conversation(demo, annotator, convo["key"], dict.fromkeys(convo["pair_ids"], 3), "reject")
    assert len(offered) == len(set(offered)) == 11 and conversations_left(demo, annotator) == 0
    with pytest.raises(TuneloopError, match="no conversation"):
        conversation(demo, "log:999999")


def test_whole_conversation_examples_train_on_every_answer_and_nothing_else(demo, tiny_model_dir, tmp_path, cli):
    from transformers import AutoTokenizer

    from curate.datasets.versions import get_version, version_items
    from training.sft import examples

    demo.execute("UPDATE pairs SET status = 'approved'")
    result = cli("dataset", "build", "--name", "chats", "--template", "chat", "--conversations", "--model",
                 str(tiny_model_dir), "--max-length", "1024", "--semantic-threshold", "0")
    assert result.exit_code == 0, result.output
    report = get_version(demo, "chats")["report"]
    assert report["conversations"]["examples"] == 11 and report["conversations"]["pairs_folded_in"] > 0
    items = [i for i in version_items(demo, get_version(demo, "chats")["id"]) if i["loss_turns"]]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    end = "<|im_end|>\n"
    for item, example in zip(items, examples(tokenizer, items, 1024)):
        messages = [{"role": "system", "content": item["system"]}] if item["system"] else []
        messages += item["context"] + [{"role": "user", "content": item["instruction"]},
                                       {"role": "assistant", "content": item["response"]}]
        # the labelled tokens, run by run, are exactly the answers (with their end of turn), in order
        runs, current = [], []
        for token, label in zip(example["input_ids"], example["labels"]):
            if label != -100:
                assert label == token
                current.append(token)
            elif current:
                runs, current = runs + [current], []
        runs += [current] if current else []
        assert [tokenizer.decode(r) for r in runs] == [messages[i]["content"] + end for i in item["loss_turns"]]
        assert all(messages[i]["role"] == "assistant" for i in item["loss_turns"]) and len(item["loss_turns"]) >= 2
    # exported as messages, with the answers trained on named
    import json
    from pathlib import Path

    export_dir = Path(get_version(demo, "chats")["export_dir"])
    lines = [json.loads(line) for split in ("train", "test")
             for line in (export_dir / f"{split}_chat.jsonl").read_text().splitlines()]
    whole = [line for line in lines if "loss_turns" in line]
    assert len(whole) == 11 and all(line["messages"][i]["role"] == "assistant" for line in whole for i in line["loss_turns"])
    trained = cli("train", "--dataset", "chats", "--model", str(tiny_model_dir), "--max-steps", "2", "--batch-size", "4",
                  "--precision", "fp32")
    assert trained.exit_code == 0, trained.output
    assert demo.scalar("SELECT count(*) FROM example_losses WHERE pair_id = ?", [items[0]["pair_id"]]) == 1


def test_whole_conversations_need_the_chat_template(demo, tiny_model_dir, cli):
    demo.execute("UPDATE pairs SET status = 'approved'")
    result = cli("dataset", "build", "--name", "c", "--conversations", "--model", str(tiny_model_dir))
    assert result.exit_code != 0 and "--template chat" in result.output


def test_a_conversation_is_shown_redacted_once_a_scan_ran(demo, cli):
    annotator = add_user(demo, "ann")
    convo = next_conversation(demo, annotator)
    first = convo["pair_ids"][0]
    demo.execute("UPDATE pairs SET response = response || ' Mail ann.lee@example.com.' WHERE id = ?", [first])
    assert "ann.lee@example.com" in str(conversation(demo, convo["key"])["turns"])
    assert cli("pii", "scan", "--entities", "EMAIL_ADDRESS").exit_code == 0
    shown = str(conversation(demo, convo["key"])["turns"])
    assert "ann.lee@example.com" not in shown and "<EMAIL_1>" in shown
