"""Rating a conversation as a whole: every turn shown, each assistant turn scored, one verdict.

A conversation is the pairs that share a conversation key (curate.pairs.conversation_key): a chat
or a reply thread extracted into one pair per answered question. Its turns come from its last pair
(the one with the most earlier turns); each assistant turn that is a pair still to rate gets a
score, and the verdict is given once for all of them. The ratings are the pairs' own ratings (one
submission per pair, marked with the conversation), so approval, agreement and review work as for
pairs rated one by one.
"""
from __future__ import annotations

import json

from curate.errors import TuneloopError
from curate.pairs.rows import conversation_key_sql
from curate.pairs.status import to_rate
from curate.privacy.placeholders import Placeholders
from curate.privacy.scan import as_displayed
from curate.rating.ratings import validate, write_answers
from curate.rating.schema import get_rule, get_schema
from curate.rating.settle import settle
from curate.store import Store

CONVERSATION_MARK = "_conversation"   # bookkeeping answer: rated as part of this conversation


def questions(schema: dict) -> tuple[dict, dict]:
    """The schema's per-turn score (its first rating question) and verdict (its first label question)."""
    score = next((q for q in schema["questions"] if q["type"] == "rating"), None)
    verdict = next((q for q in schema["questions"] if q["type"] == "label"), None)
    if score is None or verdict is None:
        raise TuneloopError("rating whole conversations needs a rating question (the per-turn score) and a label"
                            " question (the verdict) in the rating schema")
    return score, verdict


def _open(alias: str = "p") -> str:
    """SQL: conversations with two or more pairs still to rate."""
    return (f"SELECT {conversation_key_sql(alias)} AS conversation FROM pairs {alias} WHERE {to_rate(alias)}"
            f" GROUP BY 1 HAVING count(*) >= 2")


def next_conversation(store: Store, annotator_id: int) -> dict | None:
    """The next conversation this annotator has rated no turn of (oldest first), or None."""
    with store.connect():
        key = store.scalar(
            f"WITH open AS ({_open()}) SELECT o.conversation FROM open o JOIN pairs p"
            f" ON {conversation_key_sql('p')} = o.conversation AND {to_rate()}"
            " WHERE NOT EXISTS (SELECT 1 FROM current_ratings r WHERE r.annotator_id = ? AND r.pair_id IN"
            f" (SELECT q.id FROM pairs q WHERE {conversation_key_sql('q')} = o.conversation))"
            " GROUP BY 1 ORDER BY min(p.id) LIMIT 1", [annotator_id])
        return conversation(store, key) if key else None


def conversation(store: Store, key: str) -> dict:
    """The conversation's turns, system prompt and which assistant turns are pairs to score:
    {key, system, turns: [{role, content, pair_id (assistant turns still to rate)}], pair_ids}."""
    pairs = store.rows(f"SELECT p.id, p.instruction, p.input, p.response, p.context, p.system, p.source_id, p.raw_log_id,"
                       f" p.lineage, {to_rate()} AS open FROM pairs p WHERE {conversation_key_sql()} = ? ORDER BY p.id",
                       [key])
    if not pairs:
        raise TuneloopError(f"no conversation {key!r}")
    shown = Placeholders()   # personal data replaced as the app's setting says, numbered across the conversation
    for i, p in enumerate(pairs):
        pairs[i] = p = as_displayed(store, p, shown)
        p["context"] = (json.loads(p["context"]) if isinstance(p["context"], str) else p["context"]) or []
    last = max(pairs, key=lambda p: (len(p["context"]), p["id"]))
    turns = [dict(t) for t in last["context"]] + [
        {"role": "user", "content": last["instruction"] + (f"\n\n{last['input']}" if last["input"] else "")},
        {"role": "assistant", "content": last["response"]}]
    by_turn: dict[int, dict] = {}
    for p in pairs:
        if p["open"]:
            by_turn.setdefault(len(p["context"]) + 1, p)   # the first version still to rate answers that turn
    for index, pair in by_turn.items():
        if index < len(turns) and turns[index]["role"] == "assistant":
            turns[index].update(content=pair["response"], pair_id=pair["id"])
    return {"key": key, "system": last["system"], "turns": turns,
            "pair_ids": [t["pair_id"] for t in turns if t.get("pair_id")]}


def rate_conversation(store: Store, annotator_id: int, key: str, scores: dict[int, object], verdict: str) -> list[int]:
    """One annotator's rating of a whole conversation: a score for each assistant turn still to rate
    and one verdict for all of them. Returns the submission ids (one per pair)."""
    schema = get_schema(store)
    score_q, verdict_q = questions(schema)
    with store.connect():
        convo = conversation(store, key)
        missing = [i for i in convo["pair_ids"] if scores.get(i) in (None, "")]
        if missing:
            raise TuneloopError(f"score every answer before the verdict ({len(missing)} not scored yet)")
        answers = {pair_id: validate(schema, {score_q["name"]: scores[pair_id], verdict_q["name"]: verdict})
                   for pair_id in convo["pair_ids"]}
        rule = get_rule(store)
        with store.transaction() as con:
            submissions = [write_answers(store, annotator_id, pair_id, {**clean, CONVERSATION_MARK: key})
                           for pair_id, clean in answers.items()]
            for pair_id in answers:
                settle(con, pair_id, rule)
            return submissions


def skip_conversation(store: Store, annotator_id: int, key: str) -> int:
    """Pass on a whole conversation: it goes to others and does not come back to this annotator.
    Returns how many of its answers were passed on."""
    from curate.rating.ratings import skip

    with store.connect():
        pair_ids = conversation(store, key)["pair_ids"]
        with store.transaction():
            for pair_id in pair_ids:
                skip(store, annotator_id, pair_id)
    return len(pair_ids)


def conversations_left(store: Store, annotator_id: int) -> int:
    """Conversations with turns to rate that this annotator has not rated."""
    return store.scalar(
        f"WITH open AS ({_open()}) SELECT count(*) FROM open o WHERE NOT EXISTS (SELECT 1 FROM current_ratings r"
        f" JOIN pairs q ON q.id = r.pair_id WHERE r.annotator_id = ? AND {conversation_key_sql('q')} = o.conversation)",
        [annotator_id])
