"""JSON documents: every record a file holds, each with the line it starts on.

A file may hold an array of records, several arrays, an array followed by JSON lines, one record,
an object holding lists of records (at any depth: `{"data": {"items": [...]}}`, or several:
`{"faq": [...], "tickets": [...]}`), or prose. Every object in every list of objects is read —
the ones that are not records become rejects with their reason, never a silent omission — and
`--records PATH` (a dotted path such as `data.items`) points at the list where the structure is
unusual. An object holding lists of objects none of which is a record is refused with one line
saying what it found. Line numbers come from one sorted list of line starts (bisect), so a
200,000-record array is read in linear time.
"""
from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from curate.ingest.textio import FileRefused, Item, decode_all, excerpt, parse_json, text_problem

IsRecord = Callable[[dict], bool]
_NEWLINE = re.compile("\n")
_WS = " \t\r\n"
MAX_DOCUMENT_BYTES = 4 << 30   # a document is read whole (its text and line starts in memory); JSON lines stream


class _Text:
    """The document's text and where its lines start."""

    def __init__(self, text: str):
        self.text = text
        self.newlines = [m.start() for m in _NEWLINE.finditer(text)]

    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        return pos


def read_json(path: Path, encoding: str, is_record: IsRecord, records: str | None = None) -> Iterator[Item]:
    """Items for every record in a JSON document (see the module docstring)."""
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise FileRefused(f"JSON document is {size / 2**20:.0f} MiB; convert it to JSON lines")
    raw = path.read_bytes()
    doc = _Text(decode_all(raw, encoding).lstrip("\ufeff"))
    pos = doc.skip(0)
    if pos >= len(doc.text):
        raise FileRefused("file is empty")
    decoder = json.JSONDecoder()
    first = True
    while pos < len(doc.text):
        if doc.text[pos] == "[":
            pos = yield from _array(doc, pos, decoder)
        elif doc.text[pos] == "{":
            try:
                value, end = _decode(decoder, doc.text, pos)
            except ValueError as exc:
                if first:
                    raise FileRefused(f"invalid JSON at line {doc.line(pos)}: {exc}") from None
                yield from _lines_from(doc, pos)   # what follows reads as JSON lines, each on its own
                return
            yield from _object(doc, pos, value, is_record, records, decoder)
            pos = end
        elif first:
            raise FileRefused("expected a JSON array or object, found " + _kind_at(doc.text, pos))
        else:
            yield from _lines_from(doc, pos)
            return
        first = False
        pos = doc.skip(pos)
        if pos < len(doc.text) and doc.text[pos] == ",":   # `[...],[...]`
            pos = doc.skip(pos + 1)


def _decode(decoder, text: str, pos: int) -> tuple[Any, int]:
    try:
        return decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError("nested deeper than the parser allows") from None


def _array(doc: _Text, pos: int, decoder) -> Iterator[Item]:
    """The items of the array starting at pos; returns the position after it."""
    text, pos = doc.text, pos + 1
    while True:
        pos = doc.skip(pos)
        if pos >= len(text):
            yield Item(doc.line(pos), error="the JSON array is not closed; is the file truncated?")
            return pos
        if text[pos] == "]":
            return pos + 1
        line = doc.line(pos)
        try:
            value, end = _decode(decoder, text, pos)
        except ValueError as exc:
            yield Item(line, error=f"invalid JSON: {exc}; the rest of the array could not be read",
                       excerpt=excerpt(text[pos:pos + 200]))
            return len(text)
        yield _element(line, value, text[pos:end])
        pos = doc.skip(end)
        if pos < len(text) and text[pos] == ",":
            pos += 1


def _element(line: int, value: Any, source: str, where: str = "") -> Item:
    if not isinstance(value, dict):
        return Item(line, error=f"{where}expected a JSON object, found {json_type(value)}", excerpt=excerpt(source))
    bad = first_text_problem(value)
    return Item(line, error=where + bad, excerpt=excerpt(source[:200])) if bad else Item(line, value)


