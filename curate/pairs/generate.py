"""Generate instruction–response pairs with an LLM (Alpaca / self-instruct style).

Sources:
- documents: split into chunks; ask for questions a chunk answers, then for answers grounded in it;
- raw: rewrite a raw log (a Q&A record or a conversation) into one clean pair;
- pairs: self-instruct: show a few existing questions, ask for new ones, then answer them.

The steps are pure functions over batches (prompts in, parsed pairs out); the store is read
before (`load_inputs`) and written after (`insert_pairs`). Every output that is dropped is counted
under a reason: empty, unparseable, too_short, copied_prompt, small_talk, duplicate.
"""
from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from tqdm.auto import tqdm

from curate.errors import TuneloopError
from curate.lm.backends import Backend
from curate.lm.decoding import BATCH_SIZE
from curate.pairs.grounding import GROUNDED, support
from curate.pairs.rows import insert_pairs, make_pair
from curate.pairs.status import active
from curate.store import Store

SOURCES = ("documents", "raw", "pairs")
MIN_WORDS = 3


@dataclass
class GenerationConfig:
    """What to generate and how. The resolved config is stored with the job."""
    source: str = "documents"       # documents | raw | pairs
    topic: str | None = None        # the domain, e.g. a product name
    n: int = 20                     # pairs wanted
    seed: int = 0
    questions_per_chunk: int = 3    # asked of each chunk; a small model often gives fewer
    chunk_words: int = 150          # ~200 tokens: fits a 2k-token context with the instructions
    max_new_tokens: int = 160       # an answer of a few sentences
    temperature: float = 0.7        # for questions (variety); answers are greedy (faithful)
    max_rounds: int = 8             # passes over the inputs before giving up on reaching n
    batch_size: int = BATCH_SIZE    # prompts a forward pass (curate.lm.generation explains the number)


@dataclass
class GenerationResult:
    pairs: list[dict] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    prompts: int = 0

    def summary(self) -> str:
        drops = ", ".join(f"{k} {v}" for k, v in self.dropped.most_common()) or "none"
        return f"{len(self.pairs)} pairs from {self.prompts} prompts; dropped: {drops}"


