"""Examples for training: a prompt and its completion (or a whole conversation) tokenized, the
answer kept and the prompt cut when too long, padded to the maximum length with the prompt's
labels masked."""
from __future__ import annotations

import re

from curate.errors import TuneloopError
from curate.lm.losses import IGNORE_INDEX
from curate.lm.templates import chat_messages


def tokenize_example(tokenizer, prompt: str, completion: str, max_length: int) -> dict:
    """Token ids of prompt + completion within max_length: the answer is cut at its end; a prompt
    longer than max_length keeps its last tokens (the question sits at the end)."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    truncated_prompt = len(prompt_ids) >= max_length
    if truncated_prompt:
        prompt_ids = prompt_ids[-(max_length - 1):]  # keep room for one answer token
    room = max_length - len(prompt_ids)
    truncated_answer = len(answer_ids) > room
    answer_ids = answer_ids[:room]
    return {"prompt_ids": prompt_ids, "answer_ids": answer_ids,
            "truncated_prompt": truncated_prompt, "truncated_answer": truncated_answer}


_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


def conversation_example(tokenizer, messages: list[dict], loss_turns: list[int], max_length: int) -> dict:
    """input_ids and labels of a whole conversation in the tokenizer's chat template, with the loss
    on the assistant messages whose index is in loss_turns (their text and end of turn) and nowhere
    else. A template that marks assistant text ({% generation %}) gives the mask; otherwise each
    turn is found by rendering the conversation up to it. Too long: the earliest tokens are cut."""
    if _GENERATION_TAG.search(getattr(tokenizer, "chat_template", None) or ""):
        out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
        assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        labels, run = [], -1
        for k, (token, on) in enumerate(zip(ids, mask)):
            run += bool(on and (k == 0 or not mask[k - 1]))
            labels.append(token if on and assistant[run] in loss_turns else IGNORE_INDEX)
    else:
        ids, labels, done = [], [], ""

        def add(text: str, trained: bool) -> None:
            piece = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            ids.extend(piece)
            labels.extend(piece if trained else [IGNORE_INDEX] * len(piece))

        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
            through = tokenizer.apply_chat_template(messages[:i + 1], tokenize=False)
            if not (before.startswith(done) and through.startswith(before)):
                raise TuneloopError("this chat template renders a conversation differently from its beginning, so its"
                                    " assistant turns cannot be found; build one example per pair instead")
            add(before[len(done):], False)
            add(through[len(before):], i in loss_turns)
            done = through
    cut = max(len(ids) - max_length, 0)
    return {"input_ids": ids[cut:], "labels": labels[cut:], "truncated": cut > 0}


def conversation_items(pairs: list[dict]) -> tuple[list[dict], int]:
    """With --conversations: the pairs of each conversation become its last pair (the one with
    every earlier turn), with loss_turns naming the chat messages that are answers among these
    pairs. Pairs alone stay as they are. Returns the items and how many pairs were folded in."""
    from curate.pairs.rows import conversation_key

    groups: dict[str, list[dict]] = {}
    for pair in pairs:
        groups.setdefault(conversation_key(pair), []).append(pair)
    items, folded = [], 0
    for members in groups.values():
        if len(members) == 1:
            items.append(members[0])
            continue
        last = max(members, key=lambda p: (len(p["context"] or []), p["id"]))
        offset = 1 if last.get("system") else 0
        answered = {len(p["context"] or []) + 1 for p in members}
        items.append({**last, "loss_turns": sorted(offset + i for i in answered)})
        folded += len(members) - 1
    return sorted(items, key=lambda p: p["id"]), folded


def padded(tokenizer, prompt_ids: list[int], answer_ids: list[int], max_length: int) -> dict:
    """input_ids, attention_mask and labels padded to max_length; loss on the answer only."""
    ids = prompt_ids + answer_ids
    pad = max_length - len(ids)
    return {"input_ids": ids + [tokenizer.pad_token_id] * pad,
            "attention_mask": [1] * len(ids) + [0] * pad,
            "labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids + [IGNORE_INDEX] * pad}


def padded_conversation(tokenizer, example: dict, max_length: int) -> dict:
    """A conversation_example padded to max_length."""
    pad = max_length - len(example["input_ids"])
    return {"input_ids": example["input_ids"] + [tokenizer.pad_token_id] * pad,
            "attention_mask": [1] * len(example["input_ids"]) + [0] * pad,
            "labels": example["labels"] + [IGNORE_INDEX] * pad}


def item_messages(item: dict) -> list[dict]:
    """A pair or dataset item as chat messages: system, earlier turns, the question and the answer."""
    return chat_messages(item) + [{"role": "assistant", "content": item["response"]}]
