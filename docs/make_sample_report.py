"""The sample report in the docs, made from real data end to end through tuneloop's library calls:

    .venv/bin/python docs/make_sample_report.py            # about 40 minutes on a 2-core CPU

1. Import ../shared/data/lamini_docs and extract its pairs; freeze an evaluation set first.
2. Version `as-imported`: every pair approved; SmolLM2-135M-Instruct fine-tuned on it (LoRA).
3. Version `scanned`: the quality scan's findings rejected; fine-tuned again the same way.
4. The base model and the second run on the held-out split of `scanned` and on real benchmark
   mirrors (ARC-Easy, ARC-Challenge, HellaSwag, TruthfulQA MC2, MMLU); both runs on the set.
5. `tuneloop report` for the second run, the first as another run: HTML, markdown and JSON in
   docs/report/ (the HTML is linked from the docs page, the markdown shown in it).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))   # the outcome benchmark's steps: the same store, the same training
os.environ.setdefault("HF_HUB_OFFLINE", "1")
STARTED = time.perf_counter()


def say(text: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.0f} s] {text}", flush=True)


def version(store, name: str, workdir: Path, steps: int) -> int:
    """Every pair still in play approved, frozen as a version, and fine-tuned on (LoRA)."""
    from outcome import approve_in_play, build, train_version

    approve_in_play(store)
    build(store, name, workdir)
    return train_version(store, name, steps, workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--questions", type=int, default=60, help="held-out questions answered by each model")
    parser.add_argument("--items", type=int, default=150, help="items per benchmark task (MMLU: per subject ÷ 15)")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=str(ROOT / "docs" / "report"))
    args = parser.parse_args()

    from outcome import lamini_store

    from curate.quality.findings import act
    from curate.quality.scan import scan
    from evals.bench.run import run_benchmarks
    from evals.domain import evaluate_domain
    from evals.report import write_report

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tuneloop-sample-report-"))
    store, _ = lamini_store(workdir, "sample.duckdb", args.questions)
    first = version(store, "as-imported", workdir, args.steps)
    say(scan(store).summary())
    for kind in store.rows("SELECT DISTINCT kind FROM quality_findings"):
        act(store, kind["kind"], 0.0, "reject", apply=True, actor="sample report")
    second = version(store, "scanned", workdir, args.steps)
    for run in (first, second):
        say(f"run {run} on the evaluation set")
        evaluate_domain(store, f"run:{run}", evalset="frozen", max_new_tokens=64, flag=False)
    for model in (None, f"run:{second}"):  # None: the packaged base model, stored under its resolved name
        say(f"{model or 'base model'}: held-out split of `scanned`, then benchmarks")
        evaluate_domain(store, model, "scanned", limit=args.questions, max_new_tokens=64, flag=False)
        run_benchmarks(store, model, ["arc_easy", "arc_challenge", "hellaswag", "truthfulqa_mc2"], limit=args.items)
        run_benchmarks(store, model, ["mmlu"], limit=max(1, args.items // 15))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for fmt in ("html", "md", "json"):
        say(f"wrote {write_report(store, second, out / f'sample-report.{fmt}', (first,), 'frozen', fmt)}")
    say(f"done; store and runs in {workdir}")


if __name__ == "__main__":
    main()
