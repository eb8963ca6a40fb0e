"""Find duplicate pairs (exact, near-duplicate, semantic), propose a keeper, let people decide.

Each method writes a dedupe run and its clusters (members with their similarity to the keeper).
Nothing is deleted: accepting a cluster marks the other members `duplicate` (their previous status
kept, so it can be undone); `distinct` takes a member out; dismissing a cluster undoes it all.
Re-running a method replaces its undecided proposals and leaves decided clusters alone.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from curate.dedupe.minhash import MinHashConfig, cluster, near_duplicates
from curate.errors import TuneloopError
from curate.pairs.status import active
from curate.store import Store

METHODS = ("exact", "minhash", "semantic")
KEEPERS = ("longest", "earliest", "best_rated")
FIELDS = ("pair", "instruction", "response")
# Exact duplicates: the same text once case, punctuation and white space are set aside.
NORMALIZED_SQL = ("trim(regexp_replace(regexp_replace(lower({col}), '[^\\p{{L}}\\p{{N}}\\s]', ' ', 'g'),"
                  " '\\s+', ' ', 'g'))")


@dataclass
class DedupeConfig:
    method: str = "minhash"
    field: str = "pair"             # what is compared: instruction + response, or one of them
    keeper: str = "longest"         # longest answer | earliest | best_rated (falls back to longest)
    threshold: float | None = None  # minhash: Jaccard (0.7); semantic: cosine (0.92)
    num_perm: int = 128
    exact_knn_max: int = 20_000     # semantic: exact kNN up to this many pairs, approximate above


def _text_sql(field: str) -> str:
    return {"pair": "instruction || ' ' || response", "instruction": "instruction", "response": "response"}[field]


@dataclass
class DedupeReport:
    method: str
    run_id: int
    pairs_scanned: int
    clusters: int
    members: int
    seconds: float

    def summary(self) -> str:
        return (f"{self.method}: {self.clusters} clusters with {self.members} pairs among {self.pairs_scanned}"
                f" scanned ({self.seconds:.1f} s)")


def dedupe(store: Store, config: DedupeConfig, show_progress: bool = False, engine=None) -> DedupeReport:
    """Run one method and store its proposals. MinHash signatures and embeddings are computed on
    `engine` (curate.engine.Engine: this process by default, or Ray); the store takes the result
    in one transaction, so an interrupted run leaves it as it was."""
    if config.method not in METHODS:
        raise TuneloopError(f"unknown method {config.method!r}; choose one of {', '.join(METHODS)} or all")
    if config.field not in FIELDS:
        raise TuneloopError(f"unknown field {config.field!r}; choose one of {', '.join(FIELDS)}")
    if config.keeper not in KEEPERS:
        raise TuneloopError(f"unknown keeper rule {config.keeper!r}; choose one of {', '.join(KEEPERS)}")
    started = time.perf_counter()
    with store.job(f"dedupe.{config.method}", {**asdict(config), **(engine.describe() if engine else {})}) as job:
        if config.method == "exact":
            run_id, scanned, timings = _exact(store, config)
        else:
            run_id, scanned, timings = _similar(store, config, show_progress, engine, job)
        seconds = time.perf_counter() - started
        counts = store.one("SELECT count(DISTINCT c.id) AS clusters, count(m.pair_id) AS members FROM dup_clusters c"
                           " JOIN dup_members m ON m.cluster_id = c.id WHERE c.run_id = ?", [run_id])
        store.execute("UPDATE dedupe_runs SET pairs_scanned = ?, clusters = ?, members = ?, timings = ? WHERE id = ?",
                      [scanned, counts["clusters"], counts["members"], json.dumps({**timings, "total": seconds}),
                       run_id])
    return DedupeReport(config.method, run_id, scanned, counts["clusters"], counts["members"], seconds)


def _new_run(con, config: DedupeConfig) -> int:
    # undecided proposals of this method make way for the new ones
    con.execute("DELETE FROM dup_members WHERE cluster_id IN"
                " (SELECT id FROM dup_clusters WHERE method = ? AND state = 'proposed')", [config.method])
    con.execute("DELETE FROM dup_clusters WHERE method = ? AND state = 'proposed'", [config.method])
    return con.execute("INSERT INTO dedupe_runs (method, params) VALUES (?, ?) RETURNING id",
                       [config.method, json.dumps(asdict(config))]).fetchone()[0]


def _keeper_order(keeper: str) -> str:
    """ORDER BY for choosing the keeper within a cluster (first wins)."""
    if keeper == "best_rated":
        return ("(SELECT avg(TRY_CAST(r.value AS DOUBLE)) FROM ratings r WHERE r.pair_id = p.id"
                " AND r.question = 'quality') DESC NULLS LAST, length(p.response) DESC, p.id")
    if keeper == "earliest":
        return "p.created_at, p.id"
    return "length(p.response) DESC, p.id"


def _exact(store: Store, config: DedupeConfig) -> tuple[int, int, dict]:
    """Exact duplicates in SQL: group by the normalized text."""
    key = NORMALIZED_SQL.format(col=_text_sql(config.field))
    order = _keeper_order(config.keeper)
    started = time.perf_counter()
    with store.transaction() as con:
        run_id = _new_run(con, config)
        scanned = con.execute(f"SELECT count(*) FROM pairs p WHERE {active()}").fetchone()[0]
        con.execute(f"""
            CREATE TEMP TABLE _groups AS
            SELECT {key} AS key, list(p.id ORDER BY {order}) AS ids FROM pairs p
            WHERE {active()} AND p.id NOT IN (SELECT pair_id FROM dup_members m JOIN dup_clusters c
                ON c.id = m.cluster_id WHERE c.method = 'exact' AND m.decision = 'distinct')
            GROUP BY key HAVING count(*) > 1""")
        _write_clusters(con, run_id, "exact", "SELECT ids, list_transform(ids, lambda x: 1.0) AS sims FROM _groups")
        con.execute("DROP TABLE _groups")
    return run_id, scanned, {"group_by": time.perf_counter() - started}


def _write_clusters(con, run_id: int, method: str, source_sql: str) -> None:
    """Clusters from rows of (ids ordered keeper first, similarities to the keeper)."""
    con.execute(f"""
        CREATE TEMP TABLE _new_clusters AS
        SELECT nextval('seq_dup_clusters') AS id, ids, sims FROM ({source_sql})""")
    con.execute("""
        INSERT INTO dup_clusters (id, run_id, method, keeper_id, size, min_similarity)
        SELECT id, ?, ?, ids[1], len(ids), list_min(sims) FROM _new_clusters""", [run_id, method])
    con.execute("""
        INSERT INTO dup_members (cluster_id, pair_id, similarity)
        SELECT id, unnest(ids), unnest(sims) FROM _new_clusters""")
    con.execute("DROP TABLE _new_clusters")


def _candidates(store: Store, config: DedupeConfig) -> list[dict]:
    """Active pairs not already decided for this method, with what the keeper rule needs."""
    order = _keeper_order(config.keeper)
    return store.rows(f"""
        SELECT p.id, {_text_sql(config.field)} AS text, row_number() OVER (ORDER BY {order}) AS keeper_rank
        FROM pairs p WHERE {active()} ORDER BY p.id""")


def _judged_distinct(store: Store, method: str) -> set[tuple[int, int]]:
    """Pairs of pair ids a person said are not duplicates of each other (in a decided cluster)."""
    rows = store.rows("""
        SELECT a.pair_id AS a, b.pair_id AS b FROM dup_members a
        JOIN dup_members b ON a.cluster_id = b.cluster_id AND a.pair_id < b.pair_id
        JOIN dup_clusters c ON c.id = a.cluster_id
        WHERE c.method = ? AND c.state <> 'proposed' AND (a.decision = 'distinct' OR b.decision = 'distinct')""",
                      [method])
    return {(r["a"], r["b"]) for r in rows}


def _similar(store: Store, config: DedupeConfig, show_progress: bool, engine=None, job=None) -> tuple[int, int, dict]:
    """minhash or semantic: read, compute with the store let go, then write the clusters."""
    from curate.engine import progress_of

    rows = _candidates(store, config)
    ids = np.array([r["id"] for r in rows], dtype=np.int64)
    rank = np.array([r["keeper_rank"] for r in rows], dtype=np.int64)
    texts = [r["text"] for r in rows]
    if config.method == "minhash":
        threshold = config.threshold if config.threshold is not None else MinHashConfig.threshold
        with progress_of("minhash signatures", len(texts), show_progress, job) as progress:
            found = near_duplicates(texts, MinHashConfig(threshold=threshold, num_perm=config.num_perm), engine=engine,
                                    progress=progress)
        labels, edges, sims, timings = found.labels, found.edges, found.similarity, found.timings
    else:
        from curate.lm.embeddings import vectors_for

        threshold = config.threshold if config.threshold is not None else 0.92
        started = time.perf_counter()
        vectors = vectors_for(store, texts, show_progress=show_progress, engine=engine, job=job)
        embedded = time.perf_counter()
        edges, sims = similar_pairs(vectors, threshold, config.exact_knn_max)
        labels = cluster(len(texts), edges)
        timings = {"embed": embedded - started, "knn": time.perf_counter() - embedded}
    judged = _judged_distinct(store, config.method)
    if judged and len(edges):
        keep = np.array([(int(ids[i]), int(ids[j])) not in judged for i, j in edges], dtype=bool)
        edges, sims = edges[keep], sims[keep]
        labels = cluster(len(texts), edges)
    groups = _groups(labels, rank, edges, sims)
    with store.transaction() as con:
        run_id = _new_run(con, config)
        if groups:
            con.register("_found", pa.table({
                "ids": pa.array([[int(ids[i]) for i in g] for g, _ in groups], pa.list_(pa.int64())),
                "sims": pa.array([s for _, s in groups], pa.list_(pa.float64()))}))
            _write_clusters(con, run_id, config.method, "SELECT ids, sims FROM _found")
            con.unregister("_found")
    return run_id, len(rows), timings


def _groups(labels: np.ndarray, rank: np.ndarray, edges: np.ndarray, sims: np.ndarray
            ) -> list[tuple[list[int], list[float]]]:
    """Per cluster: member indexes with the keeper first, and each member's similarity to the
    cluster (the best verified edge it has; 1.0 for the keeper)."""
    best = np.zeros(len(labels))
    if len(edges):
        np.maximum.at(best, edges[:, 0], sims)
        np.maximum.at(best, edges[:, 1], sims)
    members: dict[int, list[int]] = {}
    for i in np.flatnonzero(labels >= 0):
        members.setdefault(int(labels[i]), []).append(int(i))
    out = []
    for group in members.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda i: rank[i])
        out.append((group, [1.0] + [round(float(best[i]), 4) for i in group[1:]]))
    return out


def similar_pairs(vectors: np.ndarray, threshold: float, exact_max: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of unit vectors with cosine ≥ threshold: exact blocked kNN up to exact_max vectors,
    an approximate HNSW index (usearch) above."""
    n = len(vectors)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    if n <= exact_max:
        found_i, found_j, found_s = [], [], []
        for start in range(0, n, 2048):
            block = vectors[start:start + 2048] @ vectors.T
            i, j = np.nonzero(block >= threshold)
            i = i + start
            keep = i < j
            found_i.append(i[keep])
            found_j.append(j[keep])
            found_s.append(block[i[keep] - start, j[keep]])
        edges = np.stack([np.concatenate(found_i), np.concatenate(found_j)], axis=1).astype(np.int64)
        return edges, np.concatenate(found_s).astype(float)
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="cos")
    index.add(np.arange(n), vectors)
    matches = index.search(vectors, 20)
    keys, distances = np.asarray(matches.keys), np.asarray(matches.distances)
    rows = np.repeat(np.arange(n), keys.shape[1])
    cols, sims = keys.ravel().astype(np.int64), 1.0 - distances.ravel()
    keep = (sims >= threshold) & (rows < cols)
    edges = np.stack([rows[keep], cols[keep]], axis=1)
    unique, first = np.unique(edges[:, 0] * n + edges[:, 1], return_index=True)
    return edges[first], sims[keep][first]
