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

from curate.datasets.examples import conversation_example, conversation_items, item_messages, tokenize_example
from curate.datasets.export import export
from curate.dedupe.leakage import NEAR_THRESHOLD, SEMANTIC_THRESHOLD, dedupe_links, duplicate_groups, leakage, question_matches
from curate.errors import TuneloopError
from curate.lm.templates import TEMPLATES, render_example
from curate.options import option
from curate.pairs.status import APPROVED, status_in
from curate.quality.select import MAX_SIMILARITY, select_pairs
from curate.store import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class DatasetConfig:
    name: str = option("", "Version name, e.g. v1 (versions are immutable).", label="Version name")
    template: str = option("qa", "The prompt template (curate/lm/templates.py).", choices=tuple(TEMPLATES),
                           label="Prompt template")
    model: str | None = option(None, "Whose tokenizer counts and cuts the tokens (default SmolLM2-135M-Instruct).",
                               label="Tokenizer of model")
    max_length: int = option(512, "Tokens per example, prompt and answer; longer ones are cut.", label="Max length (tokens)")
    test_size: float = option(0.1, "Share held out, per topic and origin (whole duplicate groups).", label="Held-out share")
    seed: int = option(0, "Split seed.", label="Split seed")
    near_threshold: float = option(NEAR_THRESHOLD, "Questions this alike (MinHash Jaccard) stay on one side.",
                                   label="Near-duplicate threshold")
    semantic_threshold: float | None = option(
        SEMANTIC_THRESHOLD, "Questions this alike in meaning (embedding cosine) stay on one side; 0: not checked.",
        label="Same-meaning threshold")
    keep_contaminated: bool = option(False, "Keep pairs that share a 13-gram with an imported benchmark item.",
                                     label="Keep benchmark overlaps")
    conversations: bool = option(False, "One example per conversation, the loss on every approved answer in it"
                                         " (needs --template chat); otherwise one example per pair.", label="Whole conversations")
    select_budget: int | None = option(None, "Keep at most this many pairs, chosen by score with diversity"
                                              " (curate.quality.select).", label="Choose at most (pairs)")
    select_by: str | None = option(None, "With --select-budget: the score to rank by (a judge's name, ifd or"
                                         " perplexity; default the newest scored).", label="Rank by score")
    select_similarity: float = option(MAX_SIMILARITY, "With --select-budget: skip a pair more alike than this (embedding"
                                           " cosine) to one already chosen.", label="Too alike above")


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
    from curate.datasets.evalsets import exclusions

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
    from curate.dedupe.decontaminate import benchmark_items, benchmarks_dir, contaminated_ids, find_overlaps

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
