"""Reading runs back: the list, a run's curve, its hardest examples (and sending them back to
review). A run's state, process and error are its job's (curate.store's one lifecycle); a run
whose job has not started yet is `starting`."""
from __future__ import annotations

import json

from curate.errors import TuneloopError
from curate.pairs.status import send_to_review
from curate.store import Store

_RUN = ("SELECT r.*, j.state, j.pid, j.host, j.error, j.started_at, j.finished_at, j.log_path, j.progress"
        " FROM runs r LEFT JOIN jobs j ON j.id = r.job_id")


def runs_frame(store: Store):
    return store.frame(
        "SELECT r.id, r.kind, coalesce(d.name, r.config->>'dataset') AS dataset,"
        # a model's name, not the path it was loaded from (…/SmolLM2-135M-Instruct.Q4_1.gguf → SmolLM2-135M-Instruct)
        " regexp_replace(regexp_extract(r.base_model, '[^/]+$'), '([.]Q[0-9A-Za-z_]+)?[.]gguf$', '') AS base_model,"
        " coalesce(j.state, 'starting') AS state,"
        " r.config->>'lora' AS lora,"
        " r.metrics->>'steps' AS steps, r.metrics->>'tokens_per_s' AS tokens_per_s,"
        " r.metrics->>'final_eval_loss' AS final_eval_loss, j.started_at, j.finished_at, j.error"
        " FROM runs r LEFT JOIN jobs j ON j.id = r.job_id LEFT JOIN dataset_versions d ON d.id = r.dataset_version_id"
        " ORDER BY r.id DESC")


def newest_run(store: Store) -> int | None:
    return store.scalar("SELECT max(id) FROM runs")


def get_run(store: Store, run_id: int) -> dict:
    """A run with its job's state, process and error, and its config and metrics decoded."""
    row = store.one(_RUN + " WHERE r.id = ?", [run_id])
    if row is None:
        raise TuneloopError(f"no run {run_id}")
    for key in ("config", "metrics"):
        row[key] = json.loads(row[key]) if row[key] else None
    return row


def curve(store: Store, run_id: int):
    """Loss, held-out loss (and for DPO the reward margin and held-out preference accuracy) by step
    (the latest value per step: a resumed run repeats steps)."""
    return store.frame(
        "SELECT step, last(loss ORDER BY logged_at) FILTER (WHERE loss IS NOT NULL) AS loss,"
        " last(eval_loss ORDER BY logged_at) FILTER (WHERE eval_loss IS NOT NULL) AS eval_loss,"
        " last(learning_rate ORDER BY logged_at) FILTER (WHERE learning_rate IS NOT NULL) AS learning_rate,"
        " last(reward_margin ORDER BY logged_at) FILTER (WHERE reward_margin IS NOT NULL) AS reward_margin,"
        " last(eval_accuracy ORDER BY logged_at) FILTER (WHERE eval_accuracy IS NOT NULL) AS eval_accuracy"
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
