import json
import random
import threading

import pytest

from curate import rating
from curate.errors import TuneloopError
from curate.pairs.rows import insert_pairs, make_pair
from curate.rating.users import add_user, authenticate, can, get_user, sign_in_required


@pytest.fixture
def fifty(store):
    insert_pairs(store, [make_pair(f"question {i}?", f"answer number {i}.", origin="extracted") for i in range(50)])
    return store


def people(store, n, role="annotator"):
    return [add_user(store, f"{role}{i}", role, "password123") for i in range(n)]


def rate_all(store, annotator, quality=4, verdict="approve"):
    rated = []
    while (pair := rating.next_pair(store, annotator)) is not None:
        rating.submit(store, annotator, pair["id"], {"quality": quality, "verdict": verdict})
        rated.append(pair["id"])
    return rated


def test_users_roles_and_passwords(store):
    assert not sign_in_required(store)
    add_user(store, "ann", "annotator", "correct horse")
    assert sign_in_required(store)
    assert authenticate(store, "ann", "correct horse")["role"] == "annotator"
    assert authenticate(store, "ann", "wrong password") is None
    assert store.scalar("SELECT password_hash FROM users").startswith("$argon2")
    with pytest.raises(TuneloopError, match="at least 8"):
        add_user(store, "bob", "annotator", "short")
    with pytest.raises(TuneloopError, match="already a user"):
        add_user(store, "ann", "reviewer", "another one")
    ann = get_user(store, "ann")
    assert can(ann, "rate") and not can(ann, "review") and not can(ann, "export")


def test_unrated_first_then_flagged_then_partly_rated(fifty):
    rating.set_rule(fifty, rating.ApprovalRule(min_ratings=2))
    a, b = people(fifty, 2)
    fifty.execute("UPDATE pairs SET status = 'flagged' WHERE id = 50")
    first = rating.next_pair(fifty, a)
    assert first["id"] == 1
    rating.submit(fifty, a, 1, {"quality": 5, "verdict": "approve"})
    # b: unrated pairs come before pair 1, which a already rated
    order = []
    for _ in range(51):
        pair = rating.next_pair(fifty, b)
        if pair is None:
            break
        order.append(pair["id"])
        rating.submit(fifty, b, pair["id"], {"quality": 3, "verdict": "approve"})
    assert order[:49] == list(range(2, 50)) + [50] or order[48] == 50
    assert order.index(50) < order.index(1)  # flagged before partly rated


def test_a_lease_holds_a_pair_and_lapses(fifty, monkeypatch):
    a, b = people(fifty, 2)
    held = rating.next_pair(fifty, a)
    assert rating.next_pair(fifty, a)["id"] == held["id"]  # asking again resumes the same pair
    assert rating.next_pair(fifty, b)["id"] != held["id"]
    fifty.execute("UPDATE leases SET expires_at = current_timestamp - INTERVAL 1 SECOND WHERE annotator_id = ?", [a])
    fifty.execute("DELETE FROM leases WHERE annotator_id = ?", [b])
    assert rating.next_pair(fifty, b)["id"] == held["id"]  # lapsed: back in the queue


def test_the_pair_after_the_one_on_screen_is_leased_ahead_and_shown_next(fifty):
    """fetch_ahead leases the queue's next pair while the current one is on screen: asking again
    still gives the current pair, answering it gives the one fetched ahead (no queue query), nobody
    else is handed it while one rating is all it needs, and an undone pair still comes back first."""
    rating.set_rule(fifty, rating.ApprovalRule(min_ratings=1))
    a, b = people(fifty, 2)
    current = rating.next_pair(fifty, a)["id"]
    ahead = rating.fetch_ahead(fifty, a)
    assert ahead not in (None, current)
    assert rating.fetch_ahead(fifty, a) is None   # one fetched ahead at a time
    assert rating.next_pair(fifty, a)["id"] == current   # a quality key reruns the page: same pair
    handed_to_b = {rating.next_pair(fifty, b)["id"]}
    for _ in range(3):
        pair = rating.next_pair(fifty, b)["id"]
        rating.submit(fifty, b, pair, {"quality": 3, "verdict": "approve"})
        handed_to_b.add(pair)
    assert current not in handed_to_b and ahead not in handed_to_b
    rating.submit(fifty, a, current, {"quality": 5, "verdict": "approve"})
    assert rating.next_pair(fifty, a)["id"] == ahead
    after = rating.fetch_ahead(fifty, a)
    assert after not in (None, current, ahead)
    assert rating.undo_last(fifty, a) == current
    assert rating.next_pair(fifty, a)["id"] == current   # the undone pair first
    rating.submit(fifty, a, current, {"quality": 4, "verdict": "approve"})
    assert rating.next_pair(fifty, a)["id"] == ahead   # then the one that was on screen
    rating.skip(fifty, a, ahead)
    assert rating.next_pair(fifty, a)["id"] == after


