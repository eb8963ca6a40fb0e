import json

import pytest

from curate.errors import TuneloopError
from curate.ingest.importer import ingest
from curate.lm.backends import LocalBackend, OpenAIBackend
from curate.pairs.extract import extract
from curate.pairs.generate import GenerationConfig, generate, kept, wave_size
from curate.pairs.prompts import chunk_text, clean_answer, drop_reason, parse_questions, passages

from conftest import shared

MANUAL = "\n\n".join(
    f"## Part {i}\n\nThe Lumo lamp feature number {i} works like this: you hold the touch strip and the light"
    f" changes to setting {i}. It stays there until you tap it again or the schedule runs." for i in range(6))


def test_questions_are_parsed_from_numbered_bulleted_and_quoted_lines():
    reply = ('1. How do I reset it?\n- What is Focus mode? Why blue?\nFor example: "Can I mount it?"\nNot a question.\n'
             "A customer might ask: What is in the box?\n### Question 2: How bright is it?\n"
             'What does "Focus mode" mean?')
    assert parse_questions(reply) == ["How do I reset it?", "What is Focus mode?", "Why blue?", "Can I mount it?",
                                      "What is in the box?", "How bright is it?", 'What does "Focus mode" mean?']


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


def test_passages_are_whole_sentences_within_a_paragraph():
    chunk = ("One two three four five six seven eight. Nine ten eleven twelve thirteen fourteen fifteen sixteen.\n\n"
             "Short one.\n\nA lone paragraph of exactly eight words here.")
    assert passages(chunk, max_words=10) == ["One two three four five six seven eight.",
                                             "Nine ten eleven twelve thirteen fourteen fifteen sixteen.",
                                             "A lone paragraph of exactly eight words here."]
    assert passages(chunk, max_words=60)[0].count(".") == 2   # sentences joined up to the limit


def test_a_wave_asks_for_what_is_missing_at_the_yield_seen():
    assert wave_size(need=20, kept=0, asked=0, guess=0.8, batch_size=32) == 25          # 20 / 0.8
    assert wave_size(need=2, kept=0, asked=40, guess=0.1, batch_size=32) == 100        # 1 pair per 50 asked
    assert wave_size(need=500, kept=0, asked=0, guess=0.1, batch_size=32) == 128       # at most four batches
    assert wave_size(need=1, kept=30, asked=30, guess=0.8, batch_size=32) == 2         # just under 1 a prompt


def test_passage_answers_are_the_documents_words_with_the_models_questions(store, write, openai_stub):
    ingest(store, [write("manual.md", MANUAL)], topic="Lumo")
    seen = []
    result = generate(store, OpenAIBackend.from_env(), GenerationConfig(topic="Lumo", n=5, seed=3),
                      on_progress=lambda text, share: seen.append(text))
    rows = store.rows("SELECT instruction, response, lineage FROM pairs ORDER BY id")
    assert len(rows) == 5 and result.prompts <= 6   # one prompt a pair (a passage a part: 6)
    for row in rows:
        lineage = json.loads(row["lineage"])
        assert lineage["answer"] == "passage" and row["response"] in " ".join(lineage["chunk"].split())
        assert row["instruction"].endswith("?") and "Lumo lamp feature number" in row["instruction"]
    assert len({r["response"] for r in rows}) == 5
    assert seen and f"of {result.planned} prompts planned" in seen[-1]


class _OffText:
    """Questions with none of the passage's words, then good ones."""
    description = {"backend": "scripted", "model": "scripted"}

    def chat(self, conversations, *, max_new_tokens=160, temperature=0.0, seed=0, stop=None):
        assert stop == ("?", 1) and max_new_tokens <= 48
        return ["What does the customer want?" if i % 2 else "Not a question at all" for i in range(len(conversations))]


def test_questions_without_a_word_of_their_passage_are_dropped(store, write):
    ingest(store, [write("manual.md", MANUAL)], topic="Lumo")
    result = generate(store, _OffText(), GenerationConfig(topic="Lumo", n=3), write=False)
    assert result.pairs == [] and result.dropped["off_text"] == 3 and result.dropped["unparseable"] == 3
    assert result.prompts == result.planned == 6   # every passage asked once, then it stops


