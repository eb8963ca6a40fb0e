"""Counts for `tuneloop stats` and the Overview page, aggregated in SQL."""
from __future__ import annotations

from curate.store import Store

_TABLE_COUNTS = ("SELECT (SELECT count(*) FROM sources) AS sources, (SELECT count(*) FROM raw_logs) AS raw_logs,"
                 " (SELECT count(*) FROM rejects) AS rejects, (SELECT count(*) FROM pairs) AS pairs,"
                 " (SELECT count(*) FROM jobs) AS jobs")


def stats(store: Store) -> dict:
    """Row counts by table, and pairs by origin, status and source."""
    with store.connect():
        return {
            "tables": store.one(_TABLE_COUNTS),
            "pairs_by_origin": _counts(store, "SELECT origin, count(*) FROM pairs GROUP BY 1 ORDER BY 2 DESC"),
            "pairs_by_status": _counts(store, "SELECT status, count(*) FROM pairs GROUP BY 1 ORDER BY 2 DESC"),
            "pairs_by_source": _counts(
                store, "SELECT coalesce(s.name, '(none)'), count(*) FROM pairs p"
                " LEFT JOIN sources s ON s.id = p.source_id GROUP BY 1 ORDER BY 2 DESC"),
            "raw_logs_by_kind": _counts(store, "SELECT kind, count(*) FROM raw_logs GROUP BY 1 ORDER BY 2 DESC"),
        }


def _counts(store: Store, sql: str) -> dict[str, int]:
    with store.connect() as con:
        return {str(k): v for k, v in con.execute(sql).fetchall()}


def sources_frame(store: Store):
    return store.frame(
        "SELECT id, name, format, encoding, topic, status, rows_read, rows_stored, rows_duplicate,"
        " rows_rejected, error, imported_at FROM sources ORDER BY id DESC")


def rejects_frame(store: Store, limit: int = 200):
    return store.frame(
        "SELECT file, line, reason, excerpt, created_at FROM rejects ORDER BY id DESC LIMIT ?", [limit])


def jobs_frame(store: Store, limit: int = 20):
    return store.frame(
        "SELECT id, kind, state, round(progress * 100) AS percent, message, error, started_at, finished_at"
        " FROM jobs ORDER BY id DESC LIMIT ?", [limit])
