"""Pairs from raw logs.

Extraction is a pure function over one source's raw logs (`pairs_from_raw_logs`), with the store
read before and written after. Q&A records become one pair each; in a conversation every user
turn and the assistant turn that answers it become a pair, the earlier turns kept as context;
messages linked by reply ids (tweets, tickets) are rebuilt into threads first.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from curate.pairs.rows import insert_pairs, make_pair
from curate.store import Store

_LEADING_HANDLES = re.compile(r"^(?:@\w+\s+)+")


# --------------------------------------------------------------------------- extraction (pure)
def pairs_from_raw_logs(rows: Iterable[dict], topic: str | None = None) -> list[dict]:
    """Pairs from one source's raw logs: rows of {id, source_id, kind, payload (dict)}."""
    rows = list(rows)
    out: list[dict] = []
    for row in rows:
        payload = row["payload"]
        if row["kind"] == "qa":
            out.append(make_pair(
                payload["instruction"], payload["response"], origin="extracted",
                input=payload.get("input"), context=payload.get("context"), system=payload.get("system"),
                topic=payload.get("topic") or topic, source_id=row["source_id"], raw_log_id=row["id"]))
        elif row["kind"] == "conversation":
            out += _conversation_pairs(row, topic)
    messages = [r for r in rows if r["kind"] == "message"]
    if messages:
        out += _thread_pairs(messages, topic)
    return out


def merge_turns(turns: list[dict]) -> tuple[list[dict], str | None]:
    """User/assistant turns with consecutive turns of one speaker joined; the system prompt apart.
    Other speakers (actions, notes) are left out of the dialogue."""
    merged: list[dict] = []
    system = None
    for turn in turns:
        role, content = turn["role"], turn["content"].strip()
        if role == "system":
            system = content if system is None else f"{system}\n{content}"
        elif role in ("user", "assistant") and content:
            if merged and merged[-1]["role"] == role:
                merged[-1] = {"role": role, "content": merged[-1]["content"] + "\n" + content}
            else:
                merged.append({"role": role, "content": content})
    return merged, system


def _conversation_pairs(row: dict, topic: str | None) -> list[dict]:
    payload = row["payload"]
    turns, system = merge_turns(payload["turns"])
    system = payload.get("system") or system
    pairs = []
    for i in range(len(turns) - 1):
        if turns[i]["role"] == "user" and turns[i + 1]["role"] == "assistant":
            pairs.append(make_pair(
                turns[i]["content"], turns[i + 1]["content"], origin="extracted", context=turns[:i],
                system=system, topic=payload.get("topic") or topic, source_id=row["source_id"],
                raw_log_id=row["id"], lineage={"turn": i}))
    return pairs


def _thread_pairs(messages: list[dict], topic: str | None) -> list[dict]:
    """Messages linked by reply ids → threads → a pair for each customer message an agent answered."""
    by_id = {m["payload"]["message_id"]: m for m in messages}

    def text(m: dict) -> str:
        return _LEADING_HANDLES.sub("", m["payload"]["text"]).strip()

    def ancestors(m: dict) -> list[dict]:
        chain, seen = [], {m["payload"]["message_id"]}
        parent = by_id.get(m["payload"].get("parent_id"))
        while parent is not None and parent["payload"]["message_id"] not in seen:
            seen.add(parent["payload"]["message_id"])
            chain.append(parent)
            parent = by_id.get(parent["payload"].get("parent_id"))
        return chain[::-1]

    pairs = []
    for answer in messages:
        question = by_id.get(answer["payload"].get("parent_id"))
        if answer["payload"]["role"] != "assistant" or question is None or question["payload"]["role"] != "user":
            continue
        instruction, response = text(question), text(answer)
        if not instruction or not response:
            continue
        context, _ = merge_turns([{"role": m["payload"]["role"], "content": text(m)} for m in ancestors(question)])
        thread_root = (ancestors(question) or [question])[0]["payload"]["message_id"]
        pairs.append(make_pair(
            instruction, response, origin="extracted", context=context, topic=topic,
            source_id=answer["source_id"], raw_log_id=answer["id"],
            lineage={"question_raw_log_id": question["id"], "thread": thread_root}))
    return pairs


# --------------------------------------------------------------------------- extraction (store)
@dataclass
class ExtractReport:
    sources: int = 0
    pairs_new: int = 0
    pairs_existing: int = 0
    by_source: dict = field(default_factory=dict)

    def summary(self) -> str:
        return (f"{self.sources} source(s): {self.pairs_new} new pair(s),"
                f" {self.pairs_existing} already in the store")


def extract(store: Store, *, all_sources: bool = False, topic: str | None = None,
            show_progress: bool = False) -> ExtractReport:
    """Turn imported raw logs into pairs: every source that stored raw logs since it was last
    extracted, whatever its state (all of them with all_sources). A source is extracted whole
    (a reply thread may span its batches); pairs already stored are not stored again."""
    report = ExtractReport()
    sources = store.rows(
        "SELECT id, name, topic, rows_stored FROM sources WHERE rows_stored > 0"
        + ("" if all_sources else " AND rows_stored > coalesce(extracted_rows, 0)")
        + " ORDER BY id")
    with store.job("pairs.extract", {"all": all_sources, "topic": topic}) as job:
        for i, source in enumerate(tqdm(sources, desc="extract", unit="source", disable=not show_progress)):
            rows = store.rows(
                "SELECT id, source_id, kind, payload FROM raw_logs WHERE source_id = ? AND kind <> 'document'"
                " ORDER BY id", [source["id"]])
            for row in rows:
                row["payload"] = json.loads(row["payload"])
            pairs = pairs_from_raw_logs(rows, topic or source["topic"])
            new = insert_pairs(store, pairs, mark_source=(source["id"], source["rows_stored"]))
            report.sources += 1
            report.pairs_new += new
            report.pairs_existing += len(pairs) - new
            report.by_source[source["name"]] = new
            job.heartbeat((i + 1) / len(sources), f"{source['name']}: {new} new pairs")
    return report
