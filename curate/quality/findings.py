"""The quality scan's findings read back and acted on, with a person in the loop: list them with
their evidence, count them by kind and source, then reject or send to the rating queue every
finding of a kind above a score — as one change that can be undone (curate.pairs.changes) — and
settle a conflict by keeping one answer or both. The latest scan is the one read."""
from __future__ import annotations

import json

from curate.errors import TuneloopError
from curate.pairs.changes import change_status
from curate.pairs.status import FLAGGED, REJECTED, RETIRED, status_not_in
from curate.quality.scan import KINDS
from curate.store import Store

ACTIONS = {"reject": REJECTED, "review": FLAGGED}   # what a bulk action does to the pairs it takes
FORMATS = ("table", "jsonl")


def latest_scan(store: Store) -> dict | None:
    row = store.one("SELECT * FROM quality_scans ORDER BY id DESC LIMIT 1")
    if row:
        for key in ("kinds", "thresholds", "counts"):
            row[key] = json.loads(row[key]) if row[key] else None
    return row


def _scan_id(store: Store) -> int:
    row = latest_scan(store)
    if row is None:
        raise TuneloopError("no quality scan yet: run `tuneloop quality scan` first")
    return row["id"]


def findings(store: Store, kind: str | None = None, min_score: float = 0.0, limit: int | None = None,
             offset: int = 0, in_play: bool = True) -> list[dict]:
    """The latest scan's findings, highest score first, with the pair's text (and, by default, only
    pairs still in play)."""
    if kind is not None and kind not in KINDS:
        raise TuneloopError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    rows = store.rows(
        "SELECT f.pair_id, f.kind, f.score, f.detail, f.related, f.check_name, f.model, p.instruction, p.response,"
        " p.status, s.name AS source FROM quality_findings f JOIN pairs p ON p.id = f.pair_id"
        " LEFT JOIN sources s ON s.id = p.source_id"
        " WHERE f.scan_id = ? AND (? IS NULL OR f.kind = ?) AND f.score >= ?"
        + (f" AND {status_not_in(RETIRED)}" if in_play else "")
        + " ORDER BY f.score DESC, f.pair_id LIMIT ? OFFSET ?",
        [_scan_id(store), kind, kind, min_score, limit, offset])
    for r in rows:
        r["related"] = json.loads(r["related"]) if r["related"] else []
    return rows


def count(store: Store, kind: str, min_score: float = 0.0) -> int:
    """How many pairs in play have a finding of `kind` at `min_score` or more (what a bulk action takes)."""
    return store.scalar(
        "SELECT count(DISTINCT f.pair_id) FROM quality_findings f JOIN pairs p ON p.id = f.pair_id"
        f" WHERE f.scan_id = ? AND f.kind = ? AND f.score >= ? AND {status_not_in(RETIRED)}",
        [_scan_id(store), kind, min_score])


def conflict_sides(store: Store, finding: dict, most: int = 3) -> list[dict]:
    """A conflict's answers side by side: the pair found and the pairs it conflicts with (at most
    `most`), each with its answer and status (a side already rejected shows as such)."""
    ids = [finding["pair_id"], *finding["related"]][:most]
    rows = {r["id"]: r for r in store.rows("SELECT id, response, status FROM pairs WHERE list_contains(?, id)", [ids])}
    return [rows[i] for i in ids if i in rows]


def report(store: Store) -> dict:
    """Counts of the latest scan's findings by kind (all, and those whose pair is still in play:
    not yet rejected or marked a duplicate), and by kind and source."""
    scan_id = _scan_id(store)
    by_kind = {r["kind"]: r["n"] for r in store.rows(
        "SELECT kind, count(*) AS n FROM quality_findings WHERE scan_id = ? GROUP BY 1 ORDER BY 2 DESC", [scan_id])}
    in_play = {r["kind"]: r["n"] for r in store.rows(
        "SELECT f.kind, count(*) AS n FROM quality_findings f JOIN pairs p ON p.id = f.pair_id"
        f" WHERE f.scan_id = ? AND {status_not_in(RETIRED)} GROUP BY 1", [scan_id])}
    by_source = store.rows(
        "SELECT coalesce(s.name, '(generated or edited)') AS source, f.kind, count(*) AS n FROM quality_findings f"
        " JOIN pairs p ON p.id = f.pair_id LEFT JOIN sources s ON s.id = p.source_id WHERE f.scan_id = ?"
        " GROUP BY 1, 2 ORDER BY 1, 3 DESC", [scan_id])
    scan = latest_scan(store)
    flagged = store.scalar("SELECT count(DISTINCT pair_id) FROM quality_findings WHERE scan_id = ?", [scan_id])
    return {"scan": scan_id, "pairs": scan["pairs_scanned"], "flagged_pairs": flagged, "by_kind": by_kind,
            "open_by_kind": {kind: in_play.get(kind, 0) for kind in by_kind}, "by_source": by_source,
            "thresholds": scan["thresholds"]}


def for_pair(store: Store, pair_id: int) -> list[dict]:
    """The latest scan's findings about one pair (the Rate page shows them as hints)."""
    return store.rows("SELECT kind, score, detail, related FROM quality_findings WHERE pair_id = ?"
                      " AND scan_id = (SELECT max(id) FROM quality_scans) ORDER BY score DESC", [pair_id])


def act(store: Store, kind: str, min_score: float, action: str, apply: bool = False, actor: str | None = None) -> dict:
    """Every finding of `kind` at `min_score` or more: what a bulk action would take (a sample with
    its evidence), and with apply=True the action itself — reject, or send to the rating queue —
    as one change that `undo` takes back."""
    if action not in ACTIONS:
        raise TuneloopError(f"unknown action {action!r}; choose {' or '.join(ACTIONS)}")
    found = findings(store, kind, min_score)
    out = {"kind": kind, "min_score": min_score, "action": action, "pairs": len({f["pair_id"] for f in found}),
           "sample": found[:10], "change": None, "changed": 0}
    if apply and found:
        change = change_status(store, [f["pair_id"] for f in found], ACTIONS[action],
                               f"quality: {kind} ≥ {min_score:g} → {ACTIONS[action]}", actor)
        out.update(change)
    return out


def keep_in_conflict(store: Store, keep: list[int], others: list[int], actor: str | None = None) -> dict:
    """Settle a conflict: the answers kept stay as they are, the others are rejected (one change,
    undoable). Keeping every answer rejects none."""
    drop = sorted(set(others) - set(keep))
    if not drop:
        return {"change": None, "changed": 0}
    return change_status(store, drop, REJECTED, f"conflict settled: kept {', '.join(map(str, keep))}", actor)
