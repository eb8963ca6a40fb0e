"""Fine-tune on a dataset version with transformers' Trainer, full or LoRA (peft).

The store is read first (the frozen examples), let go while training runs, and written in short
transactions: the run row and its job (running → succeeded / failed / interrupted, with a heartbeat,
as for all long work), the loss and learning rate at each logging step, held-out loss, and afterwards
each example's loss; the model is registered as run:N. A killed run's job is marked interrupted the
next time the store is opened; `resume` continues it from its last checkpoint.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from curate.dataset import get_version, version_items
from curate.errors import TuneloopError
from curate.lm.losses import IGNORE_INDEX, answer_loss, mean_losses_per_row
from curate.lm.resolve import register_model
from curate.store import Store
from training.config import TrainConfig

CHECKPOINT_PREFIX = "checkpoint-"


def examples(tokenizer, items: list[dict], max_length: int) -> list[dict]:
    """Token ids with labels masked over the prompt: the loss is on the answer tokens only (on every
    answer of a whole-conversation item)."""
    from curate.dataset import conversation_example, item_messages, tokenize_example

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


def _output_root(store: Store, config: TrainConfig) -> Path:
    return Path(config.output_root) if config.output_root else Path(store.path).resolve().parent / "tuneloop_runs"


def _inputs(store: Store, config: TrainConfig) -> tuple[dict, list, list]:
    """The dataset version (a preference version for DPO) and its frozen train and test items, read
    before anything runs."""
    from curate.preferences import preference_items, require_preference_version

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
                                                placement=_placement(config) if config.qlora else None)
    tokenizer.padding_side = "right"
    return model, tokenizer, resolved


def _placement(config: TrainConfig):
    from curate.lm.device import Placement

    return Placement(config.device, config.precision)


def train(store: Store, config: TrainConfig, show_progress: bool = False, on_log=None) -> int:
    """Train a new run on config.dataset (its job: running → succeeded / failed / interrupted);
    returns the run's id. With num_processes > 1 the run is trained by `accelerate launch`
    processes (training.distributed) and this one waits for them."""
    from training.distributed import run_processes

    config = config.resolved()
    version, train_items, test_items = _inputs(store, config)
    with store.job("train", {"dataset": config.dataset}) as job:
        run_id, output_dir = _new_run(store, config, version, job)
        if config.num_processes > 1:
            job.result = run_processes(store, run_id, config, resume=False, show_progress=show_progress)
        else:
            model, tokenizer, _ = _load(store, config)
            job.result = _fitter(config)(store, job, run_id, output_dir, model, tokenizer, config, version, train_items,
                                         test_items, resume=False, show_progress=show_progress, on_log=on_log)
    return run_id


def _fitter(config: TrainConfig):
    """The step that trains: supervised (_fit) or on preferences (training.dpo.fit_dpo)."""
    if config.method == "dpo":
        from training.dpo import fit_dpo

        return fit_dpo
    return _fit


def _new_run(store: Store, config: TrainConfig, version: dict, job) -> tuple[int, Path]:
    """The run's row, with its resolved config, its output folder and its job. A DPO run names its
    preference version in its config (dataset_version_id is for SFT dataset versions)."""
    from curate.lm.resolve import resolve_causal_lm

    described = resolve_causal_lm(config.model, store).describe()
    kind, version_id = ("dpo", None) if config.method == "dpo" else ("train", version["id"])
    run_id = store.scalar(
        "INSERT INTO runs (kind, dataset_version_id, base_model, config, job_id) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id", [kind, version_id, described, json.dumps(asdict(config)), job.id])
    output_dir = _output_root(store, config) / f"run-{run_id}"
    store.execute("UPDATE runs SET output_dir = ? WHERE id = ?", [str(output_dir), run_id])
    store.execute("UPDATE jobs SET args = ? WHERE id = ?", [json.dumps({"run": run_id, "dataset": config.dataset}),
                                                            job.id])
    return run_id, output_dir


def resume(store: Store, run_id: int, show_progress: bool = False, on_log=None) -> int:
    """Continue an interrupted or failed run from its newest complete checkpoint, with its stored config."""
    from training.distributed import run_processes
    from training.runs import get_run

    row = get_run(store, run_id)
    if row["state"] == "succeeded":
        raise TuneloopError(f"run {run_id} already finished")
    if row["state"] == "running":
        raise TuneloopError(f"run {run_id} is still running (pid {row['pid']})")
    config = TrainConfig(**row["config"]).resolved()
    version, train_items, test_items = _inputs(store, config)
    with store.job("train", resume=row["job_id"]) as job:
        if config.num_processes > 1:
            job.result = run_processes(store, run_id, config, resume=True, show_progress=show_progress)
        else:
            model, tokenizer, _ = _load(store, config)
            job.result = _fitter(config)(store, job, run_id, Path(row["output_dir"]), model, tokenizer, config, version,
                                         train_items, test_items, resume=True, show_progress=show_progress, on_log=on_log)
    return run_id


def fit_run(store: Store, run_id: int, resume: bool, show_progress: bool = False) -> dict:
    """One process's part of a run whose row exists (a process of a distributed run): the run's
    config and data from the store, then _fit. Only the main process writes the store."""
    from curate.store import Job
    from training.runs import get_run

    row = get_run(store, run_id)
    config = TrainConfig(**row["config"])
    version, train_items, test_items = _inputs(store, config)
    model, tokenizer, _ = _load(store, config)
    return _fit(store, Job(row["job_id"], store), run_id, Path(row["output_dir"]), model, tokenizer, config, version,
                train_items, test_items, resume=resume, show_progress=show_progress, on_log=None)


def _fit(store, job, run_id, output_dir, model, tokenizer, config, version, train_items, test_items, *, resume,
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
    placement = _placement(config)
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


# run_metrics column ← the Trainer's log key (SFT and DPO runs log different things)
LOGGED = {"loss": "loss", "learning_rate": "learning_rate", "eval_loss": "eval_loss",
          "reward_margin": "rewards/margins", "eval_reward_margin": "eval_rewards/margins",
          "eval_accuracy": "eval_rewards/accuracies"}


def store_metrics(store: Store, job, run_id: int, on_log=None, tokens=lambda: None):
    """A Trainer callback: each logged step's figures into run_metrics, and a heartbeat on the run's
    job (at least every 15 s). `tokens` says how many tokens were trained so far."""
    from transformers import TrainerCallback

    last_beat = [0.0]

    def beat(state) -> None:
        job.heartbeat(state.global_step / max(state.max_steps, 1), f"step {state.global_step}/{state.max_steps}")
        last_beat[0] = time.perf_counter()

    class StoreMetrics(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero and time.perf_counter() - last_beat[0] > 15:
                beat(state)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if not state.is_world_process_zero or not any(k in logs for k in ("loss", "eval_loss")):
                return
            store.execute(f"INSERT INTO run_metrics (run_id, step, epoch, tokens, {', '.join(LOGGED)})"
                          f" VALUES (?, ?, ?, ?{', ?' * len(LOGGED)})",
                          [run_id, state.global_step, logs.get("epoch"), tokens(), *(logs.get(k) for k in LOGGED.values())])
            beat(state)
            if on_log:
                on_log(state.global_step, state.max_steps, logs)

    return StoreMetrics()


def last_step_left_to_caller():
    """A Trainer callback: no checkpoint and no evaluation at the last step, because the caller saves
    the model and evaluates it right after training. A checkpoint of a finished run (weights and
    optimizer state, ~1.6 GB for 135M parameters) is never resumed — finished runs are refused —
    and the evaluation would run twice; both were ~8% of a short run's training time here."""
    from transformers import TrainerCallback

    class LastStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_save = control.should_evaluate = False

    return LastStep()


def _merged(store: Store, config: TrainConfig, model, adapter_dir: Path):
    """The LoRA adapter merged into the base weights. A QLoRA adapter is merged into the base
    loaded again unquantized (merging into 4-bit weights would round them)."""
    if not config.qlora:
        return model.merge_and_unload()
    from curate.lm.load import load_causal_lm, with_adapter

    base, _, _ = load_causal_lm(config.model, store, placement=_placement(config))
    return with_adapter(base, adapter_dir).merge_and_unload()


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


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint: the Trainer writes trainer_state.json last, so a folder
    without it was cut off mid-save (a kill during saving) and is passed over."""
    found = sorted((p for p in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*") if (p / "trainer_state.json").is_file()),
                   key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))
    return found[-1] if found else None


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
