"""Prompt templates, defined once for generation, datasets, training and evaluation.

A template turns a pair into (prompt, completion): the model sees the prompt and learns, or is
asked, to write the completion.
- `qa`: the course style "### Question:\\n{instruction}\\n\\n### Answer:"
- `alpaca`: Alpaca's preamble, with an "### Input:" block when the pair has an input
- `chat`: the model's own chat template (system, earlier turns, the question)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curate.errors import TuneloopError

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
QA = "### Question:\n{instruction}\n\n### Answer:"


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    render: Callable[[dict, Any], str]   # (pair, tokenizer) → prompt


def _question(pair: dict) -> str:
    """The instruction with its input, for templates that have no input slot."""
    return pair["instruction"] + (f"\n\n{pair['input']}" if pair.get("input") else "")


def _qa(pair: dict, tokenizer=None) -> str:
    return QA.format(instruction=_question(pair))


def _alpaca(pair: dict, tokenizer=None) -> str:
    if pair.get("input"):
        return ALPACA_WITH_INPUT.format(instruction=pair["instruction"], input=pair["input"])
    return ALPACA_NO_INPUT.format(instruction=pair["instruction"])


def chat_messages(pair: dict) -> list[dict]:
    """system, earlier turns and the question as chat messages."""
    messages = [{"role": "system", "content": pair["system"]}] if pair.get("system") else []
    messages += list(pair.get("context") or [])
    messages.append({"role": "user", "content": _question(pair)})
    return messages


def _chat(pair: dict, tokenizer=None) -> str:
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise TuneloopError("the chat template needs a tokenizer that has one; use 'qa' or 'alpaca'")
    return tokenizer.apply_chat_template(chat_messages(pair), tokenize=False, add_generation_prompt=True)


TEMPLATES: dict[str, Template] = {
    "qa": Template("qa", "### Question: … ### Answer: (course style)", _qa),
    "alpaca": Template("alpaca", "Alpaca instruction/input/response", _alpaca),
    "chat": Template("chat", "the model's own chat template", _chat),
}


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise TuneloopError(f"unknown template {name!r}; choose one of {', '.join(TEMPLATES)}") from None


def render_prompt(name: str, pair: dict, tokenizer=None) -> str:
    return get_template(name).render(pair, tokenizer)


def render_example(name: str, pair: dict, tokenizer=None) -> tuple[str, str]:
    """(prompt, completion) for training: the completion is the response, led by a space or
    newline where the template ends without one, and closed by the end-of-sequence token."""
    prompt = render_prompt(name, pair, tokenizer)
    response = pair["response"]
    if not prompt.endswith(("\n", " ")):
        response = " " + response
    eos = getattr(tokenizer, "eos_token", None) or ""
    return prompt, response + eos
