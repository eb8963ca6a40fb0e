"""Would an index make the Pairs page's search faster? tuneloop's search (a scan: a literal,
case-insensitive `contains` over every pair, the count and the first page) beside the same search
answered through an inverted word index kept in DuckDB tables — what DuckDB's `fts` extension also
builds, and the only kind of index DuckDB 2.0 can keep here (the extension is not installable) —
on the same store of generated pairs, in the same run.

    .venv/bin/python benchmarks/search_index.py                 # 1M pairs
    .venv/bin/python benchmarks/search_index.py --pairs 100000

The index answers exactly what the scan answers: each word of the query narrows the candidates
(a word inside the query must be a whole word of the text, the first may be a word's end, the
last a word's start, a lone one any part of a word), and the candidates are then checked with the
scan's own condition. Prints the index's size and build time, each query's count (the same both
ways, checked), and median times with the ratio.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

WORD = r"[^\p{L}\p{N}]+"   # what separates words, for DuckDB's regular expressions (RE2)


def build_index(con) -> float:
    began = time.perf_counter()
    con.execute(f"""CREATE TABLE words_of AS SELECT DISTINCT id AS pair_id,
                    unnest(regexp_split_to_array(lower(instruction) || ' ' || lower(response), '{WORD}')) AS word
                    FROM pairs""")
    con.execute("DELETE FROM words_of WHERE word = ''")
    con.execute("CREATE TABLE search_words AS SELECT (row_number() OVER ())::INTEGER AS id, word"
                " FROM (SELECT DISTINCT word FROM words_of)")
    con.execute("CREATE TABLE search_postings AS SELECT w.id AS word_id, o.pair_id FROM words_of o"
                " JOIN search_words w USING (word) ORDER BY w.id, o.pair_id")
    con.execute("DROP TABLE words_of")
    con.execute("CHECKPOINT")
    return time.perf_counter() - began


def indexed_query(text: str) -> tuple[str, list]:
    """SQL for the count and the first page through the index, and its parameters."""
    lowered = text.lower()
    parts = [p for p in re.split(r"[\W_]+", lowered)]   # Python's \W ~ RE2's [^\p{L}\p{N}] (plus _)
    tokens = [p for p in parts if p]
    if not tokens:
        raise ValueError("a query of separators only has no index words")
    bounded_left, bounded_right = parts[0] == "", parts[-1] == ""
    conditions, params = [], []
    for k, token in enumerate(tokens):
        left = k > 0 or bounded_left
        right = k < len(tokens) - 1 or bounded_right
        test = ("word = ?" if left and right else "starts_with(word, ?)" if left
                else "suffix(word, ?)" if right else "contains(word, ?)")
        conditions.append(f"SELECT pair_id FROM search_postings WHERE word_id IN (SELECT id FROM search_words WHERE {test})")
        params.append(token)
    where = ("p.id IN (" + " INTERSECT ".join(conditions) + ")"
             " AND (contains(lower(p.instruction), lower(?)) OR contains(lower(p.response), lower(?)))")
    sql = (f"SELECT count(*) FROM pairs p WHERE {where};"
           f" SELECT p.id, p.instruction, p.response FROM pairs p WHERE {where} ORDER BY p.id LIMIT 50")
    return sql, params + [text, text]


def _median(run, times: int = 5) -> float:
    spent = []
    for _ in range(times):
        began = time.perf_counter()
        run()
        spent.append(time.perf_counter() - began)
    return float(np.median(spent))


def main() -> None:
    import duckdb
    from rate import SEARCHES, make_store

    from curate.pairs.search import search
    from curate.store import Store

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tuneloop-search-bench-") as tmp:
        db = Path(tmp) / "pairs.duckdb"
        make_store(db, args.pairs)
        before = db.stat().st_size
        con = duckdb.connect(str(db))
        built = build_index(con)
        words, postings = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("search_words", "search_postings"))
        con.close()
        print(f"{args.pairs:,} pairs; the index: {words:,} words, {postings:,} postings, built in {built:.1f} s,"
              f" {(db.stat().st_size - before) / 2**20:.0f} MiB on top of the store's {before / 2**20:.0f} MiB")
        store = Store(db)   # tuneloop's search first, then the index (one process cannot hold both)
        found, ours = {}, []
        for text in SEARCHES:
            found[text] = search(store, text)[1]
            ours.append(_median(lambda text=text: search(store, text)))
        con = duckdb.connect(str(db), read_only=True)
        theirs = []
        for text, mine in zip(SEARCHES, ours):
            sql, params = indexed_query(text)
            count_sql, page_sql = sql.split(";")
            assert con.execute(count_sql, params).fetchone()[0] == found[text], text   # the same results
            theirs.append(_median(lambda queries=(count_sql, page_sql), params=params:
                                  [con.execute(q, params).fetchall() for q in queries]))
            print(f"  {text!r:26} {found[text]:>9,} found: tuneloop's scan {mine * 1000:6.1f} ms,"
                  f" through the index {theirs[-1] * 1000:6.1f} ms ({theirs[-1] / mine:.2f}x the scan's time)")
        con.close()
        print(f"median over the queries: tuneloop's scan {np.median(ours) * 1000:.1f} ms, through the index"
              f" {np.median(theirs) * 1000:.1f} ms ({np.median(theirs) / np.median(ours):.2f}x)")


if __name__ == "__main__":
    main()
