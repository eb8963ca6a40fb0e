"""Turn one read record into tuneloop's normal form: (kind, payload), or say why it can't be.

Kinds:
- qa: {instruction, input?, response, system?, context?, topic?}
- conversation: {turns: [{role, content}], system?, topic?}
- message: one message of a thread linked by reply ids {message_id, parent_id?, role, text}
- document: {title, text}
Every payload keeps the record's other fields under `extra`, so nothing read is lost.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

# Field names we recognise, most specific first. --map overrides them.
QA_FIELDS = {
    "instruction": ["instruction", "question", "prompt", "query", "user_question", "q"],
    "response": ["response", "answer", "output", "completion", "reply", "target", "a"],
    "input": ["input"],
    "system": ["system", "system_prompt"],
    "topic": ["topic"],
    "history": ["history"],
}
TURN_FIELDS = ["messages", "conversations", "conversation", "dialog", "dialogue", "turns", "original", "chat"]
MESSAGE_FIELDS = {
    "message_id": ["tweet_id", "message_id", "msg_id"],
    "parent_id": ["in_response_to_tweet_id", "in_response_to", "in_reply_to", "reply_to", "parent_id"],
    "text": ["text", "body", "message", "content"],
    "author": ["author_id", "author", "sender", "user"],
    "role": ["role", "speaker"],
    "inbound": ["inbound"],
    "created_at": ["created_at", "timestamp", "time"],
}
KIND_ROLES = {
    "qa": ["instruction", "response", "input", "system", "topic", "history"],
    "conversation": ["turns", "system", "topic"],
    "message": list(MESSAGE_FIELDS),
}
MAPPABLE = sorted(set(QA_FIELDS) | set(MESSAGE_FIELDS) | {"turns"})

ROLE_NAMES = {
    "user": "user", "human": "user", "customer": "user", "client": "user", "inbound": "user",
    "question": "user", "prompter": "user",
    "assistant": "assistant", "gpt": "assistant", "agent": "assistant", "bot": "assistant",
    "model": "assistant", "company": "assistant", "support": "assistant", "chatgpt": "assistant",
    "system": "system",
}
SHAPES = {"openai-chat": "messages", "sharegpt": "conversations", "alpaca": "alpaca"}


class RecordError(ValueError):
    """This record can't be stored; the message is the reason the user sees."""


@dataclass
class Normalized:
    kind: str
    payload: dict[str, Any]
    content_hash: str = field(init=False)

    def __post_init__(self) -> None:
        core = {k: v for k, v in self.payload.items() if k != "extra"}
        blob = json.dumps({"kind": self.kind, **core}, sort_keys=True, ensure_ascii=False)
        self.content_hash = hashlib.sha256(blob.encode("utf-8")).hexdigest()


# Anything but white space and the invisible format characters (zero-width space and joiners,
# word joiner, BOM, soft hyphen, Mongolian vowel separator).
_VISIBLE = re.compile(r"[^\s\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]")


