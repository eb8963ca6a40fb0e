import os
import subprocess
import sys
import threading
import time

from curate.store import Store
from curate.store.migrations import registered

from conftest import ROOT

MIGRATIONS = registered()


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
    from curate.store import migrations

    real_ddl = migrations.ddl
    monkeypatch.setattr(migrations, "ddl", lambda ref: "CREATE TABLE half_done (x INTEGER); SELECT error('boom');"
                        if ref == "curate/999_broken.sql" else real_ddl(ref))
    monkeypatch.setattr(migrations, "registered", lambda: MIGRATIONS + [(999, "broken", ("curate/999_broken.sql",))])
    try:
        Store(db_path)
    except Exception as exc:
        assert "boom" in str(exc)
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


def test_a_ctrl_c_stays_a_ctrl_c_whatever_it_leaves_behind(store, monkeypatch):
    """What a Ctrl-C inside a statement leaves (an error whose context is the interrupt) makes the job
    interrupted and is raised as the interrupt; so is a Ctrl-C after which the job's own record cannot
    be written (the next open marks it: its process is gone)."""
    import pytest

    with pytest.raises(KeyboardInterrupt):
        with store.job("demo", {}):
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise RuntimeError("TransactionContext Error: current transaction is aborted") from None
    assert store.scalar("SELECT state FROM jobs") == "interrupted"
    with pytest.raises(ValueError, match="was interrupted"):   # words alone do not make an interrupt
        with store.job("demo", {}):
            raise ValueError("the import was interrupted earlier")
    monkeypatch.setattr(type(store), "finish_job", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(KeyboardInterrupt):
        with store.job("demo", {}):
            raise KeyboardInterrupt


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
            for _ in range(10):
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


def test_migration_8_moves_runs_onto_jobs_and_registers_finished_models(db_path, monkeypatch, tmp_path):
    """A store made before runs were jobs keeps every run's state, process and error."""
    from curate.lm.resolve import resolve_causal_lm
    from curate.store import migrations
    from training.runs import get_run

    monkeypatch.setattr(migrations, "registered", lambda: MIGRATIONS[:7])
    old = Store(db_path)
    model = tmp_path / "run-1" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    for state, output_dir, error in (("succeeded", str(model), None), ("failed", None, "OSError: disk full"),
                                     ("interrupted", None, "killed")):
        old.execute("INSERT INTO runs (kind, base_model, config, state, output_dir, pid, host, error, metrics)"
                    " VALUES ('train', 'base', '{}', ?, ?, 4242, 'h', ?, '{\"steps\": 3}')", [state, output_dir, error])
    monkeypatch.setattr(migrations, "registered", lambda: MIGRATIONS)
    store = Store(db_path)
    assert store.schema_version() == MIGRATIONS[-1][0]
    runs = [get_run(store, i) for i in (1, 2, 3)]
    assert [r["state"] for r in runs] == ["succeeded", "failed", "interrupted"]
    assert runs[1]["error"] == "OSError: disk full" and runs[0]["pid"] == 4242 and runs[0]["metrics"] == {"steps": 3}
    assert store.scalar("SELECT count(*) FROM jobs WHERE kind = 'train'") == 3
    assert resolve_causal_lm("run:1", store).path == str(model)
    assert "state" not in {r["column_name"] for r in store.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'")}


def test_the_file_is_let_go_after_each_unit_of_work(db_path):
    store = Store(db_path)
    probe = [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(db_path)]
    with store.connect():
        held = subprocess.run(probe, capture_output=True, text=True)
    assert held.returncode != 0 and "lock" in held.stderr.lower()   # held while working
    store.execute("INSERT INTO jobs (kind, state) VALUES ('one', 'succeeded')")
    assert subprocess.run(probe).returncode == 0                     # and let go after


def test_two_spellings_of_one_path_share_the_attachment(db_path, tmp_path, monkeypatch):
    link = tmp_path / "link.duckdb"
    link.symlink_to(db_path)
    monkeypatch.chdir(db_path.parent)
    first, second = Store(db_path), Store(link, migrate=False)
    with first.connect(), second.transaction() as con:   # both at once in one thread: no conflict
        con.execute("INSERT INTO jobs (kind, state) VALUES ('linked', 'succeeded')")
    assert Store(db_path.name, migrate=False).scalar("SELECT count(*) FROM jobs WHERE kind = 'linked'") == 1


def _write_in_child(path: str) -> None:
    Store(path, migrate=False).execute("INSERT INTO jobs (kind, state) VALUES ('child', 'succeeded')")


def test_a_forked_child_opens_the_store_on_its_own(db_path):
    import multiprocessing

    store = Store(db_path)
    store.scalar("SELECT count(*) FROM jobs")   # the parent has used the store before forking
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(str(db_path),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert store.scalar("SELECT count(*) FROM jobs WHERE kind = 'child'") == 1


def _turn_is_free(db_path) -> bool:
    """Whether another process could take its turn at the store now (a probe in a child)."""
    probe = ("import fcntl, os, sys; fd = os.open(sys.argv[1] + '.lock', os.O_RDWR | os.O_CREAT);"
             "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)")
    return subprocess.run([sys.executable, "-c", probe, os.path.realpath(db_path)], capture_output=True).returncode == 0


def test_a_process_holds_its_turn_while_it_works_and_hands_it_on_after(db_path):
    store = Store(db_path)
    with store.connect():
        assert not _turn_is_free(db_path)   # waiting processes sleep on <db>.lock, woken when it is let go
    assert _turn_is_free(db_path)


def test_a_waiter_gives_up_with_a_clear_error_and_its_late_turn_is_handed_back(db_path, monkeypatch):
    import pytest

    from curate.store import locks

    Store(db_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from curate.store import Store; s = Store(sys.argv[1], migrate=False)\n"
        "with s.connect():\n    print('held', flush=True); time.sleep(2)"), str(db_path)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout.readline().strip() == "held"
    monkeypatch.setattr(locks, "LOCK_TOTAL_WAIT", 0.3)
    with pytest.raises(locks.StoreLockedError, match="held by another process"):
        Store(db_path, migrate=False).scalar("SELECT 1")
    holder.wait()
    time.sleep(0.2)   # the abandoned waiter gets the turn when the holder ends, and hands it straight back
    assert _turn_is_free(db_path)
    assert Store(db_path, migrate=False).scalar("SELECT 1") == 1


def _exit_at_once() -> None:
    pass


def test_a_forked_child_does_not_end_its_parents_turn(db_path):
    import multiprocessing

    store = Store(db_path)
    with store.connect():
        child = multiprocessing.get_context("fork").Process(target=_exit_at_once)
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert not _turn_is_free(db_path)
    assert _turn_is_free(db_path)


def test_a_long_writer_keeps_the_file_between_batches_and_hands_it_on_when_another_process_waits(db_path):
    store = Store(db_path)
    with store.held() as hold:
        hold.take()
        store.execute("INSERT INTO jobs (kind, state) VALUES ('batch 1', 'succeeded')")
        hold.offer(next_ready=lambda: True)  # nobody waits and the next batch is ready: kept
        assert not _turn_is_free(db_path)
        other = subprocess.Popen([sys.executable, "-c", (
            "import sys; from curate.store import Store\n"
            "Store(sys.argv[1], migrate=False).execute(\"INSERT INTO jobs (kind, state) VALUES ('other', 'succeeded')\")"),
            str(db_path)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while other.poll() is None and time.time() < deadline:
            hold.offer()                    # hands the file on once the other process waits for it
            time.sleep(0.01)
        assert other.wait(5) == 0, other.stderr.read()
        hold.take()
        store.execute("INSERT INTO jobs (kind, state) VALUES ('batch 2', 'succeeded')")
        assert not _turn_is_free(db_path)   # taken again after the other process
        hold.offer(next_ready=lambda: False)   # the next batch is not ready within half a second: let go
        assert _turn_is_free(db_path)
    assert [r["kind"] for r in store.rows("SELECT kind FROM jobs ORDER BY id")] == ["batch 1", "other", "batch 2"]
