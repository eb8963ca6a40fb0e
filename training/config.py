"""The training config: a dataclass whose fields carry their help text. The resolved config is
stored with the run."""
from __future__ import annotations

from dataclasses import dataclass, field, fields


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    dataset: str = _f("", "Dataset version to train on (tuneloop dataset build --name …).")
    model: str | None = _f(None, "Base model spec: hub id, folder, .gguf or run:N (default SmolLM2-135M-Instruct).")
    lora: bool = _f(False, "Train LoRA adapters instead of every weight (merged into the saved model).")
    lora_r: int = _f(16, "LoRA rank: 16 is plenty for a few thousand pairs.")
    lora_alpha: int = _f(32, "LoRA scaling; 2 × rank is the usual choice.")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA path.")
    epochs: float = _f(3.0, "Passes over the train split (ignored when max_steps > 0).")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: use epochs).")
    lr: float = _f(5e-5, "Peak learning rate (full fine-tune); LoRA usually wants ~2e-4.")
    batch_size: int = _f(8, "Examples per step. On 2 CPU cores 8 short examples take about a second.")
    grad_accum: int = _f(1, "Steps whose gradients add up before one optimizer step.")
    warmup_ratio: float = _f(0.05, "Share of steps warming the learning rate up from 0.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    seed: int = _f(0, "Seed for initialization of LoRA weights and data order.")
    logging_steps: int = _f(10, "Log loss and learning rate every this many steps (stored with the run).")
    eval_steps: int = _f(50, "Evaluate held-out loss every this many steps.")
    save_steps: int = _f(50, "Checkpoint every this many steps (what --resume continues from).")
    group_by_length: bool = _f(True, "Batch examples of similar length: less padding, more tokens/s.")
    threads: int = _f(0, "CPU threads for torch (0: every core).")
    output_root: str = _f("", "Where runs keep checkpoints and the final model (default: next to the store).")


def help_text() -> dict[str, str]:
    return {f.name: f.metadata["help"] for f in fields(TrainConfig)}
