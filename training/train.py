"""Fine-tune on a dataset version with transformers' Trainer, full or LoRA (peft).

The store is read first (the frozen examples), let go while training runs, and written in short
transactions: the run row and its job (running → succeeded / failed / interrupted, with a heartbeat,
as for all long work), the loss and learning rate at each logging step, held-out loss, and afterwards
each example's loss; the model is registered as run:N. A killed run's job is marked interrupted the
next time the store is opened; `resume` continues it from its last checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from curate.datasets.versions import get_version, version_items
from curate.errors import TuneloopError
from curate.store import Store
from training.config import TrainConfig


def _output_root(store: Store, config: TrainConfig) -> Path:
    return Path(config.output_root) if config.output_root else Path(store.path).resolve().parent / "tuneloop_runs"


def _inputs(store: Store, config: TrainConfig) -> tuple[dict, list, list]:
    """The dataset version (a preference version for DPO) and its frozen train and test items, read
    before anything runs."""
    from curate.datasets.preferences import preference_items, require_preference_version

    what, get, items = (("preference version", require_preference_version, preference_items) if config.method == "dpo"
                        else ("dataset", get_version, version_items))
    if not config.dataset:
        raise TuneloopError(f"name the {what} to train on (--dataset)")
    version = get(store, config.dataset)
    train_items = items(store, version["id"], "train")
    if not train_items:
        raise TuneloopError(f"{what} {config.dataset!r} has no training examples")
    return version, train_items, items(store, version["id"], "test")


def _load(store: Store, config: TrainConfig):
    """The base model for training: fp32 weights (autocast does the bf16/fp16 arithmetic; the
    Trainer moves it to its device), or 4-bit weights on the GPU for QLoRA."""
    from curate.lm.load import load_causal_lm

    model, tokenizer, resolved = load_causal_lm(config.model, store, quantize_4bit=config.qlora,
                                                placement=config.placement() if config.qlora else None)
    tokenizer.padding_side = "right"
    return model, tokenizer, resolved


def train(store: Store, config: TrainConfig, show_progress: bool = False, on_log=None) -> int:
    """Train a new run on config.dataset in this process (its job: running → succeeded / failed /
    interrupted); returns the run's id. With num_processes > 1 the run is trained by `accelerate
    launch` processes (training.distributed) and this one waits for them."""
    return run(store, new_run(store, config), show_progress=show_progress, on_log=on_log)


def new_run(store: Store, config: TrainConfig) -> int:
    """The run's row, before any training: its resolved config (inputs checked, so a mistake is
    said at once), base model and output folder. `run` trains it, here or in a process of its own
    (training.background, training.worker: a child process is handed the run's id, nothing else)."""
    from curate.lm.resolve import resolve_causal_lm

    config = config.resolved()
    version, _, _ = _inputs(store, config)
    described = resolve_causal_lm(config.model, store).describe()
    kind, version_id = ("dpo", None) if config.method == "dpo" else ("train", version["id"])
    with store.transaction() as con:
        run_id = con.execute("INSERT INTO runs (kind, dataset_version_id, base_model, config) VALUES (?, ?, ?, ?)"
                             " RETURNING id", [kind, version_id, described, json.dumps(asdict(config))]).fetchone()[0]
        con.execute("UPDATE runs SET output_dir = ? WHERE id = ?", [str(_output_root(store, config) / f"run-{run_id}"),
                                                                    run_id])
    return run_id


def run(store: Store, run_id: int, *, resume: bool = False, show_progress: bool = False, on_log=None) -> int:
    """Train a run whose row exists: a new one, or (resume) an interrupted or failed one from its
    newest complete checkpoint, always with its stored config. Returns the run's id."""
    from training.distributed import run_processes
    from training.runs import get_run

    row = get_run(store, run_id)
    if row["state"] == "succeeded":
        raise TuneloopError(f"run {run_id} already finished")
    if row["state"] == "running":
        raise TuneloopError(f"run {run_id} is still running (pid {row['pid']})")
    config = TrainConfig(**row["config"])
    version, train_items, test_items = _inputs(store, config)
    with store.job("train", {"run": run_id, "dataset": config.dataset}, resume=row["job_id"]) as job:
        if row["job_id"] is None:
            store.execute("UPDATE runs SET job_id = ? WHERE id = ?", [job.id, run_id])
        if config.num_processes > 1:
            job.result = run_processes(store, run_id, config, resume=resume, show_progress=show_progress)
        else:
            model, tokenizer, _ = _load(store, config)
            job.result = _fitter(config)(store, job, run_id, Path(row["output_dir"]), model, tokenizer, config, version,
                                         train_items, test_items, resume=resume, show_progress=show_progress,
                                         on_log=on_log)
    return run_id


def resume(store: Store, run_id: int, show_progress: bool = False, on_log=None) -> int:
    """Continue an interrupted or failed run from its newest complete checkpoint, with its stored config."""
    return run(store, run_id, resume=True, show_progress=show_progress, on_log=on_log)


def _fitter(config: TrainConfig):
    """The step that trains: supervised (training.sft) or on preferences (training.dpo)."""
    from training.dpo import fit_dpo
    from training.sft import fit_sft

    return fit_dpo if config.method == "dpo" else fit_sft


def fit_part(store: Store, run_id: int, resume: bool, show_progress: bool = False) -> dict:
    """One process's part of a distributed run (its job is the launching process's): the run's
    config and data from the store, then its fitter. Only the main process writes the store."""
    from curate.store import Job
    from training.runs import get_run

    row = get_run(store, run_id)
    config = TrainConfig(**row["config"])
    version, train_items, test_items = _inputs(store, config)
    model, tokenizer, _ = _load(store, config)
    return _fitter(config)(store, Job(row["job_id"], store), run_id, Path(row["output_dir"]), model, tokenizer,
                           config, version, train_items, test_items, resume=resume, show_progress=show_progress,
                           on_log=None)
