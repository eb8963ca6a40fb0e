"""The adversarial examples: no record may stop an import, nothing is lost silently, and a file
that is damaged, changing, linked from elsewhere or imported twice at once cannot corrupt the store."""
import json
import os
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.ingest.importer import ingest
from curate.store import Store


def qa(q, a):
    return json.dumps({"question": q, "answer": a}, ensure_ascii=False)


def reasons(store):
    return {r["line"]: r["reason"] for r in store.rows("SELECT line, reason FROM rejects ORDER BY line")}


def questions(store):
    return [json.loads(r["payload"])["instruction"] for r in store.rows("SELECT payload FROM raw_logs ORDER BY id")]


@pytest.mark.parametrize("bad_line,why", [
    ('{"question": "lone \\ud800 surrogate", "answer": "a"}', "unpaired surrogate"),
    ('{"question": "q", "answer": ' + "9" * 5000 + "}", "4300"),
    ('{"question": "deep", "answer": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper"),
    ('{"question": "nul \\u0000 escape", "answer": "a"}', "NUL"),
    ('{"question": "   ", "answer": "blank question"}', "missing or empty"),
    ('{"question": "zero width", "answer": "\\u200b\\u200d\\ufeff"}', "missing or empty"),
])
def test_one_bad_record_is_a_reject_and_the_rest_is_kept(store, write, bad_line, why):
    lines = [qa(f"question {i}", f"answer {i}") for i in range(1, 1200)]
    lines.insert(700, bad_line)  # in the second batch of 500
    [report] = ingest(store, [write("log.jsonl", "\n".join(lines) + "\n")])
    assert report.status == "imported" and report.rows_stored == 1199 and report.rows_rejected == 1
    assert why in reasons(store)[701]
    assert store.scalar("SELECT status FROM sources") == "complete"


def test_a_folder_goes_on_after_a_file_that_fails(store, write, tmp_path, monkeypatch):
    import curate.ingest.importer as ingest_module

    write("a.jsonl", qa("qa", "aa") + "\n")
    write("b.jsonl", qa("qb", "ab") + "\n")
    readers_real, bulk_real = ingest_module.readers.read_items, ingest_module.bulk.records

    def failing(real):   # a disk error on reading a.jsonl, on either import path
        def read(path, *args):
            if path.name == "a.jsonl":
                raise OSError("input/output error")
            return real(path, *args)
        return read

    monkeypatch.setattr(ingest_module.readers, "read_items", failing(readers_real))
    monkeypatch.setattr(ingest_module.bulk, "records", failing(bulk_real))
    a, b = ingest(store, [tmp_path])
    assert a.status == "failed" and "input/output error" in a.error and b.status == "imported"
    monkeypatch.setattr(ingest_module.readers, "read_items", readers_real)
    monkeypatch.setattr(ingest_module.bulk, "records", bulk_real)
    [again, _] = ingest(store, [tmp_path])  # the rerun completes
    assert again.status == "resumed" and store.scalar("SELECT count(*) FROM sources WHERE status = 'complete'") == 2


def test_invalid_utf8_in_an_ascii_file_is_rejected_not_decoded(store, write):
    path = write("log.jsonl", (qa("plain one", "a") + "\n").encode() + b'{"question": "caf\xff\xfe", "answer": "x"}\n'
                 + (qa("plain two", "b") + "\n").encode())
    [report] = ingest(store, [path])
    assert report.encoding == "utf-8" and report.rows_stored == 2
    assert "invalid UTF-8 byte 0xFF" in reasons(store)[2]


def test_an_unbalanced_csv_quote_swallows_nothing_silently(store, write):
    rows = ["question,answer"] + [f"question {i},answer {i}" for i in range(1, 24)]
    rows[4] = 'question 4,"answer 4 never closed'
    [report] = ingest(store, [write("faq.csv", "\n".join(rows) + "\n")])
    assert report.rows_stored == 22 and report.rows_rejected == 1
    assert "never closed" in reasons(store)[5]
    assert any("23 non-empty lines" in note and "22 records were read" in note for note in report.notes)
    assert "note:" in report.summary()


def test_a_quoted_field_over_several_lines_is_still_one_record(store, write):
    [report] = ingest(store, [write("faq.csv", 'question,answer\nq1,"line one\nline two, still the answer"\nq2,a2\n')])
    assert report.rows_stored == 2 and report.rows_rejected == 0


def test_a_file_that_changes_while_it_is_read_is_not_complete(store, write, monkeypatch):
    import curate.ingest.importer as ingest_module

    path = write("log.jsonl", "".join(qa(f"q{i}", f"a{i}") + "\n" for i in range(50)))
    real = ingest_module._commit_batch

    def append_meanwhile(*args, **kwargs):
        real(*args, **kwargs)
        with open(path, "a") as fh:
            fh.write(qa("late", "arrival") + "\n")

    monkeypatch.setattr(ingest_module, "_commit_batch", append_meanwhile)
    [report] = ingest(store, [path])
    assert report.status == "failed" and "changed while it was read" in report.error
    assert store.scalar("SELECT status FROM sources") == "failed"


def test_a_read_error_part_way_keeps_the_batches_before_it_and_the_rerun_completes(store, write, monkeypatch):
    """Records are read in a thread of their own while batches are written: its error still stops
    the file, after the batches already written."""
    from curate.ingest import bulk

    path = write("log.jsonl", "".join(qa(f"q{i}", f"a{i}") + "\n" for i in range(300)))
    real = bulk.records

    def failing(*args):
        pieces = real(*args)
        yield next(pieces)
        raise OSError("input/output error")

    monkeypatch.setattr(bulk, "BLOCK_BYTES", 4096)   # the first block is ~110 lines
    monkeypatch.setattr(bulk, "records", failing)
    [report] = ingest(store, [path], batch_size=10)
    assert report.status == "failed" and "input/output error" in report.error
    kept = store.scalar("SELECT count(*) FROM raw_logs")
    assert 0 < kept < 300 and kept == report.rows_stored == store.scalar("SELECT rows_read FROM sources")
    monkeypatch.setattr(bulk, "records", real)
    [again] = ingest(store, [path])
    assert again.status == "resumed" and questions(store) == [f"q{i}" for i in range(300)]


def test_a_corrupt_parquet_row_group_is_rejected_and_pairs_never_slip(store, tmp_path):
    path = tmp_path / "pairs.parquet"
    table = pa.table({"question": [f"q{i}" for i in range(300)], "answer": [f"a{i}" for i in range(300)]})
    pq.write_table(table, path, row_group_size=100, compression="none")
    data = bytearray(path.read_bytes())
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(1).column(1)  # the answers of rows 101-200
    start = column.data_page_offset
    data[start:start + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))
    [report] = ingest(store, [path])
    stored = {json.loads(r["payload"])["instruction"]: json.loads(r["payload"])["response"]
              for r in store.rows("SELECT payload FROM raw_logs")}
    assert all(stored[q] == "a" + q[1:] for q in stored)  # every question with its own answer
    assert report.rows_stored == 200 and "row group 2 (rows 101–200)" in reasons(store)[101]


