"""Instruction–response pairs: extraction from raw logs, and search over them.

Extraction is a pure function over one source's raw logs (`pairs_from_raw_logs`), with the store
read before and written after. Q&A records become one pair each; in a conversation every user
turn and the assistant turn that answers it become a pair, the earlier turns kept as context;
messages linked by reply ids (tweets, tickets) are rebuilt into threads first.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from tqdm.auto import tqdm

from curate.store import Store

ORIGINS = ("extracted", "generated", "offtopic", "edited", "redacted")
_LEADING_HANDLES = re.compile(r"^(?:@\w+\s+)+")


def pair_hash(instruction: str, response: str, input: str | None = None,
              context: list | None = None, system: str | None = None) -> str:
    blob = json.dumps([instruction, input or "", response, context or [], system or ""], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def make_pair(instruction: str, response: str, *, origin: str, input: str | None = None,
              context: list | None = None, system: str | None = None, topic: str | None = None,
              source_id: int | None = None, raw_log_id: int | None = None, parent_id: int | None = None,
              lineage: dict | None = None) -> dict[str, Any]:
    """A pair as a row of the pairs table (without id/status/created_at)."""
    return {
        "instruction": instruction, "input": input or None, "response": response,
        "context": context or None, "system": system, "topic": topic, "origin": origin,
        "source_id": source_id, "raw_log_id": raw_log_id, "parent_id": parent_id,
        "lineage": lineage or None,
        "content_hash": pair_hash(instruction, response, input, context, system),
    }


# --------------------------------------------------------------------------- statuses
# The one vocabulary of pair statuses, and the only place that writes them in SQL.
NEW = "new"              # extracted, generated or edited; waiting for ratings
FLAGGED = "flagged"      # sent back by evaluation, training losses or an A/B loss: rate it again
APPROVED = "approved"    # by the approval rule or a reviewer: goes into dataset versions
REJECTED = "rejected"    # by a reviewer, or a withdrawn edit
DUPLICATE = "duplicate"  # another member of its duplicate cluster is kept
REDACTED = "redacted"    # replaced by its version with personal data taken out (origin redacted)
STATUSES = (NEW, FLAGGED, APPROVED, REJECTED, DUPLICATE, REDACTED)
RETIRED = (DUPLICATE, REJECTED, REDACTED)   # out of play: not deduped, rated, generated from or measured
SETTLED = (*RETIRED, APPROVED)    # nothing left to rate


def _quoted(statuses: tuple[str, ...]) -> str:
    for s in statuses:
        if s not in STATUSES:
            raise ValueError(f"unknown pair status {s!r}")
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"


def status_in(statuses: tuple[str, ...], alias: str = "p") -> str:
    """SQL condition: the pair's status is one of these."""
    return f"{alias}.status IN {_quoted(statuses)}"


def status_not_in(statuses: tuple[str, ...], alias: str = "p") -> str:
    """SQL condition: the pair's status is none of these."""
    return f"{alias}.status NOT IN {_quoted(statuses)}"


def active(alias: str = "p") -> str:
    """SQL condition: the pair is in play (not a duplicate, not rejected)."""
    return status_not_in(RETIRED, alias)


def to_rate(alias: str = "p") -> str:
    """SQL condition: the pair may still be handed out for rating (active, not yet approved)."""
    return status_not_in(SETTLED, alias)


def set_status(con, pair_ids, status: str, *, unless: tuple[str, ...] = ()) -> int:
    """Give pairs a status inside the caller's transaction, leaving those whose status is in
    `unless` as they are. Returns how many changed."""
    ids = list(pair_ids)
    if not ids:
        return 0
    _quoted((status, *unless))
    keep = f" AND {status_not_in(unless, 'pairs')}" if unless else ""
    return con.execute(f"UPDATE pairs SET status = ? WHERE list_contains(?, id){keep}", [status, ids]).fetchone()[0]


def restore_status(con, previous: dict[int, str], *, only_from: str) -> None:
    """Put back each pair's previous status, where it still has `only_from` (undoing a change)."""
    if previous:
        _quoted((only_from, *previous.values()))
        con.execute("UPDATE pairs p SET status = r.prev FROM (SELECT unnest(?::BIGINT[]) AS id,"
                    " unnest(?::VARCHAR[]) AS prev) r WHERE p.id = r.id AND p.status = ?",
                    [list(previous), list(previous.values()), only_from])


def send_to_review(con, pair_ids) -> int:
    """Put pairs back in the rating queue (flagged), inside the caller's transaction.
    Duplicates and rejected pairs stay as they are."""
    return set_status(con, pair_ids, FLAGGED, unless=RETIRED)


