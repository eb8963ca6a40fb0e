"""Generate instruction–response pairs with an LLM (Alpaca / self-instruct style).

Sources:
- documents, answers "passage" (the default): split into chunks and the chunks into passages of a
  few sentences; each passage is an answer, and the model writes the question it answers
  (instruction back-translation): one short prompt per pair, grounded by construction;
- documents, answers "model": ask for questions a chunk answers, then for answers from it (the
  model's words; those the chunk does not support are dropped);
- raw: rewrite a raw log (a Q&A record or a conversation) into one clean pair;
- pairs: self-instruct: show a few existing questions, ask for new ones, then answer them.

Prompts go out in waves: as many as the pairs still wanted need at the yield seen so far (across
chunks and rounds: a short document's chunks are asked several times in one batch, not one round
after another), sorted by length into batches. Question prompts stop once their questions are
written. The steps are pure functions over batches (prompts in, parsed pairs out); the store is
read before (`load_inputs`) and written after (`insert_pairs`). Every output that is dropped is
counted under a reason: empty, unparseable, too_short, copied_prompt, small_talk, duplicate,
not_grounded, off_text.

Measured (benchmarks/generate.py --pairs, docs/benchmarks/eval.md): see the docs for kept pairs
per minute of each way beside the one-round-at-a-time loop this replaced.
"""
from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice

from tqdm.auto import tqdm

from curate.errors import TuneloopError
from curate.lm.backends import Backend
from curate.lm.decoding import BATCH_SIZE
from curate.pairs.grounding import GROUNDED, support, words
from curate.pairs.prompts import (
    PROMPT_PHRASES,
    answer_messages,
    chunk_text,
    clean_answer,
    drop_reason,
    parse_questions,
    parse_rewrite,
    passage_messages,
    passages,
    question_messages,
    rewrite_messages,
    self_instruct_messages,
    text_key,
)
from curate.pairs.rows import insert_pairs, make_pair
from curate.pairs.status import active
from curate.store import Store

SOURCES = ("documents", "raw", "pairs")
ANSWERS = ("passage", "model")


@dataclass
class GenerationConfig:
    """What to generate and how. The resolved config is stored with the job."""
    source: str = "documents"       # documents | raw | pairs
    answers: str = "passage"        # documents: passage (the document's words) | model (the model's words)
    topic: str | None = None        # the domain, e.g. a product name
    n: int = 20                     # pairs wanted
    seed: int = 0
    questions_per_chunk: int = 3    # asked of each chunk; a small model often gives fewer
    chunk_words: int = 150          # ~200 tokens: fits a 2k-token context with the instructions
    passage_words: int = 60         # an answer passage: whole sentences, at most this many words
    max_new_tokens: int = 160       # an answer of a few sentences
    temperature: float = 0.7        # for questions (variety); answers are greedy (faithful)
    max_rounds: int = 8             # passes over the inputs before giving up on reaching n (answers "model",
                                    # pairs); a passage and a raw log are asked once
    batch_size: int = BATCH_SIZE    # prompts a forward pass (curate.lm.generation explains the number)


@dataclass
class GenerationResult:
    pairs: list[dict] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    prompts: int = 0       # answered
    planned: int = 0       # sent or about to be: grows wave by wave
    seconds: float = 0.0

    def rates(self) -> tuple[float, float]:
        """Prompts answered per second and pairs kept per minute, so far."""
        seconds = max(self.seconds, 1e-9)
        return self.prompts / seconds, 60 * len(self.pairs) / seconds

    def summary(self) -> str:
        drops = ", ".join(f"{k} {v}" for k, v in self.dropped.most_common()) or "none"
        per_s, per_min = self.rates()
        return (f"{len(self.pairs)} pairs from {self.prompts} prompts in {self.seconds:.0f} s ({per_s:.2f} prompts/s,"
                f" {per_min:.1f} kept pairs/min); dropped: {drops}")


