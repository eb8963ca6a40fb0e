"""Read files into records, one at a time, never giving up on a whole file for one bad record.

Each reader yields `Item`s: a record (a dict, or a document) with the line it starts on, or a
problem with that line and the reason. Bytes are decoded with `surrogateescape`, so one bad byte
rejects one record (naming the byte and column) instead of the file.
"""
from __future__ import annotations

import codecs
import csv
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import TuneloopError

# A record larger than this is refused (its line is named); the reader skips past it.
MAX_RECORD_BYTES = 8 * 1024 * 1024
# Enough of the file to tell its encoding and line endings.
SNIFF_BYTES = 2 * 1024 * 1024
EXCERPT_CHARS = 200
# Non-UTF-8 lines a file needs before it is read as another encoding (Windows-1252, …).
MIN_LINES_FOR_ANOTHER_ENCODING = 3

CONTAINERS = ("jsonl", "json", "csv", "tsv", "parquet", "text")
DOC_SPLITS = ("auto", "file", "heading")   # documents: one per file, or one per heading (auto: by heading for markdown)
EXTENSIONS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".txt": "text", ".md": "text", ".markdown": "text",
}
# Stand-in for a bare carriage return inside a CSV line while the csv module parses it.
_CR = "\ue000"


@dataclass
class Item:
    line: int | None
    value: Any = None          # a dict for a record
    error: str | None = None   # why this line was refused
    excerpt: str | None = None
    top_level: bool = False    # the one object a JSON file holds (records, a record or prose)
    notice: str | None = None  # not a record: something the reader noticed about the whole file


class FileRefused(TuneloopError):
    """Nothing in the file can be read (empty, unreadable, wrong kind)."""


def excerpt(text: str | bytes | None) -> str | None:
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "\\0")
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def text_problem(text: str) -> str | None:
    """Why a decoded piece of text can't be stored: an undecodable byte or a NUL."""
    if text.isascii() and "\x00" not in text:
        return None
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return f"invalid UTF-8 byte 0x{ord(ch) - 0xDC00:02X} at column {i + 1}"
        if "\ud800" <= ch <= "\udfff":
            return f"an unpaired surrogate (\\u{ord(ch):04x}) at column {i + 1}: not valid Unicode"
        if ch == "\x00":
            return f"NUL byte at column {i + 1}"
    return None


def parse_json(text: str, what: str = "invalid JSON") -> tuple[Any, str | None]:
    """(value, None), or (None, why) for text the JSON parser cannot take: malformed, a number of
    more digits than Python converts, nesting deeper than it recurses, or anything else it raises."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{what}: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, f"{what}: nested deeper than the parser allows"
    except ValueError as exc:  # e.g. an integer of over 4,300 digits
        return None, f"{what}: {exc}"


# --------------------------------------------------------------------------- encoding
def sniff_encoding(path: Path) -> str:
    """utf-8 unless a BOM or the bytes say otherwise (a file mostly in another encoding)."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # Some lines are not UTF-8. A few bad lines in a UTF-8 file are rejected one by one; a file
    # where most non-ASCII lines fail is in another encoding, which charset-normalizer names.
    non_ascii = bad = 0
    for line in head.split(b"\n")[:-1] or [head]:
        if max(line, default=0) > 127:
            non_ascii += 1
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
    # A line or two of bad bytes in an otherwise ASCII file is damage, not another encoding: those
    # lines are rejected (naming the byte) rather than decoded into mojibake.
    if non_ascii >= MIN_LINES_FOR_ANOTHER_ENCODING and bad / non_ascii > 0.5:
        from charset_normalizer import from_bytes

        matches = list(from_bytes(head))
        if matches:
            # Short samples fit several code pages about equally; Windows-1252 is by far the most
            # common, so it wins whenever it reads the bytes nearly as cleanly as the best guess.
            for match in matches:
                if "cp1252" in match.could_be_from_charset and match.chaos <= matches[0].chaos + 0.05:
                    return "cp1252"
            return matches[0].encoding
    return "utf-8"


