"""The one batched generation function: pair generation (through the local backend) and domain
evaluation both call it, so they decode the same way."""
from __future__ import annotations

import time


def generate_texts(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int = 8,
                   temperature: float = 0.0, top_p: float = 0.9, repetition_penalty: float = 1.0,
                   seed: int = 0) -> list[dict]:
    """Continuations of already-templated prompts, batched with left padding, on the model's device.

    Greedy when temperature is 0, else sampled with a seed per batch (same seed and batches, same
    text). Returns, per prompt: the text, its token count and the batch's latency per item (ms)."""
    import torch

    tokenizer.padding_side = "left"  # generation continues on the right
    out: list[dict] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start:start + batch_size]
        encoded = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        torch.manual_seed(seed + start)
        sampling = ({"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0
                    else {"do_sample": False})
        began = time.perf_counter()
        with torch.inference_mode():
            ids = model.generate(**encoded, max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty,
                                 pad_token_id=tokenizer.pad_token_id, **sampling)
        per_item = (time.perf_counter() - began) * 1000 / len(batch)
        width = encoded["input_ids"].shape[1]
        for row in ids:
            new = row[width:]
            new = new[new != tokenizer.pad_token_id]
            out.append({"output": tokenizer.decode(new, skip_special_tokens=True).strip(), "tokens": int(len(new)),
                        "latency_ms": round(per_item, 1)})
    return out
