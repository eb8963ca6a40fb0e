"""Benchmark throughput: `tuneloop eval bench` against `lm_eval --model hf` with its default settings,
on the same model (SmolLM2-135M-Instruct, offline), the same tasks (the local mirrors imported from
../shared/data/benchmarks) and the same --limit, on the same machine, each as its own command.

    .venv/bin/python benchmarks/eval.py                          # ARC-Easy, ARC-Challenge, HellaSwag, TruthfulQA-MC2
    .venv/bin/python benchmarks/eval.py --tasks arc_easy --limit 50
    .venv/bin/python benchmarks/eval.py --tasks mmlu --limit 2   # 57 subjects × 2 questions
    .venv/bin/python benchmarks/eval.py --repeat 3               # alternate the order, compare medians

Both commands are timed from start to exit (imports, model loading and evaluation), and both
read the same task YAMLs, so prompts, requests and metrics are the same; the scores are printed
side by side and must agree to 4 decimals.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "benchmarks"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} … failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - started


def ours(workdir: Path, tasks: list[str], limit: int) -> tuple[float, dict]:
    from curate.store import Store
    from evals.bench.tasks import LOCAL_PREFIX

    db = workdir / "bench.duckdb"
    seconds = timed([str(BIN / "tuneloop"), "--db", str(db), "eval", "bench", "--tasks", ",".join(tasks),
                     "--limit", str(limit), "--tasks-dir", str(workdir / "tasks")])
    rows = Store(db).rows("SELECT task, metric, value FROM benchmark_results")
    scores = {}
    for r in rows:
        scores[(r["task"].removeprefix(LOCAL_PREFIX), r["metric"])] = r["value"]
    return seconds, scores


def peer(workdir: Path, tasks: list[str], limit: int, model_dir: str) -> tuple[float, dict]:
    from evals.bench.tasks import LOCAL_PREFIX

    out = workdir / "lm_eval_out"
    seconds = timed([str(BIN / "lm_eval"), "run", "--model", "hf", "--model_args", f"pretrained={model_dir}",
                     "--tasks", ",".join(LOCAL_PREFIX + t for t in tasks), "--include_path", str(workdir / "tasks"),
                     "--limit", str(limit), "--device", "cpu", "--output_path", str(out)])
    [result_file] = list(out.rglob("results_*.json"))
    results = json.loads(result_file.read_text())["results"]
    scores = {}
    for task, metrics in results.items():
        for key, value in metrics.items():
            metric = key.split(",")[0]
            if "," in key and not metric.endswith("_stderr") and isinstance(value, (int, float)):
                scores[(task.removeprefix(LOCAL_PREFIX), metric)] = float(value)
    return seconds, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="arc_easy,arc_challenge,hellaswag,truthfulqa_mc2")
    parser.add_argument("--limit", type=int, default=40, help="Items per task (per subject for mmlu).")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Run both this many times, alternating which goes first; the medians are compared.")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    tasks = args.tasks.split(",")

    from curate.lm.load import local_model_dir
    from curate.lm.resolve import resolve_causal_lm
    from evals.bench.tasks import import_benchmarks

    model_dir = local_model_dir(resolve_causal_lm(None))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        import_benchmarks(DATA, workdir / "tasks")
        our_times, peer_times = [], []
        for turn in range(args.repeat):
            run_dir = workdir / f"run{turn}"
            run_dir.mkdir()
            (run_dir / "tasks").symlink_to(workdir / "tasks")
            for who in (("ours", "peer") if turn % 2 == 0 else ("peer", "ours")):
                if who == "ours":
                    seconds, our_scores = ours(run_dir, tasks, args.limit)
                    our_times.append(seconds)
                else:
                    seconds, peer_scores = peer(run_dir, tasks, args.limit, model_dir)
                    peer_times.append(seconds)
            print(f"run {turn + 1}: tuneloop {our_times[-1]:.1f} s, lm_eval {peer_times[-1]:.1f} s", flush=True)
        our_seconds, peer_seconds = statistics.median(our_times), statistics.median(peer_times)
    print(f"lm-eval benchmarks, SmolLM2-135M-Instruct on CPU, --limit {args.limit}: {', '.join(tasks)}")
    print(f"{'task':<22}{'metric':<10}{'tuneloop':>10}{'lm_eval':>10}  same to 4 decimals")
    same = True
    for key in sorted(set(our_scores) | set(peer_scores)):
        a, b = our_scores.get(key), peer_scores.get(key)
        agree = a is not None and b is not None and round(a, 4) == round(b, 4)
        same &= agree
        fmt = lambda v: f"{v:.4f}" if v is not None else "–"
        print(f"{key[0]:<22}{key[1]:<10}{fmt(a):>10}{fmt(b):>10}  {'yes' if agree else 'NO'}")
    runs = f" (median of {args.repeat})" if args.repeat > 1 else ""
    print(f"wall seconds{runs}: tuneloop {our_seconds:.1f}, lm_eval --model hf (defaults) {peer_seconds:.1f}")
    print(f"throughput ratio tuneloop/lm_eval: {peer_seconds / our_seconds:.2f}x; scores identical: {same}")


if __name__ == "__main__":
    main()