def _object(doc: _Text, pos: int, value: Any, is_record: IsRecord, records: str | None, decoder) -> Iterator[Item]:
    """A top-level object: a record, the lists of records it holds, or prose (a document)."""
    if records:
        found = _located(doc, pos, records.strip().removeprefix("$.").split("."), decoder)
        if found is None:
            raise FileRefused(f"--records {records}: no list of records there; the object has "
                              + _describe(value))
        yield from (_element(doc.line(start), item, doc.text[start:end], f"{records}[{i}]: ")
                    for i, (start, end, item) in enumerate(found))
        return
    if is_record(value):
        yield Item(doc.line(pos), value)
        return
    lists = _object_lists(value)
    if not lists:
        yield Item(doc.line(pos), value, top_level=True)   # prose: the importer makes it a document
        return
    holding = {path for path, items in lists.items() if any(is_record(x) for x in items)}
    if not holding:
        if _has_prose(value):   # guidelines, a knowledge base: the importer makes it a document
            yield Item(doc.line(pos), value, top_level=True)
            return
        raise FileRefused(f"found {_describe(value)}, but no question/answer records and no prose; point at the"
                          " list of records with --records PATH")
    for path in lists:
        for i, (start, end, item) in enumerate(_located(doc, pos, list(path), decoder) or []):
            label = ".".join(path) + f"[{i}]"
            if path in holding:
                yield _element(doc.line(start), item, doc.text[start:end])
            else:
                yield Item(doc.line(start), error=f"{label}: not a question/answer record (fields:"
                           f" {', '.join(map(str, item))[:200]}); name the list of records with --records PATH",
                           excerpt=excerpt(doc.text[start:min(end, start + 200)]))


def _object_lists(value: dict, path: tuple = ()) -> dict[tuple, list]:
    """Every list of objects in nested objects (not inside lists), by its path of keys."""
    out: dict[tuple, list] = {}
    for key, child in value.items():
        if isinstance(child, list) and child and all(isinstance(x, dict) for x in child):
            out[(*path, str(key))] = child
        elif isinstance(child, dict):
            out.update(_object_lists(child, (*path, str(key))))
    return out


def _has_prose(value: Any) -> bool:
    """Whether a value holds a sentence somewhere (a string of five words or more)."""
    if isinstance(value, str):
        return len(value.split()) >= 5
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(_has_prose(child) for child in children)


def _describe(value: dict) -> str:
    lists = _object_lists(value)
    if not lists:
        return "no list of objects (keys: " + ", ".join(map(str, value))[:200] + ")"
    described = [f"list '{'.'.join(p)}' of {len(items)} objects (fields: {', '.join(map(str, items[0]))[:120]})"
                 for p, items in list(lists.items())[:3]]
    return "; ".join(described) + (f"; and {len(lists) - 3} more lists" if len(lists) > 3 else "")


def _located(doc: _Text, pos: int, path: list[str], decoder) -> list[tuple[int, int, Any]] | None:
    """(start, end, value) of each element of the list at `path` inside the object at pos, or None."""
    text = doc.text
    for key in path:
        if pos >= len(text) or text[pos] != "{":
            return None
        pos = doc.skip(pos + 1)
        while True:
            if pos >= len(text) or text[pos] == "}":
                return None
            name, pos = _decode(decoder, text, pos)
            pos = doc.skip(pos)
            pos = doc.skip(pos + 1)   # the colon
            if name == key:
                break
            _, pos = _decode(decoder, text, pos)
            pos = doc.skip(pos)
            if pos < len(text) and text[pos] == ",":
                pos = doc.skip(pos + 1)
    if pos >= len(text) or text[pos] != "[":
        return None
    found, pos = [], doc.skip(pos + 1)
    while pos < len(text) and text[pos] != "]":
        value, end = _decode(decoder, text, pos)
        found.append((pos, end, value))
        pos = doc.skip(end)
        if pos < len(text) and text[pos] == ",":
            pos = doc.skip(pos + 1)
    return found


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
        return Item(n, error=f"expected a JSON object, found {json_type(value)}", excerpt=excerpt(line))
    bad = first_text_problem(value)  # an escape such as \u0000 or \ud800 inside a string
    return Item(n, error=bad, excerpt=excerpt(line)) if bad else Item(n, value)


def _lines_from(doc: _Text, pos: int) -> Iterator[Item]:
    """The rest of the document as JSON lines: each non-blank line a record or a reject."""
    line = doc.line(pos)
    for offset, text in enumerate(doc.text[doc.text.rfind("\n", 0, pos) + 1:].split("\n")):
        if text.strip():
            yield jsonl_item(line + offset, text.rstrip("\r"))


def _kind_at(text: str, pos: int) -> str:
    try:
        return json_type(json.JSONDecoder().raw_decode(text, pos)[0])
    except ValueError:
        return f"'{text[pos:pos + 20]}'"


def json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def first_text_problem(value: Any) -> str | None:
    """Why a decoded value cannot be stored (an escape such as \\u0000 or \\ud800 inside a string)."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, dict):
        items = list(value.keys()) + list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        bad = first_text_problem(item)
        if bad:
            return bad
    return None
