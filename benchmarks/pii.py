"""Finding personal data in support text: tuneloop's detector against Presidio's analyzer as it
comes (every English recognizer, no score threshold, overlapping findings all kept), on the same
labeled texts in one run.

The texts are real: tweets to support accounts (../shared/data/twcs_customer_support) and
customer requests (../shared/data/bitext_customer_support), with a made-up e-mail, phone number,
card number, IBAN, IP address or URL planted in most of them at a known place
(curate.pii_check.plant); links already there are labeled URL.

    .venv/bin/python benchmarks/pii.py                  # 60 planted per entity, 200 left as they are
    .venv/bin/python benchmarks/pii.py --per-entity 100 --clean 400 --seed 2

Prints precision and recall per entity for both, their overall F1, and texts per second.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def support_texts() -> tuple[list[str], list[str]]:
    """Real texts, and apart the real customer requests that carry order, purchase, ticket or
    tracking numbers (bitext has many: "check order 113542617735902 status")."""
    from curate.privacy.identifiers import CONTEXT

    with open(DATA / "twcs_customer_support" / "twcs.csv", newline="", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    with open(DATA / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv",
              newline="", encoding="utf-8") as fh:
        requests = [row["instruction"] for row in csv.DictReader(fh)]
    with_ids = sorted({t for t in requests if any(len(m.group("id")) >= 6 for m in CONTEXT.finditer(t))})
    return texts + [t for t in requests[:3000] if t not in with_ids], with_ids


def identifiers_flagged(find, texts: list[str]) -> tuple[int, int]:
    """(identifier numbers a detector calls personal data, identifier numbers) in texts with them."""
    from curate.privacy.identifiers import CONTEXT

    flagged = total = 0
    for text in texts:
        found = find(text)
        for m in CONTEXT.finditer(text):
            total += 1
            flagged += any(s.entity != "URL" and s.start < m.end("id") and m.start("id") < s.end for s in found)
    return flagged, total


def presidio_as_it_comes(detector):
    """The peer: the same analyzer engine, asked for everything it knows, threshold 0, nothing merged."""
    from curate.privacy.detect import Span

    engine = detector._engine()

    def find(text: str):
        return [Span(r.entity_type, r.start, r.end, r.score) for r in engine.analyze(text, language="en")]
    return find


def f1(pr: dict) -> float:
    p, r = pr["precision"], pr["recall"]
    return 2 * p * r / (p + r) if p + r else 0.0


def main() -> None:
    from curate import privacy as pii
    from curate.privacy import check as pii_check

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-entity", type=int, default=60)
    parser.add_argument("--clean", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts, with_ids = support_texts()
    examples = pii_check.plant(texts, args.per_entity, args.clean, args.seed)
    # the requests with order numbers: every one as it is, and planted values in some of them
    examples += pii_check.plant(with_ids, args.per_entity // 3, len(with_ids), args.seed + 1)
    ours = pii.Detector()
    ours.find("warm up a@example.com")
    results = {}
    for name, find in (("tuneloop", ours._find), ("Presidio as it comes", presidio_as_it_comes(ours))):
        started = time.perf_counter()
        scores = pii_check.score(find, examples)
        results[name] = (scores, len(examples) / (time.perf_counter() - started), identifiers_flagged(find, with_ids))
    print(f"{len(examples)} texts ({args.per_entity} planted per entity, {args.clean} as they are, and"
          f" {len(with_ids)} real requests with order/ticket numbers, {args.per_entity // 3} per entity planted in"
          f" them); {ours.describe()}")
    print(f"{'entity':<16}" + "".join(f"{name + ' P / R':>34}" for name in results))
    entities = sorted({e for scores, _, _ in results.values() for e in scores if e != "all"})
    for entity in [*entities, "all"]:
        cells = []
        for scores, _, _ in results.values():
            pr = scores.get(entity)
            cells.append(f"{pr['precision']:.3f} / {pr['recall']:.3f} ({pr['found']} found)" if pr else "—")
        print(f"{entity:<16}" + "".join(f"{c:>34}" for c in cells))
    (ours_scores, ours_rate, ours_ids), (peer_scores, peer_rate, peer_ids) = results.values()
    print(f"order/ticket numbers called personal data: tuneloop {ours_ids[0]} of {ours_ids[1]},"
          f" Presidio as it comes {peer_ids[0]} of {peer_ids[1]}")
    print(f"overall F1: tuneloop {f1(ours_scores['all']):.3f}, Presidio as it comes {f1(peer_scores['all']):.3f}"
          f" (ratio {f1(ours_scores['all']) / max(f1(peer_scores['all']), 1e-9):.2f}x)")
    print(f"texts/s: tuneloop {ours_rate:.0f}, Presidio as it comes {peer_rate:.0f} (ratio {ours_rate / peer_rate:.2f}x)")


if __name__ == "__main__":
    main()
