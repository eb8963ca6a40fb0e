"""Bulk status changes a person makes — a quality action, a filtered set on the Pairs page —
recorded with what each pair was before, so that the whole change can be undone as one action."""
from __future__ import annotations

from curate.errors import TuneloopError
from curate.pairs.status import STATUSES, restore_status, set_status
from curate.store import Store


def change_status(store: Store, pair_ids: list[int], status: str, reason: str, actor: str | None = None) -> dict:
    """Give the pairs a status, as one recorded change; pairs that already have it are left out.
    Returns {change, changed}."""
    if status not in STATUSES:
        raise TuneloopError(f"unknown pair status {status!r}; choose one of {', '.join(STATUSES)}")
    ids = sorted(set(pair_ids))
    with store.transaction() as con:
        before = con.execute("SELECT id, status FROM pairs WHERE list_contains(?, id) AND status <> ?",
                             [ids, status]).fetchall()
        if not before:
            return {"change": None, "changed": 0}
        change = con.execute("INSERT INTO status_changes (reason, actor, status) VALUES (?, ?, ?) RETURNING id",
                             [reason, actor, status]).fetchone()[0]
        con.executemany("INSERT INTO status_change_items VALUES (?, ?, ?)", [(change, i, s) for i, s in before])
        set_status(con, [i for i, _ in before], status)
    return {"change": change, "changed": len(before)}


def undo_change(store: Store, change_id: int | None = None) -> dict:
    """Undo a change (the newest not yet undone by default): each pair that still has the status it
    was given gets its earlier one back. Returns {change, restored}."""
    with store.transaction() as con:
        row = con.execute("SELECT id, status, undone_at FROM status_changes WHERE id = coalesce(?, (SELECT max(id)"
                          " FROM status_changes WHERE undone_at IS NULL))", [change_id]).fetchone()
        if row is None:
            raise TuneloopError("no change to undo" if change_id is None else f"no change {change_id}")
        change, status, undone = row
        if undone is not None:
            raise TuneloopError(f"change {change} was undone already")
        previous = dict(con.execute("SELECT pair_id, previous FROM status_change_items WHERE change_id = ?",
                                    [change]).fetchall())
        restored = con.execute("SELECT count(*) FROM pairs WHERE list_contains(?, id) AND status = ?",
                               [list(previous), status]).fetchone()[0]
        restore_status(con, previous, only_from=status)
        con.execute("UPDATE status_changes SET undone_at = current_timestamp WHERE id = ?", [change])
    return {"change": change, "restored": restored}


def changes_frame(store: Store, limit: int = 20):
    """The latest changes, for a page: what, by whom, how many pairs, whether undone."""
    return store.frame("SELECT c.id, c.reason, c.status, c.actor, count(i.pair_id) AS pairs, c.created_at, c.undone_at"
                       " FROM status_changes c LEFT JOIN status_change_items i ON i.change_id = c.id"
                       " GROUP BY ALL ORDER BY c.id DESC LIMIT ?", [limit])
