"""The one DuckDB store. Only this module opens the file.

DuckDB lets one process at a time open a file read-write, so every unit of work takes the file
(`Store.connect` / `Store.transaction`), retries a lock conflict with short jittered waits, and
lets go as soon as it is done. Nothing holds the file while it computes.

Taking the file is cheap: each process keeps one in-memory DuckDB instance and ATTACHes the file
to it for a unit of work (about 3 ms) and DETACHes it after, instead of starting a DuckDB instance
each time (about 30 ms). Threads of a process share the attachment, each with its own cursor; the
file is let go when the last of them is done.
"""
from __future__ import annotations

import contextlib
import importlib.resources
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

try:
    import fcntl
except ImportError:   # Windows: no turns, DuckDB's own lock is polled
    fcntl = None

from curate.errors import TuneloopError

DEFAULT_DB = "tuneloop.duckdb"
ENV_DB = "TUNELOOP_DB"
JOB_LOG_ENV = "TUNELOOP_JOB_LOG"   # set by whoever starts work in the background

# Lock conflicts: wait 5 ms, doubling up to 50 ms a try (each wait jittered, so that processes
# waiting together do not retry in step), for at most 60 s in all. Units of work hold the file
# for milliseconds and an import batch for well under a second, so short polls find it free soon
# after it is let go; a failed try costs well under a millisecond.
LOCK_FIRST_WAIT = 0.005
LOCK_MAX_WAIT = 0.05
LOCK_TOTAL_WAIT = 60.0
# A long writer that keeps the file (Store.held) hands it on when someone waits, and gives the
# waiters this long to take and leave it before it takes a turn again.
HAND_ON_SECONDS = 1.0
# ... and keeps the file while its next unit of work is being prepared for at most this long.
IDLE_HOLD_SECONDS = 0.5
# Meanwhile DuckDB writes its log back into the file once the log is this big (16 MiB otherwise):
# fewer, bigger write-backs, and one of at most this size when the file is handed on.
HELD_CHECKPOINT_MB = 64

# A running job whose process is gone (same machine), or whose heartbeat is older than this
# (another machine), was interrupted.
STALE_AFTER_SECONDS = 120


class StoreLockedError(TuneloopError):
    """Another process held the store for longer than we were willing to wait."""


def default_db_path() -> str:
    return os.environ.get(ENV_DB) or DEFAULT_DB


