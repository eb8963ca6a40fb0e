"""The quality scan's checks, one small module each: what it looks for, a score per pair (0–1),
and the evidence a person can verify. `text` checks read one pair at a time; `set` checks read
the pairs together (conflicting answers, answers that belong to another question)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Finding:
    pair_id: int
    kind: str
    score: float
    detail: str
    check: str
    related: list[int] = field(default_factory=list)
    model: str | None = None
