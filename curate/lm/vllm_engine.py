"""vLLM as an optional inference engine (extra `gpu`: pip install 'tuneloop[gpu]'), for pair
generation, domain evaluation and benchmarks on a CUDA machine.

`backend` choices for inference: `local` (transformers, everywhere), `vllm` (CUDA and the vllm
package), `auto` (vllm where both are present, else local). The choice made is recorded with the
job and the evaluation. Greedy decoding gives the same answers as transformers within the numeric
tolerance vLLM documents (its kernels differ, so an answer can part at a near-tie); a comparison
between runs should therefore use one engine for both.

Nothing here imports vllm or torch at module level.
"""
from __future__ import annotations

import importlib.util
import time

from curate.errors import TuneloopError

INFERENCE_BACKENDS = ("auto", "local", "vllm")
BACKEND_HELP = ("Inference backend: local (transformers), vllm (CUDA, pip install 'tuneloop[gpu]'),"
                " auto (vllm where CUDA and vllm are present, else local).")


def vllm_available() -> bool:
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def choose_backend(backend: str | None, device: str) -> str:
    """`auto` → vllm on CUDA with vllm installed, else local; an explicit vllm it cannot use is refused."""
    backend = (backend or "auto").lower()
    if backend not in INFERENCE_BACKENDS:
        raise TuneloopError(f"--backend {backend!r}: choose one of {', '.join(INFERENCE_BACKENDS)}")
    if backend == "auto":
        return "vllm" if device.startswith("cuda") and vllm_available() else "local"
    if backend == "vllm":
        if not device.startswith("cuda"):
            raise TuneloopError("the vllm backend runs on CUDA GPUs only; use --backend local on this device")
        if importlib.util.find_spec("vllm") is None:
            raise TuneloopError("the vllm backend needs vLLM: pip install 'tuneloop[gpu]'")
    return backend


def load_llm(model_dir: str, placement):
    """A vLLM engine over a local model folder (or hub id), in the placement's precision."""
    from vllm import LLM

    dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[placement.precision]
    return LLM(model_dir, dtype=dtype, seed=0)


def generate_texts_vllm(llm, prompts: list[str], *, max_new_tokens: int, temperature: float = 0.0,
                        top_p: float = 0.9, repetition_penalty: float = 1.0, seed: int = 0) -> list[dict]:
    """The same result shape as curate.lm.generation.generate_texts: text, token count, latency."""
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=max_new_tokens, temperature=temperature,
                            top_p=top_p if temperature > 0 else 1.0, repetition_penalty=repetition_penalty,
                            seed=seed)
    began = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    per_item = (time.perf_counter() - began) * 1000 / max(len(prompts), 1)
    return [{"output": o.outputs[0].text.strip(), "tokens": len(o.outputs[0].token_ids),
             "latency_ms": round(per_item, 1)} for o in outputs]
