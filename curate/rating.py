"""Human rating: the schema, the queue with leases, append-only ratings, undo, edits as new pair
versions, disagreements, review, agreement statistics and the approval rule.

Ratings are rows per (pair, annotator, question); the latest row wins and a NULL value retracts
an answer (undo). Annotators never overwrite each other. Questions whose name starts with "_"
(like "_skipped") are bookkeeping, not answers.
"""
from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from curate.errors import TuneloopError
from curate.pairs import insert_pairs, make_pair
from curate.store import Store

LEASE_SECONDS = 600   # a pair handed out returns to the queue after ten idle minutes
ELIGIBLE = "p.status NOT IN ('duplicate', 'rejected', 'approved')"

DEFAULT_SCHEMA = {
    "questions": [
        {"name": "quality", "title": "Quality", "type": "rating", "values": [1, 2, 3, 4, 5], "required": True,
         "help": "1: wrong or harmful · 3: right but could be better · 5: exactly what we want"},
        {"name": "verdict", "title": "Verdict", "type": "label", "values": ["approve", "reject", "needs-edit"],
         "required": True},
        {"name": "response", "title": "Edited response", "type": "text_edit", "required": False},
        {"name": "note", "title": "Note", "type": "text", "required": False},
    ],
    "guidelines": (
        "### How to rate\n"
        "- **Quality** is about the answer: correct, complete, on topic, and in our voice.\n"
        "- **Approve** pairs you would be happy for the model to learn from as they are.\n"
        "- **Reject** wrong, harmful, duplicated or meaningless pairs.\n"
        "- **Needs edit**: fix the answer in the box; your version is stored as a new pair.\n"
        "- Off-topic questions answered with the refusal are good pairs: approve them.\n"
    ),
}
QUESTION_TYPES = ("rating", "label", "text_edit", "text")


@dataclass
class ApprovalRule:
    min_ratings: int = 1        # k: ratings a pair needs (1 for a solo user)
    min_quality: float = 4.0    # mean quality needed
    # and no annotator said reject; a reviewer's decision overrides the rule


# --------------------------------------------------------------------------- settings
def _get_setting(store: Store, key: str, default):
    row = store.scalar("SELECT value FROM settings WHERE key = ?", [key])
    return json.loads(row) if row is not None else default


def _set_setting(store: Store, key: str, value) -> None:
    store.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                  " updated_at = now()", [key, json.dumps(value)])


def get_schema(store: Store) -> dict:
    return _get_setting(store, "rating_schema", DEFAULT_SCHEMA)


def set_schema(store: Store, schema: dict) -> None:
    names = set()
    for q in schema.get("questions", []):
        if q.get("type") not in QUESTION_TYPES:
            raise TuneloopError(f"question {q.get('name')!r}: type must be one of {', '.join(QUESTION_TYPES)}")
        if not q.get("name") or q["name"].startswith("_") or q["name"] in names:
            raise TuneloopError(f"question names must be unique and not start with '_': {q.get('name')!r}")
        if q["type"] in ("rating", "label") and not q.get("values"):
            raise TuneloopError(f"question {q['name']!r} needs values")
        names.add(q["name"])
    if not names:
        raise TuneloopError("a rating schema needs at least one question")
    _set_setting(store, "rating_schema", schema)


def get_rule(store: Store) -> ApprovalRule:
    return ApprovalRule(**_get_setting(store, "approval_rule", {}))


def set_rule(store: Store, rule: ApprovalRule) -> None:
    if rule.min_ratings < 1:
        raise TuneloopError("a pair needs at least one rating")
    _set_setting(store, "approval_rule", asdict(rule))


# --------------------------------------------------------------------------- the queue
_assign = threading.Lock()  # threads of one process hand out pairs one at a time


