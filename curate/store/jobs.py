"""The one lifecycle of long work: a row of `jobs` that moves running → succeeded / failed /
interrupted with a heartbeat, its process and host, its error and result. A job whose process
died is marked interrupted the next time the store is opened (`mark_stale_jobs`)."""
from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from curate.errors import TuneloopError, interrupted, one_line

if TYPE_CHECKING:
    from curate.store.store import Store

JOB_LOG_ENV = "TUNELOOP_JOB_LOG"   # set by whoever starts work in the background

# A running job whose process is gone (same machine), or whose heartbeat is older than this
# (another machine), was interrupted.
STALE_AFTER_SECONDS = 120
JOB_STATES = ("running", "succeeded", "failed", "interrupted")


@dataclass
class Job:
    """One piece of long work: a row of `jobs` that moves running → succeeded / failed /
    interrupted with a heartbeat. Set `result` before the block ends to store it."""
    id: int
    store: Store
    result: dict | None = None
    failed: str | None = None   # set by work that reports its failure instead of raising it

    def heartbeat(self, progress: float | None = None, message: str | None = None) -> None:
        self.store.execute(
            "UPDATE jobs SET heartbeat_at = current_timestamp,"
            " progress = coalesce(?, progress), message = coalesce(?, message) WHERE id = ?",
            [progress, message, self.id],
        )


class JobsMixin:
    """The store's job methods (Store inherits them)."""

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
        except BaseException as exc:
            if not interrupted(exc):
                self.finish_job(job, "failed", one_line(exc))
                raise
            try:
                self.finish_job(job, "interrupted", "interrupted by the user")
            except Exception:  # noqa: BLE001 - the interrupt is what happened: the next open marks the job
                pass           # interrupted (mark_stale_jobs: its process is gone)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise KeyboardInterrupt from exc
        else:
            self.finish_job(job, "failed" if job.failed else "succeeded", job.failed, result=job.result)

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
