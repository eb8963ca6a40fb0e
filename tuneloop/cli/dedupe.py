"""tuneloop dedupe and tuneloop decontaminate."""
from __future__ import annotations

import sys

import click

from curate.dedupe.find import FIELDS as DEDUPE_FIELDS
from curate.dedupe.find import KEEPERS
from curate.dedupe.find import METHODS as DEDUPE_METHODS
from tuneloop.cli.common import (
    engine_options,
    library_errors,
    open_store,
    placement_options,
)


@click.command()
@click.option("--method", default="all", show_default=True, type=click.Choice((*DEDUPE_METHODS, "all")),
              help="exact: same text up to case, punctuation and spaces; minhash: near-duplicates by Jaccard of"
                   " character 5-grams; semantic: same meaning by embedding cosine similarity.")
@click.option("--threshold", type=float, default=None,
              help="minhash: Jaccard (default 0.7); semantic: cosine (default 0.92).")
@click.option("--field", default="pair", show_default=True, type=click.Choice(DEDUPE_FIELDS),
              help="What is compared.")
@click.option("--keeper", default="longest", show_default=True, type=click.Choice(KEEPERS),
              help="Which member of a cluster is proposed to keep.")
@click.option("--accept-all", is_flag=True, help="Accept every proposal at once (review them in the app instead).")
@placement_options
@engine_options
@click.pass_context
@library_errors
def dedupe(ctx, method, threshold, field, keeper, accept_all, device, precision, engine) -> None:
    """Find duplicate pairs and propose a keeper for each cluster (nothing is deleted).

    \b
    Example:
      tuneloop dedupe --method minhash --threshold 0.8
    """
    from curate.dedupe.decide import accept_all as accept
    from curate.dedupe.find import DedupeConfig
    from curate.dedupe.find import dedupe as run

    store = open_store(ctx)
    for m in (DEDUPE_METHODS if method == "all" else (method,)):
        report = run(store, DedupeConfig(method=m, threshold=threshold, field=field, keeper=keeper),
                     show_progress=sys.stderr.isatty(), engine=engine)
        click.echo(report.summary())
    if accept_all:
        click.echo(f"accepted {accept(store)} clusters: their other members are marked duplicate")
    else:
        click.echo("review the clusters on the app's Dedupe page, or run again with --accept-all")


@click.command()
@click.option("--against", default="benchmarks", show_default=True, type=click.Choice(["benchmarks"]),
              help="What to check against: the benchmark items `eval import-benchmark` converted.")
@click.option("--tasks-dir", default=None, help="Where import-benchmark put them (default: tuneloop_benchmarks/).")
@click.option("--ngram", default=13, show_default=True, help="Words in the shared n-gram (lm-eval's and GPT-3's 13).")
@click.pass_context
@library_errors
def decontaminate(ctx, against, tasks_dir, ngram) -> None:
    """Find pairs whose text overlaps benchmark items; dataset builds leave them out.

    \b
    Example:
      tuneloop decontaminate --against benchmarks
    """
    from curate.dedupe.decontaminate import decontaminate as run

    found = run(open_store(ctx), tasks_dir, ngram)
    for f in found[:50]:
        click.echo(f"  pair {f['pair_id']:>7}  {f['benchmark']} item {f['item']}: \"{f['ngram']}\"")
    click.echo(f"{len(found)} pairs overlap the imported benchmark items")
