"""The rating queue: which pair an annotator gets next (leased to them for ten minutes),
progress, and the pairs still wanting ratings for rating outside the app."""
from __future__ import annotations

import json
import threading
from pathlib import Path

from curate.errors import TuneloopError
from curate.pairs.status import FLAGGED, active, status_in, to_rate
from curate.rating.leases import lease
from curate.rating.schema import get_rule, get_schema
from curate.store import Store

# How many annotators have answered each pair ("_" questions such as _skipped are bookkeeping).
ANSWERED = """answered AS (SELECT pair_id, count(DISTINCT annotator_id) AS n FROM current_ratings
                           WHERE question NOT LIKE '\\_%' ESCAPE '\\' GROUP BY pair_id)"""

# Pairs whose annotators disagree: quality spread ≥ 2, or conflicting verdicts.
DISAGREEMENT = """
    SELECT pair_id FROM current_ratings WHERE question IN ('quality', 'verdict') GROUP BY pair_id
    HAVING count(DISTINCT annotator_id) >= 2 AND (
        max(TRY_CAST(value AS DOUBLE)) FILTER (WHERE question = 'quality')
        - min(TRY_CAST(value AS DOUBLE)) FILTER (WHERE question = 'quality') >= 2
        OR count(DISTINCT value) FILTER (WHERE question = 'verdict') > 1)"""

_assign = threading.Lock()  # threads of one process hand out pairs one at a time


def next_pair(store: Store, annotator_id: int) -> dict | None:
    """Lease the next pair to rate: unrated first, then flagged ones, then partly rated, then
    disagreements wanting one more opinion. Never a pair this annotator already rated or skipped.
    A pair already leased to them comes first (the one on screen, then one fetched ahead).
    Returns None when the queue is empty for them."""
    with store.connect():   # one turn at the file for the whole call
        k = get_rule(store).min_ratings
        with _assign, store.transaction() as con:
            con.execute("DELETE FROM leases WHERE expires_at <= current_timestamp")
            pair_id = held = _held(con, annotator_id)
            if held is None:
                pair_id = _choose(con, store, annotator_id, k)
                if pair_id is None:
                    return None
                lease(con, pair_id, annotator_id)
        return pair_view(store, pair_id)


def fetch_ahead(store: Store, annotator_id: int) -> int | None:
    """Lease the pair after the one on screen (marked prefetched), so that answering the current one
    shows the next without waiting for the queue's query — the slow part of a key press at a
    million pairs. Called once the current pair is shown; does nothing when one is already
    fetched ahead or the queue is empty. Returns the pair id leased, or None."""
    with store.connect():
        k = get_rule(store).min_ratings
        with _assign, store.transaction() as con:
            if con.execute("SELECT count(*) FROM leases WHERE annotator_id = ? AND prefetched"
                           " AND expires_at > current_timestamp", [annotator_id]).fetchone()[0]:
                return None
            pair_id = _choose(con, store, annotator_id, k)
            if pair_id is not None:
                lease(con, pair_id, annotator_id, prefetched=True)
            return pair_id


def _held(con, annotator_id: int) -> int | None:
    """The pair leased to this annotator that they see: the one on screen (the newest, so an undone
    pair comes back first), else the one fetched ahead, which becomes the one on screen — unless it
    was settled or reviewed meanwhile, when its lease goes and the queue is asked again."""
    row = con.execute(f"""
        SELECT l.pair_id, l.prefetched, {to_rate()} AND p.id NOT IN (SELECT pair_id FROM reviews)
        FROM leases l JOIN pairs p ON p.id = l.pair_id
        WHERE l.annotator_id = ? AND l.expires_at > current_timestamp
        ORDER BY l.prefetched, l.expires_at DESC LIMIT 1""", [annotator_id]).fetchone()
    if row is None:
        return None
    pair_id, prefetched, still_open = row
    if prefetched:
        if not still_open:
            con.execute("DELETE FROM leases WHERE annotator_id = ? AND pair_id = ?", [annotator_id, pair_id])
            return None
        con.execute("UPDATE leases SET prefetched = false WHERE annotator_id = ? AND pair_id = ?", [annotator_id, pair_id])
    return pair_id


