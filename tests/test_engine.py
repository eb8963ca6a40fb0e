"""The heavy batch steps on Ray Data (`--engine ray`): the same results as the local engine, on
real data, with the store written only after; a step killed midway leaves the store as it was."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("ray", reason="the scale extra (pip install 'tuneloop[scale]') is not installed")
pytestmark = pytest.mark.ray


@pytest.fixture
def lamini(cli, store):
    from conftest import shared

    cli("ingest", str(shared("lamini_docs")), "--topic", "Lamini")
    cli("pairs", "extract")
    return store


def clusters(store, run_id):
    rows = store.rows("SELECT c.id, list(m.pair_id ORDER BY m.pair_id) AS members FROM dup_clusters c"
                      " JOIN dup_members m ON m.cluster_id = c.id WHERE c.run_id = ? GROUP BY c.id", [run_id])
    return sorted(tuple(r["members"]) for r in rows)


def tuneloop(db, *args):
    return [sys.executable, "-m", "tuneloop.cli", "--db", str(db), *args]


def test_minhash_dedupe_on_ray_finds_the_same_clusters_as_locally(lamini, db_path, tmp_path):
    local = subprocess.run(tuneloop(db_path, "dedupe", "--method", "minhash"), capture_output=True, text=True)
    assert local.returncode == 0, local.stderr[-2000:]
    found_locally = clusters(lamini, lamini.scalar("SELECT max(id) FROM dedupe_runs"))
    stage = tmp_path / "stage"
    on_ray = subprocess.run(tuneloop(db_path, "dedupe", "--method", "minhash", "--engine", "ray", "--stage", str(stage)),
                            capture_output=True, text=True, timeout=600)
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    # the second run replaces the first one's open proposals: the same clusters, found on Ray
    assert clusters(lamini, lamini.scalar("SELECT max(id) FROM dedupe_runs")) == found_locally
    assert len(found_locally) > 10
    job = lamini.one("SELECT args, progress FROM jobs WHERE kind = 'dedupe.minhash' ORDER BY id DESC LIMIT 1")
    assert json.loads(job["args"])["engine"] == "ray" and job["progress"] == 1
    assert not any(stage.iterdir())   # snapshots are cleaned up after the step


@pytest.mark.embeddings
def test_embeddings_on_ray_are_the_local_vectors(lamini, tmp_path):
    import ray

    from curate.engine import Engine
    from curate.lm.embeddings import Embedder, embed, placement

    texts = [r["instruction"] for r in lamini.rows("SELECT instruction FROM pairs ORDER BY id LIMIT 300")]
    try:
        table = Engine("ray", str(tmp_path / "stage")).run(Embedder, pa.table({"text": texts}), batch_size=64)
    finally:
        ray.shutdown()
    on_ray = table.column("vector").combine_chunks().flatten().to_numpy().reshape(len(texts), -1)
    local = embed(texts)
    if placement().precision == "fp32":
        assert np.allclose(on_ray, local, atol=1e-5)
    else:   # in bf16 a vector depends a little on the texts padded beside it: the stated tolerance
        assert (on_ray * local).sum(axis=1).min() >= 0.99


def test_a_ray_step_killed_midway_leaves_the_store_as_it_was_and_a_rerun_completes(lamini, db_path, tmp_path):
    stage = tmp_path / "stage"
    before = lamini.scalar("SELECT count(*) FROM dedupe_runs")
    proc = subprocess.Popen(tuneloop(db_path, "dedupe", "--method", "minhash", "--engine", "ray", "--stage", str(stage)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list(stage.glob("*/input.parquet")):
        time.sleep(0.2)
    assert list(stage.glob("*/input.parquet")), "the step never reached Ray"
    os.killpg(proc.pid, signal.SIGKILL)   # the command and the Ray runtime it started
    proc.wait()
    from curate.store import Store

    store = Store(db_path)   # opening marks the killed job interrupted
    assert store.scalar("SELECT count(*) FROM dedupe_runs") == before
    assert store.scalar("SELECT count(*) FROM dup_clusters") == 0
    assert store.scalar("SELECT state FROM jobs WHERE kind = 'dedupe.minhash'") == "interrupted"
    again = subprocess.run(tuneloop(db_path, "dedupe", "--method", "minhash", "--engine", "ray", "--stage", str(stage)),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert store.scalar("SELECT count(*) FROM dedupe_runs") == before + 1 and store.scalar("SELECT count(*) FROM dup_clusters")


def test_the_ray_engine_without_ray_says_how_to_install_it(monkeypatch):
    import builtins

    from curate.engine import start_ray
    from curate.errors import TuneloopError

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "ray" else real_import(name, *a, **k))
    with pytest.raises(TuneloopError, match=r"pip install 'tuneloop\[scale\]'"):
        start_ray()


@pytest.mark.embeddings
def test_domain_evaluation_on_ray_gives_the_local_answers(lamini, tiny_model_dir, tmp_path):
    from curate.datasets.build import DatasetConfig, build_dataset
    from curate.engine import Engine
    from evals.domain import evaluate_domain

    lamini.execute("UPDATE pairs SET status = 'approved' WHERE id <= 120")
    build_dataset(lamini, DatasetConfig("v1", model=str(tiny_model_dir), max_length=96, semantic_threshold=None),
                  export_root=tmp_path / "ds")
    import ray

    try:   # one batch of 12 questions: the same batch on both engines, so the same greedy answers
        runs = [evaluate_domain(lamini, str(tiny_model_dir), "v1", max_new_tokens=8, limit=12, flag=False,
                                engine=engine)["eval_run_id"]
                for engine in (None, Engine("ray", str(tmp_path / "stage")))]
    finally:
        ray.shutdown()
    local, on_ray = ([r["output"] for r in lamini.rows("SELECT output FROM model_outputs WHERE eval_run_id = ?"
                                                       " ORDER BY id", [run])] for run in runs)
    assert local == on_ray and len(local) == 12
    config = json.loads(lamini.scalar("SELECT config FROM eval_runs WHERE id = ?", [runs[1]]))
    assert config["engine"] == "ray"


def test_pair_generation_on_ray_gives_the_local_pairs(store, write, tiny_model_dir, tmp_path):
    import ray

    from curate.engine import Engine
    from curate.ingest.importer import ingest
    from curate.lm.backends import make_backend
    from curate.pairs.generate import GenerationConfig, generate

    manual = ("# Lumo lamp\n\nHold the power button for ten seconds to reset the Lumo lamp. The light blinks"
              " twice when the reset is done.\n\n# Warranty\n\nThe warranty lasts two years from the day of purchase.\n")
    ingest(store, [write("manual.md", manual)], topic="Lumo")
    config = GenerationConfig(topic="Lumo", n=3, max_new_tokens=12, max_rounds=1, seed=4)
    backends = [make_backend("local", str(tiny_model_dir), store, batch_size=64),
                make_backend("local", str(tiny_model_dir), store, batch_size=64, engine=Engine("ray", str(tmp_path / "s")))]
    try:   # every round's prompts fit one batch on both engines: same batches, same seeds, same text
        local, on_ray = (generate(store, b, config, write=False) for b in backends)
    finally:
        ray.shutdown()
    assert type(backends[1]).__name__ == "RayBackend" and local.prompts == on_ray.prompts > 0
    assert [(p["instruction"], p["response"]) for p in local.pairs] == [(p["instruction"], p["response"]) for p in on_ray.pairs]


def test_bad_engine_settings_are_clear_errors(lamini, cli, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("dedupe", "--method", "minhash", "--engine", "ray", "--stage", str(blocker / "stage"))
    assert result.exit_code != 0 and "--stage" in result.output and "cannot make a folder" in result.output
    assert lamini.scalar("SELECT count(*) FROM dedupe_runs") == 0
    monkeypatch.setenv("TUNELOOP_ENGINE", "spark")
    result = cli("dedupe", "--method", "minhash")
    assert result.exit_code != 0 and "choose one of local, ray" in result.output
