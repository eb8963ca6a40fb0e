"""The one DuckDB store. Only this module opens the file.

DuckDB lets one process at a time open a file read-write, so every unit of work opens a
short-lived connection (`Store.connect` / `Store.transaction`), retries a lock conflict with
bounded backoff, and lets go as soon as it is done. Nothing holds the file while it computes.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb

from curate.errors import TuneloopError

DEFAULT_DB = "tuneloop.duckdb"
ENV_DB = "TUNELOOP_DB"

# Lock conflicts: wait 50 ms, doubling up to 1 s a try, for at most 60 s in all. An import
# commits a batch in well under a second, so a writer waits for at most a few batches.
LOCK_FIRST_WAIT = 0.05
LOCK_MAX_WAIT = 1.0
LOCK_TOTAL_WAIT = 60.0

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


# --------------------------------------------------------------------------- migrations
# An ordered registry: (version, name, function). Each runs in a transaction and is recorded
# in schema_migrations; opening a store applies the ones it has not seen.

def _m001_core(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE SEQUENCE seq_sources START 1;
        CREATE TABLE sources (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_sources'),
            name VARCHAR NOT NULL,          -- file name as the user knows it (never used as a path)
            sha256 VARCHAR NOT NULL UNIQUE, -- re-importing the same bytes is a no-op
            format VARCHAR NOT NULL,
            encoding VARCHAR,
            topic VARCHAR,
            options JSON,                   -- --map, --format and friends, resolved
            status VARCHAR NOT NULL,        -- importing | complete | failed
            rows_read BIGINT NOT NULL DEFAULT 0,
            rows_stored BIGINT NOT NULL DEFAULT 0,
            rows_duplicate BIGINT NOT NULL DEFAULT 0,
            rows_rejected BIGINT NOT NULL DEFAULT 0,
            error VARCHAR,
            imported_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            completed_at TIMESTAMP,
            extracted_at TIMESTAMP          -- when `pairs extract` last turned it into pairs
        );
        CREATE SEQUENCE seq_raw_logs START 1;
        CREATE TABLE raw_logs (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_raw_logs'),
            source_id BIGINT NOT NULL,
            line BIGINT NOT NULL,           -- first line (text files) or row number (tables)
            kind VARCHAR NOT NULL,          -- qa | conversation | message | document
            payload JSON NOT NULL,          -- the record in tuneloop's normal form, extras kept
            content_hash VARCHAR NOT NULL UNIQUE
        );
        CREATE SEQUENCE seq_rejects START 1;
        CREATE TABLE rejects (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_rejects'),
            source_id BIGINT,
            file VARCHAR NOT NULL,
            line BIGINT,                    -- NULL when the whole file was refused
            reason VARCHAR NOT NULL,
            excerpt VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE seq_pairs START 1;
        CREATE TABLE pairs (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_pairs'),
            instruction VARCHAR NOT NULL,
            input VARCHAR,                  -- Alpaca-style input, if any
            response VARCHAR NOT NULL,
            context JSON,                   -- earlier turns [{role, content}], if any
            system VARCHAR,
            topic VARCHAR,
            origin VARCHAR NOT NULL,        -- extracted | generated | offtopic | edited
            source_id BIGINT,
            raw_log_id BIGINT,              -- lineage: the raw log this pair came from
            parent_id BIGINT,               -- lineage: the pair this one was edited from
            lineage JSON,                   -- anything else: question raw log, model, template, chunk
            content_hash VARCHAR NOT NULL,
            status VARCHAR NOT NULL DEFAULT 'new',
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE INDEX idx_pairs_hash ON pairs(content_hash);
        CREATE SEQUENCE seq_jobs START 1;
        CREATE TABLE jobs (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_jobs'),
            kind VARCHAR NOT NULL,
            args JSON,
            state VARCHAR NOT NULL,         -- running | succeeded | failed | interrupted
            progress DOUBLE NOT NULL DEFAULT 0,
            message VARCHAR,
            pid INTEGER,
            host VARCHAR,
            started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            heartbeat_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            finished_at TIMESTAMP,
            error VARCHAR,
            result JSON
        );
        """
    )


