"""Training throughput: tuneloop's trainer against TRL's SFTTrainer with its defaults, on the same
model (SmolLM2-135M-Instruct, offline), the same data (approved lamini_docs pairs, prompt and
completion, loss on the completion) and the same machine, each in its own process.

    .venv/bin/python benchmarks/train.py                  # one epoch over 160 examples (about 5 minutes)
    .venv/bin/python benchmarks/train.py --examples 400
    .venv/bin/python benchmarks/train.py --seeds 3          # also seeds 1 and 2 (about 8 more minutes)

Both train one epoch over the same examples (the first approved pairs' train split), from the
same weights, with batch size 8 and learning rate 5e-5; everything else is each trainer's
default (TRL's: gradient checkpointing and bf16 on; ours: length-grouped batches, the output
layer at answer positions only, eager attention for short examples on a CPU, and the precision
`auto` picks: bf16 autocast on a CPU with AVX512-BF16/AMX). tuneloop runs twice, in
fp32 and in the precision auto picks, so both ratios are printed. Trained
tokens are the non-padding tokens of the batches; tokens/s is that over the time spent in
`Trainer.train`.

The loss curves are compared where they can be: the held-out loss (mean answer-token loss over
the test split) of the base model and of each trained model, computed by one function, so both
trainers are judged on the same examples after the same amount of training.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "lamini_docs" / "lamini_docs.jsonl"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def prepare(workdir: Path, max_length: int, examples: int) -> Path:
    """A store with the first lamini pairs approved and a dataset version v1 built from them."""
    from curate.datasets.build import DatasetConfig, build_dataset
    from curate.ingest.importer import ingest
    from curate.pairs.extract import extract
    from curate.pairs.status import APPROVED, set_status
    from curate.store import Store

    store = Store(workdir / "bench.duckdb")
    ingest(store, [DATA], topic="Lamini")
    extract(store)
    with store.transaction() as con:
        set_status(con, [r[0] for r in con.execute("SELECT id FROM pairs WHERE id <= ?",
                                                   [round(examples / 0.9)]).fetchall()], APPROVED)
    build_dataset(store, DatasetConfig("v1", max_length=max_length, test_size=0.1), export_root=workdir / "ds")
    return workdir


def heldout_loss(model, tokenizer, workdir: Path, max_length: int) -> float:
    """Mean answer-token loss over the test split: the same function for every model."""
    from training.sft import example_losses, examples

    with open(workdir / "ds" / "v1" / "test.jsonl", encoding="utf-8") as fh:
        items = [json.loads(line) for line in fh]
    losses = example_losses(model, examples(tokenizer, items, max_length), tokenizer.pad_token_id)
    return sum(losses) / len(losses)


def run_base(workdir: Path, max_length: int) -> dict:
    from curate.lm.load import load_causal_lm

    model, tokenizer, _ = load_causal_lm(None)
    return {"heldout_loss": heldout_loss(model, tokenizer, workdir, max_length)}


def run_ours(workdir: Path, max_length: int, precision: str = "auto", device: str = "auto",
             model: str | None = None, seed: int = 0) -> dict:
    from curate.lm.load import load_causal_lm
    from curate.store import Store
    from training.config import TrainConfig
    from training.runs import curve
    from training.train import train

    store = Store(workdir / "bench.duckdb")
    run_id = train(store, TrainConfig(dataset="v1", epochs=1, batch_size=8, lr=5e-5, logging_steps=5,
                                      eval_steps=10**6, save_steps=10**6, output_root=str(workdir / "runs"),
                                      precision=precision, device=device, model=model, seed=seed))
    metrics = json.loads(store.scalar("SELECT metrics FROM runs WHERE id = ?", [run_id]))
    losses = curve(store, run_id)["loss"].dropna().tolist()
    model, tokenizer, _ = load_causal_lm(f"run:{run_id}", store=store)
    return {"tokens": metrics["trained_tokens"], "seconds": metrics["wall_seconds"], "precision": metrics["precision"],
            "first_loss": losses[0], "last_loss": losses[-1],
            "heldout_loss": heldout_loss(model, tokenizer, workdir, max_length)}


def run_trl(workdir: Path, max_length: int, device: str = "cpu", model: str | None = None, seed: int = 0) -> dict:
    import torch
    from datasets import load_dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from curate.lm.load import load_causal_lm

    torch.set_num_threads(os.cpu_count() or 1)
    base = model
    model, tokenizer, _ = load_causal_lm(base)
    tokenizer.padding_side = "right"
    data = load_dataset("json", data_files=str(workdir / "ds" / "v1" / "train.jsonl"), split="train")
    data = data.remove_columns(["pair_id"])
    losses = []

    class Losses(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(logs["loss"])

    trainer = SFTTrainer(model=model, processing_class=tokenizer, train_dataset=data, callbacks=[Losses()],
                         args=SFTConfig(output_dir=str(workdir / "trl"), num_train_epochs=1, learning_rate=5e-5,
                                        per_device_train_batch_size=8, logging_steps=5, logging_first_step=True,
                                        save_strategy="no", report_to=[], use_cpu=device == "cpu", seed=seed))
    counted = {"tokens": 0}
    collate = trainer.data_collator

    def counting(batch):
        out = collate(batch)
        mask = out.get("attention_mask")
        counted["tokens"] += int(mask.sum()) if mask is not None else int(out["input_ids"].numel())
        return out

    trainer.data_collator = counting
    started = time.perf_counter()
    trainer.train()
    seconds = round(time.perf_counter() - started, 1)
    precision = "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32"
    return {"tokens": counted["tokens"], "seconds": seconds, "first_loss": losses[0], "last_loss": losses[-1],
            "precision": precision,
            "heldout_loss": heldout_loss(trainer.model, tokenizer, workdir, max_length)}


def in_subprocess(which: str, workdir: Path, max_length: int, seed: int = 0) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", which, "--workdir", str(workdir),
                          "--max-length", str(max_length), "--seed", str(seed)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=160)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--one", choices=["base", "tuneloop", "tuneloop-fp32", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, default=1,
                        help="train tuneloop (auto precision) and TRL this many times, seeds 0..N-1, and compare the"
                             " mean held-out losses: batch order alone moves one run's by a few hundredths")
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        fn = {"base": lambda w, m, s: run_base(w, m), "tuneloop": lambda w, m, s: run_ours(w, m, seed=s),
              "tuneloop-fp32": lambda w, m, s: run_ours(w, m, "fp32", seed=s),
              "trl": lambda w, m, s: run_trl(w, m, seed=s)}[args.one]
        print(json.dumps(fn(Path(args.workdir), args.max_length, args.seed)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = prepare(Path(tmp), args.max_length, args.examples)
        base = in_subprocess("base", workdir, args.max_length)
        results = {name: in_subprocess(name, workdir, args.max_length) for name in ("tuneloop", "tuneloop-fp32", "trl")}
        repeats = {name: [results[name]] + [in_subprocess(name, workdir, args.max_length, seed)
                                            for seed in range(1, args.seeds)] for name in ("tuneloop", "trl")}
    print(f"fine-tuning SmolLM2-135M-Instruct on lamini_docs: one epoch, about {args.examples} examples, batch 8, CPU")
    print(f"held-out loss of the base model: {base['heldout_loss']:.4f}")
    print(f"{'':14}{'precision':>10}{'tokens':>9}{'seconds':>9}{'tokens/s':>10}{'loss first':>12}{'loss last':>11}"
          f"{'held-out':>10}")
    for name, r in results.items():
        r["tokens_per_s"] = r["tokens"] / r["seconds"]
        print(f"{name:14}{r['precision']:>10}{r['tokens']:>9,}{r['seconds']:>9}{r['tokens_per_s']:>10.1f}"
              f"{r['first_loss']:>12.3f}{r['last_loss']:>11.3f}{r['heldout_loss']:>10.4f}")
    peer = results["trl"]
    for name in ("tuneloop", "tuneloop-fp32"):
        r = results[name]
        print(f"throughput ratio {name} ({r['precision']}) / TRL SFTTrainer defaults ({peer['precision']}):"
              f" {r['tokens_per_s'] / peer['tokens_per_s']:.2f}x; held-out loss difference"
              f" {r['heldout_loss'] - peer['heldout_loss']:+.4f}")
    if args.seeds > 1:
        import statistics

        held = {name: [r["heldout_loss"] for r in runs] for name, runs in repeats.items()}
        speed = {name: [r["tokens"] / r["seconds"] for r in runs] for name, runs in repeats.items()}
        for name in held:
            print(f"{name:14} seeds 0-{args.seeds - 1}: held-out " + ", ".join(f"{x:.4f}" for x in held[name])
                  + f" (mean {statistics.mean(held[name]):.4f}); tokens/s median {statistics.median(speed[name]):.1f}")
        print(f"over {args.seeds} seeds: median throughput ratio"
              f" {statistics.median(speed['tuneloop']) / statistics.median(speed['trl']):.2f}x; mean held-out loss"
              f" difference {statistics.mean(held['tuneloop']) - statistics.mean(held['trl']):+.4f}")


if __name__ == "__main__":
    main()
