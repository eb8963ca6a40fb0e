"""Start the Streamlit app on a store."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit_app
from curate.ingest import MAX_UPLOAD_BYTES
from curate.store import ENV_DB

APP = Path(streamlit_app.__file__).parent / "app.py"


def app_command(port: int = 8501, headless: bool = False) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--server.maxUploadSize", str(MAX_UPLOAD_BYTES // 2**20),
        "--browser.gatherUsageStats", "false",
    ]


def run_app(db: Path, port: int = 8501, headless: bool = False) -> int:
    """Become the Streamlit server (exec), so stopping this process stops the server."""
    command = app_command(port, headless)
    os.execve(command[0], command, {**os.environ, ENV_DB: str(db)})
    return 1  # not reached
