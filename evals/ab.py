"""Blind A/B rating: two models' answers to the same held-out questions, side by side.

A study pairs two domain evaluation runs (A, usually the base model, and B, usually the
fine-tuned one) over the questions both answered. Annotators see the question and the two
answers as "left" and "right"; which side is A is decided at random per annotator and question
(a hash, so the page shows the same sides on every rerun) and stored with the vote. The result
is B's win rate over the decisive votes with a Wilson 95% confidence interval, and the ties.
Questions B lost go back to the rating queue as flagged.
"""
from __future__ import annotations

import hashlib
import json

from curate.errors import TuneloopError
from curate.pairs.status import send_to_review
from curate.store import Store

CHOICES = ("left", "tie", "right")


def create_study(store: Store, eval_run_a: int, eval_run_b: int) -> int:
    """A study over the questions both evaluation runs answered. Returns its id."""
    known = {r["id"] for r in store.rows("SELECT id FROM eval_runs WHERE list_contains(?, id)",
                                         [[eval_run_a, eval_run_b]])}
    for run_id in (eval_run_a, eval_run_b):
        if run_id not in known:
            raise TuneloopError(f"no domain evaluation run {run_id} (see `tuneloop eval domain`)")
    if eval_run_a == eval_run_b:
        raise TuneloopError("an A/B study needs two different evaluation runs")
    with store.transaction() as con:
        study_id = con.execute("INSERT INTO ab_studies (eval_run_a, eval_run_b) VALUES (?, ?) RETURNING id",
                               [eval_run_a, eval_run_b]).fetchone()[0]
        con.execute("INSERT INTO ab_items SELECT ?, a.pair_id, min(a.id), min(b.id) FROM model_outputs a"
                    " JOIN model_outputs b ON b.pair_id = a.pair_id AND b.eval_run_id = ?"
                    " WHERE a.eval_run_id = ? GROUP BY a.pair_id", [study_id, eval_run_b, eval_run_a])
        items = con.execute("SELECT count(*) FROM ab_items WHERE study_id = ?", [study_id]).fetchone()[0]
        if not items:
            raise TuneloopError(f"evaluation runs {eval_run_a} and {eval_run_b} answered no question in common")
    return study_id


def studies(store: Store) -> list[dict]:
    """Every study with its two models and its vote count, newest first."""
    return store.rows("SELECT s.id, s.eval_run_a, s.eval_run_b, ea.model AS model_a, eb.model AS model_b,"
                      " (SELECT count(*) FROM ab_items i WHERE i.study_id = s.id) AS items,"
                      " (SELECT count(*) FROM ab_votes v WHERE v.study_id = s.id) AS votes"
                      " FROM ab_studies s JOIN eval_runs ea ON ea.id = s.eval_run_a"
                      " JOIN eval_runs eb ON eb.id = s.eval_run_b ORDER BY s.id DESC")


def a_on_left(study_id: int, pair_id: int, annotator_id: int) -> bool:
    """The side A is shown on: random across questions and annotators, stable across reruns."""
    digest = hashlib.sha256(f"{study_id}:{pair_id}:{annotator_id}".encode()).digest()
    return digest[0] % 2 == 0


def next_item(store: Store, study_id: int, annotator_id: int) -> dict | None:
    """The next question this annotator has not judged (least-voted first), with its two answers
    as left and right. None when they have judged them all."""
    row = store.one(
        "SELECT i.pair_id, oa.prompt, p.instruction, p.input, oa.output AS output_a, ob.output AS output_b"
        " FROM ab_items i JOIN model_outputs oa ON oa.id = i.output_a JOIN model_outputs ob ON ob.id = i.output_b"
        " JOIN pairs p ON p.id = i.pair_id WHERE i.study_id = ? AND NOT EXISTS (SELECT 1 FROM ab_votes v"
        " WHERE v.study_id = i.study_id AND v.pair_id = i.pair_id AND v.annotator_id = ?)"
        " ORDER BY (SELECT count(*) FROM ab_votes v WHERE v.study_id = i.study_id AND v.pair_id = i.pair_id),"
        " hash(i.pair_id, ?) LIMIT 1", [study_id, annotator_id, annotator_id])
    if row is None:
        return None
    left_is_a = a_on_left(study_id, row["pair_id"], annotator_id)
    return {"pair_id": row["pair_id"], "question": row["instruction"] + (f"\n\n{row['input']}" if row["input"] else ""),
            "left": row["output_a"] if left_is_a else row["output_b"],
            "right": row["output_b"] if left_is_a else row["output_a"], "a_on_left": left_is_a}


def vote(store: Store, study_id: int, pair_id: int, annotator_id: int, preferred: str) -> str:
    """Record which side the annotator preferred (left, right or tie); returns it as a, b or tie.
    Voting again on the same question replaces the earlier vote."""
    if preferred not in CHOICES:
        raise TuneloopError(f"a vote is one of {', '.join(CHOICES)}, not {preferred!r}")
    if store.scalar("SELECT count(*) FROM ab_items WHERE study_id = ? AND pair_id = ?", [study_id, pair_id]) == 0:
        raise TuneloopError(f"pair {pair_id} is not in A/B study {study_id}")
    left_is_a = a_on_left(study_id, pair_id, annotator_id)
    choice = "tie" if preferred == "tie" else "a" if (preferred == "left") == left_is_a else "b"
    store.execute("INSERT OR REPLACE INTO ab_votes (study_id, pair_id, annotator_id, a_on_left, choice)"
                  " VALUES (?, ?, ?, ?, ?)", [study_id, pair_id, annotator_id, left_is_a, choice])
    return choice


