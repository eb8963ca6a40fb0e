"""People and their ratings: tuneloop users, rate, approve, agreement."""
from __future__ import annotations

import json
import sys

import click

from curate.rating.users import ROLES
from tuneloop.cli.common import (
    library_errors,
    open_store,
)


@click.group()
def users() -> None:
    """People who rate and review."""


@users.command("add")
@click.argument("name")
@click.option("--role", default="annotator", show_default=True, type=click.Choice(ROLES))
@click.option("--password", default=None,
              help="At least 8 characters. Asked for when not given (a password on the command line is visible"
                   " to others on this machine and in the shell's history).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--email", default=None, help="Matches an OIDC login (st.login) to this account.")
@click.pass_context
@library_errors
def users_add(ctx, name, role, password, password_stdin, email) -> None:
    """Add a user; once anyone has a password, the app asks everyone to sign in.

    \b
    Example:
      tuneloop users add ann --role annotator
    """
    from curate.rating.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user_id = add_user(open_store(ctx), name, role, password, email)
    click.echo(f"added {role} {name} (user {user_id})")


@users.command("deactivate")
@click.argument("name")
@click.pass_context
@library_errors
def users_deactivate(ctx, name) -> None:
    """Deactivate a user: they can no longer sign in, and an open session stops at its next action.

    \b
    Example:
      tuneloop users deactivate ann
    """
    from curate.rating.users import set_active

    set_active(open_store(ctx), name, False)
    click.echo(f"deactivated {name}")


@users.command("activate")
@click.argument("name")
@click.pass_context
@library_errors
def users_activate(ctx, name) -> None:
    """Let a deactivated user sign in again.

    \b
    Example:
      tuneloop users activate ann
    """
    from curate.rating.users import set_active

    set_active(open_store(ctx), name, True)
    click.echo(f"activated {name}")


@users.command("unlock")
@click.argument("name")
@click.pass_context
@library_errors
def users_unlock(ctx, name) -> None:
    """Lift the lockout after repeated failed sign-ins for an account.

    \b
    Example:
      tuneloop users unlock ann
    """
    from curate.rating.users import unlock

    click.echo(f"forgot {unlock(open_store(ctx), name)} failed sign-ins for {name}")


@users.command("list")
@click.pass_context
@library_errors
def users_list(ctx) -> None:
    """List the users and their roles.

    \b
    Example:
      tuneloop users list
    """
    from curate.rating.users import users_frame

    for row in users_frame(open_store(ctx)).to_dict("records"):
        click.echo(f"{row['id']:>4}  {row['name']:<24} {row['role']:<10} {'active' if row['active'] else 'inactive'}")


@click.group()
def rate() -> None:
    """Rating outside the app: export pairs to rate, import the ratings."""


@rate.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--limit", type=int, default=None, help="At most this many pairs.")
@click.pass_context
@library_errors
def rate_export(ctx, out, limit) -> None:
    """Write pairs that still need ratings as JSON lines, each with an empty "answers" object.

    \b
    Example:
      tuneloop rate export to_rate.jsonl --limit 200
    """
    from curate.rating import export_for_annotation

    click.echo(f"wrote {export_for_annotation(open_store(ctx), out, limit)} pairs to {out}")


@rate.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--annotator", required=True, help="The user whose ratings these are.")
@click.pass_context
@library_errors
def rate_import(ctx, path, annotator) -> None:
    """Store ratings from JSON lines ({"pair_id": …, "answers": {"quality": 4, "verdict": "approve"}}).

    \b
    Example:
      tuneloop rate import rated.jsonl --annotator ann
    """
    from curate.rating import import_ratings
    from curate.rating.users import get_user

    store = open_store(ctx)
    stored, problems = import_ratings(store, path, get_user(store, annotator)["id"])
    for problem in problems:
        click.echo(problem, err=True)
    click.echo(f"stored {stored} ratings" + (f"; {len(problems)} lines refused" if problems else ""))
    if problems and not stored:
        raise click.ClickException("no rating could be imported")


@rate.command("order")
@click.option("--by", "by", required=True, type=click.Choice(["default", "low-score", "uncertainty"]),
              help="default: oldest first; low-score: the lowest-scored first (look here first); uncertainty: the"
                   " judge's least sure first (scores nearest the middle of its scale, unreadable verdicts before all).")
@click.option("--scorer", default=None, help="The score to order by: a judge's name, ifd or perplexity (default the newest).")
@click.pass_context
@library_errors
def rate_order(ctx, by, scorer) -> None:
    """Order the rating queue (within each of its tiers) by a judge's or a quality score.

    \b
    Example:
      tuneloop rate order --by low-score --scorer rubric
    """
    from evals.judges import order_queue

    order = order_queue(open_store(ctx), by, scorer)
    click.echo(f"rating queue ordered by {order['by']}" + (f" of {order['scorer']}" if order["scorer"] else ""))


@click.command()
@click.option("--min-ratings", type=int, default=None, help="k: ratings a pair needs (saved as the rule).")
@click.option("--min-quality", type=float, default=None, help="Mean quality a pair needs (saved as the rule).")
@click.pass_context
@library_errors
def approve(ctx, min_ratings, min_quality) -> None:
    """Approve pairs with ≥ k ratings, mean quality ≥ threshold and no reject.

    \b
    Example:
      tuneloop approve --min-ratings 2 --min-quality 4
    """
    from curate.rating import approve as run
    from curate.rating.schema import update_rule

    store = open_store(ctx)
    rule = update_rule(store, min_ratings, min_quality)
    n = run(store, rule)
    click.echo(f"approved {n} pairs (rule: at least {rule.min_ratings} ratings, mean quality ≥ {rule.min_quality},"
               " no reject)")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.pass_context
@library_errors
def agreement(ctx, as_json) -> None:
    """Agreement between annotators: Krippendorff's alpha, Cohen's kappa, per-annotator numbers.

    \b
    Example:
      tuneloop agreement --json
    """
    from curate.rating import agreement as compute

    result = compute(open_store(ctx))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for name, q in result["questions"].items():
        alpha = "n/a" if q["alpha"] is None else f"{q['alpha']:.3f}"
        click.echo(f"{name}: Krippendorff's alpha ({q['level']}) {alpha} over {q['pairs_with_2_or_more']} pairs")
    for k in result["kappa"]:
        kappa = "n/a" if k["kappa"] is None else f"{k['kappa']:.3f}"
        click.echo(f"  Cohen's kappa {k['question']} {k['a']} × {k['b']}: {kappa} ({k['pairs']} pairs)")
    for a in result["annotators"]:
        click.echo(f"  {a['annotator']:<20} {a['submissions']:>5} pairs, {a['median_seconds_per_pair']} s/pair,"
                   f" agreement with consensus {a['agreement_with_consensus']}")
    for j in result["judges"]:
        click.echo(f"  {j['annotator']:<20} {j['submissions']:>5} pairs, a model, not a person: agreement with"
                   f" consensus {j['agreement_with_consensus']}, kappa {j['kappa_with_consensus']}, trusted {j['trusted']}")
