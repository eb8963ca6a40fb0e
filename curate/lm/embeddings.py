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
def _encoder(path: str, device: str, precision: str):
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(path, device=device)
    return encoder.half() if precision == "fp16" else encoder.bfloat16() if precision == "bf16" else encoder


def embed(texts: list[str], model: str | None = None, batch_size: int = 64, show_progress: bool = False,
          device: str | None = None, precision: str | None = None) -> np.ndarray:
    """Unit-length vectors (texts × dim, float32), so a dot product is the cosine similarity, on the
    device and in the precision curate.lm.device resolves (fp32 on a CPU unless asked otherwise)."""
    from curate.lm.device import resolve

    where = resolve(device, precision)
    encoder = _encoder(resolve_embedding_model(model), where.device, where.precision)
    if where.precision == "fp32":
        return encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                              show_progress_bar=show_progress).astype(np.float32)
    vectors = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_tensor=True,
                             show_progress_bar=show_progress)   # numpy has no bf16: convert on the torch side
    return vectors.float().cpu().numpy().reshape(len(texts), -1) if len(texts) else np.zeros((0, 0), np.float32)


class Embedder:
    """The embedding step over one batch (an Arrow table with a `text` column → a `vector`
    column), for either engine (curate.engine): a class, so Ray builds one per worker and the
    model loads once there."""

    def __init__(self, model: str | None = None, device: str | None = None, precision: str | None = None):
        self.model, self.device, self.precision = model, device, precision

    def __call__(self, batch: pa.Table) -> pa.Table:
        vectors = embed(batch.column("text").to_pylist(), self.model, device=self.device, precision=self.precision)
        dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else 0
        flat = pa.array(vectors.reshape(-1), pa.float32())
        return pa.table({"vector": pa.FixedSizeListArray.from_arrays(flat, dim) if dim
                         else pa.array([], pa.list_(pa.float32()))})


def model_name(model: str | None = None, precision: str | None = None) -> str:
    """The name vectors are stored under: the model's, and its precision when that is not fp32."""
    path = resolve_embedding_model(model)
    name = path.rstrip("/").split("/")[-2] if path.endswith("/model") else path
    if precision is None:
        from curate.lm.device import resolve

        precision = resolve().precision
    return name if precision == "fp32" else f"{name}@{precision}"


def vectors_for(store: Store, texts: list[str], model: str | None = None, show_progress: bool = False,
                engine=None, job=None) -> np.ndarray:
    """Vectors for the texts, computing the ones the store does not have yet on `engine` (a
    curate.engine.Engine; this process by default) with the store let go, then storing them.
    They are computed and stored under the precision this process resolves (Ray's workers are
    told it, so the name and the vectors agree)."""
    from curate.lm.device import resolve

    where = resolve()
    name = model_name(model, where.precision)
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
        vectors = _compute(list(missing.values()), model, where, show_progress, engine, job)
        with store.transaction() as con:
            con.register("_new_embeddings", pa.table({
                "text_hash": list(missing), "model": [name] * len(missing),
                "vector": _as_lists(vectors)}))
            con.execute("INSERT INTO embeddings SELECT text_hash, model, vector FROM _new_embeddings")
            con.unregister("_new_embeddings")
        known.update(zip(missing, vectors))
    if not texts:
        return np.empty((0, 0), dtype=np.float32)
    return np.stack([known[h] for h in hashes])


def _as_lists(vectors: np.ndarray) -> pa.Array:
    """Rows of a float32 matrix as an Arrow list array, without a Python list per row (about 20x faster)."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]).cast(pa.list_(pa.float32()))


def _compute(texts: list[str], model: str | None, where, show_progress: bool, engine, job) -> np.ndarray:
    if engine is None or engine.name == "local":
        return embed(texts, model, show_progress=show_progress, device=where.device, precision=where.precision)
    from curate.engine import progress_of

    with progress_of("embeddings", len(texts), show_progress, job) as progress:
        table = engine.run(Embedder, pa.table({"text": pa.array(texts, pa.string())}), batch_size=256,
                           step_args=(model, where.device, where.precision), progress=progress)
    return table.column("vector").combine_chunks().flatten().to_numpy().astype(np.float32).reshape(len(texts), -1)
