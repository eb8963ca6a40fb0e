"""Found values replaced by placeholders: `<EMAIL_1>`, numbered within one conversation."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from curate.privacy.detect import PLACEHOLDER, Detector, Span, pair_texts


@dataclass
class Placeholders:
    """Numbers found values within one conversation: the same e-mail is <EMAIL_1> throughout."""
    numbers: dict = field(default_factory=dict)
    replaced: dict = field(default_factory=dict)   # original value → placeholder (what a purge rewrites)

    def __call__(self, entity: str, value: str) -> str:
        label = PLACEHOLDER.get(entity, entity)
        key = (label, value.strip().lower())
        if key not in self.numbers:
            self.numbers[key] = sum(1 for k in self.numbers if k[0] == label) + 1
        placeholder = f"<{label}_{self.numbers[key]}>"
        self.replaced[value] = placeholder
        return placeholder


def redact_text(text: str, spans: list[Span], placeholders: Placeholders) -> str:
    out, at = [], 0
    for s in spans:
        out += [text[at:s.start], placeholders(s.entity, text[s.start:s.end])]
        at = s.end
    return "".join(out) + text[at:]


def redact_payload(value, detector: Detector, placeholders: Placeholders | None = None):
    """A raw record (dict, list or text) with every piece of text redacted; keys, numbers and the
    short labels (role, ids) kept. One Placeholders for the whole record: a conversation."""
    placeholders = placeholders if placeholders is not None else Placeholders()
    if isinstance(value, str):
        return redact_text(value, detector.find(value), placeholders)
    if isinstance(value, list):
        return [redact_payload(v, detector, placeholders) for v in value]
    if isinstance(value, dict):
        return {k: v if k in ("role", "message_id", "parent_id", "kind") else redact_payload(v, detector, placeholders)
                for k, v in value.items()}
    return value


def replace_values(text: str | None, replaced: dict[str, str]) -> str | None:
    """Every occurrence of a found value replaced by its placeholder (longest first)."""
    if not text:
        return text
    for value in sorted(replaced, key=len, reverse=True):
        text = text.replace(value, replaced[value])
    return text


def redacted_pair(pair: dict, spans: dict[str, list[Span]], placeholders: Placeholders) -> dict:
    """The pair's text fields with the findings replaced (a copy; context as a list of turns)."""
    out = dict(pair)
    context = pair.get("context") or []
    context = json.loads(context) if isinstance(context, str) else context
    out["context"] = [dict(turn) for turn in context] or None
    for name, text in pair_texts(pair):
        new = redact_text(text, spans.get(name, []), placeholders)
        if name.startswith("context."):
            out["context"][int(name.split(".")[1])]["content"] = new
        else:
            out[name] = new
    return out
