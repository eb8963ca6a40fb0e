"""The import in bulk: records as Arrow tables ("rows"), normalized by DuckDB where they are plain.

Most of an import's time went into Python: parsing each line, normalizing it, serializing and
hashing it, one record at a time (benchmarks/ingest.py). For the common, well-formed case — a
record with exactly a question and an answer, both text — DuckDB does that work in bulk, in an
in-memory database of its own (the store is not held while it runs): it writes the payload and
the content hash exactly as curate.records does. Every record it is not sure of (other fields, a
value that is not text, blank text, control characters, invalid JSON, anything unusual) goes to
the caller's per-record normalizer, which rejects it with file:line:reason or normalizes it. So
the stored rows, their hashes and the rejects are the same as without the bulk path
(tests/test_ingest_bulk.py compares them), and batching, resume and kill safety are unchanged.

Two sources use it: JSON lines (`records`: DuckDB also parses the lines, a block at a time) and
CSV/TSV files whose header is a question and an answer column (`settle`: the reader parses, DuckDB
normalizes a chunk at a time). Whatever the source, the import writes `ROWS` tables.
"""
from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from curate.ingest import textio
from curate.ingest.jsondoc import CUT_OFF, jsonl_item
from curate.ingest.records import Normalized, kind_for, resolve_fields
from curate.ingest.textio import Item

BLOCK_BYTES = 32 << 20    # lines parsed by DuckDB at a time

# What the import writes, a record a row in file order: a normalized record (kind, payload, hash)
# or a reject (error, excerpt).
ROWS = pa.schema([("line", pa.int64()), ("kind", pa.string()), ("payload", pa.string()),
                  ("content_hash", pa.string()), ("error", pa.string()), ("excerpt", pa.string())])

Fallback = Callable[[Item], tuple[Item, Normalized | None]]

# payload and hash as curate.records.Normalized writes them: json.dumps(payload, ensure_ascii=False)
# and sha256 of json.dumps({"kind": …, **payload}, sort_keys=True, ensure_ascii=False). DuckDB's
# JSON strings escape as Python's do except control characters (hex case), which stay off this path.
# `pairs(n, q, a)` holds the candidates; the ones not plain enough come back with fast = false.
_NORMALIZE = """
plain AS (
    SELECT n, q, a FROM pairs
    WHERE regexp_matches(q, '[\\p{L}\\p{N}\\p{P}\\p{S}]') AND regexp_matches(a, '[\\p{L}\\p{N}\\p{P}\\p{S}]')
      AND NOT regexp_matches(q || a, '[\\x00-\\x07\\x0b\\x0e-\\x1f]'))
SELECT c.n AS line, p.n IS NOT NULL AS fast, 'qa' AS kind,
       '{"instruction": ' || to_json(p.q)::VARCHAR || ', "response": ' || to_json(p.a)::VARCHAR || '}' AS payload,
       sha256('{"instruction": ' || to_json(p.q)::VARCHAR || ', "kind": "qa", "response": ' || to_json(p.a)::VARCHAR
              || '}') AS content_hash
FROM candidates c LEFT JOIN plain p ON p.n = c.n ORDER BY c.n"""

# JSON lines: the JSON functions see valid JSON only (they raise on anything else) — and no trailing
# comma, which DuckDB's parser allows and Python's does not, so such a line takes the per-record
# path and is rejected there (a comma before a closing bracket inside a string costs only speed); one parse each
# for the keys and their types, the key count (duplicates) and the two values.
_JSON_LINES = """
WITH candidates AS (SELECT n FROM lines),
fields AS (
    SELECT n, list_contains($structures, json_structure(t)::VARCHAR) AND len(json_keys(t)) = 2 AS shaped,
           json_extract_string(t, [$q_path, $a_path]) AS v
    FROM lines WHERE json_valid(t) AND NOT regexp_matches(t, ',\\s*[}\\]]')),   -- trailing commas: Python rejects them
pairs AS (SELECT n, v[1] AS q, v[2] AS a FROM fields WHERE shaped),
""" + _NORMALIZE

_VALUES = "WITH candidates AS (SELECT n FROM pairs),\n" + _NORMALIZE


class Pending:
    """A record with a question and an answer as text, left for `settle` to normalize in bulk."""
    __slots__ = ("question", "answer")

    def __init__(self, question: str, answer: str):
        self.question, self.answer = question, answer


def two_text_fields(columns: list, mapping: dict, shape: str, redact: bool) -> list[str] | None:
    """[question field, answer field] when records with exactly these fields are plain Q&A the
    bulk path can normalize (no --redact, no other shape), else None."""
    if redact or shape not in ("auto", "alpaca") or len(columns) != 2 or not all(isinstance(k, str) for k in columns):
        return None
    if len({k.lower() for k in columns}) != 2 or any('"' in k or "\\" in k for k in columns):
        return None
    roles = resolve_fields(columns, mapping, shape)
    if kind_for(roles, shape) != "qa" or {roles.get("instruction"), roles.get("response")} != set(columns):
        return None
    return [roles["instruction"], roles["response"]]


def plan(path: Path, encoding: str, mapping: dict, shape: str, redact: bool) -> list[str] | None:
    """The JSON lines file's two fields when the bulk path fits it, else None: UTF-8 JSON lines
    whose first record is a flat object with exactly a question and an answer field."""
    if encoding != "utf-8":
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
    if not isinstance(first, dict) or not all(isinstance(v, str) for v in first.values()):
        return None
    return two_text_fields(list(first), mapping, shape, redact)