# --------------------------------------------------------------------------- the store, before
def load_inputs(store: Store, config: GenerationConfig, source_ids: list[int] | None = None) -> dict:
    """Everything generation reads from the store, read at once so nothing is held while it runs."""
    if config.source not in SOURCES:
        raise TuneloopError(f"unknown source {config.source!r}; choose one of {', '.join(SOURCES)}")
    only = " AND source_id IN (SELECT unnest(?::BIGINT[]))" if source_ids else ""
    args = [source_ids] if source_ids else []
    if config.source == "documents":
        rows = store.rows(f"SELECT id, source_id, payload FROM raw_logs WHERE kind = 'document'{only} ORDER BY id", args)
    elif config.source == "raw":
        rows = store.rows(f"SELECT id, source_id, kind, payload FROM raw_logs WHERE kind IN ('qa', 'conversation'){only}"
                          " ORDER BY id", args)
    else:
        rows = store.rows(f"SELECT id, source_id, instruction FROM pairs p WHERE {active()}"
                          " AND origin <> 'offtopic' ORDER BY id")
    if not rows:
        raise TuneloopError({"documents": "no documents imported; import .md or .txt files first",
                             "raw": "no Q&A records or conversations imported",
                             "pairs": "no pairs to learn from; extract or import some first"}[config.source])
    for row in rows:
        if "payload" in row:
            row["payload"] = json.loads(row["payload"])
    known = {text_key(r["instruction"]) for r in store.rows("SELECT instruction FROM pairs")}
    return {"rows": rows, "known_questions": known}


# --------------------------------------------------------------------------- generation (pure)
@dataclass
class Plan:
    """How one source turns into prompts and pairs: `asks` yields (context, conversation) for every
    first prompt, across rounds, in the order they are sent; `guess` is the pairs one of them keeps
    before any is seen; `decoding` their settings; `finish(contexts, replies, result, seen, ask,
    wave_no)` turns a wave's replies into pairs (asking again through `ask` where answers are needed)."""
    asks: Iterator[tuple]
    guess: float
    decoding: dict
    finish: Callable


MAX_WAVE_BATCHES = 4   # a wave is at most this many batches, so kept pairs show up as it goes


def wave_size(need: int, kept: int, asked: int, guess: float, batch_size: int) -> int:
    """First prompts for the next wave: enough for the pairs still needed at the yield seen so far
    (one pair at the guessed yield added, so a wave that kept nothing still has a finite rate)."""
    rate = (kept + 1) / (asked + 1 / guess)
    return max(1, min(MAX_WAVE_BATCHES * batch_size, math.ceil(need / rate)))


def generate_pairs(backend: Backend, inputs: dict, config: GenerationConfig,
                   on_progress: Callable[[GenerationResult], None] | None = None, show_progress: bool = False
                   ) -> GenerationResult:
    """Up to config.n new pairs from the inputs, with lineage; nothing is written. After each batch
    of prompts, on_progress(the result so far: pairs, prompts answered and planned, seconds)."""
    if config.answers not in ANSWERS:
        raise TuneloopError(f"answers {config.answers!r}: choose one of {', '.join(ANSWERS)}")
    rng = random.Random(config.seed)
    result = GenerationResult()
    seen = set(inputs["known_questions"])
    plan = PLANS[config.source](inputs["rows"], config, rng)
    bar = tqdm(total=config.n, desc="generate", unit="pair", disable=not show_progress)
    started = time.monotonic()

    def report() -> None:
        result.seconds = time.monotonic() - started
        bar.set_postfix_str(f"{result.prompts}/{result.planned} prompts", refresh=False)
        if on_progress:
            on_progress(result)

    def ask(conversations: list[list[dict]], *, seed: int, **decoding) -> list[str]:
        return _ask(backend, conversations, config, result, report, seed=seed, **decoding)

    asked = wave_no = 0
    while len(result.pairs) < config.n:
        wave = list(islice(plan.asks, wave_size(config.n - len(result.pairs), len(result.pairs), asked, plan.guess,
                                                config.batch_size)))
        if not wave:
            break
        asked += len(wave)
        replies = ask([conversation for _, conversation in wave], seed=config.seed + 1000 * wave_no, **plan.decoding)
        for pair in plan.finish([context for context, _ in wave], replies, result, seen, ask, wave_no):
            if len(result.pairs) >= config.n:
                break
            pair["lineage"] = {**(pair["lineage"] or {}), **backend.description, "seed": config.seed,
                               "source": config.source}
            result.pairs.append(pair)
            bar.update(1)
        report()
        wave_no += 1
    bar.close()
    result.seconds = time.monotonic() - started
    return result


