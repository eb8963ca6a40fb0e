"""The Rate page's latency in a real browser: key press → what the annotator waits for, in headless
Chromium (Debian's package, driven by Playwright), on a store of 1M pairs beside one of 1k.

    .venv/bin/python benchmarks/rate.py                       # 50 presses on 1k and on 1M pairs
    .venv/bin/python benchmarks/rate.py --sizes 1000,100000 --presses 20

It first times the Pairs page's search on each store beside the bare DuckDB query. Per pair the
annotator presses a quality digit (the choice is shown) and then a verdict key
(approve: the rating is saved and the next pair is shown). Both waits are timed from the key press
to the page showing the result, and printed as p50 and p99 per store size: the larger store
beside the small one, measured in the same run, as a ratio.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def make_store(path: Path, pairs: int) -> None:
    """A store of `pairs` generated Q&A pairs, waiting to be rated."""
    from curate.store import Store

    store = Store(path)
    with store.transaction() as con:   # a source row, so the app does not seed its sample data
        con.execute("INSERT INTO sources (name, sha256, format, status, rows_read, rows_stored)"
                    " VALUES ('generated.jsonl', 'benchmark', 'jsonl', 'complete', ?, ?)", [pairs, pairs])
        con.execute("INSERT INTO pairs (instruction, response, origin, content_hash)"
                    " SELECT 'How do I reset lamp model ' || i || '?', 'Hold the button on lamp ' || i"
                    " || ' for ten seconds until it blinks.', 'extracted', md5(i::VARCHAR) FROM range(?) t(i)",
                    [pairs])


SEARCHES = ("lamp model 123", "BLINKS", "model 99999?", "nothing matches this", "button on lamp 4")


def search_times(db: Path) -> tuple[float, float]:
    """The Pairs page's search (curate.pairs.search: the count and the first page) against the bare
    DuckDB query a person would write (ILIKE, count and page) on the same file: median seconds."""
    import duckdb

    from curate.pairs.search import search
    from curate.store import Store

    store, ours, bare = Store(db), [], []
    for text in SEARCHES * 3:
        began = time.perf_counter()
        search(store, text)
        ours.append(time.perf_counter() - began)
    con = duckdb.connect(str(db), read_only=True)
    for text in SEARCHES * 3:
        began = time.perf_counter()
        like = f"%{text}%"
        con.execute("SELECT count(*) FROM pairs WHERE instruction ILIKE ? OR response ILIKE ?", [like, like]).fetchall()
        con.execute("SELECT * FROM pairs WHERE instruction ILIKE ? OR response ILIKE ? ORDER BY id LIMIT 50",
                    [like, like]).fetchall()
        bare.append(time.perf_counter() - began)
    con.close()
    return float(np.median(ours)), float(np.median(bare))


def wait_idle(page) -> None:
    """Until the script run has finished (outside the timed part: a key pressed during a run may be lost)."""
    page.wait_for_timeout(300)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def measure(db: Path, presses: int, tmp: Path) -> dict:
    from browser import browser_page, running_app

    quality, verdict = [], []
    with running_app(db) as url, browser_page(tmp) as page:
        page.goto(url + "/rate")
        page.get_by_role("button", name="approve").wait_for(timeout=180_000)
        wait_idle(page)
        for _ in range(presses + 2):   # the first two warm the page up and are not counted
            caption = page.get_by_text("· extracted").first.inner_text()
            pair_id = caption.split()[1]
            began = time.perf_counter()
            page.keyboard.press("4")   # shown when this pair's 4 is the chosen (primary) button
            page.locator(f".st-key-quality-{pair_id}-4 [data-testid='stBaseButton-primary']").wait_for(timeout=120_000)
            quality.append(time.perf_counter() - began)
            wait_idle(page)
            began = time.perf_counter()
            page.keyboard.press("a")
            page.wait_for_function(f"!document.body.innerText.includes({json.dumps(caption)})", timeout=120_000)
            page.get_by_text("· extracted").first.wait_for(timeout=120_000)
            verdict.append(time.perf_counter() - began)
            wait_idle(page)
    return {"quality": np.array(quality[2:]) * 1000, "verdict": np.array(verdict[2:]) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,1000000", help="store sizes in pairs, the baseline first")
    parser.add_argument("--presses", type=int, default=50, help="pairs rated per store")
    args = parser.parse_args()
    from browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="tuneloop-rate-"))
    results = {}
    for size in sizes:
        db = work / f"rate-{size}.duckdb"
        began = time.perf_counter()
        make_store(db, size)
        print(f"{size:>9,} pairs: store made in {time.perf_counter() - began:.1f} s", flush=True)
        ours, bare = search_times(db)
        print(f"{size:>9,} pairs: search (count and first page) median {ours * 1000:.0f} ms; bare DuckDB ILIKE"
              f" {bare * 1000:.0f} ms ({ours / bare:.2f}x)", flush=True)
        results[size] = measure(db, args.presses, work / f"browser-{size}")
        for key, label in (("quality", "quality key → choice shown"), ("verdict", "verdict key → next pair")):
            ms = results[size][key]
            print(f"{size:>9,} pairs: {label:<28} p50 {np.percentile(ms, 50):6.0f} ms   p99 {np.percentile(ms, 99):6.0f} ms",
                  flush=True)
    base = sizes[0]
    for size in sizes[1:]:
        for key in ("quality", "verdict"):
            ratio = np.percentile(results[size][key], 50) / np.percentile(results[base][key], 50)
            print(f"{key}: p50 at {size:,} pairs is {ratio:.2f}x the p50 at {base:,}")


if __name__ == "__main__":
    main()
