"""The one batched generation function: pair generation (through the local backend) and domain
evaluation both call it, so they decode the same way."""
from __future__ import annotations

import time

# Prompts per generate call. Decoding a small model on a CPU is bound by reading the weights once
# per step, so a bigger batch shares that read: measured here (benchmarks/generate.py, SmolLM2-135M,
# 2 cores) 32 gives 2.4x the answer tokens/s of 8 with the same greedy answers; 64 adds little.
BATCH_SIZE = 32
_MARK_IDS: dict[tuple, object] = {}


def _ids_containing(tokenizer, text: str):
    """The token ids whose text contains `text` (e.g. every token with a '?'), computed once."""
    import torch

    key = (tokenizer.name_or_path, len(tokenizer), text)
    if key not in _MARK_IDS:
        pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        _MARK_IDS[key] = torch.tensor([i for i, piece in enumerate(pieces) if text in piece], dtype=torch.long)
    return _MARK_IDS[key]


def stop_after(tokenizer, text: str, count: int, width: int):
    """A stopping criterion: a row is done once its new tokens (after `width`) hold `count` tokens
    containing `text` — a list of k questions ends at its k-th question mark, not at the token
    limit. The batch ends when every row is done."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    ids = _ids_containing(tokenizer, text)

    class Enough(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.isin(input_ids[:, width:], ids.to(input_ids.device)).sum(1) >= count
    return StoppingCriteriaList([Enough()])


def generate_texts(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int = BATCH_SIZE,
                   temperature: float = 0.0, top_p: float = 0.9, repetition_penalty: float = 1.0,
                   seed: int = 0, stop: tuple[str, int] | None = None) -> list[dict]:
    """Continuations of already-templated prompts, batched with left padding, on the model's device.

    Prompts are batched by length (longest first), so a batch pads little, and the answers come
    back in the prompts' order. Greedy when temperature is 0, else sampled with a seed per batch
    (same seed and prompts, same text). With stop=(text, count) a row ends after `count` tokens
    containing `text` (stop_after). Returns, per prompt: the text, its token count and the
    batch's latency per item (ms)."""
    import torch

    tokenizer.padding_side = "left"  # generation continues on the right
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]] if prompts else []
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    out: list[dict | None] = [None] * len(prompts)
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        batch = [prompts[i] for i in chosen]
        encoded = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        torch.manual_seed(seed + start)
        sampling = ({"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0
                    else {"do_sample": False})
        if stop:
            sampling["stopping_criteria"] = stop_after(tokenizer, *stop, encoded["input_ids"].shape[1])
        began = time.perf_counter()
        with torch.inference_mode():
            ids = model.generate(**encoded, max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty,
                                 pad_token_id=tokenizer.pad_token_id, **sampling)
        per_item = (time.perf_counter() - began) * 1000 / len(batch)
        width = encoded["input_ids"].shape[1]
        for i, row in zip(chosen, ids):
            new = row[width:]
            new = new[new != tokenizer.pad_token_id]
            out[i] = {"output": tokenizer.decode(new, skip_special_tokens=True).strip(), "tokens": int(len(new)),
                      "latency_ms": round(per_item, 1)}
    return out


class Answerer:
    """Answers to a batch of prompts (an Arrow table with a `prompt` column → output, tokens,
    latency_ms), greedy unless told: domain evaluation's step for either engine (curate.engine).
    A class, so each Ray worker loads the model once; `model` is a spec that needs no store (a
    folder, a .gguf file or a hub id)."""

    def __init__(self, model: str, device: str | None = None, precision: str | None = None,
                 max_new_tokens: int = 128, batch_size: int = BATCH_SIZE, sampling: dict | None = None):
        from curate.lm.device import resolve
        from curate.lm.load import load_causal_lm

        self.model, self.tokenizer, _ = load_causal_lm(model, placement=resolve(device, precision))
        self.max_new_tokens, self.batch_size, self.sampling = max_new_tokens, batch_size, sampling or {}

    def __call__(self, batch):
        import pyarrow as pa

        answers = generate_texts(self.model, self.tokenizer, batch.column("prompt").to_pylist(),
                                 max_new_tokens=self.max_new_tokens, batch_size=self.batch_size, **self.sampling)
        return pa.table({"output": pa.array([a["output"] for a in answers], pa.string()),
                         "tokens": pa.array([a["tokens"] for a in answers], pa.int64()),
                         "latency_ms": pa.array([a["latency_ms"] for a in answers], pa.float64())})