def _ask(backend: Backend, conversations: list[list[dict]], config: GenerationConfig, result: GenerationResult,
         report: Callable[[], None], *, seed: int, max_new_tokens: int, temperature: float,
         stop: tuple[str, int] | None = None) -> list[str]:
    """Replies in the conversations' order. A local model gets batches of its batch size, longest
    prompt first (less padding); Ray workers and vLLM get the whole wave (they batch it themselves)."""
    result.planned += len(conversations)
    size = getattr(backend, "call_size", config.batch_size) or len(conversations)
    order = list(range(len(conversations)))
    if len(order) > size:
        order.sort(key=lambda i: -sum(len(m["content"]) for m in conversations[i]))
    replies = [""] * len(conversations)
    for start in range(0, len(order), size):
        chosen = order[start:start + size]
        got = backend.chat([conversations[i] for i in chosen], max_new_tokens=max_new_tokens,
                           temperature=temperature, seed=seed + start, **({"stop": stop} if stop else {}))
        for i, reply in zip(chosen, got):
            replies[i] = reply
        result.prompts += len(chosen)
        report()
    return replies


def _accept_question(question: str, seen: set, result: GenerationResult) -> bool:
    reason = drop_reason(question, PROMPT_PHRASES)
    if reason is None and text_key(question) in seen:
        reason = "duplicate"
    if reason:
        result.dropped[reason] += 1
        return False
    seen.add(text_key(question))
    return True


def _questions(reply: str, k: int, result: GenerationResult) -> list[str]:
    found = parse_questions(reply)
    if not found:
        result.dropped["unparseable" if reply.strip() else "empty"] += 1
    return found[:k]


def _answer_all(ask, asks: list[tuple[dict, str, str | None]], config: GenerationConfig, result: GenerationResult,
                wave_no: int, origin: str = "generated") -> list[dict]:
    """Answer (row, question, chunk) triples in one go; keep the answers that pass the checks."""
    replies = ask([answer_messages(chunk, q, config.topic) for _, q, chunk in asks],
                  max_new_tokens=config.max_new_tokens, temperature=0.0, seed=config.seed + 1000 * wave_no)
    pairs = []
    for (row, question, chunk), reply in zip(asks, replies):
        answer = clean_answer(reply)
        reason = drop_reason(answer, PROMPT_PHRASES)
        if reason is None and chunk and text_key(answer) == text_key(chunk):
            reason = "copied_prompt"
        if reason is None and chunk and support(answer, chunk) < GROUNDED:
            reason = "not_grounded"   # fewer than half its words are the chunk's: the model made it up
        if reason:
            result.dropped[reason] += 1
            continue
        pairs.append(make_pair(question, answer, origin=origin, topic=config.topic, source_id=row["source_id"],
                               raw_log_id=row["raw_log_id"], lineage={"chunk": chunk, **row["lineage"]}))
    return pairs


def _chunks(rows: list[dict], config: GenerationConfig) -> list[tuple[dict, str]]:
    chunks = [({"raw_log_id": row["id"], "source_id": row["source_id"],
                "lineage": {"chunk_index": i, "document": row["payload"].get("title")}}, c)
              for row in rows for i, c in enumerate(chunk_text(row["payload"]["text"], config.chunk_words))]
    if not chunks:
        raise TuneloopError("the documents are too short to ask questions about")
    return chunks


