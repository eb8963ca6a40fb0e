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
# Non-UTF-8 lines a file needs before it is read as another encoding (Windows-1252, …).
MIN_LINES_FOR_ANOTHER_ENCODING = 3


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


def _decode(raw: bytes, encoding: str, first: bool) -> str:
    text = raw.decode(encoding, "surrogateescape")
    return text.lstrip("\ufeff") if first else text