# --------------------------------------------------------------------------- conversations
# A conversation's pairs share a key: a reply thread's root (within its source), else the raw log
# they came from (a chat), else the pair alone. Turn order within it: the number of earlier turns.
CONVERSATION_KEY = ("CASE WHEN {a}.lineage->>'thread' IS NOT NULL THEN {a}.source_id || ':' || ({a}.lineage->>'thread')"
                    " WHEN {a}.raw_log_id IS NOT NULL THEN 'log:' || {a}.raw_log_id ELSE 'pair:' || {a}.id END")


def conversation_key_sql(alias: str = "p") -> str:
    """SQL for a pair's conversation key (the same string as conversation_key)."""
    return CONVERSATION_KEY.format(a=alias)


def conversation_key(pair: dict) -> str:
    lineage = pair.get("lineage")
    lineage = json.loads(lineage) if isinstance(lineage, str) else (lineage or {})
    if lineage.get("thread") is not None:
        return f"{pair['source_id']}:{lineage['thread']}"
    return f"log:{pair['raw_log_id']}" if pair.get("raw_log_id") else f"pair:{pair['id']}"


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
    """Turn imported raw logs into pairs (sources not yet extracted; all with all_sources)."""
    report = ExtractReport()
    sources = store.rows(
        "SELECT id, name, topic FROM sources WHERE status = 'complete'"
        + ("" if all_sources else " AND (extracted_at IS NULL OR extracted_at < completed_at)")
        + " ORDER BY id")
    with store.job("pairs.extract", {"all": all_sources, "topic": topic}) as job:
        for i, source in enumerate(tqdm(sources, desc="extract", unit="source", disable=not show_progress)):
            rows = store.rows(
                "SELECT id, source_id, kind, payload FROM raw_logs WHERE source_id = ? AND kind <> 'document'"
                " ORDER BY id", [source["id"]])
            for row in rows:
                row["payload"] = json.loads(row["payload"])
            pairs = pairs_from_raw_logs(rows, topic or source["topic"])
            new = insert_pairs(store, pairs, mark_source=source["id"])
            report.sources += 1
            report.pairs_new += new
            report.pairs_existing += len(pairs) - new
            report.by_source[source["name"]] = new
            job.heartbeat((i + 1) / len(sources), f"{source['name']}: {new} new pairs")
    return report


def insert_pairs(store: Store, pairs: list[dict], mark_source: int | None = None) -> int:
    """Store pairs not already present (by content hash), in one transaction. Returns how many."""
    with store.transaction() as con:
        hashes = list({p["content_hash"] for p in pairs})
        present = {r[0] for r in con.execute(
            "SELECT content_hash FROM pairs WHERE content_hash IN (SELECT unnest(?::VARCHAR[]))",
            [hashes]).fetchall()} if hashes else set()
        new, seen = [], set(present)
        for p in pairs:
            if p["content_hash"] not in seen:
                seen.add(p["content_hash"])
                new.append(p)
        if new:
            columns = list(new[0])
            table = pa.table({
                c: pa.array([_cell(p[c]) for p in new],
                            pa.int64() if c.endswith("_id") else pa.string())
                for c in columns})
            con.register("_new_pairs", table)
            con.execute(f"INSERT INTO pairs ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _new_pairs")
            con.unregister("_new_pairs")
        if mark_source is not None:
            con.execute("UPDATE sources SET extracted_at = current_timestamp WHERE id = ?", [mark_source])
    return len(new)


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


# --------------------------------------------------------------------------- search
def search(store: Store, text: str | None = None, origin: str | None = None, status: str | None = None,
           source_id: int | None = None, page: int = 1, page_size: int = 50):
    """One page of pairs matching the filters (paginated in SQL) and the total count."""
    where, params = [], []
    if text:   # a literal, case-insensitive substring: half the time of ILIKE with an ESCAPE clause at 1M pairs
        where.append("(contains(lower(p.instruction), lower(?)) OR contains(lower(p.response), lower(?)))")
        params += [text, text]
    for column, value in (("origin", origin), ("status", status), ("source_id", source_id)):
        if value not in (None, ""):
            where.append(f"p.{column} = ?")
            params.append(value)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    page = max(1, page)
    with store.connect():   # one turn at the store for the count and the page
        total = store.scalar(f"SELECT count(*) FROM pairs p{clause}", params)
        frame = store.frame(
            "SELECT p.id, p.instruction, p.response, p.topic, p.origin, p.status, s.name AS source,"
            " p.raw_log_id, p.created_at FROM pairs p LEFT JOIN sources s ON s.id = p.source_id"
            f"{clause} ORDER BY p.id LIMIT ? OFFSET ?", params + [page_size, (page - 1) * page_size])
    return frame, total
