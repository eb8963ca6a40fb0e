"""The data layer's tables, one migration per version (curate.store.migrations reads this)."""

LAYER = 0
MIGRATIONS = [
    (1, "core tables: sources, raw_logs, rejects, pairs, jobs", ("001_core.sql",)),
    (2, "dedupe runs, clusters and members; embeddings", ("002_dedupe.sql",)),
    (3, "diversity runs and pair clusters", ("003_diversity.sql",)),
    (4, "users, settings, ratings, leases, reviews", ("004_rating.sql",)),
    (5, "dataset versions and items", ("005_datasets.sql",)),
    (8, "trained models by name; job logs", ("008_models_and_job_logs.sql",)),
    (9, "the job importing each source", ("009_source_claims.sql",)),
    (10, "sign-in attempts", ("010_sign_in_attempts.sql",)),
    (11, "pairs that overlap benchmark items", ("011_contamination.sql",)),
    (12, "evaluation sets", ("012_eval_sets.sql",)),
    (13, "personal data: scans, findings and purges", ("013_pii.sql",)),
    (14, "preference versions and their chosen/rejected items", ("014_preferences.sql",)),
    (15, "dataset items that are whole conversations, with the loss on every assistant turn",
     ("015_conversation_items.sql",)),
    (16, "model judges and quality scores: pair scores, judge calibrations", ("016_pair_scores.sql",)),
    (17, "the rating queue's pair leased ahead of the one on screen", ("017_leases_fetched_ahead.sql",)),
    (18, "raw logs extracted per source, whatever the source's state", ("018_extracted_rows.sql",)),
    (19, "the quality scan's findings; bulk status changes that can be undone", ("019_quality_and_changes.sql",)),
]
# What a personal-data purge rewrites here besides pairs and raw logs (curate.privacy.redact):
# the frozen dataset items made from a pair.
PURGE = (("dataset_items", ("SELECT rowid, instruction, input, response, context, system, prompt, completion"
                            " FROM dataset_items WHERE pair_id = ?",
                            "UPDATE dataset_items SET instruction = ?, input = ?, response = ?, context = ?, system = ?,"
                            " prompt = ?, completion = ? WHERE rowid = ?")),)