def _choose(con, store: Store, annotator_id: int, k: int) -> int | None:
    """The queue's next pair for this annotator (the tiers of next_pair, each in the team's order),
    leaving out pairs leased to them already."""
    by, scorer, then = _order(store)
    row = con.execute(f"""
        WITH {ANSWERED},
             leased AS (SELECT pair_id, count(*) AS n FROM leases GROUP BY pair_id),
             mine AS (SELECT DISTINCT pair_id FROM current_ratings WHERE annotator_id = ?
                      UNION SELECT pair_id FROM leases WHERE annotator_id = ?),
             split AS ({DISAGREEMENT}),
             scored AS (SELECT pair_id, avg(score) AS score, count(*) FILTER (WHERE score IS NULL) > 0 AS unparsed
                        FROM pair_scores WHERE scorer = ? GROUP BY pair_id)
        SELECT p.id,
               CASE WHEN {status_in((FLAGGED,))} THEN 1 WHEN coalesce(a.n, 0) = 0 THEN 0
                    WHEN s.pair_id IS NOT NULL THEN 3 ELSE 2 END AS priority
        FROM pairs p LEFT JOIN answered a ON a.pair_id = p.id LEFT JOIN leased l ON l.pair_id = p.id
        LEFT JOIN split s ON s.pair_id = p.id LEFT JOIN scored j ON j.pair_id = p.id
        WHERE {to_rate()} AND p.id NOT IN (SELECT pair_id FROM mine)
          AND coalesce(a.n, 0) + coalesce(l.n, 0) < ? + CASE WHEN s.pair_id IS NOT NULL THEN 1 ELSE 0 END
          AND p.id NOT IN (SELECT pair_id FROM reviews)
        ORDER BY priority, {then} p.id LIMIT 1""", [annotator_id, annotator_id, scorer, k, *by]).fetchone()
    return row[0] if row else None


def _order(store: Store) -> tuple[list, str | None, str]:
    """The queue's order within each tier (curate.scores.set_queue_order): the parameters and
    ORDER BY terms that go before the pair id."""
    from curate.quality.scores import queue_order

    order = queue_order(store)
    if order["by"] == "low-score":
        return [], order["scorer"], "j.score ASC NULLS LAST,"
    if order["by"] == "uncertainty":
        return ([float(order["middle"])], order["scorer"],
                "CASE WHEN j.unparsed THEN -1 ELSE abs(j.score - ?) END ASC NULLS LAST,")
    return [], None, ""


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


def progress(store: Store, annotator_id: int) -> dict:
    """Pairs this annotator rated; pairs with enough ratings, of all active pairs."""
    k = get_rule(store).min_ratings
    return store.one(f"""
        WITH {ANSWERED}
        SELECT (SELECT count(DISTINCT pair_id) FROM current_ratings WHERE annotator_id = ?
                AND question NOT LIKE '\\_%' ESCAPE '\\') AS mine,
               count(*) FILTER (WHERE coalesce(a.n, 0) >= ?) AS done,
               count(*) AS total
        FROM pairs p LEFT JOIN answered a ON a.pair_id = p.id
        WHERE {active()}""", [annotator_id, k])


def export_for_annotation(store: Store, path: str | Path, limit: int | None = None) -> int:
    """Pairs still wanting ratings, as JSON lines an outside tool can fill in (add an "answers" object)."""
    k = get_rule(store).min_ratings
    rows = store.rows(f"""
        WITH {ANSWERED}
        SELECT p.id AS pair_id, p.instruction, p.input, p.response, p.context FROM pairs p
        LEFT JOIN answered a ON a.pair_id = p.id WHERE {to_rate()} AND coalesce(a.n, 0) < ?
        ORDER BY p.id LIMIT ?""", [k, limit if limit else None])
    questions = [q["name"] for q in get_schema(store)["questions"]]
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            row["context"] = json.loads(row["context"]) if row["context"] else None
            row["answers"] = {q: None for q in questions}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)
