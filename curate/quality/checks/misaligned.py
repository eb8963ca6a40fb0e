"""Answers that belong to another question — a join or an export that slipped by a row. No labels
are needed: the check learns from the store's own pairs, taking them as they are for "aligned" and
making "misaligned" ones by giving each question another pair's answer (a neighbour's, as a slipped
join does, or any other's). A logistic regression over four measures of fit then scores every pair:

- how alike question and answer are (embedding cosine);
- how high the answer ranks among other answers for its question, and the question among other
  questions for its answer;
- how much better the answer fits the question of the row before or after it;

and, apart, runs of rows whose answers each fit the next (or previous) row's question better —
the mark a slipped join leaves.

The threshold is set from measured precision: on pairs held out from training, the lowest score at
which the flagged pairs would be at least TARGET_PRECISION misaligned if one pair in twenty were."""
from __future__ import annotations

import numpy as np

from curate.quality.checks import Finding

KIND = "misaligned"
POOL = 2000               # other answers (questions) a pair's rank is measured among
TARGET_PRECISION = 0.85   # of the flagged pairs, at PREVALENCE
PREVALENCE = 0.05
MIN_PAIRS = 40            # fewer pairs than this teach nothing
# A slipped join: runs of this many rows whose answers fit a neighbour's question better by this
# much (cosine). Measured on lamini_docs with a 23-row slip (benchmarks/quality.py): margin 0.05
# and runs of 3 caught 16 of its rows and 2 clean ones; runs of 2 caught 16 and 11 clean.
SLIPPED_RUN = 3
SLIPPED_MARGIN = 0.05
SLIPPED_SCORE = 0.9


def check_all(pairs: list[dict], questions: np.ndarray, answers: np.ndarray, model: str,
              seed: int = 0, known: set[int] = frozenset()) -> tuple[list[Finding], dict]:
    """Findings, and how the threshold was set (for the scan's record). `known`: pairs other checks
    found something wrong with (a placeholder, a non-answer, …): they neither count as aligned
    examples nor are flagged again here."""
    n = len(pairs)
    if n < MIN_PAIRS:
        return [], {"trained": False, "why": f"{n} pairs; at least {MIN_PAIRS} are needed"}
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    pool = rng.choice(n, size=min(POOL, n), replace=False)
    order = sorted(range(n), key=lambda k: (pairs[k].get("source_id") or 0, pairs[k]["id"]))
    position = np.empty(n, dtype=int)
    position[order] = np.arange(n)
    real = _features(questions, answers, np.arange(n), np.arange(n), pool, order, position)
    shifted = np.array([order[min(position[i] + 1, n - 1)] if position[i] + 1 < n else order[position[i] - 1]
                        for i in range(n)])
    anywhere = (np.arange(n) + rng.integers(1, n, size=n)) % n
    swapped = np.where(rng.random(n) < 0.5, shifted, anywhere)
    fake = _features(questions, answers, np.arange(n), swapped, pool, order, position)
    usable = np.array([p["id"] not in known for p in pairs])
    train = (rng.random(n) < 0.7) & usable
    scaler = StandardScaler().fit(np.vstack([real[train], fake[train]]))
    model_ = LogisticRegression(max_iter=1000).fit(
        scaler.transform(np.vstack([real[train], fake[train]])), np.r_[np.zeros(train.sum()), np.ones(train.sum())])
    held = ~train & usable
    held_real = model_.predict_proba(scaler.transform(real[held]))[:, 1]
    held_fake = model_.predict_proba(scaler.transform(fake[held]))[:, 1]
    threshold = _threshold(held_real, held_fake)
    scores = model_.predict_proba(scaler.transform(real))[:, 1]
    slipped = _slipped_runs(questions, answers, order)
    scores = np.where(slipped & usable, np.maximum(scores, SLIPPED_SCORE), scores)
    out = []
    for k in np.nonzero((scores >= min(threshold, SLIPPED_SCORE)) & usable)[0]:
        better = _better_question(questions, answers, int(k), pool)
        if slipped[k]:
            detail = ("answers slipped by a row here: this answer, and the ones around it, fit the next or the"
                      " previous row's question better than their own")
            out.append(Finding(pairs[int(k)]["id"], KIND, round(float(scores[k]), 3), detail, "misaligned", [], model))
            continue
        if scores[k] < threshold:
            continue
        detail = (f"the answer fits its question poorly (similarity {real[k, 0]:.2f}; it ranks in the"
                  f" top {100 * real[k, 1]:.0f}% of other answers)")
        if better is not None:
            detail += f"; it fits pair {pairs[better]['id']}'s question better: {pairs[better]['instruction'][:80]!r}"
        out.append(Finding(pairs[int(k)]["id"], KIND, round(float(scores[k]), 3), detail, "misaligned",
                           [pairs[better]["id"]] if better is not None else [], model))
    return out, {"trained": True, "threshold": round(float(threshold), 4),
                 "held_out_recall": round(float((held_fake >= threshold).mean()), 3),
                 "held_out_flagged_share": round(float((held_real >= threshold).mean()), 3)}