def _m002_dedupe(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE SEQUENCE seq_dedupe_runs START 1;
        CREATE TABLE dedupe_runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_dedupe_runs'),
            method VARCHAR NOT NULL,        -- exact | minhash | semantic
            params JSON,
            pairs_scanned BIGINT,
            clusters BIGINT,
            members BIGINT,
            timings JSON,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE seq_dup_clusters START 1;
        CREATE TABLE dup_clusters (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_dup_clusters'),
            run_id BIGINT NOT NULL,
            method VARCHAR NOT NULL,
            keeper_id BIGINT NOT NULL,      -- the proposed (or chosen) pair to keep
            size INTEGER NOT NULL,
            min_similarity DOUBLE,
            state VARCHAR NOT NULL DEFAULT 'proposed',   -- proposed | resolved | dismissed
            resolved_at TIMESTAMP
        );
        CREATE TABLE dup_members (
            cluster_id BIGINT NOT NULL,
            pair_id BIGINT NOT NULL,
            similarity DOUBLE,              -- to the keeper (1 for the keeper)
            decision VARCHAR,               -- NULL (undecided) | keep | duplicate | distinct
            prev_status VARCHAR             -- the pair's status before it was marked duplicate
        );
        CREATE TABLE embeddings (
            text_hash VARCHAR NOT NULL,     -- sha256 of the embedded text: one vector a text and model
            model VARCHAR NOT NULL,
            vector FLOAT[] NOT NULL
        );
        CREATE INDEX idx_embeddings ON embeddings(text_hash, model);
        """
    )


def _m003_diversity(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE SEQUENCE seq_diversity_runs START 1;
        CREATE TABLE diversity_runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_diversity_runs'),
            params JSON,
            summary JSON,                   -- n-gram ratios, redundancy, cluster labels and sizes
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE pair_clusters (
            run_id BIGINT NOT NULL,
            pair_id BIGINT NOT NULL,
            cluster INTEGER NOT NULL,
            x REAL, y REAL,                 -- 2-D map position (PCA of the embeddings)
            nn_similarity REAL              -- cosine similarity to the nearest other pair
        );
        """
    )


