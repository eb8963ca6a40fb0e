"""Import raw logs and documents into the store.

One file is one `sources` row. Its records are read and normalised (curate.records; plain
question/answer records in bulk by DuckDB, curate.bulk) into Arrow tables of rows and written in
batches; each batch (raw logs, rejects and the source's counters) commits as one transaction, so a
killed import leaves whole batches only and running it again resumes after the last one. The same
bytes imported again are a no-op; a record already stored is not stored twice.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from curate.errors import TuneloopError, interrupted, one_line
from curate.ingest import bulk, readers
from curate.ingest.archives import data_suffix, is_archive, parts
from curate.ingest.batching import BATCH_SIZE, Batches, ReadAhead
from curate.ingest.readers import FileRefused, Item
from curate.ingest.records import (
    MAPPABLE,
    SHAPES,
    Normalized,
    RecordError,
    describe_missing,
    document,
    flatten_text,
    kind_for,
    resolve_fields,
    to_normal_form,
)
from curate.ingest.sources import IngestReport, claim, new_source, refuse, report_from_source, supersede
from curate.store import Store

FORMATS = ("auto",) + readers.CONTAINERS + tuple(SHAPES)
# Records are normalised CHUNK_SIZE at a time; batches: curate.batching.
CHUNK_SIZE = 2_000
HEARTBEAT_SECONDS = 1.0   # the import's job shows progress at most this often
# Uploads through the app: bigger files belong on the command line.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
UPLOAD_TYPES = sorted({e.lstrip(".") for e in readers.EXTENSIONS} | {"gz", "zip", "xlsx"})
# Files a folder holds that describe the data rather than being it.
_NOT_DATA = re.compile(r"^(readme|license|licence|changelog|notice)(\..*)?$", re.I)


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """--map field=column, checked against the fields tuneloop knows."""
    mapping = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise TuneloopError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. instruction=question")
        if name not in MAPPABLE:
            raise TuneloopError(f"--map {pair!r}: unknown field {name!r}; known: {', '.join(MAPPABLE)}")
        mapping[name] = column
    return mapping


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Files to import: each file named, and the data files inside each folder named."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            root = path.resolve()
            found += sorted(
                p for p in path.rglob("*")
                if p.is_file() and (is_archive(p) or data_suffix(p.name, readers.EXTENSIONS))
                and not _NOT_DATA.match(p.name) and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and p.resolve().is_relative_to(root)  # a link out of the folder is not the folder's data
            )
        elif path.is_file():
            found.append(path)
        else:
            raise TuneloopError(f"{path}: no such file or folder")
    return found


def ingest(store: Store, paths: Iterable[str | Path], *, format: str = "auto",
           mapping: dict[str, str] | None = None, topic: str | None = None, doc_split: str = "auto",
           batch_size: int | None = None, show_progress: bool = False,
           on_progress: Callable[[float, str], None] | None = None, redact: bool = False,
           encoding: str | None = None, records: str | None = None) -> list[IngestReport]:
    """Import files and folders; one report per file. Runs as an `ingest` job."""
    if format not in FORMATS:
        raise TuneloopError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if encoding:
        from curate.ingest.encodings import check

        encoding = check(encoding)
    files = discover(paths)
    if not files:
        raise TuneloopError("no data files found in " + ", ".join(map(str, paths)))
    reports = []
    with store.job("ingest", {"files": [readable_name(str(f)) for f in files], "format": format, "map": mapping,
                              "topic": topic, "redact": redact}) as job:
        beaten = [0.0]
        for i, path in enumerate(files):
            def progress(fraction: float, msg: str, i=i) -> None:
                overall = (i + fraction) / len(files)
                if fraction >= 1.0 or time.monotonic() - beaten[0] >= HEARTBEAT_SECONDS:
                    job.heartbeat(overall, msg)   # a turn at the file of its own: not after every batch
                    beaten[0] = time.monotonic()
                if on_progress:
                    on_progress(overall, msg)
            options = dict(format=format, mapping=mapping, topic=topic, doc_split=doc_split, batch_size=batch_size,
                           show_progress=show_progress, progress=progress, job_id=job.id, redact=redact,
                           encoding=encoding, records=records)
            reports += ingest_path(store, path, **options)
        failed = [r for r in reports if r.status == "failed"]
        if failed:   # the job agrees with its sources: it did not finish all of them
            job.failed = "; ".join(f"{r.file}: {r.error}" for r in failed)[:2000]
    return reports


def ingest_path(store: Store, path: Path, name: str | None = None, where: str | None = None,
                **options) -> list[IngestReport]:
    """A file, or each data part of an archive or spreadsheet (curate.ingest.archives) as a source of
    its own named `file/part`."""
    name = readable_name(name or path.name)
    where = where or readable_name(str(path.resolve()))
    if not is_archive(path):
        return [ingest_file(store, path, name=name, where=where, **options)]
    try:
        with parts(path, name, readers.EXTENSIONS) as found:
            if not found:
                raise FileRefused("no data files inside (.jsonl, .json, .csv, .tsv, .parquet, .txt, .md)")
            return [ingest_file(store, part.path, name=part.name, where=f"{where}/{part.name}", sheet=part.sheet,
                                **options) for part in found]
    except FileRefused as exc:
        report = IngestReport(file=name, status="refused", error=str(exc), format=path.suffix.lstrip("."))
        refuse(store, None, name, file_sha256(path), report)
        return [report]


def ingest_upload(store: Store, filename: str, data: bytes, **options) -> list[IngestReport]:
    """An uploaded file (or archive): its name is only a label; the bytes go to a temporary file we
    name. One report per file (an archive's parts each have one)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise TuneloopError(f"{filename}: {len(data) / 2**20:.0f} MiB is over the upload limit of"
                            f" {MAX_UPLOAD_BYTES // 2**20} MiB; import it with `tuneloop ingest`")
    label = readable_name(Path(filename.replace("\\", "/")).name or "upload")
    inner = data_suffix(label, readers.EXTENSIONS)
    suffix = (inner + ".gz" if label.lower().endswith(".gz") else inner) if inner else Path(label).suffix.lower()
    suffix = suffix if inner or is_archive(Path(label)) else ".dat"
    with tempfile.TemporaryDirectory(prefix="tuneloop-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        with store.job("ingest", {"upload": label, **{k: v for k, v in options.items() if k != "on_progress"}}) as job:
            reports = ingest_path(store, path, name=label, where=f"upload:{label}", job_id=job.id, **options)
            failed = [r for r in reports if r.status == "failed"]
            if failed:
                job.failed = "; ".join(f"{r.file}: {r.error}" for r in failed)[:2000]
            return reports


def readable_name(name: str) -> str:
    """A file name as text a store and a console can hold: a byte that is not UTF-8 in the name
    (caf\xe9.jsonl on a Latin-1 disk) is written as its escape."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def file_sha256(path: Path, part: str | None = None) -> str:
    """The bytes' SHA-256 (with a spreadsheet's sheet name, for one sheet of it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if part is not None:
        digest.update(b"\0" + part.encode("utf-8", "backslashreplace"))
    return digest.hexdigest()


def ingest_file(store: Store, path: Path, *, name: str | None = None, format: str = "auto",
                mapping: dict[str, str] | None = None, topic: str | None = None,
                doc_split: str = "auto", batch_size: int | None = None, show_progress: bool = False,
                progress: Callable[[float, str], None] | None = None, job_id: int | None = None,
                redact: bool = False, encoding: str | None = None, where: str | None = None,
                records: str | None = None, sheet: str | None = None) -> IngestReport:
    """Import one file (see the module docstring). Returns what happened; raises nothing for bad data.

    No record stops an import: whatever one record raises makes it a reject. Whatever else goes
    wrong (a disk error, a file that changes while it is read) stops this file only: what was read
    is kept, the source is left to resume, and the report says why."""
    path = Path(path)
    name = readable_name(name or path.name)
    report = IngestReport(file=name)
    sha = file_sha256(path, sheet)
    claimed = claim(store, sha, job_id)
    existing = claimed["source"]
    done = 0
    if claimed["busy"]:
        report.status, report.error = "busy", (f"being imported by another process (job {existing['job_id']});"
                                               " run the import again once it has finished")
        return report
    if existing and existing["status"] == "complete":
        return report_from_source(report, existing, "already imported")
    if existing and existing["status"] in ("importing", "failed", "superseded"):
        options = json.loads(existing["options"] or "{}")   # resume as first asked
        format, mapping = options.get("format", format), options.get("map")
        doc_split = options.get("doc_split", doc_split)
        redact = options.get("redact", False)
        encoding, records = options.get("encoding"), options.get("records")
        topic = existing["topic"]
        source_id, done = existing["id"], existing["rows_read"]
        report_from_source(report, existing, "resumed")
    else:
        if existing:  # refused before: forget that attempt and try again
            with store.transaction() as con:
                con.execute("DELETE FROM rejects WHERE source_id = ?", [existing["id"]])
                con.execute("DELETE FROM sources WHERE id = ?", [existing["id"]])
        source_id = None
    mapping = mapping or {}
    shape = format if format in SHAPES else "auto"
    try:
        if path.stat().st_size == 0:
            raise FileRefused("file is empty")
        given, encoding = encoding, readers.sniff_encoding(path, encoding)
        container = "xlsx" if sheet else format if format in readers.CONTAINERS else readers.detect_container(path, encoding)
        report.format, report.encoding = (format if format in SHAPES else container), encoding
        if source_id is None:
            source_id = new_source(store, name, sha, report, topic, job_id,
                                    {"format": format, "map": mapping, "doc_split": doc_split, "redact": redact,
                                     "encoding": given, "records": records, "where": where or readable_name(str(path.resolve()))})
            if source_id is None:  # another import of the same bytes started this instant
                report.status, report.error = "busy", "being imported by another process; run the import again later"
                return report
            supersede(store, source_id, where or readable_name(str(path.resolve())))
        report.source_id = source_id
        fallback = functools.partial(_one, mapping=mapping, shape=shape, roles=None)
        fields = bulk.plan(path, encoding, mapping, shape, redact) if container == "jsonl" else None
        if fields:   # DuckDB parses and normalizes the plain lines; the others go through _one
            pieces = bulk.records(path, fields, fallback)
        else:
            def is_record(value: dict) -> bool:
                return kind_for(resolve_fields(list(value), mapping, shape), shape) is not None

            items = readers.read_items(path, container, encoding, doc_split, is_record, records, sheet)
            normal = _after(_normalized(items, container, mapping, shape, redact), done)
            done = 0   # what was imported before: left out above, before any more work
            pieces = _chunks(_redactor(store)(normal) if redact else normal, fallback)
        total_lines = max(_count_lines(path), 1)
        bar = tqdm(total=total_lines, unit="line", desc=name, disable=not show_progress, leave=False)
        batches = Batches(ReadAhead(pieces), skip=done, size=batch_size or BATCH_SIZE, notes=report.notes)
        with store.held() as hold:   # each batch commits; the file is kept while the next one is ready
            for batch in batches:
                hold.take()
                _commit_batch(store, source_id, name, batch, report)
                _advance(bar, progress, batch.column("line")[-1].as_py(), total_lines, name)
                hold.offer(next_ready=batches.next_ready)
        bar.close()
        if file_sha256(path, sheet) != sha:
            raise _Stopped("the file changed while it was read; import it again once it is written")
    except FileRefused as exc:
        report.status, report.error = "refused", str(exc)
        refuse(store, source_id, name, sha, report)
        return report
    except Exception as exc:  # noqa: BLE001 - one file's failure is reported, the others go on
        if interrupted(exc):   # Ctrl-C inside a DuckDB statement: the source stays to be resumed
            raise KeyboardInterrupt from exc
        report.status = "failed"
        report.error = str(exc) if isinstance(exc, _Stopped) else one_line(exc)
        if source_id is not None:
            store.execute("UPDATE sources SET status = 'failed', error = ? WHERE id = ?", [report.error, source_id])
        return report
    if report.rows_read == 0:
        report.status, report.error = "refused", "no records found"
        refuse(store, source_id, name, sha, report)
        return report
    if report.rows_rejected == report.rows_read:
        # nothing stored: the file may be imported again, with other options (--map, --encoding …)
        report.status, report.error = "refused", (f"every record was rejected ({report.rows_rejected});"
                                                  " import it again with the options the reasons point to")
        store.execute("UPDATE sources SET status = 'refused', error = ? WHERE id = ?", [report.error, source_id])
        return report
    store.execute("UPDATE sources SET status = 'complete', error = NULL, completed_at = current_timestamp WHERE id = ?",
                  [source_id])
    if progress:
        progress(1.0, f"{name}: done")
    return report


class _Stopped(Exception):
    """A file that cannot be finished as it is now; the message says why."""


def _advance(bar, progress, line: int | None, total: int, name: str) -> None:
    if line:
        bar.update(max(0, min(line, total) - bar.n))
        if progress:
            progress(min(line / total, 1.0), f"{name}: line {line}")


def _count_lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            count += chunk.count(b"\n")
    return count + 1


# --------------------------------------------------------------------------- records
def _normalized(items: Iterator[Item], container: str, mapping: dict, shape: str, redact: bool = False
                ) -> Iterator[tuple[Item, Normalized | bulk.Pending | None]]:
    """(item, record in normal form) or (item with its error set, None), in file order; a table's
    plain question/answer row is left Pending, for DuckDB to normalize with its chunk."""
    roles = plain = None
    for item in items:
        if item.error or item.notice:
            yield item, None
            continue
        if container == "text":
            yield item, document(item.value)
            continue
        if container in ("csv", "tsv", "parquet") and roles is None:
            # every row has the header's columns: decide their roles once, refuse early if none fit
            roles = resolve_fields(list(item.value), mapping, shape)
            if kind_for(roles, shape) is None:
                raise FileRefused(describe_missing(list(item.value), shape))
            plain = bulk.two_text_fields(list(item.value), mapping, shape, redact) if container in ("csv", "tsv") else None
        if plain and len(item.value) == 2 and all(isinstance(item.value.get(f), str) for f in plain):
            yield item, bulk.Pending(item.value[plain[0]], item.value[plain[1]])
            continue
        if item.top_level:
            yield from _json_object(item)
            continue
        yield _one(item, mapping, shape, roles)


def _after(pairs: Iterator[tuple[Item, Normalized | bulk.Pending | None]], done: int
           ) -> Iterator[tuple[Item, Normalized | bulk.Pending | None]]:
    """The records after the first `done` (notices all pass)."""
    for item, rec in pairs:
        if item.notice or done == 0:
            yield item, rec
        else:
            done -= 1


def _chunks(pairs: Iterator[tuple[Item, Normalized | bulk.Pending | None]], fallback: bulk.Fallback
            ) -> Iterator[pa.Table | str]:
    """The records as bulk.ROWS tables of CHUNK_SIZE, and the reader's notices (str) as they come."""
    settler, chunk = bulk.Settler(), []
    try:
        for item, rec in pairs:
            if item.notice:
                yield item.notice
                continue
            chunk.append((item, rec))
            if len(chunk) >= CHUNK_SIZE:
                yield settler.settle(chunk, fallback)
                chunk = []
        if chunk:
            yield settler.settle(chunk, fallback)
    finally:
        settler.close()


def _one(item: Item, mapping: dict, shape: str, roles: dict | None) -> tuple[Item, Normalized | None]:
    """A record in normal form, or the item as a reject: whatever one record raises stops only it."""
    try:
        record = to_normal_form(item.value, mapping, shape, roles)
        json.dumps(record.payload, ensure_ascii=False).encode("utf-8")  # storable: valid Unicode throughout
        return item, record
    except RecordError as exc:
        item.error = str(exc)
    except UnicodeEncodeError as exc:
        item.error = f"text that is not valid Unicode ({exc.reason} at position {exc.start})"
    except Exception as exc:  # noqa: BLE001 - any other fault of one record is that record's reject
        item.error = f"could not be read: {type(exc).__name__}: {exc}"[:500]
    try:
        item.excerpt = readers.excerpt(json.dumps(item.value, ensure_ascii=False, default=str)[:1000])
    except Exception:  # noqa: BLE001 - no excerpt rather than no reject
        item.excerpt = None
    return item, None


def _json_object(item: Item) -> Iterator[tuple[Item, Normalized | None]]:
    """A JSON object that is neither a record nor holds lists of records: its prose, a document."""
    text = "\n".join(flatten_text(item.value))
    if not text:
        raise FileRefused("the JSON object holds no records and no text")
    yield Item(item.line, {"title": "", "text": text}), document({"title": "", "text": text})


def _redactor(store: Store):
    """With --redact: each good record's text with personal data replaced (curate.privacy, with the
    team's identifier rules) before it is stored; its content hash is of the redacted record."""
    from curate.privacy.placeholders import redact_payload
    from curate.privacy.scan import detector_for

    detector = detector_for(store)

    def redacted(pairs: Iterator[tuple[Item, Normalized | None]]) -> Iterator[tuple[Item, Normalized | None]]:
        for item, rec in pairs:
            yield (item, rec) if rec is None else (item, Normalized(rec.kind, redact_payload(rec.payload, detector)))
    return redacted


# --------------------------------------------------------------------------- writing
def _commit_batch(store: Store, source_id: int, name: str, batch: pa.Table, report: IngestReport) -> None:
    """One transaction: new raw logs, rejects, and the source's counters (the resume point)."""
    if not batch.num_rows:
        return
    refused = batch.filter(pc.is_valid(batch.column("error")))
    stored = store.retry_conflicts(lambda: _write_batch(store, source_id, name, batch, refused.num_rows))
    report.rows_read += batch.num_rows
    report.rows_stored += stored
    report.rows_duplicate += batch.num_rows - refused.num_rows - stored
    report.rows_rejected += refused.num_rows
    for line, reason in zip(refused.column("line").to_pylist(), refused.column("error").to_pylist()):
        key = _reason_kind(reason)
        report.reasons[key] += 1
        report.first_lines.setdefault(key, line)


def _write_batch(store: Store, source_id: int, name: str, batch: pa.Table, refused: int) -> int:
    """The batch's new records (the first of each content hash not in the store) and its rejects;
    returns how many records were stored."""
    batch = batch.append_column("pos", pa.array(range(batch.num_rows), pa.int64()))
    with store.transaction() as con:
        con.register("_batch", batch)
        try:
            stored = con.execute(
                "INSERT INTO raw_logs (source_id, line, kind, payload, content_hash)"
                " SELECT ?, coalesce(line, 0), kind, payload, content_hash FROM _batch b WHERE error IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM raw_logs r WHERE r.content_hash = b.content_hash)"
                " QUALIFY row_number() OVER (PARTITION BY content_hash ORDER BY pos) = 1 ORDER BY pos",
                [source_id]).fetchone()[0]   # (ON CONFLICT DO NOTHING took 20x as long)
            if refused:
                con.execute("INSERT INTO rejects (source_id, file, line, reason, excerpt)"
                            " SELECT ?, ?, line, error, excerpt FROM _batch WHERE error IS NOT NULL ORDER BY pos",
                            [source_id, name])
        finally:
            con.unregister("_batch")
        con.execute(
            "UPDATE sources SET rows_read = rows_read + ?, rows_stored = rows_stored + ?,"
            " rows_duplicate = rows_duplicate + ?, rows_rejected = rows_rejected + ? WHERE id = ?",
            [batch.num_rows, stored, batch.num_rows - refused - stored, refused, source_id])
    return stored


def _reason_kind(reason: str) -> str:
    """Group reasons for the console summary: drop the column numbers and byte values."""
    return re.sub(r"(column|byte|line) \S+", r"\1 …", reason)
