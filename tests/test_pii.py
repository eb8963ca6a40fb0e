"""Personal data: found on real support text, redacted into new pair versions with lineage, purged
on request, and kept out of the store from the start with `ingest --redact`."""
import csv
import json

from curate import privacy as pii
from curate.datasets.build import DatasetConfig, build_dataset
from curate.privacy import check as pii_check
from curate.privacy import placeholders

from conftest import shared

EMAIL = "maria.garcia7@example.com"
CONVERSATION = {"messages": [
    {"role": "user", "content": f"My lamp won't pair. I'm {EMAIL}, phone +1 650-253-0000."},
    {"role": "assistant", "content": "Thanks! Which model is it?"},
    {"role": "user", "content": f"The Lumo Arc. Again, mail {EMAIL} please."},
    {"role": "assistant", "content": "We sent the reset steps to your address."},
]}


def _support_texts() -> list[str]:
    with open(shared("twcs_customer_support", "twcs.csv"), newline="", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    with open(shared("bitext_customer_support", "Bitext_Sample_Customer_Support_Training_Dataset.csv"),
              newline="", encoding="utf-8") as fh:
        texts += [row["instruction"] for _, row in zip(range(1500), csv.DictReader(fh))]
    return texts


def test_planted_personal_data_in_real_support_text_is_found():
    examples = pii_check.plant(_support_texts(), per_entity=15, clean=30, seed=1)
    result = pii_check.score(pii.Detector().find, examples)
    for entity in pii.PATTERN_ENTITIES:
        assert result[entity]["recall"] >= 0.9, (entity, result[entity])
    assert result["all"]["precision"] >= 0.9, result["all"]
    assert result["all"]["recall"] >= 0.95, result["all"]


def test_planted_values_are_valid_of_their_kind():
    import random

    import phonenumbers

    rng = random.Random(3)
    card = pii_check.make_value("CREDIT_CARD", rng).replace(" ", "").replace("-", "")
    assert pii_check._luhn_digit(card[:-1]) == card[-1]
    iban = pii_check.make_value("IBAN_CODE", rng).replace(" ", "")
    assert int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1
    assert phonenumbers.is_valid_number(phonenumbers.parse(pii_check.make_value("PHONE_NUMBER", rng), "US"))


def test_a_value_keeps_its_placeholder_through_a_conversation():
    detector = pii.Detector(["EMAIL_ADDRESS", "PHONE_NUMBER"])
    redacted = pii.redact_payload(CONVERSATION, detector)
    first, third = redacted["messages"][0]["content"], redacted["messages"][2]["content"]
    assert EMAIL not in first + third
    assert "<EMAIL_1>" in first and "<EMAIL_1>" in third and "<PHONE_1>" in first
    assert redacted["messages"][1]["role"] == "assistant"
    everything = pii.Detector()
    assert set(pii.PATTERN_ENTITIES) <= set(everything.active)
    assert ("PERSON" in everything.active) == (everything.model is not None)   # said, never silently missed
    assert everything.model is not None or "not PERSON, LOCATION" in everything.describe()


def test_unknown_entities_are_refused_by_name():
    import pytest

    from curate.errors import TuneloopError

    with pytest.raises(TuneloopError, match="SSN_NUMBER"):
        pii.Detector(["EMAIL_ADDRESS", "SSN_NUMBER"])


def test_scan_and_redact_twcs_with_lineage(cli, store):
    assert cli("ingest", str(shared("twcs_customer_support", "twcs.csv"))).exit_code == 0
    cli("pairs", "extract")
    pairs_before = store.scalar("SELECT count(*) FROM pairs")
    scanned = cli("pii", "scan", "--entities", "URL,PHONE_NUMBER,EMAIL_ADDRESS")
    assert scanned.exit_code == 0, scanned.output
    assert f"{pairs_before} pair(s) scanned" in scanned.output and "URL " in scanned.output
    counts = pii.counts_by_entity(store)
    assert counts["URL"] > 100
    with_pii = store.scalar("SELECT count(DISTINCT pair_id) FROM pii_findings")

    result = cli("pii", "redact")
    assert result.exit_code == 0, result.output
    assert f"{with_pii} pair(s) redacted" in result.output
    versions = store.rows("SELECT r.id, r.parent_id, r.lineage, r.response, r.instruction, o.status AS old_status"
                          " FROM pairs r JOIN pairs o ON o.id = r.parent_id WHERE r.origin = 'redacted'")
    assert len(versions) == with_pii
    assert {v["old_status"] for v in versions} == {"redacted"}
    assert all(json.loads(v["lineage"])["redacted_from"] == v["parent_id"] for v in versions)
    assert not any("https://t.co" in v["response"] + v["instruction"] for v in versions)
    assert any("<URL_1>" in v["response"] + v["instruction"] for v in versions)
    # the originals keep their text (until a purge) and are out of play; a second redact is a no-op
    assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'redacted' AND response LIKE '%https://t.co%'") > 0
    assert "0 pair(s) redacted" in cli("pii", "redact").output
    # a new scan finds nothing left in the pairs in play
    assert "0 with personal data" in cli("pii", "scan", "--entities", "URL,PHONE_NUMBER,EMAIL_ADDRESS").output


def test_purge_erases_the_original_text_everywhere(cli, store, dataset, tiny_model_dir, tmp_path):
    pair_id = store.scalar("SELECT min(id) FROM pairs")
    store.execute("UPDATE pairs SET response = response || ' Write to ' || ? WHERE id = ?", [EMAIL, pair_id])
    build_dataset(store, DatasetConfig("v2", model=str(tiny_model_dir),
                                       max_length=96, semantic_threshold=None), export_root=tmp_path / "ds2")
    assert store.scalar("SELECT count(*) FROM dataset_items WHERE response LIKE ?", [f"%{EMAIL}%"]) == 1
    raw_id = store.scalar("SELECT raw_log_id FROM pairs WHERE id = ?", [pair_id])
    store.execute("UPDATE raw_logs SET payload = json_merge_patch(payload, ?) WHERE id = ?",
                  [json.dumps({"note": EMAIL}), raw_id])

    assert cli("pii", "scan", "--entities", "EMAIL_ADDRESS").exit_code == 0
    result = cli("pii", "redact", "--purge", "--note", "erasure request 17")
    assert result.exit_code == 0, result.output
    for table, column in (("pairs", "response"), ("dataset_items", "response"), ("dataset_items", "completion"),
                          ("raw_logs", "payload")):
        assert store.scalar(f"SELECT count(*) FROM {table} WHERE {column}::VARCHAR LIKE ?", [f"%{EMAIL}%"]) == 0, table
    assert store.scalar("SELECT count(*) FROM dataset_items WHERE response LIKE '%<EMAIL_1>%'") == 1
    purge = store.one("SELECT * FROM pii_purges")
    assert purge["note"] == "erasure request 17" and purge["pairs"] == 1 and purge["raw_logs"] == 1
    assert purge["dataset_items"] == 1


def test_ingest_with_redact_never_stores_the_values(cli, store, write):
    path = write("chats.jsonl", json.dumps(CONVERSATION) + "\n")
    result = cli("ingest", "--redact", str(path))
    assert result.exit_code == 0, result.output
    payload = store.scalar("SELECT payload FROM raw_logs")
    assert EMAIL not in payload and "650-253-0000" not in payload
    assert "<EMAIL_1>" in payload and "<PHONE_1>" in payload
    assert json.loads(store.scalar("SELECT options FROM sources"))["redact"] is True


def test_a_redacting_import_resumes_without_redacting_again_what_it_stored(store, write, monkeypatch):
    import curate.ingest.importer as ingest_module
    from curate.ingest.importer import ingest

    lines = [json.dumps({"question": f"Question {i} from {EMAIL}?", "answer": f"Answer {i}."}) for i in range(30)]
    path = write("faq.jsonl", "\n".join(lines) + "\n")
    real_commit = ingest_module._commit_batch

    def stop_after_the_first(*args):
        real_commit(*args)
        raise OSError("disk full")
    monkeypatch.setattr(ingest_module, "_commit_batch", stop_after_the_first)
    [first] = ingest(store, [path], redact=True, batch_size=10)
    assert first.status == "failed" and store.scalar("SELECT count(*) FROM raw_logs") == 10
    monkeypatch.setattr(ingest_module, "_commit_batch", real_commit)
    redacted = []
    real_redact = placeholders.redact_payload
    monkeypatch.setattr(placeholders, "redact_payload",
                        lambda payload, *a, **k: redacted.append(payload) or real_redact(payload, *a, **k))
    [again] = ingest(store, [path], batch_size=10)
    records = [p for p in redacted if isinstance(p, dict) and "instruction" in p]   # (it also recurses into values)
    assert again.status == "resumed" and len(records) == 20   # only the records not stored before
    payloads = [r["payload"] for r in store.rows("SELECT payload FROM raw_logs ORDER BY id")]
    assert len(payloads) == 30 and not any(EMAIL in p for p in payloads) and "Question 29" in payloads[-1]


def test_the_app_shows_pairs_redacted_once_a_scan_ran(cli, store):
    cli("demo-data")
    pair = store.one("SELECT id, instruction, input, response, context, system FROM pairs ORDER BY id LIMIT 1")
    store.execute("UPDATE pairs SET instruction = instruction || ' ' || ? WHERE id = ?", [EMAIL, pair["id"]])
    pair = store.one("SELECT id, instruction, input, response, context, system FROM pairs WHERE id = ?", [pair["id"]])
    assert pii.as_displayed(store, pair) == pair   # no scan yet: shown as written
    cli("pii", "scan", "--entities", "EMAIL_ADDRESS")
    assert pii.display_redacted(store)
    assert "<EMAIL_1>" in pii.as_displayed(store, pair)["instruction"]
    assert cli("pii", "display", "original").exit_code == 0
    assert EMAIL in pii.as_displayed(store, pair)["instruction"]


def test_order_numbers_in_real_requests_survive_redaction_while_planted_phones_and_cards_do_not(store, write):
    """Real bitext requests carry order and purchase numbers ("check order 113542617735902 status");
    they are not phone or card numbers. Planted ones in the same requests still are."""
    import csv
    import random

    from curate.ingest.importer import ingest
    from curate.pairs.extract import extract
    from curate.privacy.identifiers import CONTEXT

    from conftest import shared

    path = shared("bitext_customer_support", "Bitext_Sample_Customer_Support_Training_Dataset.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        requests = [r for r in csv.DictReader(fh) if any(len(m.group("id")) >= 6 for m in CONTEXT.finditer(r["instruction"]))]
    rng = random.Random(0)
    rows, planted = [], []
    for i, r in enumerate(requests[:60]):
        question = r["instruction"]
        if i % 3 == 0:
            value = pii_check.make_value("PHONE_NUMBER" if i % 2 else "CREDIT_CARD", rng)
            question += f" You can reach me or charge me at {value}." if i % 2 else f" My card is {value}."
            planted.append(value)
        rows.append(json.dumps({"question": question, "answer": r["response"]}))
    ingest(store, [write("requests.jsonl", "\n".join(rows) + "\n")])
    extract(store)
    report = pii.scan(store, ["PHONE_NUMBER", "CREDIT_CARD"])
    assert report.identifiers >= 60 and "not personal data" in report.summary()
    pii.redact(store)
    kept = " ".join(r["instruction"] for r in store.rows("SELECT instruction FROM pairs WHERE status <> 'redacted'"))
    numbers = {m.group("id") for r in requests[:60] for m in CONTEXT.finditer(r["instruction"])}
    assert all(n in kept for n in numbers)                       # every order number left as it was
    assert not any(value in kept for value in planted)           # every planted phone and card replaced
    assert "<ORDER_ID" not in kept and "<CARD_" in kept and "<PHONE_" in kept


def test_a_team_pattern_and_masking_identifiers(cli, store, write):
    from curate.ingest.importer import ingest
    from curate.pairs.extract import extract

    ingest(store, [write("t.jsonl", json.dumps({"question": "Where is ORD-12345678? Call 212-555-0143.",
                                                 "answer": "On its way."}) + "\n")])
    extract(store)
    assert cli("pii", "identifiers", "--pattern", r"ORD-\d{8}", "--action", "mask").exit_code == 0
    cli("pii", "scan")
    cli("pii", "redact")
    assert store.scalar("SELECT instruction FROM pairs WHERE origin = 'redacted'") == "Where is <ORDER_ID_1>? Call <PHONE_1>."
    refused = cli("pii", "identifiers", "--pattern", "(unclosed")
    assert refused.exit_code == 1 and "not a regular expression" in refused.output
