"""Reading runs back: the list, a run's curve, and its hardest examples (back to review)."""
from __future__ import annotations

from curate.pairs import send_to_review
from curate.store import Store


def runs_frame(store: Store):
    return store.frame(
        "SELECT r.id, d.name AS dataset, r.base_model, r.state, r.config->>'lora' AS lora,"
        " r.metrics->>'steps' AS steps, r.metrics->>'tokens_per_s' AS tokens_per_s,"
        " r.metrics->>'final_eval_loss' AS final_eval_loss, r.started_at, r.finished_at, r.error"
        " FROM runs r LEFT JOIN dataset_versions d ON d.id = r.dataset_version_id ORDER BY r.id DESC")


def get_run(store: Store, run_id: int) -> dict:
    """A run with its config and metrics decoded."""
    import json

    from curate.errors import TuneloopError

    row = store.one("SELECT * FROM runs WHERE id = ?", [run_id])
    if row is None:
        raise TuneloopError(f"no run {run_id}")
    for key in ("config", "metrics"):
        row[key] = json.loads(row[key]) if row[key] else None
    return row


def curve(store: Store, run_id: int):
    """Loss and held-out loss by step (the latest value per step: a resumed run repeats steps)."""
    return store.frame(
        "SELECT step, last(loss ORDER BY logged_at) FILTER (WHERE loss IS NOT NULL) AS loss,"
        " last(eval_loss ORDER BY logged_at) FILTER (WHERE eval_loss IS NOT NULL) AS eval_loss,"
        " last(learning_rate ORDER BY logged_at) FILTER (WHERE learning_rate IS NOT NULL) AS learning_rate"
        " FROM run_metrics WHERE run_id = ? GROUP BY step ORDER BY step", [run_id])


def hardest(store: Store, run_id: int, limit: int = 20):
    return store.frame(
        "SELECT e.pair_id, round(e.loss, 3) AS loss, e.split, p.instruction, p.status FROM example_losses e"
        " JOIN pairs p ON p.id = e.pair_id WHERE e.run_id = ? ORDER BY e.loss DESC LIMIT ?", [run_id, limit])


def flag_hardest(store: Store, run_id: int, top: int = 20) -> int:
    """Send the train pairs with the highest loss back to the rating queue (status flagged)."""
    with store.transaction() as con:
        ids = [r[0] for r in con.execute(
            "SELECT pair_id FROM example_losses WHERE run_id = ? AND split = 'train' ORDER BY loss DESC LIMIT ?",
            [run_id, top]).fetchall()]
        send_to_review(con, ids)
    return len(ids)


def launch(store: Store, dataset: str, options: list[str] | None = None, resume: int | None = None) -> int:
    """Start `tuneloop train` as its own process (the app stays responsive); returns its pid."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "tuneloop.cli", "--db", store.path, "train"]
    command += ["--resume", str(resume)] if resume is not None else ["--dataset", dataset, *(options or [])]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True).pid


def stop(store: Store, run_id: int) -> bool:
    """Ask a running run to stop (SIGINT: it saves its state as interrupted; resume continues it)."""
    import os
    import signal

    row = store.one("SELECT pid, state FROM runs WHERE id = ?", [run_id])
    if row is None or row["state"] != "running" or not row["pid"]:
        return False
    try:
        os.kill(row["pid"], signal.SIGINT)
    except ProcessLookupError:
        return False
    return True
