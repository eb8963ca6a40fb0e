"""Dataset versions read back: the list, one version, its frozen items."""
from __future__ import annotations

import json

from curate.errors import not_found
from curate.store import Store


def versions_frame(store: Store):
    return store.frame("SELECT id, name, template, max_length, test_size, seed, report->>'examples' AS examples,"
                       " report->>'train' AS train, report->>'test' AS test, export_dir, created_at"
                       " FROM dataset_versions ORDER BY id DESC")


def get_version(store: Store, name: str) -> dict:
    row = store.one("SELECT * FROM dataset_versions WHERE name = ?", [name])
    if row is None:
        raise not_found("dataset", name, [r["name"] for r in store.rows("SELECT name FROM dataset_versions ORDER BY id")],
                        "build one with `tuneloop dataset build`")
    row["report"] = json.loads(row["report"]) if row["report"] else {}
    return row


def version_items(store: Store, version_id: int, split: str | None = None) -> list[dict]:
    rows = store.rows("SELECT * FROM dataset_items WHERE version_id = ?" + (" AND split = ?" if split else "")
                      + " ORDER BY pair_id", [version_id] + ([split] if split else []))
    for r in rows:
        r["context"] = json.loads(r["context"]) if r["context"] else None
        r["loss_turns"] = json.loads(r["loss_turns"]) if r.get("loss_turns") else None
    return rows
