"""The curation app: pages that display and call library functions (no SQL, no logic)."""
