"""Garbled text: mojibake from a wrong decode upstream ("weâ€™ll"), HTML tags and entities left in,
replacement characters (U+FFFD) and control characters. ftfy says what the text should have been,
and that fix is the evidence."""
from __future__ import annotations

import html
import re

from curate.quality.checks import Finding

KIND = "garbled"
THRESHOLD = 0.7
_ENTITY = re.compile(r"&(#\d{2,5}|#x[0-9a-f]{2,4}|[a-z]{2,8});", re.I)
_TAG = re.compile(r"</?(p|br|div|span|b|i|u|em|strong|a|li|ul|ol|table|tr|td|h\d|img|font)\b[^>]{0,200}>", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check(pair: dict) -> Finding | None:
    best = None
    for field in ("instruction", "response"):
        text = pair[field] or ""
        found = _garbled(text)
        if found and (best is None or found[0] > best[0]):
            best = (found[0], f"{'question' if field == 'instruction' else 'answer'}: {found[1]}")
    return Finding(pair["id"], KIND, best[0], best[1], "garbled") if best else None


def _garbled(text: str) -> tuple[float, str] | None:
    import ftfy

    if "\ufffd" in text:
        return 0.9, "replacement characters (\ufffd): bytes were lost in a decode"
    fixed = ftfy.fix_encoding(text)
    if fixed != text:
        at = next((i for i, (a, b) in enumerate(zip(text, fixed)) if a != b), 0)
        return 0.95, f"mojibake: {text[max(0, at - 10):at + 20]!r} reads {fixed[max(0, at - 10):at + 20]!r}"
    entities = _ENTITY.findall(text)
    if entities and html.unescape(text) != text:
        return 0.85, f"HTML entities left in: {', '.join(sorted({'&' + e + ';' for e in entities})[:4])}"
    tags = _TAG.findall(text)
    if tags:
        return 0.8, f"HTML tags left in: {', '.join(sorted({'<' + t.lower() + '>' for t in tags})[:4])}"
    if _CONTROL.search(text):
        return 0.75, "control characters in the text"
    return None
