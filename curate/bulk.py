"""The import's fast path for JSON lines of flat question/answer records.

Most of an import's time went into Python: parsing each line, normalizing it, serializing and
hashing it (benchmarks/ingest.py). For the common, well-formed case DuckDB does that work in bulk,
in an in-memory database of its own (the store is not held while it runs): it parses a block of
lines, checks each is an object with exactly the file's two text fields, and writes the payload
and the content hash exactly as curate.records does. Every line it is not sure of — invalid JSON,
other fields, a value that is not text, blank text, control characters, anything unusual — goes
through the ordinary per-record path, which rejects it with file:line:reason or normalizes it.
So the stored rows, their hashes and the rejects are the same as without the fast path
(tests/test_ingest_bulk.py compares them), and batching, resume and kill safety are unchanged.
"""
from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from curate import readers
from curate.readers import CUT_OFF, Item, jsonl_item
from curate.records import kind_for, resolve_fields

BLOCK_BYTES = 32 << 20    # lines parsed by DuckDB at a time

# payload and hash as curate.records.Normalized writes them: json.dumps(payload, ensure_ascii=False)
# and sha256 of json.dumps({"kind": …, **payload}, sort_keys=True, ensure_ascii=False). DuckDB's
# JSON strings escape as Python's do except control characters (hex case), which stay off this path.
_PLAN = """
WITH parsed AS (   -- the JSON functions below see valid JSON only (they raise on anything else)
    SELECT n, t FROM lines WHERE json_valid(t)),
fields AS (     -- one parse each: the keys and their types, the key count (duplicates), the two values
    SELECT n, list_contains($structures, json_structure(t)::VARCHAR) AND len(json_keys(t)) = 2 AS shaped,
           json_extract_string(t, [$q_path, $a_path]) AS v
    FROM parsed),
simple AS (
    SELECT n, v[1] AS q, v[2] AS a FROM fields
    WHERE shaped AND regexp_matches(q, '[\\p{L}\\p{N}\\p{P}\\p{S}]') AND regexp_matches(a, '[\\p{L}\\p{N}\\p{P}\\p{S}]')
      AND NOT regexp_matches(q || a, '[\\x00-\\x07\\x0b\\x0e-\\x1f]'))
SELECT l.n, s.n IS NOT NULL AS fast,
       '{"instruction": ' || to_json(s.q)::VARCHAR || ', "response": ' || to_json(s.a)::VARCHAR || '}' AS payload,
       sha256('{"instruction": ' || to_json(s.q)::VARCHAR || ', "kind": "qa", "response": ' || to_json(s.a)::VARCHAR
              || '}') AS content_hash
FROM lines l LEFT JOIN simple s ON s.n = l.n ORDER BY l.n"""


class Prepared:
    """A record normalized by DuckDB: what curate.ingest stores, already serialized and hashed."""
    __slots__ = ("kind", "payload_text", "content_hash")

    def __init__(self, payload_text: str, content_hash: str):
        self.kind, self.payload_text, self.content_hash = "qa", payload_text, content_hash


def plan(path: Path, encoding: str, mapping: dict, shape: str, redact: bool) -> list[str] | None:
    """The file's two fields (question column, answer column) when the fast path fits it, else None:
    UTF-8 JSON lines whose first record is a flat object with exactly a question and an answer field."""
    if redact or shape not in ("auto", "alpaca") or encoding != "utf-8":
        return None
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if b"\n" not in head and b"\r" in head:   # old Mac line endings
        return None
    for raw in head.split(b"\n")[:-1] or [head]:
        line = raw.decode("utf-8", "replace").lstrip("\ufeff").strip()
        if line:
            break
    else:
        return None
    try:
        first = json.loads(line)
    except ValueError:
        return None
    if not isinstance(first, dict) or len(first) != 2 or not all(isinstance(v, str) for v in first.values()):
        return None
    keys = list(first)
    if len({k.lower() for k in keys}) != 2 or any('"' in k or "\\" in k for k in keys):
        return None
    roles = resolve_fields(keys, mapping, shape)
    if kind_for(roles, shape) != "qa" or {roles.get("instruction"), roles.get("response")} != set(keys):
        return None
    return [roles["instruction"], roles["response"]]


def records(path: Path, fields: list[str]) -> Iterator[tuple[Item, Prepared | None]]:
    """(item, Prepared) for each line DuckDB normalized; (item, None) for the others, which the
    caller normalizes one by one (curate.ingest). Blank lines are skipped as the reader skips them;
    a line over the record limit is a reject, as in the reader."""
    import duckdb

    con = duckdb.connect()
    question, answer = fields
    args = {"structures": [json.dumps({k: "VARCHAR" for k in order}, separators=(",", ":"))
                           for order in (fields, fields[::-1])],
            "q_path": f'$."{question}"', "a_path": f'$."{answer}"'}
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    n, rest = 0, b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(BLOCK_BYTES)
            data = rest + block
            if block:
                cut = data.rfind(b"\n") + 1
                if cut == 0 and len(data) <= readers.MAX_RECORD_BYTES:
                    rest = data
                    continue
                data, rest = (data[:cut], data[cut:]) if cut else (data, b"")
            elif not data:
                return
            else:
                rest = b""
            text = decoder.decode(data, final=not block)
            if n == 0:
                text = text.lstrip("\ufeff")
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            numbers, kept = [], []
            for i, line in enumerate(lines, n + 1):
                line = line.rstrip("\r")
                if line.strip():
                    numbers.append(i)
                    kept.append(line)
            n += len(lines)
            cut_off = numbers[-1] if not block and numbers and not data.endswith(b"\n") else None
            yield from _block(con, numbers, kept, args, cut_off)
            if not block:
                return


def _block(con, numbers: list[int], lines: list[str], args: dict, cut_off: int | None
           ) -> Iterator[tuple[Item, Prepared | None]]:
    if not lines:
        return
    limit = readers.MAX_RECORD_BYTES
    oversize = [len(t) > limit // 4 and len(t.encode("utf-8", "surrogateescape")) >= limit for t in lines]
    # lone surrogates (undecodable bytes) cannot go into DuckDB: their lines take the slow path
    safe = [t if not (bad or _undecodable(t)) else "" for t, bad in zip(lines, oversize)]
    con.register("lines", pa.table({"n": pa.array(numbers, pa.int64()), "t": pa.array(safe, pa.string())}))
    found = con.sql(_PLAN, params=args).to_arrow_table()
    con.unregister("lines")
    fast, payload, digest = (found.column(c).to_pylist() for c in ("fast", "payload", "content_hash"))
    for k, (number, line) in enumerate(zip(numbers, lines)):
        if oversize[k]:
            size = len(line.encode("utf-8", "surrogateescape")) + 1   # with its line ending, as the reader counts
            yield Item(number, error=f"line is {size / 2**20:.1f} MiB, over the {limit // 2**20} MiB record limit"), None
        elif fast[k]:
            yield Item(number), Prepared(payload[k], digest[k])
        else:
            item = jsonl_item(number, line)
            if number == cut_off and item.error and item.error.startswith("invalid JSON"):
                item.error += CUT_OFF
            yield item, None


def _undecodable(text: str) -> bool:
    return not text.isascii() and any("\ud800" <= ch <= "\udfff" for ch in text)
