"""Annotators' answers: checked against the schema, stored append-only, undone by a retraction;
an edited response becomes a new pair version. Ratings made outside the app come in as JSON lines."""
from __future__ import annotations

import json
from pathlib import Path

from curate.errors import TuneloopError
from curate.pairs.rows import insert_pairs, version_of
from curate.pairs.status import REJECTED, set_status
from curate.rating.leases import lease
from curate.rating.schema import get_rule, get_schema
from curate.rating.settle import settle, unsettle
from curate.store import Store


def validate(schema: dict, answers: dict) -> dict:
    """Answers checked against the schema, as strings; raises TuneloopError naming the problem."""
    clean = {}
    questions = {q["name"]: q for q in schema["questions"]}
    for name in answers:
        if name not in questions:
            raise TuneloopError(f"unknown question {name!r}; the schema has {', '.join(questions)}")
    for name, q in questions.items():
        value = answers.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if q.get("required"):
                raise TuneloopError(f"{q.get('title', name)} is required")
            continue
        if q["type"] in ("rating", "label"):
            allowed = [str(v) for v in q["values"]]
            if str(value) not in allowed:
                raise TuneloopError(f"{q.get('title', name)}: {value!r} is not one of {', '.join(allowed)}")
        clean[name] = str(value)
    return clean


def submit(store: Store, annotator_id: int, pair_id: int, answers: dict) -> int:
    """Store one annotator's answers for a pair (append-only), release its lease, and settle the
    pair under the team's rule at once (rating.settle). An edited response becomes a new pair
    (origin=edited) linked to this one; approved, it takes the original's place. Returns the
    submission id."""
    with store.connect():   # one turn at the file for the whole call
        return _submit(store, annotator_id, pair_id, answers)


def _submit(store: Store, annotator_id: int, pair_id: int, answers: dict) -> int:
    schema, rule = get_schema(store), get_rule(store)
    clean = validate(schema, answers)
    pair = store.one("SELECT * FROM pairs WHERE id = ?", [pair_id])
    if pair is None:
        raise TuneloopError(f"no pair {pair_id}")
    edited = [q["name"] for q in schema["questions"] if q["type"] == "text_edit"]
    for name in edited:
        if name in clean and clean[name].strip() == pair["response"].strip():
            del clean[name]  # unchanged: not an edit
    with store.transaction() as con:
        submission = write_answers(store, annotator_id, pair_id, clean)
        for name in edited:
            if name in clean:
                insert_pairs(store, [version_of(pair, origin="edited", response=clean[name],
                                                lineage={"edited_by": annotator_id, "submission": submission})])
        settle(con, pair_id, rule)
    return submission


def write_answers(store: Store, annotator_id: int, pair_id: int, answers: dict) -> int:
    """Append one submission's rows and let go of the annotator's lease on the pair."""
    with store.transaction() as con:
        submission = con.execute("SELECT nextval('seq_submissions')").fetchone()[0]
        for question, value in answers.items():
            con.execute("INSERT INTO ratings (submission_id, pair_id, annotator_id, question, value)"
                        " VALUES (?, ?, ?, ?, ?)", [submission, pair_id, annotator_id, question, value])
        con.execute("DELETE FROM leases WHERE annotator_id = ? AND pair_id = ?", [annotator_id, pair_id])
    return submission


def skip(store: Store, annotator_id: int, pair_id: int) -> None:
    """Pass on a pair: it goes to someone else, and does not come back to this annotator."""
    write_answers(store, annotator_id, pair_id, {"_skipped": "1"})


def undo_last(store: Store, annotator_id: int) -> int | None:
    """Retract this annotator's last submission (its answers become NULL, an edit it made is
    withdrawn, the status it gave the pair taken back) and give the pair back to them. Returns the
    pair id, or None if nothing to undo."""
    rule = get_rule(store)
    with store.transaction() as con:
        last = con.execute("SELECT submission_id, pair_id FROM current_ratings WHERE annotator_id = ?"
                           " ORDER BY submission_id DESC LIMIT 1", [annotator_id]).fetchone()
        if last is None:
            return None
        submission, pair_id = last
        questions = [r[0] for r in con.execute("SELECT question FROM current_ratings WHERE submission_id = ?",
                                                [submission]).fetchall()]
        undo = con.execute("SELECT nextval('seq_submissions')").fetchone()[0]
        for question in questions:
            con.execute("INSERT INTO ratings (submission_id, pair_id, annotator_id, question, value)"
                        " VALUES (?, ?, ?, ?, NULL)", [undo, pair_id, annotator_id, question])
        withdrawn = [r[0] for r in con.execute(
            "SELECT id FROM pairs WHERE origin = 'edited' AND parent_id = ? AND lineage->>'submission' = ?",
            [pair_id, str(submission)]).fetchall()]
        set_status(con, withdrawn, REJECTED)
        unsettle(con, pair_id, rule)
        lease(con, pair_id, annotator_id)
    return pair_id


def import_ratings(store: Store, path: str | Path, annotator_id: int) -> tuple[int, list[str]]:
    """Ratings from JSON lines ({"pair_id": …, "answers": {…}}). Bad lines are reported with their
    number and reason; the good ones are stored. Returns (stored, problems)."""
    stored, problems = 0, []
    name = Path(path).name
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                answers = {k: v for k, v in (record.get("answers") or {}).items() if v is not None}
                if not answers:
                    continue  # not rated yet
                submit(store, annotator_id, int(record["pair_id"]), answers)
                stored += 1
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, TuneloopError) as exc:
                problems.append(f"{name} line {n}: {exc}")
    return stored, problems