def _list_decoding(config: GenerationConfig, temperature: float) -> dict:
    """A list of k questions: sampled, ending once the k-th question mark is written."""
    k = config.questions_per_chunk
    return {"max_new_tokens": min(config.max_new_tokens, 40 * k), "temperature": temperature, "stop": ("?", k)}


def _plan_documents(rows: list[dict], config: GenerationConfig, rng: random.Random) -> Plan:
    return (_plan_passages if config.answers == "passage" else _plan_model_answers)(rows, config, rng)


def _plan_passages(rows: list[dict], config: GenerationConfig, rng: random.Random) -> Plan:
    """Each passage once, in a shuffled order; the model writes the question it answers, greedily,
    and stops at its question mark. A question without a content word of its passage is dropped
    (off_text: "What does the customer want?")."""
    items = [(row, chunk, passage) for row, chunk in _chunks(rows, config)
             for passage in passages(chunk, config.passage_words)]
    if not items:
        raise TuneloopError("the documents have no passage of 8 words or more to ask about")
    rng.shuffle(items)

    def finish(contexts, replies, result, seen, ask, wave_no):
        pairs = []
        for (row, chunk, passage), reply in zip(contexts, replies):
            found = _questions(reply, 1, result)
            if not found:
                continue
            if not set(words(found[0])) & set(words(passage)):
                result.dropped["off_text"] += 1
                continue
            if _accept_question(found[0], seen, result):
                pairs.append(make_pair(found[0], passage, origin="generated", topic=config.topic,
                                       source_id=row["source_id"], raw_log_id=row["raw_log_id"],
                                       lineage={"chunk": chunk, "answer": "passage", **row["lineage"]}))
        return pairs
    return Plan(((item, passage_messages(item[2], config.topic)) for item in items), 0.8,
                {"max_new_tokens": min(config.max_new_tokens, 48), "temperature": 0.0, "stop": ("?", 1)}, finish)


def _plan_model_answers(rows: list[dict], config: GenerationConfig, rng: random.Random) -> Plan:
    """Questions from each chunk, round after round (a new shuffle each), then the model's answers
    from the chunk."""
    chunks = _chunks(rows, config)

    def asks():
        for _ in range(config.max_rounds):
            order = chunks[:]
            rng.shuffle(order)
            yield from (((row, chunk), question_messages(chunk, config.topic, config.questions_per_chunk))
                        for row, chunk in order)

    def finish(contexts, replies, result, seen, ask, wave_no):
        asks = [(row, q, chunk) for (row, chunk), reply in zip(contexts, replies)
                for q in _questions(reply, config.questions_per_chunk, result) if _accept_question(q, seen, result)]
        return _answer_all(ask, asks, config, result, wave_no) if asks else []
    return Plan(asks(), 0.1, _list_decoding(config, config.temperature), finish)


def _exchange_text(row: dict) -> str:
    payload = row["payload"]
    if row["kind"] == "qa":
        return f"Customer: {payload['instruction']}\nAgent: {payload['response']}"
    return "\n".join(f"{'Customer' if t['role'] == 'user' else 'Agent'}: {t['content']}"
                     for t in payload["turns"] if t["role"] in ("user", "assistant"))


def _plan_raw(rows: list[dict], config: GenerationConfig, rng: random.Random) -> Plan:
    """One rewrite per raw log, greedily (a second pass would only repeat it)."""
    order = rows[:]
    rng.shuffle(order)

    def finish(contexts, replies, result, seen, ask, wave_no):
        pairs = []
        for row, reply in zip(contexts, replies):
            parsed = parse_rewrite(reply)
            if parsed is None:
                result.dropped["unparseable" if reply.strip() else "empty"] += 1
                continue
            question, answer = parsed
            reason = drop_reason(answer, PROMPT_PHRASES)
            if reason:
                result.dropped[reason] += 1
                continue
            if _accept_question(question, seen, result):
                pairs.append(make_pair(question, answer, origin="generated", topic=config.topic,
                                       source_id=row["source_id"], raw_log_id=row["id"],
                                       lineage={"rewritten_from": row["kind"]}))
        return pairs
    return Plan(((row, rewrite_messages(_exchange_text(row), config.topic)) for row in order), 0.9,
                {"max_new_tokens": config.max_new_tokens, "temperature": 0.0}, finish)


