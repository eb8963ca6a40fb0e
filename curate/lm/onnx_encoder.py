"""The sentence-embedding model as an ONNX graph, run without PyTorch on the CPU: in bf16 by
OpenVINO (the default on CPUs with AVX512-BF16 or AMX) or with int8 matrix products by ONNX
Runtime (asked for).

The packaged model (a sentence-transformers folder: a BERT encoder, mean pooling, normalisation)
is exported once with `torch.onnx.export` — pooling and normalisation inside the graph — and
cached under the tuneloop cache folder, keyed by the model's weights; the int8 copy is made from
it with ONNX Runtime's dynamic quantization (per channel; the embedding lookups stay float). Files
are written under a temporary name first, so an interrupted export leaves nothing half-written.
Texts are tokenized in one call, then run in batches sorted by token length (less padding).

Measured (benchmarks/embed.py, docs/benchmarks/dedupe.md) on real lamini_docs and twcs texts on a
2-core AVX512-BF16 CPU: OpenVINO bf16 in batches of 16 about 3x sentence-transformers' `encode`
at its defaults, every vector within cosine 0.9999 of fp32's and the same near-duplicate pairs;
ONNX Runtime int8 faster than PyTorch bf16 but 89.7% the same pairs — too few for a default.
Quantizing every operator (embeddings too) or per tensor moved vectors as far as cosine 0.91;
leaving the feed-forward output products in float kept 96% of the pairs at the speed of bf16.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
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


def _cached(model_dir: Path, name: str, make) -> Path:
    """A file of the model's cache folder, made by make(temporary path) the first time."""
    folder = cache_dir() / "onnx" / f"{model_dir.parent.name}-{_weights_key(model_dir)}"
    target = folder / name
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f"{name}.{os.getpid()}.tmp"
    try:
        make(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def exported_model(model_dir: str | Path) -> Path:
    """The float32 ONNX file for a sentence-transformers folder, exported on first use."""
    model_dir = Path(model_dir)
    return _cached(model_dir, "model-fp32.onnx", lambda out: _export(model_dir, out))


def quantized_model(model_dir: str | Path) -> Path:
    """The int8 ONNX file for a sentence-transformers folder, quantized on first use."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    plain = exported_model(model_dir)
    return _cached(Path(model_dir), "model-int8.onnx", lambda out: quantize_dynamic(
        str(plain), str(out), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]))


class _Encoder:
    """`encode(texts)` → unit-length float32 vectors, like SentenceTransformer.encode; a subclass
    says how one batch of token arrays runs (`_run`)."""

    def __init__(self, model_dir: str | Path):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.max_length = _max_length(Path(model_dir))

    def _run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: list[str], batch_size: int = 16, progress=None) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), np.float32)
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = None
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            width = max(len(ids[i]) for i in chosen)
            tokens = np.full((len(chosen), width), self.tokenizer.pad_token_id or 0, np.int64)
            mask = np.zeros((len(chosen), width), np.int64)
            for row, i in enumerate(chosen):
                tokens[row, :len(ids[i])], mask[row, :len(ids[i])] = ids[i], 1
            vectors = self._run({"input_ids": tokens, "attention_mask": mask, "token_type_ids": np.zeros_like(tokens)})
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), np.float32)
            out[chosen] = vectors
            if progress is not None:
                progress.update(len(chosen))
        return out


class OnnxEncoder(_Encoder):
    """int8 matrix products, by ONNX Runtime."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        import onnxruntime

        super().__init__(model_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        self.session = onnxruntime.InferenceSession(str(quantized_model(model_dir)), options,
                                                    providers=["CPUExecutionProvider"])

    def _run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, inputs)[0]


class OpenVinoEncoder(_Encoder):
    """bf16 arithmetic on the CPU's bf16 units, by OpenVINO (the float32 graph, compiled with a bf16
    inference precision: weights and activations in bf16, sums and normalisation as OpenVINO keeps
    them)."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        import openvino

        super().__init__(model_dir)
        core = openvino.Core()
        self.compiled = core.compile_model(core.read_model(str(exported_model(model_dir))), "CPU", {
            "INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": threads or os.cpu_count() or 1,
            "PERFORMANCE_HINT": "LATENCY"})
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()   # one request, and the app's sessions are threads

    def _run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        with self.lock:
            return next(iter(self.request.infer(inputs).values())).copy()
