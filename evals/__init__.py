"""evals: filled in by the evals issues; imports curate, never the app."""
