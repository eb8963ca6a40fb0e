"""Embeddings and semantic dedupe against sentence-transformers as it comes, in one run.

1. Texts per second: tuneloop's `embed` at its defaults (curate/lm/embeddings.py: batches of 16,
   bf16 on a CPU with AVX512-BF16 or AMX) against `SentenceTransformer.encode` at its defaults
   (batch 32, fp32), the same model (all-MiniLM-L6-v2, the offline package) and the same real
   texts; and how far each vector is from the fp32 one (cosine).
2. Semantic dedupe end to end: the whole `tuneloop dedupe --method semantic` on a fresh store
   (read the pairs, embed, store the vectors, exact kNN, cluster, write the clusters) against a
   bare pipeline (encode at its defaults + exact cosine ≥ 0.92 over the same texts); and the share
   of the pairs in the bare pipeline's duplicate pairs that tuneloop also puts in a cluster.

Texts: every question and answer of ../shared/data/lamini_docs, then twcs tweets, up to --limit.

    .venv/bin/python benchmarks/embed.py            # about 3 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = ROOT.parent / "shared" / "data"
THRESHOLD = 0.92


def real_pairs(limit: int) -> list[dict]:
    """Question–answer pairs from lamini_docs, then twcs customer tweets with the reply after them."""
    import csv

    pairs = [{"question": r["question"], "answer": r["answer"]}
             for r in map(json.loads, open(SHARED / "lamini_docs" / "lamini_docs.jsonl", encoding="utf-8"))]
    twcs = next((SHARED / "twcs_customer_support").rglob("*.csv"))
    with open(twcs, encoding="utf-8", newline="") as fh:
        by_id = {row["tweet_id"]: row for row in csv.DictReader(fh)}
    for row in by_id.values():
        if len(pairs) >= limit:
            break
        reply = by_id.get((row.get("response_tweet_id") or "").split(",")[0])
        if row["inbound"] == "True" and reply is not None:
            pairs.append({"question": row["text"], "answer": reply["text"]})
    return pairs[:limit]


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=3000, help="pairs (each gives two texts to embed)")
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    from curate.dedupe.find import DedupeConfig, dedupe, similar_pairs
    from curate.ingest.importer import ingest
    from curate.lm.device import cpu_flags
    from curate.lm.embeddings import BATCH_SIZE, embed, placement
    from curate.lm.resolve import resolve_embedding_model
    from curate.pairs.extract import extract
    from curate.store import Store

    flags = cpu_flags()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"{cpu}; {os.cpu_count()} cores; AVX512-BF16 {'avx512_bf16' in flags}, AMX {'amx_bf16' in flags}")
    pairs = real_pairs(args.limit)
    texts = [t for p in pairs for t in (p["question"], p["answer"])]
    where = placement()
    print(f"{len(texts)} texts from {len(pairs)} pairs; tuneloop's default: batch {BATCH_SIZE}, {where.precision}")

    peer = SentenceTransformer(resolve_embedding_model(None), device="cpu")
    peer.encode(texts[:64])
    embed(texts[:64])   # both models loaded and warm before the clock starts
    ref, peer_s = timed(lambda: peer.encode(texts, normalize_embeddings=True))
    ours, ours_s = timed(lambda: embed(texts))
    cosine = (ref * ours).sum(axis=1)
    print("\nembeddings            texts/s   seconds")
    print(f"sentence-transformers {len(texts) / peer_s:8.1f} {peer_s:9.1f}   (encode at its defaults: batch 32, fp32)")
    print(f"tuneloop              {len(texts) / ours_s:8.1f} {ours_s:9.1f}   {peer_s / ours_s:.2f}x;"
          f" cosine to fp32: min {cosine.min():.4f}, mean {cosine.mean():.5f}")

    # semantic dedupe end to end, on the pairs as `tuneloop dedupe` compares them (question + answer)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.jsonl"
        path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
        store = Store(Path(tmp) / "bench.duckdb")
        ingest(store, [path])
        extract(store)
        rows = store.rows("SELECT id, instruction || ' ' || response AS text FROM pairs ORDER BY id")
        report, ours_s = timed(lambda: dedupe(store, DedupeConfig(method="semantic")))
        clustered = {r["pair_id"] for r in store.rows("SELECT pair_id FROM dup_members")}

        def bare():
            vectors = peer.encode([r["text"] for r in rows], normalize_embeddings=True)
            return similar_pairs(vectors, THRESHOLD)[0]
        edges, peer_s = timed(bare)
    in_pairs = {rows[i]["id"] for edge in edges.tolist() for i in edge}
    both = len(in_pairs & clustered) / max(len(in_pairs), 1)
    print(f"\nsemantic dedupe of {len(rows)} pairs  seconds")
    print(f"bare pipeline (encode + exact cosine ≥ {THRESHOLD}) {peer_s:7.1f}   {len(in_pairs)} pairs in duplicate pairs")
    print(f"tuneloop dedupe --method semantic            {ours_s:7.1f}   {ours_s / peer_s:.2f}x the time;"
          f" {report.members} pairs in {report.clusters} clusters; {both:.1%} of the bare pipeline's pairs")


if __name__ == "__main__":
    main()
