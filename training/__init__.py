"""training: filled in by the training issues; imports curate, never the app."""
