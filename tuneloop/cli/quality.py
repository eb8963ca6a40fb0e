"""tuneloop diversity and tuneloop score."""
from __future__ import annotations

import sys

import click

from curate.lm.templates import TEMPLATES
from curate.quality.diversity import FIELDS as DIVERSITY_FIELDS
from tuneloop.cli.common import (
    engine_options,
    library_errors,
    open_store,
    placement_options,
)


@click.command()
@click.option("--field", default="instruction", show_default=True, type=click.Choice(DIVERSITY_FIELDS),
              help="What the topic clusters group.")
@click.option("--k", type=int, default=None, help="Number of topic clusters (default: about sqrt(pairs / 2)).")
@click.option("--seed", default=0, show_default=True)
@placement_options
@engine_options
@click.pass_context
@library_errors
def diversity(ctx, field, k, seed, device, precision, engine) -> None:
    """Cluster the pairs by topic and measure how varied they are.

    \b
    Example:
      tuneloop diversity --k 12
    """
    from curate.quality.diversity import DiversityConfig
    from curate.quality.diversity import diversity as run

    summary = run(open_store(ctx), DiversityConfig(field=field, k=k, seed=seed), show_progress=sys.stderr.isatty(),
                  engine=engine)
    click.echo(f"{summary['pairs']} pairs in {summary['k']} clusters (run {summary['run_id']})")
    for key in ("distinct_1_instructions", "distinct_2_instructions", "distinct_1_responses", "distinct_2_responses",
                "mean_nearest_similarity", "share_near_copies"):
        click.echo(f"  {key.replace('_', ' '):<28} {summary[key]}")
    for c in sorted(summary["clusters"], key=lambda c: -c["size"]):
        click.echo(f"  cluster {c['cluster']:>2} {c['size']:>6} pairs {100 * c['share']:5.1f}%  {c['label']}"
                   + ("  (thin)" if c["thin"] else ""))


@click.command()
@click.option("--model", default=None, help="The base model whose losses score the pairs (default SmolLM2-135M-Instruct).")
@click.option("--template", default="qa", show_default=True, type=click.Choice(tuple(TEMPLATES)))
@click.option("--limit", type=int, default=None, help="Only the first N pairs.")
@placement_options
@engine_options
@click.pass_context
@library_errors
def score(ctx, model, template, limit, device, precision, engine) -> None:
    """Quality scores without a judge: instruction-following difficulty (IFD) and answer perplexity.

    \b
    Example:
      tuneloop score --model HuggingFaceTB/SmolLM2-360M-Instruct --limit 1000
    """
    from curate.quality.ifd import score_pairs

    r = score_pairs(open_store(ctx), model, template=template, limit=limit, device=device, precision=precision,
                    engine=engine, show_progress=sys.stderr.isatty())
    click.echo(f"{r['scored']} pairs scored by {r['model']} ({r['cached']} from earlier); median IFD"
               f" {r['median_ifd']}, {r['ifd_at_least_1']} pairs with IFD >= 1 (the question does not help)")
