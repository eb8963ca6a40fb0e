"""kill -9 during an import leaves whole batches only; running it again completes it."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from curate.store import Store

ROWS = 120_000


@pytest.mark.parametrize("fast", [True, False], ids=["duckdb-fast-path", "per-record-path"])
def test_kill_during_import_then_resume(tmp_path, db_path, fast):
    """Both import paths: the fast one (two text fields a line, DuckDB normalizes them in bulk)
    and the per-record one (here a third field sends every line through it)."""
    data = tmp_path / "big.jsonl"
    with open(data, "w") as fh:
        for i in range(ROWS):
            record = {"question": f"question {i}", "answer": f"answer {i}", **({} if fast else {"id": i})}
            fh.write(json.dumps(record) + "\n")
    tuneloop = [sys.executable, "-m", "tuneloop.cli", "--db", str(db_path), "ingest", str(data)]
    proc = subprocess.Popen(tuneloop, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = Store(db_path)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until a few batches are in, then kill the importer hard
        read = store.scalar("SELECT coalesce(max(rows_read), 0) FROM sources")
        if read > 0:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    store = Store(db_path)  # start-up marks the dead import's job interrupted
    source = store.one("SELECT * FROM sources")
    stored = store.scalar("SELECT count(*) FROM raw_logs")
    assert source["status"] == "importing"
    assert 0 < stored < ROWS
    assert stored == source["rows_stored"] == source["rows_read"]  # counters match the rows: whole batches
    lines = store.rows("SELECT min(line) AS first, max(line) AS last FROM raw_logs")[0]
    assert lines == {"first": 1, "last": stored}   # the file's first records, none missing
    assert store.scalar("SELECT state FROM jobs ORDER BY id LIMIT 1") == "interrupted"

    rerun = subprocess.run(tuneloop, capture_output=True, text=True, env={**os.environ})
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed" in rerun.stdout
    assert store.scalar("SELECT count(*) FROM raw_logs") == ROWS
    assert store.scalar("SELECT count(DISTINCT content_hash) FROM raw_logs") == ROWS
    assert store.one("SELECT status, rows_read, rows_stored FROM sources") == {
        "status": "complete", "rows_read": ROWS, "rows_stored": ROWS}


def test_batches_hold_whole_records_in_file_order_after_the_ones_already_imported(monkeypatch):
    import pyarrow as pa

    from curate.ingest import batching

    pieces = [pa.table({"line": list(range(i, i + 7))}) for i in range(0, 35, 7)]
    notes = []
    batches = batching.Batches(iter(pieces[:2] + ["a notice"] + pieces[2:]), skip=12, size=10, notes=notes)
    assert [b.column("line").to_pylist() for b in batches] == [list(range(12, 22)), list(range(22, 32)), [32, 33, 34]]
    assert notes == ["a notice"]
    monkeypatch.setattr(batching, "BATCH_SECONDS", 0)   # reading is slow: what was read is written
    batches = batching.Batches(iter(pieces), skip=3, size=10, notes=[])
    assert [b.column("line").to_pylist() for b in batches] == [[3, 4, 5, 6]] + [list(range(i, i + 7)) for i in range(7, 35, 7)]
