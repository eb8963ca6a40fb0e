"""The `tuneloop` command. Each command is a thin shell over one library function."""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from curate.dataset import DatasetConfig
from curate.dedupe import FIELDS as DEDUPE_FIELDS
from curate.dedupe import KEEPERS
from curate.dedupe import METHODS as DEDUPE_METHODS
from curate.diversity import FIELDS as DIVERSITY_FIELDS
from curate.errors import TuneloopError
from curate.export import FORMATS as EXPORT_FORMATS
from curate.generate import SOURCES
from curate.ingest import FORMATS as INGEST_FORMATS
from curate.lm.backends import BACKENDS
from curate.lm.generation import BATCH_SIZE
from curate.lm.vllm_engine import BACKEND_HELP, INFERENCE_BACKENDS
from curate.offtopic import DEFAULT_REFUSAL
from curate.pairs import ORIGINS, STATUSES
from curate.pii import DEFAULT_THRESHOLD as PII_THRESHOLD
from curate.pii import PLACEHOLDER as PII_ENTITIES
from curate.preferences import FORMATS as PREFERENCE_FORMATS
from curate.readers import DOC_SPLITS
from curate.select import MAX_SIMILARITY as SELECT_SIMILARITY
from curate.store import ENV_DB, Store, default_db_path
from curate.templates import TEMPLATES
from curate.users import ROLES
from evals.benchmarks import TASKS as BENCHMARK_TASKS
from training.config import TrainConfig


def library_errors(fn):
    """A library error becomes one clear line on stderr and exit status 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TuneloopError as exc:
            raise click.ClickException(str(exc)) from None
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default=None, metavar="PATH",
              help=f"The DuckDB store (default: ${ENV_DB} or ./tuneloop.duckdb).")
@click.version_option(package_name="tuneloop")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """tuneloop: prepare fine-tuning data, fine-tune, and prove that it worked."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db or default_db_path()


@main.command()
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


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(INGEST_FORMATS),
              help="File format, or the record shape (openai-chat, sharegpt, alpaca) to insist on.")
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN",
              help="Name the column for a field, e.g. --map instruction=question --map response=reply."
                   " Fields: instruction, response, input, system, topic, history, turns, message_id,"
                   " parent_id, text, role, inbound, author, created_at.")
@click.option("--topic", default=None, help="The domain these logs are about (used by off-topic pairs).")
@click.option("--split", "doc_split", default="auto", show_default=True,
              type=click.Choice(DOC_SPLITS),
              help="Documents: one per file, or one per heading (auto: per heading for markdown).")
@click.option("--redact", is_flag=True, help="Replace personal data (e-mail, phone, card, IBAN, IP, URL; names and"
              " places with a spaCy NER model) by placeholders before anything is stored (see `tuneloop pii`).")
@click.pass_context
@library_errors
def ingest(ctx, paths, fmt, mapping, topic, doc_split, redact) -> None:
    """Import raw logs and documents from files or folders.

    Folders are searched for .jsonl .json .csv .tsv .parquet .txt .md files (README and LICENSE
    files are skipped). Importing the same file again does nothing; an interrupted import resumes.
    Bad records are stored in rejects with file, line and reason, and summarized here.

    \b
    Example:
      tuneloop ingest data/ faq.jsonl --topic Lumo
    """
    from curate.ingest import ingest as run
    from curate.ingest import parse_mapping

    reports = run(open_store(ctx), paths, format=fmt, mapping=parse_mapping(mapping), topic=topic,
                  doc_split=doc_split, show_progress=sys.stderr.isatty(), redact=redact)
    for report in reports:
        click.echo(report.summary())
        for reason, count in report.reasons.most_common(5):
            click.echo(f"  rejected {count} × {reason} (first at line {report.first_lines[reason]})")
        if len(report.reasons) > 5:
            click.echo(f"  … and {len(report.reasons) - 5} other reasons; see the Overview page")
    if not any(r.ok and (r.rows_stored or r.rows_duplicate or r.status == "already imported") for r in reports):
        raise click.ClickException("nothing could be imported: " + "; ".join(
            r.error or f"{r.file}: every record was rejected" for r in reports))


