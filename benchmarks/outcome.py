"""Does curation make a better fine-tune? The experiment, on real support data, end to end.

    .venv/bin/python benchmarks/outcome.py                 # lamini_docs, 100 LoRA steps per model (~45 min)
    .venv/bin/python benchmarks/outcome.py --steps 300 --evalset-size 100

1. Import ../shared/data/lamini_docs, extract its pairs, and freeze an evaluation set first
   (a random sample of the imported questions): every model below is scored on it, and no build
   may train on it or on its near-duplicates (exact, MinHash and semantic matches are left out).
2. (a) the base model, SmolLM2-135M-Instruct (offline package), as it is.
   (b) uncurated: every imported pair approved as it is.
   (c) curated: exact, near and semantic duplicates resolved (the proposed keeper kept), pairs
       overlapping imported benchmark items left out, pairs whose answer the error heuristics flag
       (empty, repetition, too long, cut off, misspellings) rejected, off-topic pairs added.
   (d) a second iteration: (c) evaluated on its own held-out split and its highest-loss training
       pairs flagged; a scripted reviewer (standing in for people; say so when quoting it) rejects the
       flagged pairs whose answers a heuristic flags or whose loss is in the top decile, and approves
       the rest again.
   (e) selected by score: of the pairs (d) trained on, the --select-budget best by instruction-
       following difficulty under the base model (no judge: the offline models are too small to be
       one), kept diverse (`tuneloop dataset build --select-budget`: best first, none more than 0.9 alike to one taken).
   (b)-(e) get the same training budget: LoRA, the same steps, batch size and learning rate.
3. Every model's domain metrics on the frozen set with bootstrap 95% intervals, and the paired
   differences of (c), (d) and (e) against (b) and of every run against (a).

Prints the table and writes it as JSON (--out). Everything runs through tuneloop's library calls.
"""
from __future__ import annotations

import argparse
import json
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


def approve_in_play(store) -> int:
    from curate.pairs.status import APPROVED, active, set_status

    with store.transaction() as con:
        ids = [r[0] for r in con.execute(f"SELECT id FROM pairs p WHERE {active()}").fetchall()]
        return set_status(con, ids, APPROVED)


def heuristic_rejects(store, ids: list[int] | None = None) -> list[int]:
    """Pairs whose own answer an error heuristic flags (as if the answer were a model's output)."""
    from curate.pairs.offtopic import should_refuse
    from evals.heuristics import Context, learn_allowlist, run_all

    rows = store.rows("SELECT id, instruction, response, origin FROM pairs WHERE origin <> 'offtopic'")
    allow = learn_allowlist([r["instruction"] + " " + r["response"] for r in rows])
    out = []
    for r in rows:
        if ids is not None and r["id"] not in ids:
            continue
        flags = run_all(r["response"], Context(question=r["instruction"], should_refuse=should_refuse(r),
                                               allowlist=allow))
        if flags:
            out.append(r["id"])
    return out


def lamini_store(workdir: Path, name: str, evalset_size: int):
    """A store with lamini_docs imported and extracted, the benchmark mirrors imported, and an
    evaluation set ("frozen") drawn first from the imported pairs. (store, the set)"""
    from curate.datasets.evalsets import create_evalset
    from curate.dedupe.decontaminate import benchmarks_dir
    from curate.ingest.importer import ingest
    from curate.pairs.extract import extract
    from curate.store import Store
    from evals.bench.tasks import import_benchmarks

    workdir.mkdir(parents=True, exist_ok=True)
    store = Store(workdir / name)
    ingest(store, [SHARED / "lamini_docs"], topic="Lamini")
    extract(store)
    import_benchmarks(SHARED / "benchmarks", benchmarks_dir(store))
    return store, create_evalset(store, "frozen", from_status="new", size=evalset_size, seed=0)


def train_version(store, name: str, steps: int, workdir: Path) -> int:
    from training.config import TrainConfig
    from training.train import train

    say(f"training on {name}: LoRA, {steps} steps")
    return train(store, TrainConfig(dataset=name, lora=True, max_steps=steps, batch_size=8, eval_steps=steps,
                                    save_steps=steps, logging_steps=10, output_root=str(workdir / "runs")))


def build(store, name: str, workdir: Path, **options) -> dict:
    from curate.datasets.build import DatasetConfig, build_dataset

    report = build_dataset(store, DatasetConfig(name, max_length=256, **options), export_root=workdir / "ds")
    if report.get("selection"):
        say(f"selection: {report['selection']['how']}; {report['selection']['selected']} of"
            f" {report['selection']['candidates']}, {report['selection']['skipped_as_too_alike']} too alike,"
            f" left out {report['selection']['left_out']}")
    say(f"built {name}: {report['train']} train, {report['test']} test; left out for the evaluation set"
        f" {report['excluded_for_eval_sets']}; contaminated {len(report['contamination']['found'])};"
        f" leakage {report['leakage']['test_with_a_match_in_train']}")
    return report


