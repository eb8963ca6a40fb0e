"""Showing user text safely: everything a pair says is escaped before it reaches markdown."""
from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:=&\"'])")


def escape_markdown(text: str) -> str:
    """Text that markdown shows as written: no emphasis, links, HTML or colour directives."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def diff_markdown(segments: list[tuple[str, str]]) -> str:
    """Word diff as markdown: removed words struck on red, added words on green."""
    out = []
    for text, kind in segments:
        if not text:
            continue
        safe = escape_markdown(text)
        if kind == "added":
            out.append(f":green-background[{safe}]")
        elif kind == "removed":
            out.append(f":red-background[~~{safe}~~]")
        else:
            out.append(safe)
    return " ".join(out)


RESERVED_KEYS = {"C", "R", "S", "U"}  # Streamlit keeps C and R; S skips and U undoes on the Rate page


def shortcut_keys(values: list) -> dict:
    """A keyboard key for each value: digits stay digits, labels get their first free letter."""
    keys, used = {}, set(RESERVED_KEYS)
    for value in values:
        text = str(value)
        if text.isdigit() and len(text) == 1:
            keys[value] = text
            continue
        for letter in text.upper() + "XYZQWVBKJ":
            if letter.isalpha() and letter not in used:
                keys[value] = letter
                used.add(letter)
                break
    return keys
