"""The training config: a dataclass whose fields carry their help text (and choices), the one
place a training option is defined. The CLI's `tuneloop train` options and the Train page's form
are made from these fields (curate.options); the resolved config is stored with the run."""
from __future__ import annotations

from dataclasses import dataclass, replace

from curate.lm.device import DEVICE_HELP, PRECISION_HELP, PRECISIONS
from curate.options import field_help, option

FULL_LR = 5e-5   # a full fine-tune of a small model: higher and it forgets what it knew
LORA_LR = 2e-4   # LoRA adapters start at zero and want a larger step


METHODS = ("sft", "dpo")


@dataclass
class TrainConfig:
    dataset: str = option("", "Dataset version to train on (tuneloop dataset build --name …); with --method dpo,"
                              " a preference version (tuneloop preferences export --name …).", label="Dataset version")
    model: str | None = option(None, "Base model spec: hub id, folder, .gguf or run:N (default SmolLM2-135M-Instruct).",
                               also=("--base",), label="Base model")
    method: str = option("sft", "sft: supervised on approved pairs; dpo: preference pairs (chosen over rejected),"
                                " with TRL's DPOTrainer.", choices=METHODS, label="Method")
    beta: float = option(0.1, "DPO: how far the model may move from the reference (higher: less).", label="DPO beta")
    max_length: int = option(512, "DPO: longest prompt + answer in tokens (SFT uses its dataset version's).",
                             label="Max length (DPO)")
    lora: bool = option(False, "Train LoRA adapters instead of every weight (merged into the saved model).",
                        label="LoRA adapters")
    lora_r: int = option(16, "LoRA rank: 16 is plenty for a few thousand pairs.", label="LoRA rank")
    lora_alpha: int = option(32, "LoRA scaling; 2 × rank is the usual choice.", label="LoRA alpha")
    lora_dropout: float = option(0.05, "Dropout on the LoRA path.", label="LoRA dropout")
    qlora: bool = option(False, "LoRA over 4-bit base weights (bitsandbytes; CUDA only): a 7B model fits one 24 GB GPU.",
                         label="QLoRA (4-bit base)")
    epochs: float = option(3.0, "Passes over the train split (ignored when max_steps > 0).", label="Epochs")
    max_steps: int = option(-1, "Stop after this many optimizer steps (-1: use epochs).", label="Max steps")
    lr: float | None = option(None, f"Peak learning rate (default {FULL_LR:g} full, {LORA_LR:g} LoRA).", label="Learning rate")
    batch_size: int = option(8, "Examples per step. On 2 CPU cores 8 short examples take about a second.", label="Batch size")
    grad_accum: int = option(1, "Steps whose gradients add up before one optimizer step.", label="Gradient accumulation")
    warmup_ratio: float = option(0.05, "Share of steps warming the learning rate up from 0.", label="Warm-up share")
    weight_decay: float = option(0.0, "AdamW weight decay.", label="Weight decay")
    seed: int = option(0, "Seed for initialization of LoRA weights and data order.", label="Seed")
    logging_steps: int = option(10, "Log loss and learning rate every this many steps (stored with the run).",
                                label="Log every (steps)")
    eval_steps: int = option(50, "Evaluate held-out loss every this many steps.", label="Evaluate every (steps)")
    save_steps: int = option(50, "Checkpoint every this many steps (what --resume continues from).",
                             label="Checkpoint every (steps)")
    group_by_length: bool = option(True, "Batch examples of similar length: less padding, more tokens/s.",
                                   label="Batch by length")
    threads: int = option(0, "CPU threads for torch (0: every core).", label="CPU threads")
    device: str = option("auto", DEVICE_HELP, label="Device")
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS, label="Precision")
    gradient_checkpointing: bool = option(False, "Recompute activations in the backward pass: about 30% slower,"
                                                 " far less memory (for models that do not fit otherwise).",
                                          label="Gradient checkpointing")
    num_processes: int = option(1, "Processes to train in (data parallel through `accelerate launch`: one per GPU;"
                                   " on a CPU, gloo processes).", label="Processes")
    fsdp: bool = option(False, "Shard the model's weights across the processes (FSDP) instead of copying them (DDP).",
                        label="Shard weights (FSDP)")
    output_root: str = option("", "Where runs keep checkpoints and the final model (default: next to the store).",
                              flag="--out", label="Output folder")

    def resolved(self) -> TrainConfig:
        """The config as it runs: defaults that depend on other fields filled in, and the device and
        precision that `auto` means on this machine (refused here if the hardware cannot do them)."""
        from curate.errors import TuneloopError
        from curate.lm.device import resolve

        if self.num_processes < 1:
            raise TuneloopError(f"--num-processes {self.num_processes}: give 1 or more")
        if self.method == "dpo" and self.num_processes > 1:
            raise TuneloopError("--method dpo trains in one process here; leave out --num-processes")
        if self.fsdp and self.num_processes < 2:
            raise TuneloopError("--fsdp shards the model across processes: give --num-processes 2 or more")
        placement = resolve(self.device, self.precision, training=True)
        lora = self.lora or self.qlora
        return replace(self, lora=lora, lr=self.lr if self.lr is not None else (LORA_LR if lora else FULL_LR),
                       device=placement.device, precision=placement.precision)

    def placement(self):
        """Where the resolved config trains and in what precision (curate.lm.device.Placement)."""
        from curate.lm.device import Placement

        return Placement(self.device, self.precision)


def help_text() -> dict[str, str]:
    return field_help(TrainConfig)
