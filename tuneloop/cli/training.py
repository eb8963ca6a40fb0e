"""tuneloop train and tuneloop runs."""
from __future__ import annotations

import sys

import click

from training.config import TrainConfig
from tuneloop.cli.common import (
    config_options,
    library_errors,
    open_store,
)


@click.command()
@config_options(TrainConfig)
@click.option("--resume", type=int, default=None, metavar="RUN",
              help="Continue an interrupted run from its checkpoint, with the config it was started with.")
@click.pass_context
@library_errors
def train(ctx, resume, **values) -> None:
    """Fine-tune a model on a dataset version, full or LoRA; the run is recorded in the store.

    \b
    Example:
      tuneloop train --dataset v1 --lora --max-steps 300
    """
    from curate.options import options
    from training.runs import get_run
    from training.train import resume as resume_run
    from training.train import train as run

    store = open_store(ctx)
    if resume is not None:
        given = [o.flag for o in options(TrainConfig)
                 if ctx.get_parameter_source(o.name) is click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.ClickException(f"--resume continues run {resume} with the config it was started with;"
                                       f" {', '.join(given)} cannot change it (start a new run instead)")
        run_id = resume_run(store, resume, show_progress=sys.stderr.isatty())
    else:
        run_id = run(store, TrainConfig(**values), show_progress=sys.stderr.isatty())
    row = get_run(store, run_id)
    metrics = row["metrics"]
    if metrics.get("method") == "dpo":
        accuracy = metrics["preference_accuracy"]
        click.echo(f"run {run_id} (DPO) succeeded: {metrics['steps']} steps on {metrics['train_pairs']} preference"
                   " pairs; held-out preference accuracy "
                   + (f"{accuracy:.1%} over {metrics['test_pairs']} pairs, reward margin {metrics['reward_margin']:.3f}"
                      if accuracy is not None else "not measured (no test split)")
                   + f"; model in {row['output_dir']} (use --model run:{run_id})")
        return
    click.echo(f"run {run_id} succeeded: {metrics['steps']} steps, {metrics['tokens_per_s']} tokens/s,"
               f" held-out loss {metrics['final_eval_loss']}; model in {row['output_dir']} (use --model run:{run_id})")


@click.group()
def runs() -> None:
    """Training runs."""


@runs.command("list")
@click.pass_context
@library_errors
def runs_list(ctx) -> None:
    """List training runs with their state and numbers.

    \b
    Example:
      tuneloop runs list
    """
    from training.runs import runs_frame

    for row in runs_frame(open_store(ctx)).to_dict("records"):
        click.echo(f"run {row['id']:>3}  {row['state']:<11} dataset {row['dataset']:<10} steps {row['steps']}"
                   f"  tokens/s {row['tokens_per_s']}  held-out loss {row['final_eval_loss']}")


@runs.command("flag")
@click.argument("run_id", type=int)
@click.option("--top", default=20, show_default=True, help="How many of the highest-loss train pairs.")
@click.pass_context
@library_errors
def runs_flag(ctx, run_id, top) -> None:
    """Send a run's highest-loss training pairs back to the rating queue.

    \b
    Example:
      tuneloop runs flag 3 --top 20
    """
    from training.runs import flag_hardest

    click.echo(f"flagged {flag_hardest(open_store(ctx), run_id, top)} pairs for review")