def _plan_pairs(rows: list[dict], config: GenerationConfig, rng: random.Random) -> Plan:
    """Self-instruct: three existing questions shown, new ones asked for, then answered."""
    def asks():
        for _ in range(config.max_rounds):
            for _ in range(max(len(rows), config.batch_size)):
                examples = [rng.choice(rows) for _ in range(3)]
                yield examples, self_instruct_messages([e["instruction"] for e in examples], config.topic,
                                                       config.questions_per_chunk)

    def finish(contexts, replies, result, seen, ask, wave_no):
        asks = [({"raw_log_id": None, "source_id": None, "lineage": {"examples": [e["id"] for e in examples]}}, q, None)
                for examples, reply in zip(contexts, replies)
                for q in _questions(reply, config.questions_per_chunk, result) if _accept_question(q, seen, result)]
        return _answer_all(ask, asks, config, result, wave_no) if asks else []
    return Plan(asks(), 0.5, _list_decoding(config, config.temperature), finish)


PLANS = {"documents": _plan_documents, "raw": _plan_raw, "pairs": _plan_pairs}


# --------------------------------------------------------------------------- the store, after
def progress_text(result: GenerationResult, wanted: int) -> str:
    """Honest progress: pairs kept of those wanted, prompts answered of those planned so far (a wave
    is planned from the yield seen; more come while pairs are missing), the rates, and the time left
    at this rate once a pair has been kept."""
    kept = len(result.pairs)
    per_s, per_min = result.rates()
    text = (f"{kept} of {wanted} pairs kept · {result.prompts} of {result.planned} prompts planned · {per_s:.2f} prompts/s"
            f" · {per_min:.1f} pairs/min · {result.seconds:.0f} s")
    if kept:
        text += f" · about {result.seconds / kept * (wanted - kept):.0f} s left"
    return text


def generate(store: Store, backend: Backend, config: GenerationConfig, *, source_ids: list[int] | None = None,
             write: bool = True, show_progress: bool = False,
             on_progress: Callable[[str, float], None] | None = None) -> GenerationResult:
    """Generate pairs as a job; store them unless write=False (a preview to accept later).
    on_progress(text, share done) after each batch of prompts (progress_text's words)."""
    inputs = load_inputs(store, config, source_ids)
    with store.job("pairs.generate", {**asdict(config), **backend.description, "write": write}) as job:
        def progress(result: GenerationResult) -> None:
            text, share = progress_text(result, config.n), len(result.pairs) / max(config.n, 1)
            job.heartbeat(share, text)
            if on_progress:
                on_progress(text, share)
        result = generate_pairs(backend, inputs, config, on_progress=progress, show_progress=show_progress)
        if write:
            accept(store, result.pairs)
    return result


def accept(store: Store, pairs: list[dict], keep: list[bool] | None = None) -> int:
    """Store previewed pairs (those kept, and not already present). Returns how many were new."""
    return insert_pairs(store, kept(pairs, keep))


def kept(pairs: list[dict], keep: list[bool] | None) -> list[dict]:
    """The pairs a reviewer kept in the preview (all when no choice was made)."""
    if keep is None:
        return list(pairs)
    if len(keep) != len(pairs):
        raise TuneloopError("the preview changed; generate again")
    return [p for p, k in zip(pairs, keep) if k]


def preview_frame(pairs: list[dict]):
    """The preview table: keep?, question, answer, where it came from."""
    import pandas as pd

    return pd.DataFrame({
        "keep": [True] * len(pairs),
        "instruction": [p["instruction"] for p in pairs],
        "response": [p["response"] for p in pairs],
        "from": [(p["lineage"] or {}).get("document") or (p["lineage"] or {}).get("rewritten_from") or "examples"
                 for p in pairs],
    })
