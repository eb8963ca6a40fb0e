"""tuneloop eval, loop, compare and report."""
from __future__ import annotations

import click

from curate.lm.templates import TEMPLATES
from evals.bench.tasks import TASKS as BENCHMARK_TASKS
from tuneloop.cli.common import (
    backend_option,
    engine_options,
    library_errors,
    open_store,
    placement_options,
)


@click.group("eval")
def eval_group() -> None:
    """Evaluate models: benchmarks, domain evaluation, error heuristics."""


@eval_group.command("import-benchmark")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("--out", default=None, help="Folder for the local tasks (default: tuneloop_benchmarks/ beside the store).")
@click.pass_context
@library_errors
def eval_import(ctx, source, out) -> None:
    """Convert local benchmark files into local mirrors of lm-eval's tasks (same prompts and metrics).

    \b
    Example:
      tuneloop eval import-benchmark ../shared/data/benchmarks
    """
    from evals.bench.tasks import default_tasks_dir, import_benchmarks

    target = out or default_tasks_dir(open_store(ctx))
    click.echo(f"local tasks in {target}: {', '.join(import_benchmarks(source, target))}")


@eval_group.command("bench")
@click.option("--model", default=None, help="Model spec or run:N (default SmolLM2-135M-Instruct).")
@click.option("--tasks", default=",".join(BENCHMARK_TASKS), show_default=True, help="Comma-separated lm-eval tasks.")
@click.option("--limit", type=float, default=None, help="Items per task (a number, or a share below 1).")
@click.option("--num-fewshot", type=int, default=None)
@click.option("--tasks-dir", default=None, help="Where import-benchmark put the local tasks.")
@backend_option("auto", " vllm runs lm-eval's own vllm model.")
@placement_options
@click.pass_context
@library_errors
def eval_bench(ctx, model, tasks, limit, num_fewshot, tasks_dir, backend, device, precision) -> None:
    """Run lm-eval benchmarks on a model; local mirrors are used where imported.

    \b
    Example:
      tuneloop eval bench --model run:3 --tasks arc_easy,hellaswag --limit 50
    """
    from evals.bench.run import run_benchmarks

    limit = int(limit) if limit is not None and limit >= 1 else limit
    results = run_benchmarks(open_store(ctx), model, [t.strip() for t in tasks.split(",") if t.strip()], limit,
                             num_fewshot, tasks_dir, device=device, precision=precision, backend=backend)
    for task, metrics in results.items():
        for metric, v in metrics.items():
            click.echo(f"{task:<24} {metric:<10} {v['value']:.4f} ± {v['stderr'] or 0:.4f}")


@eval_group.group("ab")
def eval_ab() -> None:
    """Blind A/B rating of two models' answers (annotators vote on the Rate page)."""


@eval_ab.command("start")
@click.option("--a", "eval_a", type=int, required=True, help="Domain evaluation run A (usually the base model).")
@click.option("--b", "eval_b", type=int, required=True, help="Domain evaluation run B (usually the fine-tuned model).")
@click.pass_context
@library_errors
def eval_ab_start(ctx, eval_a, eval_b) -> None:
    """Start a blind A/B study over the questions both evaluation runs answered.

    \b
    Example:
      tuneloop eval ab start --a 1 --b 2
    """
    from evals.ab import create_study, studies

    store = open_store(ctx)
    study_id = create_study(store, eval_a, eval_b)
    items = next(s["items"] for s in studies(store) if s["id"] == study_id)
    click.echo(f"A/B study {study_id}: {items} questions; annotators find it on the Rate page (Blind A/B)")


@eval_ab.command("results")
@click.option("--study", "study_id", type=int, default=None, help="Study id (default: the newest).")
@click.option("--send-losses", is_flag=True, help="Send questions B lost back to the rating queue as flagged.")
@click.pass_context
@library_errors
def eval_ab_results(ctx, study_id, send_losses) -> None:
    """B's win rate over A with a 95% confidence interval.

    \b
    Example:
      tuneloop eval ab results --send-losses
    """
    from evals.ab import send_losses_to_review, studies, win_rate

    store = open_store(ctx)
    known = {s["id"]: s for s in studies(store)}
    if not known:
        raise click.ClickException("no A/B study yet: start one with `tuneloop eval ab start --a N --b M`")
    study = known.get(study_id or max(known))
    if study is None:
        raise click.ClickException(f"no A/B study {study_id}; studies: {', '.join(map(str, sorted(known)))}")
    r = win_rate(store, study["id"])
    click.echo(f"study {study['id']}: A = {study['model_a']} (eval run {study['eval_run_a']}),"
               f" B = {study['model_b']} (eval run {study['eval_run_b']})")
    click.echo(f"votes {r['votes']}: B won {r['b_wins']}, A won {r['a_wins']}, ties {r['ties']}")
    if r["win_rate"] is not None:
        click.echo(f"B win rate {r['win_rate']:.3f} (95% CI {r['ci_low']:.3f}–{r['ci_high']:.3f}, ties left out)")
    if send_losses:
        lost = send_losses_to_review(store, study["id"])
        click.echo(f"{len(lost)} questions B lost sent back to the rating queue")


