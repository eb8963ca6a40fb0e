"""Showing user text safely: everything a pair says is escaped before it reaches markdown."""
from __future__ import annotations

import re

from curate.labels import header

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


def table(data, where=None, **options):
    """A table as people read it: human headers, no "None" in empty text cells, fractions to three
    places, the full width, no index column. `where` is a column or container (st by default); other
    options go to st.dataframe."""
    import pandas as pd
    import streamlit as st

    frame = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].where(frame[column].notna(), "")
    labels = {c: st.column_config.Column(header(str(c))) for c in frame.columns if header(str(c)) != c}
    for column in frame.columns:   # fractions to three places (whole numbers stay whole)
        values = frame[column]
        if values.dtype.kind == "f" and not (values.dropna() % 1 == 0).all():
            labels[column] = st.column_config.NumberColumn(header(str(column)), format="%.3f")
    options = {"hide_index": True, "width": "stretch", **options,
               "column_config": {**labels, **options.get("column_config", {})}}
    return (where or st).dataframe(frame, **options)


def finding_markdown(finding: dict) -> str:
    """A quality-scan finding as a hint beside a pair: its kind, score and evidence (escaped)."""
    return (f"Quality scan: **{finding['kind'].replace('_', ' ')}** ({finding['score']:.2f}) · "
            + escape_markdown(finding["detail"]))


def natural_order(values) -> list:
    """Distinct values in the order people count them: "2" before "10", then text."""
    return sorted(set(values), key=lambda v: (0, int(v), "") if str(v).isdigit() else (1, 0, str(v)))


def plural(n: int, noun: str) -> str:
    """"1 pair", "2 pairs", "1,204 pairs"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def highlight_markdown(text: str, term: str | None) -> str:
    """Text as markdown shows it as written, with every case-insensitive match of `term` marked."""
    if not term:
        return escape_markdown(text)
    parts = re.split(f"({re.escape(term)})", text, flags=re.IGNORECASE)
    return "".join(f":orange-background[{escape_markdown(p)}]" if i % 2 else escape_markdown(p)
                   for i, p in enumerate(parts) if p)


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


def config_form(cls, names: list[str], values: dict | None = None, columns: int = 3) -> dict:
    """Widgets for some fields of a config dataclass (inside a form), labelled and explained by the
    fields' own help; returns {field: value}. An empty box means the field's default (None or "")."""
    import streamlit as st

    from curate.options import options

    chosen = {o.name: o for o in options(cls)}
    out, cols = {}, st.columns(columns)
    for i, name in enumerate(names):
        o, col = chosen[name], cols[i % columns]
        value = (values or {}).get(name, o.default)
        label = o.label
        if o.choices:
            out[name] = col.selectbox(label, o.choices, index=list(o.choices).index(value), help=o.help)
        elif o.type is bool:
            out[name] = col.toggle(label, value=bool(value), help=o.help)
        elif o.type in (int, float):   # an empty box is the default None; never free text to parse
            out[name] = col.number_input(label, value=None if value is None else o.type(value), help=o.help,
                                         **({"step": 1} if o.type is int else {"format": "%g"}))
        else:
            text = col.text_input(label, value="" if value is None else str(value), help=o.help)
            out[name] = o.type(text) if text.strip() else o.default
    return out


def page_picker(total: int, page_size: int, key: str, where=None) -> int:
    """A page number input for `total` rows shown `page_size` at a time (1 when all fit), in
    `where` (a column; the page by default)."""
    import streamlit as st

    pages = max(1, -(-total // page_size))
    if pages == 1:
        return 1
    return int((where or st).number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, key=key))
