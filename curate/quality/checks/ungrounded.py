"""Generated pairs their source does not support: an answer a language model wrote for a question
about a document chunk should use the chunk's own words. The share of the answer's content words
found in the chunk is the measure; below GROUNDED it is flagged (and `pairs generate` drops it
before storing). Light stemming lets "charges" match "charge"."""
from __future__ import annotations

from curate.pairs.grounding import GROUNDED, support
from curate.quality.checks import Finding

KIND = "ungrounded"
THRESHOLD = 1 - GROUNDED


def check(pair: dict) -> Finding | None:
    lineage = pair.get("lineage") or {}
    chunk = lineage.get("chunk") if isinstance(lineage, dict) else None
    if pair.get("origin") != "generated" or not chunk:
        return None
    share = support(pair["response"] or "", chunk)
    if share >= GROUNDED:
        return None
    return Finding(pair["id"], KIND, round(1 - share, 3),
                   f"only {100 * share:.0f}% of the answer's words are in its source chunk"
                   f" ({lineage.get('document') or 'a document'}, chunk {lineage.get('chunk_index', '?')})",
                   "ungrounded")