@main.group()
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
    from curate.pii import scan

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
    from curate.pii import redact
    from evals.results import PURGE

    click.echo(redact(open_store(ctx), scan_id, purge=purge, note=note, show_progress=sys.stderr.isatty(),
                      purge_more=PURGE).summary())


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
    from curate.pii import set_display

    set_display(open_store(ctx), mode == "redacted")
    click.echo(f"the app shows pairs {mode}")


@main.group()
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
    from curate.preferences import build_preferences, from_edits, summary
    from evals.ab import preference_records

    store = open_store(ctx)
    edits, left_edits = from_edits(store)
    votes, left_votes = preference_records(store, list(studies) or None, min_agreement)
    name = name or f"prefs-{store.scalar('SELECT count(*) FROM preference_versions') + 1}"
    report = build_preferences(store, name, votes + edits, left_votes + left_edits, test_size=test_size, seed=seed,
                               out=file, fmt=fmt)
    click.echo(summary(report))


@main.group()
def pairs() -> None:
    """Instruction–response pairs."""


@pairs.command("extract")
@click.option("--all", "all_sources", is_flag=True, help="Look at every source again, not only new ones.")
@click.option("--topic", default=None, help="Topic for pairs whose source and record name none.")
@click.pass_context
@library_errors
def pairs_extract(ctx, all_sources, topic) -> None:
    """Turn imported Q&A records, conversations and reply threads into pairs.

    \b
    Example:
      tuneloop pairs extract
    """
    from curate.pairs import extract

    report = extract(open_store(ctx), all_sources=all_sources, topic=topic, show_progress=sys.stderr.isatty())
    for name, new in report.by_source.items():
        click.echo(f"  {name}: {new} new")
    click.echo(report.summary())


@pairs.command("generate")
@click.option("--from", "source", default="documents", show_default=True, type=click.Choice(SOURCES),
              help="documents: questions and grounded answers from imported documents; raw: rewrite raw logs"
                   " into clean pairs; pairs: new questions in the style of existing pairs (self-instruct).")
@click.option("--topic", default=None, help="The domain, e.g. your product's name.")
@click.option("--model", default=None, help="Model spec: hub id, model folder, .gguf file or run:N"
              " (default SmolLM2-135M-Instruct); with --backend openai, the endpoint's model name.")
@click.option("--backend", default="local", show_default=True, type=click.Choice(BACKENDS),
              help="local: transformers on this machine; vllm: vLLM on a CUDA GPU (tuneloop[gpu]); openai: an"
                   " OpenAI-compatible server named by $TUNELOOP_OPENAI_BASE_URL (key in $TUNELOOP_OPENAI_API_KEY).")
@click.option("--n", default=20, show_default=True, help="How many pairs to generate.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same model, same pairs.")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, help="Prompts per forward pass.")
@click.option("--source-id", "source_ids", multiple=True, type=int, help="Only these sources (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print the pairs instead of storing them.")
@placement_options
@engine_options
@click.pass_context
@library_errors
def pairs_generate(ctx, source, topic, model, backend, n, seed, batch_size, source_ids, dry_run, device,
                   precision, engine) -> None:
    """Generate instruction–response pairs with an LLM.

    \b
    Example:
      tuneloop pairs generate --from documents --topic Lumo --n 20 --seed 0
    """
    from curate.generate import GenerationConfig, generate
    from curate.lm.backends import make_backend

    store = open_store(ctx)
    config = GenerationConfig(source=source, topic=topic, n=n, seed=seed, batch_size=batch_size)
    result = generate(store, make_backend(backend, model, store, batch_size, device, precision, engine), config,
                      source_ids=list(source_ids) or None, write=not dry_run, show_progress=sys.stderr.isatty())
    if dry_run:
        for pair in result.pairs:
            click.echo(json.dumps({"instruction": pair["instruction"], "response": pair["response"]}, ensure_ascii=False))
    click.echo(result.summary() + ("" if dry_run else "; stored"))


