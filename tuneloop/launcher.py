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
        # tables' own CSV download bypasses roles and the formula guard; pages offer their own
        "--client.disableDataExport", "true",
    ]


MIN_COOKIE_SECRET = 32


def streamlit_option(name: str):
    """A Streamlit server option as `streamlit run` will see it: its STREAMLIT_… environment
    variable first (server.enableXsrfProtection → STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION), then
    the config files, then the default."""
    import re

    from streamlit import config

    env = "STREAMLIT_" + re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name.replace(".", "_")).upper()
    if env in os.environ:
        value = os.environ[env]
        return {"true": True, "false": False}.get(value.strip().lower(), value)
    config.get_config_options(force_reparse=True)
    return config.get_option(name)


def check_production(store) -> None:
    """Refuse settings that are unsafe when a team shares the server."""
    from curate.errors import TuneloopError
    from curate.users import sign_in_required

    problems = []
    if not streamlit_option("server.enableXsrfProtection"):
        problems.append("XSRF protection is off (server.enableXsrfProtection)")
    secret = streamlit_option("server.cookieSecret") or ""
    if len(str(secret)) < MIN_COOKIE_SECRET:
        problems.append(f"server.cookieSecret is shorter than {MIN_COOKIE_SECRET} characters"
                        " (set STREAMLIT_SERVER_COOKIE_SECRET to a long random string)")
    if not sign_in_required(store):
        problems.append("nobody has a password yet, so anyone could use the app: `tuneloop users add NAME --role admin`")
    if problems:
        raise TuneloopError("refusing to serve in production mode: " + "; ".join(problems))


def run_app(db: Path, port: int = 8501, headless: bool = False) -> int:
    """Become the Streamlit server (exec), so stopping this process stops the server."""
    command = app_command(port, headless)
    os.execve(command[0], command, {**os.environ, ENV_DB: str(db)})
    return 1  # not reached
