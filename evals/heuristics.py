"""Error heuristics: small registered checks, each returning (flagged, detail) for one output.

Like datatrove's filters, each check is one function with one job, and its detail string says
why, so flags can be counted per heuristic and shown to people.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from curate.pairs.offtopic import refusal_pattern

_WORD = re.compile(r"[A-Za-z][A-Za-z']+")


@dataclass
class Context:
    """What a check may look at besides the output."""
    question: str = ""
    reference: str | None = None
    should_refuse: bool = False
    max_words: int = 200                      # absolute ceiling for an answer
    allowlist: set[str] = field(default_factory=set)  # words of the training data (product names…)
    max_new_tokens: int | None = None
    tokens: int | None = None
    refusal: re.Pattern = field(default_factory=refusal_pattern)  # follows the configured refusal text


Check = Callable[[str, Context], tuple[bool, str]]
HEURISTICS: dict[str, Check] = {}


def heuristic(name: str):
    def register(fn: Check) -> Check:
        HEURISTICS[name] = fn
        return fn
    return register


_spell = None


def _spellchecker():
    global _spell
    if _spell is None:
        from spellchecker import SpellChecker

        _spell = SpellChecker()
    return _spell


def learn_allowlist(texts: list[str], min_count: int = 2) -> set[str]:
    """Words the training data uses at least min_count times: product names and jargon are not typos."""
    counts = Counter(w.lower() for t in texts for w in _WORD.findall(t))
    return {w for w, c in counts.items() if c >= min_count}


@heuristic("misspelling")
def misspelling(output: str, ctx: Context) -> tuple[bool, str]:
    """Unknown lower-case words (capitalized ones are taken as names), less the training data's words."""
    words = {w.split("'")[0] for w in _WORD.findall(output) if w[0].islower()}
    candidates = [w for w in words if len(w) > 2 and w not in ctx.allowlist]
    unknown = sorted(_spellchecker().unknown(candidates))
    return bool(unknown), ", ".join(unknown[:8])


@heuristic("too_long")
def too_long(output: str, ctx: Context) -> tuple[bool, str]:
    words = len(output.split())
    if words > ctx.max_words:
        return True, f"{words} words (limit {ctx.max_words})"
    if ctx.reference:
        ref = max(len(ctx.reference.split()), 1)
        if words > 3 * ref and words - ref > 30:
            return True, f"{words} words, {words / ref:.1f}× the reference's {ref}"
    return False, ""


@heuristic("repetition")
def repetition(output: str, ctx: Context) -> tuple[bool, str]:
    words = output.lower().split()
    grams = Counter(tuple(words[i:i + 4]) for i in range(len(words) - 3))
    if grams:
        gram, count = grams.most_common(1)[0]
        if count >= 3:
            return True, f"'{' '.join(gram)}' {count} times"
    sentences = [s.strip(" .!?").lower() for s in re.split(r"[.!?]\s", output) if len(s.split()) >= 4]
    repeated = [s for s, c in Counter(sentences).items() if c >= 2]
    return bool(repeated), (f"sentence repeated: '{repeated[0][:60]}'" if repeated else "")


@heuristic("empty")
def empty(output: str, ctx: Context) -> tuple[bool, str]:
    return (not output.strip()), "no answer"


@heuristic("cut_off")
def cut_off(output: str, ctx: Context) -> tuple[bool, str]:
    text = output.strip()
    hit_limit = ctx.max_new_tokens is not None and ctx.tokens is not None and ctx.tokens >= ctx.max_new_tokens
    if text and (hit_limit or len(text.split()) > 5) and text[-1] not in ".!?)\"'*`":
        return hit_limit, "stopped at the token limit mid-sentence" if hit_limit else ""
    return False, ""


@heuristic("wrong_refusal")
def wrong_refusal(output: str, ctx: Context) -> tuple[bool, str]:
    refused = bool(ctx.refusal.search(output))
    if ctx.should_refuse and not refused:
        return True, "an off-topic question was answered"
    if not ctx.should_refuse and refused:
        return True, "an on-topic question was refused"
    return False, ""


def run_all(output: str, ctx: Context) -> dict[str, str]:
    """The heuristics that flag this output, with their details."""
    found = {}
    for name, check in HEURISTICS.items():
        flagged, detail = check(output, ctx)
        if flagged:
            found[name] = detail
    return found
