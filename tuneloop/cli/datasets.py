"""tuneloop dataset, evalset and preferences."""
from __future__ import annotations

import json
import sys

import click

from curate.datasets.build import DatasetConfig
from curate.datasets.preferences import FORMATS as PREFERENCE_FORMATS
from curate.pairs.status import STATUSES
from tuneloop.cli.common import (
    config_options,
    library_errors,
    open_store,
)


@click.group()
def dataset() -> None:
    """Dataset versions: frozen, templated, tokenized, split and exported approved pairs."""


@dataset.command("build")
@config_options(DatasetConfig)
@click.option("--out", default=None, help="Export folder (default: tuneloop_datasets/ beside the store).")
@click.option("--push-to-hub", default=None, metavar="REPO", help="Also upload the DatasetDict to this hub repo.")
@click.pass_context
@library_errors
def dataset_build(ctx, out, push_to_hub, **values) -> None:
    """Freeze the approved pairs into a dataset version and export it.

    \b
    Example:
      tuneloop dataset build --name v1 --template qa --max-length 512 --test-size 0.1
      tuneloop dataset build --name best300 --select-budget 300 --select-by rubric   # the best-scored, kept diverse
    """
    from curate.datasets.build import build_dataset
    from curate.datasets.export import push_to_hub as push

    report = build_dataset(open_store(ctx), DatasetConfig(**values), export_root=out, show_progress=sys.stderr.isatty())
    name, max_length = values["name"], values["max_length"]
    click.echo(f"{name}: {report['examples']} examples ({report['train']} train, {report['test']} test),"
               f" {report['tokens']['mean']} tokens on average, {100 * report['truncated_answer_share']:.1f}% of"
               f" answers and {100 * report['truncated_prompt_share']:.1f}% of prompts cut at {max_length}")
    for origin, counts in report["by_origin"].items():
        click.echo(f"  {origin:<10} train {counts['train']:>6}  test {counts['test']:>6}")
    chosen = report.get("selection")
    if chosen:
        click.echo(f"how it chose: {chosen['how']}")
        click.echo(f"  {chosen['selected']} chosen of {chosen['candidates']} candidates; {chosen['skipped_as_too_alike']}"
                   f" skipped as too alike; chosen scores {chosen['score_range']}; {chosen['unscored_selected']} without"
                   " a score" + (f"; left out: {chosen['left_out']}" if chosen["left_out"] else ""))
    leak = report["leakage"]
    click.echo(f"split by {leak['groups']} duplicate groups (largest {leak['largest_group']} pairs); test questions"
               " with a match in train: " + ", ".join(f"{k} {v}" for k, v in leak["test_with_a_match_in_train"].items()))
    found = report["contamination"]["found"]
    if found:
        click.echo(f"{len(found)} approved pairs overlap benchmark items"
                   + (" and were left out" if report["contamination"]["left_out"] else " (kept)")
                   + f": pairs {', '.join(map(str, found[:20]))}{' …' if len(found) > 20 else ''}")
    click.echo(f"exported to {report['export_dir']} (train/test .jsonl, *_chat.jsonl, hf/)")
    if push_to_hub:
        push(report["export_dir"], push_to_hub)
        click.echo(f"pushed to {push_to_hub}")


@dataset.command("list")
@click.pass_context
@library_errors
def dataset_list(ctx) -> None:
    """List the dataset versions.

    \b
    Example:
      tuneloop dataset list
    """
    from curate.datasets.versions import versions_frame

    for row in versions_frame(open_store(ctx)).to_dict("records"):
        click.echo(f"{row['name']:<16} {row['examples']:>7} examples ({row['train']} train, {row['test']} test)"
                   f"  {row['template']}  max {row['max_length']}  {row['export_dir']}")


@click.group()
def evalset() -> None:
    """Evaluation sets: frozen questions every model is scored on, kept out of every dataset build."""


