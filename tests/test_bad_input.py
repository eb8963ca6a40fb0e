"""One test per class of bad input: the good rows are stored, each bad one is rejected with
its file, line and reason, and nothing crashes."""
import json

import pytest

from curate.ingest import textio
from curate.ingest.importer import ingest


def qa(q, a):
    return json.dumps({"question": q, "answer": a}, ensure_ascii=False)


def rejects(store):
    return store.rows("SELECT file, line, reason FROM rejects ORDER BY line")


def stored_questions(store):
    return [json.loads(p)["instruction"] for (p,) in
            [tuple(r.values()) for r in store.rows("SELECT payload FROM raw_logs ORDER BY id")]]


def test_malformed_json_line(store, write):
    path = write("log.jsonl", "\n".join([qa("q1", "a1"), '{"question": "q2", "answer": ', qa("q3", "a3")]) + "\n")
    [report] = ingest(store, [path])
    assert (report.rows_stored, report.rows_rejected) == (2, 1)
    [bad] = rejects(store)
    assert bad["file"] == "log.jsonl" and bad["line"] == 2 and "invalid JSON" in bad["reason"]


def test_invalid_utf8_byte_rejects_only_its_line(store, write):
    # a UTF-8 file (its other accented lines decode) with one stray Latin-1 byte
    path = write("log.jsonl", qa("naïve q1", "a1").encode() + b"\n" + b'{"question": "caf\xe9", "answer": "x"}\n'
                 + qa("q3 déjà", "a3").encode() + b"\n")
    [report] = ingest(store, [path])
    assert stored_questions(store) == ["naïve q1", "q3 déjà"]
    [bad] = rejects(store)
    assert bad["line"] == 2 and "invalid UTF-8 byte 0xE9" in bad["reason"]


def test_a_file_in_another_encoding_is_decoded(store, write):
    rows = [qa(f"Où se trouve la gare numéro {i} ? Je voudrais réserver un billet à prix réduit pour l'été.",
               "À droite, après le café. Vous êtes déjà très près; c'est à côté du théâtre.") for i in range(20)]
    path = write("cp1252.jsonl", ("\n".join(rows) + "\n").encode("cp1252"))
    [report] = ingest(store, [path])
    assert report.rows_stored == 20 and report.rows_rejected == 0
    assert report.encoding == "cp1252"
    assert stored_questions(store)[0].startswith("Où se trouve la gare numéro 0 ? Je voudrais réserver")


def test_byte_order_mark_is_ignored(store, write):
    path = write("bom.csv", "\ufeffquestion,answer\nq1,a1\n".encode("utf-8"))
    [report] = ingest(store, [path])
    assert report.rows_stored == 1 and stored_questions(store) == ["q1"]


def test_utf16_with_bom(store, write):
    path = write("utf16.csv", "question,answer\nq1,a1\nq2,a2\n".encode("utf-16"))
    [report] = ingest(store, [path])
    assert report.rows_stored == 2


def test_nul_byte_rejects_its_record(store, write):
    path = write("nul.csv", "question,answer\nq1,a1\nq\x002,a2\nq3,a3\n")
    [report] = ingest(store, [path])
    assert stored_questions(store) == ["q1", "q3"]
    [bad] = rejects(store)
    assert bad["line"] == 3 and "NUL byte" in bad["reason"]


def test_truncated_last_line(store, write):
    path = write("cut.jsonl", qa("q1", "a1") + "\n" + '{"question": "q2", "ans')
    [report] = ingest(store, [path])
    assert report.rows_stored == 1
    [bad] = rejects(store)
    assert bad["line"] == 2 and "truncated" in bad["reason"]


def test_huge_line_is_refused_and_skipped(store, write, monkeypatch):
    monkeypatch.setattr(textio, "MAX_RECORD_BYTES", 1024)
    path = write("huge.jsonl", "\n".join([qa("q1", "a1"), qa("q2", "x" * 5000), qa("q3", "a3")]) + "\n")
    [report] = ingest(store, [path])
    assert stored_questions(store) == ["q1", "q3"]
    [bad] = rejects(store)
    assert bad["line"] == 2 and "record limit" in bad["reason"]


def test_missing_fields(store, write):
    path = write("missing.jsonl", "\n".join([qa("q1", "a1"), json.dumps({"question": "q2"}),
                                            json.dumps({"title": "x"})]) + "\n")
    [report] = ingest(store, [path])
    assert report.rows_stored == 1
    reasons = [r["reason"] for r in rejects(store)]
    assert reasons[0].startswith("no response field") and "answer" in reasons[0]
    assert "no question/answer fields" in reasons[1] and "title" in reasons[1]


