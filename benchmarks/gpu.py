"""The GPU benchmark, for any CUDA machine without network: training throughput of tuneloop
against TRL's SFTTrainer defaults, on SmolLM2-135M-Instruct (the offline package) and on a random
model of Qwen2.5-0.5B's shape (494M parameters), then domain-evaluation generation with
transformers against vLLM (when installed: pip install 'tuneloop[gpu]'), all in one run.

    .venv/bin/python benchmarks/gpu.py                 # 160 examples, about 5 minutes on one GPU
    .venv/bin/python benchmarks/gpu.py --examples 800

On a machine without CUDA it says so and exits with status 2; the CPU figures come from
benchmarks/train.py.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QWEN_05B_SHAPE = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                      num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=4096,
                      tie_word_embeddings=True)


def half_billion_model(folder: Path) -> str:
    """A random model of Qwen2.5-0.5B's shape with the SmolLM2 tokenizer (no download)."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from curate.lm.resolve import packaged_smollm2

    gguf = packaged_smollm2()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    torch.manual_seed(0)
    Qwen2ForCausalLM(Qwen2Config(**QWEN_05B_SHAPE, bos_token_id=tokenizer.bos_token_id,
                                 eos_token_id=tokenizer.eos_token_id)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def one(which: str, workdir: Path, model: str | None, max_length: int) -> dict:
    """One measurement in this process (each runs in its own, so GPU memory starts empty)."""
    import train as cpu_bench  # benchmarks/train.py: the same data, trainers and held-out loss

    if which == "tuneloop":
        return cpu_bench.run_ours(workdir, max_length, device="cuda", model=model)
    if which == "trl":
        return cpu_bench.run_trl(workdir, max_length, device="cuda", model=model)
    if which in ("generate-transformers", "generate-vllm"):
        return generate(workdir, model, which.split("-")[1])
    raise SystemExit(f"unknown measurement {which}")


def generate(workdir: Path, model: str | None, engine: str, max_new_tokens: int = 128) -> dict:
    """Greedy answers to the test split's prompts: answer tokens per second."""
    with open(workdir / "ds" / "v1" / "test.jsonl", encoding="utf-8") as fh:
        prompts = [json.loads(line)["prompt"] for line in fh]
    if engine == "vllm":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            return {"skipped": "vLLM is not installed (pip install 'tuneloop[gpu]')"}
        from curate.lm.device import resolve
        from curate.lm.load import local_model_dir
        from curate.lm.resolve import resolve_causal_lm
        from curate.lm.vllm_engine import generate_texts_vllm, load_llm

        llm = load_llm(local_model_dir(resolve_causal_lm(model)), resolve("cuda", "bf16"))
        started = time.perf_counter()
        outs = generate_texts_vllm(llm, prompts, max_new_tokens=max_new_tokens)
        seconds = time.perf_counter() - started
        return {"tokens": sum(o["tokens"] for o in outs), "seconds": round(seconds, 2)}
    from curate.lm.decoding import generate_texts
    from curate.lm.device import resolve
    from curate.lm.load import load_causal_lm

    lm, tokenizer, _ = load_causal_lm(model, placement=resolve("cuda", "bf16"))
    started = time.perf_counter()
    outs = generate_texts(lm, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=32)
    seconds = time.perf_counter() - started
    return {"tokens": sum(o["tokens"] for o in outs), "seconds": round(seconds, 2)}


def in_subprocess(which: str, workdir: Path, model: str | None, max_length: int) -> dict:
    command = [sys.executable, __file__, "--one", which, "--workdir", str(workdir), "--max-length", str(max_length)]
    out = subprocess.run(command + (["--model", model] if model else []), capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "benchmarks")})
    if out.returncode:
        return {"failed": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def rate(r: dict) -> str:
    if "tokens" not in r:
        return r.get("skipped") or r.get("failed", "?")
    return f"{r['tokens'] / r['seconds']:,.0f} tokens/s ({r['tokens']:,} tokens in {r['seconds']} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=160)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, Path(args.workdir), args.model, args.max_length)))
        return
    import torch

    if not torch.cuda.is_available():
        print("benchmarks/gpu.py needs a CUDA GPU and torch built with CUDA; none here "
              f"(torch {torch.__version__}, CUDA {torch.version.cuda}). On a CPU run benchmarks/train.py.")
        raise SystemExit(2)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import train as cpu_bench

    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = cpu_bench.prepare(Path(tmp), args.max_length, args.examples)
        models = {"SmolLM2-135M-Instruct": None, "Qwen2.5-0.5B shape (random)": half_billion_model(Path(tmp) / "q05")}
        for label, model in models.items():
            print(f"\n{label}: one epoch over about {args.examples} examples, batch 8")
            ours, peer = (in_subprocess(w, workdir, model, args.max_length) for w in ("tuneloop", "trl"))
            print(f"  training  tuneloop {rate(ours)}; TRL SFTTrainer defaults {rate(peer)}")
            if "tokens" in ours and "tokens" in peer:
                ratio = (ours["tokens"] / ours["seconds"]) / (peer["tokens"] / peer["seconds"])
                print(f"  training ratio tuneloop/TRL: {ratio:.2f}x; held-out loss {ours['heldout_loss']:.4f}"
                      f" vs {peer['heldout_loss']:.4f}")
            hf, vllm = (in_subprocess(w, workdir, model, args.max_length)
                        for w in ("generate-transformers", "generate-vllm"))
            print(f"  generation  transformers {rate(hf)}; vLLM {rate(vllm)}")


if __name__ == "__main__":
    main()