def rows(pairs: list[tuple[Item, Normalized | None]]) -> pa.Table:
    """Records normalized one by one (or rejected), as ROWS."""
    good = [rec is not None for _, rec in pairs]
    return pa.table({
        "line": [item.line for item, _ in pairs],
        "kind": [rec.kind if rec else None for _, rec in pairs],
        "payload": [json.dumps(rec.payload, ensure_ascii=False) if rec else None for _, rec in pairs],
        "content_hash": [rec.content_hash if rec else None for _, rec in pairs],
        "error": [None if ok else item.error or "could not be read" for ok, (item, _) in zip(good, pairs)],
        "excerpt": [None if ok else item.excerpt for ok, (item, _) in zip(good, pairs)],
    }, schema=ROWS)


class Settler:
    """Normalizes chunks of records in which some are Pending, with one in-memory DuckDB."""

    def __init__(self) -> None:
        self._con = None

    def settle(self, pairs: list[tuple[Item, Normalized | Pending | None]], fallback: Fallback) -> pa.Table:
        """ROWS for the chunk: Pending records normalized by DuckDB, or by `fallback` where they
        are not plain; the others as they are."""
        pending = [k for k, (_, rec) in enumerate(pairs) if isinstance(rec, Pending)]
        if not pending:
            return rows(pairs)
        if self._con is None:
            import duckdb
            self._con = duckdb.connect()
        table = pa.table({"n": pa.array(pending, pa.int64()),
                          "q": [pairs[k][1].question for k in pending], "a": [pairs[k][1].answer for k in pending]})
        self._con.register("pairs", table)
        found = self._con.sql(_VALUES).to_arrow_table()
        self._con.unregister("pairs")
        found = found.filter(found.column("fast"))
        done = found.column("line").to_pylist()   # positions in the chunk
        lines = pa.array([pairs[k][0].line for k in done], pa.int64())
        fast = set(done)
        slow = [k for k in range(len(pairs)) if k not in fast]
        others = [fallback(pairs[k][0]) if isinstance(pairs[k][1], Pending) else pairs[k] for k in slow]
        return _in_order(_as_rows(found, lines), done, rows(others), slow)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def records(path: Path, fields: list[str], fallback: Fallback) -> Iterator[pa.Table]:
    """ROWS for the JSON lines file, a block at a time: the lines DuckDB normalized, and the others
    through `fallback`. Blank lines are skipped as the reader skips them; a line over the record
    limit is a reject, as in the reader."""
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
                if cut == 0 and len(data) <= textio.MAX_RECORD_BYTES:
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
            if kept:
                yield _block(con, numbers, kept, args, cut_off, fallback)
            if not block:
                return


def _block(con, numbers: list[int], lines: list[str], args: dict, cut_off: int | None, fallback: Fallback) -> pa.Table:
    limit = textio.MAX_RECORD_BYTES
    oversize = [len(t) > limit // 4 and len(t.encode("utf-8", "surrogateescape")) >= limit for t in lines]
    # lone surrogates (undecodable bytes) cannot go into DuckDB: their lines take the slow path
    safe = [t if not (bad or _undecodable(t)) else "" for t, bad in zip(lines, oversize)]
    con.register("lines", pa.table({"n": pa.array(numbers, pa.int64()), "t": pa.array(safe, pa.string())}))
    found = con.sql(_JSON_LINES, params=args).to_arrow_table()
    con.unregister("lines")
    fast = found.column("fast")
    others = []
    for k in (k for k, ok in enumerate(fast.to_pylist()) if not ok):
        number, line = numbers[k], lines[k]
        if oversize[k]:
            size = len(line.encode("utf-8", "surrogateescape")) + 1   # with its line ending, as the reader counts
            error = f"line is {size / 2**20:.1f} MiB, over the {limit // 2**20} MiB record limit"
            others.append((number, (Item(number, error=error), None)))
            continue
        item = jsonl_item(number, line)
        if number == cut_off and item.error and item.error.startswith("invalid JSON"):
            item.error += CUT_OFF
        others.append((number, (item, None) if item.error else fallback(item)))
    found = found.filter(fast)
    lines = found.column("line")
    if not others:
        return _as_rows(found, lines)
    return _in_order(_as_rows(found, lines), lines.to_pylist(),
                     rows([pair for _, pair in others]), [number for number, _ in others])


def _as_rows(found: pa.Table, lines) -> pa.Table:
    n = found.num_rows
    return pa.table({"line": lines, "kind": found.column("kind"), "payload": found.column("payload"),
                     "content_hash": found.column("content_hash"),
                     "error": pa.nulls(n, pa.string()), "excerpt": pa.nulls(n, pa.string())}, schema=ROWS)


def _in_order(fast: pa.Table, fast_at: list[int], others: pa.Table, others_at: list[int]) -> pa.Table:
    """The two parts of a chunk merged back into the order of their positions."""
    if others.num_rows == 0:
        return fast
    merged = pa.concat_tables([fast, others])
    order = sorted(range(merged.num_rows), key=(fast_at + others_at).__getitem__)
    return merged.take(pa.array(order, pa.int64()))


def _undecodable(text: str) -> bool:
    return not text.isascii() and any("\ud800" <= ch <= "\udfff" for ch in text)
