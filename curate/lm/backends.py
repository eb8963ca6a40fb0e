"""Text generation backends: a local transformers model, or any OpenAI-compatible endpoint.

Both take chat conversations ([{role, content}], …) and return one reply each, so generation
code does not care where the model runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from curate.errors import TuneloopError
from curate.lm.generation import BATCH_SIZE

BASE_URL_ENV, API_KEY_ENV, MODEL_ENV = "TUNELOOP_OPENAI_BASE_URL", "TUNELOOP_OPENAI_API_KEY", "TUNELOOP_OPENAI_MODEL"


class Backend(Protocol):
    description: dict[str, Any]

    def chat(self, conversations: list[list[dict]], *, max_new_tokens: int, temperature: float,
             seed: int) -> list[str]: ...


@dataclass
class LocalBackend:
    """A causal LM loaded through transformers, run in batches."""
    model: Any
    tokenizer: Any
    batch_size: int = BATCH_SIZE
    description: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, spec: str | None = None, store=None, batch_size: int = BATCH_SIZE, device: str | None = None,
             precision: str | None = None) -> LocalBackend:
        from curate.lm.device import resolve
        from curate.lm.load import load_causal_lm

        placement = resolve(device, precision)
        model, tokenizer, resolved = load_causal_lm(spec, store, placement=placement)
        return cls(model, tokenizer, batch_size, {"backend": "local", "model": resolved.describe(),
                                                  **placement.describe()})

    def prompt_text(self, conversation: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        from curate.templates import render_prompt
        return render_prompt("qa", {"instruction": "\n\n".join(m["content"] for m in conversation)})

    def chat(self, conversations: list[list[dict]], *, max_new_tokens: int = 160, temperature: float = 0.0,
             seed: int = 0) -> list[str]:
        from curate.lm.generation import generate_texts

        # a mild repetition penalty: small models otherwise loop in longer generated answers
        return [g["output"] for g in generate_texts(
            self.model, self.tokenizer, [self.prompt_text(c) for c in conversations], max_new_tokens=max_new_tokens,
            batch_size=self.batch_size, temperature=temperature, repetition_penalty=1.1, seed=seed)]


@dataclass
class RayBackend(LocalBackend):
    """The local backend's prompts, answered by Ray workers (curate.engine) that load the model
    themselves; `model` is the folder they load, and only the tokenizer stays here."""
    engine: Any = None
    placement: Any = None

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
                   engine, placement)

    def chat(self, conversations: list[list[dict]], *, max_new_tokens: int = 160, temperature: float = 0.0,
             seed: int = 0) -> list[str]:
        import pyarrow as pa

        from curate.lm.generation import Answerer

        prompts = pa.table({"prompt": pa.array([self.prompt_text(c) for c in conversations], pa.string())})
        found = self.engine.run(Answerer, prompts, batch_size=self.batch_size, step_args=(
            self.model, self.placement.device, self.placement.precision, max_new_tokens, self.batch_size,
            {"temperature": temperature, "repetition_penalty": 1.1, "seed": seed}))
        return found.column("output").to_pylist()


@dataclass
class VLLMBackend(LocalBackend):
    """The same prompts as the local backend, decoded by vLLM (CUDA; extra `gpu`)."""

    @classmethod
    def load(cls, spec: str | None = None, store=None, batch_size: int = BATCH_SIZE, device: str | None = None,
             precision: str | None = None) -> VLLMBackend:
        from curate.lm.device import resolve
        from curate.lm.load import load_tokenizer, local_model_dir
        from curate.lm.vllm_engine import choose_backend, load_llm

        placement = resolve(device, precision)
        choose_backend("vllm", placement.device)
        tokenizer, resolved = load_tokenizer(spec, store)
        llm = load_llm(local_model_dir(resolved), placement)
        return cls(llm, tokenizer, batch_size, {"backend": "vllm", "model": resolved.describe(), **placement.describe()})

    def chat(self, conversations: list[list[dict]], *, max_new_tokens: int = 160, temperature: float = 0.0,
             seed: int = 0) -> list[str]:
        from curate.lm.vllm_engine import generate_texts_vllm

        return [g["output"] for g in generate_texts_vllm(
            self.model, [self.prompt_text(c) for c in conversations], max_new_tokens=max_new_tokens,
            temperature=temperature, repetition_penalty=1.1, seed=seed)]


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
             seed: int = 0) -> list[str]:
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


BACKENDS = ("local", "vllm", "openai")


def make_backend(kind: str = "local", model: str | None = None, store=None, batch_size: int = BATCH_SIZE,
                 device: str | None = None, precision: str | None = None, engine=None) -> Backend:
    if kind == "local" and engine is not None and engine.name == "ray":
        return RayBackend.load(model, store, batch_size, device, precision, engine)
    if kind == "local":
        return LocalBackend.load(model, store, batch_size, device, precision)
    if kind == "vllm":
        return VLLMBackend.load(model, store, batch_size, device, precision)
    if kind == "openai":
        return OpenAIBackend.from_env(model)
    raise TuneloopError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
