"""CSV and TSV with a header row, one record at a time, line numbers kept."""
from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from curate.ingest import textio
from curate.ingest.textio import FileRefused, Item, excerpt, iter_lines, text_problem

# A bare carriage return inside a CSV line stands in as a private-use character while the csv
# module parses it (the module would end the row there): the first of these the file does not use.
_STAND_INS = [chr(c) for c in range(0xE000, 0xF900)]


def read_delimited(path: Path, encoding: str, delimiter: str) -> Iterator[Item]:
    """CSV or TSV with a header row. A bare carriage return inside a line is kept as text.

    A quote that is never closed would make the csv module swallow every line after it into one
    field. So a record that spans several lines is checked: an odd number of quote characters
    (never closed), or two or more of its inner lines that read as whole rows on their own, mean
    a stray quote. Its first line is rejected and reading starts again at the next line. At the
    end, a notice says how many lines the file had against how many records were read."""
    csv.field_size_limit(textio.MAX_RECORD_BYTES)
    kind = "TSV" if delimiter == "\t" else "CSV"
    source = iter_lines(path, encoding)
    pushed: deque[tuple[int, str | None, str | None]] = deque()
    consumed: list[tuple[int, str]] = []   # the physical lines of the record being read
    problems: dict[int, str] = {}
    stand_ins: set[str] = set()   # the characters standing in for carriage returns in the record being read
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
            if "\r" in line:
                seen = "".join(text for _, text in consumed)
                stand_in = next(c for c in _STAND_INS if c not in seen)   # one the record does not use
                stand_ins.add(stand_in)
                line = line.replace("\r", stand_in)
            yield line + "\n"

    reader = csv.reader(feed(), delimiter=delimiter)
    header: list[str] | None = None
    while True:
        consumed.clear()
        stand_ins.clear()
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
        if stand_ins:
            row = [_carriage_returns(cell, stand_ins) for cell in row]
        if header is None:
            if any(cell.strip() for cell in row):
                header = unique_header(row)
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


def _carriage_returns(cell: str, stand_ins: set[str]) -> str:
    for stand_in in stand_ins:
        cell = cell.replace(stand_in, "\r")
    return cell


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


def unique_header(row: list[str]) -> list[str]:
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


DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(path: Path, encoding: str, default: str) -> str:
    """The delimiter a CSV file uses: the one that splits its first lines into the same number of
    fields (two or more) most often — a European spreadsheet's export uses ';'."""
    lines = []
    for _, line, problem in iter_lines(path, encoding):
        if line and line.strip() and not problem:
            lines.append(line.replace("\r", " "))   # a bare CR in a cell: not a row's end here either
        if len(lines) >= 20:
            break
    best, best_score = default, 0.0
    for delimiter in (default, *(d for d in DELIMITERS if d != default)):
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not counts or counts[0] < 2:
            continue
        score = sum(c == counts[0] for c in counts) / len(counts)
        if score > best_score + 1e-9:
            best, best_score = delimiter, score
    return best