def as_text(value: Any, name: str) -> str | None:
    """A field's value as text: numbers and booleans are written out, lists are refused."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (dict, list, tuple)):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise RecordError(f"field '{name}' holds {kind}, expected text")
    text = value if isinstance(value, str) else str(value)
    return text if _VISIBLE.search(text) else None  # blank or only zero-width characters: empty


def _find(record: dict, names: list[str]) -> str | None:
    lowered = {str(k).lower(): k for k in record}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def resolve_fields(columns: list[str], mapping: dict[str, str], shape: str = "auto") -> dict[str, str]:
    """Which column plays which role, from --map first, then from the names we recognise."""
    record = {c: None for c in columns}
    roles: dict[str, str] = {}
    for role, names in {**QA_FIELDS, **MESSAGE_FIELDS}.items():
        found = _find(record, names)
        if found is not None:
            roles.setdefault(role, found)
    turns = _find(record, [SHAPES[shape]] if shape in ("openai-chat", "sharegpt") else TURN_FIELDS)
    if turns is not None:
        roles["turns"] = turns
    # instruction/input/output datasets: "input" is extra input; input/output ones: it is the question
    if "instruction" not in roles and "input" in roles:
        roles["instruction"] = roles.pop("input")
    for role, column in mapping.items():
        roles[role] = column
    return roles


def kind_for(roles: dict[str, str], shape: str = "auto") -> str | None:
    if shape in ("openai-chat", "sharegpt"):
        return "conversation" if "turns" in roles else None
    if shape == "alpaca":
        return "qa" if {"instruction", "response"} <= roles.keys() else None
    if "message_id" in roles and "parent_id" in roles and "text" in roles:
        return "message"
    if {"instruction", "response"} <= roles.keys():
        return "qa"
    if "turns" in roles:
        return "conversation"
    return None


def describe_missing(columns: list[str], shape: str = "auto") -> str:
    names = ", ".join(map(str, columns[:12])) + (" …" if len(columns) > 12 else "")
    roles = resolve_fields(columns, {}, shape)
    for have, lack in (("instruction", "response"), ("response", "instruction")):
        if have in roles and lack not in roles and shape != "openai-chat" and shape != "sharegpt":
            return (f"no {lack} field (fields: {names}); expected one of {', '.join(QA_FIELDS[lack][:6])},"
                    f" or name it with --map {lack}=COLUMN")
    wanted = {
        "openai-chat": "a 'messages' list", "sharegpt": "a 'conversations' list",
        "alpaca": "instruction and output fields",
    }.get(shape, "question/answer fields (e.g. question+answer, instruction+output, prompt+completion) or a conversation list")
    return (f"no {wanted} found (fields: {names}); name them with --map instruction=COLUMN"
            " --map response=COLUMN")


def to_normal_form(record: dict, mapping: dict[str, str] | None = None, shape: str = "auto",
              roles: dict[str, str] | None = None) -> Normalized:
    """One record in normal form, or RecordError with the reason."""
    mapping = mapping or {}
    roles = roles or resolve_fields(list(record), mapping, shape)
    for role, column in mapping.items():
        if column not in record:
            raise RecordError(f"mapped column '{column}' (for {role}) is missing")
    kind = kind_for(roles, shape)
    if kind is None:
        raise RecordError(describe_missing(list(record), shape))
    used = {roles[r] for r in KIND_ROLES[kind] if r in roles}
    extra = {str(k): v for k, v in record.items() if k not in used and v not in (None, "")}
    payload = {"qa": _qa, "conversation": _conversation, "message": _message}[kind](record, roles)
    if extra:
        payload["extra"] = json.loads(json.dumps(extra, default=str))
    return Normalized(kind, payload)


def _qa(record: dict, roles: dict[str, str]) -> dict:
    payload: dict[str, Any] = {}
    for role in ("instruction", "response"):
        text = as_text(record.get(roles[role]), roles[role])
        if text is None:
            raise RecordError(f"field '{roles[role]}' ({role}) is missing or empty")
        payload[role] = text
    for role in ("input", "system", "topic"):
        if role in roles:
            text = as_text(record.get(roles[role]), roles[role])
            if text is not None:
                payload[role] = text
    if "history" in roles and record.get(roles["history"]):
        payload["context"] = _history(record[roles["history"]], roles["history"])
    return payload


def _history(value: Any, name: str) -> list[dict]:
    """Earlier exchanges as turns: [[user, assistant], ...] (LLaMA-Factory style) or turn dicts."""
    if not isinstance(value, list):
        raise RecordError(f"field '{name}' should be a list of earlier turns")
    if all(isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(x, str) for x in t) for t in value) \
            and not any(str(t[0]).lower() in ROLE_NAMES for t in value):
        turns = []
        for user, assistant in value:
            turns += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return turns
    return parse_turns(value, name)


def parse_turns(value: Any, name: str) -> list[dict]:
    """A list of turns in any common shape → [{role, content}] with roles normalised. A turn's other
    fields (tool calls, ids, timestamps, metadata) are kept under its `extra`; content given as
    OpenAI content parts has its text parts joined (the other parts kept under `extra`); a turn
    with no text but other fields (an assistant's tool call) is kept with empty content."""
    if not isinstance(value, list) or not value:
        raise RecordError(f"field '{name}' should be a non-empty list of turns")
    turns = []
    for i, turn in enumerate(value, 1):
        extra: dict[str, Any] = {}
        if isinstance(turn, dict):
            role_key = _find(turn, ["role", "from", "speaker", "author", "sender"])
            text_key = _find(turn, ["content", "value", "text", "message", "utterance"])
            if role_key is None or (text_key is None and len(turn) < 2):
                raise RecordError(f"turn {i} of '{name}' has no role or no text")
            role, text = turn[role_key], turn.get(text_key) if text_key else None
            extra = {str(k): v for k, v in turn.items() if k not in (role_key, text_key) and v not in (None, "")}
            if isinstance(text, list):
                text, parts = _content_parts(text, f"{name}[{i}]")
                if parts:
                    extra["content_parts"] = parts
        elif isinstance(turn, (list, tuple)) and len(turn) == 2:
            role, text = turn
        else:
            raise RecordError(f"turn {i} of '{name}' is neither {{role, content}} nor [speaker, text]")
        text = as_text(text, f"{name}[{i}]")
        if text is None and not extra:
            continue
        role = str(role).strip().lower()
        out = {"role": ROLE_NAMES.get(role, role), "content": text or ""}
        if extra:
            out["extra"] = json.loads(json.dumps(extra, default=str))
        turns.append(out)
    if not any(t["content"] for t in turns):
        raise RecordError(f"field '{name}' has no turn with text")
    return turns


def _content_parts(parts: list, name: str) -> tuple[str | None, list]:
    """OpenAI content parts: the text of the text parts, joined, and the other parts as they are."""
    texts, others = [], []
    for part in parts:
        if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text") \
                and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, str):
            texts.append(part)
        else:
            others.append(part)
    if not texts and not others:
        raise RecordError(f"field '{name}' has an empty list of content parts")
    return ("\n".join(texts) if texts else None), others


def _conversation(record: dict, roles: dict[str, str]) -> dict:
    payload: dict[str, Any] = {"turns": parse_turns(record.get(roles["turns"]), roles["turns"])}
    for role in ("system", "topic"):
        if role in roles:
            text = as_text(record.get(roles[role]), roles[role])
            if text is not None:
                payload[role] = text
    return payload


def _message(record: dict, roles: dict[str, str]) -> dict:
    message_id = _id(record.get(roles["message_id"]))
    if message_id is None:
        raise RecordError(f"field '{roles['message_id']}' (message id) is missing")
    text = as_text(record.get(roles["text"]), roles["text"])
    if text is None:
        raise RecordError(f"field '{roles['text']}' (message text) is missing or empty")
    payload: dict[str, Any] = {"message_id": message_id, "parent_id": _id(record.get(roles["parent_id"])),
                               "text": text, "role": _message_role(record, roles)}
    for role in ("author", "created_at"):
        if role in roles and record.get(roles[role]) not in (None, ""):
            payload[role] = str(record[roles[role]])
    return payload


def _id(value: Any) -> str | None:
    """Reply ids arrive as 12, "12", 12.0 or "12.0" depending on the writer; one form for all."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None


def _message_role(record: dict, roles: dict[str, str]) -> str:
    if "inbound" in roles:
        value = record.get(roles["inbound"])
        inbound = value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
        return "user" if inbound else "assistant"
    if "role" in roles:
        role = str(record.get(roles["role"], "")).strip().lower()
        return ROLE_NAMES.get(role, role or "user")
    return "user"


def document(value: dict) -> Normalized:
    return Normalized("document", {"title": value["title"], "text": value["text"]})


def flatten_text(value: Any, path: str = "") -> list[str]:
    """Prose out of a nested JSON object (guidelines, knowledge bases), one 'path: text' a line."""
    if isinstance(value, dict):
        return [line for k, v in value.items() for line in flatten_text(v, f"{path} / {k}" if path else str(k))]
    if isinstance(value, list):
        if value and all(isinstance(v, (str, int, float)) for v in value):
            return [f"{path}: {', '.join(map(str, value))}"]
        return [line for v in value for line in flatten_text(v, path)]
    if value is None or value == "":
        return []
    return [f"{path}: {value}"]
