"""tuneloop ingest: import raw logs and documents."""
from __future__ import annotations

import sys

import click

from curate.ingest.importer import FORMATS as INGEST_FORMATS
from curate.ingest.readers import DOC_SPLITS
from tuneloop.cli.common import (
    library_errors,
    open_store,
)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(INGEST_FORMATS),
              help="File format, or the record shape (openai-chat, sharegpt, alpaca) to insist on.")
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN",
              help="Name the column for a field, e.g. --map instruction=question --map response=reply."
                   " Fields: instruction, response, input, system, topic, history, turns, message_id,"
                   " parent_id, text, role, inbound, author, created_at.")
@click.option("--topic", default=None, help="The domain these logs are about (used by off-topic pairs).")
@click.option("--split", "doc_split", default="auto", show_default=True,
              type=click.Choice(DOC_SPLITS),
              help="Documents: one per file, or one per heading (auto: per heading for markdown).")
@click.option("--encoding", default=None, metavar="CODEC",
              help="Read the files in this encoding (e.g. cp1254, shift_jis, utf-16) instead of the one tuneloop"
                   " decides on from the whole file.")
@click.option("--records", default=None, metavar="PATH",
              help="JSON: the dotted path to the list of records inside a top-level object, e.g. data.items.")
@click.option("--redact", is_flag=True, help="Replace personal data (e-mail, phone, card, IBAN, IP, URL; names and"
              " places with a spaCy NER model) by placeholders before anything is stored (see `tuneloop pii`).")
@click.pass_context
@library_errors
def ingest(ctx, paths, fmt, mapping, topic, doc_split, encoding, records, redact) -> None:
    """Import raw logs and documents from files or folders.

    Folders are searched for .jsonl .json .csv .tsv .parquet .txt .md files, compressed (.gz) or
    in .zip archives, and .xlsx workbooks (one source per sheet); README and LICENSE files are
    skipped. Importing the same file again does nothing; an interrupted import resumes.
    Bad records are stored in rejects with file, line and reason, and summarized here.

    \b
    Example:
      tuneloop ingest data/ faq.jsonl --topic Lumo
    """
    from curate.ingest.importer import ingest as run
    from curate.ingest.importer import parse_mapping

    reports = run(open_store(ctx), paths, format=fmt, mapping=parse_mapping(mapping), topic=topic,
                  doc_split=doc_split, show_progress=sys.stderr.isatty(), redact=redact, encoding=encoding,
                  records=records)
    for report in reports:
        click.echo(report.summary())
        for line in report.reason_lines():
            click.echo(f"  {line}")
    if not any(r.ok and (r.rows_stored or r.rows_duplicate or r.status == "already imported") for r in reports):
        raise click.ClickException("nothing could be imported: " + "; ".join(
            r.error or f"{r.file}: every record was rejected" for r in reports))
