"""How well the quality scan finds what spoils a fine-tune, on a labelled noise-injection set built
from real data, beside simple baselines measured in the same run.

The set: lamini_docs' question–answer pairs (../shared/data/lamini_docs) as the clean base, with
each defect injected into a share of them at a known place:

- misaligned: a block of rows whose answers slipped by one row (a join off by one), and a few swaps;
- non_answer: the answer replaced by a real agent reply from twcs (../shared/data/twcs_customer_support)
  that moves the customer elsewhere (picked by the words "DM", "direct message", "private",
  "write to us", "reach out" or "contact us" — note: the scan's own patterns include these words,
  so this measures the whole check on real replies, not its vocabulary);
- truncated: half cut at one field limit (every answer longer than it, at exactly that length),
  half cut at a random point;
- garbled: typographic quotes put in, then the text encoded as UTF-8 and read as cp1252 (real
  mojibake: "weâ€™ll"), or HTML entities left in;
- conflict: a question asked again (word for word, or with a lead-in) with another question's answer;
- placeholder: the answer replaced by what exports hold before anyone wrote one ("N/A", "TBD", …).

It imports the set into a fresh store, runs `quality scan`, and prints precision, recall and F1 per
kind (a finding counts when its kind is the pair's defect; a conflict's original pair counts too)
and the share of clean pairs flagged by anything. Baselines: IFD alone (the base model's
instruction-following difficulty, the highest scores flagged at the defect rate) and the answer's
length and punctuation alone (under 4 words, or no closing punctuation).

    .venv/bin/python benchmarks/quality.py                # about 6 minutes on 2 cores (IFD: the base model's losses)
    .venv/bin/python benchmarks/quality.py --no-ifd       # about a minute
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
KINDS = ("misaligned", "non_answer", "truncated", "garbled", "conflict", "placeholder")
PLACEHOLDERS = ("N/A", "n/a", "TBD", "tbd", "see above", "See above.", "-", "To be added", "TODO", "Answer here",
                "(blank)", "NA", "same as above", "...", "xxx")
DEFLECTING = re.compile(r"\b(dm|direct message|private|write to us|reach out|contact us)\b", re.I)


def clean_pairs() -> list[dict]:
    seen, out = set(), []
    for line in open(DATA / "lamini_docs" / "lamini_docs.jsonl", encoding="utf-8"):
        r = json.loads(line)
        key = r["question"].strip().lower()
        if key not in seen and r["answer"].strip():
            seen.add(key)
            out.append({"question": r["question"].strip(), "answer": r["answer"].strip()})
    return out


def deflections() -> list[str]:
    with open(DATA / "twcs_customer_support" / "twcs.csv", newline="", encoding="utf-8") as fh:
        replies = [r["text"] for r in csv.DictReader(fh) if r["inbound"] == "False"]
    return sorted({r for r in replies if DEFLECTING.search(r)})


def noisy_set(rate: float, seed: int) -> list[dict]:
    """The clean pairs with each defect injected into `rate` of them; each row labelled."""
    rng = random.Random(seed)
    rows = [{**p, "label": None} for p in clean_pairs()]
    n = len(rows)
    take = int(rate * n)
    free = list(range(n))
    rng.shuffle(free)

    def pick(k: int) -> list[int]:
        return [free.pop() for _ in range(k)]

    # misaligned: a block that slipped by one row, and single swaps
    start = rng.randrange(0, n - take)
    block = list(range(start, start + take // 2))
    answers = [rows[i]["answer"] for i in block]
    for i, a in zip(block, answers[1:] + [rows[start + take // 2]["answer"]]):
        rows[i]["answer"], rows[i]["label"] = a, "misaligned"
    free = [i for i in free if i not in set(block) | {start + take // 2}]
    for i in pick(take - take // 2):
        j = rng.randrange(n)
        rows[i]["answer"], rows[i]["label"] = rows[j]["answer"], "misaligned"
    replies = deflections()
    for i in pick(take):
        rows[i]["answer"], rows[i]["label"] = rng.choice(replies), "non_answer"
    longer = sorted(free, key=lambda i: -len(rows[i]["answer"]))
    limit = len(rows[longer[take // 2]]["answer"])
    for i in longer[: take // 2]:
        rows[i]["answer"], rows[i]["label"] = rows[i]["answer"][:limit], "truncated"
    free = [i for i in free if i not in set(longer[: take // 2])]
    for i in pick(take - take // 2):
        a = rows[i]["answer"]
        cut = rng.randint(len(a) // 3, max(len(a) // 3 + 1, 4 * len(a) // 5))
        rows[i]["answer"], rows[i]["label"] = a[:cut].rstrip(" .!?"), "truncated"
    for k, i in enumerate(pick(take)):
        a = rows[i]["answer"].replace("'", "’").replace(" - ", " – ")
        if k % 3 == 2:   # HTML entities left in by an export
            garbled = a.replace("&", "&amp;").replace("’", "&#39;").replace(" and ", " &amp; ", 1)
            garbled = garbled if garbled != a else a.replace(" ", " &nbsp;", 1)
        else:
            a = a if "’" in a or "–" in a else a.replace(". ", "’s. ", 1) if ". " in a else a + " That’s it."
            garbled = a.encode("utf-8").decode("cp1252", "replace")
        rows[i]["answer"], rows[i]["label"] = garbled, "garbled"
    added = []
    unchanged = [k for k in range(n) if rows[k]["label"] is None]
    for i in pick(take // 2):
        j = rng.choice(unchanged)   # another question's own answer, not one a defect was put in
        lead = rng.choice(("", "", "Hi, ", "Quick question: "))
        added.append({"question": lead + rows[i]["question"], "answer": rows[j]["answer"], "label": "conflict"})
        rows[i]["label"] = "conflict"
    for i in pick(take):
        rows[i]["answer"], rows[i]["label"] = rng.choice(PLACEHOLDERS), "placeholder"
    return rows + added


def scan_set(rows: list[dict], folder: Path) -> tuple[dict[tuple, list[dict]], dict, float]:
    from curate.ingest.importer import ingest
    from curate.pairs.extract import extract
    from curate.quality.findings import findings
    from curate.quality.scan import scan
    from curate.store import Store

    path = folder / "noisy.jsonl"
    path.write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n" for r in rows))
    store = Store(folder / "quality.duckdb")
    ingest(store, [path])
    extract(store)
    started = time.perf_counter()
    report = scan(store)
    seconds = time.perf_counter() - started
    by_text = defaultdict(list)
    for f in findings(store, in_play=False):
        by_text[(f["instruction"], f["response"])].append(f)
    return by_text, report.counts, seconds


def score(rows: list[dict], flagged: dict[tuple, set[str]]) -> dict:
    """Precision, recall and F1 per kind, and the share of clean pairs flagged by anything."""
    out = {}
    for kind in KINDS:
        tp = sum(1 for r in rows if r["label"] == kind and kind in flagged.get((r["question"], r["answer"]), ()))
        fp = sum(1 for r in rows if r["label"] != kind and kind in flagged.get((r["question"], r["answer"]), ()))
        fn = sum(1 for r in rows if r["label"] == kind and kind not in flagged.get((r["question"], r["answer"]), ()))
        p = tp / (tp + fp) if tp + fp else 0.0
        r_ = tp / (tp + fn) if tp + fn else 0.0
        out[kind] = {"precision": p, "recall": r_, "f1": 2 * p * r_ / (p + r_) if p + r_ else 0.0, "labelled": tp + fn}
    clean = [r for r in rows if r["label"] is None]
    out["clean_flagged"] = sum(1 for r in clean if flagged.get((r["question"], r["answer"]))) / max(len(clean), 1)
    return out


def baseline_length(rows: list[dict]) -> set[tuple]:
    return {(r["question"], r["answer"]) for r in rows
            if len(r["answer"].split()) < 4 or not re.search(r"[.!?)\"']\s*$", r["answer"])}


def baseline_ifd(rows: list[dict], share: float) -> set[tuple]:
    """The highest instruction-following difficulty under the base model, flagged at the defect rate."""
    import pyarrow as pa

    from curate.lm.templates import render_prompt
    from curate.quality.ifd import QualityScorer

    scorer = QualityScorer(None)
    prompts = [render_prompt("qa", {"instruction": r["question"]}, scorer.tokenizer) for r in rows]
    out = scorer(pa.table({"prompt": prompts, "answer": [r["answer"] for r in rows]}))
    scores = [g / a if a else 0.0 for g, a in zip(out.column("loss_given_question").to_pylist(),
                                                  out.column("loss_alone").to_pylist())]
    cut = sorted(scores, reverse=True)[int(share * len(rows))]
    return {(r["question"], r["answer"]) for r, s in zip(rows, scores) if s >= cut}


def baseline_scores(rows: list[dict], flagged: set[tuple]) -> dict:
    """A baseline flags pairs, not kinds: its recall of each kind, and its precision over all defects."""
    defect = {(r["question"], r["answer"]) for r in rows if r["label"]}
    out = {kind: sum(1 for r in rows if r["label"] == kind and (r["question"], r["answer"]) in flagged)
           / max(sum(1 for r in rows if r["label"] == kind), 1) for kind in KINDS}
    out["precision"] = len(flagged & defect) / max(len(flagged), 1)
    out["clean_flagged"] = len(flagged - defect) / max(sum(1 for r in rows if not r["label"]), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=0.05, help="share of pairs given each defect")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ifd", action="store_true", help="leave out the IFD baseline (the base model's losses)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    rows = noisy_set(args.rate, args.seed)
    labels = Counter(r["label"] or "clean" for r in rows)
    print(f"{len(rows)} pairs: " + ", ".join(f"{k} {n}" for k, n in labels.most_common()))
    with tempfile.TemporaryDirectory(prefix="tuneloop-quality-bench-") as tmp:
        by_text, counts, seconds = scan_set(rows, Path(tmp))
    flagged = {key: {f["kind"] for f in found} for key, found in by_text.items()}
    ours = score(rows, flagged)
    print(f"quality scan: {seconds:.1f} s for {len(rows)} pairs; findings {dict(counts)}")
    print(f"{'kind':<12} {'precision':>9} {'recall':>7} {'F1':>6} {'labelled':>8}")
    for kind in KINDS:
        m = ours[kind]
        print(f"{kind:<12} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} {m['labelled']:8d}")
    print(f"clean pairs flagged by anything: {100 * ours['clean_flagged']:.1f}%")
    defect_share = sum(1 for r in rows if r["label"]) / len(rows)
    baselines = {"length and punctuation": baseline_scores(rows, baseline_length(rows))}
    if not args.no_ifd:
        baselines["IFD alone"] = baseline_scores(rows, baseline_ifd(rows, defect_share))
    print("baselines (they flag pairs, not kinds: recall per kind, precision over all defects)")
    for name, b in baselines.items():
        print(f"  {name:<24} " + ", ".join(f"{k} {b[k]:.2f}" for k in KINDS)
              + f"; precision {b['precision']:.3f}; clean flagged {100 * b['clean_flagged']:.1f}%")
    ours_any = {k for k, v in flagged.items() if v}
    mine = baseline_scores(rows, ours_any)
    print(f"  {'the scan, any kind':<24} " + ", ".join(f"{k} {mine[k]:.2f}" for k in KINDS)
          + f"; precision {mine['precision']:.3f}; clean flagged {100 * mine['clean_flagged']:.1f}%")
    if args.out:
        Path(args.out).write_text(json.dumps({"ours": ours, "baselines": baselines, "any": mine}, indent=2))


if __name__ == "__main__":
    main()
