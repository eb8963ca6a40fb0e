"""Where a model runs and in what precision: the one place that turns `--device` / `--precision`
into a torch device and dtype, for training, example losses, generation, domain evaluation,
benchmarks and embeddings alike.

`auto` device: CUDA when torch sees a GPU, else Apple's MPS, else the CPU.
`auto` precision, and why:
- on a GPU, bf16 where it has bf16 units (Ampere and later), else fp16;
- on a CPU with AVX512-BF16 or AMX (read from the CPU's flags), bf16 autocast for *training*: the
  weights and optimizer stay fp32 and the matrix products run in bf16 (measured about 3x a
  float32 step here); *inference* stays fp32 on a CPU, because bf16 changes greedy answers and
  benchmark scores, and a comparison of two runs must not move because the hardware did;
- anywhere else, fp32.
An explicit choice the hardware cannot honour is refused with the reason, never quietly changed.

Nothing here imports torch at module level.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from curate.errors import TuneloopError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICE_HELP = "Where the model runs: auto (CUDA when present, else the CPU), cpu, cuda, cuda:N or mps."
PRECISION_HELP = ("Number format: auto (bf16 on GPUs that have it, fp16 on older GPUs; on a CPU with AVX512-BF16/AMX"
                  " bf16 for training and fp32 for inference), fp32, bf16 or fp16 (GPUs only).")
DEVICE_ENV, PRECISION_ENV = "TUNELOOP_DEVICE", "TUNELOOP_PRECISION"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Placement:
    """A resolved device and precision; `describe()` is what runs and evaluations record."""
    device: str      # cpu | cuda | cuda:N | mps
    precision: str   # fp32 | bf16 | fp16

    @property
    def dtype(self):
        import torch

        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    @property
    def kind(self) -> str:
        return self.device.split(":")[0]

    def describe(self) -> dict:
        return {"device": self.device, "precision": self.precision}


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere torch emulates it, slowly."""
    return bool(cpu_flags() & set(BF16_CPU_FLAGS))


def resolve_device(device: str | None = None) -> str:
    """`auto` (or None: $TUNELOOP_DEVICE, else auto) → cpu, cuda, cuda:N or mps; a device that
    is not here is refused naming what is."""
    import torch

    choice = (device or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if choice == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if choice == "cpu":
        return "cpu"
    if choice == "mps":
        if not mps:
            raise TuneloopError("--device mps: this machine has no Apple MPS device (use cpu or auto)")
        return "mps"
    found = re.fullmatch(r"cuda(?::(\d+))?", choice)
    if not found:
        raise TuneloopError(f"--device {device!r}: choose one of {', '.join(DEVICES)}")
    if not cuda:
        why = "this torch was built without CUDA" if torch.version.cuda is None else "no GPU is visible"
        raise TuneloopError(f"--device {choice}: no CUDA device here ({why}); use --device cpu or auto")
    if found.group(1) is not None and int(found.group(1)) >= torch.cuda.device_count():
        raise TuneloopError(f"--device {choice}: there are {torch.cuda.device_count()} CUDA device(s), numbered from 0")
    return choice


def resolve(device: str | None = None, precision: str | None = None, *, training: bool = False) -> Placement:
    """The device and precision a model will use (see the module's notes for what auto picks)."""
    import torch

    where = resolve_device(device)
    choice = (precision or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if choice not in PRECISIONS:
        raise TuneloopError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    kind = where.split(":")[0]
    gpu_bf16 = kind == "cuda" and torch.cuda.is_bf16_supported()
    if choice == "auto":
        if kind == "cuda":
            choice = "bf16" if gpu_bf16 else "fp16"
        elif kind == "cpu" and training and cpu_has_bf16():
            choice = "bf16"
        else:
            choice = "fp32"
    if choice == "fp16" and kind == "cpu":
        raise TuneloopError("--precision fp16 needs a GPU; on a CPU use bf16 (where the CPU supports it) or fp32")
    if choice == "bf16" and kind == "cpu" and not cpu_has_bf16():
        raise TuneloopError("--precision bf16: this CPU has neither AVX512-BF16 nor AMX, so bf16 would be emulated"
                            " and slower than fp32; use --precision fp32")
    if choice == "bf16" and kind == "cuda" and not gpu_bf16:
        raise TuneloopError(f"--precision bf16: {torch.cuda.get_device_name(where)} has no bf16 support; use fp16")
    return Placement(where, choice)


# The longest sequences at which plain ("eager") attention trains faster than PyTorch's SDPA kernels on
# a CPU. Measured here (SmolLM2-135M, batch 8, full fine-tune step): in bf16 eager is 1.16x SDPA at
# 64 tokens, 1.20x at 160 and 1.19x at 256 (fp32: level, level, 1.10x); at 512 SDPA is 1.27x eager.
EAGER_ATTENTION_MAX_TOKENS = 256


def training_attention(placement: Placement, max_length: int) -> str | None:
    """The attention implementation to train with: "eager" on a CPU for short examples (see
    EAGER_ATTENTION_MAX_TOKENS), else None (the model's own choice, SDPA for most)."""
    return "eager" if placement.kind == "cpu" and max_length <= EAGER_ATTENTION_MAX_TOKENS else None


def keep_freed_memory() -> bool:
    """Let this process keep the memory it frees (glibc on Linux) instead of handing every large
    block back to the kernel and faulting it in again: a training step on a CPU allocates and frees
    the same large tensors (the embedding's gradient, the answer logits, activations) every time.
    Measured on SmolLM2-135M training steps here: 2.8x fewer page faults, 1.09x the tokens/s. The
    cost: the process holds on to its peak memory until it ends. Returns whether it was applied
    (False where the C library is not glibc)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3   # glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


def place(model, placement: Placement):
    """The model moved to the placement's device, its weights cast to the precision (inference)."""
    return model.to(device=placement.device, dtype=placement.dtype)
