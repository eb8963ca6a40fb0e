import json

from curate.ingest.importer import ingest
from curate.pairs.extract import extract, pairs_from_raw_logs
from curate.pairs.search import search

from conftest import shared


def test_qa_records_become_pairs_with_lineage(store, write):
    path = write("faq.jsonl", json.dumps({"question": "How do I reset it?", "answer": "Hold the button."}) + "\n")
    [report] = ingest(store, [path], topic="Gadget")
    extract(store)
    pair = store.one("SELECT * FROM pairs")
    raw = store.one("SELECT * FROM raw_logs")
    assert (pair["instruction"], pair["response"]) == ("How do I reset it?", "Hold the button.")
    assert pair["origin"] == "extracted" and pair["status"] == "new" and pair["topic"] == "Gadget"
    assert pair["raw_log_id"] == raw["id"] and pair["source_id"] == report.source_id


def test_extraction_is_idempotent(store, write):
    path = write("faq.jsonl", json.dumps({"question": "q", "answer": "a"}) + "\n")
    ingest(store, [path])
    assert extract(store).pairs_new == 1
    assert extract(store).pairs_new == 0
    assert extract(store, all_sources=True).pairs_existing == 1
    assert store.scalar("SELECT count(*) FROM pairs") == 1


def test_each_user_turn_and_its_answer_become_a_pair_with_earlier_turns_as_context():
    turns = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
             {"role": "user", "content": "my lamp blinks"}, {"role": "assistant", "content": "Which colour?"},
             {"role": "action", "content": "account pulled up"}, {"role": "user", "content": "Orange"},
             {"role": "assistant", "content": "It lost Wi-Fi."}]
    pairs = pairs_from_raw_logs([{"id": 7, "source_id": 1, "kind": "conversation", "payload": {"turns": turns}}])
    assert [(p["instruction"], p["response"]) for p in pairs] == [
        ("Hi\nmy lamp blinks", "Which colour?"), ("Orange", "It lost Wi-Fi.")]
    assert pairs[1]["context"] == [{"role": "user", "content": "Hi\nmy lamp blinks"},
                                   {"role": "assistant", "content": "Which colour?"}]
    assert all(p["system"] == "Be kind." and p["raw_log_id"] == 7 for p in pairs)


def test_twcs_tweets_are_rebuilt_into_threads(store):
    ingest(store, [shared("twcs_customer_support", "twcs.csv")])
    report = extract(store)
    assert report.pairs_new > 1000
    # tweet 3 (customer) was answered by tweet 1 (sprintcare), after the exchange 8 → 6 → 5 → 4
    pair = store.one("SELECT * FROM pairs WHERE instruction LIKE 'I have sent several private messages%'")
    assert pair["response"].startswith("I understand. I would like to assist you.")
    context = json.loads(pair["context"])
    assert context[0] == {"role": "user", "content": "is the worst customer service"}
    assert [t["role"] for t in context] == ["user", "assistant", "user", "assistant"]
    lineage = json.loads(pair["lineage"])
    question = store.one("SELECT payload FROM raw_logs WHERE id = ?", [lineage["question_raw_log_id"]])
    assert json.loads(question["payload"])["message_id"] == "3"
    assert not pair["instruction"].startswith("@")  # reply handles are stripped


def test_search_filters_and_paginates_in_sql(store, write):
    rows = [json.dumps({"question": f"question {i} {'lamp' if i % 2 else 'desk'}", "answer": f"a{i}"}) for i in range(25)]
    ingest(store, [write("faq.jsonl", "\n".join(rows) + "\n")])
    extract(store)
    frame, total = search(store, text="lamp", page=2, page_size=5)
    assert total == 12 and len(frame) == 5
    assert all("lamp" in q for q in frame["instruction"])
    frame, total = search(store, text="100%", page=1)
    assert total == 0
    assert search(store, text="LAMP")[1] == 12            # case does not matter
    assert search(store, text="question 1_")[1] == 0      # % and _ are themselves, not wildcards
    assert search(store, text="question 1")[1] == 11      # 1 and 10–19
    _, total = search(store, origin="extracted", status="new")
    assert total == 25


def test_search_ids_are_every_match_not_one_page(store, write):
    from curate.pairs.search import search_ids

    path = write("many.jsonl", "".join(json.dumps({"question": f"Lamp question {i}?", "answer": f"Answer {i}."}) + "\n"
                                       for i in range(120)))
    ingest(store, [path])
    extract(store)
    frame, total = search(store, "lamp", page_size=50)
    ids = search_ids(store, "lamp")
    assert len(frame) == 50 and len(ids) == total == 120 and ids == sorted(ids)
