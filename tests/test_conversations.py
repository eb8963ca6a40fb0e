"""Conversations: rated as a whole (a score for each answer, one verdict), exported as messages,
and trained with the loss on every assistant turn."""
import pytest

from curate.errors import TuneloopError
from curate.rating import approve
from curate.rating.conversations import conversation, conversations_left, next_conversation, rate_conversation
from curate.users import add_user


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
    approve(demo)   # quality ≥ 4 and no reject: the answers scored 5 and 4 are approved, the rest not
    approved = {r["id"] for r in demo.rows("SELECT id FROM pairs WHERE status = 'approved'")}
    assert approved == {p for p, s in scores.items() if s >= 4}
    with pytest.raises(TuneloopError, match="not one of"):
        other = next_conversation(demo, annotator)
        rate_conversation(demo, annotator, other["key"], {p: 9 for p in other["pair_ids"]}, "approve")


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
