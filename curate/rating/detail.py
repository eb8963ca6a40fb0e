"""A pair in full, for the Pairs page: its text, where it came from and how it was made, every
rating, the quality scan's findings, and each status change it went through; and a reviewer's
direct edit, stored as a new version that takes the original's place."""
from __future__ import annotations

from curate.errors import TuneloopError
from curate.pairs.rows import insert_pairs, version_of
from curate.pairs.status import APPROVED, NEW, SUPERSEDED, set_status
from curate.quality.findings import for_pair
from curate.rating.queue import pair_view
from curate.rating.settle import approve_pair
from curate.store import Store


def pair_detail(store: Store, pair_id: int) -> dict:
    """pair_view's pair with `ratings` (annotator, question, value, when), `findings` (the latest
    scan's) and `changes` (recorded bulk changes that touched it: what, to, by, when, undone)."""
    with store.connect():
        pair = pair_view(store, pair_id)
        pair["ratings"] = store.rows(
            "SELECT u.name AS annotator, r.question, r.value, r.created_at AS \"when\" FROM current_ratings r"
            " JOIN users u ON u.id = r.annotator_id WHERE r.pair_id = ? AND r.question NOT LIKE '\\_%' ESCAPE '\\'"
            " ORDER BY r.id", [pair_id])
        pair["findings"] = for_pair(store, pair_id)
        pair["changes"] = store.rows(
            "SELECT c.reason AS what, i.previous AS \"from\", c.status AS \"to\", c.actor AS by,"
            " c.created_at AS \"when\", c.undone_at IS NOT NULL AS undone FROM status_change_items i"
            " JOIN status_changes c ON c.id = i.change_id WHERE i.pair_id = ? ORDER BY c.id", [pair_id])
        pair["edits"] = [r["id"] for r in store.rows("SELECT id FROM pairs WHERE parent_id = ? ORDER BY id", [pair_id])]
    return pair


def edit_pair(store: Store, editor: dict, pair_id: int, instruction: str, response: str) -> int:
    """A reviewer's edit: a new version of the pair (origin edited, parent_id the pair, the editor
    in its lineage) that takes the original's place — approved if the original was, otherwise new
    and rated in turn. Returns the new pair's id (the original's, when nothing changed)."""
    from curate.rating.users import can

    if not can(editor, "review"):
        raise TuneloopError(f"{editor['name']} is an {editor['role']}; editing pairs needs a reviewer or admin")
    if not instruction.strip() or not response.strip():
        raise TuneloopError("an edited pair needs an instruction and a response")
    pair = store.one("SELECT * FROM pairs WHERE id = ?", [pair_id])
    if pair is None:
        raise TuneloopError(f"no pair {pair_id}")
    if (instruction.strip(), response.strip()) == (pair["instruction"].strip(), pair["response"].strip()):
        return pair_id
    with store.transaction() as con:
        added = insert_pairs(store, [version_of(pair, origin="edited", instruction=instruction.strip(),
                                                response=response.strip(),
                                                lineage={"edited_by": editor["id"], "via": "pairs page"})])
        if not added:
            raise TuneloopError("a pair with exactly this text is in the store already")
        new_id = con.execute("SELECT max(id) FROM pairs WHERE parent_id = ? AND origin = 'edited'",
                             [pair_id]).fetchone()[0]
        if pair["status"] == APPROVED:
            approve_pair(con, new_id)
        else:
            set_status(con, [new_id], NEW)
            set_status(con, [pair_id], SUPERSEDED)
    return new_id
