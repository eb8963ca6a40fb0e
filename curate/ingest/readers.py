"""Read files into records, one at a time, never giving up on a whole file for one bad record.

Each reader yields `Item`s: a record (a dict, or a document) with the line it starts on, or a
problem with that line and the reason (curate.ingest.textio decodes the bytes; CSV and TSV are
curate.ingest.delimited's).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from curate.errors import TuneloopError
from curate.ingest.archives import read_sheet
from curate.ingest.delimited import read_delimited, sniff_delimiter
from curate.ingest.jsondoc import CUT_OFF, IsRecord, jsonl_item, read_json
from curate.ingest.textio import (
    FileRefused,
    Item,
    excerpt,
    iter_lines,
    sniff_encoding,
    text_problem,
)

__all__ = ["FileRefused", "Item", "excerpt", "sniff_encoding"]   # read through this module too

CONTAINERS = ("jsonl", "json", "csv", "tsv", "parquet", "text")
DOC_SPLITS = ("auto", "file", "heading")   # documents: one per file, or one per heading (auto: by heading for markdown)
EXTENSIONS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".txt": "text", ".md": "text", ".markdown": "text",
}


# --------------------------------------------------------------------------- containers
def detect_container(path: Path, encoding: str) -> str:
    """The container format from the extension, checked against the first bytes."""
    container = EXTENSIONS.get(path.suffix.lower())
    if container in ("jsonl", "json", None):
        first = _first_nonblank_line(path, encoding)
        if first is None:
            return container or "text"
        stripped = first.lstrip()
        if stripped.startswith("["):
            return "json"
        if stripped.startswith("{"):
            try:
                json.loads(first)
            except json.JSONDecodeError:
                return "json" if container == "json" else "jsonl"
            # a whole object on the first line: JSON lines, unless it is the only line (one object
            # that is a record, or holds lists of them: the JSON document reader tells)
            return "jsonl" if container == "jsonl" or _lines_beyond(path, encoding, 1) else "json"
        if container is None:
            return "text"
    return container


def _lines_beyond(path: Path, encoding: str, count: int) -> bool:
    """Whether the file has more than `count` non-blank lines."""
    seen = 0
    for _, line, _problem in iter_lines(path, encoding):
        seen += bool(line and line.strip())
        if seen > count:
            return True
    return False


def _first_nonblank_line(path: Path, encoding: str) -> str | None:
    for _, line, _problem in iter_lines(path, encoding):
        if line is not None and line.strip():
            return line
    return None


def read_jsonl(path: Path, encoding: str) -> Iterator[Item]:
    cut_off = _ends_without_newline(path)
    pending: Item | None = None  # a JSON error, held back to see whether it is the last line
    for n, line, problem in iter_lines(path, encoding):
        if pending:
            yield pending
            pending = None
        if problem:
            yield Item(n, error=problem)
            continue
        if not line.strip():
            continue
        item = jsonl_item(n, line)
        if item.error and item.error.startswith("invalid JSON"):
            pending = item
            continue
        yield item
    if pending:
        if cut_off:
            pending.error += CUT_OFF
        yield pending


def _ends_without_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) != b"\n"


def read_parquet(path: Path) -> Iterator[Item]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise FileRefused(f"not a readable Parquet file: {exc}") from None
    n = 0
    for group in range(pf.metadata.num_row_groups):
        expected = pf.metadata.row_group(group).num_rows
        first = n + 1
        try:  # a row group is read whole and checked, so columns can never slip against each other
            table = pf.read_row_group(group)
            lengths = {len(column) for column in table.columns}
            if table.num_rows != expected or lengths - {expected}:
                raise ValueError(f"{table.num_rows} rows and columns of {sorted(lengths)} where the footer says {expected}")
            rows = table.to_pylist()
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for corrupt pages
            n += expected
            yield Item(first, error=f"row group {group + 1} (rows {first}–{n}) cannot be read: {exc}"[:500])
            continue
        for row in rows:
            n += 1
            yield Item(n, row)


_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


def read_text(path: Path, encoding: str, split: str = "auto") -> Iterator[Item]:
    """Plain documents: one per file, or (markdown, or split='heading') one per heading."""
    by_heading = split == "heading" or (split == "auto" and path.suffix.lower() in (".md", ".markdown"))
    title, start, body = path.stem, 1, []
    any_line = False
    for n, line, problem in iter_lines(path, encoding):
        any_line = True
        if problem:
            yield Item(n, error=problem)
            continue
        match = _HEADING.match(line) if by_heading else None
        if match:
            yield from _document(path, title, start, body)
            title, start, body = match.group(2), n, [line]
        else:
            body.append(line)
    if not any_line:
        raise FileRefused("file is empty")
    yield from _document(path, title, start, body)


def _document(path: Path, title: str, line: int, body: list[str]) -> Iterator[Item]:
    text = "\n".join(body).strip()
    if not text:
        return
    bad = text_problem(text)
    if bad:
        yield Item(line, error=f"document '{excerpt(title)}': {bad}", excerpt=excerpt(text))
    else:
        yield Item(line, {"title": title, "text": text, "file": path.name})


def read_items(path: Path, container: str, encoding: str, doc_split: str = "auto",
               is_record: IsRecord = lambda record: True, records: str | None = None,
               sheet: str | None = None) -> Iterator[Item]:
    """The file's items by its container; a JSON document asks `is_record` which objects are records
    (and `records` names the list of them)."""
    if container == "jsonl":
        return read_jsonl(path, encoding)
    if container == "json":
        return read_json(path, encoding, is_record, records)
    if container in ("csv", "tsv"):
        return read_delimited(path, encoding, sniff_delimiter(path, encoding, "," if container == "csv" else "\t"))
    if container == "xlsx":
        return read_sheet(path, sheet)
    if container == "parquet":
        return read_parquet(path)
    if container == "text":
        return read_text(path, encoding, doc_split)
    raise TuneloopError(f"unknown format {container!r}; choose one of {', '.join(CONTAINERS)}")