def _is_lock_conflict(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _jittered(wait: float) -> float:
    return wait * random.uniform(0.5, 1.5)


def _beside(path: str, suffix: str) -> int | None:
    """A descriptor of the lock file `<path><suffix>` (made if missing), or None where it cannot be made."""
    try:
        return os.open(path + suffix, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return None


class _Turn:
    """A process's turn at a store file: an exclusive `flock` on `<file>.lock`, beside it.

    DuckDB's own file lock cannot be waited on, only polled, and polling is unfair: one process
    can lose many tries in a row while others come and go (a rating call waited seconds that way).
    A process that wants the file waits for the sidecar lock in the kernel instead, and is woken as
    soon as the holder lets go. Waiting is bounded: the blocking call runs in a helper thread, and
    a turn that arrives after the caller gave up is handed straight back. Where the lock file
    cannot be made (a read-only folder, a system without flock) there is no turn, and DuckDB's own
    lock, polled, is all there is."""

    def __init__(self, fd: int | None):
        self.fd = fd

    @classmethod
    def wait(cls, path: str, timeout: float) -> _Turn:
        fd = _beside(path, ".lock") if fcntl is not None else None
        if fd is None:
            return cls(None)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return cls(fd)
        except BlockingIOError:
            pass
        except OSError:   # a file system without flock
            os.close(fd)
            return cls(None)
        got, guard, outcome = threading.Event(), threading.Lock(), {"abandoned": False}
        wanting = _Want.register(path)

        def block() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with guard:
                if outcome["abandoned"]:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    return
                got.set()

        threading.Thread(target=block, name="tuneloop-store-turn", daemon=True).start()
        try:
            if not got.wait(timeout):
                with guard:
                    if not got.is_set():
                        outcome["abandoned"] = True
                        raise StoreLockedError(
                            f"store {path} is held by another process for over {timeout:.0f} s;"
                            " is a long command holding it?")
        finally:
            _Want.unregister(wanting)
        return cls(fd)

    def end(self) -> None:
        """Hand the turn on (an explicit unlock: a forked child may share the descriptor)."""
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def forget(self) -> None:
        """In a forked child: close the inherited descriptor without unlocking the parent's turn."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Want:
    """Who is waiting for a turn: each waiting process holds a shared `flock` on `<file>.want`
    while it waits. A long writer that keeps the file between its units of work (`Store.held`)
    asks `wanted` between them and hands the file on when someone waits."""

    @staticmethod
    def register(path: str) -> int | None:
        fd = _beside(path, ".want")
        if fd is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def unregister(fd: int | None) -> None:
        if fd is not None:
            os.close(fd)   # closing the descriptor drops its lock

    @staticmethod
    def wanted(path: str) -> bool:
        """Whether another process waits for the file now (False where that cannot be known)."""
        fd = _beside(path, ".want") if fcntl is not None else None
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)


class _Attachments:
    """This process's in-memory DuckDB instance and the store files attached to it, each with
    the number of units of work using it and the process's turn at the file. A DuckDB instance
    must not cross a fork (its worker threads do not, and a child could wait forever on a lock one
    of them held), so an idle instance is closed just before a fork, and a forked child starts its
    own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, threading.Lock] = {}   # one thread per process waits for a file's turn
        self._pid = -1
        self._host: duckdb.DuckDBPyConnection | None = None
        self._files: dict[str, list] = {}   # real path -> [alias, users, turn]
        self._count = 0

    def take(self, path: str) -> tuple[str, duckdb.DuckDBPyConnection]:
        """Attach the file (or join this process's attachment), waiting for the process's turn;
        returns the alias and a cursor whose default database is the file."""
        key = os.path.realpath(path)
        while True:
            joined = self._join(key)
            if joined is not None:
                return joined
            with self._lock:
                waiting = self._waiting.setdefault(key, threading.Lock())
            with waiting:
                if key in self._files:   # another thread of this process took it meanwhile: join it
                    continue
                turn = _Turn.wait(key, LOCK_TOTAL_WAIT)
                try:
                    return self._attach(path, key, turn)
                except BaseException:
                    turn.end()
                    raise

    def _join(self, key: str) -> tuple[str, duckdb.DuckDBPyConnection] | None:
        with self._lock:
            entry = self._files.get(key) if self._pid == os.getpid() else None
            if entry is None:
                return None
            entry[1] += 1
            con = self._host.cursor()
            con.execute("USE " + entry[0])
            return entry[0], con

    def _attach(self, path: str, key: str, turn: _Turn) -> tuple[str, duckdb.DuckDBPyConnection]:
        """ATTACH the file. With the turn it is normally free at once; a process outside tuneloop
        (the duckdb shell, an older tuneloop) can still hold it, so a lock conflict is polled."""
        wait, waited = LOCK_FIRST_WAIT, 0.0
        while True:
            with self._lock:
                host = self._host_here()
                self._count += 1
                alias = f"store_{self._count}"
                try:
                    host.execute("ATTACH '" + key.replace("'", "''") + "' AS " + alias)
                except duckdb.Error as exc:
                    if not _is_lock_conflict(exc):
                        raise TuneloopError(f"cannot open store {path}: {exc}") from exc
                    if waited >= LOCK_TOTAL_WAIT:
                        raise StoreLockedError(
                            f"store {path} is held by another process for over"
                            f" {LOCK_TOTAL_WAIT:.0f} s; is a long command holding it? ({exc})") from exc
                else:
                    self._files[key] = [alias, 1, turn]
                    con = host.cursor()
                    con.execute("USE " + alias)
                    return alias, con
            pause = _jittered(wait)
            time.sleep(pause)
            waited += pause
            wait = min(wait * 2, LOCK_MAX_WAIT)

    def let_go(self, path: str, alias: str) -> None:
        key = os.path.realpath(path)
        with self._lock:
            entry = self._files.get(key)
            if entry is None or entry[0] != alias or self._pid != os.getpid():
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del self._files[key]   # forgotten first, then detached (the order that has run longest here)
            try:
                self._host.execute("DETACH " + alias)
            finally:
                entry[2].end()

    def configure(self, sql: str) -> None:
        """A setting of this process's DuckDB instance (for every file attached to it)."""
        with self._lock:
            self._host_here().execute(sql)

    def _host_here(self) -> duckdb.DuckDBPyConnection:
        if self._pid != os.getpid():   # first use, or a forked child: its own instance
            self._host, self._files, self._pid = duckdb.connect(":memory:"), {}, os.getpid()
        return self._host

    def before_fork(self) -> None:
        self._lock.acquire()
        if self._host is not None and not self._files:
            self._host.close()
            self._host, self._pid = None, -1

    def after_fork_parent(self) -> None:
        self._lock.release()

    def after_fork_child(self) -> None:
        for entry in self._files.values():
            entry[2].forget()
        self._files, self._waiting = {}, {}
        self._lock = threading.Lock()


_attachments = _Attachments()
os.register_at_fork(before=_attachments.before_fork, after_in_parent=_attachments.after_fork_parent,
                    after_in_child=_attachments.after_fork_child)


# --------------------------------------------------------------------------- migrations
# An ordered registry, kept here: (version, what it does, its DDL files). Each package owns its
# tables, so the DDL lives beside its code as `<package>/schema/NNN_name.sql`; a version's files
# run in the order listed, in one transaction, and the version is recorded in schema_migrations.
# Opening a store applies the versions it has not seen.
MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (1, "core tables: sources, raw_logs, rejects, pairs, jobs", ("curate/001_core.sql",)),
    (2, "dedupe runs, clusters and members; embeddings", ("curate/002_dedupe.sql",)),
    (3, "diversity runs and pair clusters", ("curate/003_diversity.sql",)),
    (4, "users, settings, ratings, leases, reviews", ("curate/004_rating.sql",)),
    (5, "dataset versions and items; training runs, metrics, example losses",
     ("curate/005_datasets.sql", "training/005_runs.sql")),
    (6, "benchmark results, domain evaluation runs, model outputs and their flags", ("evals/006_evaluation.sql",)),
    (7, "blind A/B studies, their items and votes", ("evals/007_ab.sql",)),
    (8, "one lifecycle: runs and evaluations are jobs; trained models by name; job logs",
     ("curate/008_models_and_job_logs.sql", "training/008_runs_as_jobs.sql", "evals/008_eval_jobs.sql")),
    (9, "the job importing each source", ("curate/009_source_claims.sql",)),
    (10, "sign-in attempts", ("curate/010_sign_in_attempts.sql",)),
    (11, "pairs that overlap benchmark items", ("curate/011_contamination.sql",)),
    (12, "evaluation sets, and domain evaluations on them", ("curate/012_eval_sets.sql", "evals/012_eval_on_sets.sql")),
    (13, "personal data: scans, findings and purges", ("curate/013_pii.sql",)),
    (14, "preference versions and their chosen/rejected items; DPO figures in run metrics",
     ("curate/014_preferences.sql", "training/014_preference_metrics.sql")),
    (15, "dataset items that are whole conversations, with the loss on every assistant turn",
     ("curate/015_conversation_items.sql",)),
    (16, "model judges and quality scores: pair scores, judge calibrations, judgements of outputs and A/B items",
     ("curate/016_pair_scores.sql", "evals/016_judgements.sql")),
    (17, "the rating queue's pair leased ahead of the one on screen", ("curate/017_leases_fetched_ahead.sql",)),
]


