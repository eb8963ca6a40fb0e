import json

import pytest

from curate.errors import TuneloopError
from curate.ingest.importer import ingest
from curate.lm.backends import LocalBackend, OpenAIBackend
from curate.pairs.extract import extract
from curate.pairs.generate import GenerationConfig, chunk_text, clean_answer, drop_reason, generate, kept, parse_questions

from conftest import shared

MANUAL = "\n\n".join(
    f"## Part {i}\n\nThe Lumo lamp feature number {i} works like this: you hold the touch strip and the light"
    f" changes to setting {i}. It stays there until you tap it again or the schedule runs." for i in range(6))


def test_questions_are_parsed_from_numbered_bulleted_and_quoted_lines():
    reply = ('1. How do I reset it?\n- What is Focus mode? Why blue?\nFor example: "Can I mount it?"\nNot a question.\n'
             "A customer might ask: What is in the box?\n### Question 2: How bright is it?")
    assert parse_questions(reply) == ["How do I reset it?", "What is Focus mode?", "Why blue?", "Can I mount it?",
                                      "What is in the box?", "How bright is it?"]


def test_answers_lose_their_label_and_a_cut_off_last_sentence():
    assert clean_answer("Answer: Hold it. Then wait for the blue li") == "Hold it."
    assert clean_answer("It is 800 lumens.") == "It is 800 lumens."


@pytest.mark.parametrize("text,reason", [("", "empty"), ("Yes.", "too_short"),
                                         ("Write one question per line please", "copied_prompt"),
                                         ("I'm ready to assist you. Please go ahead and ask your question.", "small_talk"),
                                         ("Hold the strip for twenty seconds.", None)])
def test_drop_reasons(text, reason):
    assert drop_reason(text, ("Write one question per line",)) == reason


def test_documents_are_chunked_by_paragraph():
    chunks = chunk_text(MANUAL, max_words=60)
    assert len(chunks) >= 3 and all(len(c.split()) <= 60 for c in chunks)
    assert chunk_text("too short") == []


def test_generation_through_an_openai_compatible_server(store, write, openai_stub):
    ingest(store, [write("manual.md", MANUAL)], topic="Lumo")
    backend = OpenAIBackend.from_env()
    seen = []
    result = generate(store, backend, GenerationConfig(topic="Lumo", n=5, seed=3),
                      on_progress=lambda text, share: seen.append((text, share)))
    assert len(result.pairs) == 5
    # progress counts prompts answered too, not only pairs kept, and estimates the time left
    assert seen[-1][1] == 1.0 and seen[-1][0].startswith("5 of 5 pairs kept")
    assert f"{result.prompts} prompts answered" in seen[-1][0] and "s left" in seen[-1][0]
    rows = store.rows("SELECT * FROM pairs ORDER BY id")
    assert len(rows) == 5 and all(r["origin"] == "generated" and r["topic"] == "Lumo" for r in rows)
    lineage = json.loads(rows[0]["lineage"])
    assert lineage["backend"] == "openai" and lineage["model"] == "stub-model" and lineage["seed"] == 3
    assert "feature number" in lineage["chunk"]
    assert rows[0]["raw_log_id"] == store.scalar("SELECT id FROM raw_logs WHERE id = ?", [rows[0]["raw_log_id"]])
    assert openai_stub.requests[0]["auth"] == "Bearer test-key"
    assert rows[0]["response"].startswith("From the text: ")   # the server's text, label removed
    job = store.one("SELECT kind, state, args FROM jobs WHERE kind = 'pairs.generate'")
    assert job["state"] == "succeeded" and json.loads(job["args"])["n"] == 5


def test_pairs_already_in_the_store_are_skipped(store, write, openai_stub):
    ingest(store, [write("manual.md", MANUAL)], topic="Lumo")
    first = generate(store, OpenAIBackend.from_env(), GenerationConfig(topic="Lumo", n=4, seed=1))
    again = generate(store, OpenAIBackend.from_env(), GenerationConfig(topic="Lumo", n=4, seed=1), write=False)
    assert {p["instruction"] for p in first.pairs}.isdisjoint({p["instruction"] for p in again.pairs})
    assert again.dropped["duplicate"] >= 4


def test_rewrite_raw_logs_and_self_instruct(store, write, openai_stub):
    ingest(store, [write("faq.jsonl", "".join(json.dumps({"question": f"how reset lamp {i}", "answer": "hold"}) + "\n"
                                               for i in range(4)))])
    result = generate(store, OpenAIBackend.from_env(), GenerationConfig(source="raw", topic="Lumo", n=3))
    assert len(result.pairs) == 3 and all(p["raw_log_id"] for p in result.pairs)
    extract(store)
    result = generate(store, OpenAIBackend.from_env(), GenerationConfig(source="pairs", topic="Lumo", n=3))
    assert len(result.pairs) == 3 and all(p["lineage"]["examples"] for p in result.pairs)


def test_a_preview_is_stored_only_when_accepted(store, write, openai_stub):
    from curate.pairs.generate import accept

    ingest(store, [write("manual.md", MANUAL)])
    result = generate(store, OpenAIBackend.from_env(), GenerationConfig(n=3), write=False)
    assert store.scalar("SELECT count(*) FROM pairs") == 0
    assert accept(store, result.pairs, [True, False, True]) == 2
    with pytest.raises(TuneloopError, match="preview changed"):
        kept(result.pairs, [True])


