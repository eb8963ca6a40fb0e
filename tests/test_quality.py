"""The quality scan: each check on real text, the scan over a store of real pairs with defects
injected, the findings listed and counted, and acting on them — undoable, and only on a person's say."""
import csv
import json
import random
import re

import pytest

from curate.ingest.importer import ingest
from curate.pairs.extract import extract
from curate.quality.checks import garbled, non_answer, placeholder, truncated
from curate.quality.findings import act, conflict_sides, count, findings, for_pair, keep_in_conflict, report
from curate.quality.scan import scan

from conftest import shared


def test_real_agent_deflections_are_non_answers_and_real_answers_are_not():
    with open(shared("twcs_customer_support", "twcs.csv"), newline="", encoding="utf-8") as fh:
        replies = [r["text"] for r in csv.DictReader(fh) if r["inbound"] == "False"]
    dm = [r for r in replies if " DM " in f" {r} " or "DM us" in r]
    assert dm and sum(non_answer.deflection_score(r)[0] >= non_answer.THRESHOLD for r in dm) / len(dm) >= 0.8
    answers = [json.loads(line)["answer"] for line in shared("lamini_docs", "lamini_docs.jsonl").read_text().splitlines()]
    flagged = [a for a in answers if non_answer.deflection_score(a)[0] >= non_answer.THRESHOLD]
    assert len(flagged) / len(answers) < 0.01   # an FAQ's answers, even those ending "reach out for more"


def test_mojibake_html_and_placeholders_are_found_with_evidence():
    text = "We’ll send it today – sorry!".encode().decode("cp1252")
    found = garbled.check({"id": 1, "instruction": "When?", "response": text})
    assert found and "We’ll" in found.detail and found.score >= garbled.THRESHOLD
    assert garbled.check({"id": 2, "instruction": "Q", "response": "Fish &amp; chips"}).detail.startswith("answer: HTML")
    assert garbled.check({"id": 3, "instruction": "Q", "response": "Plain and fine."}) is None
    for empty in ("N/A", "TBD", "see above", " - ", "To be added.", "{{answer}}"):
        assert placeholder.check({"id": 4, "instruction": "Q", "response": empty}) is not None, empty
    assert placeholder.check({"id": 5, "instruction": "Q", "response": "Not applicable in the EU."}) is None


def test_a_scan_of_an_empty_store_finds_nothing_and_says_so(store):
    report_ = scan(store)
    assert (report_.pairs, report_.counts, report(store)["flagged_pairs"]) == (0, {}, 0)


def test_answers_cut_at_a_field_limit_are_truncated():
    full = [f"Answer number {i} explains the setting in detail and then says what to do next." for i in range(30)]
    cut = [a[:40] for a in full[:5]]
    pairs = [{"id": i, "response": a} for i, a in enumerate(cut + full[5:])]
    found = {f.pair_id for f in truncated.check_all(pairs)}
    assert found == {0, 1, 2, 3, 4}


def _store_with_defects(store, write, n=160):
    rows = [json.loads(line) for line in shared("lamini_docs", "lamini_docs.jsonl").read_text().splitlines()]
    seen, clean = set(), []
    for r in rows:
        if r["question"] not in seen:
            seen.add(r["question"])
            clean.append({"question": r["question"], "answer": r["answer"]})
    rng = random.Random(0)
    clean = clean[:n]
    labels = {}
    for i in range(40, 46):   # a join that slipped by a row
        clean[i]["answer"] = clean[i + 1]["answer"]
        labels[clean[i]["question"]] = "misaligned"
    for i, empty in zip(range(60, 64), ("N/A", "TBD", "see above", "-")):
        clean[i]["answer"] = empty
        labels[clean[i]["question"]] = "placeholder"
    for i in range(70, 74):
        clean[i]["answer"] = "Hi there! Please DM us your account email so we can look into this for you. ^JS"
        labels[clean[i]["question"]] = "non_answer"
    clean.append({"question": clean[100]["question"], "answer": clean[rng.randrange(110, 150)]["answer"]})
    labels[clean[100]["question"]] = "conflict"
    ingest(store, [write("noisy.jsonl", "".join(json.dumps(r) + "\n" for r in clean))])
    extract(store)
    return labels


@pytest.mark.embeddings
def test_the_scan_finds_the_injected_defects_and_stores_evidence(store, write, cli):
    labels = _store_with_defects(store, write)
    result = scan(store)
    assert result.flagged_pairs / result.pairs < 0.25 and store.scalar("SELECT count(*) FROM pairs WHERE status = 'new'") \
        == result.pairs   # nothing changed
    found = {(f["instruction"], f["kind"]) for f in findings(store)}
    for question, kind in labels.items():
        if kind != "misaligned":
            assert (question, kind) in found, (kind, question)
    assert sum((q, "misaligned") in found for q, k in labels.items() if k == "misaligned") >= 3
    conflict = [f for f in findings(store, "conflict")]
    assert len(conflict) == 2 and all(f["related"] for f in conflict)
    lines = [json.loads(line) for line in cli("quality", "list", "--format", "jsonl").output.splitlines()]
    assert lines and {"pair_id", "kind", "score", "instruction", "response", "detail"} <= set(lines[0])
    counted = report(store)
    assert counted["by_kind"]["placeholder"] == 4 and counted["by_source"][0]["source"] == "noisy.jsonl"
    assert counted["open_by_kind"]["placeholder"] == 4   # none settled yet
    assert re.search(r"placeholder\s+4\s+4 still to settle", cli("quality", "report").output)


