"""Evaluation's tables (curate.store.migrations finds this through the tuneloop.schema entry point)."""

LAYER = 2
MIGRATIONS = [
    (6, "benchmark results, domain evaluation runs, model outputs and their flags", ("006_evaluation.sql",)),
    (7, "blind A/B studies, their items and votes", ("007_ab.sql",)),
    (8, "evaluations are jobs", ("008_eval_jobs.sql",)),
    (12, "domain evaluations on evaluation sets", ("012_eval_on_sets.sql",)),
    (16, "judgements of outputs and A/B items", ("016_judgements.sql",)),
    (20, "benchmark items as each model answered them", ("020_benchmark_items.sql",)),
]
# What a personal-data purge rewrites here (curate.privacy.redact): model outputs by pair.
PURGE = (("model_outputs", ("SELECT rowid, prompt, output, reference FROM model_outputs WHERE pair_id = ?",
                            "UPDATE model_outputs SET prompt = ?, output = ?, reference = ? WHERE rowid = ?")),)