@pairs.command("offtopic")
@click.option("--topic", required=True, help="The domain the model must keep to.")
@click.option("--n", default=20, show_default=True, help="How many off-topic pairs to add.")
@click.option("--seed", default=0, show_default=True)
@click.option("--refusal", default=DEFAULT_REFUSAL, show_default=True,
              help="The answer; {topic} is replaced by the topic.")
@click.option("--model", default=None, help="Also ask this model for off-topic questions (default: built-in pool only).")
@click.pass_context
@library_errors
def pairs_offtopic(ctx, topic, n, seed, refusal, model) -> None:
    """Add off-topic questions answered with a refusal that keeps to the topic.

    \b
    Example:
      tuneloop pairs offtopic --topic Lumo --n 20
    """
    from curate.offtopic import add_offtopic

    store = open_store(ctx)
    backend = None
    if model:
        from curate.lm.backends import make_backend
        backend = make_backend("local", None if model == "default" else model, store)
    added = add_offtopic(store, topic, n, seed, refusal, backend)
    from curate.stats import stats as counts

    by_origin = counts(store)["pairs_by_origin"]
    share = by_origin.get("offtopic", 0) / max(sum(by_origin.values()), 1)
    click.echo(f"added {added} off-topic pairs; off-topic pairs are {100 * share:.1f}% of all pairs")


@main.command()
@click.option("--method", default="all", show_default=True, type=click.Choice((*DEDUPE_METHODS, "all")),
              help="exact: same text up to case, punctuation and spaces; minhash: near-duplicates by Jaccard of"
                   " character 5-grams; semantic: same meaning by embedding cosine similarity.")
@click.option("--threshold", type=float, default=None,
              help="minhash: Jaccard (default 0.7); semantic: cosine (default 0.92).")
@click.option("--field", default="pair", show_default=True, type=click.Choice(DEDUPE_FIELDS),
              help="What is compared.")
@click.option("--keeper", default="longest", show_default=True, type=click.Choice(KEEPERS),
              help="Which member of a cluster is proposed to keep.")
@click.option("--accept-all", is_flag=True, help="Accept every proposal at once (review them in the app instead).")
@placement_options
@engine_options
@click.pass_context
@library_errors
def dedupe(ctx, method, threshold, field, keeper, accept_all, device, precision, engine) -> None:
    """Find duplicate pairs and propose a keeper for each cluster (nothing is deleted).

    \b
    Example:
      tuneloop dedupe --method minhash --threshold 0.8
    """
    from curate.dedupe import DedupeConfig
    from curate.dedupe import accept_all as accept
    from curate.dedupe import dedupe as run

    store = open_store(ctx)
    for m in (DEDUPE_METHODS if method == "all" else (method,)):
        report = run(store, DedupeConfig(method=m, threshold=threshold, field=field, keeper=keeper),
                     show_progress=sys.stderr.isatty(), engine=engine)
        click.echo(report.summary())
    if accept_all:
        click.echo(f"accepted {accept(store)} clusters: their other members are marked duplicate")
    else:
        click.echo("review the clusters on the app's Dedupe page, or run again with --accept-all")


