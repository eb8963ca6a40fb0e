"""Training's tables (curate.store.migrations finds this through the tuneloop.schema entry point)."""

LAYER = 1
MIGRATIONS = [
    (5, "training runs, metrics, example losses", ("005_runs.sql",)),
    (8, "runs are jobs", ("008_runs_as_jobs.sql",)),
    (14, "DPO figures in run metrics", ("014_preference_metrics.sql",)),
]
