"""Real exports, second pass: each numbered case of the hardening review as a test. Nothing a file
holds is lost silently, nothing is stored garbled, and every failure says why in one line."""
import gzip
import json
import resource
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from curate.ingest.importer import ingest, ingest_upload
from curate.pairs.extract import extract
from curate.store import Store

from conftest import ROOT


def qa(q: str, a: str) -> str:
    return json.dumps({"question": q, "answer": a}, ensure_ascii=False)


def rejects(store) -> list[dict]:
    return store.rows("SELECT file, line, reason FROM rejects ORDER BY id")


# ---------------------------------------------------------------- 1. every stored raw log becomes pairs once
def test_a_file_that_changed_while_read_then_imported_again_loses_nothing(store, write, monkeypatch):
    import curate.ingest.importer as importer

    lines = [qa(f"question {i}?", f"answer {i}") for i in range(30)] + ['{"question": "broken"']
    path = write("log.jsonl", "\n".join(lines) + "\n")
    real = importer._commit_batch

    appended = []

    def append_meanwhile(*args):
        real(*args)
        appended.append(len(appended))
        with open(path, "a") as fh:
            fh.write(qa(f"appended later {len(appended)}?", "yes") + "\n")
    monkeypatch.setattr(importer, "_commit_batch", append_meanwhile)
    [first] = ingest(store, [path], batch_size=10)
    assert first.status == "failed" and "changed while it was read" in first.error
    monkeypatch.setattr(importer, "_commit_batch", real)
    [again] = ingest(store, [path], batch_size=10)
    assert again.ok and again.rows_rejected == 1
    assert store.scalar("SELECT count(*) FROM rejects") == 1   # the broken line once, not once per attempt
    assert store.rows("SELECT status FROM sources ORDER BY id") == [{"status": "superseded"}, {"status": "complete"}]
    report = extract(store)
    stored = store.scalar("SELECT count(*) FROM raw_logs")
    assert stored == 30 + len(appended) and store.scalar("SELECT count(*) FROM pairs") == stored
    assert report.pairs_new == stored