def test_no_documents_is_a_clear_error(store, openai_stub):
    with pytest.raises(TuneloopError, match="no documents imported"):
        generate(store, OpenAIBackend.from_env(), GenerationConfig())


def test_local_backend_with_a_tiny_model_is_deterministic_for_a_seed(tiny_model_dir):
    backend = LocalBackend.load(str(tiny_model_dir), batch_size=2)
    chats = [[{"role": "user", "content": f"Question {i}?"}] for i in range(3)]
    first = backend.chat(chats, max_new_tokens=8, temperature=0.8, seed=5)
    assert first == backend.chat(chats, max_new_tokens=8, temperature=0.8, seed=5)
    assert len(first) == 3 and all(isinstance(t, str) for t in first)
    # batched with left padding, a prompt gets the same greedy reply as alone
    alone = backend.chat(chats[:1], max_new_tokens=8)
    assert backend.chat(chats[:2], max_new_tokens=8)[0] == alone[0]


def test_generation_with_a_tiny_model_counts_every_prompt(store, write, tiny_model_dir):
    ingest(store, [write("manual.md", MANUAL)])
    backend = LocalBackend.load(str(tiny_model_dir), batch_size=4)
    config = GenerationConfig(n=2, max_new_tokens=12, max_rounds=1)
    result = generate(store, backend, config, write=False)
    assert result.prompts >= len(chunk_text(MANUAL))
    assert len(result.pairs) + sum(result.dropped.values()) > 0  # random text is parsed and judged


@pytest.mark.slow
def test_real_packaged_model_generates_from_lamini_style_documents_and_judges_every_answer(store, write, monkeypatch):
    """SmolLM2-135M offline, one pass over three chunks of real lamini_docs text: questions asked and
    answered, every answer kept or dropped with its reason (a 135M model's answers mostly fail the
    grounding check: CI's CPU kept 5 of 366 once), and a kept answer reproduces exactly, greedily.
    Bounded work: on 2 CPU cores a prompt takes seconds, and how many answers pass differs by CPU."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    docs = [json.loads(line) for line in shared("lamini_docs", "lamini_docs.jsonl").read_text().splitlines()[:60]]
    text = "\n\n".join(d["answer"] for d in docs if len(d["answer"].split()) > 20)
    ingest(store, [write("lamini_notes.md", "# Lamini notes\n\n" + " ".join(text.split()[:420]))], topic="Lamini")
    backend = LocalBackend.load(batch_size=8)
    result = generate(store, backend, GenerationConfig(topic="Lamini", n=2, seed=0, max_new_tokens=96, max_rounds=1))
    chunks = store.scalar("SELECT count(*) FROM raw_logs")
    assert result.prompts > chunks   # the question prompts, then answers to the questions parsed
    assert len(result.pairs) + sum(result.dropped.values()) > 0 and set(result.dropped) <= {
        "not_grounded", "unparseable", "small_talk", "duplicate", "too_short", "empty", "copied_prompt"}
    for pair in store.rows("SELECT instruction, response, lineage FROM pairs WHERE origin = 'generated'"):
        lineage = json.loads(pair["lineage"])
        assert lineage["backend"] == "local" and "SmolLM2" in lineage["model"]
        from curate.pairs.generate import answer_messages
        [again] = backend.chat([answer_messages(lineage["chunk"], pair["instruction"], "Lamini")], max_new_tokens=96)
        assert clean_answer(again) == pair["response"]


class _Scripted:
    """A backend whose answers are scripted: the chunk's own words for some questions, words of
    its own for the others."""
    description = {"backend": "scripted", "model": "scripted"}
    asked = 0

    def chat(self, conversations, *, max_new_tokens=160, temperature=0.0, seed=0):
        replies = []
        for messages in conversations:
            text = messages[-1]["content"]
            if "Write" in text and "questions" in text:
                self.asked += 1
                replies.append(f"1. What does the text say about part {self.asked}?\n"
                               f"2. How do I start with part {self.asked}?")
            elif "What does the text say" in text:   # grounded: the chunk's own words
                chunk = text.split("Text:\n", 1)[1].split("\n\n", 1)[0]
                replies.append(" ".join(chunk.split()[:30]) + ".")
            else:                                     # made up: nothing of the chunk
                replies.append("Bananas ripen faster beside apples because of ethylene gas in kitchens everywhere.")
        return replies


def test_generated_answers_their_chunk_does_not_support_are_dropped_and_counted(store, write):
    docs = [json.loads(line) for line in shared("lamini_docs", "lamini_docs.jsonl").read_text().splitlines()[:40]]
    text = "\n\n".join(d["answer"] for d in docs if len(d["answer"].split()) > 20)
    ingest(store, [write("lamini_notes.md", "# Lamini notes\n\n" + text)], topic="Lamini")
    result = generate(store, _Scripted(), GenerationConfig(topic="Lamini", n=4, seed=0))
    assert result.dropped["not_grounded"] >= 2 and "not_grounded" in result.summary()
    stored = store.rows("SELECT response FROM pairs WHERE origin = 'generated'")
    assert stored and not any("Bananas" in r["response"] for r in stored)
