"""A verdict takes effect at once. After every rating the pair's status follows the team's rule:
with k = 1 one rater's verdict approves or rejects it; with k > 1 it is pending until k people
have rated it, and goes to Review when they disagree. An edit that is approved is what datasets
get: the edited version is approved and the original superseded (the edit keeps parent_id and
the submission in its lineage). A reviewer's decision is never overridden."""
from __future__ import annotations

from curate.pairs.status import APPROVED, DUPLICATE, FLAGGED, NEW, REDACTED, REJECTED, RETIRED, SUPERSEDED, set_status, to_rate
from curate.rating.queue import DISAGREEMENT
from curate.rating.schema import ApprovalRule, get_rule

PENDING = "pending"            # fewer than k ratings yet
TO_REVIEW = "to review"        # the raters disagree: a reviewer decides
UNDECIDED = "undecided"        # rated, but neither approved nor rejected by the rule (e.g. needs an edit)


def settle(con, pair_id: int, rule: ApprovalRule) -> str:
    """Give the pair the status its current ratings earn under the rule, inside the caller's
    transaction. Returns what happened: approved, rejected, superseded (an edit approved in its
    place), pending, to review, or undecided; a reviewed or retired pair is left as it is."""
    pair = con.execute("SELECT status FROM pairs WHERE id = ?", [pair_id]).fetchone()
    if pair is None or con.execute("SELECT 1 FROM reviews WHERE pair_id = ?", [pair_id]).fetchone():
        return "reviewed"
    if pair[0] in RETIRED:
        return pair[0]
    raters, quality, rejects, needs_edit = con.execute(r"""
        SELECT count(DISTINCT annotator_id) FILTER (WHERE question NOT LIKE '\_%' ESCAPE '\'),
               avg(TRY_CAST(value AS DOUBLE)) FILTER (WHERE question = 'quality'),
               count(*) FILTER (WHERE question = 'verdict' AND value = 'reject'),
               count(*) FILTER (WHERE question = 'verdict' AND value = 'needs-edit')
        FROM current_ratings WHERE pair_id = ?""", [pair_id]).fetchone()
    if raters < rule.min_ratings:
        return PENDING
    if con.execute(f"SELECT 1 FROM ({DISAGREEMENT}) d WHERE d.pair_id = ?", [pair_id]).fetchone():
        return TO_REVIEW
    if rejects:
        set_status(con, [pair_id], REJECTED)
        return REJECTED
    good = quality is None or quality >= rule.min_quality
    edit = _live_edit(con, pair_id)
    if edit is not None:
        set_status(con, [pair_id], SUPERSEDED)
        if good and not needs_edit:   # approved as edited; "needs edit" sends the edit to be rated
            approve_pair(con, edit)
        return SUPERSEDED
    if good and not needs_edit:
        approve_pair(con, pair_id)
        return APPROVED
    return UNDECIDED


def unsettle(con, pair_id: int, rule: ApprovalRule) -> str:
    """After a rating is taken back: the pair (and an original it had superseded) back in the
    queue, then settled again on the ratings that remain."""
    if con.execute("SELECT 1 FROM reviews WHERE pair_id = ?", [pair_id]).fetchone():
        return "reviewed"
    set_status(con, [pair_id], NEW, unless=(NEW, FLAGGED, DUPLICATE, REDACTED))
    return settle(con, pair_id, rule)


def approve_pair(con, pair_id: int) -> None:
    """Approve a pair inside the caller's transaction; an approved edit supersedes its original."""
    set_status(con, [pair_id], APPROVED)
    origin, parent_id = con.execute("SELECT origin, parent_id FROM pairs WHERE id = ?", [pair_id]).fetchone()
    if origin == "edited" and parent_id is not None:
        set_status(con, [parent_id], SUPERSEDED, unless=RETIRED)


def _live_edit(con, pair_id: int) -> int | None:
    """The newest edit of this pair made in a rating that still stands and not yet decided."""
    row = con.execute(f"""
        SELECT p.id FROM pairs p WHERE p.origin = 'edited' AND p.parent_id = ? AND {to_rate()}
          AND TRY_CAST(p.lineage->>'submission' AS BIGINT) IN
              (SELECT submission_id FROM current_ratings WHERE pair_id = ? AND value IS NOT NULL)
        ORDER BY p.id DESC LIMIT 1""", [pair_id, pair_id]).fetchone()
    return row[0] if row else None


def where_it_stands(store, pair_id: int) -> str:
    """A rater's feedback after a verdict, in words: approved, rejected, replaced by an edit,
    pending (n of k ratings), waiting for a reviewer, or rated but not approved."""
    rule = get_rule(store)
    with store.connect():
        status = store.scalar("SELECT status FROM pairs WHERE id = ?", [pair_id])
        if status == SUPERSEDED:
            edit = store.scalar("SELECT status FROM pairs WHERE parent_id = ? AND origin = 'edited'"
                                " ORDER BY id DESC LIMIT 1", [pair_id])
            return "approved as edited" if edit == APPROVED else "replaced by the edit, which goes to be rated"
        if status in (APPROVED, REJECTED) or status in RETIRED:
            return status
        raters = store.scalar(r"SELECT count(DISTINCT annotator_id) FROM current_ratings WHERE pair_id = ?"
                              r" AND question NOT LIKE '\_%' ESCAPE '\'", [pair_id])
        if raters < rule.min_ratings:
            return f"pending: {raters} of {rule.min_ratings} ratings"
        if store.scalar(f"SELECT count(*) FROM ({DISAGREEMENT}) d WHERE d.pair_id = ?", [pair_id]):
            return "the raters disagree: a reviewer decides"
        return f"rated, not approved (approval needs mean quality ≥ {rule.min_quality:g} and no reject)"
