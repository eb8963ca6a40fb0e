"""A run's model on disk and in the store: saved (a LoRA adapter alone and merged), registered as
run:N, and the newest complete checkpoint to resume from."""
from __future__ import annotations

import json
from pathlib import Path

from curate.lm.resolve import register_model
from curate.store import Store
from training.config import TrainConfig

CHECKPOINT_PREFIX = "checkpoint-"


def save_model(store: Store, config: TrainConfig, model, tokenizer, output_dir: Path):
    """The trained model into output_dir/model (a LoRA run: its adapter alone into output_dir/adapter,
    megabytes, and merged into the base for model/). Returns the saved model."""
    if config.lora:
        model.save_pretrained(output_dir / "adapter")
        tokenizer.save_pretrained(output_dir / "adapter")
        model = _merged(store, config, model, output_dir / "adapter")
    model.save_pretrained(output_dir / "model")
    tokenizer.save_pretrained(output_dir / "model")
    return model


def record_model(con, run_id: int, output_dir: Path, config: TrainConfig, job, metrics: dict) -> None:
    """Inside the caller's transaction: the run's metrics and model folder, and its names run:N
    (and run:N:adapter)."""
    con.execute("UPDATE runs SET output_dir = ?, metrics = ? WHERE id = ?",
                [str(output_dir / "model"), json.dumps(metrics), run_id])
    register_model(con, f"run:{run_id}", output_dir / "model", config.model, job.id)
    if config.lora:
        register_model(con, f"run:{run_id}:adapter", output_dir / "adapter", config.model, job.id)


def _merged(store: Store, config: TrainConfig, model, adapter_dir: Path):
    """The LoRA adapter merged into the base weights. A QLoRA adapter is merged into the base
    loaded again unquantized (merging into 4-bit weights would round them)."""
    if not config.qlora:
        return model.merge_and_unload()
    from curate.lm.load import load_causal_lm, with_adapter

    base, _, _ = load_causal_lm(config.model, store, placement=config.placement())
    return with_adapter(base, adapter_dir).merge_and_unload()


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint: the Trainer writes trainer_state.json last, so a folder
    without it was cut off mid-save (a kill during saving) and is passed over."""
    found = sorted((p for p in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*") if (p / "trainer_state.json").is_file()),
                   key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))
    return found[-1] if found else None
