"""The one registry of backends that run a language model, used by pair generation, off-topic
questions, judges, domain evaluation and benchmarks:

- `local`: a causal LM loaded through transformers on this machine (curate.lm.load), decoded in
  length-sorted batches (curate.lm.decoding); with `--engine ray` its prompts go to Ray workers
  that load the model themselves;
- `vllm`: the same prompts decoded by vLLM on a CUDA GPU (extra `gpu`);
- `openai`: any server that speaks the OpenAI API (vLLM, llama.cpp, Ollama, a hosted API);
- `auto`: vllm where CUDA and vllm are present, else local.

Every backend answers chat conversations (`chat`); the ones that hold the model's tokenizer also
continue already-templated prompts (`complete`: the text, its token count and latency), which is
what domain evaluation needs. `choose_backend` turns `auto` into one of them.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from curate.errors import TuneloopError
from curate.lm.decoding import BATCH_SIZE

BASE_URL_ENV, API_KEY_ENV, MODEL_ENV = "TUNELOOP_OPENAI_BASE_URL", "TUNELOOP_OPENAI_API_KEY", "TUNELOOP_OPENAI_MODEL"
BACKENDS = ("auto", "local", "vllm", "openai")
BACKEND_HELP = ("Where the model runs: local (transformers on this machine), vllm (CUDA, pip install"
                " 'tuneloop[gpu]'), openai (an OpenAI-compatible server named by $TUNELOOP_OPENAI_BASE_URL, key in"
                " $TUNELOOP_OPENAI_API_KEY), auto (vllm where CUDA and vllm are present, else local).")


def vllm_available() -> bool:
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def choose_backend(backend: str | None, device: str) -> str:
    """`auto` → vllm on CUDA with vllm installed, else local; a vllm it cannot use is refused."""
    backend = (backend or "auto").lower()
    if backend not in BACKENDS:
        raise TuneloopError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "vllm" if device.startswith("cuda") and vllm_available() else "local"
    if backend == "vllm":
        if not device.startswith("cuda"):
            raise TuneloopError("the vllm backend runs on CUDA GPUs only; use --backend local on this device")
        if importlib.util.find_spec("vllm") is None:
            raise TuneloopError("the vllm backend needs vLLM: pip install 'tuneloop[gpu]'")
    return backend


class Backend(Protocol):
    description: dict[str, Any]

    def chat(self, conversations: list[list[dict]], *, max_new_tokens: int, temperature: float,
             seed: int, stop: tuple[str, int] | None = None) -> list[str]: ...


@dataclass
class LocalBackend:
    """A causal LM loaded through transformers, run in batches."""
    model: Any
    tokenizer: Any
    batch_size: int = BATCH_SIZE
    description: dict[str, Any] = field(default_factory=dict)
    resolved: Any = None   # the curate.lm.resolve.Resolved spec it was loaded from

    @classmethod
    def load(cls, spec: str | None = None, store=None, batch_size: int = BATCH_SIZE, device: str | None = None,
             precision: str | None = None) -> LocalBackend:
        from curate.lm.device import resolve
        from curate.lm.load import load_causal_lm

        placement = resolve(device, precision)
        model, tokenizer, resolved = load_causal_lm(spec, store, placement=placement)
        return cls(model, tokenizer, batch_size, {"backend": "local", "model": resolved.describe(),
                                                  **placement.describe()}, resolved)

    @property
    def call_size(self) -> int:
        """Prompts to send in one call: one batch (0 where the engine batches a whole wave itself)."""
        return self.batch_size

    def prompt_text(self, conversation: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        from curate.lm.templates import render_prompt
        return render_prompt("qa", {"instruction": "\n\n".join(m["content"] for m in conversation)})

    def complete(self, prompts: list[str], *, max_new_tokens: int, progress=None, **decoding) -> list[dict]:
        """Continuations of templated prompts: the text, its token count and latency each."""
        from curate.lm.decoding import generate_texts

        return generate_texts(self.model, self.tokenizer, prompts, max_new_tokens=max_new_tokens,
                              batch_size=self.batch_size, **decoding)

    def chat(self, conversations: list[list[dict]], *, max_new_tokens: int = 160, temperature: float = 0.0,
             seed: int = 0, stop: tuple[str, int] | None = None) -> list[str]:
        """Replies; stop=(text, count) ends a reply once it holds `count` tokens with `text`."""
        # a mild repetition penalty: small models otherwise loop in longer generated answers
        return [g["output"] for g in self.complete([self.prompt_text(c) for c in conversations],
                                                   max_new_tokens=max_new_tokens, temperature=temperature,
                                                   repetition_penalty=1.1, seed=seed,
                                                   **({"stop": stop} if stop else {}))]


@dataclass
class RayBackend(LocalBackend):
    """The local backend's prompts, answered by Ray workers (curate.engine) that load the model
    themselves; `model` is the folder they load, and only the tokenizer stays here."""
    engine: Any = None
    placement: Any = None
    call_size = 0   # the workers batch a whole wave

    @classmethod
    def load(cls, spec: str | None = None, store=None, batch_size: int = BATCH_SIZE, device: str | None = None,
             precision: str | None = None, engine=None) -> RayBackend:
        from curate.lm.device import resolve
        from curate.lm.load import load_tokenizer, local_model_dir

        placement = resolve(device, precision)
        tokenizer, resolved = load_tokenizer(spec, store)
        if resolved.kind == "adapter":
            raise TuneloopError(f"{spec}: Ray workers load merged models; use run:{resolved.run_id}")
        return cls(local_model_dir(resolved), tokenizer, batch_size,
                   {"backend": "local", "model": resolved.describe(), **placement.describe(), **engine.describe()},
                   resolved, engine, placement)

    def complete(self, prompts: list[str], *, max_new_tokens: int, progress=None, **decoding) -> list[dict]:
        import pyarrow as pa

        from curate.lm.decoding import Answerer

        found = self.engine.run(Answerer, pa.table({"prompt": pa.array(prompts, pa.string())}),
                                batch_size=self.batch_size, progress=progress, step_args=(
                                    self.model, self.placement.device, self.placement.precision, max_new_tokens,
                                    self.batch_size, decoding))
        return found.to_pylist()


@dataclass
class VLLMBackend(LocalBackend):
    """The same prompts as the local backend, decoded by vLLM (CUDA; extra `gpu`)."""
    call_size = 0   # vLLM batches a whole wave itself

    @classmethod
    def load(cls, spec: str | None = None, store=None, batch_size: int = BATCH_SIZE, device: str | None = None,
             precision: str | None = None) -> VLLMBackend:
        from curate.lm.device import resolve
        from curate.lm.load import load_tokenizer, local_model_dir
        from curate.lm.vllm_engine import load_llm

        placement = resolve(device, precision)
        choose_backend("vllm", placement.device)
        tokenizer, resolved = load_tokenizer(spec, store)
        if resolved.kind == "adapter":
            raise TuneloopError(f"{spec}: vLLM serves merged models here; use run:{resolved.run_id}")
        llm = load_llm(local_model_dir(resolved), placement)
        return cls(llm, tokenizer, batch_size, {"backend": "vllm", "model": resolved.describe(), **placement.describe()},
                   resolved)

    def complete(self, prompts: list[str], *, max_new_tokens: int, progress=None, **decoding) -> list[dict]:
        from curate.lm.vllm_engine import generate_texts_vllm

        return generate_texts_vllm(self.model, prompts, max_new_tokens=max_new_tokens, **decoding)


@dataclass
class OpenAIBackend:
    """Any server that speaks the OpenAI chat completions API (vLLM, llama.cpp, Ollama, …).
    Base URL, key and model name come from the environment or the arguments."""
    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 120.0
    description: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, model: str | None = None) -> OpenAIBackend:
        base = os.environ.get(BASE_URL_ENV) or os.environ.get("OPENAI_BASE_URL")
        if not base:
            raise TuneloopError(f"the openai backend needs ${BASE_URL_ENV} (e.g. http://localhost:8000/v1)")
        name = model or os.environ.get(MODEL_ENV)
        if not name:
            raise TuneloopError(f"name the endpoint's model with --model or ${MODEL_ENV}")
        key = os.environ.get(API_KEY_ENV) or os.environ.get("OPENAI_API_KEY")
        return cls(base.rstrip("/"), name, key, description={"backend": "openai", "model": name, "base_url": base})

    def chat(self, conversations: list[list[dict]], *, max_new_tokens: int = 160, temperature: float = 0.0,
             seed: int = 0, stop: tuple[str, int] | None = None) -> list[str]:
        # `stop` counts occurrences, which the API's stop strings cannot (and they drop the text
        # they stop at); it only saves time, so it is not sent
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        replies = []
        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            for i, conversation in enumerate(conversations):
                body = {"model": self.model, "messages": conversation, "max_tokens": max_new_tokens,
                        "temperature": temperature, "seed": seed + i}
                try:
                    response = client.post(f"{self.base_url}/chat/completions", json=body)
                    response.raise_for_status()
                    replies.append(response.json()["choices"][0]["message"]["content"] or "")
                except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                    raise TuneloopError(f"{self.base_url}: chat completion failed: {exc}") from None
        return replies


def make_backend(kind: str = "local", model: str | None = None, store=None, batch_size: int = BATCH_SIZE,
                 device: str | None = None, precision: str | None = None, engine=None) -> Backend:
    """The backend `kind` names (auto chosen for the device), loaded: with `engine` on Ray, the
    local backend's prompts go to Ray workers."""
    on_ray = engine is not None and engine.name == "ray"
    if kind in ("auto", "vllm", "local"):
        from curate.lm.device import resolve

        kind = "local" if on_ray and kind == "auto" else choose_backend(kind, resolve(device, precision).device)
    if on_ray and kind != "local":
        raise TuneloopError("--engine ray runs the model with transformers on the Ray workers; use --backend local")
    if kind == "local" and on_ray:
        return RayBackend.load(model, store, batch_size, device, precision, engine)
    if kind == "local":
        return LocalBackend.load(model, store, batch_size, device, precision)
    if kind == "vllm":
        return VLLMBackend.load(model, store, batch_size, device, precision)
    if kind == "openai":
        return OpenAIBackend.from_env(model)
    raise TuneloopError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
