"""Start the Streamlit app on a store."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit_app
from curate.ingest.importer import MAX_UPLOAD_BYTES
from curate.store import ENV_DB

APP = Path(streamlit_app.__file__).parent / "app.py"
SERVE = Path(streamlit_app.__file__).parent / "serve.py"   # the app behind its guard (metrics blocked, headers)


def app_command(port: int = 8501, production: bool = False) -> list[str]:
    """`streamlit run` for the app. Always headless: Streamlit's first run otherwise asks for an
    e-mail address on the terminal (and exits without one); tuneloop opens the browser itself."""
    return [
        sys.executable, "-m", "streamlit", "run", str(SERVE),
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.maxUploadSize", str(MAX_UPLOAD_BYTES // 2**20),
        "--browser.gatherUsageStats", "false",
        # tables' own CSV download bypasses roles and the formula guard; pages offer their own
        "--client.disableDataExport", "true",
        # no "Deploy" button or developer menu: the app is a product, not a script being written
        "--client.toolbarMode", "minimal",
        # a team's users see that something failed, not the code: the traceback goes to the log
        *(["--client.showErrorDetails", "none"] if production else []),
    ]


MIN_COOKIE_SECRET = 32
MIN_SECRET_BITS = 128
LOCAL_ADDRESSES = ("", "localhost", "127.0.0.1", "::1")


def streamlit_option(name: str):
    """A Streamlit server option as `streamlit run` will see it: its STREAMLIT_… environment
    variable first (server.enableXsrfProtection → STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION), then
    the config files, then the default."""
    import re

    from streamlit import config

    env = "STREAMLIT_" + re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name.replace(".", "_")).upper()
    if env in os.environ:
        return _boolean(os.environ[env])
    config.get_config_options(force_reparse=True)
    return _boolean(config.get_option(name))


def _boolean(value):
    """Every spelling of on and off that Streamlit's settings accept, as True or False."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off", ""):
            return False
    return value


def secret_problem(secret: str) -> str | None:
    """Why a cookie secret is too weak to sign sessions with, or None: it needs 32 characters and
    about 128 bits by its own letter frequencies (a repeated word or a run of one key fails)."""
    import math
    from collections import Counter

    if len(secret) < MIN_COOKIE_SECRET:
        return f"shorter than {MIN_COOKIE_SECRET} characters"
    counts = Counter(secret)
    bits = -sum(c * math.log2(c / len(secret)) for c in counts.values())
    for size in range(1, len(secret) // 2 + 1):
        if len(secret) % size == 0 and secret[:size] * (len(secret) // size) == secret:
            bits = min(bits, size * math.log2(max(len(counts), 2)))
            break
    if bits < MIN_SECRET_BITS:
        return f"too predictable (about {bits:.0f} bits; use e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
    return None


def check_production(store) -> None:
    """Refuse settings that are unsafe when a team shares the server."""
    from curate.errors import TuneloopError
    from curate.rating.users import sign_in_required

    problems = []
    if not streamlit_option("server.enableXsrfProtection"):
        problems.append("XSRF protection is off (server.enableXsrfProtection)")
    secret = str(streamlit_option("server.cookieSecret") or "")
    weak = secret_problem(secret)
    if weak:
        problems.append(f"server.cookieSecret is {weak} (set STREAMLIT_SERVER_COOKIE_SECRET to a long random string)")
    if not sign_in_required(store):
        problems.append("nobody has a password yet, so anyone could use the app: `tuneloop users add NAME --role admin`")
    if problems:
        raise TuneloopError("refusing to serve in production mode: " + "; ".join(problems))
    return production_warnings()


def production_warnings() -> list[str]:
    """What production mode warns about but does not refuse."""
    warnings = []
    address = str(streamlit_option("server.address") or "")
    if address not in LOCAL_ADDRESSES and not streamlit_option("server.sslCertFile"):
        warnings.append(f"serving on {address} without TLS: passwords and data cross the network in clear text;"
                        " put a reverse proxy with a certificate in front, or set server.sslCertFile and"
                        " server.sslKeyFile (README: Sharing the app with a team)")
    return warnings


def open_browser_when_up(url: str, port: int, timeout: float = 60.0) -> None:
    """In a child process: wait until the server answers, open the browser, and exit."""
    if os.fork() != 0:
        return
    try:
        import socket
        import time
        import webbrowser

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                webbrowser.open(url)
                break
            except OSError:
                time.sleep(0.5)
    finally:
        os._exit(0)


def run_app(db: Path, port: int = 8501, headless: bool = False, production: bool = False) -> int:
    """Become the Streamlit server (exec), so stopping this process stops the server."""
    command = app_command(port, production)
    if not headless and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform == "darwin"):
        open_browser_when_up(f"http://localhost:{port}", port)
    os.execve(command[0], command, {**os.environ, ENV_DB: str(db)})
    return 1  # not reached
