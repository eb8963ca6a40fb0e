"""Choosing a training subset by score with diversity (deita's score-first, diversity-aware
selection): the pairs in order of score, best first, each taken unless it is too alike in meaning
(embedding cosine of question and answer) to a pair already taken, until the budget is spent.

Which end is best depends on the score: a judge's score and IFD below 1 count high first (IFD ≥ 1:
the question does not help predict the answer, so those pairs are left out, as Cherry LLM does);
perplexity counts low first. Pairs without a score come last, oldest first.
"""
from __future__ import annotations

import numpy as np

from curate.errors import TuneloopError
from curate.quality.scores import pair_score_map, resolve_scorer
from curate.store import Store

MAX_SIMILARITY = 0.9   # deita's threshold: a pair this alike to one taken is skipped


def select_pairs(store: Store, pairs: list[dict], budget: int, scorer: str | None = None,
                 max_similarity: float = MAX_SIMILARITY) -> tuple[list[dict], dict]:
    """At most `budget` of `pairs`, chosen by score with diversity, and a report of how."""
    from curate.lm.embeddings import vectors_for

    if budget < 1:
        raise TuneloopError("--select-budget is a number of pairs, at least 1")
    if not 0 < max_similarity <= 1:
        raise TuneloopError("--select-similarity is a cosine above 0 and up to 1")
    scorer = resolve_scorer(store, scorer)
    scores = pair_score_map(store, scorer)
    left_out = {}
    if scorer == "ifd":
        hard = {p["id"] for p in pairs if scores.get(p["id"], 0) >= 1}
        left_out["ifd_at_least_1"] = len(hard)
        pairs = [p for p in pairs if p["id"] not in hard]
    sign = 1 if scorer == "perplexity" else -1
    ranked = sorted(pairs, key=lambda p: (p["id"] not in scores, sign * scores.get(p["id"], 0), p["id"]))
    vectors = np.asarray(vectors_for(store, [f"{p['instruction']}\n{p['response']}" for p in ranked]), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
    taken: list[int] = []
    too_alike = 0
    for i in range(len(ranked)):
        if len(taken) == budget:
            break
        if taken and float((vectors[taken] @ vectors[i]).max()) > max_similarity:
            too_alike += 1
            continue
        taken.append(i)
    chosen = [ranked[i] for i in taken]
    chosen_scores = [scores[p["id"]] for p in chosen if p["id"] in scores]
    report = {"scorer": scorer, "budget": budget, "max_similarity": max_similarity, "candidates": len(ranked),
              "selected": len(chosen), "skipped_as_too_alike": too_alike, "unscored_selected":
              len(chosen) - len(chosen_scores), "left_out": left_out,
              "order": "lowest first" if sign == 1 else "highest first",
              "score_range": [round(min(chosen_scores), 4), round(max(chosen_scores), 4)] if chosen_scores else None,
              "how": (f"approved pairs ranked by {scorer} ({'lowest' if sign == 1 else 'highest'} first), each taken"
                      f" unless its question and answer are more than {max_similarity} alike (embedding cosine) to"
                      f" one already taken, until {budget} were taken")}
    return sorted(chosen, key=lambda p: p["id"]), report
