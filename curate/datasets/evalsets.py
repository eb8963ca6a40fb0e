"""Evaluation sets: a frozen, named set of questions with reference answers, so that every model,
iteration and dataset version is scored on the same questions.

A set is made from a dataset version's held-out split, from pairs of a status (approved), or from
a file of questions and answers; its text is frozen when it is made. Once a set exists, every
dataset build leaves out its pairs and their exact, MinHash and semantic near-duplicates
(`exclusions`), and says how many.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

from curate.errors import TuneloopError, not_found
from curate.pairs.offtopic import refusal_pattern, should_refuse
from curate.pairs.status import STATUSES, status_in
from curate.store import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FIELDS = ("instruction", "input", "response", "context", "system", "topic", "origin")


def _sample(rows: list[dict], size: int | None, share: float | None, seed: int) -> list[dict]:
    if size is not None and share is not None:
        raise TuneloopError("give --size or --share, not both")
    if share is not None and not 0 < share <= 1:
        raise TuneloopError("--share is a share between 0 and 1")
    n = len(rows) if size is None and share is None else (size if size is not None else round(share * len(rows)))
    if n < 1:
        raise TuneloopError("an evaluation set needs at least one question")
    if n > len(rows):
        raise TuneloopError(f"asked for {n} questions but only {len(rows)} are there")
    return sorted(random.Random(seed).sample(rows, n), key=lambda r: (r.get("pair_id") or 0, r["instruction"]))


def _from_file(path: str | Path) -> tuple[list[dict], list[str]]:
    """The questions and answers of a file, and each line left out with its reason."""
    from curate.ingest import readers
    from curate.ingest.records import RecordError, to_normal_form

    path = Path(path)
    if not path.is_file():
        raise TuneloopError(f"{path}: no such file")
    encoding = readers.sniff_encoding(path)
    rows, problems = [], []
    for item in readers.read_items(path, readers.detect_container(path, encoding), encoding):
        if item.notice:
            continue
        if item.error:
            problems.append(f"{path.name} line {item.line}: {item.error}")
            continue
        try:
            record = to_normal_form(item.value)
        except RecordError as exc:
            problems.append(f"{path.name} line {item.line}: {exc}")
            continue
        if record.kind != "qa":
            problems.append(f"{path.name} line {item.line}: not a question and answer")
            continue
        p = record.payload
        rows.append({"pair_id": None, "instruction": p["instruction"], "input": p.get("input"), "response": p["response"],
                     "context": p.get("context"), "system": p.get("system"), "topic": p.get("topic"),
                     "origin": "offtopic" if refusal_pattern().search(p["response"]) else "extracted"})
    if not rows:
        raise TuneloopError(f"{path.name}: no questions with answers" + (f" ({problems[0]})" if problems else ""))
    return rows, problems


def create_evalset(store: Store, name: str, *, from_dataset: str | None = None, from_status: str | None = None,
                   from_file: str | Path | None = None, size: int | None = None, share: float | None = None,
                   seed: int = 0) -> dict:
    """Freeze a named evaluation set from one source; returns its summary."""
    if not _NAME.match(name or ""):
        raise TuneloopError("an evaluation set's name is letters, digits, '.', '_' or '-' (up to 64)")
    if sum(x is not None for x in (from_dataset, from_status, from_file)) != 1:
        raise TuneloopError("name one source: --from-dataset VERSION, --from-status STATUS or --from FILE")
    if store.scalar("SELECT count(*) FROM eval_sets WHERE name = ?", [name]):
        raise TuneloopError(f"evaluation set {name!r} exists; sets are frozen, choose a new name")
    if from_dataset is not None:
        from curate.datasets.versions import get_version, version_items

        problems: list[str] = []
        rows = version_items(store, get_version(store, from_dataset)["id"], "test")
        lineage = {"dataset": from_dataset, "split": "test"}
    elif from_status is not None:
        if from_status not in STATUSES:
            raise TuneloopError(f"unknown status {from_status!r}; choose one of {', '.join(STATUSES)}")
        problems = []
        rows = store.rows(f"SELECT id AS pair_id, {', '.join(_FIELDS)} FROM pairs p"
                          f" WHERE {status_in((from_status,))} ORDER BY id")
        for r in rows:
            r["context"] = json.loads(r["context"]) if r["context"] else None
        lineage = {"status": from_status}
    else:
        rows, problems = _from_file(from_file)
        lineage = {"file": str(Path(from_file).resolve()), "lines_left_out": len(problems)}
    if not rows:
        raise TuneloopError("nothing to make the evaluation set from")
    chosen = _sample(rows, size, share, seed)
    refusal = refusal_pattern({r["response"] for r in rows if r["origin"] == "offtopic"})
    with store.transaction() as con:
        set_id = con.execute("INSERT INTO eval_sets (name, lineage) VALUES (?, ?) RETURNING id",
                             [name, json.dumps({**lineage, "size": len(chosen), "of": len(rows), "seed": seed})]
                             ).fetchone()[0]
        for r in chosen:
            con.execute("INSERT INTO eval_set_items (set_id, pair_id, instruction, input, response, context, system,"
                        " topic, origin, should_refuse) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [set_id, r.get("pair_id"), r["instruction"], r.get("input"), r["response"],
                         json.dumps(r["context"]) if r.get("context") else None, r.get("system"), r.get("topic"),
                         r["origin"], should_refuse(r, refusal)])
    return {**get_evalset(store, name), "problems": problems}


def get_evalset(store: Store, name: str) -> dict:
    row = store.one("SELECT s.id, s.name, s.lineage, s.created_at, count(i.id) AS items,"
                    " count(i.id) FILTER (WHERE i.should_refuse) AS must_refuse FROM eval_sets s"
                    " LEFT JOIN eval_set_items i ON i.set_id = s.id WHERE s.name = ? GROUP BY ALL", [name])
    if row is None:
        raise not_found("evaluation set", name, [r["name"] for r in store.rows("SELECT name FROM eval_sets ORDER BY id")],
                        "make one with `tuneloop evalset create`")
    row["lineage"] = json.loads(row["lineage"]) if row["lineage"] else {}
    return row


def evalsets_frame(store: Store):
    return store.frame("SELECT s.id, s.name, count(i.id) AS items, count(i.id) FILTER (WHERE i.should_refuse)"
                       " AS must_refuse, s.lineage, s.created_at FROM eval_sets s LEFT JOIN eval_set_items i"
                       " ON i.set_id = s.id GROUP BY ALL ORDER BY s.id")


def evalset_items(store: Store, set_id: int) -> list[dict]:
    rows = store.rows("SELECT * FROM eval_set_items WHERE set_id = ? ORDER BY id", [set_id])
    for r in rows:
        r["context"] = json.loads(r["context"]) if r["context"] else None
    return rows


def exclusions(store: Store, pairs: list[dict], near: float, semantic: float | None) -> dict[str, set[int]]:
    """Per evaluation set, the pairs to keep out of training: its own, and those whose question is an
    exact, MinHash or (with a threshold) semantic match of one of its questions."""
    from curate.dedupe.leakage import question_matches

    out: dict[str, set[int]] = {}
    if not pairs:
        return out
    for s in store.rows("SELECT id, name FROM eval_sets ORDER BY id"):
        items = evalset_items(store, s["id"])
        own = {i["pair_id"] for i in items if i["pair_id"] is not None}
        questions = [p["instruction"] for p in pairs] + [i["instruction"] for i in items]
        vectors = None
        if semantic:
            from curate.lm.embeddings import vectors_for

            vectors = vectors_for(store, questions)
        n = len(pairs)
        hit = set()
        for edges in question_matches(questions, near, semantic, vectors).values():
            for a, b in edges.tolist():
                if (a < n) != (b < n):
                    hit.add(pairs[min(a, b)]["id"])
        out[s["name"]] = {p["id"] for p in pairs if p["id"] in own} | hit
    return out