@main.command()
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
    from curate.diversity import DiversityConfig
    from curate.diversity import diversity as run

    summary = run(open_store(ctx), DiversityConfig(field=field, k=k, seed=seed), show_progress=sys.stderr.isatty(),
                  engine=engine)
    click.echo(f"{summary['pairs']} pairs in {summary['k']} clusters (run {summary['run_id']})")
    for key in ("distinct_1_instructions", "distinct_2_instructions", "distinct_1_responses", "distinct_2_responses",
                "mean_nearest_similarity", "share_near_copies"):
        click.echo(f"  {key.replace('_', ' '):<28} {summary[key]}")
    for c in sorted(summary["clusters"], key=lambda c: -c["size"]):
        click.echo(f"  cluster {c['cluster']:>2} {c['size']:>6} pairs {100 * c['share']:5.1f}%  {c['label']}"
                   + ("  (thin)" if c["thin"] else ""))


@main.group()
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
    from curate.users import add_user

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
    from curate.users import set_active

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
    from curate.users import set_active

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
    from curate.users import unlock

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
    from curate.users import users_frame

    for row in users_frame(open_store(ctx)).to_dict("records"):
        click.echo(f"{row['id']:>4}  {row['name']:<24} {row['role']:<10} {'active' if row['active'] else 'inactive'}")


@main.group()
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
    from curate.users import get_user

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


@main.command()
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
    from curate.rating import get_rule, set_rule

    store = open_store(ctx)
    rule = get_rule(store)
    if min_ratings is not None or min_quality is not None:
        rule.min_ratings = min_ratings if min_ratings is not None else rule.min_ratings
        rule.min_quality = min_quality if min_quality is not None else rule.min_quality
        set_rule(store, rule)
    n = run(store, rule)
    click.echo(f"approved {n} pairs (rule: at least {rule.min_ratings} ratings, mean quality ≥ {rule.min_quality},"
               " no reject)")


@main.command()
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


