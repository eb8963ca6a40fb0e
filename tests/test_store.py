import subprocess
import sys
import threading
import time

from curate.store import MIGRATIONS, Store


def test_opening_migrates_and_a_second_run_is_a_no_op(db_path):
    store = Store(db_path)
    assert store.schema_version() == MIGRATIONS[-1][0]
    assert store.migrate() == []
    again = Store(db_path)
    assert again.migrate() == []
    assert again.scalar("SELECT count(*) FROM schema_migrations") == len(MIGRATIONS)
    tables = {r["table_name"] for r in store.rows("SELECT table_name FROM information_schema.tables")}
    assert {"sources", "raw_logs", "rejects", "pairs", "jobs", "schema_migrations"} <= tables


def test_a_failing_migration_leaves_nothing_behind(db_path, monkeypatch):
    import curate.store as store_module

    def broken(con):
        con.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS + [(999, "broken", broken)])
    try:
        Store(db_path)
    except RuntimeError:
        pass
    store = Store(db_path, migrate=False)
    assert store.scalar("SELECT max(version) FROM schema_migrations") == MIGRATIONS[-1][0]
    names = {r["table_name"] for r in store.rows("SELECT table_name FROM information_schema.tables")}
    assert "half_done" not in names


def test_a_job_records_success_and_failure(store):
    with store.job("demo", {"n": 1}) as job:
        job.heartbeat(0.5, "half way")
    try:
        with store.job("demo", {}):
            raise ValueError("bad input")
    except ValueError:
        pass
    rows = store.rows("SELECT state, progress, error FROM jobs ORDER BY id")
    assert rows[0]["state"] == "succeeded" and rows[0]["progress"] == 1
    assert rows[1]["state"] == "failed" and "bad input" in rows[1]["error"]


def test_running_jobs_of_a_dead_process_become_interrupted_at_start_up(db_path):
    store = Store(db_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.execute("INSERT INTO jobs (kind, state, pid, host) VALUES ('ingest', 'running', ?, ?)",
                  [dead.pid, __import__("socket").gethostname()])
    Store(db_path)
    assert store.one("SELECT state, error FROM jobs")["state"] == "interrupted"


def test_a_writer_waits_for_another_process_holding_the_file(db_path):
    store = Store(db_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True);"
        " time.sleep(1.5); con.close()"), str(db_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    store.execute("INSERT INTO jobs (kind, state) VALUES ('waited', 'succeeded')")  # retries, then works
    holder.wait()
    assert store.scalar("SELECT count(*) FROM jobs WHERE kind = 'waited'") == 1


def test_threads_share_a_store_with_a_connection_each(store):
    errors = []

    def work(n):
        try:
            for i in range(10):
                store.execute("INSERT INTO jobs (kind, state) VALUES (?, 'succeeded')", [f"t{n}"])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.scalar("SELECT count(*) FROM jobs") == 40


def test_a_live_process_with_an_old_heartbeat_keeps_running(db_path):
    """A long step (saving a model, scoring examples) may not beat; the process is alive, so the
    job is not taken for interrupted."""
    import os
    import socket

    store = Store(db_path)
    store.execute("INSERT INTO jobs (kind, state, pid, host, heartbeat_at) VALUES"
                  " ('train', 'running', ?, ?, current_timestamp - INTERVAL 1 HOUR)", [os.getpid(), socket.gethostname()])
    Store(db_path)
    assert store.scalar("SELECT state FROM jobs") == "running"
