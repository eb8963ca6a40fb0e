"""vLLM as an optional inference engine (extra `gpu`: pip install 'tuneloop[gpu]'), for pair
generation, domain evaluation and benchmarks on a CUDA machine; curate.lm.backends chooses it
(`vllm`, or `auto` where CUDA and vllm are present). The choice made is recorded with the job and
the evaluation. Greedy decoding gives the same answers as transformers within the numeric
tolerance vLLM documents (its kernels differ, so an answer can part at a near-tie); a comparison
between runs should therefore use one engine for both.

Nothing here imports vllm or torch at module level.
"""
from __future__ import annotations

import time


def load_llm(model_dir: str, placement):
    """A vLLM engine over a local model folder (or hub id), in the placement's precision."""
    from vllm import LLM

    dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[placement.precision]
    return LLM(model_dir, dtype=dtype, seed=0)


def generate_texts_vllm(llm, prompts: list[str], *, max_new_tokens: int, temperature: float = 0.0,
                        top_p: float = 0.9, repetition_penalty: float = 1.0, seed: int = 0,
                        stop: tuple[str, int] | None = None) -> list[dict]:
    """The same result shape as curate.lm.decoding.generate_texts: text, token count, latency.
    stop=(text, 1) stops at the text (kept in the output); a count above one is not stopped on."""
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=max_new_tokens, temperature=temperature,
                            top_p=top_p if temperature > 0 else 1.0, repetition_penalty=repetition_penalty,
                            seed=seed, **({"stop": [stop[0]], "include_stop_str_in_output": True}
                                          if stop and stop[1] == 1 else {}))
    began = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    per_item = (time.perf_counter() - began) * 1000 / max(len(prompts), 1)
    return [{"output": o.outputs[0].text.strip(), "tokens": len(o.outputs[0].token_ids),
             "latency_ms": round(per_item, 1)} for o in outputs]