def _slipped_runs(questions, answers, order) -> np.ndarray:
    """Rows in runs of at least SLIPPED_RUN consecutive rows (by source and id) whose answer fits the
    next row's question — or each the previous row's — better than its own by SLIPPED_MARGIN: a
    join that slipped by a row. By chance such runs are rare; a slipped export makes them long."""
    n = len(order)
    ordered_q, ordered_a = questions[order], answers[order]
    own = (ordered_q * ordered_a).sum(axis=1)
    gain_next = np.r_[(ordered_q[1:] * ordered_a[:-1]).sum(axis=1) - own[:-1], -1.0]
    gain_prev = np.r_[-1.0, (ordered_q[:-1] * ordered_a[1:]).sum(axis=1) - own[1:]]
    flagged = np.zeros(n, dtype=bool)
    for gain in (gain_next, gain_prev):
        hit, start = gain > SLIPPED_MARGIN, 0
        while start < n:
            end = start
            while end < n and hit[end]:
                end += 1
            if end - start >= SLIPPED_RUN:
                flagged[start:end] = True
            start = max(end, start + 1)
    out = np.zeros(n, dtype=bool)
    out[np.array(order)] = flagged
    return out


def _features(questions, answers, q_idx, a_idx, pool, order, position) -> np.ndarray:
    q, a = questions[q_idx], answers[a_idx]
    own = (q * a).sum(axis=1)
    rank_a = ((q @ answers[pool].T) > own[:, None]).mean(axis=1)    # share of other answers that fit better
    rank_q = ((a @ questions[pool].T) > own[:, None]).mean(axis=1)
    n = len(order)
    before = np.array([order[max(position[i] - 1, 0)] for i in q_idx])
    after = np.array([order[min(position[i] + 1, n - 1)] for i in q_idx])
    neighbour = np.maximum((questions[before] * a).sum(axis=1), (questions[after] * a).sum(axis=1))
    return np.column_stack([own, rank_a, rank_q, neighbour - own])


def _threshold(real: np.ndarray, fake: np.ndarray) -> float:
    """The lowest score whose estimated precision at PREVALENCE reaches TARGET_PRECISION (the pairs
    held out as they are count as aligned, so a store that has misaligned pairs only makes it stricter)."""
    for t in np.unique(np.r_[real, fake]):
        tpr, fpr = (fake >= t).mean(), (real >= t).mean()
        if tpr == 0:
            break
        precision = PREVALENCE * tpr / (PREVALENCE * tpr + (1 - PREVALENCE) * fpr)
        if precision >= TARGET_PRECISION:
            return float(t)
    return 1.01   # nothing can be flagged at that precision


def _better_question(questions, answers, k: int, pool) -> int | None:
    sims = questions[pool] @ answers[k]
    best = int(pool[int(np.argmax(sims))])
    return best if best != k and sims.max() > float(questions[k] @ answers[k]) + 0.05 else None
