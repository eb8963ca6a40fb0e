"""Domain-evaluation generation on the CPU: tuneloop's `generate_texts` against transformers'
batched `generate` over the prompts in the order they come (what domain evaluation did before),
on the same model (SmolLM2-135M-Instruct, offline), the same prompts (lamini_docs questions in
the qa template), greedy, in one process, each measured after a warm-up batch.

    .venv/bin/python benchmarks/generate.py                 # 64 prompts, 64 new tokens, batch 8
    .venv/bin/python benchmarks/generate.py --prompts 128 --bf16

Prints answer tokens per second for both, their ratio, and how many greedy answers are the same.
With --bf16 it also runs tuneloop's path with bf16 weights (where the CPU has bf16 units), and
counts how many answers bf16 changes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "lamini_docs" / "lamini_docs.jsonl"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def prompts(n: int) -> list[str]:
    from curate.lm.templates import render_prompt

    with open(DATA, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh][:n]
    return [render_prompt("qa", {"instruction": r["question"]}) for r in rows]


def in_arrival_order(model, tokenizer, texts: list[str], max_new_tokens: int, batch_size: int) -> list[dict]:
    """The peer: transformers' batched generate, batches in the prompts' own order."""
    import torch

    tokenizer.padding_side = "left"
    out = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False)
        with torch.inference_mode():
            ids = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        for row in ids[:, encoded["input_ids"].shape[1]:]:
            row = row[row != tokenizer.pad_token_id]
            out.append({"output": tokenizer.decode(row, skip_special_tokens=True).strip(), "tokens": int(len(row))})
    return out


def timed(fn) -> tuple[list[dict], float]:
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8, help="the peer's batch (domain evaluation's old default)")
    parser.add_argument("--our-batch-size", type=int, default=None, help="tuneloop's batch (default: its own)")
    parser.add_argument("--bf16", action="store_true", help="also measure bf16 weights")
    args = parser.parse_args()
    import torch

    from curate.lm.decoding import generate_texts
    from curate.lm.device import Placement, cpu_has_bf16
    from curate.lm.load import load_causal_lm

    torch.set_num_threads(os.cpu_count() or 1)
    texts = prompts(args.prompts)
    model, tokenizer, _ = load_causal_lm(None, placement=Placement("cpu", "fp32"))
    generate_texts(model, tokenizer, texts[:args.batch_size], max_new_tokens=8, batch_size=args.batch_size)  # warm-up
    peer, peer_s = timed(lambda: in_arrival_order(model, tokenizer, texts, args.max_new_tokens, args.batch_size))
    ours_batch = {} if args.our_batch_size is None else {"batch_size": args.our_batch_size}
    ours, ours_s = timed(lambda: generate_texts(model, tokenizer, texts, max_new_tokens=args.max_new_tokens,
                                                **ours_batch))
    rate = lambda rows, s: sum(r["tokens"] for r in rows) / s
    same = sum(a["output"] == b["output"] for a, b in zip(peer, ours))
    print(f"SmolLM2-135M-Instruct, {len(texts)} lamini_docs prompts, greedy, {args.max_new_tokens} new tokens,"
          f" batch {args.batch_size}, {os.cpu_count()} CPU threads")
    print(f"transformers generate, arrival order (peer): {rate(peer, peer_s):8.1f} answer tokens/s ({peer_s:.1f} s)")
    print(f"tuneloop generate_texts, length-sorted:      {rate(ours, ours_s):8.1f} answer tokens/s ({ours_s:.1f} s)")
    print(f"ratio tuneloop/peer: {rate(ours, ours_s) / rate(peer, peer_s):.2f}x; same greedy answers: {same}/{len(texts)}")
    if args.bf16 and cpu_has_bf16():
        model = model.to(torch.bfloat16)
        generate_texts(model, tokenizer, texts[:args.batch_size], max_new_tokens=8, batch_size=args.batch_size)
        half, half_s = timed(lambda: generate_texts(model, tokenizer, texts, max_new_tokens=args.max_new_tokens,
                                                    **ours_batch))
        changed = sum(a["output"] != b["output"] for a, b in zip(ours, half))
        print(f"tuneloop generate_texts, bf16 weights:       {rate(half, half_s):8.1f} answer tokens/s ({half_s:.1f} s);"
              f" ratio to peer {rate(half, half_s) / rate(peer, peer_s):.2f}x; answers bf16 changed: {changed}/{len(texts)}")


if __name__ == "__main__":
    main()