def test_wrongly_typed_field(store, write):
    path = write("typed.jsonl", "\n".join([qa("q1", "a1"), json.dumps({"question": "q2", "answer": ["a", "b"]})]) + "\n")
    [report] = ingest(store, [path])
    assert report.rows_stored == 1
    assert rejects(store)[0]["reason"] == "field 'answer' holds a list, expected text"


def test_type_drift_between_rows(store, write):
    lines = [qa("q1", "a1"), json.dumps({"question": 2, "answer": 3.5}), json.dumps({"prompt": "q3", "completion": True}),
             json.dumps([1, 2])]
    path = write("drift.jsonl", "\n".join(lines) + "\n")
    [report] = ingest(store, [path])
    assert stored_questions(store) == ["q1", "2", "q3"]
    assert rejects(store)[0]["reason"] == "expected a JSON object, found an array"


def test_empty_file_is_refused(store, write, cli):
    path = write("empty.jsonl", "")
    [report] = ingest(store, [path])
    assert report.status == "refused" and report.error == "file is empty"
    result = cli("ingest", str(path))
    assert result.exit_code != 0
    assert "file is empty" in result.output.splitlines()[-1]


def test_json_array_where_json_lines_were_expected(store, write):
    path = write("array.jsonl", json.dumps([{"question": "q1", "answer": "a1"}, {"question": "q2", "answer": "a2"}],
                                           indent=2))
    [report] = ingest(store, [path])
    assert report.format == "json" and report.rows_stored == 2


def test_broken_json_array_keeps_the_items_before_the_break(store, write):
    path = write("broken.json", '[\n  {"question": "q1", "answer": "a1"},\n  {"question": "q2", "answer": \n')
    [report] = ingest(store, [path])
    assert report.rows_stored == 1
    [bad] = rejects(store)
    assert bad["line"] == 3


def test_csv_with_an_unquoted_carriage_return(store, write):
    path = write("cr.csv", b"question,answer\r\nq1,a1\r\nq2 \r\rstill q2,a2\r\nq3,a3\r\n")
    [report] = ingest(store, [path])
    assert report.rows_rejected == 0
    assert stored_questions(store) == ["q1", "q2 \r\rstill q2", "q3"]


def test_csv_row_with_the_wrong_number_of_fields(store, write):
    path = write("short.csv", "question,answer,topic\nq1,a1,t\nq2\nq3,a3,t\n")
    [report] = ingest(store, [path])
    assert report.rows_stored == 2
    assert rejects(store)[0]["line"] == 3 and "expected 3 fields" in rejects(store)[0]["reason"]


@pytest.mark.parametrize("content", ["question,answer\n", "{}\n"])
def test_files_with_no_records(store, write, content, cli):
    path = write("nothing." + ("csv" if "," in content else "json"), content)
    result = cli("ingest", str(path))
    assert result.exit_code != 0 and "Error: nothing could be imported" in result.output
    assert "ClickException" not in result.output and "TUNELOOP_DEBUG" not in result.output   # said once, plainly


def test_cli_exits_zero_when_something_was_imported_and_reports_rejects(write, cli):
    path = write("mixed.jsonl", qa("q1", "a1") + "\n{oops\n")
    result = cli("ingest", str(path))
    assert result.exit_code == 0
    assert "stored 1" in result.output and "rejected 1 × invalid JSON" in result.output
    assert "first at line 2" in result.output


def test_reimporting_a_file_is_a_no_op_and_records_are_not_stored_twice(store, write):
    first = write("a.jsonl", qa("q1", "a1") + "\n" + qa("q2", "a2") + "\n")
    second = write("b.jsonl", qa("q2", "a2") + "\n" + qa("q3", "a3") + "\n" + qa("q3", "a3") + "\n")
    ingest(store, [first])
    [again] = ingest(store, [first])
    assert again.status == "already imported"
    [other] = ingest(store, [second])
    assert (other.rows_stored, other.rows_duplicate) == (1, 2)
    assert store.scalar("SELECT count(*) FROM raw_logs") == 3
    assert store.scalar("SELECT count(*) FROM sources") == 2


def test_a_cyrillic_file_in_windows_1251(store, write):
    rows = [qa(f"Где находится вокзал номер {i}? Как добраться до центра города?", "Поверните направо у кафе.")
            for i in range(20)]
    path = write("cp1251.jsonl", ("\n".join(rows) + "\n").encode("cp1251"))
    [report] = ingest(store, [path])
    assert report.rows_stored == 20
    assert stored_questions(store)[0].startswith("Где находится вокзал номер 0?")
