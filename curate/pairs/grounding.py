"""Whether an answer a model wrote is supported by its source chunk: the share of the answer's
content words the chunk has (light stemming lets "charges" match "charge"). `pairs generate` drops
answers under GROUNDED before storing them; the quality scan flags stored ones
(curate/quality/checks/ungrounded.py)."""
from __future__ import annotations

import re

GROUNDED = 0.5
_STOP = set("""a an the and or but if then so to of in on at by for with from as is are was were be been being it its this
that these those you your we our they their he she his her them us i me my do does did can could will would should may
might must not no yes have has had what which who whom how when where why there here also just only very more most
some any all each about into over than too out up down off""".split())


def words(text: str) -> list[str]:
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2 and w not in _STOP]


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def support(answer: str, chunk: str) -> float:
    """The share of the answer's content words that the chunk has (1.0 for an answer without any)."""
    mine = words(answer)
    if not mine:
        return 1.0
    theirs = set(words(chunk))
    return sum(w in theirs for w in mine) / len(mine)
