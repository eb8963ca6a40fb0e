"""Instruction–response pairs.

- `status`: the one vocabulary of pair statuses, and the only code that writes them in SQL;
- `rows`: a pair as a row, storing new pairs, which pairs form one conversation;
- `extract`: raw logs → pairs; `search`: pairs read back a page at a time; `export`: pairs → files;
- `generate`: pairs written by a language model; `offtopic`: off-topic questions answered with a refusal.
"""
from curate.pairs.extract import ExtractReport, extract
from curate.pairs.rows import ORIGINS, insert_pairs, make_pair
from curate.pairs.search import search
from curate.pairs.status import STATUSES

__all__ = ["ORIGINS", "STATUSES", "ExtractReport", "extract", "insert_pairs", "make_pair", "search"]
