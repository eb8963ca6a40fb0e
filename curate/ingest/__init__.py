"""Import raw logs and documents into the store.

- `importer`: files and folders → sources, raw logs and rejects, in batches, resumable;
- `readers`: files → records, one at a time, each bad one a reject with file, line and reason;
- `records`: a read record → tuneloop's normal form (qa, conversation, message, document);
- `bulk`: the plain records normalized in bulk by DuckDB, as the per-record path would;
- `batching`: reading ahead in a thread, and cutting the records into batches.
"""
from curate.ingest.importer import FORMATS, MAX_UPLOAD_BYTES, ingest, ingest_upload, parse_mapping
from curate.ingest.sources import IngestReport

__all__ = ["FORMATS", "MAX_UPLOAD_BYTES", "IngestReport", "ingest", "ingest_upload", "parse_mapping"]
