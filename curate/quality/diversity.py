"""How varied the pairs are: topic clusters with labels, a 2-D map, n-gram diversity, lengths,
shares by topic/origin/source, near-neighbour redundancy and thin clusters.

`analyze` is a pure function over texts and their embeddings; `diversity` reads the active pairs,
embeds them once per text (curate.lm.embeddings), analyzes, and stores the run with each pair's
cluster, map position and nearest-neighbour similarity. The page reads aggregates with SQL.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from curate.errors import TuneloopError
from curate.pairs.status import active
from curate.store import Store

FIELDS = ("instruction", "response", "pair")


@dataclass
class DiversityConfig:
    field: str = "instruction"   # what the clusters group: the questions people ask
    k: int | None = None         # clusters; None: about sqrt(n / 2), from 2 to 40
    thin_share: float = 0.02     # a cluster holding less than this share of pairs is thin
    seed: int = 0
    model: str | None = None     # embedding model (default all-MiniLM-L6-v2)


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams (Li et al.'s distinct-n): 1.0 when nothing repeats."""
    total, seen = 0, set()
    for text in texts:
        words = text.lower().split()
        grams = list(zip(*(words[i:] for i in range(n))))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def choose_k(n: int) -> int:
    return max(2, min(40, round(math.sqrt(n / 2))))


def nearest_similarity(vectors: np.ndarray, exact_max: int = 20_000) -> np.ndarray:
    """Each vector's cosine similarity to its nearest other vector (unit vectors)."""
    n = len(vectors)
    if n < 2:
        return np.zeros(n, dtype=np.float32)
    if n <= exact_max:
        best = np.empty(n, dtype=np.float32)
        for start in range(0, n, 2048):
            block = vectors[start:start + 2048] @ vectors.T
            block[np.arange(len(block)), np.arange(start, start + len(block))] = -1.0
            best[start:start + len(block)] = block.max(axis=1)
        return best
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="cos")
    index.add(np.arange(n), vectors)
    matches = index.search(vectors, 2)
    keys, distances = np.asarray(matches.keys), np.asarray(matches.distances)
    other = np.where(keys[:, 0] == np.arange(n), distances[:, 1], distances[:, 0])
    return (1.0 - other).astype(np.float32)


def cluster_labels(texts: list[str], labels: np.ndarray, k: int, top: int = 3) -> list[str]:
    """A label per cluster: its most characteristic words (highest mean TF-IDF)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        tfidf = TfidfVectorizer(stop_words="english", max_features=20_000, min_df=1).fit(texts)
    except ValueError:  # nothing but stop words
        return [f"cluster {c}" for c in range(k)]
    matrix = tfidf.transform(texts)
    vocab = np.array(tfidf.get_feature_names_out())
    names = []
    for c in range(k):
        rows = matrix[labels == c]
        if rows.shape[0] == 0:
            names.append(f"cluster {c}")
            continue
        weights = np.asarray(rows.mean(axis=0)).ravel()
        names.append(" · ".join(vocab[np.argsort(weights)[::-1][:top]]))
    return names


def analyze(texts: list[str], responses: list[str], vectors: np.ndarray, config: DiversityConfig) -> dict:
    """Clusters, labels, map, n-gram diversity and redundancy of a set of pairs."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.decomposition import PCA

    n = len(texts)
    k = min(config.k or choose_k(n), n)
    kmeans = (KMeans(n_clusters=k, n_init=3, random_state=config.seed) if n <= 20_000
              else MiniBatchKMeans(n_clusters=k, n_init=3, random_state=config.seed, batch_size=4096))
    labels = kmeans.fit_predict(vectors)
    xy = PCA(n_components=2, random_state=config.seed).fit_transform(vectors) if n >= 2 else np.zeros((n, 2))
    nn = nearest_similarity(vectors)
    names = cluster_labels(texts, labels, k)
    sizes = np.bincount(labels, minlength=k)
    clusters = [{"cluster": c, "label": names[c], "size": int(sizes[c]), "share": round(float(sizes[c]) / n, 4),
                 "thin": bool(sizes[c] < config.thin_share * n)} for c in range(k)]
    return {
        "labels": labels, "xy": xy, "nn": nn,
        "summary": {
            "pairs": n, "k": k, "clusters": clusters,
            "distinct_1_instructions": round(distinct_n(texts, 1), 4),
            "distinct_2_instructions": round(distinct_n(texts, 2), 4),
            "distinct_1_responses": round(distinct_n(responses, 1), 4),
            "distinct_2_responses": round(distinct_n(responses, 2), 4),
            "mean_nearest_similarity": round(float(nn.mean()), 4) if n else 0.0,
            "share_near_copies": round(float((nn >= 0.95).mean()), 4) if n else 0.0,
        },
    }