def test_a_killed_import_whose_file_grew_becomes_pairs_whole(tmp_path):
    db, path = tmp_path / "k.duckdb", tmp_path / "big.jsonl"
    path.write_text("".join(qa(f"question {i}?", f"answer {i}") + "\n" for i in range(60_000)))
    Store(db)
    child = subprocess.Popen([sys.executable, "-m", "tuneloop.cli", "--db", str(db), "ingest", str(path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    store = Store(db, migrate=False)
    deadline = time.time() + 120
    while time.time() < deadline and not (store.scalar("SELECT coalesce(max(rows_read), 0) FROM sources") or 0):
        time.sleep(0.05)
    child.kill()
    child.wait()
    with open(path, "a") as fh:
        fh.write(qa("one more line?", "appended") + "\n")
    store = Store(db)
    ingest(store, [path])
    extract(store)
    assert store.scalar("SELECT count(*) FROM raw_logs") == 60_001
    assert store.scalar("SELECT count(*) FROM pairs") == 60_001


# ---------------------------------------------------------------- 2 and 10. every record of a JSON document
@pytest.mark.parametrize("name", ["mixed.json", "mixed.jsonl"])
def test_an_array_followed_by_json_lines_is_read_to_the_end(store, write, name):
    text = json.dumps([{"question": f"q{i}", "answer": "a"} for i in range(5)]) + "\n"
    text += "".join(qa(f"line {i}", "a") + "\n" for i in range(50))
    [report] = ingest(store, [write(name, text)])
    assert report.rows_stored == 55 and report.rows_rejected == 0


def test_two_arrays_are_both_read(store, write):
    text = json.dumps([{"question": f"q{i}", "answer": "a"} for i in range(3)]) + "\n"
    text += json.dumps([{"question": f"r{i}", "answer": "b"} for i in range(4)])
    [report] = ingest(store, [write("two.json", text)])
    assert report.rows_stored == 7


def test_every_list_of_records_in_an_object_is_read(store, write):
    doc = {"faq": [{"question": f"f{i}", "answer": "a"} for i in range(10)],
           "tickets": [{"question": f"t{i}", "answer": "b"} for i in range(20)]}
    [report] = ingest(store, [write("both.json", json.dumps(doc))])
    assert report.rows_stored == 30


def test_records_beside_other_lists_are_read_and_the_others_rejected_with_the_reason(store, write):
    doc = {"records": [{"question": f"q{i}", "answer": "a"} for i in range(3)],
           "users": [{"id": i, "name": f"user {i}"} for i in range(5)]}
    [report] = ingest(store, [write("export.json", json.dumps(doc, indent=2))])
    assert report.rows_stored == 3 and report.rows_rejected == 5
    assert all(r["reason"].startswith("users[") and "not a question/answer record" in r["reason"]
               for r in rejects(store))


def test_a_nested_list_of_records_is_found_and_reject_lines_are_file_lines(store, write):
    items = [{"question": f"q{i}", "answer": "a"} for i in range(10)]
    items[6] = {"question": "no answer here"}
    text = json.dumps({"data": {"items": items}}, indent=2)
    [report] = ingest(store, [write("wrapped.json", text)])
    assert report.rows_stored == 9
    [bad] = rejects(store)
    assert text.splitlines()[bad["line"] - 1].strip() == "{" and '"no answer here"' in text.splitlines()[bad["line"]]


def test_records_names_the_list_and_a_container_with_no_records_is_refused_in_one_line(store, write):
    doc = {"meta": {"count": 2}, "payload": {"rows": [{"asked": "What?", "said": "This."}, {"asked": "Why?", "said": "So."}]}}
    path = write("odd.json", json.dumps(doc))
    [refused] = ingest(store, [path])
    assert refused.status == "refused" and "payload.rows" in refused.error and "--records" in refused.error
    [report] = ingest(store, [path], records="payload.rows", mapping={"instruction": "asked", "response": "said"})
    assert report.rows_stored == 2


def test_a_200k_record_array_keeps_its_line_numbers(store, write):
    items = [{"question": f"q{i}", "answer": "a"} for i in range(200_000)]
    items[-1] = {"question": "last"}
    text = "[\n" + ",\n".join(json.dumps(i) for i in items) + "\n]\n"
    [report] = ingest(store, [write("big.json", text)])
    assert report.rows_stored == 199_999 and rejects(store)[0]["line"] == 200_001


# ---------------------------------------------------------------- 3. encodings: nothing stored garbled
TURKISH = [("Şifremi nasıl değiştirebilirim?", "Ayarlar sayfasından şifrenizi değiştirebilirsiniz."),
           ("Siparişim ne zaman gelecek?", "Siparişiniz üç iş günü içinde ulaşır."),
           ("İade politikası nedir?", "Ürünü on dört gün içinde iade edebilirsiniz.")]
POLISH = [("Jak zmienić hasło?", "Wejdź w ustawienia i wybierz zmianę hasła."),
          ("Gdzie jest moja przesyłka?", "Przesyłka dotrze w ciągu dwóch dni."),
          ("Czy mogę zwrócić towar?", "Tak; w ciągu czternastu dni od zakupu."),
          ("Jak usunąć konto?", "Napisz do nas; usuniemy je.")]
JAPANESE = ["ログイン", "返品", "送料", "配送", "パスワード", "アカウント", "注文", "支払い", "クーポン", "サイズ"]


def _stored(store) -> list[tuple[str, str]]:
    return [(p["instruction"], p["response"]) for p in
            (json.loads(r["payload"]) for r in store.rows("SELECT payload FROM raw_logs ORDER BY id"))]


@pytest.mark.parametrize("encoding, rows, container", [
    ("cp1254", [(f"{q} ({i})", a) for i in range(100) for q, a in TURKISH], "jsonl"),
    ("cp1250", POLISH, "csv"),
    ("shift_jis", [(f"{w}は?{i}", f"{w}です。") for i in range(2) for w in JAPANESE], "tsv"),
])
def test_a_file_in_a_code_page_is_read_as_that_code_page(store, write, encoding, rows, container):
    if container == "jsonl":
        text = "".join(qa(q, a) + "\n" for q, a in rows)
    else:
        sep = "," if container == "csv" else "\t"
        text = f"question{sep}answer\n" + "".join(f"{q}{sep}{a}\n" for q, a in rows)
    [report] = ingest(store, [write(f"data.{container}", text.encode(encoding))])
    assert report.rows_stored == len(rows) and report.rows_rejected == 0
    assert _stored(store) == rows
    assert store.scalar("SELECT encoding FROM sources") == report.encoding != "utf-8"
    assert f", {report.encoding})" in report.summary()


def test_a_file_pasted_from_utf8_and_cp1252_stores_both_halves_right(store, write):
    rows = [(f"Où est ma commande {i} ?", "Elle arrive demain, café compris.") for i in range(40)]
    more = [(f"Où est la facture {i} ?", "Envoyée à l'adresse indiquée, déjà réglée.") for i in range(60)]
    data = b"".join((qa(q, a) + "\n").encode("utf-8") for q, a in rows)
    data += b"".join((qa(q, a) + "\n").encode("cp1252") for q, a in more)
    [report] = ingest(store, [write("pasted.jsonl", data)])
    assert report.rows_stored == 100 and _stored(store) == rows + more and report.encoding == "utf-8+cp1252"


def test_a_latin1_csv_with_two_accented_lines_is_latin1(store, write):
    text = "question,answer\n" + "".join(f"How do I reset {i}?,Hold it {i} seconds.\n" for i in range(50))
    text += "Where is the café?,Next to the résumé desk.\nWhat is a naïve fix?,Try again; señor.\n"
    [report] = ingest(store, [write("latin1.csv", text.encode("latin-1"))])
    assert report.rows_stored == 52 and ("What is a naïve fix?", "Try again; señor.") in _stored(store)


def test_accents_after_the_first_two_mib_decide_the_encoding_too(store, write):
    text = "question,answer\n" + "".join(f"Plain question {i} about the lamp?,Plain answer {i} about it.\n"
                                          for i in range(50_000))
    text += "".join(f"Où est le café {i} ?,Près du résumé {i}.\n" for i in range(5))
    assert len(text) > 2 * 2**20
    [report] = ingest(store, [write("late.csv", text.encode("cp1252"))])
    assert report.rows_rejected == 0 and ("Où est le café 4 ?", "Près du résumé 4.") in _stored(store)


def test_utf16_without_a_byte_order_mark_is_read(store, write):
    text = "question,answer\n" + "".join(f"How do I reset {i}?,Hold it {i} s.\n" for i in range(20))
    [report] = ingest(store, [write("u16.csv", text.encode("utf-16-le"))])
    assert report.rows_stored == 20 and report.encoding == "utf-16-le"


def test_bytes_that_read_as_no_language_are_rejected_not_decoded(store, write):
    path = write("log.jsonl", (qa("plain one", "a") + "\n").encode() + b'{"question": "caf\xff\xfe", "answer": "x"}\n')
    [report] = ingest(store, [path])
    assert report.rows_stored == 1 and "invalid UTF-8 byte 0xFF" in rejects(store)[0]["reason"]


def test_encoding_overrides_the_decision_and_a_wrong_name_is_a_clear_error(store, write, cli):
    text = "".join(qa(q, a) + "\n" for q, a in TURKISH)
    path = write("tr.jsonl", text.encode("cp1254"))
    [report] = ingest(store, [path], encoding="cp1254")
    assert report.encoding == "cp1254" and _stored(store) == TURKISH
    out = cli("ingest", str(path), "--encoding", "klingon")
    assert out.exit_code == 1 and "--encoding 'klingon'" in out.output


# ---------------------------------------------------------------- 4. a file whose every record was rejected
def test_a_file_whose_every_record_was_rejected_can_be_imported_again_with_a_map(store, write):
    path = write("tickets.csv", "subject,reply\nHow?,Like this.\nWhy?,Because.\n")
    [first] = ingest(store, [path], format="csv", mapping={"instruction": "subject", "response": "nope"})
    assert first.status == "refused" and "every record was rejected" in first.error
    [again] = ingest(store, [path], mapping={"instruction": "subject", "response": "reply"})
    assert again.ok and again.rows_stored == 2 and store.scalar("SELECT count(*) FROM rejects") == 0


# ---------------------------------------------------------------- 5. the fast path rejects what the slow one does
@pytest.mark.parametrize("first", ['{"question": "q0", "answer": "a0"}', '{"question": "q0", "answer": "a0", "x": "1"}'])
def test_a_trailing_comma_is_rejected_on_either_path(store, write, first):
    path = write("commas.jsonl", first + '\n{"question": "q1", "answer": "a1",}\n')
    [report] = ingest(store, [path])
    assert report.rows_stored == 1 and rejects(store)[0]["line"] == 2 and "invalid JSON" in rejects(store)[0]["reason"]


# ---------------------------------------------------------------- 6. conversations keep every field
def test_turns_keep_tool_calls_metadata_and_content_parts(store, write):
    record = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Where is my order?"},
                                     {"type": "image_url", "image_url": {"url": "data:x"}}], "id": "m1"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "function": {"name": "track"}}]},
        {"role": "tool", "content": "in transit", "tool_call_id": "c1"},
        {"role": "assistant", "content": "It is on its way.", "timestamp": "2026-01-01"}]}
    [report] = ingest(store, [write("chat.jsonl", json.dumps(record) + "\n")])
    assert report.rows_stored == 1
    turns = json.loads(store.scalar("SELECT payload FROM raw_logs"))["turns"]
    assert turns[0]["content"] == "Where is my order?" and turns[0]["extra"]["id"] == "m1"
    assert turns[0]["extra"]["content_parts"][0]["type"] == "image_url"
    assert turns[1]["extra"]["tool_calls"][0]["function"]["name"] == "track" and turns[1]["content"] == ""
    assert turns[3]["extra"]["timestamp"] == "2026-01-01"
    extract(store)   # the tool's turn and the empty call stay out of the dialogue
    assert store.rows("SELECT instruction, response FROM pairs") == [{"instruction": "Where is my order?",
                                                                     "response": "It is on its way."}]