def print_compared(result: dict, labels: dict[str, str]) -> None:
    """evals.compare's summary, each model spec shown by its label ({label: spec})."""
    from evals.compare import summary_lines

    print()
    for line in summary_lines(result):
        for label, spec in sorted(labels.items(), key=lambda item: -len(item[1])):   # run:10 before run:1
            line = line.replace(spec, label)
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="LoRA steps per fine-tune (the same for each)")
    parser.add_argument("--evalset-size", type=int, default=80)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--select-budget", type=int, default=300, help="pairs (e) chooses by score")
    parser.add_argument("--workdir", default=None, help="keep the store and runs here (default: a temporary folder)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    from curate import dedupe
    from curate.pairs.offtopic import add_offtopic
    from curate.pairs.status import FLAGGED, NEW, REJECTED, set_status, status_in
    from evals.compare import compare
    from evals.domain import evaluate_domain
    from training.runs import flag_hardest

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tuneloop-outcome-"))
    store, s = lamini_store(workdir, "outcome.duckdb", args.evalset_size)
    say(f"{store.scalar('SELECT count(*) FROM pairs')} pairs; evaluation set of {s['items']} questions frozen")
    models = {}

    def evaluate(label: str, spec: str | None) -> None:
        say(f"evaluating {label} on the frozen set")
        evaluate_domain(store, spec, evalset="frozen", max_new_tokens=args.max_new_tokens, flag=False)
        models[label] = spec or store.scalar("SELECT model FROM eval_runs ORDER BY id DESC LIMIT 1")

    evaluate("(a) base", None)

    approve_in_play(store)  # (b) everything as imported
    build(store, "uncurated", workdir)
    evaluate("(b) uncurated", f"run:{train_version(store, 'uncurated', args.steps, workdir)}")

    with store.transaction() as con:  # (c) curate from the same imported pairs
        set_status(con, [r[0] for r in con.execute("SELECT id FROM pairs").fetchall()], NEW)
    for method in dedupe.METHODS:
        say(dedupe.dedupe(store, dedupe.DedupeConfig(method=method)).summary())
    say(f"accepted {dedupe.accept_all(store)} duplicate clusters")
    flagged = heuristic_rejects(store)
    with store.transaction() as con:
        set_status(con, flagged, REJECTED)
    say(f"rejected {len(flagged)} pairs whose answers a heuristic flags")
    say(f"added {add_offtopic(store, 'Lamini', 40)} off-topic pairs")
    approve_in_play(store)
    build(store, "curated", workdir)
    curated_run = train_version(store, "curated", args.steps, workdir)
    evaluate("(c) curated", f"run:{curated_run}")

    # (d) one more turn of the loop: failures back to review, a scripted reviewer, train again
    say("iteration 2: evaluating (c) on its own held-out split and flagging its hardest pairs")
    evaluate_domain(store, f"run:{curated_run}", "curated", max_new_tokens=args.max_new_tokens, flag=True)
    flag_hardest(store, curated_run, top=40)
    flagged = [r["id"] for r in store.rows(f"SELECT id FROM pairs p WHERE {status_in((FLAGGED,))}")]
    losses = {r["pair_id"]: r["loss"] for r in store.rows("SELECT pair_id, loss FROM example_losses WHERE run_id = ?",
                                                          [curated_run])}
    cut = sorted(losses.values())[int(0.9 * len(losses))] if losses else float("inf")
    bad = set(heuristic_rejects(store, flagged)) | {p for p in flagged if losses.get(p, 0) >= cut}
    with store.transaction() as con:
        set_status(con, sorted(bad), REJECTED)
    say(f"scripted review: {len(flagged)} flagged, {len(bad)} rejected, the rest approved again")
    approve_in_play(store)
    build(store, "iteration2", workdir)
    evaluate("(d) iteration 2", f"run:{train_version(store, 'iteration2', args.steps, workdir)}")

    # (e) the same approved pairs, the best by a score, kept diverse
    from curate.quality.ifd import score_pairs

    scored = score_pairs(store)
    say(f"IFD under the base model: {scored['scored']} pairs, median {scored['median_ifd']},"
        f" {scored['ifd_at_least_1']} at or above 1")
    build(store, "selected", workdir, select_budget=args.select_budget, select_by="ifd")
    evaluate("(e) selected by score", f"run:{train_version(store, 'selected', args.steps, workdir)}")

    specs = list(models.values())
    results = {"steps": args.steps, "evalset_size": s["items"], "labels": models,
               "against_base": compare(store, "frozen", specs),
               "against_uncurated": compare(store, "frozen", [models["(b) uncurated"], models["(c) curated"],
                                                              models["(d) iteration 2"],
                                                              models["(e) selected by score"]])}
    for key in ("against_base", "against_uncurated"):
        print_compared(results[key], models)
    say(f"done in {time.perf_counter() - STARTED:.0f} s; store and runs in {workdir}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
