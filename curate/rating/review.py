"""Where people settle a pair: disagreements between annotators, a reviewer's decision, and the
approval rule."""
from __future__ import annotations

from curate.errors import TuneloopError
from curate.pairs.status import APPROVED, DUPLICATE, REJECTED, RETIRED, SUPERSEDED, set_status, status_not_in, to_rate
from curate.rating.queue import DISAGREEMENT
from curate.rating.schema import ApprovalRule, get_rule
from curate.rating.settle import approve_pair
from curate.store import Store

DECISIONS = ("approve", "reject")


def disagreements(store: Store, limit: int = 50) -> list[dict]:
    """Pairs whose annotators disagree (quality spread ≥ 2 or conflicting verdicts) and that no
    reviewer has decided, with every annotator's answers."""
    rows = store.rows(f"""
        SELECT p.id, p.instruction, p.response, p.status FROM pairs p
        WHERE p.id IN ({DISAGREEMENT}) AND p.id NOT IN (SELECT pair_id FROM reviews)
          AND {status_not_in((DUPLICATE,))} ORDER BY p.id LIMIT ?""", [limit])
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
    from curate.rating.users import can

    if not can(reviewer, "review"):
        raise TuneloopError(f"{reviewer['name']} is an {reviewer['role']}; reviewing needs a reviewer or admin")
    if decision not in DECISIONS:
        raise TuneloopError("a review decides approve or reject")
    with store.transaction() as con:
        con.execute("INSERT INTO reviews (pair_id, reviewer_id, decision, note) VALUES (?, ?, ?, ?)",
                    [pair_id, reviewer["id"], decision, note])
        if decision == "approve":
            approve_pair(con, pair_id)
        else:
            set_status(con, [pair_id], REJECTED)


def approve(store: Store, rule: ApprovalRule | None = None) -> int:
    """Approve every pair that meets the rule: ≥ k ratings, mean quality ≥ threshold, no reject."""
    rule = rule or get_rule(store)
    with store.transaction() as con:
        ids = [r[0] for r in con.execute(f"""
            SELECT p.id FROM pairs p JOIN current_ratings r ON r.pair_id = p.id
            WHERE {to_rate()} AND p.id NOT IN (SELECT pair_id FROM reviews)
            GROUP BY p.id
            HAVING count(DISTINCT r.annotator_id) FILTER (WHERE r.question NOT LIKE '\\_%' ESCAPE '\\') >= ?
               AND avg(TRY_CAST(r.value AS DOUBLE)) FILTER (WHERE r.question = 'quality') >= ?
               AND count(*) FILTER (WHERE r.question = 'verdict' AND r.value = 'reject') = 0""",
            [rule.min_ratings, rule.min_quality]).fetchall()]
        set_status(con, ids, APPROVED)
        parents = [r[0] for r in con.execute("SELECT parent_id FROM pairs WHERE list_contains(?, id)"
                                              " AND origin = 'edited' AND parent_id IS NOT NULL", [ids]).fetchall()]
        set_status(con, parents, SUPERSEDED, unless=RETIRED)   # an approved edit takes its original's place
    return len(ids)