def _m004_rating(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE SEQUENCE seq_users START 1;
        CREATE TABLE users (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_users'),
            name VARCHAR NOT NULL UNIQUE,
            role VARCHAR NOT NULL,          -- annotator | reviewer | admin
            password_hash VARCHAR,          -- argon2; NULL for accounts that sign in through OIDC
            email VARCHAR,
            active BOOLEAN NOT NULL DEFAULT true,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE settings (
            key VARCHAR PRIMARY KEY,        -- rating_schema, approval_rule, …
            value JSON NOT NULL,
            updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE seq_ratings START 1;
        CREATE SEQUENCE seq_submissions START 1;
        CREATE TABLE ratings (               -- append-only; the latest row per (pair, annotator, question) wins
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_ratings'),
            submission_id BIGINT NOT NULL,  -- the answers given at once
            pair_id BIGINT NOT NULL,
            annotator_id BIGINT NOT NULL,
            question VARCHAR NOT NULL,
            value VARCHAR,                  -- NULL: retracted (undo)
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE INDEX idx_ratings_pair ON ratings(pair_id);
        CREATE TABLE leases (
            pair_id BIGINT NOT NULL,
            annotator_id BIGINT NOT NULL,
            expires_at TIMESTAMP NOT NULL
        );
        CREATE SEQUENCE seq_reviews START 1;
        CREATE TABLE reviews (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_reviews'),
            pair_id BIGINT NOT NULL,
            reviewer_id BIGINT NOT NULL,
            decision VARCHAR NOT NULL,      -- approve | reject
            note VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE VIEW current_ratings AS      -- each annotator's latest answer to each question
        SELECT id, submission_id, pair_id, annotator_id, question, value, created_at FROM (
            SELECT *, row_number() OVER (PARTITION BY pair_id, annotator_id, question ORDER BY id DESC) AS k
            FROM ratings) WHERE k = 1 AND value IS NOT NULL;
        """
    )


def _m005_datasets_runs(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE SEQUENCE seq_dataset_versions START 1;
        CREATE TABLE dataset_versions (     -- immutable once built
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_dataset_versions'),
            name VARCHAR NOT NULL UNIQUE,
            template VARCHAR NOT NULL,
            tokenizer VARCHAR NOT NULL,     -- the resolved model whose tokenizer counted the tokens
            max_length INTEGER NOT NULL,
            test_size DOUBLE NOT NULL,
            seed INTEGER NOT NULL,
            report JSON,
            export_dir VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE dataset_items (         -- the pairs' text at build time, frozen
            version_id BIGINT NOT NULL,
            pair_id BIGINT NOT NULL,
            split VARCHAR NOT NULL,         -- train | test
            instruction VARCHAR NOT NULL, input VARCHAR, response VARCHAR NOT NULL,
            context JSON, system VARCHAR, topic VARCHAR, origin VARCHAR NOT NULL,
            prompt VARCHAR NOT NULL, completion VARCHAR NOT NULL,
            prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
            truncated_prompt BOOLEAN NOT NULL, truncated_answer BOOLEAN NOT NULL
        );
        CREATE SEQUENCE seq_runs START 1;
        CREATE TABLE runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_runs'),
            kind VARCHAR NOT NULL,          -- train
            dataset_version_id BIGINT,
            base_model VARCHAR,
            config JSON,                    -- fully resolved
            state VARCHAR NOT NULL,         -- running | succeeded | failed | interrupted
            output_dir VARCHAR,
            pid INTEGER, host VARCHAR,
            started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            heartbeat_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            finished_at TIMESTAMP,
            error VARCHAR,
            metrics JSON                    -- wall time, tokens/s, final losses
        );
        CREATE TABLE run_metrics (
            run_id BIGINT NOT NULL, step INTEGER NOT NULL, epoch DOUBLE,
            loss DOUBLE, learning_rate DOUBLE, eval_loss DOUBLE, tokens BIGINT,
            logged_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE example_losses (
            run_id BIGINT NOT NULL, pair_id BIGINT NOT NULL, split VARCHAR NOT NULL, loss DOUBLE NOT NULL
        );
        """
    )


def _m006_evaluation(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE benchmark_results (
            model VARCHAR NOT NULL,         -- the spec asked for (run:N, a folder, …)
            fingerprint VARCHAR NOT NULL,   -- of the weights: a new checkpoint never reuses results
            task VARCHAR NOT NULL, metric VARCHAR NOT NULL, value DOUBLE NOT NULL, stderr DOUBLE,
            limit_n DOUBLE, num_fewshot INTEGER, lm_eval_version VARCHAR, config_hash VARCHAR, local BOOLEAN,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE seq_eval_runs START 1;
        CREATE TABLE eval_runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_eval_runs'),
            kind VARCHAR NOT NULL,          -- domain
            model VARCHAR NOT NULL,
            dataset_version_id BIGINT,
            config JSON, metrics JSON,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE seq_model_outputs START 1;
        CREATE TABLE model_outputs (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_model_outputs'),
            eval_run_id BIGINT NOT NULL, pair_id BIGINT NOT NULL,
            prompt VARCHAR NOT NULL, output VARCHAR NOT NULL, reference VARCHAR,
            tokens INTEGER, latency_ms DOUBLE,
            exact_match BOOLEAN, token_f1 DOUBLE, rouge_l DOUBLE, similarity DOUBLE,
            refused BOOLEAN, should_refuse BOOLEAN
        );
        CREATE TABLE output_flags (
            output_id BIGINT NOT NULL, heuristic VARCHAR NOT NULL, detail VARCHAR,
            nearest_pairs JSON              -- the training pairs closest to the question
        );
        """
    )


def _m007_ab(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE SEQUENCE seq_ab_studies START 1;
        CREATE TABLE ab_studies (           -- blind A/B: two domain evaluation runs over the same questions
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_ab_studies'),
            eval_run_a BIGINT NOT NULL,     -- usually the base model
            eval_run_b BIGINT NOT NULL,     -- usually the fine-tuned one
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE ab_items (
            study_id BIGINT NOT NULL, pair_id BIGINT NOT NULL,
            output_a BIGINT NOT NULL, output_b BIGINT NOT NULL,   -- model_outputs ids
            PRIMARY KEY (study_id, pair_id)
        );
        CREATE TABLE ab_votes (
            study_id BIGINT NOT NULL, pair_id BIGINT NOT NULL, annotator_id BIGINT NOT NULL,
            a_on_left BOOLEAN NOT NULL,     -- where the annotator saw A
            choice VARCHAR NOT NULL,        -- a | b | tie
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (study_id, pair_id, annotator_id)
        );
        """
    )


MIGRATIONS: list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    (1, "core tables: sources, raw_logs, rejects, pairs, jobs", _m001_core),
    (2, "dedupe runs, clusters and members; embeddings", _m002_dedupe),
    (3, "diversity runs and pair clusters", _m003_diversity),
    (4, "users, settings, ratings, leases, reviews", _m004_rating),
    (5, "dataset versions and items; training runs, metrics, example losses", _m005_datasets_runs),
    (6, "benchmark results, domain evaluation runs, model outputs and their flags", _m006_evaluation),
    (7, "blind A/B studies, their items and votes", _m007_ab),
]


@dataclass(frozen=True)
class Job:
    id: int
    store: "Store"

    def heartbeat(self, progress: float | None = None, message: str | None = None) -> None:
        self.store.execute(
            "UPDATE jobs SET heartbeat_at = current_timestamp,"
            " progress = coalesce(?, progress), message = coalesce(?, message) WHERE id = ?",
            [progress, message, self.id],
        )


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
        """A connection for one unit of work, closed (and the file let go) on exit.

        Re-entrant within a thread: an inner `connect` reuses the outer connection.
        """
        outer = getattr(self._local, "con", None)
        if outer is not None:
            yield outer
            return
        con = self._open_with_retry()
        self._local.con = con
        try:
            yield con
        finally:
            self._local.con = None
            con.close()

    def _open_with_retry(self) -> duckdb.DuckDBPyConnection:
        wait, waited = LOCK_FIRST_WAIT, 0.0
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                return duckdb.connect(self.path)
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc):
                    raise TuneloopError(f"cannot open store {self.path}: {exc}") from exc
                if waited >= LOCK_TOTAL_WAIT:
                    raise StoreLockedError(
                        f"store {self.path} is held by another process for over"
                        f" {LOCK_TOTAL_WAIT:.0f} s; is a long command holding it? ({exc})"
                    ) from exc
                time.sleep(wait)
                waited += wait
                wait = min(wait * 2, LOCK_MAX_WAIT)

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
        with self.connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
            )
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, name, fn in MIGRATIONS:
                if version in done:
                    continue
                with self.transaction():
                    fn(con)
                    con.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
                    )
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        return self.scalar("SELECT coalesce(max(version), 0) FROM schema_migrations")

    # ------------------------------------------------------------------ jobs
    def start_job(self, kind: str, args: dict | None = None) -> Job:
        job_id = self.scalar(
            "INSERT INTO jobs (kind, args, state, pid, host) VALUES (?, ?, 'running', ?, ?) RETURNING id",
            [kind, json.dumps(args or {}, default=str), os.getpid(), socket.gethostname()],
        )
        return Job(job_id, self)

    def finish_job(self, job: Job, state: str, error: str | None = None, result: dict | None = None) -> None:
        self.execute(
            "UPDATE jobs SET state = ?, error = ?, result = ?, finished_at = current_timestamp,"
            " heartbeat_at = current_timestamp, progress = CASE WHEN ? = 'succeeded' THEN 1 ELSE progress END"
            " WHERE id = ?",
            [state, error, json.dumps(result, default=str) if result is not None else None, state, job.id],
        )

    @contextlib.contextmanager
    def job(self, kind: str, args: dict | None = None) -> Iterator[Job]:
        """Run a block as a job: succeeded, failed (with the error) or interrupted (Ctrl-C)."""
        job = self.start_job(kind, args)
        try:
            yield job
        except KeyboardInterrupt:
            self.finish_job(job, "interrupted", "interrupted by the user")
            raise
        except BaseException as exc:
            self.finish_job(job, "failed", f"{type(exc).__name__}: {exc}")
            raise
        else:
            self.finish_job(job, "succeeded")

    def mark_stale_jobs(self) -> int:
        """Running jobs and runs whose process is gone or whose heartbeat stopped become interrupted."""
        host, count = socket.gethostname(), 0
        tables = [t for t in ("jobs", "runs") if self.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [t])]
        for table in tables:
            running = self.rows(f"SELECT id, pid, host, epoch(current_timestamp - heartbeat_at) AS age"
                                f" FROM {table} WHERE state = 'running'")
            # on this machine the process tells (a long step may not beat); elsewhere the heartbeat does
            stale = [r["id"] for r in running
                     if (not _pid_alive(r["pid"]) if r["host"] == host else r["age"] > STALE_AFTER_SECONDS)]
            if stale:
                self.execute(f"UPDATE {table} SET state = 'interrupted', finished_at = current_timestamp,"
                             " error = 'the process stopped without finishing (killed or crashed)'"
                             " WHERE list_contains(?, id)", [stale])
            count += len(stale)
        return count


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
