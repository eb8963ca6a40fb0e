"""The store and the app: init, stats, models, demo-data, app."""
from __future__ import annotations

import json
from pathlib import Path

import click

from curate.store import Store
from tuneloop.cli.common import (
    library_errors,
    open_store,
)


@click.command()
@click.pass_context
@library_errors
def init(ctx: click.Context) -> None:
    """Create the store (or bring an existing one up to the current schema).

    \b
    Example:
      tuneloop --db team.duckdb init
    """
    store = Store(ctx.obj["db"], migrate=False)
    applied = store.migrate()
    click.echo(f"{store.path}: schema version {store.schema_version()}"
               + (f" (applied {', '.join(map(str, applied))})" if applied else " (up to date)"))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
@library_errors
def stats(ctx, as_json) -> None:
    """Counts by table, and pairs by origin, status and source.

    \b
    Example:
      tuneloop stats --json
    """
    from curate.stats import stats as collect

    counts = collect(open_store(ctx))
    if as_json:
        click.echo(json.dumps(counts, indent=2))
        return
    for section, values in counts.items():
        click.echo(section.replace("_", " ") + ":")
        total = sum(values.values()) if section.startswith("pairs_by") else None
        for key, value in values.items():
            share = f"  ({100 * value / total:.1f}%)" if total else ""
            click.echo(f"  {key:<40} {value:>8}{share}")


@click.command()
@click.pass_context
@library_errors
def models(ctx) -> None:
    """Show which causal LM and embedding model tuneloop would use, and from where.

    \b
    Example:
      tuneloop models
    """
    from curate.lm.resolve import resolve_causal_lm, resolve_embedding_model

    click.echo(f"causal LM: {resolve_causal_lm().describe()}")
    click.echo(f"embeddings: {resolve_embedding_model()}")


@click.command("demo-data")
@click.pass_context
@library_errors
def demo_data(ctx) -> None:
    """Load the sample support log of a fictional lamp maker, and extract its pairs.

    \b
    Example:
      tuneloop --db demo.duckdb demo-data
    """
    from curate.demo import load_demo_data

    reports, extracted = load_demo_data(open_store(ctx))
    for report in reports:
        click.echo(report.summary())
    click.echo(extracted.summary())


@click.command()
@click.option("--port", default=8501, show_default=True, help="Port to serve the app on.")
@click.option("--headless/--browser", default=False, help="Don't open a browser window.")
@click.option("--production", is_flag=True,
              help="Serve a team: refuse XSRF protection off or a short cookie secret, and require sign-in.")
@click.pass_context
@library_errors
def app(ctx, port, headless, production) -> None:
    """Open the curation app on the store (seeded with sample data when empty).

    \b
    Example:
      tuneloop --db team.duckdb app --production --port 8501
    """
    from tuneloop.launcher import check_production, run_app

    db = Path(ctx.obj["db"]).resolve()
    if production:
        for warning in check_production(Store(db)):
            click.echo(f"warning: {warning}", err=True)
    raise SystemExit(run_app(db, port=port, headless=headless or production, production=production))