def test_a_pair_fetched_ahead_and_settled_meanwhile_is_not_shown(fifty):
    a, = people(fifty, 1)
    current = rating.next_pair(fifty, a)["id"]
    ahead = rating.fetch_ahead(fifty, a)
    fifty.execute("UPDATE pairs SET status = 'approved' WHERE id = ?", [ahead])   # e.g. a reviewer approved it
    rating.submit(fifty, a, current, {"quality": 5, "verdict": "approve"})
    shown = rating.next_pair(fifty, a)["id"]
    assert shown not in (current, ahead)
    assert fifty.scalar("SELECT count(*) FROM leases WHERE pair_id = ?", [ahead]) == 0


def test_ten_annotators_in_threads_lose_nothing_and_never_repeat(fifty):
    rating.set_rule(fifty, rating.ApprovalRule(min_ratings=3))
    annotators = people(fifty, 10)
    handed: dict[int, list[int]] = {a: [] for a in annotators}
    errors = []

    def work(annotator):
        rng = random.Random(annotator)
        try:
            while (pair := rating.next_pair(fifty, annotator)) is not None:
                handed[annotator].append(pair["id"])
                rating.submit(fifty, annotator, pair["id"], {"quality": rng.randint(4, 5), "verdict": "approve"})
        except Exception as exc:  # noqa: BLE001 - collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in annotators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    submitted = sum(len(v) for v in handed.values())
    assert submitted == 150  # 50 pairs × k = 3
    assert fifty.scalar("SELECT count(DISTINCT submission_id) FROM ratings") == submitted
    assert all(len(ids) == len(set(ids)) for ids in handed.values())
    per_pair = fifty.rows("SELECT pair_id, count(DISTINCT annotator_id) AS n FROM current_ratings"
                          " WHERE question = 'quality' GROUP BY 1")
    assert {r["n"] for r in per_pair} == {3} and len(per_pair) == 50


def test_answers_are_checked_against_the_schema(fifty):
    [a] = people(fifty, 1)
    with pytest.raises(TuneloopError, match="Quality is required"):
        rating.submit(fifty, a, 1, {"verdict": "approve"})
    with pytest.raises(TuneloopError, match="not one of 1, 2, 3, 4, 5"):
        rating.submit(fifty, a, 1, {"quality": 9, "verdict": "approve"})
    with pytest.raises(TuneloopError, match="unknown question"):
        rating.submit(fifty, a, 1, {"quality": 3, "verdict": "approve", "colour": "red"})


def test_ratings_are_append_only_and_undo_retracts(fifty):
    a, b = people(fifty, 2)
    rating.submit(fifty, a, 1, {"quality": 2, "verdict": "reject"})
    rating.submit(fifty, b, 1, {"quality": 5, "verdict": "approve"})
    rating.submit(fifty, a, 1, {"quality": 3, "verdict": "approve"})  # a changes their mind
    current = {(r["annotator_id"], r["question"]): r["value"] for r in fifty.rows("SELECT * FROM current_ratings")}
    assert current[(a, "quality")] == "3" and current[(b, "quality")] == "5"
    assert fifty.scalar("SELECT count(*) FROM ratings") == 6
    assert rating.undo_last(fifty, a) == 1
    current = {(r["annotator_id"], r["question"]) for r in fifty.rows("SELECT * FROM current_ratings")}
    assert (a, "quality") not in current and (b, "quality") in current
    assert rating.next_pair(fifty, a)["id"] == 1  # the pair comes back to them
    assert rating.undo_last(fifty, people(fifty, 1, "reviewer")[0]) is None


def test_an_edited_response_becomes_a_new_pair_version(fifty):
    [a] = people(fifty, 1)
    rating.submit(fifty, a, 3, {"quality": 2, "verdict": "needs-edit", "response": "A better answer."})
    edited = fifty.one("SELECT * FROM pairs WHERE origin = 'edited'")
    assert edited["parent_id"] == 3 and edited["response"] == "A better answer."
    assert edited["instruction"] == "question 2?" and edited["status"] == "new"
    rating.submit(fifty, a, 4, {"quality": 5, "verdict": "approve", "response": "answer number 3."})  # unchanged
    assert fifty.scalar("SELECT count(*) FROM pairs WHERE origin = 'edited'") == 1
    rating.undo_last(fifty, a)
    rating.undo_last(fifty, a)
    assert fifty.scalar("SELECT status FROM pairs WHERE origin = 'edited'") == "rejected"
    assert fifty.scalar("SELECT status FROM pairs WHERE id = 3") == "new"   # back in the queue


