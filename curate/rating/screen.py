"""What the Rate page shows on each key press, read in one turn at the store each (a turn at a
busy store costs milliseconds; a key press should cost one): the pair to rate, as the team shows
pairs (redacted or not), with a model judge's suggestion and the quality scan's findings; then, once it is on screen, the counts
and the next pair leased ahead."""
from __future__ import annotations

from curate.privacy.scan import as_displayed
from curate.quality.findings import for_pair
from curate.quality.scores import suggestion
from curate.rating.queue import fetch_ahead, next_pair, progress
from curate.store import Store


def pair_to_rate(store: Store, annotator_id: int) -> tuple[dict | None, dict | None]:
    """(the pair leased to this annotator as pages show it, a judge's suggestion for it), or (None, None)."""
    with store.connect():
        pair = next_pair(store, annotator_id)   # fetched ahead on the last press: no queue query
        if pair is None:
            return None, None
        shown = as_displayed(store, pair)
        shown["findings"] = for_pair(store, pair["id"])
        return shown, suggestion(store, pair["id"])


def after_shown(store: Store, annotator_id: int, pair_id: int | None) -> dict:
    """The annotator's and the team's counts, and the pair after this one leased ahead."""
    with store.connect():
        counts = progress(store, annotator_id)
        if pair_id is not None:
            fetch_ahead(store, annotator_id)
    return counts