@eval_group.command("domain")
@click.option("--model", default=None, help="Model spec or run:N.")
@click.option("--dataset", "dataset_name", default=None,
              help="Dataset version whose held-out split is answered (with --evalset: whose template and training"
                   " pairs are used).")
@click.option("--evalset", default=None, help="Answer this evaluation set instead: every model on the same questions.")
@click.option("--template", default="qa", show_default=True, type=click.Choice(tuple(TEMPLATES)),
              help="With --evalset and no --dataset: the prompt template.")
@click.option("--limit", type=int, default=None, help="Only the first N held-out examples.")
@click.option("--max-new-tokens", type=int, default=128, show_default=True)
@click.option("--no-flag", is_flag=True, help="Do not send flagged outputs' pairs back to the rating queue.")
@backend_option("auto")
@placement_options
@engine_options
@click.pass_context
@library_errors
def eval_domain(ctx, model, dataset_name, evalset, template, limit, max_new_tokens, no_flag, backend, device,
                precision, engine) -> None:
    """Answer the held-out split; score against the references; run the error heuristics.

    \b
    Example:
      tuneloop eval domain --model run:3 --dataset v1
    """
    from evals.domain import evaluate_domain

    metrics = evaluate_domain(open_store(ctx), model, dataset_name, max_new_tokens, limit, flag=not no_flag,
                              evalset=evalset, template=template, device=device, precision=precision,
                              backend=backend, engine=engine)
    for key, value in metrics.items():
        click.echo(f"{key:<22} {value}")


@click.group()
def loop() -> None:
    """The loop across iterations: dataset versions, their runs and their scores."""


@loop.command("history")
@click.option("--metric", default="token_f1", show_default=True,
              type=click.Choice(("token_f1", "rouge_l", "similarity", "exact_match")))
@click.option("--pair", "pair_id", type=int, default=None,
              help="Instead: one pair's story, before and after (its edits, statuses, ratings, flags, versions).")
@click.pass_context
@library_errors
def loop_history(ctx, metric, pair_id) -> None:
    """Each iteration: dataset version → runs → scores on the evaluation sets, what changed, how it moved.

    \b
    Example:
      tuneloop loop history --metric rouge_l
    """
    from evals.loop import history, history_lines, pair_story

    if pair_id is not None:
        for p in pair_story(open_store(ctx), pair_id)["versions"]:
            click.echo(f"pair {p['id']} ({p['origin']}, {p['status']}) in {', '.join(p['versions']) or 'no version'}:"
                       f" {p['response'][:140]!r}")
            if p["flags"]:
                click.echo(f"  flagged by evaluation: {', '.join(sorted(set(p['flags'])))}")
            for r in p["ratings"]:
                click.echo(f"  {r['annotator']}: {r['question']} = {str(r['value'])[:80]}")
        return
    for line in history_lines(history(open_store(ctx), metric), metric):
        click.echo(line)


@click.command("compare")
@click.argument("models", nargs=-1, required=True)
@click.option("--evalset", required=True, help="The evaluation set all of them were scored on.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@click.pass_context
@library_errors
def compare_models(ctx, models, evalset, as_json, seed) -> None:
    """Compare models or runs on one evaluation set: paired differences with 95% intervals.

    \b
    Example:
      tuneloop compare --evalset support-v1 HuggingFaceTB/SmolLM2-135M-Instruct run:3 run:4
    """
    from evals.compare import compare, summary_lines, to_json

    result = compare(open_store(ctx), evalset, list(models), seed)
    click.echo(to_json(result) if as_json else "\n".join(summary_lines(result)))


@click.command()
@click.option("--run", "run_ids", type=int, multiple=True, required=True,
              help="The training run to report on; repeat it to compare more runs on --evalset.")
@click.option("--evalset", default=None, help="Also compare the runs and the base model on this evaluation set.")
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default="html", show_default=True,
              help="html: one self-contained file with charts; md: for a pull request or a wiki; json: for other tools.")
@click.option("--out", default=None, help="The file to write (default: report-run-N.html, .md or .json).")
@click.pass_context
@library_errors
def report(ctx, run_ids, evalset, fmt, out) -> None:
    """Write a report on a run: benchmark items that flipped, domain questions won and lost, with intervals.

    Each model is compared with the base model on the same benchmark items (bootstrap interval,
    McNemar's test) and the same held-out questions (bootstrap interval, Wilcoxon's test).

    \b
    Example:
      tuneloop report --run 3 --run 4 --evalset support-v1 --out report.html
      tuneloop report --run 3 --format md --out report.md
    """
    from evals.report import write_report

    path = write_report(open_store(ctx), run_ids[0], out or f"report-run-{run_ids[0]}.{fmt}", tuple(run_ids[1:]),
                        evalset, fmt)
    click.echo(f"wrote {path}")
