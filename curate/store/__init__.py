"""The store: one DuckDB file with tuneloop's schema. Only this package opens it.

- `store`: the Store API (units of work, transactions, queries, migrating on open);
- `locks`: how processes and threads take turns at the file;
- `migrations`: the ordered registry of schema changes each package declares;
- `jobs`: the lifecycle of long work;
- `settings`: values the team changes at run time.
"""
from curate.store.jobs import JOB_LOG_ENV, JOB_STATES, Job
from curate.store.locks import StoreLockedError
from curate.store.store import DEFAULT_DB, ENV_DB, Store, StoreGone, default_db_path

__all__ = ["DEFAULT_DB", "ENV_DB", "JOB_LOG_ENV", "JOB_STATES", "Job", "Store", "StoreGone", "StoreLockedError",
           "default_db_path"]
