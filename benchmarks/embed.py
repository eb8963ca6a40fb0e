"""Embeddings and semantic dedupe against sentence-transformers as it comes, in one run.

1. Texts per second: tuneloop's `embed` in each precision it offers (curate/lm/embeddings.py:
   fp32 and bf16 through sentence-transformers in batches of 16; openvino-bf16 and int8 through
   the ONNX export, run by OpenVINO and ONNX Runtime, curate/lm/onnx_encoder.py) against
   `SentenceTransformer.encode` at its defaults (batch 32, fp32), the same model (all-MiniLM-L6-v2,
   the offline package) and the same real texts; how far each vector is from the fp32 one
   (cosine), and how many of the question+answer pairs at cosine ≥ 0.92 (semantic dedupe's
   threshold) each finds that fp32 finds too (Jaccard of the two sets).
2. Semantic dedupe end to end: the whole `tuneloop dedupe --method semantic` on a fresh store
   (read the pairs, embed, store the vectors, exact kNN, cluster, write the clusters) against a
   bare pipeline (encode at its defaults + exact cosine ≥ 0.92 over the same texts); and the share
   of the pairs in the bare pipeline's duplicate pairs that tuneloop also puts in a cluster.

Texts: every question and answer of ../shared/data/lamini_docs, then twcs tweets, up to --limit.

    .venv/bin/python benchmarks/embed.py            # about 6 minutes on 2 cores
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
    from curate.lm.device import cpu_flags, cpu_has_bf16
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
    options = ["fp32", *(["bf16", "openvino-bf16"] if cpu_has_bf16() else []), "int8"]
    for precision in options:
        embed(texts[:64], precision=precision)   # every model loaded (int8: exported) and warm before the clock
    ref, peer_s = timed(lambda: peer.encode(texts, normalize_embeddings=True))
    joined = [p["question"] + " " + p["answer"] for p in pairs]   # what semantic dedupe compares
    peer_pairs = {tuple(e) for e in similar_pairs(peer.encode(joined, normalize_embeddings=True), THRESHOLD)[0].tolist()}
    print(f"\n{'embeddings':34} texts/s   seconds   ratio  cosine to fp32 (min, mean)  same pairs at {THRESHOLD}")
    print(f"{'sentence-transformers':34}{len(texts) / peer_s:8.1f} {peer_s:9.1f}   1.00x  (encode at its defaults:"
          f" batch 32, fp32)  {len(peer_pairs)} pairs")
    for precision in options:
        ours, ours_s = timed(lambda p=precision: embed(texts, precision=p))
        cosine = (ref * ours).sum(axis=1)
        found = {tuple(e) for e in similar_pairs(embed(joined, precision=precision), THRESHOLD)[0].tolist()}
        same = len(found & peer_pairs) / max(len(found | peer_pairs), 1)
        mark = " (default)" if precision == where.precision else ""
        print(f"{'tuneloop ' + precision + mark:34}{len(texts) / ours_s:8.1f} {ours_s:9.1f}   {peer_s / ours_s:.2f}x"
              f"  {cosine.min():.4f}, {cosine.mean():.5f}          {same:.1%} ({len(found)} pairs)")

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
