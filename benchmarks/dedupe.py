"""Near-duplicate detection: tuneloop's MinHash pass against datasketch's MinHashLSH, and exact
dedupe against a bare DuckDB GROUP BY, measured in the same run on the same data.

    .venv/bin/python benchmarks/dedupe.py            # 100k records (about 1 minute)
    .venv/bin/python benchmarks/dedupe.py --records 20000 --scale 0
    .venv/bin/python benchmarks/dedupe.py --engine ray   # also tuneloop's pass on a local Ray runtime

The labeled set is built from real text under ../shared/data: originals, copies with known edits
(typos, word swaps, insertions, deletions, white-space and punctuation noise), and true negatives
(texts spliced from two unrelated originals). A pair is a true near-duplicate when both records
come from the same original. Both methods get the same shingles (character 5-grams of the
normalized text), the same number of permutations and the same threshold. Each method runs in its
own process so its peak memory (max RSS) is its own.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- the labeled set
def base_texts() -> list[str]:
    """Distinct real texts: FAQ and support answers, instructions, chat turns, tweets."""
    import csv

    texts: list[str] = []
    for line in (DATA / "lamini_docs" / "lamini_docs.jsonl").read_text().splitlines():
        row = json.loads(line)
        texts.append(f"{row['question']} {row['answer']}")
    for row in json.loads((DATA / "alpaca" / "alpaca_small.json").read_text()):
        texts.append(f"{row['instruction']} {row['input']} {row['output']}")
    for row in json.loads((DATA / "lima" / "lima.json").read_text()):
        texts += [p for p in row["output"].split("\n") if len(p.split()) >= 8]
    with open(DATA / "covid_faq" / "faq_200327.tsv", newline="", encoding="utf-8") as fh:
        texts += [f"{r['question']} {r['answer']}" for r in csv.DictReader(fh, delimiter="\t")]
    with open(DATA / "twcs_customer_support" / "twcs.csv", newline="", encoding="utf-8") as fh:
        texts += [r["text"] for r in csv.DictReader(fh) if len((r.get("text") or "").split()) >= 8]
    seen, unique = set(), []
    for t in texts:
        key = " ".join(t.lower().split())
        if key not in seen and len(t.split()) >= 8:
            seen.add(key)
            unique.append(t)
    return unique


def edit(text: str, rng: random.Random) -> str:
    """One to three small edits of the kinds people and scrapers make."""
    words = text.split()
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["typo", "swap", "insert", "delete", "noise"])
        i = rng.randrange(len(words))
        if kind == "typo" and len(words[i]) > 3:
            w, k = words[i], rng.randrange(len(words[i]) - 1)
            words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:]
        elif kind == "swap" and len(words) > 2:
            j = min(i + 1, len(words) - 1)
            words[i], words[j] = words[j], words[i]
        elif kind == "insert":
            words.insert(i, rng.choice(["really", "please", "also", "the", "just", "now", "very"]))
        elif kind == "delete" and len(words) > 6:
            del words[i]
        else:
            words[i] = words[i] + rng.choice([",", "!", "  ", " .", "?"])
    return " ".join(words)


def labeled_set(records: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """(texts, family) where records of one family are near-duplicates; -1 marks a negative.

    Texts that stand alone, and the originals of families, are real texts while they last, then
    texts spliced from 12-word runs of three different real texts, so that two of them share at
    most about a fifth of their shingles and are not near-duplicates of each other."""
    rng = random.Random(seed)
    bases = base_texts()
    rng.shuffle(bases)
    words = [b.split() for b in bases if len(b.split()) >= 12]

    def fresh(k: int) -> str:
        if k < len(bases):
            return bases[k]
        parts = []
        for w in rng.sample(words, 3):
            start = rng.randrange(len(w) - 11)
            parts += w[start:start + 12]
        return " ".join(parts)

    texts, family = [], []
    k = 0
    while len(texts) < int(records * 0.4):  # negatives: near nothing else
        texts.append(fresh(k))
        family.append(-1)
        k += 1
    f = 0
    while len(texts) < records:  # families: an original and 1–4 edited copies
        original = fresh(k)
        k += 1
        members = [original] + [edit(original, rng) for _ in range(rng.randint(1, 4))]
        for m in members[: records - len(texts)]:
            texts.append(m)
            family.append(f)
        f += 1
    order = list(range(len(texts)))
    rng.shuffle(order)  # families scattered through the set, as in real data
    return [texts[i] for i in order], [family[i] for i in order]


def true_pairs(family: list[int]) -> set[tuple[int, int]]:
    groups: dict[int, list[int]] = {}
    for i, f in enumerate(family):
        if f >= 0:
            groups.setdefault(f, []).append(i)
    return {(a, b) for g in groups.values() for x, a in enumerate(g) for b in g[x + 1:]}


def score(found: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict:
    tp = len(found & truth)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


# --------------------------------------------------------------------------- the two methods
def run_ours(texts: list[str], threshold: float, num_perm: int, engine=None) -> tuple[set, dict]:
    from curate.dedupe.minhash import MinHashConfig, near_duplicates

    result = near_duplicates(texts, MinHashConfig(threshold=threshold, num_perm=num_perm), engine=engine)
    # report pairs as the clusters imply them (what a user acts on)
    found = set()
    for group in result.clusters():
        group.sort()
        found |= {(a, b) for x, a in enumerate(group) for b in group[x + 1:]}
    return found, {k: round(v, 3) for k, v in result.timings.items()}


def run_datasketch(texts: list[str], threshold: float, num_perm: int) -> tuple[set, dict]:
    from datasketch import MinHash, MinHashLSH

    from curate.dedupe.minhash import normalize_text

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    found = set()
    for i, text in enumerate(texts):
        norm = normalize_text(text)
        shingles = {norm[k:k + 5].encode() for k in range(max(1, len(norm) - 4))}
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(shingles)
        for j in lsh.query(m):
            found.add((j, i))
        lsh.insert(i, m)
    return found, {}


def one_method(method: str, records: int, threshold: float, num_perm: int) -> dict:
    texts, family = labeled_set(records)
    extra = {}
    if method == "tuneloop-ray":
        import tempfile

        from curate.engine import Engine, start_ray

        began = time.perf_counter()
        start_ray()   # the runtime's start is the cluster's cost, not the step's: timed apart
        extra["ray_start_s"] = round(time.perf_counter() - began, 2)
        engine = Engine("ray", tempfile.mkdtemp(prefix="tuneloop-stage-"))
        began = time.perf_counter()
        run_ours(texts, threshold, num_perm, engine)   # first step: Ray's workers start and import
        extra["cold_step_s"] = round(time.perf_counter() - began, 2)
        started = time.perf_counter()   # timed: a step on running workers, as on a cluster in use
        found, stages = run_ours(texts, threshold, num_perm, engine)
    else:
        started = time.perf_counter()
        found, stages = (run_ours if method == "tuneloop" else run_datasketch)(texts, threshold, num_perm)
    seconds = time.perf_counter() - started
    extra["found_hash"] = hash(frozenset(found))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "records": records, "seconds": round(seconds, 2),
            "records_per_s": round(records / seconds), "peak_rss_mb": round(peak_mb),
            **score(found, true_pairs(family)), "stages": stages, **extra}


def in_subprocess(method: str, records: int, threshold: float, num_perm: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", method, "--records", str(records),
                          "--threshold", str(threshold), "--num-perm", str(num_perm)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_rss_mb() -> float:
    """What importing the libraries costs before any record is read, to subtract from peaks."""
    out = subprocess.run([sys.executable, "-c", "import numpy, scipy.sparse, rensa, resource; import curate.minhash;"
                          " print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip())


# --------------------------------------------------------------------------- exact dedupe
def exact_benchmark(rows: int) -> dict:
    """Our exact pass (normalize, group, write clusters) vs a bare GROUP BY on the same rows."""
    import tempfile

    import duckdb

    from curate.dedupe.find import NORMALIZED_SQL, DedupeConfig, dedupe
    from curate.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        with store.connect() as con:  # 1M pairs, a tenth of them exact duplicates up to case/punctuation
            con.execute(f"""
                INSERT INTO pairs (instruction, response, origin, content_hash)
                SELECT CASE WHEN i % 10 = 0 THEN upper('Question number ' || (i // 10) || '?')
                            ELSE 'question number ' || i END,
                       'answer ' || (CASE WHEN i % 10 = 0 THEN i // 10 ELSE i END) || ' with some words',
                       'extracted', md5(i::VARCHAR)
                FROM range({rows}) t(i)""")
        con = duckdb.connect(str(store.path))
        key = NORMALIZED_SQL.format(col="instruction || ' ' || response")
        started = time.perf_counter()
        groups = con.execute(f"SELECT {key} AS k, list(id) FROM pairs GROUP BY k HAVING count(*) > 1").fetchall()
        bare = time.perf_counter() - started
        con.close()
        report = dedupe(store, DedupeConfig(method="exact"))
        return {"rows": rows, "bare_group_by_s": round(bare, 3), "tuneloop_exact_s": round(report.seconds, 3),
                "ratio": round(report.seconds / bare, 2), "groups_bare": len(groups), "clusters_ours": report.clusters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--scale", type=int, default=1_000_000, help="also run ours alone at this size for memory (0: skip)")
    parser.add_argument("--exact-rows", type=int, default=1_000_000, help="rows for the exact benchmark (0: skip)")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="ray: also run tuneloop's pass on a local Ray runtime and compare it with the local engine")
    parser.add_argument("--one", choices=["tuneloop", "tuneloop-ray", "datasketch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_method(args.one, args.records, args.threshold, args.num_perm)))
        return

    print(f"near-duplicates: {args.records:,} records, threshold {args.threshold}, {args.num_perm} permutations")
    ours = in_subprocess("tuneloop", args.records, args.threshold, args.num_perm)
    peer = in_subprocess("datasketch", args.records, args.threshold, args.num_perm)
    base = baseline_rss_mb()
    print(f"{'':12}{'records/s':>12}{'precision':>11}{'recall':>8}{'F1':>8}{'peak RSS MB':>13}")
    for r in (ours, peer):
        print(f"{r['method']:12}{r['records_per_s']:>12,}{r['precision']:>11}{r['recall']:>8}{r['f1']:>8}"
              f"{r['peak_rss_mb']:>13,}")
    print(f"throughput ratio tuneloop/datasketch: {ours['records_per_s'] / peer['records_per_s']:.1f}x"
          f"   F1 difference: {ours['f1'] - peer['f1']:+.4f}")
    print(f"tuneloop stages (s): {ours['stages']}")
    if args.engine == "ray":
        ray = in_subprocess("tuneloop-ray", args.records, args.threshold, args.num_perm)
        print(f"engines, {args.records:,} records: local {ours['seconds']} s; ray {ray['seconds']} s on running"
              f" workers, ratio ray/local {ray['seconds'] / ours['seconds']:.2f}x; the first step on a fresh"
              f" runtime {ray['cold_step_s']} s ({ray['cold_step_s'] / ours['seconds']:.2f}x), after"
              f" {ray['ray_start_s']} s to start it; same pairs: {ray['found_hash'] == ours['found_hash']}")
    if args.scale:
        big = in_subprocess("tuneloop", args.scale, args.threshold, args.num_perm)
        per_million = (big["peak_rss_mb"] - base) * 1_000_000 / args.scale
        print(f"tuneloop at {args.scale:,} records: {big['records_per_s']:,} records/s, F1 {big['f1']},"
              f" peak RSS {big['peak_rss_mb']:,} MB ({base:.0f} MB of it is the libraries):"
              f" {per_million:,.0f} MB per 1M records")
    if args.exact_rows:
        exact = exact_benchmark(args.exact_rows)
        print(f"exact dedupe of {exact['rows']:,} pairs: tuneloop {exact['tuneloop_exact_s']} s,"
              f" bare DuckDB GROUP BY {exact['bare_group_by_s']} s, ratio {exact['ratio']}x"
              f" ({exact['clusters_ours']:,} clusters, {exact['groups_bare']:,} groups)")


if __name__ == "__main__":
    main()