def diversity(store: Store, config: DiversityConfig = DiversityConfig(), show_progress: bool = False,
              engine=None) -> dict:
    """Analyze the active pairs and store the run; returns its summary (with the run id)."""
    from curate.lm.embeddings import vectors_for

    if config.field not in FIELDS:
        raise TuneloopError(f"field must be one of {', '.join(FIELDS)}")
    column = {"pair": "instruction || ' ' || response"}.get(config.field, config.field)
    rows = store.rows(f"SELECT id, {column} AS text, response FROM pairs p WHERE {active()} ORDER BY id")
    if len(rows) < 2:
        raise TuneloopError("diversity needs at least two pairs; import or extract some first")
    with store.job("diversity", {**asdict(config), **(engine.describe() if engine else {})}) as job:
        texts = [r["text"] for r in rows]
        vectors = vectors_for(store, texts, config.model, show_progress=show_progress, engine=engine, job=job)
        result = analyze(texts, [r["response"] for r in rows], vectors, config)
        with store.transaction() as con:
            run_id = con.execute("INSERT INTO diversity_runs (params, summary) VALUES (?, ?) RETURNING id",
                                 [json.dumps(asdict(config)), json.dumps(result["summary"])]).fetchone()[0]
            con.register("_clusters", pa.table({
                "pair_id": pa.array([r["id"] for r in rows], pa.int64()),
                "cluster": pa.array(result["labels"].astype(np.int32)),
                "x": pa.array(result["xy"][:, 0].astype(np.float32)),
                "y": pa.array(result["xy"][:, 1].astype(np.float32)),
                "nn": pa.array(result["nn"].astype(np.float32))}))
            con.execute("INSERT INTO pair_clusters SELECT ?, pair_id, cluster, x, y, nn FROM _clusters", [run_id])
            con.unregister("_clusters")
    return {"run_id": run_id, **result["summary"]}


# --------------------------------------------------------------------------- reading (SQL aggregates)
def latest_run(store: Store) -> dict | None:
    row = store.one("SELECT id, summary, created_at FROM diversity_runs ORDER BY id DESC LIMIT 1")
    if row:
        row["summary"] = json.loads(row["summary"])
    return row


def map_points(store: Store, run_id: int, sample: int = 5000, seed: int = 0):
    """A sample of the map: x, y, cluster, origin, status and the question (for hovering)."""
    return store.frame(
        "SELECT c.x, c.y, c.cluster::VARCHAR AS cluster, p.origin, p.status, left(p.instruction, 80) AS instruction"
        " FROM pair_clusters c JOIN pairs p ON p.id = c.pair_id WHERE c.run_id = ?"
        f" USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({int(seed)})", [run_id])


def cluster_examples(store: Store, run_id: int, per_cluster: int = 3):
    return store.frame(
        "SELECT cluster, instruction FROM (SELECT c.cluster, p.instruction,"
        " row_number() OVER (PARTITION BY c.cluster ORDER BY p.id) AS k FROM pair_clusters c"
        " JOIN pairs p ON p.id = c.pair_id WHERE c.run_id = ?) WHERE k <= ? ORDER BY cluster, k",
        [run_id, per_cluster])


def length_histogram(store: Store, column: str = "instruction", bins: int = 20):
    """Word counts of instructions or responses, bucketed in SQL."""
    if column not in ("instruction", "response"):
        raise TuneloopError("column must be instruction or response")
    return store.frame(
        f"WITH w AS (SELECT len(string_split(trim({column}), ' ')) AS words FROM pairs p WHERE {active()}),"
        f" b AS (SELECT greatest(ceil((max(words) + 1) / {int(bins)}), 1)::BIGINT AS width FROM w)"
        " SELECT (words // width) * width AS words_from, count(*) AS pairs FROM w, b GROUP BY 1 ORDER BY 1")


def shares(store: Store, by: str):
    """Pairs by topic, origin or source, with their share."""
    column = {"topic": "coalesce(p.topic, '(none)')", "origin": "p.origin",
              "source": "coalesce(s.name, '(generated)')"}.get(by)
    if column is None:
        raise TuneloopError("by must be topic, origin or source")
    return store.frame(
        f"SELECT {column} AS {by}, count(*) AS pairs, round(count(*) / sum(count(*)) OVER (), 4) AS share"
        f" FROM pairs p LEFT JOIN sources s ON s.id = p.source_id WHERE {active()} GROUP BY 1 ORDER BY 2 DESC")
