"""Bytes to text: the file's encoding, its lines (one at a time, never the whole file), and why a
piece of text cannot be stored. Bytes are decoded with `surrogateescape`, so one bad byte
rejects one record (naming the byte and column) instead of the file."""
from __future__ import annotations

import codecs
import json
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


# --------------------------------------------------------------------------- encoding and lines
def sniff_encoding(path: Path, override: str | None = None) -> str:
    """The label to read `path` with, decided on the whole file (curate.ingest.encodings)."""
    from curate.ingest.encodings import decide

    return decide(path, override).label


WIDE = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")


def iter_lines(path: Path, encoding: str) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text without its line ending, problem) for each physical line. Only a line
    feed (or CR LF, or a lone CR in a file that has no LF) ends a line: U+2028, U+0085, form feeds
    and vertical tabs are a user's characters and stay in the line."""
    if encoding in WIDE:
        yield from _wide_lines(path, encoding)
        return
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if b"\n" not in head and b"\r" in head:  # old Mac line endings: CR alone ends a line
        for n, raw in enumerate(path.read_bytes().split(b"\r"), 1):
            yield n, _decode(raw, encoding, n == 1), None
        return
    limit = MAX_RECORD_BYTES   # read now, so that a test can lower it
    with open(path, "rb") as fh:
        n = 0
        while True:
            raw = fh.readline(limit + 1)
            if not raw:
                return
            n += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                size = len(raw)
                while raw and not raw.endswith(b"\n"):  # skip the rest of the huge line
                    raw = fh.readline(limit)
                    size += len(raw)
                yield n, None, f"line is {size / 2**20:.1f} MiB, over the {limit // 2**20} MiB record limit"
                continue
            yield n, _decode(raw.rstrip(b"\n").rstrip(b"\r"), encoding, n == 1), None


def _wide_lines(path: Path, encoding: str) -> Iterator[tuple[int, str | None, str | None]]:
    """UTF-16/32 decoded a block at a time and split at line feeds only."""
    decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")
    n, rest = 0, ""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            text = rest + decoder.decode(block, final=not block)
            if n == 0:
                text = text.lstrip("\ufeff")
            *lines, rest = text.split("\n")
            for line in lines:
                n += 1
                yield n, line.removesuffix("\r"), None
            if not block:
                if rest:
                    yield n + 1, rest.removesuffix("\r"), None
                return


def _decode(raw: bytes, encoding: str, first: bool) -> str:
    """One line's bytes as text: `utf-8+CODEC` decodes a line that is not UTF-8 with CODEC."""
    primary, _, fallback = encoding.partition("+")
    try:
        text = raw.decode(primary)
    except UnicodeDecodeError:
        text = raw.decode(fallback or primary, "surrogateescape")
    return text.lstrip("\ufeff") if first else text


def decode_all(raw: bytes, encoding: str) -> str:
    """A whole file's bytes as text, as iter_lines would decode its lines."""
    if "+" not in encoding:
        return raw.decode(encoding, "surrogateescape")
    return "\n".join(_decode(line, encoding, False) for line in raw.split(b"\n"))