def next_pair(store: Store, annotator_id: int) -> dict | None:
    """Lease the next pair to rate: unrated first, then flagged ones, then partly rated, then
    disagreements wanting one more opinion. Never a pair this annotator already rated or skipped.
    Returns None when the queue is empty for them."""
    k = get_rule(store).min_ratings
    with _assign, store.transaction() as con:
        con.execute("DELETE FROM leases WHERE expires_at <= current_timestamp")
        held = con.execute("SELECT pair_id FROM leases WHERE annotator_id = ? ORDER BY expires_at DESC LIMIT 1",
                           [annotator_id]).fetchone()
        if held:
            pair_id = held[0]
        else:
            row = con.execute(f"""
                WITH answered AS (SELECT pair_id, count(DISTINCT annotator_id) AS n FROM current_ratings
                                  WHERE question NOT LIKE '\\_%' ESCAPE '\\' GROUP BY pair_id),
                     leased AS (SELECT pair_id, count(*) AS n FROM leases GROUP BY pair_id),
                     mine AS (SELECT DISTINCT pair_id FROM current_ratings WHERE annotator_id = ?),
                     split AS ({_DISAGREEMENT_SQL})
                SELECT p.id,
                       CASE WHEN p.status = 'flagged' THEN 1 WHEN coalesce(a.n, 0) = 0 THEN 0
                            WHEN s.pair_id IS NOT NULL THEN 3 ELSE 2 END AS priority
                FROM pairs p LEFT JOIN answered a ON a.pair_id = p.id LEFT JOIN leased l ON l.pair_id = p.id
                LEFT JOIN split s ON s.pair_id = p.id
                WHERE {ELIGIBLE} AND p.id NOT IN (SELECT pair_id FROM mine)
                  AND coalesce(a.n, 0) + coalesce(l.n, 0) < ? + CASE WHEN s.pair_id IS NOT NULL THEN 1 ELSE 0 END
                  AND p.id NOT IN (SELECT pair_id FROM reviews)
                ORDER BY priority, p.id LIMIT 1""", [annotator_id, k]).fetchone()
            if row is None:
                return None
            pair_id = row[0]
            con.execute("INSERT INTO leases VALUES (?, ?, current_timestamp + to_seconds(?))",
                        [pair_id, annotator_id, LEASE_SECONDS])
    return pair_view(store, pair_id)


def send_to_review(con, pair_ids) -> None:
    """Put pairs back in the rating queue (status flagged), inside the caller's transaction.
    Duplicates and rejected pairs stay as they are."""
    if pair_ids:
        con.execute("UPDATE pairs SET status = 'flagged' WHERE list_contains(?, id)"
                    " AND status NOT IN ('duplicate', 'rejected')", [list(pair_ids)])


def pair_view(store: Store, pair_id: int) -> dict:
    """A pair with what a rater needs: context, lineage and where it came from."""
    row = store.one("SELECT p.*, s.name AS source, r.line AS source_line FROM pairs p"
                    " LEFT JOIN sources s ON s.id = p.source_id LEFT JOIN raw_logs r ON r.id = p.raw_log_id"
                    " WHERE p.id = ?", [pair_id])
    if row is None:
        raise TuneloopError(f"no pair {pair_id}")
    for key in ("context", "lineage"):
        row[key] = json.loads(row[key]) if row[key] else None
    return row


def release(store: Store, annotator_id: int, pair_id: int) -> None:
    store.execute("DELETE FROM leases WHERE annotator_id = ? AND pair_id = ?", [annotator_id, pair_id])


def skip(store: Store, annotator_id: int, pair_id: int) -> None:
    """Pass on a pair: it goes to someone else, and does not come back to this annotator."""
    _write(store, annotator_id, pair_id, {"_skipped": "1"})