# --------------------------------------------------------------------------- text helpers
def text_key(text: str) -> str:
    """The text as compared for repeats: lower case, runs of punctuation and spaces as one space."""
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def chunk_text(text: str, max_words: int = 150) -> list[str]:
    """Paragraphs packed into chunks of at most max_words (a longer paragraph is cut at sentences)."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph.split()) <= max_words:
            pieces.append(paragraph)
        else:
            pieces += re.split(r"(?<=[.!?])\s+", paragraph)
    chunks, current = [], []
    for piece in pieces:
        if current and len(" ".join(current + [piece]).split()) > max_words:
            chunks.append("\n\n".join(current))
            current = []
        current.append(piece)
    if current:
        chunks.append("\n\n".join(current))
    return [c for c in chunks if len(c.split()) >= 8]


_ENUM = re.compile(r"^\s*(?:#+\s*|[-*•]\s*|\(?\d+[.):]\s*|(?:q|question)\s*#?\d*\s*[.:]\s*)+", re.I)
# "For example: "How do I…?"", "A customer might ask "…?"": keep what stands inside the quotes
_LEAD_IN = re.compile(r"^[^\"“]{0,60}[:]?\s*[\"“]")
# "A customer might ask: …?", "One question: …?", "Example: …?"
_LABEL = re.compile(r"^(?:\w+\W+){0,5}?(?:ask|asks|question|example)\s*:\s*", re.I)


def parse_questions(text: str) -> list[str]:
    """Questions out of a reply: one a line, numbered or bulleted, several on a line split at '?'."""
    found = []
    for line in text.splitlines():
        for part in re.findall(r"[^?]*\?", line):
            part = _ENUM.sub("", part.strip())
            if '"' in part or "“" in part:
                part = _LEAD_IN.sub("", part)
            part = _LABEL.sub("", _ENUM.sub("", part)).strip(" \"“”'*")
            if part:
                found.append(part)
    return found


def clean_answer(text: str) -> str:
    """The reply without a leading 'Answer:' and without a last sentence cut off mid-way."""
    text = re.sub(r"^\s*(?:a|answer)\s*:\s*", "", text.strip(), flags=re.I).strip()
    if text and text[-1] not in ".!?)\"'" and re.search(r"[.!?]\s", text):
        text = text[: max(text.rfind(". "), text.rfind("! "), text.rfind("? ")) + 1]
    return text.strip()


# An assistant's small talk instead of content: "How can I help you today?", "Please go ahead and ask".
_SMALL_TALK = re.compile(r"\b(go ahead and ask|how can i (help|assist)|ready to (help|assist)|happy to (help|assist)"
                         r"|what can i do for you|ask your question)\b", re.I)


def drop_reason(text: str, prompt_phrases: tuple[str, ...] = ()) -> str | None:
    """Why a generated question or answer is not kept, or None."""
    if not text.strip():
        return "empty"
    if len(text.split()) < MIN_WORDS:
        return "too_short"
    lowered = text.lower()
    if any(p.lower() in lowered for p in prompt_phrases):
        return "copied_prompt"
    if _SMALL_TALK.search(text):
        return "small_talk"
    return None


# --------------------------------------------------------------------------- prompts
def _topic(topic: str | None) -> str:
    return topic or "the product"


QUESTION_ASK = "Write {k} different questions that a customer could ask and that this text answers."
ANSWER_ASK = "Answer the customer's question using only the text."
REWRITE_ASK = "Rewrite this support exchange as one clear customer question and a helpful answer."
SELF_INSTRUCT_ASK = "Write {k} new questions about {topic}, different from these. One question per line."


def question_messages(chunk: str, topic: str | None, k: int) -> list[dict]:
    return [{"role": "system", "content": f"You write questions that customers ask about {_topic(topic)}."},
            {"role": "user", "content": f"Text:\n{chunk}\n\n{QUESTION_ASK.format(k=k)} Write one question per line."}]


def answer_messages(chunk: str | None, question: str, topic: str | None) -> list[dict]:
    system = f"You are a helpful support agent for {_topic(topic)}. Answer briefly and accurately."
    if chunk:
        return [{"role": "system", "content": system},
                {"role": "user", "content": f"Text:\n{chunk}\n\n{ANSWER_ASK}\n\nQuestion: {question}"}]
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def rewrite_messages(exchange: str, topic: str | None) -> list[dict]:
    return [{"role": "system", "content": f"You edit support logs about {_topic(topic)}."},
            {"role": "user", "content": f"{exchange}\n\n{REWRITE_ASK} Use this format:\nQuestion: …\nAnswer: …"}]


def self_instruct_messages(examples: list[str], topic: str | None, k: int) -> list[dict]:
    shown = "\n".join(f"- {q}" for q in examples)
    return [{"role": "system", "content": f"You write questions that customers ask about {_topic(topic)}."},
            {"role": "user", "content": f"Questions customers asked:\n{shown}\n\n"
                                        + SELF_INSTRUCT_ASK.format(k=k, topic=_topic(topic))}]


_PROMPT_PHRASES = ("Write one question per line", "using only the text", "Use this format", "different from these")


def parse_rewrite(text: str) -> tuple[str, str] | None:
    match = re.search(r"question\s*:\s*(.+?)\s*answer\s*:\s*(.+)", text, flags=re.I | re.S)
    if not match:
        return None
    return match.group(1).strip(), clean_answer(match.group(2))


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
def generate_pairs(backend: Backend, inputs: dict, config: GenerationConfig,
                   on_progress: Callable[[int, int, int], None] | None = None, show_progress: bool = False
                   ) -> GenerationResult:
    """Up to config.n new pairs from the inputs, with lineage; nothing is written. After each batch
    of prompts, on_progress(pairs kept, pairs wanted, prompts answered)."""
    rng = random.Random(config.seed)
    result = GenerationResult()
    seen = set(inputs["known_questions"])
    step = {"documents": _round_documents, "raw": _round_raw, "pairs": _round_pairs}[config.source]
    bar = tqdm(total=config.n, desc="generate", unit="pair", disable=not show_progress)
    work = step(inputs["rows"], config, rng)
    for round_no in range(config.max_rounds):
        for batch in work(round_no):
            for pair in batch(backend, result, seen):
                if len(result.pairs) >= config.n:
                    break
                pair["lineage"] = {**(pair["lineage"] or {}), **backend.description, "seed": config.seed,
                                   "source": config.source}
                result.pairs.append(pair)
                bar.update(1)
            if on_progress:
                on_progress(len(result.pairs), config.n, result.prompts)
            if len(result.pairs) >= config.n:
                bar.close()
                return result
    bar.close()
    return result


def _accept_question(question: str, seen: set, result: GenerationResult) -> bool:
    reason = drop_reason(question, _PROMPT_PHRASES)
    if reason is None and text_key(question) in seen:
        reason = "duplicate"
    if reason:
        result.dropped[reason] += 1
        return False
    seen.add(text_key(question))
    return True


def _answer_all(backend: Backend, asks: list[tuple[dict, str, str | None]], config: GenerationConfig,
                result: GenerationResult, origin: str = "generated") -> list[dict]:
    """Answer (row, question, chunk) triples in one batch; keep the answers that pass the checks."""
    replies = backend.chat([answer_messages(chunk, q, config.topic) for _, q, chunk in asks],
                           max_new_tokens=config.max_new_tokens, temperature=0.0, seed=config.seed)
    result.prompts += len(asks)
    pairs = []
    for (row, question, chunk), reply in zip(asks, replies):
        answer = clean_answer(reply)
        reason = drop_reason(answer, _PROMPT_PHRASES)
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


def _round_documents(rows: list[dict], config: GenerationConfig, rng: random.Random):
    chunks = [({"raw_log_id": row["id"], "source_id": row["source_id"],
                "lineage": {"chunk_index": i, "document": row["payload"].get("title")}}, c)
              for row in rows for i, c in enumerate(chunk_text(row["payload"]["text"], config.chunk_words))]
    if not chunks:
        raise TuneloopError("the documents are too short to ask questions about")
    batch_size = config.batch_size

    def rounds(round_no: int):
        order = chunks[:]
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            part = order[start:start + batch_size]

            def batch(backend, result, seen, part=part, round_no=round_no, start=start):
                replies = backend.chat([question_messages(c, config.topic, config.questions_per_chunk) for _, c in part],
                                       max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                       seed=config.seed + 1000 * round_no + start)
                result.prompts += len(part)
                asks = []
                for (row, chunk), reply in zip(part, replies):
                    questions = parse_questions(reply)
                    if not questions:
                        result.dropped["unparseable" if reply.strip() else "empty"] += 1
                    for q in questions[: config.questions_per_chunk]:
                        if _accept_question(q, seen, result):
                            asks.append((row, q, chunk))
                return _answer_all(backend, asks, config, result) if asks else []
            yield batch
    return rounds


def _exchange_text(row: dict) -> str:
    payload = row["payload"]
    if row["kind"] == "qa":
        return f"Customer: {payload['instruction']}\nAgent: {payload['response']}"
    return "\n".join(f"{'Customer' if t['role'] == 'user' else 'Agent'}: {t['content']}"
                     for t in payload["turns"] if t["role"] in ("user", "assistant"))


def _round_raw(rows: list[dict], config: GenerationConfig, rng: random.Random):
    batch_size = config.batch_size

    def rounds(round_no: int):
        if round_no > 0:
            return  # one rewrite per raw log; a second pass would only repeat them
        order = rows[:]
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            part = order[start:start + batch_size]

            def batch(backend, result, seen, part=part):
                replies = backend.chat([rewrite_messages(_exchange_text(r), config.topic) for r in part],
                                       max_new_tokens=config.max_new_tokens, temperature=0.0, seed=config.seed)
                result.prompts += len(part)
                pairs = []
                for row, reply in zip(part, replies):
                    parsed = parse_rewrite(reply)
                    if parsed is None:
                        result.dropped["unparseable" if reply.strip() else "empty"] += 1
                        continue
                    question, answer = parsed
                    reason = drop_reason(answer, _PROMPT_PHRASES)
                    if reason:
                        result.dropped[reason] += 1
                        continue
                    if _accept_question(question, seen, result):
                        pairs.append(make_pair(question, answer, origin="generated", topic=config.topic,
                                               source_id=row["source_id"], raw_log_id=row["id"],
                                               lineage={"rewritten_from": row["kind"]}))
                return pairs
            yield batch
    return rounds


def _round_pairs(rows: list[dict], config: GenerationConfig, rng: random.Random):
    batch_size = config.batch_size

    def rounds(round_no: int):
        for start in range(0, max(len(rows), batch_size), batch_size):
            examples = [[rng.choice(rows) for _ in range(3)] for _ in range(batch_size)]

            def batch(backend, result, seen, examples=examples, start=start, round_no=round_no):
                replies = backend.chat(
                    [self_instruct_messages([e["instruction"] for e in ex], config.topic, config.questions_per_chunk)
                     for ex in examples],
                    max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                    seed=config.seed + 1000 * round_no + start)
                result.prompts += len(examples)
                asks = []
                for ex, reply in zip(examples, replies):
                    questions = parse_questions(reply)
                    if not questions:
                        result.dropped["unparseable" if reply.strip() else "empty"] += 1
                    for q in questions[: config.questions_per_chunk]:
                        if _accept_question(q, seen, result):
                            asks.append(({"raw_log_id": None, "source_id": None,
                                          "lineage": {"examples": [e["id"] for e in ex]}}, q, None))
                return _answer_all(backend, asks, config, result) if asks else []
            yield batch
    return rounds


# --------------------------------------------------------------------------- the store, after
def progress_text(kept: int, wanted: int, prompts: int, seconds: float) -> str:
    """Honest progress: pairs kept of those wanted, prompts answered, and the time left at this rate
    (once a pair has been kept; many prompts give none: their questions repeat or fail the checks)."""
    text = f"{kept} of {wanted} pairs kept · {prompts} prompts answered · {seconds:.0f} s"
    if kept:
        text += f" · about {seconds / kept * (wanted - kept):.0f} s left"
    return text


def generate(store: Store, backend: Backend, config: GenerationConfig, *, source_ids: list[int] | None = None,
             write: bool = True, show_progress: bool = False,
             on_progress: Callable[[str, float], None] | None = None) -> GenerationResult:
    """Generate pairs as a job; store them unless write=False (a preview to accept later).
    on_progress(text, share done) after each batch of prompts (progress_text's words)."""
    inputs = load_inputs(store, config, source_ids)
    started = time.monotonic()
    with store.job("pairs.generate", {**asdict(config), **backend.description, "write": write}) as job:
        def progress(kept: int, wanted: int, prompts: int) -> None:
            text = progress_text(kept, wanted, prompts, time.monotonic() - started)
            job.heartbeat(kept / max(wanted, 1), text)
            if on_progress:
                on_progress(text, kept / max(wanted, 1))
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
