"""Training in the background for the app: a run launched as its own process with a log file,
its log read back, stopped with SIGINT (its job becomes interrupted; resume continues it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from curate.errors import TuneloopError
from curate.store import JOB_LOG_ENV, Store
from training.config import TrainConfig
from training.runs import get_run
from training.train import new_run


def logs_dir(store: Store) -> Path:
    return Path(store.path).resolve().parent / "tuneloop_runs" / "logs"


def launch(store: Store, config: TrainConfig | None = None, resume: int | None = None) -> dict:
    """Start a run in a process of its own (the app stays responsive): a new run's row is made here
    (so it is listed at once, `starting`), and training.worker is handed its id; its output goes to
    a log file that its job records. Returns the run's id, the process id and the log's path."""
    if (config is None) == (resume is None):
        raise TuneloopError("launch a new run (a config) or resume one, not both")
    run_id = resume if resume is not None else new_run(store, config)
    if resume is not None:
        get_run(store, resume)   # an unknown run is said here, not in the log
    command = [sys.executable, "-m", "training.worker", "--db", store.path, "--run", str(run_id)]
    command += ["--resume"] if resume is not None else []
    log = logs_dir(store) / f"train-{time.strftime('%Y%m%d-%H%M%S')}-run-{run_id}{'-resume' if resume else ''}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        pid = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, env={**os.environ, JOB_LOG_ENV: str(log)}).pid
    return {"run": run_id, "pid": pid, "log": str(log)}


def log_tail(path: str | None, lines: int = 40) -> str:
    """The last lines of a background run's log ('' when there is none)."""
    if not path or not Path(path).is_file():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 64_000))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


def stop(store: Store, run_id: int) -> bool:
    """Ask a running run to stop (SIGINT: its job becomes interrupted; resume continues it)."""
    row = get_run(store, run_id)
    if row["state"] != "running" or not row["pid"]:
        return False
    try:
        os.kill(row["pid"], signal.SIGINT)
    except ProcessLookupError:
        return False
    return True
