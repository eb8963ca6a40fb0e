"""The one vocabulary of pair statuses, and the only place that writes them in SQL."""
from __future__ import annotations

# The one vocabulary of pair statuses, and the only place that writes them in SQL.
NEW = "new"              # extracted, generated or edited; waiting for ratings
FLAGGED = "flagged"      # sent back by evaluation, training losses or an A/B loss: rate it again
APPROVED = "approved"    # by the approval rule or a reviewer: goes into dataset versions
REJECTED = "rejected"    # by a reviewer, or a withdrawn edit
DUPLICATE = "duplicate"  # another member of its duplicate cluster is kept
REDACTED = "redacted"    # replaced by its version with personal data taken out (origin redacted)
SUPERSEDED = "superseded"  # replaced by a rater's edit of it (origin edited, parent_id this pair)
STATUSES = (NEW, FLAGGED, APPROVED, REJECTED, DUPLICATE, REDACTED, SUPERSEDED)
RETIRED = (DUPLICATE, REJECTED, REDACTED, SUPERSEDED)   # out of play: not deduped, rated, generated from or measured
SETTLED = (*RETIRED, APPROVED)    # nothing left to rate


def _quoted(statuses: tuple[str, ...]) -> str:
    for s in statuses:
        if s not in STATUSES:
            raise ValueError(f"unknown pair status {s!r}")
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"


def status_in(statuses: tuple[str, ...], alias: str = "p") -> str:
    """SQL condition: the pair's status is one of these."""
    return f"{alias}.status IN {_quoted(statuses)}"


def status_not_in(statuses: tuple[str, ...], alias: str = "p") -> str:
    """SQL condition: the pair's status is none of these."""
    return f"{alias}.status NOT IN {_quoted(statuses)}"


def active(alias: str = "p") -> str:
    """SQL condition: the pair is in play (not a duplicate, not rejected)."""
    return status_not_in(RETIRED, alias)


def to_rate(alias: str = "p") -> str:
    """SQL condition: the pair may still be handed out for rating (active, not yet approved)."""
    return status_not_in(SETTLED, alias)


def set_status(con, pair_ids, status: str, *, unless: tuple[str, ...] = ()) -> int:
    """Give pairs a status inside the caller's transaction, leaving those whose status is in
    `unless` as they are. Returns how many changed."""
    ids = list(pair_ids)
    if not ids:
        return 0
    _quoted((status, *unless))
    keep = f" AND {status_not_in(unless, 'pairs')}" if unless else ""
    return con.execute(f"UPDATE pairs SET status = ? WHERE list_contains(?, id){keep}", [status, ids]).fetchone()[0]


def restore_status(con, previous: dict[int, str], *, only_from: str) -> None:
    """Put back each pair's previous status, where it still has `only_from` (undoing a change)."""
    if previous:
        _quoted((only_from, *previous.values()))
        con.execute("UPDATE pairs p SET status = r.prev FROM (SELECT unnest(?::BIGINT[]) AS id,"
                    " unnest(?::VARCHAR[]) AS prev) r WHERE p.id = r.id AND p.status = ?",
                    [list(previous), list(previous.values()), only_from])


def send_to_review(con, pair_ids) -> int:
    """Put pairs back in the rating queue (flagged), inside the caller's transaction.
    Duplicates and rejected pairs stay as they are."""
    return set_status(con, pair_ids, FLAGGED, unless=RETIRED)