def test_approval_follows_the_rule(fifty):
    rating.set_rule(fifty, rating.ApprovalRule(min_ratings=2, min_quality=4.0))
    a, b = people(fifty, 2)
    status = lambda i: fifty.scalar("SELECT status FROM pairs WHERE id = ?", [i])  # noqa: E731
    rating.submit(fifty, a, 1, {"quality": 5, "verdict": "approve"})
    assert status(1) == "new"                                           # pending: one rating of two
    rating.submit(fifty, b, 1, {"quality": 4, "verdict": "approve"})   # mean 4.5, no reject → approved
    assert status(1) == "approved"
    rating.submit(fifty, a, 2, {"quality": 5, "verdict": "approve"})
    rating.submit(fifty, b, 2, {"quality": 5, "verdict": "reject"})    # they disagree → Review decides
    rating.submit(fifty, a, 3, {"quality": 4, "verdict": "approve"})
    rating.submit(fifty, b, 3, {"quality": 3, "verdict": "approve"})   # mean 3.5 → not approved
    rating.submit(fifty, a, 4, {"quality": 5, "verdict": "approve"})   # one rating only → not approved
    rating.submit(fifty, a, 5, {"quality": 2, "verdict": "reject"})
    rating.submit(fifty, b, 5, {"quality": 1, "verdict": "reject"})    # both reject → rejected
    assert [status(i) for i in range(1, 6)] == ["approved", "new", "new", "new", "rejected"]
    assert [d["id"] for d in rating.disagreements(fifty)] == [2]
    assert rating.approve(fifty) == 0                                  # the rule was applied as they rated


def test_with_one_rater_a_verdict_takes_effect_at_once_and_undo_takes_it_back(fifty):
    [a] = people(fifty, 1)
    status = lambda i: fifty.scalar("SELECT status FROM pairs WHERE id = ?", [i])  # noqa: E731
    rating.submit(fifty, a, 1, {"quality": 1, "verdict": "reject"})
    rating.submit(fifty, a, 2, {"quality": 5, "verdict": "approve"})
    rating.submit(fifty, a, 3, {"quality": 3, "verdict": "approve"})   # below the rule's 4: not approved
    assert [status(i) for i in (1, 2, 3)] == ["rejected", "approved", "new"]
    assert rating.next_pair(fifty, a)["id"] not in (1, 2, 3)
    rating.undo_last(fifty, a)
    rating.undo_last(fifty, a)
    rating.undo_last(fifty, a)
    assert [status(i) for i in (1, 2, 3)] == ["new", "new", "new"]


def test_an_approved_edit_is_what_the_dataset_gets(fifty, tiny_model_dir, tmp_path):
    from curate.datasets.build import DatasetConfig, build_dataset

    [a] = people(fifty, 1)
    rating.submit(fifty, a, 7, {"quality": 5, "verdict": "approve", "response": "Answer seven, corrected."})
    rating.submit(fifty, a, 8, {"quality": 5, "verdict": "approve"})
    edit = fifty.one("SELECT id, status, parent_id FROM pairs WHERE origin = 'edited'")
    assert edit["status"] == "approved" and edit["parent_id"] == 7
    assert fifty.scalar("SELECT status FROM pairs WHERE id = 7") == "superseded"
    build_dataset(fifty, DatasetConfig("v1", model=str(tiny_model_dir), max_length=64, test_size=0.0,
                                       semantic_threshold=None), export_root=tmp_path)
    built = {r["pair_id"]: r["response"] for r in fifty.rows("SELECT pair_id, response FROM dataset_items")}
    assert built == {edit["id"]: "Answer seven, corrected.", 8: "answer number 7."}
    rating.undo_last(fifty, a)   # pair 8
    rating.undo_last(fifty, a)   # the edit: withdrawn, and the original back in the queue
    assert fifty.scalar("SELECT status FROM pairs WHERE id = ?", [edit["id"]]) == "rejected"
    assert fifty.scalar("SELECT status FROM pairs WHERE id = 7") == "new"