# --------------------------------------------------------------------------- ratings
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
    """Store one annotator's answers for a pair (append-only) and release its lease. An edited
    response becomes a new pair (origin=edited) linked to this one. Returns the submission id."""
    schema = get_schema(store)
    clean = validate(schema, answers)
    pair = store.one("SELECT * FROM pairs WHERE id = ?", [pair_id])
    if pair is None:
        raise TuneloopError(f"no pair {pair_id}")
    edited = [q["name"] for q in schema["questions"] if q["type"] == "text_edit"]
    for name in edited:
        if name in clean and clean[name].strip() == pair["response"].strip():
            del clean[name]  # unchanged: not an edit
    with store.transaction():
        submission = _write(store, annotator_id, pair_id, clean)
        for name in edited:
            if name in clean:
                context = json.loads(pair["context"]) if pair["context"] else None
                insert_pairs(store, [make_pair(
                    pair["instruction"], clean[name], origin="edited", input=pair["input"], context=context,
                    system=pair["system"], topic=pair["topic"], source_id=pair["source_id"],
                    raw_log_id=pair["raw_log_id"], parent_id=pair_id,
                    lineage={"edited_by": annotator_id, "submission": submission})])
    return submission


def _write(store: Store, annotator_id: int, pair_id: int, answers: dict) -> int:
    with store.transaction() as con:
        submission = con.execute("SELECT nextval('seq_submissions')").fetchone()[0]
        for question, value in answers.items():
            con.execute("INSERT INTO ratings (submission_id, pair_id, annotator_id, question, value)"
                        " VALUES (?, ?, ?, ?, ?)", [submission, pair_id, annotator_id, question, value])
        con.execute("DELETE FROM leases WHERE annotator_id = ? AND pair_id = ?", [annotator_id, pair_id])
    return submission


def undo_last(store: Store, annotator_id: int) -> int | None:
    """Retract this annotator's last submission (its answers become NULL, an edit it made is
    withdrawn) and give the pair back to them. Returns the pair id, or None if nothing to undo."""
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
        con.execute("UPDATE pairs SET status = 'rejected' WHERE origin = 'edited' AND parent_id = ?"
                    " AND lineage->>'submission' = ?", [pair_id, str(submission)])
        con.execute("INSERT INTO leases VALUES (?, ?, current_timestamp + to_seconds(?))",
                    [pair_id, annotator_id, LEASE_SECONDS])
    return pair_id


def progress(store: Store, annotator_id: int) -> dict:
    k = get_rule(store).min_ratings
    return store.one(f"""
        WITH answered AS (SELECT pair_id, count(DISTINCT annotator_id) AS n FROM current_ratings
                          WHERE question NOT LIKE '\\_%' ESCAPE '\\' GROUP BY pair_id)
        SELECT (SELECT count(DISTINCT pair_id) FROM current_ratings WHERE annotator_id = ?
                AND question NOT LIKE '\\_%' ESCAPE '\\') AS mine,
               count(*) FILTER (WHERE coalesce(a.n, 0) >= ?) AS done,
               count(*) AS total
        FROM pairs p LEFT JOIN answered a ON a.pair_id = p.id
        WHERE p.status NOT IN ('duplicate', 'rejected')""", [annotator_id, k])


# --------------------------------------------------------------------------- review
_DISAGREEMENT_SQL = """
    SELECT pair_id FROM current_ratings WHERE question IN ('quality', 'verdict') GROUP BY pair_id
    HAVING count(DISTINCT annotator_id) >= 2 AND (
        max(TRY_CAST(value AS DOUBLE)) FILTER (WHERE question = 'quality')
        - min(TRY_CAST(value AS DOUBLE)) FILTER (WHERE question = 'quality') >= 2
        OR count(DISTINCT value) FILTER (WHERE question = 'verdict') > 1)"""


def disagreements(store: Store, limit: int = 50) -> list[dict]:
    """Pairs whose annotators disagree (quality spread ≥ 2 or conflicting verdicts) and that no
    reviewer has decided, with every annotator's answers."""
    rows = store.rows(f"""
        SELECT p.id, p.instruction, p.response, p.status FROM pairs p
        WHERE p.id IN ({_DISAGREEMENT_SQL}) AND p.id NOT IN (SELECT pair_id FROM reviews)
          AND p.status NOT IN ('duplicate') ORDER BY p.id LIMIT ?""", [limit])
    for row in rows:
        answers = store.rows("SELECT u.name AS annotator, r.question, r.value FROM current_ratings r"
                             " JOIN users u ON u.id = r.annotator_id WHERE r.pair_id = ?"
                             " AND r.question NOT LIKE '\\_%' ESCAPE '\\' ORDER BY u.name, r.question", [row["id"]])
        by_annotator: dict[str, dict] = {}
        for a in answers:
            by_annotator.setdefault(a["annotator"], {})[a["question"]] = a["value"]
        row["ratings"] = by_annotator
    return rows


