"""Each import format on the real public files under ../shared/data."""
import json

import pytest

from curate.ingest.importer import ingest

from conftest import shared

REAL_FILES = [
    # (folder, file, format, records in the file)
    ("lamini_docs", "lamini_docs.jsonl", "jsonl", 933),
    ("alpaca", "alpaca_small.json", "json", 1333),
    ("lima", "lima.json", "json", 686),
    ("bitext_customer_support", "Bitext_Sample_Customer_Support_Training_Dataset.csv", "csv", 2944),
    ("twcs_customer_support", "twcs.csv", "csv", 3332),
    ("covid_faq", "faq_200327.tsv", "tsv", 597),
    ("abcd", "abcd_sample.json", "json", 3),
]


@pytest.mark.parametrize("folder,name,fmt,records", REAL_FILES, ids=[f[0] for f in REAL_FILES])
def test_every_record_is_stored_or_rejected_with_a_reason(store, folder, name, fmt, records):
    [report] = ingest(store, [shared(folder, name)])
    assert report.format == fmt
    assert report.rows_read == records
    assert report.rows_read == report.rows_stored + report.rows_duplicate + report.rows_rejected
    source = store.one("SELECT * FROM sources WHERE id = ?", [report.source_id])
    assert source["status"] == "complete"
    assert store.scalar("SELECT count(*) FROM raw_logs WHERE source_id = ?", [report.source_id]) == report.rows_stored
    rejects = store.rows("SELECT line, reason FROM rejects WHERE source_id = ?", [report.source_id])
    assert len(rejects) == report.rows_rejected
    assert all(r["reason"] and r["line"] for r in rejects)


def test_lamini_empty_records_are_rejected_with_their_line(store):
    [report] = ingest(store, [shared("lamini_docs", "lamini_docs.jsonl")])
    rejects = store.rows("SELECT line, reason, excerpt FROM rejects ORDER BY line")
    assert report.rows_rejected == len(rejects) > 0
    assert rejects[0]["line"] == 630  # {"question": "", "answer": ""}
    assert "missing or empty" in rejects[0]["reason"]
    first = json.loads(store.scalar("SELECT payload FROM raw_logs ORDER BY id LIMIT 1"))
    assert first["instruction"].startswith("How can I find the specific documentation")


def test_alpaca_keeps_instruction_input_and_output_apart(store):
    ingest(store, [shared("alpaca", "alpaca_small.json")])
    with_input = json.loads(store.scalar(
        "SELECT payload FROM raw_logs WHERE (payload->>'input') IS NOT NULL ORDER BY id LIMIT 1"))
    assert with_input["instruction"] and with_input["input"] and with_input["response"]


def test_lima_multi_turn_history_becomes_context(store):
    ingest(store, [shared("lima", "lima.json")])
    with_history = store.scalar("SELECT count(*) FROM raw_logs WHERE (payload->'context') IS NOT NULL")
    assert with_history > 0
    turns = json.loads(store.scalar("SELECT payload->'context' FROM raw_logs WHERE (payload->'context') IS NOT NULL LIMIT 1"))
    assert [t["role"] for t in turns[:2]] == ["user", "assistant"]


def test_twcs_rows_with_a_bare_carriage_return_are_kept(store):
    [report] = ingest(store, [shared("twcs_customer_support", "twcs.csv")])
    assert report.rows_rejected == 0
    tweet = json.loads(store.scalar("SELECT payload FROM raw_logs WHERE payload->>'message_id' = '3399'"))
    assert "\r\r" in tweet["text"] and tweet["role"] == "user"


def test_abcd_conversations_and_guideline_documents(store):
    reports = ingest(store, [shared("abcd")])
    assert {r.file for r in reports} == {"abcd_sample.json", "guidelines.json", "kb.json", "ontology.json"}
    assert store.scalar("SELECT count(*) FROM raw_logs WHERE kind = 'conversation'") == 3
    doc = json.loads(store.scalar("SELECT payload FROM raw_logs r JOIN sources s ON s.id = r.source_id"
                                  " WHERE s.name = 'guidelines.json'"))
    assert "Pull up Account" in doc["text"]


def test_a_folder_without_question_answer_fields_is_refused_with_the_reason(store):
    [report] = ingest(store, [shared("dedupe_covid_question_pairs")])
    assert report.status == "refused"
    assert "question_1" in report.error and "--map" in report.error
    assert store.one("SELECT file, line, reason FROM rejects")["reason"] == report.error


def test_mapping_names_the_columns(store):
    [report] = ingest(store, [shared("dedupe_covid_question_pairs")],
                      mapping={"instruction": "question_1", "response": "question_2"})
    assert report.rows_stored > 0


def test_every_shared_folder_stores_pairs_or_reports_its_rejects(store):
    from curate.pairs.extract import extract

    folders = [p for p in shared().iterdir() if p.is_dir() and p.name != "benchmarks"]
    reports = ingest(store, folders)
    for r in reports:
        assert r.status != "refused" or r.error
    extract(store)
    assert store.scalar("SELECT count(*) FROM pairs") > 7000
