"""What every page shares: the store this server works on."""
from __future__ import annotations

import streamlit as st

from curate.demo import seed_if_empty
from curate.store import Store, default_db_path


@st.cache_resource(show_spinner="Opening the store…")
def _open(path: str) -> Store:
    store = Store(path)
    seed_if_empty(store)
    return store


def get_store() -> Store:
    """The store named by $TUNELOOP_DB (the `tuneloop app --db` option), seeded when empty."""
    return _open(default_db_path())
