"""Sentence embeddings, stored once per text and model in the store.

Computing is a pure function over a batch of texts (`embed`); `vectors_for` reads what the store
has, computes the rest with nothing held open, and writes them back.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import pyarrow as pa

from curate.lm.resolve import resolve_embedding_model
from curate.store import Store


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=2)
def _encoder(path: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def embed(texts: list[str], model: str | None = None, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
    """Unit-length vectors (texts × dim, float32), so a dot product is the cosine similarity."""
    encoder = _encoder(resolve_embedding_model(model))
    return encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                          show_progress_bar=show_progress).astype(np.float32)


def model_name(model: str | None = None) -> str:
    path = resolve_embedding_model(model)
    return path.rstrip("/").split("/")[-2] if path.endswith("/model") else path


def vectors_for(store: Store, texts: list[str], model: str | None = None, show_progress: bool = False) -> np.ndarray:
    """Vectors for the texts, computing and storing the ones the store does not have yet."""
    name = model_name(model)
    hashes = [text_hash(t) for t in texts]
    known: dict[str, np.ndarray] = {}
    with store.connect() as con:
        table = con.sql(
            "SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN (SELECT unnest(?::VARCHAR[]))",
            params=[name, list(set(hashes))]).to_arrow_table()
    vectors = table.column("vector").combine_chunks()
    if len(vectors):
        matrix = vectors.values.to_numpy().astype(np.float32).reshape(len(vectors), -1)
        known.update(zip(table.column("text_hash").to_pylist(), matrix))
    missing = {h: t for h, t in zip(hashes, texts) if h not in known}
    if missing:
        vectors = embed(list(missing.values()), model, show_progress=show_progress)
        with store.transaction() as con:
            con.register("_new_embeddings", pa.table({
                "text_hash": list(missing), "model": [name] * len(missing),
                "vector": pa.array([v.tolist() for v in vectors], pa.list_(pa.float32()))}))
            con.execute("INSERT INTO embeddings SELECT text_hash, model, vector FROM _new_embeddings")
            con.unregister("_new_embeddings")
        known.update(zip(missing, vectors))
    if not texts:
        return np.empty((0, 0), dtype=np.float32)
    return np.stack([known[h] for h in hashes])