def win_rate(store: Store, study_id: int, confidence: float = 0.95) -> dict:
    """B's wins over the decisive votes, with a Wilson confidence interval; ties counted apart."""
    from scipy.stats import binomtest

    counts = {r["choice"]: r["n"] for r in store.rows(
        "SELECT choice, count(*) AS n FROM ab_votes WHERE study_id = ? GROUP BY 1", [study_id])}
    a, b, tie = counts.get("a", 0), counts.get("b", 0), counts.get("tie", 0)
    out = {"study_id": study_id, "votes": a + b + tie, "a_wins": a, "b_wins": b, "ties": tie,
           "win_rate": None, "ci_low": None, "ci_high": None, "confidence": confidence}
    if a + b:
        ci = binomtest(b, a + b).proportion_ci(confidence_level=confidence, method="wilson")
        out.update(win_rate=b / (a + b), ci_low=float(ci.low), ci_high=float(ci.high))
    return out


def send_losses_to_review(store: Store, study_id: int) -> list[int]:
    """Questions where more votes preferred A than B: their pairs go back to the rating queue."""
    lost = [r["pair_id"] for r in store.rows(
        "SELECT pair_id FROM ab_votes WHERE study_id = ? GROUP BY pair_id"
        " HAVING count(*) FILTER (choice = 'a') > count(*) FILTER (choice = 'b') ORDER BY pair_id", [study_id])]
    with store.transaction() as con:
        send_to_review(con, lost)
    return lost


def preference_records(store: Store, study_ids: list[int] | None = None, min_agreement: float = 0.6):
    """Preferences from A/B votes (curate.preferences): per question of a study, the answer most
    voters chose is chosen and the other rejected. Ties, and questions where the winner's share of
    all votes (ties included) is under min_agreement, are left out and counted."""
    from collections import Counter

    from curate.datasets.preferences import Preference, question

    if not 0 < min_agreement <= 1:
        raise TuneloopError(f"--min-agreement {min_agreement}: give the winner's share of the votes, above 0 and up to 1")
    rows = store.rows(
        "SELECT i.study_id, i.pair_id, p.instruction, p.input, p.context, p.system, oa.output AS output_a,"
        " ob.output AS output_b, count(*) FILTER (v.choice = 'a') AS a, count(*) FILTER (v.choice = 'b') AS b,"
        " count(*) FILTER (v.choice = 'tie') AS tie"
        " FROM ab_items i JOIN ab_votes v ON v.study_id = i.study_id AND v.pair_id = i.pair_id"
        " JOIN model_outputs oa ON oa.id = i.output_a JOIN model_outputs ob ON ob.id = i.output_b"
        " JOIN pairs p ON p.id = i.pair_id"
        + (" WHERE list_contains(?, i.study_id)" if study_ids else "")
        + " GROUP BY ALL ORDER BY i.study_id, i.pair_id", [list(study_ids)] if study_ids else [])
    out, left_out = [], Counter()
    for r in rows:
        votes = r["a"] + r["b"] + r["tie"]
        if r["a"] == r["b"]:
            left_out["A/B tie"] += 1
            continue
        b_won = r["b"] > r["a"]
        share = max(r["a"], r["b"]) / votes
        if share < min_agreement:
            left_out[f"A/B voters agreed under {min_agreement:.0%}"] += 1
            continue
        if r["output_a"].strip() == r["output_b"].strip():
            left_out["A/B answers identical"] += 1
            continue
        out.append(Preference(
            "ab", f"study {r['study_id']} pair {r['pair_id']}", r["pair_id"], question(r["instruction"], r["input"]),
            chosen=r["output_b"] if b_won else r["output_a"], rejected=r["output_a"] if b_won else r["output_b"],
            context=json.loads(r["context"]) if r["context"] else None, system=r["system"], agreement=round(share, 3)))
    return out, left_out


def freeze_preferences(store: Store, out: str | None, name: str | None = None, studies: list[int] | None = None,
                       min_agreement: float = 0.6, fmt: str = "messages", test_size: float = 0.2, seed: int = 0) -> dict:
    """Every preference people have given — edits and reviewers' decisions (curate.datasets.preferences)
    and A/B votes (preference_records) — frozen as a version (default name prefs-N) and written to
    `out` as JSON lines. Returns the version's report."""
    from curate.datasets.preferences import build_preferences, from_edits

    edits, left_edits = from_edits(store)
    votes, left_votes = preference_records(store, studies, min_agreement)
    name = name or f"prefs-{store.scalar('SELECT count(*) FROM preference_versions') + 1}"
    return build_preferences(store, name, votes + edits, left_votes + left_edits, test_size=test_size, seed=seed,
                             out=out, fmt=fmt)
