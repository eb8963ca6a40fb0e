"""tuneloop judge: model judges."""
from __future__ import annotations

import json
import sys

import click

from tuneloop.cli.common import (
    judge_backend_options,
    library_errors,
    open_store,
)


def _judge_and_backend(store, judge, backend, model, device, precision, kind=None):
    from curate.lm.backends import make_backend
    from evals.judges import get_judge

    return get_judge(judge, kind), make_backend(backend, model, store, device=device, precision=precision)


def _print_trust(verdict: dict) -> str:
    if verdict["trusted"] is None:
        return "not calibrated yet (`tuneloop judge calibrate`)"
    word = "trustworthy" if verdict["trusted"] else "NOT trustworthy"
    return f"{word}: kappa {verdict['kappa']:.3f} against the raters (needs {verdict['min_kappa']:.2f})"


@click.group()
def judge() -> None:
    """Model judges: score pairs or model outputs, judge A/B studies, calibrate against the raters."""


@judge.command("list")
def judge_list() -> None:
    """The registered judges (evals/judge_specs/*.yaml); a spec file of your own works as --judge too.

    \b
    Example:
      tuneloop judge list
    """
    from evals.judges import registered

    for name, spec in registered().items():
        click.echo(f"{name:<10} {spec.kind:<9} {spec.description}")


@judge.command("pairs")
@click.option("--judge", "judge_name", default="rubric", show_default=True, help="A judge's name or spec file.")
@judge_backend_options
@click.pass_context
@library_errors
def judge_pairs_command(ctx, judge_name, backend, model, limit, device, precision) -> None:
    """Score the pairs in play with a model judge (a suggestion for raters, never a rating).

    \b
    Example:
      tuneloop judge pairs --judge rubric --backend openai --model qwen2.5-7b-instruct
    """
    from curate.quality.scores import trust
    from evals.judges import judge_pairs

    store = open_store(ctx)
    spec, chosen = _judge_and_backend(store, judge_name, backend, model, device, precision, "score")
    r = judge_pairs(store, spec, chosen, limit=limit, show_progress=sys.stderr.isatty())
    click.echo(f"{spec.name} by {r['model']}: {r['scored']} pairs scored ({r['asked']} asked now, {r['cached']} from"
               f" earlier), {r['unparsed']} replies unreadable, mean score {r['mean']}")
    click.echo(f"judge {spec.name}: " + _print_trust(trust(store, spec.name, r["model"])))


@judge.command("outputs")
@click.option("--eval-run", type=int, default=None, help="Grade this domain evaluation run's answers.")
@click.option("--ab", "study", type=int, default=None, help="Judge this blind A/B study's items (pairwise, both orders).")
@click.option("--judge", "judge_name", default=None,
              help="A judge's name or spec file (default: rubric for --eval-run, pairwise for --ab).")
@judge_backend_options
@click.pass_context
@library_errors
def judge_outputs_command(ctx, eval_run, study, judge_name, backend, model, limit, device, precision) -> None:
    """Grade model outputs (rubric or reference-guided) or judge an A/B study with win rates.

    \b
    Example:
      tuneloop judge outputs --eval-run 3 --judge reference
      tuneloop judge outputs --ab 1 --backend openai
    """
    from curate.quality.scores import trust
    from evals.judges import judge_ab, judge_outputs

    if (eval_run is None) == (study is None):
        raise click.ClickException("give one of --eval-run N or --ab STUDY")
    store = open_store(ctx)
    if eval_run is not None:
        spec, chosen = _judge_and_backend(store, judge_name or "rubric", backend, model, device, precision, "score")
        r = judge_outputs(store, eval_run, spec, chosen, limit=limit, show_progress=sys.stderr.isatty())
        click.echo(f"eval run {eval_run}, {spec.name} by {r['model']}: {r['judged']} answers graded ({r['asked']} asked"
                   f" now), {r['unparsed']} replies unreadable, mean score {r['mean']}")
    else:
        spec, chosen = _judge_and_backend(store, judge_name or "pairwise", backend, model, device, precision, "pairwise")
        r = judge_ab(store, study, spec, chosen, limit=limit, show_progress=sys.stderr.isatty())
        click.echo(f"study {study}, {spec.name} by {r['model']}: {r['judged']} of {r['items']} items judged"
                   f" ({r['unparsed']} unreadable): B won {r['b_wins']}, A won {r['a_wins']}, ties {r['ties']}"
                   f" ({r['order_disagreements']} because the two orders disagreed)")
        if r["win_rate"] is not None:
            click.echo(f"B win rate {r['win_rate']:.3f}; length-controlled {r['lc_win_rate']:.3f}")
    click.echo(f"judge {spec.name}: " + _print_trust(trust(store, spec.name, r["model"])))


@judge.command("calibrate")
@click.option("--judge", "judge_name", default=None, help="Only this judge (default: every judge that judged).")
@click.option("--model", default=None, help="Only this judge model.")
@click.option("--min-kappa", type=float, default=None,
              help="Save the agreement (Cohen's kappa) a judge needs to be shown as trustworthy (default 0.4).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
@library_errors
def judge_calibrate(ctx, judge_name, model, min_kappa, as_json) -> None:
    """Compare each judge with the raters on the items both rated: kappa, alpha, confusion matrix.

    \b
    Example:
      tuneloop judge calibrate --min-kappa 0.5
    """
    from curate.quality.scores import set_min_kappa
    from evals.judge_calibration import calibrate

    store = open_store(ctx)
    if min_kappa is not None:
        set_min_kappa(store, min_kappa)
    results = calibrate(store, judge_name, model)
    if as_json:
        click.echo(json.dumps(results, indent=2, default=str))
        return
    if not results:
        raise click.ClickException("no judge has judged anything yet: run `tuneloop judge pairs` first")
    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"
    for r in results:
        click.echo(f"{r['judge']} by {r['model']} on {r['on']}: {r['items']} items rated by both;"
                   f" Cohen's kappa {fmt(r['kappa'])}, Krippendorff's alpha {fmt(r['alpha'])},"
                   f" agreement {fmt(r['agreement'])}, exact {fmt(r['exact'])}")
        if r["confusion"]:
            labels = [str(v) for v in r["scale"]]
            click.echo("  people \\ judge " + " ".join(f"{v:>5}" for v in labels))
            for label, row in zip(labels, r["confusion"]):
                click.echo(f"  {label:>15} " + " ".join(f"{n:>5}" for n in row))
        click.echo("  " + _print_trust(r["trust"]))
