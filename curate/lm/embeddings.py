"""Sentence embeddings, stored once per text and model in the store.

Computing is a pure function over a batch of texts (`embed`); `vectors_for` reads what the store
has, computes the rest with nothing held open, and writes them back.

Defaults, measured (benchmarks/embed.py; docs/benchmarks/dedupe.md): batches of 16 texts sorted
by length (on 2 CPU cores a smaller batch pads less and was faster than 32 or 64), and on CPUs with
AVX512-BF16 or AMX the ONNX export run in bf16 by OpenVINO (`openvino-bf16`, curate.lm.onnx_encoder):
about 3x sentence-transformers' `encode` at its defaults, every vector within cosine 0.9999 of
fp32's and the same near-duplicate pairs. PyTorch bf16 (`bf16`: 1.7x, cosine 0.996) is the default
where OpenVINO is not installed. The precision (and engine) is part of the stored vectors' model
name, so vectors of different arithmetic never mix. int8 (ONNX Runtime) is asked for, never the
default: 89.7% the same near-duplicate pairs as fp32, under the 97% a default must keep.
`TUNELOOP_EMBED_PRECISION` sets the embeddings' precision alone (EMBED_PRECISIONS).
Domain evaluation's answer similarity asks for fp32, so a metric does not move with the hardware.
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache

import numpy as np
import pyarrow as pa

from curate.errors import TuneloopError
from curate.lm.resolve import resolve_embedding_model
from curate.store import Store


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=2)
def _encoder(path: str, device: str, precision: str):
    if precision in ONNX_PRECISIONS:   # the ONNX export, without PyTorch (curate.lm.onnx_encoder)
        from curate.lm.onnx_encoder import OnnxEncoder, OpenVinoEncoder

        return OnnxEncoder(path) if precision == "int8" else OpenVinoEncoder(path)
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(path, device=device)
    return encoder.half() if precision == "fp16" else encoder.bfloat16() if precision == "bf16" else encoder


BATCH_SIZE = 16
EMBED_PRECISION_ENV = "TUNELOOP_EMBED_PRECISION"   # one of EMBED_PRECISIONS, for embeddings only
ONNX_PRECISIONS = ("openvino-bf16", "int8")        # the CPU-only engines of curate.lm.onnx_encoder
EMBED_PRECISIONS = ("auto", "fp32", "bf16", "fp16", *ONNX_PRECISIONS)


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def placement(device: str | None = None, precision: str | None = None):
    """Where and in what precision embeddings run: curate.lm.device's choice, except that with no
    precision asked for, a CPU with AVX512-BF16 or AMX embeds in bf16 — through OpenVINO where it
    is installed (see the module's notes)."""
    import os

    from curate.lm.device import PRECISION_ENV, Placement, cpu_has_bf16, resolve

    choice = (precision or os.environ.get(EMBED_PRECISION_ENV) or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if choice not in EMBED_PRECISIONS:
        raise TuneloopError(f"embedding precision {choice!r}: choose one of {', '.join(EMBED_PRECISIONS)}")
    if choice in ONNX_PRECISIONS:
        engine = "ONNX Runtime" if choice == "int8" else "OpenVINO"
        if resolve(device, "fp32").device != "cpu":
            raise TuneloopError(f"{choice} embeddings run on the CPU ({engine}): ask for --device cpu")
        if choice == "openvino-bf16" and not cpu_has_bf16():
            raise TuneloopError("openvino-bf16 embeddings need a CPU with AVX512-BF16 or AMX; use fp32")
        if choice == "openvino-bf16" and not openvino_available():
            raise TuneloopError("openvino-bf16 embeddings need OpenVINO: pip install openvino")
        return Placement("cpu", choice)
    where = resolve(device, None if choice == "auto" else choice)
    asked = choice != "auto"
    if not asked and where.device == "cpu" and cpu_has_bf16():
        return Placement("cpu", "openvino-bf16" if openvino_available() else "bf16")
    return where


def embed(texts: list[str], model: str | None = None, batch_size: int = BATCH_SIZE, show_progress: bool = False,
          device: str | None = None, precision: str | None = None) -> np.ndarray:
    """Unit-length vectors (texts × dim, float32), so a dot product is the cosine similarity, on the
    device and in the precision `placement` resolves."""
    where = placement(device, precision)
    encoder = _encoder(resolve_embedding_model(model), where.device, where.precision)
    if where.precision in ONNX_PRECISIONS:
        from tqdm.auto import tqdm

        with tqdm(total=len(texts), desc="embed", unit="text", disable=not show_progress) as bar:
            return encoder.encode(texts, batch_size=batch_size, progress=bar)
    if where.precision == "fp32":
        return encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                              show_progress_bar=show_progress).astype(np.float32)
    vectors = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_tensor=True,
                             show_progress_bar=show_progress)   # numpy has no bf16: convert on the torch side
    if not len(texts):
        return np.zeros((0, 0), np.float32)
    vectors = vectors.float().cpu().numpy().reshape(len(texts), -1)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)   # unit length again in float32


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
        precision = placement().precision
    return name if precision == "fp32" else f"{name}@{precision}"


def vectors_for(store: Store, texts: list[str], model: str | None = None, show_progress: bool = False,
                engine=None, job=None) -> np.ndarray:
    """Vectors for the texts, computing the ones the store does not have yet on `engine` (a
    curate.engine.Engine; this process by default) with the store let go, then storing them.
    They are computed and stored under the precision this process resolves (Ray's workers are
    told it, so the name and the vectors agree)."""
    where = placement()
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
