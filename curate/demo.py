"""The sample data that ships with tuneloop: a fictional lamp maker's support log.

lumo_support_faq.jsonl holds Q&A rows with planted near-duplicates, typos, off-topic questions
and over-long answers (each row's `note` says which); lumo_support_chats.jsonl holds multi-turn
chats; lumo_manual.md is a document for pair generation.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from curate.ingest.importer import ingest
from curate.ingest.sources import IngestReport
from curate.pairs.extract import ExtractReport, extract
from curate.store import Store

DEMO_TOPIC = "Lumo"


def sample_files() -> list[Path]:
    folder = resources.files("curate") / "sample_data"
    return sorted(Path(str(folder)).glob("lumo_*"))


def load_demo_data(store: Store) -> tuple[list[IngestReport], ExtractReport]:
    """Import the sample files and extract their pairs (a no-op the second time)."""
    reports = ingest(store, sample_files(), topic=DEMO_TOPIC)
    return reports, extract(store)


def seed_if_empty(store: Store) -> bool:
    """Load the sample data into a store that has no sources yet; True if it did."""
    if store.scalar("SELECT count(*) FROM sources"):
        return False
    load_demo_data(store)
    return True