@evalset.command("create")
@click.argument("name")
@click.option("--from-dataset", default=None, metavar="VERSION", help="The held-out split of this dataset version.")
@click.option("--from-status", default=None, type=click.Choice(STATUSES), help="Pairs of this status (e.g. approved).")
@click.option("--from", "from_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="A file of questions and answers (JSON lines, JSON, CSV, TSV, Parquet).")
@click.option("--size", type=int, default=None, help="How many questions (drawn with --seed).")
@click.option("--share", type=float, default=None, help="Or what share of the source's questions.")
@click.option("--seed", default=0, show_default=True)
@click.pass_context
@library_errors
def evalset_create(ctx, name, from_dataset, from_status, from_file, size, share, seed) -> None:
    """Freeze a named evaluation set; later dataset builds leave its pairs and their near-duplicates out.

    \b
    Example:
      tuneloop evalset create support-v1 --from-status approved --size 100 --seed 0
    """
    from curate.datasets.evalsets import create_evalset

    s = create_evalset(open_store(ctx), name, from_dataset=from_dataset, from_status=from_status, from_file=from_file,
                       size=size, share=share, seed=seed)
    for problem in s["problems"]:
        click.echo(f"left out: {problem}", err=True)
    click.echo(f"evaluation set {s['name']}: {s['items']} questions ({s['must_refuse']} to be refused), from"
               f" {json.dumps(s['lineage'])}")


@evalset.command("list")
@click.pass_context
@library_errors
def evalset_list(ctx) -> None:
    """List the evaluation sets.

    \b
    Example:
      tuneloop evalset list
    """
    from curate.datasets.evalsets import evalsets_frame

    for row in evalsets_frame(open_store(ctx)).to_dict("records"):
        click.echo(f"{row['name']:<20} {row['items']:>6} questions ({row['must_refuse']} to be refused)  {row['lineage']}")


@evalset.command("show")
@click.argument("name")
@click.option("--limit", default=20, show_default=True, help="Questions to print.")
@click.pass_context
@library_errors
def evalset_show(ctx, name, limit) -> None:
    """Print an evaluation set's questions and reference answers.

    \b
    Example:
      tuneloop evalset show support-v1 --limit 5
    """
    from curate.datasets.evalsets import evalset_items, get_evalset

    store = open_store(ctx)
    s = get_evalset(store, name)
    click.echo(f"{s['name']}: {s['items']} questions, made {s['created_at']:%Y-%m-%d %H:%M} from {json.dumps(s['lineage'])}")
    for item in evalset_items(store, s["id"])[:limit]:
        click.echo(f"- {'[refuse] ' if item['should_refuse'] else ''}{item['instruction'][:120]}")
        click.echo(f"    {item['response'][:160]}")


@click.group()
def preferences() -> None:
    """Preference pairs (chosen over rejected) from A/B votes, edits and reviewers' decisions."""


@preferences.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="The preference version to freeze (default: prefs-<n>).")
@click.option("--study", "studies", multiple=True, type=int, help="Only these A/B studies (repeatable; default: all).")
@click.option("--min-agreement", default=0.6, show_default=True,
              help="A/B: the winner's share of a question's votes (ties included) needed to keep it.")
@click.option("--format", "fmt", default="messages", show_default=True, type=click.Choice(PREFERENCE_FORMATS),
              help="messages: TRL's conversational form (prompt as messages); prompt: plain strings.")
@click.option("--test-size", default=0.2, show_default=True, help="Share of questions held out (for DPO's accuracy).")
@click.option("--seed", default=0, show_default=True)
@click.pass_context
@library_errors
def preferences_export(ctx, file, name, studies, min_agreement, fmt, test_size, seed) -> None:
    """Freeze the preferences people have given as a version and write them as JSON lines.

    \b
    Example:
      tuneloop preferences export prefs.jsonl --name prefs1
      tuneloop train --method dpo --dataset prefs1 --lora
    """
    from curate.datasets.preferences import summary
    from evals.ab import freeze_preferences

    click.echo(summary(freeze_preferences(open_store(ctx), file, name, list(studies) or None, min_agreement, fmt,
                                          test_size, seed)))
