"""Rating latency while an import runs: the Rate page's calls (next pair, then a submitted rating)
from several rater processes, each timed, first with the store idle and then during a big import
from the command line, in the same run. Prints p50 / p99 / max of a rating call (next_pair +
submit) for both.

    .venv/bin/python benchmarks/load.py                      # 8 raters, a 200k-row import
    .venv/bin/python benchmarks/load.py --raters 4 --rows 50000

Each rater is its own process (as browser sessions of separate app servers would be, the worst
case for DuckDB's one-writer-process rule); they run until the import ends.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rater(db: str, annotator: int, until: float, stop_file: str, out: mp.Queue) -> None:
    from curate import rating
    from curate.store import Store

    store = Store(db, migrate=False)
    times = []
    while time.time() < until and not os.path.exists(stop_file):
        began = time.perf_counter()
        pair = rating.next_pair(store, annotator)
        if pair is None:
            break
        rating.submit(store, annotator, pair["id"], {"quality": 4, "verdict": "approve"})
        times.append(time.perf_counter() - began)
    out.put(times)


def measure(db: str, annotators: list[int], seconds: float, stop_file: str | None = None) -> list[float]:
    out: mp.Queue = mp.Queue()
    stop = stop_file or os.path.join(tempfile.mkdtemp(), "never")
    procs = [mp.Process(target=rater, args=(db, a, time.time() + seconds, stop, out)) for a in annotators]
    for p in procs:
        p.start()
    times = [t for _ in procs for t in out.get()]
    for p in procs:
        p.join()
    return times


def figures(times: list[float]) -> str:
    import numpy as np

    if not times:
        return "no ratings"
    t = np.array(times) * 1000
    return (f"{len(t):>6} ratings  p50 {np.percentile(t, 50):7.0f} ms  p99 {np.percentile(t, 99):7.0f} ms"
            f"  max {t.max():7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raters", type=int, default=8)
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the import")
    parser.add_argument("--idle-seconds", type=float, default=20)
    args = parser.parse_args()

    from curate import rating
    from curate.pairs.rows import insert_pairs, make_pair
    from curate.rating.users import add_user
    from curate.store import Store

    work = Path(tempfile.mkdtemp(prefix="tuneloop-load-"))
    db = str(work / "load.duckdb")
    store = Store(db)
    insert_pairs(store, [make_pair(f"question {i}?", f"answer {i}.", origin="extracted") for i in range(20_000)])
    rating.set_rule(store, rating.ApprovalRule(min_ratings=args.raters))
    annotators = [add_user(store, f"rater{i}", "annotator") for i in range(args.raters)]
    big = work / "big.jsonl"
    with open(big, "w") as fh:
        for i in range(args.rows):
            fh.write(json.dumps({"question": f"imported question {i}", "answer": f"imported answer {i}"}) + "\n")

    idle = measure(db, annotators, args.idle_seconds)
    print(f"idle store:       {figures(idle)}", flush=True)
    stop = str(work / "import-done")
    importer = subprocess.Popen([sys.executable, "-m", "tuneloop.cli", "--db", db, "ingest", str(big)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watcher = mp.Process(target=_touch_when_done, args=(importer.pid, stop))
    began = time.perf_counter()
    watcher.start()
    busy = measure(db, annotators, 3600, stop)
    importer.wait()
    watcher.join()
    print(f"during the import: {figures(busy)}  (import of {args.rows:,} rows: {time.perf_counter() - began:.0f} s)")


def _touch_when_done(pid: int, path: str) -> None:
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(")")[-1].split()[0] == "Z":
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.2)
    Path(path).touch()


if __name__ == "__main__":
    main()