# ---------------------------------------------------------------- 7 and 8. errors that surface as one line
def test_a_file_name_that_is_not_utf8_is_imported_with_the_folder(store, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "good.jsonl").write_text(qa("q1", "a1") + "\n")
    (folder / b"caf\xe9.jsonl".decode("utf-8", "surrogateescape")).write_text(qa("q2", "a2") + "\n")
    reports = ingest(store, [folder])
    assert sorted(r.file for r in reports) == ["caf\\xe9.jsonl", "good.jsonl"] and all(r.ok for r in reports)


def test_a_full_disk_is_one_line_and_the_job_and_source_agree(tmp_path):
    db, path = tmp_path / "d.duckdb", tmp_path / "big.csv"
    path.write_text("question,answer,extra\n" + "".join(f"Question {i}?,Answer {i}.,x{i}\n" for i in range(150_000)))
    Store(db)

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))
    done = subprocess.run([sys.executable, "-m", "tuneloop.cli", "--db", str(db), "ingest", str(path)], cwd=ROOT,
                          capture_output=True, text=True, preexec_fn=small_disk)
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
    assert "the store could not be written" in done.stderr + done.stdout
    store = Store(db)
    job = store.one("SELECT state, error FROM jobs")
    source = store.one("SELECT status, rows_stored FROM sources")
    assert job["state"] == "failed" and source["status"] == "failed"
    assert store.scalar("SELECT count(*) FROM raw_logs") == source["rows_stored"] > 0


