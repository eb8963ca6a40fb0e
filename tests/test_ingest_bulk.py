"""The import's fast path (DuckDB normalizes plain JSON lines and CSV rows in bulk) stores exactly
what the per-record path stores: the same rows, payloads, hashes, rejects with file:line:reason,
counters."""
import json

import pytest

from curate.ingest import bulk
from curate.ingest.importer import ingest
from curate.store import Store

LINES = [
    '{"question": "How do I reset the lamp?", "answer": "Hold the button for ten seconds."}',
    '{"question": "Quotes \\"inside\\" and a back\\\\slash?", "answer": "Yes: \\\\n is not a newline, \\n is."}',
    '{"question": "Tabs\\tand unicode: caf\\u00e9, 中文, 🙂?", "answer": "Escaped \\/ slash, line\\u2028separator."}',
    '',
    '   ',
    '{"answer": "Order of keys does not matter.", "question": "Does the order matter?"}',
    '{"question": "A control character \\u001f here?", "answer": "It takes the per-record path."}',
    '{"question": "Extra field?", "answer": "Kept as extra.", "id": 7}',
    '{"question": "A number answer?", "answer": 42}',
    '{"question": "A list answer?", "answer": ["no", "lists"]}',
    '{"question": "Blank answer?", "answer": "   "}',
    '{"question": "Missing answer?"}',
    '{"question": "Broken JSON", "answer": }',
    '["not", "an", "object"]',
    '{"question": "NUL inside \\u0000?", "answer": "refused"}',
    '{"question": "How do I reset the lamp?", "answer": "Hold the button for ten seconds."}',
    '{"question": "Zero-width only answer?", "answer": "\\u200b\\u200b"}',
    '{"Question": "Capitalized keys?", "Answer": "Found by name like the others."}',
    '{"question": "A key twice?", "question": "The last one wins.", "answer": "As in Python."}',
    '{"question": "Windows line ending?", "answer": "Stripped."}\r',
]


def import_both(tmp_path, monkeypatch, raw: bytes) -> tuple[Store, Store, list]:
    """The file imported with the fast path and without it; returns both stores and, for each line
    the fast path read, whether DuckDB normalized it (True) or it went record by record (False)."""
    path = tmp_path / "tricky.jsonl"
    path.write_bytes(raw)
    fast = Store(tmp_path / "fast.duckdb")
    used, by_record = [], set()
    real = bulk.records

    def spy(path, fields, fallback):
        def one(item):
            by_record.add(item.line)
            return fallback(item)
        for rows in real(path, fields, one):
            used.extend(error is None and line not in by_record
                        for line, error in zip(rows.column("line").to_pylist(), rows.column("error").to_pylist()))
            yield rows
    monkeypatch.setattr(bulk, "records", spy)
    [fast_report] = ingest(fast, [path])
    monkeypatch.setattr(bulk, "plan", lambda *a: None)
    slow = Store(tmp_path / "slow.duckdb")
    [slow_report] = ingest(slow, [path])
    assert fast_report.summary() == slow_report.summary()
    return fast, slow, used


def stored(store: Store) -> tuple[list, list, dict]:
    return (store.rows("SELECT line, kind, payload, content_hash FROM raw_logs ORDER BY line"),
            store.rows("SELECT file, line, reason, excerpt FROM rejects ORDER BY line"),
            store.one("SELECT status, rows_read, rows_stored, rows_duplicate, rows_rejected FROM sources"))


def test_the_fast_path_stores_what_the_per_record_path_stores(tmp_path, monkeypatch):
    raw = ("\ufeff" + "\n".join(LINES) + "\n" + '{"question": "cut off", "ans').encode("utf-8")
    raw = raw.replace(b"refused", b"refused \xff")   # an undecodable byte on one line
    fast, slow, used = import_both(tmp_path, monkeypatch, raw)
    assert stored(fast) == stored(slow)
    rows, rejects, counters = stored(fast)
    assert sum(used) >= 5 and not all(used)    # both paths ran
    assert counters["rows_duplicate"] == 1 and counters["rows_rejected"] == 8
    assert rejects[-1]["reason"].endswith("(the last line is cut off; is the file truncated?)")
    texts = [json.loads(r["payload"]) for r in rows]
    assert {"instruction": "Quotes \"inside\" and a back\\slash?", "response": "Yes: \\n is not a newline, \n is."} in texts
    assert texts[-1] == {"instruction": "Windows line ending?", "response": "Stripped."}


@pytest.mark.parametrize("rows", [1, 20_001])
def test_the_fast_path_matches_across_blocks_and_without_a_final_newline(tmp_path, monkeypatch, rows):
    monkeypatch.setattr(bulk, "BLOCK_BYTES", 4096)   # many blocks: lines cut at block ends are joined
    body = "\n".join(json.dumps({"question": f"Question {i} — naïve café?", "answer": f"Answer {i % 5000}"},
                                ensure_ascii=i % 2 == 0) for i in range(rows))
    fast, slow, used = import_both(tmp_path, monkeypatch, body.encode("utf-8"))
    assert all(used) and len(used) == rows
    assert stored(fast) == stored(slow)


CSV_ROWS = [
    ["How do I reset the lamp?", "Hold the button for ten seconds."],
    ["Quotes \"inside\", a comma and a back\\slash?", "Yes.\nOver two lines, too."],
    ["Unicode: café, 中文, 🙂?", "Line\u2028separator and a tab\there."],
    ["Blank answer?", "   "],
    ["Zero-width only?", "\u200b"],
    ["A control character \x1f?", "Goes record by record."],
    ["How do I reset the lamp?", "Hold the button for ten seconds."],
    ["", "No question."],
]


@pytest.mark.parametrize("chunk", [3, 2000])
def test_plain_csv_rows_normalized_in_bulk_store_what_the_per_record_path_stores(tmp_path, monkeypatch, chunk):
    import csv

    import curate.ingest.importer as ingest_module

    path = tmp_path / "faq.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question", "answer"])
        writer.writerows(CSV_ROWS)
        fh.write('"one field only"\n"Last one?","Is kept."\n')
    monkeypatch.setattr(ingest_module, "CHUNK_SIZE", chunk)
    by_record = []
    real_one = ingest_module._one
    monkeypatch.setattr(ingest_module, "_one", lambda item, *a, **k: by_record.append(item.line) or real_one(item, *a, **k))
    fast = Store(tmp_path / "fast.duckdb")
    [fast_report] = ingest(fast, [path])
    assert by_record == [6, 7, 8, 10]   # only the rows DuckDB was not sure of went record by record
    monkeypatch.setattr(bulk, "two_text_fields", lambda *a: None)
    slow = Store(tmp_path / "slow.duckdb")
    [slow_report] = ingest(slow, [path])
    assert fast_report.summary() == slow_report.summary()
    assert stored(fast) == stored(slow)
    rows, rejects, counters = stored(fast)
    assert counters == {"status": "complete", "rows_read": 10, "rows_stored": 5, "rows_duplicate": 1,
                        "rows_rejected": 4}
    assert [r["line"] for r in rejects] == [6, 7, 10, 11]   # the second row spans two lines
    assert json.loads(rows[-1]["payload"]) == {"instruction": "Last one?", "response": "Is kept."}