def iter_lines(path: Path, encoding: str) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text without its line ending, problem) for each physical line."""
    if encoding in ("utf-16", "utf-32"):
        text = path.read_bytes().decode(encoding, "surrogateescape")
        for n, line in enumerate(text.splitlines(), 1):
            yield n, line, None
        return
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if b"\n" not in head and b"\r" in head:  # old Mac line endings: CR alone ends a line
        for n, raw in enumerate(path.read_bytes().split(b"\r"), 1):
            yield n, _decode(raw, encoding, n == 1), None
        return
    with open(path, "rb") as fh:
        n = 0
        while True:
            raw = fh.readline(MAX_RECORD_BYTES + 1)
            if not raw:
                return
            n += 1
            if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
                size = len(raw)
                while raw and not raw.endswith(b"\n"):  # skip the rest of the huge line
                    raw = fh.readline(MAX_RECORD_BYTES)
                    size += len(raw)
                yield n, None, f"line is {size / 2**20:.1f} MiB, over the {MAX_RECORD_BYTES // 2**20} MiB record limit"
                continue
            yield n, _decode(raw.rstrip(b"\n").rstrip(b"\r"), encoding, n == 1), None


def _decode(raw: bytes, encoding: str, first: bool) -> str:
    text = raw.decode(encoding, "surrogateescape")
    return text.lstrip("\ufeff") if first else text


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
                return "jsonl"  # a whole object on the first line: JSON lines
            except json.JSONDecodeError:
                return "json" if container == "json" else "jsonl"
        if container is None:
            return "text"
    return container


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


CUT_OFF = " (the last line is cut off; is the file truncated?)"


def jsonl_item(n: int, line: str) -> Item:
    """One non-blank line of a JSON lines file as an item: its object, or the reason it is refused."""
    bad = text_problem(line)
    if bad:
        return Item(n, error=bad, excerpt=excerpt(line))
    value, why = parse_json(line)
    if why:
        return Item(n, error=why, excerpt=excerpt(line))
    if not isinstance(value, dict):
        return Item(n, error=f"expected a JSON object, found {_json_type(value)}", excerpt=excerpt(line))
    bad = _first_text_problem(value)  # an escape such as \u0000 or \ud800 inside a string
    return Item(n, error=bad, excerpt=excerpt(line)) if bad else Item(n, value)


def _ends_without_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) != b"\n"


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def read_json(path: Path, encoding: str) -> Iterator[Item]:
    """A JSON document: an array of records (read item by item, so a broken item costs only
    itself and what follows), an object holding such an array, one record, or prose."""
    raw = path.read_bytes()
    if len(raw) > 64 * MAX_RECORD_BYTES * 8:
        raise FileRefused(f"JSON document is {len(raw) / 2**20:.0f} MiB; convert it to JSON lines")
    text = raw.decode(encoding, "surrogateescape").lstrip("\ufeff")
    if not text.strip():
        raise FileRefused("file is empty")
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    if text[start] != "[":
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            raise FileRefused(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:
            raise FileRefused(f"invalid JSON: {'nested too deep' if isinstance(exc, RecursionError) else exc}") from None
        if text[end:].strip():
            more = text[:end].count("\n") + 1
            raise FileRefused(f"extra data after the JSON value at line {more}; is this JSON lines?")
        if isinstance(value, dict):
            yield Item(text.count("\n", 0, start) + 1, value, top_level=True)
            return
        raise FileRefused(f"expected a JSON array or object, found {_json_type(value)}")
    pos = start + 1
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            yield Item(text.count("\n", 0, pos) + 1, error="the JSON array is not closed; is the file truncated?")
            return
        if text[pos] == "]":
            return
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield Item(line, error=f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg};"
                       " the rest of the array could not be read", excerpt=excerpt(text[pos:pos + 200]))
            return
        except (RecursionError, ValueError) as exc:
            why = "nested deeper than the parser allows" if isinstance(exc, RecursionError) else str(exc)
            yield Item(line, error=f"invalid JSON: {why}; the rest of the array could not be read",
                       excerpt=excerpt(text[pos:pos + 200]))
            return
        if isinstance(value, dict):
            bad = _first_text_problem(value)
            yield Item(line, error=bad, excerpt=excerpt(json.dumps(value)[:200])) if bad else Item(line, value)
        else:
            yield Item(line, error=f"expected a JSON object, found {_json_type(value)}", excerpt=excerpt(json.dumps(value)))
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _first_text_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, dict):
        items = list(value.keys()) + list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        bad = _first_text_problem(item)
        if bad:
            return bad
    return None


def read_delimited(path: Path, encoding: str, delimiter: str) -> Iterator[Item]:
    """CSV or TSV with a header row. A bare carriage return inside a line is kept as text.

    A quote that is never closed would make the csv module swallow every line after it into one
    field. So a record that spans several lines is checked: an odd number of quote characters
    (never closed), or two or more of its inner lines that read as whole rows on their own, mean
    a stray quote. Its first line is rejected and reading starts again at the next line. At the
    end, a notice says how many lines the file had against how many records were read."""
    csv.field_size_limit(MAX_RECORD_BYTES)
    kind = "TSV" if delimiter == "\t" else "CSV"
    source = iter_lines(path, encoding)
    pushed: deque[tuple[int, str | None, str | None]] = deque()
    consumed: list[tuple[int, str]] = []   # the physical lines of the record being read
    problems: dict[int, str] = {}
    stats = {"lines": 0, "records": 0, "multi": 0, "recovered": 0}

    def feed() -> Iterator[str]:
        while True:
            if pushed:
                n, line, problem = pushed.popleft()
            else:
                try:
                    n, line, problem = next(source)
                except StopIteration:
                    return
                if line is not None and line.strip():
                    stats["lines"] += 1
            if problem:
                problems[n] = problem
                line = ""
            consumed.append((n, line))
            yield line.replace("\r", _CR) + "\n"

    reader = csv.reader(feed(), delimiter=delimiter)
    header: list[str] | None = None
    while True:
        consumed.clear()
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield Item(consumed[0][0] if consumed else None, error=f"unreadable {kind} row: {exc}")
            continue
        start = consumed[0][0]
        if start in problems:
            yield Item(start, error=problems.pop(start))
            continue
        row = [cell.replace(_CR, "\r") for cell in row]
        if header is None:
            if any(cell.strip() for cell in row):
                header = _unique_header(row)
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(consumed) > 1:
            stray = _stray_quote(consumed, delimiter, len(header))
            if stray:
                stats["recovered"] += 1
                yield Item(start, error=f"{stray}; this line is left out and reading goes on at line {start + 1}",
                           excerpt=excerpt(consumed[0][1]))
                pushed.extendleft((n, line, None) for n, line in reversed(consumed[1:]))
                reader = csv.reader(feed(), delimiter=delimiter)  # the old one may have read to the end
                continue
            stats["multi"] += 1
        stats["records"] += 1
        joined = delimiter.join(row)
        bad = text_problem(joined)
        if bad:
            yield Item(start, error=bad, excerpt=excerpt(joined))
        elif len(row) != len(header):
            yield Item(start, error=f"expected {len(header)} fields as in the header, found {len(row)}",
                       excerpt=excerpt(joined))
        else:
            yield Item(start, {k: v for k, v in zip(header, row) if k is not None})
    if header is None:
        raise FileRefused("file is empty" if not stats["lines"] else "no header row")
    rows_seen = stats["lines"] - 1
    if stats["recovered"] or stats["records"] != rows_seen:
        yield Item(None, notice=f"the file has {rows_seen} non-empty lines after the header and {stats['records']}"
                                f" records were read ({stats['multi']} span several lines, {stats['recovered']}"
                                " lines with a stray quote were left out)")


def _stray_quote(lines: list[tuple[int, str]], delimiter: str, fields: int) -> str | None:
    """Why a record spanning several lines looks like a stray quote rather than a quoted
    multi-line field, or None."""
    text = "\n".join(line for _, line in lines)
    if text.count('"') % 2:
        return f"a quote opened on line {lines[0][0]} is never closed"
    whole_rows = sum(1 for _, line in lines[1:] if _reads_as_a_row(line, delimiter, fields))
    if whole_rows >= 2:
        return (f"a quote on line {lines[0][0]} runs over {len(lines) - 1} lines, {whole_rows} of which read as"
                " rows of their own")
    return None


def _reads_as_a_row(line: str, delimiter: str, fields: int) -> bool:
    """A line that is a whole row by itself: the header's number of fields, the first one filled."""
    if line.count(delimiter) != fields - 1:
        return False
    cells = next(csv.reader([line], delimiter=delimiter), [])
    return len(cells) == fields and bool(cells[0].strip()) and sum(bool(c.strip()) for c in cells) >= 2


def _unique_header(row: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(row):
        name = name.strip() or ("index" if i == 0 else f"column_{i + 1}")
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


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


def read_items(path: Path, container: str, encoding: str, doc_split: str = "auto") -> Iterator[Item]:
    if container == "jsonl":
        return read_jsonl(path, encoding)
    if container == "json":
        return read_json(path, encoding)
    if container in ("csv", "tsv"):
        return read_delimited(path, encoding, "," if container == "csv" else "\t")
    if container == "parquet":
        return read_parquet(path)
    if container == "text":
        return read_text(path, encoding, doc_split)
    raise TuneloopError(f"unknown format {container!r}; choose one of {', '.join(CONTAINERS)}")

