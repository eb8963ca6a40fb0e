"""Preference training (DPO) on a preference version, with TRL's DPOTrainer.

The run is a run like any other (training.train owns the row, the job, resume and the model's
name run:N); this module is the part that differs: the frozen chosen/rejected items as TRL's
conversational preference rows (the tokenizer's chat template renders them), the trainer, and the
figures a preference run is judged by — the reward margin on the curve, and the held-out
preference accuracy (how often the trained model ranks the held-out chosen answer above the
rejected one, relative to the reference model) at the start and the end.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from curate.datasets.preferences import as_record
from training.callbacks import store_metrics
from training.config import TrainConfig
from training.saving import last_checkpoint, record_model, save_model


def fit_dpo(store, job, run_id, output_dir: Path, model, tokenizer, config: TrainConfig, version, train_items,
            test_items, *, resume: bool, show_progress: bool, on_log) -> dict:
    """Train with DPO, save and register the model as run:N; returns the run's metrics."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(config.threads or max(os.cpu_count() or 1, 1))
    torch.manual_seed(config.seed)
    placement = config.placement()
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
    save_model(store, config, trainer.accelerator.unwrap_model(trainer.model), tokenizer, output_dir)
    metrics = {"method": "dpo", "wall_seconds": round(wall, 1), "steps": trainer.state.global_step,
               "train_pairs": len(train_items), "test_pairs": len(test_items),
               "final_eval_loss": after.get("eval_loss"),
               "preference_accuracy": after.get("eval_rewards/accuracies"),
               "preference_accuracy_before": before.get("eval_rewards/accuracies"),
               "reward_margin": after.get("eval_rewards/margins"), **placement.describe()}
    with store.transaction() as con:
        record_model(con, run_id, output_dir, config, job, metrics)
    return metrics
