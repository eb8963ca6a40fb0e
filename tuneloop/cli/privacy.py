"""tuneloop pii: personal data in pairs."""
from __future__ import annotations

import sys

import click

from curate.privacy.detect import DEFAULT_THRESHOLD as PII_THRESHOLD
from curate.privacy.detect import PLACEHOLDER as PII_ENTITIES
from curate.privacy.identifiers import ACTIONS
from tuneloop.cli.common import (
    library_errors,
    open_store,
)


@click.group()
def pii() -> None:
    """Personal data in pairs: find it, replace it with placeholders, erase it on request."""


@pii.command("scan")
@click.option("--entities", default=None, metavar="E1,E2",
              help="Entity types to look for (default: all that work here). One of: " + ", ".join(PII_ENTITIES) + ".")
@click.option("--threshold", default=PII_THRESHOLD, show_default=True, help="Lowest detector score kept.")
@click.pass_context
@library_errors
def pii_scan(ctx, entities, threshold) -> None:
    """Look for personal data in every pair in play; counts by entity, findings stored.

    \b
    Example:
      tuneloop pii scan && tuneloop pii redact
    """
    from curate.privacy.scan import scan

    report = scan(open_store(ctx), entities.split(",") if entities else None, threshold,
                  show_progress=sys.stderr.isatty())
    click.echo(report.summary())


@pii.command("redact")
@click.option("--scan", "scan_id", default=None, type=int, help="The scan whose findings to redact (default: the latest).")
@click.option("--purge", is_flag=True, help="Also rewrite the original text in raw logs, pairs, dataset items and"
              " model outputs (a right-to-erasure request); recorded in the store.")
@click.option("--note", default=None, help="Why (a request's reference), kept with the purge record.")
@click.pass_context
@library_errors
def pii_redact(ctx, scan_id, purge, note) -> None:
    """Make a redacted version of every pair the scan found personal data in (origin redacted,
    lineage to the original, which is retired).

    \b
    Example:
      tuneloop pii redact --purge --note "erasure request 17"
    """
    from curate.privacy.redact import redact

    click.echo(redact(open_store(ctx), scan_id, purge=purge, note=note, show_progress=sys.stderr.isatty()).summary())


@pii.command("display")
@click.argument("mode", type=click.Choice(["redacted", "original"]))
@click.pass_context
@library_errors
def pii_display(ctx, mode) -> None:
    """Whether the app shows pairs redacted (the default once a scan ran) or as written.

    \b
    Example:
      tuneloop pii display original
    """
    from curate.privacy.scan import set_display

    set_display(open_store(ctx), mode == "redacted")
    click.echo(f"the app shows pairs {mode}")


@pii.command("identifiers")
@click.option("--pattern", "patterns", multiple=True, metavar="REGEX",
              help="A pattern of your own identifiers (repeatable; replaces the saved ones), e.g. 'ORD-\\d{8}'.")
@click.option("--clear", is_flag=True, help="Forget the saved patterns.")
@click.option("--action", type=click.Choice(ACTIONS), default=None,
              help="keep: leave identifiers as they are (default); mask: replace them with <ORDER_ID_n>.")
@click.pass_context
@library_errors
def pii_identifiers(ctx, patterns, clear, action) -> None:
    """Order, ticket and tracking numbers are not personal data: how they are told apart and kept.

    A digit run after order/purchase/invoice/ticket/case/tracking/reference (…) is an identifier,
    and so is whatever matches your patterns; scans count them apart and never redact them as
    phone or card numbers.

    \b
    Example:
      tuneloop pii identifiers --pattern 'ORD-\\d{8}' --action keep
    """
    from curate.privacy.scan import set_identifier_rules

    rules = set_identifier_rules(open_store(ctx), [] if clear else (list(patterns) or None), action)
    click.echo(f"identifiers are {'left as they are' if rules.action == 'keep' else 'masked as <ORDER_ID_n>'};"
               f" your patterns: {', '.join(rules.patterns) or 'none'} (order/ticket/tracking words always count)")
