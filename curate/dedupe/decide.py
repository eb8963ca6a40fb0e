"""People's decisions on duplicate clusters: keep one, call a member distinct, dismiss, undo,
accept all; and the clusters read back for the Dedupe page.

Methods often find the same group (a MinHash and a semantic cluster of the same seven pairs):
clusters over exactly the same pairs in the same state are shown once, the lowest id standing
for the group with every method listed, and a decision on it is the decision on all of them
(the statuses are kept, and restored on undo, by the one shown)."""
from __future__ import annotations

from curate.errors import TuneloopError
from curate.pairs.status import DUPLICATE, restore_status, set_status
from curate.store import Store


def _cluster(con, cluster_id: int) -> dict:
    row = con.execute("SELECT id, keeper_id, state FROM dup_clusters WHERE id = ?", [cluster_id]).fetchone()
    if row is None:
        raise TuneloopError(f"no duplicate cluster {cluster_id}")
    return {"id": row[0], "keeper_id": row[1], "state": row[2]}


_KEYS = ("WITH keys AS (SELECT m.cluster_id, c.state, string_agg(m.pair_id::VARCHAR, ',' ORDER BY m.pair_id) AS members"
         " FROM dup_members m JOIN dup_clusters c ON c.id = m.cluster_id GROUP BY ALL)")


def _twins(con, cluster_id: int) -> list[int]:
    """The other clusters over exactly the same pairs, in the same state (other methods' finds)."""
    return [r[0] for r in con.execute(
        f"{_KEYS} SELECT b.cluster_id FROM keys a JOIN keys b ON b.members = a.members AND b.state = a.state"
        " WHERE a.cluster_id = ? AND b.cluster_id <> ? ORDER BY 1", [cluster_id, cluster_id]).fetchall()]


def resolve(store: Store, cluster_id: int, keeper_id: int | None = None, distinct: list[int] = ()) -> None:
    """Keep one member (the proposed keeper unless named), mark the others duplicate, except the
    ones a person called distinct."""
    with store.transaction() as con:
        cluster = _cluster(con, cluster_id)
        keeper_id = keeper_id or cluster["keeper_id"]
        members = [r[0] for r in con.execute("SELECT pair_id FROM dup_members WHERE cluster_id = ?",
                                             [cluster_id]).fetchall()]
        if keeper_id not in members:
            raise TuneloopError(f"pair {keeper_id} is not in cluster {cluster_id}")
        twins = _twins(con, cluster_id)
        _restore(con, cluster_id)
        con.execute("UPDATE dup_members SET decision = CASE WHEN pair_id = ? THEN 'keep'"
                    " WHEN list_contains(?, pair_id) THEN 'distinct' ELSE 'duplicate' END"
                    " WHERE list_contains(?, cluster_id)", [keeper_id, list(distinct), [cluster_id, *twins]])
        con.execute("UPDATE dup_members m SET prev_status = p.status FROM pairs p"
                    " WHERE m.pair_id = p.id AND m.cluster_id = ? AND m.decision = 'duplicate'", [cluster_id])
        set_status(con, [r[0] for r in con.execute("SELECT pair_id FROM dup_members WHERE cluster_id = ?"
                                                   " AND decision = 'duplicate'", [cluster_id]).fetchall()], DUPLICATE)
        con.execute("UPDATE dup_clusters SET keeper_id = ?, state = 'resolved', resolved_at = current_timestamp"
                    " WHERE list_contains(?, id)", [keeper_id, [cluster_id, *twins]])


def dismiss(store: Store, cluster_id: int) -> None:
    """Not duplicates after all: every member stays, statuses are restored."""
    with store.transaction() as con:
        _cluster(con, cluster_id)
        group = [cluster_id, *_twins(con, cluster_id)]
        _restore(con, cluster_id)
        con.execute("UPDATE dup_members SET decision = 'distinct' WHERE list_contains(?, cluster_id)", [group])
        con.execute("UPDATE dup_clusters SET state = 'dismissed', resolved_at = current_timestamp"
                    " WHERE list_contains(?, id)", [group])


def reopen(store: Store, cluster_id: int) -> None:
    """Undo a decision: statuses restored, the cluster proposed again."""
    with store.transaction() as con:
        _cluster(con, cluster_id)
        group = [cluster_id, *_twins(con, cluster_id)]
        for member in group:
            _restore(con, member)
        con.execute("UPDATE dup_members SET decision = NULL WHERE list_contains(?, cluster_id)", [group])
        con.execute("UPDATE dup_clusters SET state = 'proposed', resolved_at = NULL WHERE list_contains(?, id)",
                    [group])


