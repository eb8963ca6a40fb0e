"""A source is one imported file: its row, the attempt that holds it, and the report an import
gives about it. Bookkeeping only; curate.ingest.importer reads and writes the records."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from curate.store import Store


@dataclass
class IngestReport:
    file: str
    status: str = "imported"   # imported | resumed | already imported | refused | failed | busy
    source_id: int | None = None
    format: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    first_lines: dict = field(default_factory=dict)  # reason → first line it happened on
    error: str | None = None
    notes: list = field(default_factory=list)         # what the reader noticed about the whole file

    @property
    def ok(self) -> bool:
        return self.status not in ("refused", "failed", "busy")

    def reason_lines(self, most: int = 5) -> list[str]:
        """The commonest reasons records were rejected, with the first line each happened on."""
        lines = [f"rejected {count} × {reason} (first at line {self.first_lines[reason]})"
                 for reason, count in self.reasons.most_common(most)]
        if len(self.reasons) > most:
            lines.append(f"… and {len(self.reasons) - most} other reasons; see the Overview page")
        return [line.encode("utf-8", "backslashreplace").decode("utf-8") for line in lines]

    def summary(self) -> str:
        """One line (and its notes) for a console or a page; characters that are not valid Unicode
        (a lone surrogate from a binary file) are written as escapes."""
        return self._summary().encode("utf-8", "backslashreplace").decode("utf-8")

    def _summary(self) -> str:
        if self.status in ("refused", "busy"):
            return f"{self.file}: not imported: {self.error}"
        if self.status == "failed":
            return (f"{self.file}: stopped after {self.rows_read} records ({self.rows_stored} stored): {self.error};"
                    " what was read is kept, and running the import again resumes it")
        line = (f"{self.file}: {self.status} ({self.format}, {self.encoding or 'binary'}) read {self.rows_read},"
                f" stored {self.rows_stored}, duplicates {self.rows_duplicate}, rejected {self.rows_rejected}")
        for note in self.notes:
            line += f"\n  note: {note}"
        return line


def claim(store: Store, sha: str, job_id: int | None) -> dict:
    """The source already holding these bytes (or None), taken for this job unless another running
    job holds it (busy)."""
    with store.transaction() as con:
        row = con.execute("SELECT * FROM sources WHERE sha256 = ?", [sha]).fetchone()
        if row is None:
            return {"source": None, "busy": False}
        source = dict(zip([d[0] for d in con.description], row))
        holder = source.get("job_id")
        if source["status"] not in ("complete", "refused") and holder is not None and holder != job_id:
            running = con.execute("SELECT count(*) FROM jobs WHERE id = ? AND state = 'running'", [holder]).fetchone()[0]
            if running:
                return {"source": source, "busy": True}
        if job_id is not None and source["status"] != "complete":
            con.execute("UPDATE sources SET job_id = ? WHERE id = ?", [job_id, source["id"]])
    return {"source": source, "busy": False}


def new_source(store: Store, name: str, sha: str, report: IngestReport, topic: str | None, job_id: int | None,
                options: dict) -> int | None:
    """A new source row for these bytes, or None when another import inserted it first."""
    import duckdb

    try:
        return store.scalar(
            "INSERT INTO sources (name, sha256, format, encoding, topic, options, status, job_id)"
            " VALUES (?, ?, ?, ?, ?, ?, 'importing', ?) ON CONFLICT DO NOTHING RETURNING id",
            [name, sha, report.format, report.encoding, topic, json.dumps(options), job_id])
    except (duckdb.TransactionException, duckdb.ConstraintException) as exc:  # the other insert won
        if "constraint" in str(exc).lower():
            return None
        raise


def supersede(store: Store, source_id: int, where: str) -> None:
    """Earlier attempts at the same file that did not finish (it changed while it was read, or was
    killed and then appended to) are superseded by this one: their rejects go, since this attempt
    reads every line again; their raw logs stay theirs and still become pairs (extraction does not
    look at a source's state)."""
    with store.transaction() as con:
        earlier = [r[0] for r in con.execute(
            "SELECT id FROM sources WHERE id <> ? AND options->>'where' = ? AND status IN ('importing', 'failed')",
            [source_id, where]).fetchall()]
        if earlier:
            con.execute("DELETE FROM rejects WHERE list_contains(?, source_id)", [earlier])
            con.execute("UPDATE sources SET status = 'superseded', error = ? WHERE list_contains(?, id)",
                        [f"superseded by source {source_id}: the file changed after this attempt", earlier])


def report_from_source(report: IngestReport, row: dict, status: str) -> IngestReport:
    report.status, report.source_id, report.format, report.encoding = status, row["id"], row["format"], row["encoding"]
    report.rows_read, report.rows_stored = row["rows_read"], row["rows_stored"]
    report.rows_duplicate, report.rows_rejected = row["rows_duplicate"], row["rows_rejected"]
    return report


def refuse(store: Store, source_id: int | None, name: str, sha: str, report: IngestReport) -> None:
    """Record a file nothing could be read from: a source row marked refused and one reject."""
    with store.transaction() as con:
        if source_id is None:
            source_id = con.execute(
                "INSERT INTO sources (name, sha256, format, encoding, status, error)"
                " VALUES (?, ?, ?, ?, 'refused', ?) RETURNING id",
                [name, sha, report.format or "unknown", report.encoding, report.error]).fetchone()[0]
        else:
            con.execute("UPDATE sources SET status = 'refused', error = ? WHERE id = ?", [report.error, source_id])
        con.execute("INSERT INTO rejects (source_id, file, line, reason) VALUES (?, ?, NULL, ?)",
                    [source_id, name, report.error])
    report.source_id = source_id
