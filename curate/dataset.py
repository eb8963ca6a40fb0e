"""Dataset versions: frozen snapshots of the approved pairs, templated, tokenized, split, exported.

A version keeps the pairs' text as it was at build time, the template, the tokenizer, the
maximum length and the split seed, so training on it later sees exactly the same examples.
Exports: JSON lines in prompt/completion and chat `messages` forms, and a Hugging Face
DatasetDict (save_to_disk; push_to_hub on request) with input_ids, attention_mask and labels
padded and truncated to max_length, the prompt's labels masked with -100.
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.errors import TuneloopError, not_found
from curate.leakage import NEAR_THRESHOLD, SEMANTIC_THRESHOLD, dedupe_links, duplicate_groups, leakage, question_matches
from curate.lm.losses import IGNORE_INDEX
from curate.options import option
from curate.pairs import APPROVED, status_in
from curate.select import MAX_SIMILARITY, select_pairs
from curate.store import Store
from curate.templates import TEMPLATES, chat_messages, render_example

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class DatasetConfig:
    name: str = option("", "Version name, e.g. v1 (versions are immutable).")
    template: str = option("qa", "The prompt template (curate/templates.py).", choices=tuple(TEMPLATES))
    model: str | None = option(None, "Whose tokenizer counts and cuts the tokens (default SmolLM2-135M-Instruct).")
    max_length: int = option(512, "Tokens per example, prompt and answer; longer ones are cut.")
    test_size: float = option(0.1, "Share held out, per topic and origin (whole duplicate groups).")
    seed: int = option(0, "Split seed.")
    near_threshold: float = option(NEAR_THRESHOLD, "Questions this alike (MinHash Jaccard) stay on one side.")
    semantic_threshold: float | None = option(
        SEMANTIC_THRESHOLD, "Questions this alike in meaning (embedding cosine) stay on one side; 0: not checked.")
    keep_contaminated: bool = option(False, "Keep pairs that share a 13-gram with an imported benchmark item.")
    conversations: bool = option(False, "One example per conversation, the loss on every approved answer in it"
                                         " (needs --template chat); otherwise one example per pair.")
    select_budget: int | None = option(None, "Keep at most this many pairs, chosen by score with diversity"
                                              " (curate.select; `tuneloop select`).")
    select_by: str | None = option(None, "With --select-budget: the score to rank by (a judge's name, ifd or"
                                         " perplexity; default the newest scored).")
    select_similarity: float = option(MAX_SIMILARITY, "With --select-budget: skip a pair more alike than this (embedding"
                                           " cosine) to one already chosen.")


def split_pairs(pairs: list[dict], test_size: float, seed: int, groups: list[int] | None = None) -> dict[int, str]:
    """train/test per pair id, by whole duplicate group (`groups`: a group number per pair; none:
    each pair alone), stratified by the (topic, origin) of each group's first pair, and the same for
    the same seed. Off-topic pairs land in both splits whenever there are two groups of them."""
    members: dict[int, list[int]] = {}
    for p, g in zip(pairs, groups if groups is not None else range(len(pairs))):
        members.setdefault(g, []).append(p["id"])
    stratum_of = {p["id"]: (p["topic"] or "", p["origin"]) for p in pairs}
    strata: dict[tuple, list[list[int]]] = {}
    for ids in members.values():
        ids.sort()
        strata.setdefault(stratum_of[ids[0]], []).append(ids)
    split = {}
    for key, stratum in sorted(strata.items()):
        stratum.sort()
        random.Random(f"{seed}:{key}").shuffle(stratum)
        size = sum(len(g) for g in stratum)
        n_test = round(test_size * size)
        if key[1] == "offtopic" and len(stratum) >= 2:
            n_test = min(max(n_test, 1), size - len(stratum[-1]))
        taken = 0
        for ids in stratum:
            side = "test" if taken < n_test else "train"
            taken += len(ids) if side == "test" else 0
            for pair_id in ids:
                split[pair_id] = side
    return split


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
    from curate.pairs import conversation_key

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


def default_export_root(store: Store) -> Path:
    return Path(store.path).resolve().parent / "tuneloop_datasets"


def build_dataset(store: Store, config: DatasetConfig, export_root: str | Path | None = None,
                  show_progress: bool = False) -> dict:
    """Freeze the approved pairs into a new dataset version and export it. Returns its report."""
    from tqdm.auto import tqdm

    from curate.lm.load import load_tokenizer

    if not _NAME.match(config.name or ""):
        raise TuneloopError("a dataset name is letters, digits, '.', '_' or '-' (up to 64), e.g. v1")
    if config.template not in TEMPLATES:
        raise TuneloopError(f"unknown template {config.template!r}; choose one of {', '.join(TEMPLATES)}")
    if not 0 <= config.test_size < 1:
        raise TuneloopError("--test-size is a share between 0 and 1")
    if config.max_length < 8:
        raise TuneloopError("--max-length must be at least 8 tokens")
    if store.scalar("SELECT count(*) FROM dataset_versions WHERE name = ?", [config.name]):
        raise TuneloopError(f"dataset {config.name!r} exists; versions are immutable, choose a new name")
    pairs = store.rows("SELECT id, instruction, input, response, context, system, topic, origin, source_id,"
                       f" raw_log_id, lineage FROM pairs p WHERE {status_in((APPROVED,))} ORDER BY id")
    if not pairs:
        raise TuneloopError("no approved pairs yet: rate and approve some first (Rate page, `tuneloop approve`)")
    contaminated = _contaminated(store, pairs)
    if not config.keep_contaminated:
        pairs = [p for p in pairs if p["id"] not in contaminated]
    from curate.evalsets import exclusions

    held_out = exclusions(store, pairs, config.near_threshold, config.semantic_threshold or None)
    excluded = set().union(*held_out.values()) if held_out else set()
    pairs = [p for p in pairs if p["id"] not in excluded]
    if not pairs:
        raise TuneloopError("every approved pair is held out by an evaluation set or left out as contaminated")
    selection = None
    if config.select_budget is not None:
        pairs, selection = select_pairs(store, pairs, config.select_budget, config.select_by, config.select_similarity)
    if config.conversations and config.template != "chat":
        raise TuneloopError("--conversations trains on whole chats: use it with --template chat")
    tokenizer, resolved = load_tokenizer(config.model, store)
    for pair in pairs:
        pair["lineage"] = json.loads(pair["lineage"]) if pair["lineage"] else None
        pair["context"] = json.loads(pair["context"]) if pair["context"] else None
    folded = 0
    if config.conversations:
        pairs, folded = conversation_items(pairs)
    groups, matches = _groups(store, pairs, config)
    splits = split_pairs(pairs, config.test_size, config.seed, groups)
    items = []
    with store.job("dataset.build", asdict(config)):
        for pair in tqdm(pairs, desc="tokenize", unit="pair", disable=not show_progress):
            prompt, completion = render_example(config.template, pair, tokenizer)
            tokens = tokenize_example(tokenizer, prompt, completion, config.max_length)
            if pair.get("loss_turns"):
                tokens["conversation"] = conversation_example(tokenizer, item_messages(pair), pair["loss_turns"],
                                                              config.max_length)
            items.append({**pair, "split": splits[pair["id"]], "prompt": prompt, "completion": completion,
                          **tokens})
        report = dataset_report(items, config.max_length)
        side = [splits[p["id"]] for p in pairs]
        report["leakage"] = {"test_with_a_match_in_train": leakage(side, matches),
                             "groups": len(set(groups)), "largest_group": max(Counter(groups).values()),
                             "near_threshold": config.near_threshold, "semantic_threshold": config.semantic_threshold}
        report["contamination"] = {"found": sorted(contaminated), "left_out": not config.keep_contaminated}
        report["excluded_for_eval_sets"] = {name: len(ids) for name, ids in held_out.items()}
        if selection:
            report["selection"] = selection
        if config.conversations:
            report["conversations"] = {"examples": sum(bool(i.get("loss_turns")) for i in items),
                                       "pairs_folded_in": folded}
        export_dir = Path(export_root or default_export_root(store)) / config.name
        with store.transaction() as con:
            version_id = con.execute(
                "INSERT INTO dataset_versions (name, template, tokenizer, max_length, test_size, seed, report,"
                " export_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [config.name, config.template, resolved.describe(), config.max_length, config.test_size,
                 config.seed, json.dumps(report), str(export_dir)]).fetchone()[0]
            con.register("_items", pa.table({
                "pair_id": pa.array([i["id"] for i in items], pa.int64()),
                "split": [i["split"] for i in items],
                "instruction": [i["instruction"] for i in items], "input": [i["input"] for i in items],
                "response": [i["response"] for i in items],
                "context": [json.dumps(i["context"]) if i["context"] else None for i in items],
                "system": [i["system"] for i in items], "topic": [i["topic"] for i in items],
                "origin": [i["origin"] for i in items],
                "prompt": [i["prompt"] for i in items], "completion": [i["completion"] for i in items],
                "prompt_tokens": pa.array([len(i["prompt_ids"]) for i in items], pa.int32()),
                "completion_tokens": pa.array([len(i["answer_ids"]) for i in items], pa.int32()),
                "truncated_prompt": [i["truncated_prompt"] for i in items],
                "truncated_answer": [i["truncated_answer"] for i in items],
                "loss_turns": [json.dumps(i["loss_turns"]) if i.get("loss_turns") else None for i in items]}))
            con.execute("INSERT INTO dataset_items SELECT ?, * FROM _items", [version_id])
            con.unregister("_items")
        export(items, tokenizer, config.max_length, export_dir)
    return {"version_id": version_id, "name": config.name, "export_dir": str(export_dir), **report}


def _groups(store: Store, pairs: list[dict], config: DatasetConfig):
    """Duplicate groups of the pairs (curate.leakage) and the question matches behind them."""
    questions = [p["instruction"] for p in pairs]
    vectors, semantic = None, config.semantic_threshold or None
    if semantic is not None:
        from curate.lm.embeddings import vectors_for

        vectors = vectors_for(store, questions)
    matches = question_matches(questions, config.near_threshold, semantic, vectors)
    return duplicate_groups(pairs, dedupe_links(store, [p["id"] for p in pairs]), matches), matches


def _contaminated(store: Store, pairs: list[dict]) -> set[int]:
    """Approved pairs overlapping the imported benchmark items (checked now when they are imported),
    and those an earlier `tuneloop decontaminate` found."""
    from curate.decontaminate import benchmark_items, benchmarks_dir, contaminated_ids, find_overlaps

    found = contaminated_ids(store)
    if (benchmarks_dir(store) / "data").is_dir():
        found |= {f["pair_id"] for f in find_overlaps(pairs, benchmark_items(benchmarks_dir(store)))}
    return found & {p["id"] for p in pairs}


def dataset_report(items: list[dict], max_length: int) -> dict:
    lengths = np.array([len(i["prompt_ids"]) + len(i["answer_ids"]) for i in items])
    counts: dict[str, dict[str, int]] = {}
    for i in items:
        counts.setdefault(i["origin"], {"train": 0, "test": 0})[i["split"]] += 1
    hist, edges = np.histogram(lengths, bins=min(20, max(1, len(set(lengths.tolist())))))
    return {
        "examples": len(items), "train": sum(i["split"] == "train" for i in items),
        "test": sum(i["split"] == "test" for i in items),
        "by_origin": counts,
        "tokens": {"mean": round(float(lengths.mean()), 1), "max": int(lengths.max()), "total": int(lengths.sum())},
        "length_histogram": {"counts": hist.tolist(), "edges": [round(float(e), 1) for e in edges]},
        "truncated_prompt_share": round(sum(i["truncated_prompt"] for i in items) / len(items), 4),
        "truncated_answer_share": round(sum(i["truncated_answer"] for i in items) / len(items), 4),
        "max_length": max_length,
    }


def export(items: list[dict], tokenizer, max_length: int, out: Path) -> None:
    """JSON lines (prompt/completion and chat messages) per split, and a Hugging Face DatasetDict."""
    from datasets import Dataset, DatasetDict

    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        rows = [i for i in items if i["split"] == split]
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for i in rows:
                fh.write(json.dumps({"pair_id": i["id"], "prompt": i["prompt"], "completion": i["completion"]},
                                    ensure_ascii=False) + "\n")
        with open(out / f"{split}_chat.jsonl", "w", encoding="utf-8") as fh:
            for i in rows:
                line = {"pair_id": i["id"], "messages": item_messages(i)}
                if i.get("loss_turns"):
                    line["loss_turns"] = i["loss_turns"]   # the answers trained on (indices into messages)
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    DatasetDict({
        split: Dataset.from_list([
            {"pair_id": i["id"], "prompt": i["prompt"], "completion": i["completion"], "origin": i["origin"],
             **(padded_conversation(tokenizer, i["conversation"], max_length) if i.get("conversation")
                else padded(tokenizer, i["prompt_ids"], i["answer_ids"], max_length))}
            for i in items if i["split"] == split])
        for split in ("train", "test")}).save_to_disk(str(out / "hf"))


def push_to_hub(version_dir: str | Path, repo_id: str, private: bool = True) -> None:
    """Upload an exported version's DatasetDict to the Hugging Face hub (needs a token and network)."""
    from datasets import load_from_disk

    load_from_disk(str(Path(version_dir) / "hf")).push_to_hub(repo_id, private=private)


def versions_frame(store: Store):
    return store.frame("SELECT id, name, template, max_length, test_size, seed, report->>'examples' AS examples,"
                       " report->>'train' AS train, report->>'test' AS test, export_dir, created_at"
                       " FROM dataset_versions ORDER BY id DESC")


def get_version(store: Store, name: str) -> dict:
    row = store.one("SELECT * FROM dataset_versions WHERE name = ?", [name])
    if row is None:
        raise not_found("dataset", name, [r["name"] for r in store.rows("SELECT name FROM dataset_versions ORDER BY id")],
                        "build one with `tuneloop dataset build`")
    row["report"] = json.loads(row["report"]) if row["report"] else {}
    return row


def version_items(store: Store, version_id: int, split: str | None = None) -> list[dict]:
    rows = store.rows("SELECT * FROM dataset_items WHERE version_id = ?" + (" AND split = ?" if split else "")
                      + " ORDER BY pair_id", [version_id] + ([split] if split else []))
    for r in rows:
        r["context"] = json.loads(r["context"]) if r["context"] else None
        r["loss_turns"] = json.loads(r["loss_turns"]) if r.get("loss_turns") else None
    return rows