def test_an_edit_approved_by_its_own_raters_supersedes_the_original(fifty):
    rating.set_rule(fifty, rating.ApprovalRule(min_ratings=2, min_quality=4.0))
    a, b, c = people(fifty, 3)
    rating.submit(fifty, a, 4, {"quality": 2, "verdict": "needs-edit", "response": "A fixed answer."})
    rating.submit(fifty, b, 4, {"quality": 2, "verdict": "needs-edit"})
    edit = fifty.scalar("SELECT id FROM pairs WHERE origin = 'edited'")
    assert fifty.scalar("SELECT status FROM pairs WHERE id = 4") == "superseded"
    assert fifty.scalar("SELECT status FROM pairs WHERE id = ?", [edit]) == "new"   # the edit is rated in turn
    rating.submit(fifty, b, edit, {"quality": 5, "verdict": "approve"})
    rating.submit(fifty, c, edit, {"quality": 4, "verdict": "approve"})
    assert fifty.scalar("SELECT status FROM pairs WHERE id = ?", [edit]) == "approved"


def test_disagreements_go_to_review_and_a_reviewer_decides(fifty):
    a, b = people(fifty, 2)
    [reviewer] = people(fifty, 1, "reviewer")
    rating.submit(fifty, a, 1, {"quality": 5, "verdict": "approve"})
    rating.submit(fifty, b, 1, {"quality": 2, "verdict": "approve"})   # spread 3
    rating.submit(fifty, a, 2, {"quality": 4, "verdict": "approve"})
    rating.submit(fifty, b, 2, {"quality": 4, "verdict": "reject"})    # conflicting verdicts
    rating.submit(fifty, a, 3, {"quality": 4, "verdict": "approve"})
    rating.submit(fifty, b, 3, {"quality": 3, "verdict": "approve"})   # close enough
    split = rating.disagreements(fifty)
    assert [d["id"] for d in split] == [1, 2]
    assert split[0]["ratings"]["annotator0"]["quality"] == "5" and split[0]["ratings"]["annotator1"]["quality"] == "2"
    with pytest.raises(TuneloopError, match="needs a reviewer"):
        rating.review(fifty, get_user(fifty, "annotator0"), 1, "approve")
    rating.review(fifty, get_user(fifty, "reviewer0"), 2, "approve")
    assert fifty.scalar("SELECT status FROM pairs WHERE id = 2") == "approved"
    assert [d["id"] for d in rating.disagreements(fifty)] == [1]


def test_agreement_equals_a_hand_computed_example(fifty):
    """Two annotators, four pairs: A says approve, approve, reject, reject; B approve, reject, reject, reject.
    Coincidences: o(aa) = 2, o(ab) = o(ba) = 1, o(bb) = 4; n_a = 3, n_b = 5, n = 8.
    Nominal alpha = 1 - (2/8) / ((3·5 + 5·3) / (8·7)) = 1 - 0.25 / 0.535714 = 0.533333.
    Cohen's kappa: p_o = 3/4, p_e = 0.5·0.25 + 0.5·0.75 = 0.5, kappa = 0.25 / 0.5 = 0.5."""
    a, b = people(fifty, 2)
    for pair, (va, vb) in enumerate([("approve", "approve"), ("approve", "reject"), ("reject", "reject"),
                                     ("reject", "reject")], start=1):
        rating.submit(fifty, a, pair, {"quality": 3, "verdict": va})
        rating.submit(fifty, b, pair, {"quality": 3, "verdict": vb})
    result = rating.agreement(fifty)
    assert result["questions"]["verdict"]["alpha"] == pytest.approx(0.533333, abs=1e-6)
    [kappa] = [k for k in result["kappa"] if k["question"] == "verdict"]
    assert kappa["kappa"] == pytest.approx(0.5) and kappa["pairs"] == 4
    by_name = {x["annotator"]: x for x in result["annotators"]}
    assert by_name["annotator0"]["submissions"] == 4


def test_export_and_import_for_annotation_outside_the_app(fifty, tmp_path, cli):
    [a] = people(fifty, 1)
    out = tmp_path / "to_rate.jsonl"
    assert rating.export_for_annotation(fifty, out, limit=3) == 3
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert set(lines[0]["answers"]) == {"quality", "verdict", "response", "note"}
    lines[0]["answers"].update(quality=5, verdict="approve")
    lines[1]["answers"].update(quality=7, verdict="approve")  # out of range
    out.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n")
    result = cli("rate", "import", str(out), "--annotator", "annotator0")
    assert result.exit_code == 0 and "stored 1 ratings; 2 lines refused" in result.output
    assert "to_rate.jsonl line 2: Quality: 7 is not one of" in result.output
    assert "to_rate.jsonl line 4" in result.output