def test_a_folder_import_does_not_follow_links_out_of_the_folder(store, tmp_path):
    inside, outside = tmp_path / "data", tmp_path / "private"
    inside.mkdir()
    outside.mkdir()
    (inside / "faq.jsonl").write_text(qa("inside", "yes") + "\n")
    (outside / "secrets.jsonl").write_text(qa("outside", "no") + "\n")
    os.symlink(outside / "secrets.jsonl", inside / "link.jsonl")
    os.symlink(outside, inside / "linked-folder")
    reports = ingest(store, [inside])
    assert [r.file for r in reports] == ["faq.jsonl"]
    assert questions(store) == ["inside"]


def test_two_imports_of_the_same_file_at_once_count_it_once(db_path, write):
    path = write("log.jsonl", "".join(qa(f"q{i}", f"a{i}") + "\n" for i in range(3000)))
    results, errors = [], []

    def run():
        try:
            results.extend(ingest(Store(db_path), [path], batch_size=100))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = Store(db_path)
    source = store.one("SELECT status, rows_read, rows_stored FROM sources")
    assert store.scalar("SELECT count(*) FROM sources") == 1
    assert source["rows_read"] == source["rows_stored"] == store.scalar("SELECT count(*) FROM raw_logs")
    assert sorted(r.status for r in results) in (["busy", "imported"], ["already imported", "imported"]), \
        [(r.status, r.error) for r in results]


