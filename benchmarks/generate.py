"""Generation on the CPU, SmolLM2-135M-Instruct offline, in one process.

Domain evaluation (the default): tuneloop's `generate_texts` against transformers' batched
`generate` over the prompts in the order they come (what domain evaluation did before), on the
same prompts (lamini_docs questions in the qa template), greedy, each after a warm-up batch.

    .venv/bin/python benchmarks/generate.py                 # 64 prompts, 64 new tokens, batch 8
    .venv/bin/python benchmarks/generate.py --prompts 128 --bf16

Prints answer tokens per second for both, their ratio, and how many greedy answers are the same.
With --bf16 it also runs tuneloop's path with bf16 weights (where the CPU has bf16 units), and
counts how many answers bf16 changes.

Pair generation (--pairs): `pairs generate --from documents` on lamini_docs text (the answers of
its first 200 records, as one document), three ways on the same chunks:
- before: the loop this project had until 2026-12-07 (one round at a time, each round's chunks
  in batches of 32, three questions per chunk up to 160 tokens, then the model's answers, those
  the chunk does not support dropped), written out below as it was;
- tuneloop, answers "model": the same prompts in waves across rounds, question lists stopped at
  their third question mark;
- tuneloop, answers "passage" (the default): the chunk's passages as answers, the model writing
  each one's question.

    .venv/bin/python benchmarks/generate.py --pairs          # 32 chunks each (about 8 minutes)

Prints, for each: prompts/s, kept pairs/min and the ratio to before, and for the kept pairs the
grounding (share of the answer's content words in its chunk, curate.pairs.grounding) and the fit
of question and answer (cosine of the packaged sentence-embedding model's vectors).
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


def torch_threads() -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)


def timed(fn) -> tuple[list[dict], float]:
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


def documents(limit: int = 200) -> list[dict]:
    """lamini_docs' answers as one document row, shaped as `load_inputs` reads raw_logs."""
    with open(DATA, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh][:limit]
    text = "\n\n".join(r["answer"] for r in rows if len(r["answer"].split()) > 20)
    return [{"id": 1, "source_id": 1, "payload": {"title": "lamini_docs", "text": text}}]


def before(backend, rows: list[dict], config) -> dict:
    """Pair generation as it was before waves: a round's chunks in batches, questions (160 tokens,
    sampled), then answers, round after round."""
    import random

    from curate.pairs import prompts as g
    from curate.pairs.grounding import GROUNDED, support

    rng, kept, prompts, seen = random.Random(config.seed), [], 0, set()
    chunks = [c for row in rows for c in g.chunk_text(row["payload"]["text"], config.chunk_words)]
    for round_no in range(config.max_rounds):
        order = chunks[:]
        rng.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            part = order[start:start + config.batch_size]
            replies = backend.chat([g.question_messages(c, config.topic, config.questions_per_chunk) for c in part],
                                   max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                   seed=config.seed + 1000 * round_no + start)
            asks = []
            for chunk, reply in zip(part, replies):
                for q in g.parse_questions(reply)[:config.questions_per_chunk]:
                    if g.drop_reason(q, g.PROMPT_PHRASES) is None and g.text_key(q) not in seen:
                        seen.add(g.text_key(q))
                        asks.append((q, chunk))
            answers = backend.chat([g.answer_messages(c, q, config.topic) for q, c in asks],
                                   max_new_tokens=config.max_new_tokens, temperature=0.0, seed=config.seed)
            prompts += len(part) + len(asks)
            for (q, chunk), reply in zip(asks, answers):
                answer = g.clean_answer(reply)
                if g.drop_reason(answer, g.PROMPT_PHRASES) is None and support(answer, chunk) >= GROUNDED:
                    kept.append({"instruction": q, "response": answer, "lineage": {"chunk": chunk}})
            if len(kept) >= config.n:
                return {"pairs": kept[:config.n], "prompts": prompts}
    return {"pairs": kept, "prompts": prompts}


def quality(pairs: list[dict]) -> tuple[float, float]:
    """Mean grounding of the answers in their chunks, mean question–answer cosine."""
    from curate.lm.embeddings import embed
    from curate.pairs.grounding import support

    if not pairs:
        return float("nan"), float("nan")
    grounding = sum(support(p["response"], p["lineage"]["chunk"]) for p in pairs) / len(pairs)
    q = embed([p["instruction"] for p in pairs])
    a = embed([p["response"] for p in pairs])
    return grounding, float((q * a).sum(1).mean())


def pair_generation(args) -> None:
    """Kept pairs per minute: the loop before against tuneloop's two ways, on the same chunks."""
    from curate.lm.backends import LocalBackend
    from curate.pairs.generate import GenerationConfig, generate_pairs
    from curate.pairs.prompts import chunk_text

    rows = documents()
    chunks = chunk_text(rows[0]["payload"]["text"])[:args.chunks]
    rows[0]["payload"]["text"] = "\n\n".join(chunks)
    backend = LocalBackend.load()
    backend.chat([[{"role": "user", "content": "Hello?"}]], max_new_tokens=4)   # warm-up
    config = dict(topic="Lamini", seed=0, max_rounds=1, n=10_000)
    lines = []
    began = time.perf_counter()
    old = before(backend, rows, GenerationConfig(**config))
    runs = [("before: one round at a time", old["pairs"], old["prompts"], time.perf_counter() - began)]
    for answers in ("model", "passage"):
        result = generate_pairs(backend, {"rows": rows, "known_questions": set()},
                                GenerationConfig(answers=answers, **config))
        runs.append((f"tuneloop, answers {answers!r}", result.pairs, result.prompts, result.seconds))
    print(f"SmolLM2-135M-Instruct, fp32, {len(chunks)} lamini_docs chunks, one round, {os.cpu_count()} CPU threads")
    base = len(runs[0][1]) / runs[0][3] * 60
    for name, pairs, prompts, seconds in runs:
        grounding, fit = quality(pairs)
        per_min = len(pairs) / seconds * 60
        lines.append(f"{name:30} {len(pairs):4d} kept of {prompts:4d} prompts in {seconds:6.1f} s:"
                     f" {prompts / seconds:5.2f} prompts/s, {per_min:6.1f} kept pairs/min"
                     f" ({per_min / base if base else float('inf'):.1f}x before); grounding {grounding:.2f},"
                     f" question-answer cosine {fit:.2f}")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8, help="the peer's batch (domain evaluation's old default)")
    parser.add_argument("--our-batch-size", type=int, default=None, help="tuneloop's batch (default: its own)")
    parser.add_argument("--bf16", action="store_true", help="also measure bf16 weights")
    parser.add_argument("--pairs", action="store_true", help="measure pair generation instead")
    parser.add_argument("--chunks", type=int, default=32, help="--pairs: document chunks to generate from")
    args = parser.parse_args()
    if args.pairs:
        torch_threads()
        return pair_generation(args)
    import torch

    from curate.lm.decoding import generate_texts
    from curate.lm.device import Placement, cpu_has_bf16
    from curate.lm.load import load_causal_lm

    torch_threads()
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