@main.group()
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
    """
    from curate.dataset import build_dataset
    from curate.dataset import push_to_hub as push

    report = build_dataset(open_store(ctx), DatasetConfig(**values), export_root=out, show_progress=sys.stderr.isatty())
    name, max_length = values["name"], values["max_length"]
    click.echo(f"{name}: {report['examples']} examples ({report['train']} train, {report['test']} test),"
               f" {report['tokens']['mean']} tokens on average, {100 * report['truncated_answer_share']:.1f}% of"
               f" answers and {100 * report['truncated_prompt_share']:.1f}% of prompts cut at {max_length}")
    for origin, counts in report["by_origin"].items():
        click.echo(f"  {origin:<10} train {counts['train']:>6}  test {counts['test']:>6}")
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


@main.command()
@click.option("--against", default="benchmarks", show_default=True, type=click.Choice(["benchmarks"]),
              help="What to check against: the benchmark items `eval import-benchmark` converted.")
@click.option("--tasks-dir", default=None, help="Where import-benchmark put them (default: tuneloop_benchmarks/).")
@click.option("--ngram", default=13, show_default=True, help="Words in the shared n-gram (lm-eval's and GPT-3's 13).")
@click.pass_context
@library_errors
def decontaminate(ctx, against, tasks_dir, ngram) -> None:
    """Find pairs whose text overlaps benchmark items; dataset builds leave them out.

    \b
    Example:
      tuneloop decontaminate --against benchmarks
    """
    from curate.decontaminate import decontaminate as run

    found = run(open_store(ctx), tasks_dir, ngram)
    for f in found[:50]:
        click.echo(f"  pair {f['pair_id']:>7}  {f['benchmark']} item {f['item']}: \"{f['ngram']}\"")
    click.echo(f"{len(found)} pairs overlap the imported benchmark items")


@dataset.command("list")
@click.pass_context
@library_errors
def dataset_list(ctx) -> None:
    """List the dataset versions.

    \b
    Example:
      tuneloop dataset list
    """
    from curate.dataset import versions_frame

    for row in versions_frame(open_store(ctx)).to_dict("records"):
        click.echo(f"{row['name']:<16} {row['examples']:>7} examples ({row['train']} train, {row['test']} test)"
                   f"  {row['template']}  max {row['max_length']}  {row['export_dir']}")


@main.command()
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


@main.group()
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


@main.group("eval")
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
    from evals.benchmarks import default_tasks_dir, import_benchmarks

    target = out or default_tasks_dir(open_store(ctx))
    click.echo(f"local tasks in {target}: {', '.join(import_benchmarks(source, target))}")


@eval_group.command("bench")
@click.option("--model", default=None, help="Model spec or run:N (default SmolLM2-135M-Instruct).")
@click.option("--tasks", default=",".join(BENCHMARK_TASKS), show_default=True, help="Comma-separated lm-eval tasks.")
@click.option("--limit", type=float, default=None, help="Items per task (a number, or a share below 1).")
@click.option("--num-fewshot", type=int, default=None)
@click.option("--tasks-dir", default=None, help="Where import-benchmark put the local tasks.")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(INFERENCE_BACKENDS),
              help=BACKEND_HELP + " vllm runs lm-eval's own vllm model.")
@placement_options
@click.pass_context
@library_errors
def eval_bench(ctx, model, tasks, limit, num_fewshot, tasks_dir, backend, device, precision) -> None:
    """Run lm-eval benchmarks on a model; local mirrors are used where imported.

    \b
    Example:
      tuneloop eval bench --model run:3 --tasks arc_easy,hellaswag --limit 50
    """
    from evals.benchmarks import run_benchmarks

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
@click.option("--backend", default="auto", show_default=True, type=click.Choice(INFERENCE_BACKENDS), help=BACKEND_HELP)
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


@main.group()
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
    from curate.evalsets import create_evalset

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
    from curate.evalsets import evalsets_frame

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
    from curate.evalsets import evalset_items, get_evalset

    store = open_store(ctx)
    s = get_evalset(store, name)
    click.echo(f"{s['name']}: {s['items']} questions, made {s['created_at']:%Y-%m-%d %H:%M} from {json.dumps(s['lineage'])}")
    for item in evalset_items(store, s["id"])[:limit]:
        click.echo(f"- {'[refuse] ' if item['should_refuse'] else ''}{item['instruction'][:120]}")
        click.echo(f"    {item['response'][:160]}")


@main.group()
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


@main.command("compare")
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


@main.command()
@click.option("--run", "run_ids", type=int, multiple=True, required=True,
              help="The training run to report on; repeat it to compare more runs on --evalset.")
@click.option("--evalset", default=None, help="Also compare the runs and the base model on this evaluation set.")
@click.option("--out", default=None, help="HTML file (default: report-run-N.html).")
@click.pass_context
@library_errors
def report(ctx, run_ids, evalset, out) -> None:
    """Write one self-contained HTML report: base vs fine-tuned, other runs, heuristics, worst answers.

    \b
    Example:
      tuneloop report --run 3 --run 4 --evalset support-v1 --out report.html
    """
    from evals.report import write_report

    path = write_report(open_store(ctx), run_ids[0], out or f"report-run-{run_ids[0]}.html", tuple(run_ids[1:]), evalset)
    click.echo(f"wrote {path}")


@main.command()
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


@main.command()
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


@main.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--status", default=None, type=click.Choice(STATUSES), help="Only pairs with this status.")
@click.option("--origin", default=None, type=click.Choice(ORIGINS), help="Only pairs of this origin.")
@click.option("--format", "fmt", default=None, type=click.Choice(EXPORT_FORMATS),
              help="Default: from the file's extension. CSV and XLSX cells that would run as formulas are made text.")
@click.pass_context
@library_errors
def export(ctx, out, status, origin, fmt) -> None:
    """Write pairs to JSON lines, Parquet, CSV or XLSX.

    \b
    Example:
      tuneloop export approved.xlsx --status approved
    """
    from curate.export import export_pairs

    n = export_pairs(open_store(ctx), out, status=status, origin=origin, format=fmt)
    click.echo(f"wrote {n} pairs to {out}")


@main.command("demo-data")
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


@main.command()
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



# --------------------------------------------------------------------------- model judges and quality scores
def judge_backend_options(fn):
    """--judge, --backend, --model and --limit for the judge commands."""
    fn = click.option("--limit", type=int, default=None, help="Only the first N items.")(fn)
    fn = click.option("--model", default=None, help="The judge's model: a spec or run:N for the local backend, the"
                                                    " endpoint's model name for openai.")(fn)
    fn = click.option("--backend", default="local", show_default=True, type=click.Choice(BACKENDS),
                      help="local (transformers), vllm (CUDA), or openai (any OpenAI-compatible server:"
                           " $TUNELOOP_OPENAI_BASE_URL).")(fn)
    return placement_options(fn)


def _judge_and_backend(store, judge, backend, model, device, precision, kind=None):
    from curate.lm.backends import make_backend
    from evals.judges import get_judge

    return get_judge(judge, kind), make_backend(backend, model, store, device=device, precision=precision)


def _print_trust(verdict: dict) -> str:
    if verdict["trusted"] is None:
        return "not calibrated yet (`tuneloop judge calibrate`)"
    word = "trustworthy" if verdict["trusted"] else "NOT trustworthy"
    return f"{word}: kappa {verdict['kappa']:.3f} against the raters (needs {verdict['min_kappa']:.2f})"


@main.group()
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
    from curate.scores import trust
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
    from curate.scores import trust
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
    from curate.scores import set_min_kappa
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


@main.command()
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
    from curate.quality import score_pairs

    r = score_pairs(open_store(ctx), model, template=template, limit=limit, device=device, precision=precision,
                    engine=engine, show_progress=sys.stderr.isatty())
    click.echo(f"{r['scored']} pairs scored by {r['model']} ({r['cached']} from earlier); median IFD"
               f" {r['median_ifd']}, {r['ifd_at_least_1']} pairs with IFD >= 1 (the question does not help)")


@main.command()
@click.option("--budget", type=int, required=True, help="How many pairs to choose.")
@click.option("--name", required=True, help="The new dataset version's name.")
@click.option("--by", "select_by", default=None, help="The score to rank by: a judge's name, ifd or perplexity"
                                                      " (default the newest scored).")
@click.option("--similarity", type=float, default=SELECT_SIMILARITY, show_default=True,
              help="Skip a pair more alike than this (embedding cosine) to one already chosen.")
@click.option("--model", default=None, help="Whose tokenizer counts the tokens (as for dataset build).")
@click.option("--template", default="qa", show_default=True, type=click.Choice(tuple(TEMPLATES)))
@click.option("--max-length", type=int, default=512, show_default=True)
@click.option("--test-size", type=float, default=0.1, show_default=True)
@click.pass_context
@library_errors
def select(ctx, budget, name, select_by, similarity, model, template, max_length, test_size) -> None:
    """Build a dataset version from the best-scored approved pairs, kept diverse (deita-style).

    \b
    Example:
      tuneloop select --budget 300 --name best300 --by rubric
    """
    from curate.dataset import build_dataset

    report = build_dataset(open_store(ctx), DatasetConfig(
        name, template, model, max_length, test_size, select_budget=budget, select_by=select_by,
        select_similarity=similarity), show_progress=sys.stderr.isatty())
    chosen = report["selection"]
    click.echo(f"{name}: {report['examples']} examples ({report['train']} train, {report['test']} test)")
    click.echo(f"how it chose: {chosen['how']}")
    click.echo(f"  {chosen['selected']} chosen of {chosen['candidates']} candidates; {chosen['skipped_as_too_alike']}"
               f" skipped as too alike; chosen scores {chosen['score_range']}; {chosen['unscored_selected']} without"
               " a score" + (f"; left out: {chosen['left_out']}" if chosen["left_out"] else ""))
    click.echo(f"exported to {report['export_dir']}")

if __name__ == "__main__":  # pragma: no cover
    main()
