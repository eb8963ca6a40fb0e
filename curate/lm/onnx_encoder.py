"""The sentence-embedding model as an int8 ONNX graph, run by ONNX Runtime on the CPU.

The packaged model (a sentence-transformers folder: a BERT encoder, mean pooling, normalisation)
is exported once with `torch.onnx.export` — pooling and normalisation inside the graph — and its
matrix products quantized to int8 with ONNX Runtime's dynamic quantization (per channel; the
embedding lookups stay float). The two files are cached under the tuneloop cache folder, keyed
by the model's weights, and written under a temporary name first, so an interrupted export
leaves nothing half-written. Texts run in batches sorted by length (less padding).

Measured (benchmarks/embed.py, docs/benchmarks/dedupe.md) on 5,022 lamini_docs and twcs texts on
a 2-core CPU: 2.15x sentence-transformers' `encode` at its defaults (bf16: 1.72x), vectors within
cosine 0.94 of fp32's (mean 0.992), 89.7% the same near-duplicate pairs at cosine 0.92 — too few
for a default, so it is used only when asked for. Quantizing every operator (embeddings too) or
per tensor moved vectors as far as cosine 0.91.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from curate.lm.resolve import cache_dir

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _weights_key(model_dir: Path) -> str:
    weights = next(iter(sorted(model_dir.glob("*.safetensors"))), None) or next(iter(sorted(model_dir.glob("*.bin"))))
    stat = weights.stat()
    return hashlib.sha256(f"{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def _max_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    return int(json.loads(config.read_text()).get("max_seq_length", 256)) if config.exists() else 256


def _export(model_dir: Path, out: Path) -> None:
    """The encoder with mean pooling and normalisation, as one ONNX graph (float32)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    class Pooled(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    encoder = AutoModel.from_pretrained(str(model_dir)).eval()
    sample = tokenizer(["an example", "a second, longer example"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {"embedding": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(Pooled(encoder), tuple(sample[name] for name in INPUTS), str(out), input_names=list(INPUTS),
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)


def quantized_model(model_dir: str | Path) -> Path:
    """The int8 ONNX file for a sentence-transformers folder, exported and quantized on first use."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model_dir = Path(model_dir)
    folder = cache_dir() / "onnx" / f"{model_dir.parent.name}-{_weights_key(model_dir)}"
    target = folder / "model-int8.onnx"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f".{os.getpid()}.tmp"
    plain, quantized = folder / f"model-fp32.onnx{suffix}", folder / f"model-int8.onnx{suffix}"
    try:
        _export(model_dir, plain)
        quantize_dynamic(str(plain), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        os.replace(quantized, target)
    finally:
        plain.unlink(missing_ok=True)
        quantized.unlink(missing_ok=True)
    return target


class OnnxEncoder:
    """`encode(texts)` → unit-length float32 vectors, like SentenceTransformer.encode."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        import onnxruntime
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        self.session = onnxruntime.InferenceSession(str(quantized_model(model_dir)), options,
                                                    providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.max_length = _max_length(Path(model_dir))

    def encode(self, texts: list[str], batch_size: int = 32, progress=None) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = None
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            tokens = self.tokenizer([texts[i] for i in chosen], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="np")
            vectors = self.session.run(None, {name: tokens[name].astype(np.int64) for name in INPUTS})[0]
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), np.float32)
            out[chosen] = vectors
            if progress is not None:
                progress.update(len(chosen))
        return out


@lru_cache(maxsize=2)
def onnx_encoder(model_dir: str) -> OnnxEncoder:
    return OnnxEncoder(model_dir)