def test_ctrl_c_is_one_line_the_job_interrupted_and_the_import_resumable(tmp_path):
    db, path = tmp_path / "c.duckdb", tmp_path / "big.csv"
    path.write_text("question,answer,extra\n" + "".join(f"Question {i}?,Answer {i}.,x{i}\n" for i in range(300_000)))
    Store(db)
    child = subprocess.Popen([sys.executable, "-m", "tuneloop.cli", "--db", str(db), "ingest", str(path)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    store = Store(db, migrate=False)
    deadline = time.time() + 120
    while time.time() < deadline and not store.scalar("SELECT coalesce(max(rows_read), 0) FROM sources"):
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130 and "Traceback" not in err and "interrupted" in err, err[-2000:]
    store = Store(db)
    assert store.scalar("SELECT state FROM jobs") == "interrupted"
    assert store.scalar("SELECT status FROM sources") == "importing"
    [again] = ingest(store, [path])
    assert again.status == "resumed" and store.scalar("SELECT count(*) FROM raw_logs") == 300_000


def test_a_store_deleted_while_in_use_is_said_to_be_gone_and_not_made_again(tmp_path):
    from curate.store import StoreGone

    db = tmp_path / "gone.duckdb"
    store = Store(db)
    db.unlink()
    with pytest.raises(StoreGone, match="is gone"):
        store.scalar("SELECT count(*) FROM pairs")
    assert not db.exists()


# ---------------------------------------------------------------- 9. no text trick changes a user's characters
def test_line_separators_and_form_feeds_stay_in_their_record(store, write):
    rows = [{"question": "a\u2028b\u0085c\x0cd?", "answer": "x\x0by"}, {"question": "q2", "answer": "y"}]
    [report] = ingest(store, [write("u16.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode("utf-16"))])
    assert report.rows_stored == 2 and report.rows_rejected == 0
    assert _stored(store)[0] == ("a\u2028b\u0085c\x0cd?", "x\x0by")


def test_csv_cells_keep_carriage_returns_private_use_characters_and_separators(store, write):
    text = "question,answer\nicon \ue000 here?,ok \r then\nplain?,line\u2028sep and \x0b vt\n"
    for encoding in ("utf-8", "utf-16"):
        store.execute("DELETE FROM raw_logs")
        [report] = ingest(store, [write(f"cells-{encoding}.csv", text.encode(encoding))])
        assert report.rows_stored == 2, report.summary()
        assert _stored(store) == [("icon \ue000 here?", "ok \r then"), ("plain?", "line\u2028sep and \x0b vt")]


# ---------------------------------------------------------------- 11. formats people export
def test_compressed_archived_and_spreadsheet_exports_are_read_with_their_line_numbers(store, tmp_path):
    from openpyxl import Workbook

    lines = "".join(qa(f"gz {i}", "a") + "\n" for i in range(5)) + "not json\n"
    (tmp_path / "log.jsonl.gz").write_bytes(gzip.compress(lines.encode()))
    (tmp_path / "faq.csv.gz").write_bytes(gzip.compress(b"question,answer\nq1,a1\nq2,a2\n"))
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as z:
        z.writestr("tickets/one.jsonl", qa("zip 1", "a") + "\n" + qa("zip 2", "b") + "\n{bad\n")
        z.writestr("tickets/readme.pdf", b"%PDF")
        z.writestr("__MACOSX/._one.jsonl", b"junk")
    book = Workbook()
    book.active.title = "FAQ"
    book.active.append(["question", "answer"])
    book.active.append(["xlsx q1", "xlsx a1"])
    book.active.append(["xlsx q2", None])
    book.create_sheet("Empty")
    book.save(tmp_path / "book.xlsx")
    reports = ingest(store, [tmp_path])
    assert sorted(r.file for r in reports) == ["book.xlsx/FAQ", "export.zip/tickets/one.jsonl", "faq.csv.gz",
                                              "log.jsonl.gz"]
    assert store.scalar("SELECT count(*) FROM raw_logs") == 5 + 2 + 2 + 1
    where = {(r["file"], r["line"]) for r in rejects(store)}
    assert where == {("log.jsonl.gz", 6), ("export.zip/tickets/one.jsonl", 3), ("book.xlsx/FAQ", 3)}
    assert all(r.status == "already imported" for r in ingest(store, [tmp_path]))


def test_an_archive_upload_imports_its_parts(store):
    data = gzip.compress((qa("uploaded", "gz") + "\n").encode())
    [report] = ingest_upload(store, "upload.jsonl.gz", data)
    assert report.ok and report.rows_stored == 1 and report.file == "upload.jsonl.gz"


def test_a_semicolon_csv_from_a_european_spreadsheet_is_read(store, write):
    [report] = ingest(store, [write("eu.csv", "question;answer\nWie geht das?;So, mit Komma.\nUnd das?;Auch.\n")])
    assert report.rows_stored == 2 and ("Wie geht das?", "So, mit Komma.") in _stored(store)
