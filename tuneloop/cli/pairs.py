"""tuneloop pairs (extract, generate, offtopic) and tuneloop export."""
from __future__ import annotations

import json
import sys

import click

from curate.lm.decoding import BATCH_SIZE
from curate.pairs.export import FORMATS as EXPORT_FORMATS
from curate.pairs.generate import ANSWERS, SOURCES
from curate.pairs.offtopic import DEFAULT_REFUSAL
from curate.pairs.rows import ORIGINS
from curate.pairs.status import STATUSES
from tuneloop.cli.common import (
    backend_option,
    engine_options,
    library_errors,
    open_store,
    placement_options,
)


@click.group()
def pairs() -> None:
    """Instruction–response pairs."""


@pairs.command("extract")
@click.option("--all", "all_sources", is_flag=True, help="Look at every source again, not only new ones.")
@click.option("--topic", default=None, help="Topic for pairs whose source and record name none.")
@click.pass_context
@library_errors
def pairs_extract(ctx, all_sources, topic) -> None:
    """Turn imported Q&A records, conversations and reply threads into pairs.

    \b
    Example:
      tuneloop pairs extract
    """
    from curate.pairs.extract import extract

    report = extract(open_store(ctx), all_sources=all_sources, topic=topic, show_progress=sys.stderr.isatty())
    for name, new in report.by_source.items():
        click.echo(f"  {name}: {new} new")
    click.echo(report.summary())


@pairs.command("generate")
@click.option("--from", "source", default="documents", show_default=True, type=click.Choice(SOURCES),
              help="documents: questions and grounded answers from imported documents; raw: rewrite raw logs"
                   " into clean pairs; pairs: new questions in the style of existing pairs (self-instruct).")
@click.option("--answers", default="passage", show_default=True, type=click.Choice(ANSWERS),
              help="--from documents: passage (answers are the documents' own passages; the model writes the"
                   " question each answers) or model (the model asks questions, then answers them from the chunk).")
@click.option("--topic", default=None, help="The domain, e.g. your product's name.")
@click.option("--model", default=None, help="Model spec: hub id, model folder, .gguf file or run:N"
              " (default SmolLM2-135M-Instruct); with --backend openai, the endpoint's model name.")
@backend_option("local")
@click.option("--n", default=20, show_default=True, help="How many pairs to generate.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same model, same pairs.")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, help="Prompts per forward pass.")
@click.option("--source-id", "source_ids", multiple=True, type=int, help="Only these sources (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print the pairs instead of storing them.")
@placement_options
@engine_options
@click.pass_context
@library_errors
def pairs_generate(ctx, source, answers, topic, model, backend, n, seed, batch_size, source_ids, dry_run, device,
                   precision, engine) -> None:
    """Generate instruction–response pairs with an LLM.

    \b
    Example:
      tuneloop pairs generate --from documents --topic Lumo --n 20 --seed 0
    """
    from curate.lm.backends import make_backend
    from curate.pairs.generate import GenerationConfig, generate

    store = open_store(ctx)
    config = GenerationConfig(source=source, answers=answers, topic=topic, n=n, seed=seed, batch_size=batch_size)
    result = generate(store, make_backend(backend, model, store, batch_size, device, precision, engine), config,
                      source_ids=list(source_ids) or None, write=not dry_run, show_progress=sys.stderr.isatty())
    if dry_run:
        for pair in result.pairs:
            click.echo(json.dumps({"instruction": pair["instruction"], "response": pair["response"]}, ensure_ascii=False))
    click.echo(result.summary() + ("" if dry_run else "; stored"))


@pairs.command("offtopic")
@click.option("--topic", required=True, help="The domain the model must keep to.")
@click.option("--n", default=20, show_default=True, help="How many off-topic pairs to add.")
@click.option("--seed", default=0, show_default=True)
@click.option("--refusal", default=DEFAULT_REFUSAL, show_default=True,
              help="The answer; {topic} is replaced by the topic.")
@click.option("--model", default=None, help="Also ask this model for off-topic questions (default: built-in pool only).")
@click.pass_context
@library_errors
def pairs_offtopic(ctx, topic, n, seed, refusal, model) -> None:
    """Add off-topic questions answered with a refusal that keeps to the topic.

    \b
    Example:
      tuneloop pairs offtopic --topic Lumo --n 20
    """
    from curate.pairs.offtopic import add_offtopic, offtopic_share

    store = open_store(ctx)
    backend = None
    if model:
        from curate.lm.backends import make_backend
        backend = make_backend("local", None if model == "default" else model, store)
    added = add_offtopic(store, topic, n, seed, refusal, backend)
    share = offtopic_share(store)
    click.echo(f"added {added} off-topic pairs; off-topic pairs are {100 * share:.1f}% of all pairs")


@click.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--status", default=None, type=click.Choice(STATUSES), help="Only pairs with this status.")
@click.option("--origin", default=None, type=click.Choice(ORIGINS), help="Only pairs of this origin.")
@click.option("--format", "fmt", default=None, type=click.Choice(EXPORT_FORMATS),
              help="Default: from the file's extension. CSV and XLSX cells that would run as formulas are made text.")
@click.pass_context
@library_errors
def export(ctx, out, status, origin, fmt) -> None:
    """Write pairs to JSON lines, Parquet, CSV or XLSX.

    \b
    Example:
      tuneloop export approved.xlsx --status approved
    """
    from curate.pairs.export import export_pairs

    n = export_pairs(open_store(ctx), out, status=status, origin=origin, format=fmt)
    click.echo(f"wrote {n} pairs to {out}")