def test_a_question_list_stops_at_its_kth_question_mark():
    import torch

    from curate.lm.decoding import stop_after
    from curate.lm.load import load_tokenizer

    tokenizer, _ = load_tokenizer(None)
    prompt = tokenizer(["Is the lamp on? Text: a lamp."], return_tensors="pt")["input_ids"][0]   # its '?' is not counted
    rows = ["1. How do I reset it?\n2. Why", "1. How? 2. Why? 3. When?", "Nothing asked yet"]
    new = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in rows]
    longest = max(len(n) for n in new)   # a finished row is padded on the right while the others go on
    batch = torch.stack([torch.cat([prompt, torch.tensor(n + [tokenizer.pad_token_id] * (longest - len(n)))])
                         for n in new])
    done = stop_after(tokenizer, "?", 2, width=len(prompt))[0](batch, None)
    assert done.tolist() == [False, True, False]


def test_generation_through_an_openai_compatible_server(store, write, openai_stub):
    ingest(store, [write("manual.md", MANUAL)], topic="Lumo")
    backend = OpenAIBackend.from_env()
    seen = []
    result = generate(store, backend, GenerationConfig(topic="Lumo", n=5, seed=3, answers="model"),
                      on_progress=lambda text, share: seen.append((text, share)))
    assert len(result.pairs) == 5
    # progress counts prompts answered of those planned, not only pairs kept, with the rates and the time left
    assert seen[-1][1] == 1.0 and seen[-1][0].startswith("5 of 5 pairs kept")
    assert f"{result.prompts} of {result.planned} prompts planned" in seen[-1][0] and "s left" in seen[-1][0]
    assert "prompts/s" in seen[-1][0] and "pairs/min" in seen[-1][0] and "kept pairs/min" in result.summary()
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
    result = generate(store, backend, GenerationConfig(topic="Lamini", n=2, seed=0, max_new_tokens=96, max_rounds=1,
                                                       answers="model"))
    chunks = store.scalar("SELECT count(*) FROM raw_logs")
    assert result.prompts > chunks   # the question prompts, then answers to the questions parsed
    assert len(result.pairs) + sum(result.dropped.values()) > 0 and set(result.dropped) <= {
        "not_grounded", "unparseable", "small_talk", "duplicate", "too_short", "empty", "copied_prompt"}
    for pair in store.rows("SELECT instruction, response, lineage FROM pairs WHERE origin = 'generated'"):
        lineage = json.loads(pair["lineage"])
        assert lineage["backend"] == "local" and "SmolLM2" in lineage["model"]
        from curate.pairs.prompts import answer_messages
        [again] = backend.chat([answer_messages(lineage["chunk"], pair["instruction"], "Lamini")], max_new_tokens=96)
        assert clean_answer(again) == pair["response"]


@pytest.mark.slow
def test_real_packaged_model_writes_one_question_per_passage_and_stops_at_it(store, write, monkeypatch):
    """SmolLM2-135M offline, passage answers from real lamini_docs text: every reply stops at its
    question mark (not the token limit), and every kept pair's answer is a passage of its chunk."""
    from curate.pairs.prompts import passage_messages

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    docs = [json.loads(line) for line in shared("lamini_docs", "lamini_docs.jsonl").read_text().splitlines()[:60]]
    text = "\n\n".join(d["answer"] for d in docs if len(d["answer"].split()) > 20)
    ingest(store, [write("lamini_notes.md", "# Lamini notes\n\n" + " ".join(text.split()[:420]))], topic="Lamini")
    backend = LocalBackend.load(batch_size=8)
    result = generate(store, backend, GenerationConfig(topic="Lamini", n=4, seed=0))
    assert len(result.pairs) >= 2 and result.prompts <= 3 * len(result.pairs)   # most passages give a pair
    for pair in result.pairs:
        assert pair["response"] in " ".join(pair["lineage"]["chunk"].split()) and pair["instruction"].endswith("?")
    replies = backend.chat([passage_messages(p["response"], "Lamini") for p in result.pairs], max_new_tokens=48,
                           temperature=0.0, stop=("?", 1))
    assert all(r.count("?") == 1 and r.rstrip(' "\n').endswith("?") for r in replies)


class _Scripted:
    """A backend whose answers are scripted: the chunk's own words for some questions, words of
    its own for the others."""
    description = {"backend": "scripted", "model": "scripted"}
    asked = 0

    def chat(self, conversations, *, max_new_tokens=160, temperature=0.0, seed=0, stop=None):
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
    result = generate(store, _Scripted(), GenerationConfig(topic="Lamini", n=4, seed=0, answers="model"))
    assert result.dropped["not_grounded"] >= 2 and "not_grounded" in result.summary()
    stored = store.rows("SELECT response FROM pairs WHERE origin = 'generated'")
    assert stored and not any("Bananas" in r["response"] for r in stored)
