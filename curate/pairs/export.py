"""Pairs out of the store: JSON lines and Parquet round-trip exactly; CSV and XLSX are for
spreadsheets, so cells that a spreadsheet would run as a formula are neutralized."""
from __future__ import annotations

import json
import re
from pathlib import Path

from curate.errors import TuneloopError
from curate.store import Store

COLUMNS = ("id", "instruction", "input", "response", "context", "system", "topic", "origin", "status",
           "source_id", "raw_log_id", "parent_id")
FORMATS = ("jsonl", "parquet", "csv", "xlsx")
# What makes a spreadsheet read a cell as a formula or a command: = + - @ (and their full-width
# forms, which some spreadsheets map to the same), | (DDE), and tab, CR or LF before them.
_FORMULA_START = re.compile(r"^[\s\u00a0\u200b-\u200d\u2060\ufeff]*[=+\-@|\uff1d\uff0b\uff0d\uff20\uff5c]|^[\t\r\n]")
# Characters an XLSX (XML) cell cannot hold: C0 controls but tab, LF and CR, and U+FFFE / U+FFFF.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def neutralize(value):
    """A cell a spreadsheet would treat as a formula gets a leading apostrophe, which
    spreadsheets show as text (OWASP's advice for CSV injection)."""
    if isinstance(value, str) and _FORMULA_START.match(value):
        return "'" + value
    return value


def xml_safe(value):
    """A cell's text with the characters XLSX cannot hold written as escapes (\\x0b, \\ufffe)."""
    if isinstance(value, str) and _NOT_XML.search(value):
        return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", value)
    return value


def spreadsheet_csv(frame) -> bytes:
    """A DataFrame as CSV for a spreadsheet, every text cell through the formula guard."""
    return frame.map(neutralize).to_csv(index=False).encode("utf-8")


def _rows(store: Store, status: str | None, origin: str | None) -> list[dict]:
    where, params = [], []
    for column, value in (("status", status), ("origin", origin)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    rows = store.rows(f"SELECT {', '.join(COLUMNS)} FROM pairs"
                      + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id", params)
    for row in rows:
        if row["context"] is not None:
            row["context"] = json.loads(row["context"])
    return rows


def export_pairs(store: Store, path: str | Path, status: str | None = None, origin: str | None = None,
                 format: str | None = None) -> int:
    """Write matching pairs; the format comes from the extension unless given. Returns how many."""
    path = Path(path)
    format = format or path.suffix.lower().lstrip(".") or "jsonl"
    if format not in FORMATS:
        raise TuneloopError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    rows = _rows(store, status, origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "jsonl":
        with open(path, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c: [json.dumps(r[c], ensure_ascii=False) if c == "context" and r[c] is not None else r[c]
                              for r in rows] for c in COLUMNS})
        pq.write_table(table, path)
    else:
        cells = [[neutralize(json.dumps(r[c], ensure_ascii=False) if c == "context" and r[c] is not None else r[c])
                  for c in COLUMNS] for r in rows]
        if format == "csv":
            import csv

            with open(path, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(COLUMNS)
                writer.writerows(cells)
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("pairs")
            sheet.append(list(COLUMNS))
            for row in cells:
                sheet.append([xml_safe(cell) for cell in row])
            book.save(path)
    return len(rows)
