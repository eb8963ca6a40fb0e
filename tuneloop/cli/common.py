"""What the commands share: one-line errors, the store, and the options several commands take."""
from __future__ import annotations

import functools
import os

import click

from curate.errors import TuneloopError, interrupted, one_line
from curate.lm.backends import BACKEND_HELP, BACKENDS
from curate.store import Store

DEBUG_ENV = "TUNELOOP_DEBUG"   # set to 1 for the traceback of an unexpected error


def library_errors(fn):
    """A library error becomes one clear line on stderr and exit status 1; so does an unexpected
    one (a full disk, a store deleted meanwhile), naming its cause — its traceback with
    $TUNELOOP_DEBUG=1. Ctrl-C ends the command with status 130 and one line."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TuneloopError as exc:
            raise click.ClickException(str(exc)) from None
        except click.exceptions.ClickException:   # the command's own one-line error: already said
            raise
        except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - one line, not a traceback, for the console
            if interrupted(exc):   # Ctrl-C, or what it left behind (an aborted transaction …)
                click.echo("interrupted; what was committed is kept, and running the command again resumes it", err=True)
                raise SystemExit(130) from None
            if os.environ.get(DEBUG_ENV):
                raise
            raise click.ClickException(f"{one_line(exc)} (run with {DEBUG_ENV}=1 for the traceback)") from None
    return wrapper


def open_store(ctx: click.Context) -> Store:
    return Store(ctx.obj["db"])


def placement_options(fn):
    """--device and --precision (curate.lm.device). They also become $TUNELOOP_DEVICE and
    $TUNELOOP_PRECISION for this process, so every model the command loads (embeddings included)
    runs where it was told."""
    from curate.lm.device import DEVICE_ENV, DEVICE_HELP, PRECISION_ENV, PRECISION_HELP, PRECISIONS

    @functools.wraps(fn)
    def wrapper(*args, device, precision, **kwargs):
        before = {name: os.environ.get(name) for name in (DEVICE_ENV, PRECISION_ENV)}
        for name, value in ((DEVICE_ENV, device), (PRECISION_ENV, precision)):
            if value and value != "auto":
                os.environ[name] = value
        try:
            return fn(*args, device=device, precision=precision, **kwargs)
        finally:   # as it was (the command may run inside another program, as in tests)
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    with_precision = click.option("--precision", default="auto", show_default=True, type=click.Choice(PRECISIONS),
                                  help=PRECISION_HELP)(wrapper)
    return click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)(with_precision)


def engine_options(fn):
    """--engine, --stage and --ray-address (curate.engine); the command receives `engine`, an Engine."""
    from curate.engine import ENGINE_HELP, ENGINES

    @functools.wraps(fn)
    def wrapper(*args, engine, stage, ray_address, **kwargs):
        from curate.engine import engine_for
        from curate.store import default_db_path

        db = click.get_current_context().obj.get("db") or default_db_path()
        try:
            chosen = engine_for(db, engine, stage, ray_address)
        except TuneloopError as exc:   # e.g. an unknown $TUNELOOP_ENGINE
            raise click.ClickException(str(exc)) from None
        return fn(*args, engine=chosen, **kwargs)

    with_stage = click.option("--stage", default=None, metavar="URI",
                              help="Where the ray engine snapshots its input and output as Parquet: a folder or any"
                                   " pyarrow filesystem URI (s3://…, gs://…); default tuneloop_stage/ beside the store.")(wrapper)
    with_address = click.option("--ray-address", default=None, metavar="ADDRESS",
                                help="A running Ray cluster (default $RAY_ADDRESS, else a local runtime).")(with_stage)
    return click.option("--engine", default=None, type=click.Choice(ENGINES), help=ENGINE_HELP)(with_address)


def config_options(cls):
    """Click options made from a config dataclass's fields (curate.options): the flag, type,
    default, help and choices are the field's, so an option is defined once."""
    from curate.options import options

    def decorate(fn):
        for o in reversed(options(cls)):
            if o.type is bool:
                fn = click.option(f"{o.flag}/--no-{o.flag[2:]}", o.name, default=o.default, show_default=True,
                                  help=o.help)(fn)
            else:
                fn = click.option(o.flag, *o.also, o.name, type=click.Choice(o.choices) if o.choices else o.type,
                                  default=o.default, show_default=o.default not in (None, ""), help=o.help)(fn)
        return fn
    return decorate


def backend_option(default: str = "auto", also: str = ""):
    """--backend: where the model runs (curate.lm.backends, the one registry)."""
    return click.option("--backend", default=default, show_default=True, type=click.Choice(BACKENDS),
                        help=BACKEND_HELP + also)


def judge_backend_options(fn):
    """--backend, --model and --limit for the judge commands."""
    fn = click.option("--limit", type=int, default=None, help="Only the first N items.")(fn)
    fn = click.option("--model", default=None, help="The judge's model: a spec or run:N for the local backend, the"
                                                    " endpoint's model name for openai.")(fn)
    fn = backend_option("local")(fn)
    return placement_options(fn)
