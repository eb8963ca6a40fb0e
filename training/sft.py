"""Supervised fine-tuning (SFT): the examples with the loss on answer tokens only, transformers'
Trainer with the answer-only loss (curate.lm.losses), and every example's loss after training."""
from __future__ import annotations

import os
import time

from curate.lm.losses import IGNORE_INDEX, answer_loss, mean_losses_per_row
from training.callbacks import last_step_left_to_caller, store_metrics
from training.saving import last_checkpoint, record_model, save_model


def examples(tokenizer, items: list[dict], max_length: int) -> list[dict]:
    """Token ids with labels masked over the prompt: the loss is on the answer tokens only (on every
    answer of a whole-conversation item)."""
    from curate.datasets.examples import conversation_example, item_messages, tokenize_example

    out = []
    for item in items:
        if item.get("loss_turns"):
            c = conversation_example(tokenizer, item_messages(item), item["loss_turns"], max_length)
            out.append({"input_ids": c["input_ids"], "attention_mask": [1] * len(c["input_ids"]), "labels": c["labels"],
                        "pair_id": item["pair_id"]})
            continue
        t = tokenize_example(tokenizer, item["prompt"], item["completion"], max_length)
        ids = t["prompt_ids"] + t["answer_ids"]
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids),
                    "labels": [IGNORE_INDEX] * len(t["prompt_ids"]) + t["answer_ids"], "pair_id": item["pair_id"]})
    return out


