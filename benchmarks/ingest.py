"""Import speed: `tuneloop ingest` against a bare DuckDB read of the same file into a table, in
one run, for JSON lines, CSV and JSON-array Q&A files we generate (question, answer; realistic
lengths; the array written with indent=2, as APIs export it).

    .venv/bin/python benchmarks/ingest.py                    # 200k rows of each
    .venv/bin/python benchmarks/ingest.py --rows 1000000     # 1M rows

The peer does only what DuckDB's readers do (`CREATE TABLE t AS SELECT * FROM read_json(…)` /
`read_csv(…)`); tuneloop also normalizes each record, hashes it, skips duplicates, keeps rejects
with file:line:reason and commits in batches that survive a kill. Prints both times and the ratio,
and a floor: DuckDB alone hashing each record into a unique column (what no-duplicates costs).
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORDS = ("lamp reset wifi router app schedule colour brightness warranty order refund shipping password account"
         " battery strip bulb dimmer firmware update pairing bluetooth voice assistant timer scene").split()


def write_files(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """The same rows as JSON lines, CSV, and a JSON array written with indent=2 (an API's export)."""
    rng = random.Random(seed)
    jsonl, table, array = folder / "qa.jsonl", folder / "qa.csv", folder / "qa.json"
    with open(jsonl, "w", encoding="utf-8") as fj, open(table, "w", encoding="utf-8", newline="") as fc, \
            open(array, "w", encoding="utf-8") as fa:
        writer = csv.writer(fc)
        writer.writerow(["question", "answer"])
        fa.write("[\n")
        for i in range(rows):
            question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))).capitalize() + f" (#{i})?"
            answer = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 70))).capitalize() + "."
            fj.write(json.dumps({"question": question, "answer": answer}) + "\n")
            writer.writerow([question, answer])
            fa.write(("" if i == 0 else ",\n") + json.dumps({"question": question, "answer": answer}, indent=2))
        fa.write("\n]\n")
    return jsonl, table, array


def tuneloop_time(path: Path, folder: Path) -> tuple[float, int]:
    from curate.ingest.importer import ingest
    from curate.store import Store

    store = Store(folder / f"tuneloop-{path.suffix[1:]}.duckdb")
    started = time.perf_counter()
    [report] = ingest(store, [path])
    return time.perf_counter() - started, report.rows_stored


def duckdb_time(path: Path, folder: Path) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect(str(folder / f"duckdb-{path.suffix[1:]}.duckdb"))
    reader = reader_name(path).strip()
    started = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}(?)", [str(path)])
    elapsed = time.perf_counter() - started
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return elapsed, n


def hashed_time(path: Path, folder: Path) -> float:
    """A floor for any importer that keeps tuneloop's no-duplicates guarantee: DuckDB alone reading
    the file, hashing each record (sha256 of its fields) and inserting it into a table whose hash
    column is unique — no normalization, no rejects, no batches, one transaction."""
    import duckdb

    con = duckdb.connect(str(folder / f"hashed-{path.suffix[1:]}.duckdb"))
    reader = reader_name(path).strip()
    con.execute("CREATE TABLE t (content_hash VARCHAR UNIQUE, question VARCHAR, answer VARCHAR)")
    started = time.perf_counter()
    con.execute(f"INSERT INTO t SELECT sha256(to_json({{'q': question, 'a': answer}})::VARCHAR), question, answer"
                f" FROM {reader}(?)", [str(path)])
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tuneloop-ingest-bench-") as tmp:
        folder = Path(tmp)
        files = write_files(folder, args.rows)
        print(f"{args.rows:,} Q&A rows per file")
        for path in files:
            peer, peer_rows = duckdb_time(path, folder)
            ours, our_rows = tuneloop_time(path, folder)
            assert peer_rows == our_rows == args.rows, (peer_rows, our_rows)
            floor = hashed_time(path, folder)
            print(f"{path.suffix[1:]:>6}: tuneloop {ours:8.2f} s ({args.rows / ours:>9,.0f} rows/s)   DuckDB {reader_name(path)}"
                  f" {peer:6.2f} s ({args.rows / peer:>11,.0f} rows/s)   ratio {ours / peer:6.1f}x")
            print(f"{'':>6}  DuckDB alone hashing each row into a unique column: {floor:6.2f} s"
                  f" ({floor / peer:.1f}x its bare read; tuneloop is {ours / floor:.1f}x this)")


def reader_name(path: Path) -> str:
    return "read_csv " if path.suffix == ".csv" else "read_json"


if __name__ == "__main__":
    main()