CONTROL = ["nul \x00 here", "vt \x0b ff \x0c", "esc \x1b bel \x07", "noncharacter \ufffe end"]
FORMULAS = ["＝1+1", "＋cmd", "－2", "＠SUM(A1)", "  =1+1", "\u200b=1+1", "|calc", "\nlf first", "=ok"]


def test_xlsx_survives_control_characters_and_every_formula_prefix_is_text(store, tmp_path):
    from openpyxl import load_workbook

    from curate.pairs.export import export_pairs, neutralize
    from curate.pairs.rows import insert_pairs, make_pair

    insert_pairs(store, [make_pair(f"q{i}", text, origin="extracted") for i, text in enumerate(CONTROL + FORMULAS)])
    assert export_pairs(store, tmp_path / "pairs.xlsx") == len(CONTROL + FORMULAS)
    answers = [row[3] for row in load_workbook(tmp_path / "pairs.xlsx").active.iter_rows(min_row=2, values_only=True)]
    assert answers[:4] == ["nul \\x00 here", "vt \\x0b ff \\x0c", "esc \\x1b bel \\x07", "noncharacter \\ufffe end"]
    assert all(a.startswith("'") for a in answers[4:])
    assert all(neutralize(f).startswith("'") for f in FORMULAS) and neutralize("fine = good") == "fine = good"


def test_the_pairs_page_offers_a_guarded_csv_to_exporters_only(db_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from curate.pairs.rows import insert_pairs, make_pair
    from curate.rating.users import add_user
    from tuneloop.launcher import app_command

    from conftest import ROOT

    assert "--client.disableDataExport" in app_command()  # the table's own download is off
    monkeypatch.setenv("TUNELOOP_DB", str(db_path))
    store = Store(db_path)
    insert_pairs(store, [make_pair("=HYPERLINK(\"http://x\")", "@SUM(A1)", origin="extracted")])
    add_user(store, "ann", "annotator", "password123")
    admin = add_user(store, "boss", "admin", "password123")
    from streamlit_app.common import _open
    for user, offered in (({"id": admin, "name": "boss", "role": "admin"}, True),
                          ({"id": 1, "name": "ann", "role": "annotator"}, False)):
        _open.clear()
        at = AppTest.from_file(str(ROOT / "streamlit_app" / "app.py"), default_timeout=60)
        at.session_state["user"] = user
        at.run()
        at.switch_page("views/pairs.py").run()
        buttons = [b for b in at.get("download_button")]
        assert bool(buttons) == offered
        if offered:
            from curate.pairs.export import spreadsheet_csv
            from curate.pairs.search import search
            text = spreadsheet_csv(search(store)[0]).decode()
            assert "'=HYPERLINK" in text and "'@SUM(A1)" in text


@pytest.mark.parametrize("off", ["0", "no", "off", "false", "False", " OFF "])
def test_production_mode_refuses_xsrf_off_in_any_spelling(store, monkeypatch, off):
    from curate.errors import TuneloopError
    from curate.rating.users import add_user
    from tuneloop.launcher import check_production

    add_user(store, "admin", "admin", "a long password")
    monkeypatch.setenv("STREAMLIT_SERVER_COOKIE_SECRET", __import__("secrets").token_hex(32))
    monkeypatch.setenv("STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION", off)
    with pytest.raises(TuneloopError, match="XSRF protection is off"):
        check_production(store)


@pytest.mark.parametrize("secret,weak", [
    ("x" * 48, True), ("password" * 5, True), ("ab" * 20, True), ("0123456789" * 4, True),
    (__import__("secrets").token_hex(32), False), (__import__("secrets").token_urlsafe(32), False)])
def test_a_cookie_secret_is_checked_for_strength_not_only_length(secret, weak):
    from tuneloop.launcher import secret_problem

    assert bool(secret_problem(secret)) == weak


def test_production_warns_when_served_beyond_localhost_without_tls(store, monkeypatch):
    from curate.rating.users import add_user
    from tuneloop.launcher import app_command, check_production

    add_user(store, "admin", "admin", "a long password")
    monkeypatch.setenv("STREAMLIT_SERVER_COOKIE_SECRET", __import__("secrets").token_hex(32))
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "0.0.0.0")
    assert any("without TLS" in w for w in check_production(store))
    monkeypatch.setenv("STREAMLIT_SERVER_SSL_CERT_FILE", "/etc/ssl/tuneloop.pem")
    assert not any("without TLS" in w for w in check_production(store))
    assert app_command(production=True)[-2:] == ["--client.showErrorDetails", "none"]  # no tracebacks