def _restore(con, cluster_id: int) -> None:
    restore_status(con, dict(con.execute("SELECT pair_id, prev_status FROM dup_members WHERE cluster_id = ?"
                                         " AND decision = 'duplicate' AND prev_status IS NOT NULL",
                                         [cluster_id]).fetchall()), only_from=DUPLICATE)
    con.execute("UPDATE dup_members SET prev_status = NULL WHERE cluster_id = ?", [cluster_id])


def _groups(where: str = "") -> str:
    """Clusters as the page shows them: one row per group of the same pairs in the same state, the
    lowest id standing for it, with every method that found it."""
    return (f"{_KEYS}, grouped AS (SELECT c.*, k.members, min(c.id) OVER (PARTITION BY k.members, c.state) AS lead,"
            " string_agg(c.method, ', ' ORDER BY c.method) OVER (PARTITION BY k.members, c.state) AS methods"
            f" FROM dup_clusters c JOIN keys k ON k.cluster_id = c.id{where})"
            " SELECT * FROM grouped WHERE id = lead")


def proposed_ids(store: Store, method: str | None = None) -> list[int]:
    """The clusters still proposed (of one method, or all), one per group of the same pairs."""
    return [r["id"] for r in store.rows(
        _groups(" WHERE c.state = 'proposed'" + (" AND c.method = ?" if method else "")) + " ORDER BY id",
        [method] if method else [])]


def accept_all(store: Store, method: str | None = None, ids: list[int] | None = None) -> int:
    """Resolve every proposed cluster (of one method, or all; or the ones named) with its proposed
    keeper, in one transaction. `reopen_all` with the same ids takes it back."""
    ids = proposed_ids(store, method) if ids is None else ids
    with store.transaction():
        for cluster_id in ids:
            if store.scalar("SELECT state FROM dup_clusters WHERE id = ?", [cluster_id]) == "proposed":
                resolve(store, cluster_id)   # (a twin of one before it is decided already)
    return len(ids)


def reopen_all(store: Store, ids: list[int]) -> int:
    """Undo the decisions on these clusters (an accept-all), in one transaction."""
    with store.transaction():
        for cluster_id in ids:
            reopen(store, cluster_id)
    return len(ids)


# --------------------------------------------------------------------------- reading
def clusters_frame(store: Store, method: str | None = None, state: str | None = "proposed",
                   page: int = 1, page_size: int = 20):
    """Clusters, largest first, one page at a time, one per group of the same pairs (`methods`
    lists every method that found it); and how many there are."""
    where, params = [], []
    if method:
        where.append("c.method = ?")
        params.append(method)
    if state:
        where.append("c.state = ?")
        params.append(state)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total = store.scalar(f"SELECT count(*) FROM ({_groups(clause)})", params)
    frame = store.frame(
        f"SELECT c.id, c.methods AS method, c.size, round(c.min_similarity, 3) AS min_similarity, c.state, c.keeper_id,"
        f" left(p.instruction, 120) AS keeper_instruction FROM ({_groups(clause)}) c JOIN pairs p ON p.id = c.keeper_id"
        f" ORDER BY c.size DESC, c.id LIMIT ? OFFSET ?", params + [page_size, (max(page, 1) - 1) * page_size])
    return frame, total


def cluster_members(store: Store, cluster_id: int) -> list[dict]:
    """The members of a cluster, keeper first, with their text and decision."""
    return store.rows(
        "SELECT m.pair_id, m.similarity, m.decision, p.instruction, p.response, p.status, p.origin,"
        " m.pair_id = c.keeper_id AS is_keeper FROM dup_members m JOIN dup_clusters c ON c.id = m.cluster_id"
        " JOIN pairs p ON p.id = m.pair_id WHERE m.cluster_id = ? ORDER BY is_keeper DESC, m.similarity DESC,"
        " m.pair_id", [cluster_id])


def diff_segments(a: str, b: str) -> list[tuple[str, str]]:
    """b compared with a, word by word: (text, 'same' | 'added' | 'removed') segments."""
    import difflib

    wa, wb = a.split(" "), b.split(" ")
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append((" ".join(wb[j1:j2]), "same"))
            continue
        if i2 > i1:
            out.append((" ".join(wa[i1:i2]), "removed"))
        if j2 > j1:
            out.append((" ".join(wb[j1:j2]), "added"))
    return out