def ddl(ref: str) -> str:
    """The SQL of one schema file, `package/NNN_name.sql` (read as package data, not imported)."""
    package, name = ref.split("/", 1)
    return importlib.resources.files(package).joinpath("schema", name).read_text(encoding="utf-8")


JOB_STATES = ("running", "succeeded", "failed", "interrupted")
_migrating = threading.Lock()


@dataclass
class Job:
    """One piece of long work: a row of `jobs` that moves running → succeeded / failed /
    interrupted with a heartbeat. Set `result` before the block ends to store it."""
    id: int
    store: Store
    result: dict | None = None

    def heartbeat(self, progress: float | None = None, message: str | None = None) -> None:
        self.store.execute(
            "UPDATE jobs SET heartbeat_at = current_timestamp,"
            " progress = coalesce(?, progress), message = coalesce(?, message) WHERE id = ?",
            [progress, message, self.id],
        )


class Hold:
    """The file kept by a long writer (`Store.held`): `take` it before a unit of work and `offer`
    it after. `offer` hands the file on at once when another process waits for it (the waiters
    then get up to HAND_ON_SECONDS before the writer queues for a new turn), keeps it while the
    writer's next unit of work becomes ready, watching for waiters meanwhile, and lets it go when
    that takes over IDLE_HOLD_SECONDS. Where waiting cannot be seen (no flock) the file is let go
    after every unit of work, as everywhere else."""

    def __init__(self, store: Store):
        self.store = store
        self._stack: contextlib.ExitStack | None = None

    def take(self) -> None:
        if self._stack is None and fcntl is not None:
            stack = contextlib.ExitStack()
            stack.enter_context(self.store.connect())
            self._stack = stack

    def offer(self, next_ready: Callable[[], bool] = lambda: True) -> None:
        if self._stack is None:
            return
        key = os.path.realpath(self.store.path)
        idle_until = time.monotonic() + IDLE_HOLD_SECONDS
        while not _Want.wanted(key):
            if next_ready():
                return
            if time.monotonic() >= idle_until:
                self.let_go()
                return
            time.sleep(LOCK_FIRST_WAIT)
        self.let_go()
        deadline = time.monotonic() + HAND_ON_SECONDS
        while _Want.wanted(key) and time.monotonic() < deadline:
            time.sleep(LOCK_FIRST_WAIT)

    def let_go(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()


class Store:
    """A DuckDB file with tuneloop's schema. Cheap to create; opens connections on demand."""

    def __init__(self, path: str | os.PathLike | None = None, migrate: bool = True):
        self.path = str(Path(path or default_db_path()))
        self._local = threading.local()
        if migrate:
            self.migrate()
            self.mark_stale_jobs()

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

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
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        alias, con = _attachments.take(self.path)
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
            for version, name, files in MIGRATIONS:
                if version in done:
                    continue
                with self.transaction():
                    for ref in files:
                        con.execute(ddl(ref))
                    con.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
                    )
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        return self.scalar("SELECT coalesce(max(version), 0) FROM schema_migrations")

    # ------------------------------------------------------------------ jobs: the one lifecycle
    def start_job(self, kind: str, args: dict | None = None) -> Job:
        """A new running job for this process. Work started in the background names its log file
        in $TUNELOOP_JOB_LOG, and the job keeps it (the app shows it when the work fails)."""
        job_id = self.scalar(
            "INSERT INTO jobs (kind, args, state, pid, host, log_path) VALUES (?, ?, 'running', ?, ?, ?) RETURNING id",
            [kind, json.dumps(args or {}, default=str), os.getpid(), socket.gethostname(),
             os.environ.get(JOB_LOG_ENV)])
        return Job(job_id, self)

    def restart_job(self, job_id: int) -> Job:
        """An interrupted or failed job taken up again by this process (resume)."""
        state = self.scalar("SELECT state FROM jobs WHERE id = ?", [job_id])
        if state is None:
            raise TuneloopError(f"no job {job_id}")
        if state == "running":
            raise TuneloopError(f"job {job_id} is still running")
        self.execute("UPDATE jobs SET state = 'running', pid = ?, host = ?, error = NULL, finished_at = NULL,"
                     " heartbeat_at = current_timestamp, log_path = coalesce(?, log_path) WHERE id = ?",
                     [os.getpid(), socket.gethostname(), os.environ.get(JOB_LOG_ENV), job_id])
        return Job(job_id, self)

    def finish_job(self, job: Job, state: str, error: str | None = None, result: dict | None = None) -> None:
        if state not in JOB_STATES:
            raise ValueError(f"unknown job state {state!r}")
        self.execute(
            "UPDATE jobs SET state = ?, error = ?, result = coalesce(?, result), finished_at = current_timestamp,"
            " heartbeat_at = current_timestamp, progress = CASE WHEN ? = 'succeeded' THEN 1 ELSE progress END"
            " WHERE id = ?",
            [state, error, json.dumps(result, default=str) if result is not None else None, state, job.id],
        )

    @contextlib.contextmanager
    def job(self, kind: str, args: dict | None = None, *, resume: int | None = None) -> Iterator[Job]:
        """Run a block as a job (or as job `resume`, taken up again): succeeded, failed (with the
        error) or interrupted (Ctrl-C, SIGINT)."""
        job = self.restart_job(resume) if resume is not None else self.start_job(kind, args)
        try:
            yield job
        except KeyboardInterrupt:
            self.finish_job(job, "interrupted", "interrupted by the user")
            raise
        except BaseException as exc:
            self.finish_job(job, "failed", f"{type(exc).__name__}: {exc}")
            raise
        else:
            self.finish_job(job, "succeeded", result=job.result)

    def mark_stale_jobs(self) -> int:
        """Running jobs whose process is gone or whose heartbeat stopped become interrupted."""
        host = socket.gethostname()
        running = self.rows("SELECT id, pid, host, epoch(current_timestamp - heartbeat_at) AS age"
                            " FROM jobs WHERE state = 'running'")
        # on this machine the process tells (a long step may not beat); elsewhere the heartbeat does
        stale = [r["id"] for r in running
                 if (not _pid_alive(r["pid"]) if r["host"] == host else r["age"] > STALE_AFTER_SECONDS)]
        if stale:
            self.execute("UPDATE jobs SET state = 'interrupted', finished_at = current_timestamp,"
                         " error = 'the process stopped without finishing (killed or crashed)'"
                         " WHERE list_contains(?, id)", [stale])
        return len(stale)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
