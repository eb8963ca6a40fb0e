"""Safe to share with a team: exports, production settings, and a load of imports and raters."""
import csv
import json
import subprocess
import sys
import threading

import pyarrow.parquet as pq
import pytest

from curate.errors import TuneloopError
from curate.pairs.export import export_pairs, neutralize
from curate.pairs.rows import insert_pairs, make_pair

NASTY = ["=HYPERLINK(\"http://x\",\"click\")", "+1+2", "-2+3", "@SUM(A1)", "\tlead", "\rcr", "plain – text", "",
         "ünïcödé ✓ \"quoted\", comma\nnew line"]


@pytest.fixture
def nasty_store(store):
    insert_pairs(store, [make_pair(f"q{i} " if i % 2 else text or "empty?", text or "empty answer", origin="extracted",
                                   context=[{"role": "user", "content": text or "x"}])
                         for i, text in enumerate(NASTY)])
    return store


def test_spreadsheet_cells_never_start_a_formula(nasty_store, tmp_path):
    export_pairs(nasty_store, tmp_path / "pairs.csv")
    with open(tmp_path / "pairs.csv", newline="", encoding="utf-8") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"http://x\",\"click\")" in cells
    from openpyxl import load_workbook

    export_pairs(nasty_store, tmp_path / "pairs.xlsx")
    values = [c.value for row in load_workbook(tmp_path / "pairs.xlsx").active.iter_rows() for c in row]
    assert not [v for v in values if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert neutralize(3) == 3 and neutralize("fine") == "fine"


def test_jsonl_and_parquet_round_trip_exactly(nasty_store, tmp_path):
    stored = nasty_store.rows("SELECT id, instruction, response, context FROM pairs ORDER BY id")
    export_pairs(nasty_store, tmp_path / "pairs.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["instruction"], r["response"]) for r in lines] == [(s["instruction"], s["response"]) for s in stored]
    assert [r["context"] for r in lines] == [json.loads(s["context"]) for s in stored]
    export_pairs(nasty_store, tmp_path / "pairs.parquet")
    table = pq.read_table(tmp_path / "pairs.parquet").to_pylist()
    assert [(r["instruction"], r["response"], r["context"]) for r in table] == \
        [(s["instruction"], s["response"], s["context"]) for s in stored]
    with pytest.raises(TuneloopError, match="unknown export format"):
        export_pairs(nasty_store, tmp_path / "pairs.txt")


def test_production_mode_refuses_insecure_settings(store, monkeypatch):
    from curate.rating.users import add_user
    from tuneloop.launcher import check_production

    monkeypatch.setenv("STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION", "false")
    monkeypatch.setenv("STREAMLIT_SERVER_COOKIE_SECRET", "short")
    with pytest.raises(TuneloopError) as refused:
        check_production(store)
    message = str(refused.value)
    assert "XSRF protection is off" in message and "cookieSecret is shorter" in message and "nobody has a password" in message
    monkeypatch.setenv("STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION", "true")
    monkeypatch.setenv("STREAMLIT_SERVER_COOKIE_SECRET", __import__("secrets").token_hex(32))
    add_user(store, "admin", "admin", "a long password")
    check_production(store)  # nothing to refuse


def test_a_big_import_while_ten_annotators_rate(store, db_path, tmp_path):
    """100k rows imported by the CLI while ten annotators rate through the functions the Rate page
    calls: every rating submitted is stored, nobody sees a lock error, the import completes."""
    from curate import rating
    from curate.rating.users import add_user

    insert_pairs(store, [make_pair(f"question {i}?", f"answer {i}.", origin="extracted") for i in range(300)])
    rating.set_rule(store, rating.ApprovalRule(min_ratings=2))
    annotators = [add_user(store, f"rater{i}", "annotator", "password123") for i in range(10)]
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"question": f"imported {i}", "answer": f"a {i}"}) + "\n" for i in range(100_000)))
    importer = subprocess.Popen([sys.executable, "-m", "tuneloop.cli", "--db", str(db_path), "ingest", str(big)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    submitted, errors = [], []

    def rate(annotator):
        for _ in range(20):
            try:
                pair = rating.next_pair(store, annotator)
                if pair is None:
                    return
                rating.submit(store, annotator, pair["id"], {"quality": 4, "verdict": "approve"})
                submitted.append(pair["id"])
            except Exception as exc:  # noqa: BLE001 - a lock error here would be a user-visible failure
                errors.append(repr(exc))

    threads = [threading.Thread(target=rate, args=(a,)) for a in annotators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out, err = importer.communicate(timeout=600)
    assert importer.returncode == 0, err
    assert errors == []
    assert len(submitted) == 200
    assert store.scalar("SELECT count(DISTINCT submission_id) FROM ratings") == len(submitted)
    assert store.scalar("SELECT rows_stored FROM sources WHERE name = 'big.jsonl'") == 100_000
    print(f"ratings submitted = {len(submitted)}, ratings stored = "
          f"{store.scalar('SELECT count(DISTINCT submission_id) FROM ratings')}")
