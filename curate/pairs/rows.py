"""A pair as a row: its content hash, the row a new pair becomes, storing new pairs, and the key
of the conversation it belongs to."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa

from curate.store import Store

ORIGINS = ("extracted", "generated", "offtopic", "edited", "redacted")


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


def version_of(pair: dict, *, origin: str, lineage: dict, **changed) -> dict[str, Any]:
    """A new version of a stored pair (an edit, a redaction): its fields as they were except those
    `changed` (instruction, response, input, context, system), linked to it by parent_id."""
    fields = {k: pair[k] for k in ("instruction", "response", "input", "context", "system")}
    if isinstance(fields["context"], str):
        fields["context"] = json.loads(fields["context"])
    fields.update(changed)
    return make_pair(fields.pop("instruction"), fields.pop("response"), origin=origin, **fields, topic=pair["topic"],
                     source_id=pair["source_id"], raw_log_id=pair["raw_log_id"], parent_id=pair["id"], lineage=lineage)


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


def insert_pairs(store: Store, pairs: list[dict], mark_source: tuple[int, int] | None = None) -> int:
    """Store pairs not already present (by content hash), in one transaction; `mark_source` (source
    id, raw logs read) records the extraction it came from. Returns how many were new."""
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
            con.execute("UPDATE sources SET extracted_at = current_timestamp, extracted_rows = ? WHERE id = ?",
                        [mark_source[1], mark_source[0]])
    return len(new)


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