def test_failed_sign_ins_are_delayed_then_locked_until_an_admin_unlocks(store, monkeypatch):
    from curate.rating import users

    monkeypatch.setattr(users, "DELAY_PER_FAILURE", 0.01)
    users.add_user(store, "ann", "annotator", "correct horse")
    for _ in range(users.MAX_FAILURES):
        assert users.authenticate(store, "ann", "wrong", address="10.0.0.9") is None
    with pytest.raises(users.SignInLocked):
        users.authenticate(store, "ann", "correct horse", address="10.0.0.9")  # locked even with the password
    with pytest.raises(users.SignInLocked):
        users.authenticate(store, "bob", "anything", address="10.0.0.9")  # and the address is too
    assert users.unlock(store, "ann") == users.MAX_FAILURES
    assert users.authenticate(store, "ann", "correct horse", address="10.0.0.9")["name"] == "ann"


def test_a_deactivated_user_is_signed_out_at_the_next_action(db_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from curate.rating.users import add_user, set_active
    from streamlit_app.common import _open

    from conftest import ROOT

    monkeypatch.setenv("TUNELOOP_DB", str(db_path))
    store = Store(db_path)
    add_user(store, "boss", "admin", "a long password")
    ann = add_user(store, "ann", "annotator", "a long password")
    _open.clear()
    at = AppTest.from_file(str(ROOT / "streamlit_app" / "app.py"), default_timeout=60)
    at.session_state["user"] = {"id": ann, "name": "ann", "role": "annotator"}
    at.run()
    assert not at.exception and "Signed in as" in " ".join(c.value for c in at.caption)
    set_active(store, "ann", False)
    at.run()
    assert [t.label for t in at.text_input] == ["Name", "Password"]  # back to the sign-in form


def test_users_add_reads_the_password_from_stdin_or_a_prompt(cli, db_path):
    from click.testing import CliRunner

    from curate.rating.users import authenticate
    from tuneloop.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(db_path), "users", "add", "ann", "--password-stdin"],
                           input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["--db", str(db_path), "users", "add", "bob"], input="long enough pw\nlong enough pw\n")
    assert result.exit_code == 0, result.output
    store = Store(db_path)
    assert authenticate(store, "ann", "correct horse battery") and authenticate(store, "bob", "long enough pw")


def test_the_app_starts_without_a_terminal_or_streamlit_credentials(db_path, tmp_path):
    """`make app` on a fresh machine: no first-run e-mail prompt, no terminal needed."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HOME": str(tmp_path / "fresh-home")}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-m", "tuneloop.cli", "--db", str(db_path), "app", "--port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline, up = time.time() + 90, False
        while time.time() < deadline and proc.poll() is None and not up:
            try:
                up = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok"
            except OSError:
                time.sleep(0.5)
        assert up, f"exit {proc.poll()}: " + (proc.stdout.read1().decode(errors="replace") if proc.poll() else "")
        # Streamlit's metrics are not public, and the pages may only be framed by the app itself
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/metrics", timeout=5)
        assert refused.value.code == 404
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
        assert page.headers["X-Frame-Options"] == "SAMEORIGIN" and b"<html" in page.read().lower()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_file_and_field_names_are_shown_as_text(db_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from curate.ingest.importer import ingest_upload
    from curate.pairs.extract import extract
    from streamlit_app.common import _open

    from conftest import ROOT

    monkeypatch.setenv("TUNELOOP_DB", str(db_path))
    store = Store(db_path)
    name = "**bold** ![x](leak.png).csv"
    [report] = ingest_upload(store, name, b"question,answer,![y](http://127.0.0.1:9/y.png)\nq1,a1,v\n")
    assert report.rows_stored == 1
    [bad] = ingest_upload(store, "[click](javascript:alert(1)).csv", b"![z](http://127.0.0.1:9/z.png),b\n1,2\n")
    assert bad.status == "refused" and "![z]" in bad.error
    extract(store)
    _open.clear()
    at = AppTest.from_file(str(ROOT / "streamlit_app" / "app.py"), default_timeout=60).run()
    at.switch_page("views/rate.py").run()
    where = [c.value for c in at.caption if "line" in c.value][0]
    assert "\\*\\*bold\\*\\* \\!\\[x\\]" in where and "![x]" not in where  # shown, never rendered