class Collator:
    """Pads a batch to its longest example (right side; labels with -100)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        out = {"input_ids": [], "attention_mask": [], "labels": []}
        for b in batch:
            pad = width - len(b["input_ids"])
            out["input_ids"].append(b["input_ids"] + [self.pad_id] * pad)
            out["attention_mask"].append(b["attention_mask"] + [0] * pad)
            out["labels"].append(b["labels"] + [IGNORE_INDEX] * pad)
        return {k: torch.tensor(v) for k, v in out.items()}


def fit_sft(store, job, run_id, output_dir, model, tokenizer, config, version, train_items, test_items, *, resume,
         show_progress, on_log) -> dict:
    """Train, save the model, store every example's loss and register the model as run:N.
    Returns the run's metrics."""
    import torch
    from transformers import Trainer, TrainingArguments

    from curate.lm.device import keep_freed_memory, training_attention

    torch.set_num_threads(config.threads or max((os.cpu_count() or 1) // config.num_processes, 1))
    torch.manual_seed(config.seed)
    max_length = version["max_length"]
    train_set = examples(tokenizer, train_items, max_length)
    test_set = examples(tokenizer, test_items, max_length)
    placement = config.placement()
    if placement.kind == "cpu":
        keep_freed_memory()
    chosen = training_attention(placement, max_length)
    if chosen:
        model.set_attn_implementation(chosen)
    attention = model.config._attn_implementation   # recorded with the run's metrics
    if config.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, task_type="CAUSAL_LM",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    counted = {"tokens": 0, "started": time.perf_counter(), "last_beat": 0.0}

    class CountingTrainer(Trainer):
        """Counts the non-padding tokens of training batches (not of evaluation batches); the loss is
        curate.lm.losses.answer_loss (the output layer at answer positions only)."""

        def training_step(self, model, inputs, *args, **kwargs):
            counted["tokens"] += int(inputs["attention_mask"].sum())
            return super().training_step(model, inputs, *args, **kwargs)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = answer_loss(model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"], num_items_in_batch,
                               self.accelerator.unwrap_model(model), self.accelerator.autocast)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            return (loss, {}) if return_outputs else loss   # no logits: evaluation wants the loss only

    args = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs, max_steps=config.max_steps, learning_rate=config.lr,
        warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay, lr_scheduler_type="cosine",
        logging_steps=config.logging_steps, eval_strategy="steps" if test_set else "no",
        eval_steps=config.eval_steps, save_strategy="steps", save_steps=config.save_steps, save_total_limit=2,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random", report_to=[],
        use_cpu=placement.kind == "cpu", bf16=placement.precision == "bf16", fp16=placement.precision == "fp16",
        **_checkpointing(config.gradient_checkpointing),
        seed=config.seed, ddp_backend="gloo" if placement.kind == "cpu" and config.num_processes > 1 else None,
        dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=not show_progress,
        logging_first_step=True, prediction_loss_only=True)
    trainer = CountingTrainer(model=model, args=args, train_dataset=_Rows(train_set),
                              eval_dataset=_Rows(test_set) or None, data_collator=Collator(tokenizer.pad_token_id),
                              callbacks=[store_metrics(store, job, run_id, on_log,
                                                       lambda: counted["tokens"] * config.num_processes),
                                         last_step_left_to_caller()])
    checkpoint = last_checkpoint(output_dir) if resume else None
    if test_set and checkpoint is None:
        trainer.evaluate()  # held-out loss before any training: step 0 of the curve
    counted["started"] = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    wall = time.perf_counter() - counted["started"]
    final_eval = trainer.evaluate()["eval_loss"] if test_set else None
    tokens = int(trainer.accelerator.reduce(torch.tensor(counted["tokens"], device=trainer.args.device), "sum"))
    if not trainer.accelerator.is_main_process:
        return {}   # other processes of a distributed run: the main one saves and writes the store
    model = save_model(store, config, trainer.accelerator.unwrap_model(trainer.model), tokenizer, output_dir)
    losses = example_losses(model, train_set + test_set, tokenizer.pad_token_id, config.batch_size, placement)
    splits = ["train"] * len(train_set) + ["test"] * len(test_set)
    import pyarrow as pa

    metrics = {"wall_seconds": round(wall, 1), "trained_tokens": tokens, "tokens_per_s": round(tokens / wall, 1),
               "final_eval_loss": final_eval, "steps": trainer.state.global_step, **placement.describe(),
               "attention": attention,
               "processes": config.num_processes}
    with store.transaction() as con:
        con.register("_losses", pa.table({"pair_id": pa.array([e["pair_id"] for e in train_set + test_set], pa.int64()),
                                          "split": splits, "loss": losses}))
        con.execute("DELETE FROM example_losses WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO example_losses SELECT ?, pair_id, split, loss FROM _losses", [run_id])
        con.unregister("_losses")
        record_model(con, run_id, output_dir, config, job, metrics)
    return metrics


def _checkpointing(on: bool) -> dict:
    """Activation (gradient) checkpointing in the TrainingArguments of this transformers version."""
    if not on:
        return {}
    import dataclasses

    from transformers import TrainingArguments

    name = "activation_checkpointing" if any(f.name == "activation_checkpointing"
                                             for f in dataclasses.fields(TrainingArguments)) else "gradient_checkpointing"
    return {name: True, f"{name}_kwargs": {"use_reentrant": False}}


class _Rows:
    """A list of examples as a torch-style dataset (lengths known, for length grouping)."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __bool__(self):
        return bool(self.rows)

    def __getitem__(self, i):
        row = self.rows[i]
        return {k: row[k] for k in ("input_ids", "attention_mask", "labels")}


def example_losses(model, rows: list[dict], pad_id: int, batch_size: int = 8, placement=None) -> list[float]:
    """Mean answer-token loss of each example (high: the model found the pair hard or odd), on the
    model's device, in the placement's precision (autocast; fp32 when none is given)."""
    import torch

    model.eval()
    collate = Collator(pad_id)
    out: list[float] = []
    device = model.device
    lower = placement is not None and placement.precision != "fp32"
    with torch.autocast(device.type, dtype=placement.dtype if lower else None, enabled=lower):
        for start in range(0, len(rows), batch_size):
            batch = {k: v.to(device) for k, v in collate([{k: r[k] for k in ("input_ids", "attention_mask", "labels")}
                                                          for r in rows[start:start + batch_size]]).items()}
            out += mean_losses_per_row(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    return out
