"""Taking turns at the store file across processes and threads.

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
import os
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb

try:
    import fcntl
except ImportError:   # Windows: no turns, DuckDB's own lock is polled
    fcntl = None

from curate.errors import TuneloopError

if TYPE_CHECKING:
    from curate.store.store import Store

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


class StoreLockedError(TuneloopError):
    """Another process held the store for longer than we were willing to wait."""


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


@contextlib.contextmanager
def _ctrl_c_deferred():
    """Ctrl-C held back while the block runs (then delivered): attaching and detaching a file are
    not cut in half, which would leave the file attached with nothing here knowing it."""
    import signal

    main = threading.current_thread() is threading.main_thread()
    if not main or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _leftover_alias(exc: Exception, in_use: set[str]) -> str | None:
    """The alias of this process's own earlier attachment of the file, when ATTACH fails because
    it is still there and nothing here uses it (its DETACH was interrupted)."""
    import re

    found = re.search(r'already attached by database "(store_\d+)"', str(exc))
    return found.group(1) if found and found.group(1) not in in_use else None


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
                    with _ctrl_c_deferred():
                        host.execute("ATTACH '" + key.replace("'", "''") + "' AS " + alias)
                except duckdb.Error as exc:
                    leftover = _leftover_alias(exc, {entry[0] for entry in self._files.values()})
                    if leftover:   # a let-go cut short (Ctrl-C during its DETACH): finish it, try again
                        host.execute("DETACH " + leftover)
                        continue
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
                with _ctrl_c_deferred():
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
