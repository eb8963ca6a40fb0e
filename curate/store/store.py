"""The one DuckDB store: the Store API. Only curate.store opens the file (see curate.store.locks
for how processes and threads take turns at it, curate.store.migrations for the schema,
curate.store.jobs for long work)."""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from curate.errors import TuneloopError
from curate.store import migrations
from curate.store.jobs import JobsMixin
from curate.store.locks import (
    HELD_CHECKPOINT_MB,
    LOCK_FIRST_WAIT,
    LOCK_MAX_WAIT,
    Hold,
    _attachments,
    _jittered,
)

DEFAULT_DB = "tuneloop.duckdb"


class StoreGone(TuneloopError):
    """The store's file disappeared while it was in use; it is not made again, empty."""

ENV_DB = "TUNELOOP_DB"


def default_db_path() -> str:
    return os.environ.get(ENV_DB) or DEFAULT_DB


_migrating = threading.Lock()


class Store(JobsMixin):
    """A DuckDB file with tuneloop's schema. Cheap to create; opens connections on demand."""

    def __init__(self, path: str | os.PathLike | None = None, migrate: bool = True):
        self.path = str(Path(path or default_db_path()))
        self._local = threading.local()
        self._opened = False   # once it has been opened, a missing file is a store that is gone
        if migrate:
            self.migrate()
            self.mark_stale_jobs()

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    def missing(self) -> bool:
        """Whether the file is not there (never made, or deleted or moved since)."""
        return not os.path.exists(self.path)

    # ------------------------------------------------------------------ connections
    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one unit of work; the file is let go on exit (once no other thread
        of this process is using it). Re-entrant within a thread: an inner `connect` reuses the
        outer connection."""
        outer = getattr(self._local, "con", None)
        if outer is not None:
            yield outer
            return
        if self._opened and self.missing():
            raise StoreGone(f"the store {self.path} is gone (deleted or moved while in use); nothing was"
                            " written. Put it back, or open another store with --db")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        alias, con = _attachments.take(self.path)
        self._opened = True
        self._local.con = con
        try:
            yield con
        finally:
            self._local.con = None
            con.close()
            _attachments.let_go(self.path, alias)

    @contextlib.contextmanager
    def held(self) -> Iterator[Hold]:
        """For a long writer (an import): keep the file between its units of work instead of
        letting it go after each one — each let-go writes the changes back into the file and its
        indexes, which costs more the bigger the store — but hand it on as soon as another process
        waits for it. Committed work is safe while the file is held (DuckDB's log has it, and the
        next opening applies it). See `Hold`."""
        hold = Hold(self)
        _attachments.configure(f"SET checkpoint_threshold = '{HELD_CHECKPOINT_MB}MiB'")
        try:
            yield hold
        finally:
            hold.let_go()
            _attachments.configure("RESET checkpoint_threshold")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All of the block or none of it."""
        with self.connect() as con:
            if getattr(self._local, "in_tx", False):
                yield con
                return
            con.execute("BEGIN TRANSACTION")
            self._local.in_tx = True
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            else:
                con.execute("COMMIT")
            finally:
                self._local.in_tx = False

    def retry_conflicts(self, work: Callable[[], Any], tries: int = 10) -> Any:
        """Run a unit of work that is one transaction, again if it lost a write-write conflict to
        another thread of this process (DuckDB aborts the later of two writers to the same rows)."""
        wait = LOCK_FIRST_WAIT
        for attempt in range(tries):
            try:
                return work()
            except duckdb.TransactionException as exc:
                if "conflict" not in str(exc).lower() or attempt == tries - 1:
                    raise
                time.sleep(_jittered(wait))
                wait = min(wait * 2, LOCK_MAX_WAIT)

    # ------------------------------------------------------------------ queries
    def execute(self, sql: str, params: list | tuple | dict | None = None) -> None:
        with self.connect() as con:
            con.execute(sql, params or [])

    def rows(self, sql: str, params: list | tuple | dict | None = None) -> list[dict[str, Any]]:
        with self.connect() as con:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def one(self, sql: str, params: list | tuple | dict | None = None) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: list | tuple | dict | None = None) -> Any:
        with self.connect() as con:
            row = con.execute(sql, params or []).fetchone()
            return row[0] if row else None

    def frame(self, sql: str, params: list | tuple | dict | None = None):
        """A pandas DataFrame of the result (for pages and reports)."""
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    # ------------------------------------------------------------------ schema
    def migrate(self) -> list[int]:
        """Apply the migrations this file has not seen, each in its own transaction."""
        applied: list[int] = []
        with _migrating, self.connect() as con:  # two Stores of one process must not both migrate
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
            )
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, name, files in migrations.registered():
                if version in done:
                    continue
                with self.transaction():
                    for ref in files:
                        con.execute(migrations.ddl(ref))
                    con.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
                    )
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        return self.scalar("SELECT coalesce(max(version), 0) FROM schema_migrations")

