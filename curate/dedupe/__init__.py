"""Duplicates: find them (`find`: exact, MinHash near-duplicates with `minhash` and `jaccard`,
semantic), let people decide (`decide`), and keep evaluation data clean (`leakage` between
train and test, `decontaminate` against benchmark items)."""
from curate.dedupe.decide import accept_all, dismiss, reopen, resolve
from curate.dedupe.find import FIELDS, KEEPERS, METHODS, DedupeConfig, dedupe

__all__ = ["FIELDS", "KEEPERS", "METHODS", "DedupeConfig", "accept_all", "dedupe", "dismiss", "reopen", "resolve"]
