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
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = ROOT.parent / "shared" / "data"
STARTED = time.perf_counter()


def say(text: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.0f} s] {text}", flush=True)


def approve_all(store) -> None:
    from curate.pairs.status import APPROVED, active, set_status

    with store.transaction() as con:
        set_status(con, [r[0] for r in con.execute(f"SELECT id FROM pairs p WHERE {active()}").fetchall()], APPROVED)


def version(store, name: str, workdir: Path, steps: int) -> int:
    from curate.datasets.build import DatasetConfig, build_dataset
    from training.config import TrainConfig
    from training.train import train

    report = build_dataset(store, DatasetConfig(name, max_length=256), export_root=workdir / "ds")
    say(f"{name}: {report['train']} train, {report['test']} held out; training (LoRA, {steps} steps)")
    return train(store, TrainConfig(dataset=name, lora=True, max_steps=steps, batch_size=8, eval_steps=steps,
                                    save_steps=steps, logging_steps=10, output_root=str(workdir / "runs")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--questions", type=int, default=60, help="held-out questions answered by each model")
    parser.add_argument("--items", type=int, default=150, help="items per benchmark task (MMLU: per subject ÷ 15)")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=str(ROOT / "docs" / "report"))
    args = parser.parse_args()

    from curate.datasets.evalsets import create_evalset
    from curate.dedupe.decontaminate import benchmarks_dir
    from curate.ingest.importer import ingest
    from curate.pairs.extract import extract
    from curate.quality.findings import act
    from curate.quality.scan import scan
    from curate.store import Store
    from evals.bench.run import run_benchmarks
    from evals.bench.tasks import import_benchmarks
    from evals.domain import evaluate_domain
    from evals.report import write_report

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tuneloop-sample-report-"))
    workdir.mkdir(parents=True, exist_ok=True)
    store = Store(workdir / "sample.duckdb")
    ingest(store, [SHARED / "lamini_docs"], topic="Lamini")
    extract(store)
    import_benchmarks(SHARED / "benchmarks", benchmarks_dir(store))
    create_evalset(store, "frozen", from_status="new", size=args.questions, seed=0)
    approve_all(store)
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