def review(store: Store, reviewer: dict, pair_id: int, decision: str, note: str | None = None) -> None:
    """A reviewer's decision; it overrides the approval rule."""
    from curate.users import can

    if not can(reviewer, "review"):
        raise TuneloopError(f"{reviewer['name']} is an {reviewer['role']}; reviewing needs a reviewer or admin")
    if decision not in ("approve", "reject"):
        raise TuneloopError("a review decides approve or reject")
    with store.transaction() as con:
        con.execute("INSERT INTO reviews (pair_id, reviewer_id, decision, note) VALUES (?, ?, ?, ?)",
                    [pair_id, reviewer["id"], decision, note])
        con.execute("UPDATE pairs SET status = ? WHERE id = ?",
                    ["approved" if decision == "approve" else "rejected", pair_id])


# --------------------------------------------------------------------------- approval
def approve(store: Store, rule: ApprovalRule | None = None) -> int:
    """Approve every pair that meets the rule: ≥ k ratings, mean quality ≥ threshold, no reject."""
    rule = rule or get_rule(store)
    with store.transaction() as con:
        ids = [r[0] for r in con.execute(f"""
            SELECT p.id FROM pairs p JOIN current_ratings r ON r.pair_id = p.id
            WHERE {ELIGIBLE} AND p.id NOT IN (SELECT pair_id FROM reviews)
            GROUP BY p.id
            HAVING count(DISTINCT r.annotator_id) FILTER (WHERE r.question NOT LIKE '\\_%' ESCAPE '\\') >= ?
               AND avg(TRY_CAST(r.value AS DOUBLE)) FILTER (WHERE r.question = 'quality') >= ?
               AND count(*) FILTER (WHERE r.question = 'verdict' AND r.value = 'reject') = 0""",
            [rule.min_ratings, rule.min_quality]).fetchall()]
        if ids:
            con.execute("UPDATE pairs SET status = 'approved' WHERE list_contains(?, id)", [ids])
    return len(ids)


# --------------------------------------------------------------------------- agreement
def _matrix(store: Store, question: str) -> tuple[list[str], list[int], np.ndarray]:
    rows = store.rows("SELECT u.name, r.pair_id, r.value FROM current_ratings r JOIN users u ON u.id = r.annotator_id"
                      " WHERE r.question = ? ORDER BY u.name, r.pair_id", [question])
    names = sorted({r["name"] for r in rows})
    pairs = sorted({r["pair_id"] for r in rows})
    return names, pairs, rows


