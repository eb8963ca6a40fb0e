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
