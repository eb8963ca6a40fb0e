"""Leak-free splits: pairs that are the same question in other words never straddle train and test.

`duplicate_groups` unites pairs that the dedupe clusters put together (accepted or proposed, less
the members people called distinct), pairs of one conversation or thread, and pairs whose
questions are exact (normalized) or MinHash near-duplicates of each other, or semantic ones when a
threshold is given. The split then assigns whole groups. `leakage` measures, after the split, how
many test questions still have an exact / near / semantic match in train (zero by construction,
and measured rather than assumed). Both are pure functions over the pairs; the store is read by
`dedupe_links`.
"""
from __future__ import annotations

import numpy as np

from curate.dedupe.minhash import MinHashConfig, near_duplicates, normalize_text
from curate.store import Store

NEAR_THRESHOLD = 0.7        # MinHash Jaccard of the questions' character 5-grams, as in dedupe
SEMANTIC_THRESHOLD = 0.92   # cosine of the questions' embeddings, as in dedupe


def dedupe_links(store: Store, pair_ids: list[int]) -> list[list[int]]:
    """Members of each duplicate cluster (accepted or proposed) among these pairs, without the
    members a person called distinct."""
    rows = store.rows("SELECT m.cluster_id, list(m.pair_id ORDER BY m.pair_id) AS ids FROM dup_members m"
                      " JOIN dup_clusters c ON c.id = m.cluster_id WHERE c.state <> 'dismissed'"
                      " AND coalesce(m.decision, '') <> 'distinct' AND list_contains(?, m.pair_id)"
                      " GROUP BY m.cluster_id", [pair_ids])
    return [r["ids"] for r in rows if len(r["ids"]) > 1]


def _thread(pair: dict) -> tuple | None:
    lineage = pair.get("lineage") or {}
    if lineage.get("thread") is not None:
        return ("thread", pair.get("source_id"), str(lineage["thread"]))
    if pair.get("raw_log_id") is not None and (pair.get("context") or "turn" in lineage):
        return ("raw_log", pair["raw_log_id"])  # turns of one conversation
    return None


def _union(n: int, edges) -> np.ndarray:
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for a, b in edges:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])


def question_matches(questions: list[str], near: float = NEAR_THRESHOLD, semantic: float | None = None,
                     vectors: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Index pairs (i < j) of questions that match: exactly once normalized, as MinHash
    near-duplicates, and (with a threshold and their unit vectors) semantically."""
    keys = [normalize_text(q) for q in questions]
    first: dict[str, int] = {}
    exact = []
    for i, key in enumerate(keys):
        if key in first:
            exact.append((first[key], i))
        else:
            first[key] = i
    found = {"exact": np.array(exact, dtype=np.int64).reshape(-1, 2),
             "near": near_duplicates(questions, MinHashConfig(threshold=near)).edges.reshape(-1, 2)}
    if semantic is not None and vectors is not None:
        from curate.dedupe.find import similar_pairs

        found["semantic"] = similar_pairs(vectors, semantic)[0].reshape(-1, 2)
    return found


def duplicate_groups(pairs: list[dict], links: list[list[int]], matches: dict[str, np.ndarray]) -> list[int]:
    """A group number per pair (index order): pairs linked by dedupe clusters, a shared
    conversation, or a question match share one."""
    index = {p["id"]: i for i, p in enumerate(pairs)}
    edges = [(index[a], index[b]) for ids in links for a, b in zip(ids, ids[1:]) if a in index and b in index]
    threads: dict[tuple, int] = {}
    for i, pair in enumerate(pairs):
        key = _thread(pair)
        if key is not None:
            edges.append((threads.setdefault(key, i), i))
    for found in matches.values():
        edges += [tuple(e) for e in found.tolist()]
    return _union(len(pairs), edges).tolist()


def leakage(split: list[str], matches: dict[str, np.ndarray]) -> dict[str, int]:
    """Test questions with a match of each kind in train (by index)."""
    out = {}
    for kind, edges in matches.items():
        leaked = {int(j) if split[i] == "train" else int(i) for i, j in edges.tolist()
                  if {split[i], split[j]} == {"train", "test"}}
        out[kind] = len(leaked)
    return out
