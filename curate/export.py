"""Pairs out of the store as JSON lines: one object a line, exactly what the store holds."""
from __future__ import annotations

import json
from pathlib import Path

from curate.store import Store

COLUMNS = ("id", "instruction", "input", "response", "context", "system", "topic", "origin", "status",
           "source_id", "raw_log_id", "parent_id")


def export_pairs(store: Store, path: str | Path, status: str | None = None, origin: str | None = None) -> int:
    """Write matching pairs to a JSONL file; returns how many were written."""
    where, params = [], []
    for column, value in (("status", status), ("origin", origin)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    rows = store.rows(f"SELECT {', '.join(COLUMNS)} FROM pairs"
                      + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id", params)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            if row["context"] is not None:
                row["context"] = json.loads(row["context"])
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)
