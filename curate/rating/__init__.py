"""Human rating: the schema and approval rule (rating.schema), the queue with leases
(rating.queue), append-only ratings, undo and edits (rating.ratings), disagreements, review and
approval (rating.review), and agreement statistics (rating.agreement).

Ratings are rows per (pair, annotator, question); the latest row wins and a NULL value retracts
an answer (undo). Annotators never overwrite each other. Questions whose name starts with "_"
(like "_skipped") are bookkeeping, not answers.
"""
from curate.rating.agreement import agreement
from curate.rating.leases import LEASE_SECONDS
from curate.rating.queue import export_for_annotation, fetch_ahead, next_pair, pair_view, progress
from curate.rating.ratings import import_ratings, skip, submit, undo_last, validate
from curate.rating.review import approve, disagreements, review
from curate.rating.schema import (
    DEFAULT_SCHEMA,
    QUESTION_TYPES,
    ApprovalRule,
    get_rule,
    get_schema,
    schema_from_rows,
    schema_rows,
    schema_text,
    set_rule,
    set_schema,
    set_schema_text,
)

__all__ = ["DEFAULT_SCHEMA", "LEASE_SECONDS", "QUESTION_TYPES", "ApprovalRule", "agreement", "approve",
           "disagreements", "export_for_annotation", "fetch_ahead", "get_rule", "get_schema", "import_ratings",
           "next_pair", "pair_view", "progress", "review", "schema_from_rows", "schema_rows", "schema_text",
           "set_rule", "set_schema", "set_schema_text", "skip", "submit", "undo_last", "validate"]
