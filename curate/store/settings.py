"""Settings the team changes at run time (the rating schema, the approval rule, …): JSON values
by key in the store's `settings` table."""
from __future__ import annotations

import json
from typing import Any

from curate.store.store import Store


def get_setting(store: Store, key: str, default: Any = None) -> Any:
    value = store.scalar("SELECT value FROM settings WHERE key = ?", [key])
    return json.loads(value) if value is not None else default


def set_setting(store: Store, key: str, value: Any) -> None:
    store.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                  " SET value = excluded.value, updated_at = now()", [key, json.dumps(value)])
