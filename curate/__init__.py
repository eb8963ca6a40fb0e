"""curate: the data layer of tuneloop (store, ingest, pairs, generation, dedupe, rating, datasets).

Nothing here imports torch at module level, so the CLI and the app start fast.
"""
from curate.errors import TuneloopError
from curate.store import Store

__all__ = ["Store", "TuneloopError"]