def agreement(store: Store) -> dict:
    """Krippendorff's alpha per question (ordinal for ratings, nominal for labels), Cohen's kappa
    per annotator pair, and each annotator's count, pace and agreement with the consensus."""
    import warnings

    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    warnings.filterwarnings("ignore", message=".*only one label in common.*")

    schema = get_schema(store)
    result = {"questions": {}, "kappa": [], "annotators": []}
    consensus: dict[str, dict[int, str]] = {}
    for q in schema["questions"]:
        if q["type"] not in ("rating", "label"):
            continue
        names, pairs, rows = _matrix(store, q["name"])
        values = [str(v) for v in q["values"]]
        code = {v: i for i, v in enumerate(values)}
        data = np.full((len(names), len(pairs)), np.nan)
        for r in rows:
            if r["value"] in code:
                data[names.index(r["name"]), pairs.index(r["pair_id"])] = code[r["value"]]
        level = "ordinal" if q["type"] == "rating" else "nominal"
        shared = int((np.sum(~np.isnan(data), axis=0) >= 2).sum()) if len(names) else 0
        alpha = None
        if shared >= 1 and len(names) >= 2:
            with np.errstate(invalid="ignore", divide="ignore"):
                try:
                    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level,
                                                     value_domain=list(range(len(values)))))
                except ValueError:
                    alpha = None
            if alpha is not None and np.isnan(alpha):
                alpha = None  # everyone gave one and the same value: agreement is undefined
        result["questions"][q["name"]] = {"alpha": alpha, "level": level, "pairs_with_2_or_more": shared}
        for a, b in combinations(range(len(names)), 2):
            both = ~np.isnan(data[a]) & ~np.isnan(data[b])
            if both.sum() >= 2:
                kappa = cohen_kappa_score(data[a, both], data[b, both], labels=list(range(len(values))),
                                          weights="linear" if level == "ordinal" else None,
                                          replace_undefined_by=np.nan)
                result["kappa"].append({"question": q["name"], "a": names[a], "b": names[b],
                                        "kappa": None if np.isnan(kappa) else float(kappa), "pairs": int(both.sum())})
        consensus[q["name"]] = {}
        for j, pair in enumerate(pairs):
            col = data[:, j][~np.isnan(data[:, j])]
            if len(col) >= 2:
                consensus[q["name"]][pair] = float(np.median(col)) if level == "ordinal" else \
                    float(np.bincount(col.astype(int)).argmax())
        result["questions"][q["name"]]["_data"] = (names, pairs, data, level)
    for user in store.rows("SELECT id, name, role FROM users ORDER BY name"):
        subs = store.rows("SELECT submission_id, min(created_at) AS at FROM current_ratings WHERE annotator_id = ?"
                          " AND question NOT LIKE '\\_%' ESCAPE '\\' GROUP BY 1 ORDER BY 2", [user["id"]])
        if not subs:
            continue
        gaps = np.diff([s["at"].timestamp() for s in subs])
        gaps = gaps[gaps < 1800]  # breaks of over half an hour are not rating time
        agree, total = 0, 0
        for qname, info in result["questions"].items():
            names, pairs, data, level = info["_data"]
            if user["name"] not in names:
                continue
            row = data[names.index(user["name"])]
            for j, pair in enumerate(pairs):
                if pair in consensus[qname] and not np.isnan(row[j]):
                    total += 1
                    agree += abs(row[j] - consensus[qname][pair]) <= (1 if level == "ordinal" else 0)
        result["annotators"].append({
            "annotator": user["name"], "role": user["role"], "submissions": len(subs),
            "median_seconds_per_pair": round(float(np.median(gaps)), 1) if len(gaps) else None,
            "agreement_with_consensus": round(float(agree) / total, 3) if total else None})
    for info in result["questions"].values():
        info.pop("_data")
    return result


# --------------------------------------------------------------------------- outside the app
def export_for_annotation(store: Store, path: str | Path, limit: int | None = None) -> int:
    """Pairs still wanting ratings, as JSON lines an outside tool can fill in (add an "answers" object)."""
    k = get_rule(store).min_ratings
    rows = store.rows(f"""
        WITH answered AS (SELECT pair_id, count(DISTINCT annotator_id) AS n FROM current_ratings
                          WHERE question NOT LIKE '\\_%' ESCAPE '\\' GROUP BY pair_id)
        SELECT p.id AS pair_id, p.instruction, p.input, p.response, p.context FROM pairs p
        LEFT JOIN answered a ON a.pair_id = p.id WHERE {ELIGIBLE} AND coalesce(a.n, 0) < ?
        ORDER BY p.id""" + (f" LIMIT {int(limit)}" if limit else ""), [k])
    questions = [q["name"] for q in get_schema(store)["questions"]]
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            row["context"] = json.loads(row["context"]) if row["context"] else None
            row["answers"] = {q: None for q in questions}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


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
