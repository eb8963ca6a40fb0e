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


def load_causal_lm(spec: str | None = None, store=None):
    """(model, tokenizer, resolved) on the CPU, in eval mode, with a pad token and left padding."""
    resolved = resolve_causal_lm(spec, store)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = local_model_dir(resolved)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source)
    except OSError as exc:
        raise ModelNotFound(f"cannot load {resolved.describe()}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation continues on the right
    model.eval()
    return model, tokenizer, resolved


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
