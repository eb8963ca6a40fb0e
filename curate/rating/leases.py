"""Leases: a pair handed to an annotator is theirs for a while, then returns to the queue."""
from __future__ import annotations

LEASE_SECONDS = 600   # a pair handed out returns to the queue after ten idle minutes


def lease(con, pair_id: int, annotator_id: int, prefetched: bool = False) -> None:
    """Hand a pair to an annotator for LEASE_SECONDS (inside the caller's transaction)."""
    con.execute("INSERT INTO leases (pair_id, annotator_id, expires_at, prefetched)"
                " VALUES (?, ?, current_timestamp + to_seconds(?), ?)", [pair_id, annotator_id, LEASE_SECONDS, prefetched])
