"""Decontamination: training pairs whose text overlaps a benchmark item the tool scores.

GPT-3's and lm-eval's method: text lower-cased, punctuation dropped, split into words; a pair is
contaminated when it shares one word 13-gram with a benchmark item. The benchmark items are the
ones `tuneloop eval import-benchmark` converted (the JSON lines under its folder's data/), read as
plain files. Findings go to `contamination` (pair, benchmark, item, the shared n-gram); dataset
builds leave those pairs out unless asked to keep them.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from curate.errors import TuneloopError
from curate.store import Store

NGRAM = 13
_WORDS = re.compile(r"[^\W_]+")


def benchmarks_dir(store: Store) -> Path:
    """Where `tuneloop eval import-benchmark` puts the local benchmark tasks by default."""
    return Path(store.path).resolve().parent / "tuneloop_benchmarks"


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def _texts(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def benchmark_items(folder: str | Path) -> Iterator[tuple[str, str, str]]:
    """(benchmark, item id, its text) for every converted item under folder/data."""
    data = Path(folder) / "data"
    if not data.is_dir():
        raise TuneloopError(f"no imported benchmarks in {folder}: run `tuneloop eval import-benchmark DIR` first")
    for path in sorted(data.rglob("*.jsonl")):
        benchmark = path.relative_to(data).with_suffix("").as_posix()
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    record = json.loads(line)
                    item = str(record.get("id") or record.get("ind") or n)
                    yield benchmark, item, " ".join(t for t in _texts(record) if len(t) > 1)


def find_overlaps(pairs: Iterable[dict], items: Iterable[tuple[str, str, str]], n: int = NGRAM) -> list[dict]:
    """Pairs sharing a word n-gram with a benchmark item: one finding per pair (the first match)."""
    index: dict[tuple[str, ...], tuple[str, str]] = {}
    for benchmark, item, text in items:
        for gram in ngrams(text, n):
            index.setdefault(gram, (benchmark, item))
    found = []
    for pair in pairs:
        text = " ".join(t for t in (pair["instruction"], pair.get("input"), pair["response"]) if t)
        for gram in ngrams(text, n):
            if gram in index:
                benchmark, item = index[gram]
                found.append({"pair_id": pair["id"], "benchmark": benchmark, "item": item, "ngram": " ".join(gram)})
                break
    return found


def decontaminate(store: Store, against: str | Path | None = None, n: int = NGRAM) -> list[dict]:
    """Check every pair in play against the imported benchmarks; store and return the findings."""
    from curate.pairs.status import active

    folder = Path(against) if against else benchmarks_dir(store)
    items = list(benchmark_items(folder))
    pairs = store.rows(f"SELECT id, instruction, input, response FROM pairs p WHERE {active()} ORDER BY id")
    with store.job("decontaminate", {"against": str(folder), "n": n}) as job:
        found = find_overlaps(pairs, items, n)
        with store.transaction() as con:
            con.execute("DELETE FROM contamination")
            for f in found:
                con.execute("INSERT INTO contamination (pair_id, benchmark, item, ngram, n) VALUES (?, ?, ?, ?, ?)",
                            [f["pair_id"], f["benchmark"], f["item"], f["ngram"], n])
        job.result = {"pairs": len(pairs), "items": len(items), "contaminated": len(found)}
    return found


def contaminated_ids(store: Store) -> set[int]:
    return {r["pair_id"] for r in store.rows("SELECT pair_id FROM contamination")}
