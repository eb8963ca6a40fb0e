"""The app as `tuneloop app` serves it: Streamlit's own ASGI app (st.App) with one guard in front.

The guard answers 404 for Streamlit's `/_stcore/metrics` (Streamlit registers that route on every
server; its figures are no business of whoever reaches the port) and adds security headers to
every HTTP response: the app may be framed only by its own pages (`frame-ancestors 'self'`, and
X-Frame-Options for older browsers), content types are not sniffed, and no page address leaks in a
Referer header. Everything else passes to Streamlit unchanged, websockets included.
"""
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

BLOCKED_PATHS = ("/_stcore/metrics",)
SECURITY_HEADERS = [
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class Guard:
    """Pure ASGI middleware: blocked paths answer 404; HTTP responses get SECURITY_HEADERS."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"].rstrip("/").endswith(BLOCKED_PATHS):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain"), *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": b"Not found"})
            return

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


app = st.App(Path(__file__).parent / "app.py", middleware=[Middleware(Guard)])
