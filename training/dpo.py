"""Preference training (DPO) on a preference version, with TRL's DPOTrainer.

The run is a run like any other (training.train owns the row, the job, resume and the model's
name run:N); this module is the part that differs: the frozen chosen/rejected items as TRL's
conversational preference rows (the tokenizer's chat template renders them), the trainer, and the
figures a preference run is judged by — the reward margin on the curve, and the held-out
preference accuracy (how often the trained model ranks the held-out chosen answer above the
rejected one, relative to the reference model) at the start and the end.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from curate.errors import TuneloopError
from curate.preferences import as_record, preference_items, require_preference_version
from curate.store import Store
from training.config import TrainConfig


def dpo_inputs(store: Store, config: TrainConfig) -> tuple[dict, list, list]:
    """The preference version and its frozen train and test items."""
    if not config.dataset:
        raise TuneloopError("name the preference version to train on (--dataset)")
    version = require_preference_version(store, config.dataset)
    train_items = preference_items(store, version["id"], "train")
    if not train_items:
        raise TuneloopError(f"preference version {config.dataset!r} has no training pairs")
    return version, train_items, preference_items(store, version["id"], "test")


def fit_dpo(store, job, run_id, output_dir: Path, model, tokenizer, config: TrainConfig, version, train_items,
            test_items, *, resume: bool, show_progress: bool, on_log) -> dict:
    """Train with DPO, save and register the model as run:N; returns the run's metrics."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from curate.lm.resolve import register_model
    from training.train import _merged, _placement, last_checkpoint, store_metrics

    torch.set_num_threads(config.threads or max(os.cpu_count() or 1, 1))
    torch.manual_seed(config.seed)
    placement = _placement(config)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    def rows(items):
        return Dataset.from_list([as_record(p, "messages") for p in items]) if items else None

    peft_config = None
    if config.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                                 task_type="CAUSAL_LM", target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                                        "gate_proj", "up_proj", "down_proj"])
    args = DPOConfig(
        output_dir=str(output_dir), beta=config.beta, max_length=config.max_length,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, num_train_epochs=config.epochs, max_steps=config.max_steps,
        learning_rate=config.lr, warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay,
        lr_scheduler_type="cosine", logging_steps=config.logging_steps,
        eval_strategy="steps" if test_items else "no", eval_steps=config.eval_steps, save_strategy="steps",
        save_steps=config.save_steps, save_total_limit=2, report_to=[], use_cpu=placement.kind == "cpu",
        bf16=placement.precision == "bf16", fp16=placement.precision == "fp16", seed=config.seed,
        dataloader_num_workers=0, disable_tqdm=not show_progress, logging_first_step=True)
    trainer = DPOTrainer(model=model, args=args, train_dataset=rows(train_items), eval_dataset=rows(test_items),
                         processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[store_metrics(store, job, run_id, on_log)])
    checkpoint = last_checkpoint(output_dir) if resume else None
    before = trainer.evaluate() if test_items and checkpoint is None else {}
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    wall = time.perf_counter() - started
    after = trainer.evaluate() if test_items else {}
    model = trainer.accelerator.unwrap_model(trainer.model)
    if config.lora:
        model.save_pretrained(output_dir / "adapter")
        tokenizer.save_pretrained(output_dir / "adapter")
        model = _merged(store, config, model, output_dir / "adapter")
    model.save_pretrained(output_dir / "model")
    tokenizer.save_pretrained(output_dir / "model")
    metrics = {"method": "dpo", "wall_seconds": round(wall, 1), "steps": trainer.state.global_step,
               "train_pairs": len(train_items), "test_pairs": len(test_items),
               "final_eval_loss": after.get("eval_loss"),
               "preference_accuracy": after.get("eval_rewards/accuracies"),
               "preference_accuracy_before": before.get("eval_rewards/accuracies"),
               "reward_margin": after.get("eval_rewards/margins"), **placement.describe()}
    with store.transaction() as con:
        con.execute("UPDATE runs SET output_dir = ?, metrics = ? WHERE id = ?",
                    [str(output_dir / "model"), json.dumps(metrics), run_id])
        register_model(con, f"run:{run_id}", output_dir / "model", config.model, job.id)
        if config.lora:
            register_model(con, f"run:{run_id}:adapter", output_dir / "adapter", config.model, job.id)
    return metrics