def test_cli_approve_and_agreement(fifty, cli):
    rating.set_rule(fifty, rating.ApprovalRule(min_ratings=3))
    a, b = people(fifty, 2)
    rating.submit(fifty, a, 1, {"quality": 5, "verdict": "approve"})
    rating.submit(fifty, b, 1, {"quality": 4, "verdict": "approve"})   # pending: two of three
    result = cli("approve", "--min-ratings", "2", "--min-quality", "4")   # the rule changed: applied again
    assert "approved 1 pairs" in result.output
    assert rating.get_rule(fifty).min_ratings == 2
    assert "Krippendorff's alpha" in cli("agreement").output
    assert "added reviewer rita" in cli("users", "add", "rita", "--role", "reviewer", "--password", "long enough").output


def test_the_schema_is_data_and_checked(fifty):
    schema = {"questions": [{"name": "helpful", "title": "Helpful", "type": "label", "values": ["yes", "no"],
                             "required": True}], "guidelines": "Is it helpful?"}
    rating.set_schema(fifty, schema)
    assert rating.get_schema(fifty) == schema
    [a] = people(fifty, 1)
    rating.submit(fifty, a, 1, {"helpful": "yes"})
    with pytest.raises(TuneloopError, match="not one of yes, no"):
        rating.submit(fifty, a, 2, {"helpful": "maybe"})
    with pytest.raises(TuneloopError, match="type must be one of"):
        rating.set_schema(fifty, {"questions": [{"name": "x", "type": "slider"}]})


def test_a_pair_in_full_and_a_reviewers_edit_that_takes_its_place(fifty):
    from curate.pairs.changes import change_status
    from curate.rating.detail import edit_pair, pair_detail

    [a] = people(fifty, 1)
    people(fifty, 1, "reviewer")
    rating.submit(fifty, a, 5, {"quality": 5, "verdict": "approve"})
    change_status(fifty, [5, 6], "flagged", "a test's bulk change", "rita")
    shown = pair_detail(fifty, 5)
    assert shown["instruction"] == "question 4?" and shown["status"] == "flagged"
    assert [(r["annotator"], r["question"], r["value"]) for r in shown["ratings"]] == [
        ("annotator0", "quality", "5"), ("annotator0", "verdict", "approve")]
    assert [(c["from"], c["to"], c["by"]) for c in shown["changes"]] == [("approved", "flagged", "rita")]
    with pytest.raises(TuneloopError, match="needs a reviewer"):
        edit_pair(fifty, get_user(fifty, "annotator0"), 6, "question 5?", "better")
    assert edit_pair(fifty, get_user(fifty, "reviewer0"), 6, "question 5?", "answer number 5.") == 6  # no change
    new = edit_pair(fifty, get_user(fifty, "reviewer0"), 6, "question 5?", "A better answer five.")
    assert fifty.one("SELECT status, origin, parent_id, lineage->>'via' AS via FROM pairs WHERE id = ?", [new]) == {
        "status": "new", "origin": "edited", "parent_id": 6, "via": "pairs page"}
    assert fifty.scalar("SELECT status FROM pairs WHERE id = 6") == "superseded"
    assert pair_detail(fifty, 6)["edits"] == [new]
    with pytest.raises(TuneloopError, match="exactly this text"):
        edit_pair(fifty, get_user(fifty, "reviewer0"), 7, "question 5?", "A better answer five.")


def test_the_schema_form_rows_round_trip_and_name_what_is_wrong(store):
    from curate.rating.schema import DEFAULT_SCHEMA, schema_from_rows, schema_rows, set_schema

    rows = schema_rows(DEFAULT_SCHEMA)
    assert rows[0] == {"name": "quality", "title": "Quality", "type": "rating", "values": "1, 2, 3, 4, 5",
                       "required": True, "help": DEFAULT_SCHEMA["questions"][0]["help"]}
    rebuilt = schema_from_rows(rows + [{"name": None, "title": None, "type": None}], DEFAULT_SCHEMA["guidelines"])
    assert rebuilt == DEFAULT_SCHEMA   # the editor's empty new row is left out
    rows[0]["values"] = "bad, worse"
    with pytest.raises(TuneloopError, match="'quality': a rating's values are numbers"):
        schema_from_rows(rows, "")
    rows[0]["values"] = "1, 2, 3"
    rows.append({"name": "tone", "title": "", "type": "label", "values": "friendly, curt", "required": False})
    set_schema(store, schema_from_rows(rows, "be kind"))
    from curate.rating import get_schema
    saved = get_schema(store)
    assert saved["questions"][0]["values"] == [1, 2, 3] and saved["guidelines"] == "be kind"
    assert saved["questions"][-1] == {"name": "tone", "title": "tone", "type": "label", "required": False,
                                      "values": ["friendly", "curt"]}
