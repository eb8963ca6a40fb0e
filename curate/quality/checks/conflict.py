"""Conflicting answers: the same question (word for word, or in other words) answered two
different ways — an old and a new policy, or one row's answer pasted under another's question.
Both pairs are flagged and linked to each other; the evidence is the two answers' similarity, or
the figures they disagree on."""
from __future__ import annotations

import re
from itertools import combinations

import numpy as np

from curate.quality.checks import Finding

KIND = "conflict"
THRESHOLD = 0.6
# Measured on lamini_docs with conflicts injected (benchmarks/quality.py): questions at 0.95 or more
# and answers under 0.6 took 24 pairs of twins, 22 of them injected conflicts (at 0.9 and 0.85: 49, 23).
SAME_QUESTION = 0.95     # questions this alike (embedding cosine) ask the same thing
AGREEING = 0.6           # answers at least this alike agree (paraphrases)
CONTAINED = 0.8          # or when this share of the shorter answer's words is in the longer (one says more)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def check_all(pairs: list[dict], questions: np.ndarray, answers: np.ndarray, model: str,
              known: set[int] = frozenset()) -> list[Finding]:
    """Findings for every pair whose question has a twin whose answer disagrees with its own. Pairs
    other checks found wrong (`known`: a placeholder, a non-answer, …) are no side of a conflict."""
    best: dict[int, tuple[float, str, set]] = {}
    for i, j, same in _twins(pairs, questions):
        if pairs[i]["id"] in known or pairs[j]["id"] in known:
            continue
        agree = float(answers[i] @ answers[j])
        a, b = pairs[i]["response"] or "", pairs[j]["response"] or ""
        score, why = 0.0, ""
        if agree < AGREEING and _contained(a, b) < CONTAINED:
            score = min(1.0, 0.6 + (AGREEING - agree))
            why = f"the same question (similarity {same:.2f}) answered differently (answers' similarity {agree:.2f})"
        else:
            figures_a, figures_b = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
            if figures_a and figures_b and figures_a != figures_b:
                score = 0.7
                why = (f"the same question answered with other figures: {', '.join(sorted(figures_a - figures_b)[:3])}"
                       f" against {', '.join(sorted(figures_b - figures_a)[:3])}")
        if score < THRESHOLD:
            continue
        for me, other in ((i, j), (j, i)):
            pid, oid = pairs[me]["id"], pairs[other]["id"]
            old = best.get(pid)
            related = (old[2] if old else set()) | {oid}
            best[pid] = (score, why, related) if old is None or score > old[0] else (old[0], old[1], related)
    return [Finding(pid, KIND, round(s, 3), f"{why}; with pair {', '.join(map(str, sorted(r)[:5]))}", "conflict",
                    sorted(r), model) for pid, (s, why, r) in best.items()]


def _contained(a: str, b: str) -> float:
    """The share of the shorter answer's words that the longer one has."""
    wa, wb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    short, long = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    return len(short & long) / len(short) if short else 1.0


def _twins(pairs: list[dict], questions: np.ndarray):
    """(i, j, similarity) for pairs whose questions are the same once normalized (as the duplicate
    shingles see them), or this alike in meaning (curate.dedupe.find.similar_pairs)."""
    from curate.dedupe.find import similar_pairs
    from curate.dedupe.minhash import normalize_text

    seen = set()
    by_text: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_text.setdefault(normalize_text(p["instruction"] or ""), []).append(i)
    for members in by_text.values():
        for pair in combinations(members, 2):
            seen.add(pair)
            yield *pair, 1.0
    edges, sims = similar_pairs(questions, SAME_QUESTION)
    for (i, j), same in zip(edges.tolist(), sims.tolist()):
        if (i, j) not in seen:
            yield i, j, same