@pytest.mark.embeddings
def test_bulk_actions_need_apply_and_are_undone_as_one_change(store, write, cli):
    _store_with_defects(store, write)
    scan(store, ["placeholder", "non_answer"])
    before = dict(store.rows("SELECT id, status FROM pairs") and [(r["id"], r["status"]) for r in
                                                                   store.rows("SELECT id, status FROM pairs")])
    dry = cli("quality", "apply", "--kind", "placeholder", "--min-score", "0.8", "--action", "reject")
    assert "would reject 4 pairs" in dry.output and store.scalar("SELECT count(*) FROM pairs WHERE status = 'rejected'") == 0
    done = cli("quality", "apply", "--kind", "placeholder", "--min-score", "0.8", "--action", "reject", "--apply")
    assert "4 pairs changed" in done.output
    assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'rejected'") == 4
    sent = act(store, "non_answer", 0.6, "review", apply=True)
    assert sent["changed"] >= 4 and store.scalar("SELECT count(*) FROM pairs WHERE status = 'flagged'") == sent["changed"]
    cli("quality", "undo")   # the latest change: back to the rating queue undone
    assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'flagged'") == 0
    assert "undid change" in cli("quality", "undo").output
    assert {r["id"]: r["status"] for r in store.rows("SELECT id, status FROM pairs")} == before
    assert cli("quality", "undo", "--change", "1").exit_code == 1   # undone already: one clear line


@pytest.mark.embeddings
def test_a_conflict_is_settled_by_keeping_one_answer(store, write):
    _store_with_defects(store, write)
    scan(store, ["conflict"])
    found = findings(store, "conflict")
    first, second = [f["pair_id"] for f in found]
    assert for_pair(store, first)[0]["kind"] == "conflict" and count(store, "conflict") == 2
    sides = conflict_sides(store, found[0])
    assert [s["id"] for s in sides] == [found[0]["pair_id"], *found[0]["related"]] and sides[0]["response"]
    keep_in_conflict(store, [first], [first, second])
    assert store.scalar("SELECT status FROM pairs WHERE id = ?", [second]) == "rejected"
    assert count(store, "conflict") == 1
    assert {s["id"]: s["status"] for s in conflict_sides(store, found[0])} == {first: "new", second: "rejected"}
    assert store.scalar("SELECT status FROM pairs WHERE id = ?", [first]) == "new"
    assert keep_in_conflict(store, [first, second], [first, second])["changed"] == 0   # both kept: nothing rejected


def _app(db_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from streamlit_app.common import _open

    from conftest import ROOT

    monkeypatch.setenv("TUNELOOP_DB", str(db_path))
    _open.clear()
    return AppTest.from_file(str(ROOT / "streamlit_app" / "app.py"), default_timeout=90)


def test_the_quality_page_shows_findings_acts_with_confirmation_and_undoes(store, db_path, write, monkeypatch):
    _store_with_defects(store, write)
    scan(store, ["placeholder", "non_answer", "garbled", "truncated"])
    at = _app(db_path, monkeypatch).run()
    at.switch_page("views/quality.py").run()
    assert not at.exception and any("placeholder" in m.label for m in at.metric)
    at.selectbox[0].select("placeholder").run()
    assert any("the answer is a placeholder" in i.value for i in at.info)
    [go] = [b for b in at.button if b.label.startswith("Reject") or b.label.startswith("Review")]
    assert go.disabled   # not before the confirmation is ticked
    at.radio[0].set_value("reject").run()
    [confirm] = [c for c in at.checkbox if c.label.startswith("Yes, reject")]
    confirm.check().run()
    [go] = [b for b in at.button if b.label.startswith("Reject ")]
    [before] = [m.value for m in at.metric if m.label == "placeholder"]
    go.click().run()
    assert not at.exception and store.scalar("SELECT count(*) FROM pairs WHERE status = 'rejected'") == 4
    # the page reran: what was done is said, the count is what is left, the list no longer shows them
    assert any("4 pairs changed" in s.value for s in at.success)
    assert before == "4" and [m.value for m in at.metric if m.label == "placeholder"] == ["0"]
    assert not any("the answer is a placeholder" in i.value for i in at.info)
    [undo] = [b for b in at.button if b.label.startswith("Undo change")]
    undo.click().run()
    assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'rejected'") == 0
    assert [m.value for m in at.metric if m.label == "placeholder"] == ["4"]


def test_the_rate_page_shows_the_scans_findings_beside_the_pair(store, db_path, write, monkeypatch):
    _store_with_defects(store, write)
    scan(store, ["placeholder"])
    store.execute("UPDATE pairs SET status = 'approved' WHERE response NOT IN ('N/A', 'TBD', 'see above', '-')")
    at = _app(db_path, monkeypatch).run()
    at.switch_page("views/rate.py").run()
    assert not at.exception
    assert any("Quality scan" in w.value and "placeholder" in w.value for w in at.warning)
