"""The `tuneloop` command: one module per command group, each command a thin shell over one
library call (common.py holds what they share)."""
from __future__ import annotations

import click

from curate.store import ENV_DB, default_db_path
from tuneloop.cli import datasets, dedupe, evals, ingest, judges, pairs, privacy, quality, rating, store, training


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default=None, metavar="PATH",
              help=f"The DuckDB store (default: ${ENV_DB} or ./tuneloop.duckdb).")
@click.version_option(package_name="tuneloop")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """tuneloop: prepare fine-tuning data, fine-tune, and prove that it worked."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db or default_db_path()


for command in (
    store.init, ingest.ingest, pairs.pairs, privacy.pii, dedupe.dedupe, quality.diversity, rating.users, rating.rate,
    rating.approve, rating.agreement, datasets.dataset, dedupe.decontaminate, training.train, training.runs,
    evals.eval_group, datasets.evalset, evals.loop, evals.compare_models, evals.report, store.models, store.stats,
    pairs.export, store.demo_data, store.app, judges.judge, quality.score, datasets.preferences, quality.quality,
):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
