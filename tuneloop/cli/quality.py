"""tuneloop quality, tuneloop diversity and tuneloop score."""
from __future__ import annotations

import json
import sys

import click

from curate.lm.templates import TEMPLATES
from curate.quality.diversity import FIELDS as DIVERSITY_FIELDS
from curate.quality.findings import ACTIONS, FORMATS
from curate.quality.scan import KINDS
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


@click.group()
def quality() -> None:
    """The quality scan: what is wrong with a pair (misaligned, non-answer, cut, garbled, conflicting,
    placeholder, ungrounded, duplicate, personal data, contaminated), and acting on it."""


@quality.command("scan")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS), help="Only these kinds (repeatable).")
@placement_options
@engine_options
@click.pass_context
@library_errors
def quality_scan(ctx, kinds, device, precision, engine) -> None:
    """Check every pair in play and store each finding with its score and evidence (nothing changes).

    \b
    Example:
      tuneloop quality scan
    """
    from curate.quality.scan import scan

    click.echo(scan(open_store(ctx), list(kinds) or None, show_progress=sys.stderr.isatty(), engine=engine).summary())


@quality.command("list")
@click.option("--kind", default=None, type=click.Choice(KINDS), help="Only this kind.")
@click.option("--min-score", default=0.0, show_default=True, help="Only findings this sure or surer.")
@click.option("--limit", type=int, default=None, help="At most this many (the surest first).")
@click.option("--format", "fmt", default="table", show_default=True, type=click.Choice(FORMATS),
              help="jsonl: one finding a line (pair_id, kind, score, instruction, response, detail, related, …).")
@click.pass_context
@library_errors
def quality_list(ctx, kind, min_score, limit, fmt) -> None:
    """The latest scan's findings, surest first, with the evidence.

    \b
    Example:
      tuneloop quality list --kind non_answer --min-score 0.8 --format jsonl
    """
    from curate.quality.findings import findings

    for f in findings(open_store(ctx), kind, min_score, limit):
        if fmt == "jsonl":
            click.echo(json.dumps({k: f[k] for k in ("pair_id", "kind", "score", "instruction", "response", "detail",
                                                     "related", "check_name", "model", "status", "source")},
                                  ensure_ascii=False))
        else:
            click.echo(f"{f['pair_id']:>7}  {f['kind']:<12} {f['score']:.2f}  {f['instruction'][:50]!r}"
                       f" → {f['response'][:50]!r}\n         {f['detail']}")


@quality.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
@library_errors
def quality_report(ctx, as_json) -> None:
    """Counts of the latest scan's findings by kind and by source.

    \b
    Example:
      tuneloop quality report
    """
    from curate.quality.findings import report

    r = report(open_store(ctx))
    if as_json:
        click.echo(json.dumps(r, indent=2, default=str))
        return
    click.echo(f"scan {r['scan']}: {r['flagged_pairs']} of {r['pairs']} pairs have findings")
    for kind, n in r["by_kind"].items():
        click.echo(f"  {kind:<14} {n:>7}   {r['open_by_kind'][kind]:>7} still to settle")
    source = None
    for row in r["by_source"]:
        if row["source"] != source:
            source = row["source"]
            click.echo(f"{source}:")
        click.echo(f"  {row['kind']:<14} {row['n']:>7}")


@quality.command("apply")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="The kind of finding to act on.")
@click.option("--min-score", default=0.8, show_default=True, help="Only findings this sure or surer.")
@click.option("--action", default="review", show_default=True, type=click.Choice(tuple(ACTIONS)),
              help="reject: the pairs are rejected; review: they go back to the rating queue (flagged).")
@click.option("--apply", "do_it", is_flag=True, help="Do it (without: show what it would take, and a sample).")
@click.pass_context
@library_errors
def quality_apply(ctx, kind, min_score, action, do_it) -> None:
    """Reject, or send to review, every pair with a finding of a kind above a score — one change
    that `tuneloop quality undo` takes back. Without --apply it only shows what it would take.

    \b
    Example:
      tuneloop quality apply --kind non_answer --min-score 0.8 --action reject --apply
    """
    from curate.quality.findings import act

    r = act(open_store(ctx), kind, min_score, action, apply=do_it, actor="cli")
    for f in r["sample"]:
        click.echo(f"  {f['pair_id']:>7} {f['score']:.2f}  {f['response'][:70]!r}\n          {f['detail']}")
    if do_it:
        click.echo(f"{action}: {r['changed']} pairs changed (change {r['change']}; `tuneloop quality undo` takes it back)")
    else:
        click.echo(f"would {action} {r['pairs']} pairs with {kind} ≥ {min_score:g}; run again with --apply to do it")


@quality.command("undo")
@click.option("--change", "change_id", type=int, default=None, help="The change to undo (default: the latest).")
@click.pass_context
@library_errors
def quality_undo(ctx, change_id) -> None:
    """Take back a bulk change (a quality action, a bulk change on the Pairs page): every pair that
    still has the status it was given gets its earlier one back.

    \b
    Example:
      tuneloop quality undo
    """
    from curate.pairs.changes import undo_change

    r = undo_change(open_store(ctx), change_id)
    click.echo(f"undid change {r['change']}: {r['restored']} pairs have their earlier status again")
