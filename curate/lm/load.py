"""Loading models through transformers: the one place that calls from_pretrained for a causal LM.

A GGUF file is dequantized once (about 15 s for SmolLM2-135M) and cached as safetensors, so later
loads take about a second. Heavy imports (torch, transformers) happen inside the functions.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from curate.lm.resolve import ModelNotFound, ResolvedModel, cache_dir, resolve_causal_lm


def _gguf_cache(resolved: ResolvedModel) -> Path:
    gguf = Path(resolved.path) / resolved.gguf_file
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "models" / f"{gguf.stem}-{key}"


def local_model_dir(resolved: ResolvedModel) -> str:
    """A path (or hub id) that from_pretrained loads directly. A GGUF file is dequantized once
    (about 15 s for SmolLM2-135M) and cached as safetensors, so later loads take about a second."""
    if resolved.kind != "gguf":
        return resolved.path
    cached = _gguf_cache(resolved)
    if (cached / "config.json").exists() and (cached / "model.safetensors").exists():
        return str(cached)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    # The dequantized weights are ordinary float tensors; drop the GGUF marker so they save.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = cached.with_name(cached.name + f".partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.mkdir(parents=True, exist_ok=True)
    try:
        partial.rename(cached)  # atomic: a concurrent loader sees all of it or none
    except OSError:
        import shutil

        shutil.rmtree(partial, ignore_errors=True)  # another process finished first
    return str(cached)


def load_causal_lm(spec: str | None = None, store=None, *, placement=None, quantize_4bit: bool = False):
    """(model, tokenizer, resolved) in eval mode, with a pad token and left padding.

    `placement` (curate.lm.device.Placement) puts the weights on its device in its precision; None
    leaves fp32 weights on the CPU (training moves them itself). `quantize_4bit` loads the weights
    in 4-bit NF4 through bitsandbytes (QLoRA; CUDA only). A LoRA adapter (run:N:adapter) is loaded
    onto its base model."""
    resolved = resolve_causal_lm(spec, store)
    if resolved.kind == "adapter":
        return _load_adapter(resolved, store, placement, quantize_4bit)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = local_model_dir(resolved)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, **_weights_options(placement, quantize_4bit))
    except OSError as exc:
        raise ModelNotFound(f"cannot load {resolved.describe()}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation continues on the right
    if placement is not None and not quantize_4bit:
        from curate.lm.device import place

        model = place(model, placement)
    model.eval()
    return model, tokenizer, resolved


def _weights_options(placement, quantize_4bit: bool) -> dict:
    if not quantize_4bit:
        return {}
    from curate.errors import TuneloopError

    if placement is None or placement.kind != "cuda":
        raise TuneloopError("4-bit weights (QLoRA) need a CUDA GPU: bitsandbytes has no 4-bit kernels for"
                            f" {placement.device if placement else 'the CPU'}; use --lora without --qlora")
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise TuneloopError("4-bit weights (QLoRA) need bitsandbytes: pip install 'tuneloop[gpu]'") from None
    compute = placement.dtype
    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_compute_dtype=compute, bnb_4bit_use_double_quant=True),
            "device_map": {"": placement.device}, "dtype": compute}


def _load_adapter(resolved: ResolvedModel, store, placement, quantize_4bit: bool):
    """A trained LoRA adapter on its base model (not merged: the adapter can be swapped or dropped)."""
    model, tokenizer, _ = load_causal_lm(resolved.base, store, placement=placement, quantize_4bit=quantize_4bit)
    model = with_adapter(model, resolved.path)
    model.eval()
    return model, tokenizer, resolved


def with_adapter(model, adapter_dir: str | Path):
    """A saved LoRA adapter put onto a loaded base model (peft)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_dir))


def load_tokenizer(spec: str | None = None, store=None):
    """(tokenizer, resolved) without loading the model's weights when it can be helped: a GGUF
    file's tokenizer is read from the file (or from the safetensors cache when it exists)."""
    resolved = resolve_causal_lm(spec, store)
    from transformers import AutoTokenizer

    if resolved.kind == "gguf" and not (_gguf_cache(resolved) / "tokenizer.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    else:
        tokenizer = AutoTokenizer.from_pretrained(local_model_dir(resolved))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, resolved
