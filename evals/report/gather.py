"""What a report on a training run shows, gathered once for every format (HTML, markdown, JSON)
and for the Evaluate page: benchmarks item by item, the domain evaluation question by question,
the runs on an evaluation set, the worst answers with the lineage of their pairs, the blind A/B
vote, and the loop's history with each version's data quality."""
from __future__ import annotations

from curate.store import Store
from evals.report.benchmarks import compare_items
from evals.report.domain import domain_section, held_out_run
from training.runs import get_run


def _models(store: Store, run: dict, others: tuple[int, ...]) -> tuple[list[str], str]:
    """The models reported on, baseline first, and the fine-tuned one. The base model may be
    stored under the spec the run was asked for or the one it resolved to."""
    config = run["config"] or {}
    tuned = f"run:{run['id']}"
    bases = [m for m in dict.fromkeys([config.get("model"), run["base_model"]]) if m]
    scored = {r["model"] for r in store.rows("SELECT DISTINCT model FROM benchmark_items WHERE list_contains(?, model)"
                                             " UNION SELECT DISTINCT model FROM eval_runs WHERE list_contains(?, model)",
                                             [bases, bases])}
    base = next((m for m in bases if m in scored), bases[0] if bases else tuned)
    return list(dict.fromkeys([base, tuned, *(f"run:{o}" for o in others)])), tuned


def report_data(store: Store, run_id: int, others: tuple[int, ...] = (), evalset: str | None = None,
                seed: int = 0) -> dict:
    """What the report shows for a run (and `others`, each against the base model); with `evalset`,
    also the models compared on that evaluation set (those of them evaluated on it)."""
    from evals.loop import history

    # what a shared report needs of the run (not where it ran: paths, process, host)
    run = {k: v for k, v in get_run(store, run_id).items() if k not in ("output_dir", "pid", "host", "log_path")}
    run["config"] = {k: v for k, v in (run["config"] or {}).items() if k != "output_root"}
    run["dataset"] = store.scalar("SELECT name FROM dataset_versions WHERE id = ?", [run["dataset_version_id"]])
    models, tuned = _models(store, run, others)
    base = models[0]
    bench = store.rows("SELECT model, task, metric, last(value ORDER BY created_at) AS value,"
                       " last(stderr ORDER BY created_at) AS stderr FROM benchmark_results"
                       " WHERE list_contains(?, model) GROUP BY 1, 2, 3 ORDER BY 2, 3", [models])
    items = {m: compare_items(store, base, m, seed) for m in models[1:]}
    tuned_eval = held_out_run(store, tuned, run["dataset_version_id"])
    worst = []
    if tuned_eval is not None:
        worst = store.rows(
            "SELECT o.output, o.reference, o.similarity, p.instruction, s.name AS source, r.line,"
            " string_agg(f.heuristic, ', ') AS flags FROM model_outputs o JOIN pairs p ON p.id = o.pair_id"
            " LEFT JOIN raw_logs r ON r.id = p.raw_log_id LEFT JOIN sources s ON s.id = p.source_id"
            " LEFT JOIN output_flags f ON f.output_id = o.id WHERE o.eval_run_id = ?"
            " GROUP BY ALL ORDER BY o.similarity LIMIT 10", [tuned_eval])
    comparison = None
    if evalset:
        from evals.compare import compare, evaluated_models

        scored = [m for m in models if m in evaluated_models(store, evalset)]
        comparison = compare(store, evalset, scored) if len(scored) >= 2 else {"missing": sorted(set(models) - set(scored))}
    return {"run": run, "models": models, "base": base, "tuned": tuned, "bench": bench, "items": items,
            "domain": domain_section(store, models, run["dataset_version_id"], seed), "worst": worst,
            "ab": _ab_result(store, tuned), "comparison": comparison, "evalset": evalset,
            "iterations": [{**entry, "quality": version_quality(store, entry["version"])} for entry in history(store)]}


def version_quality(store: Store, version: str) -> dict[str, int]:
    """The quality scan's findings among a dataset version's pairs, pairs by kind."""
    rows = store.rows("SELECT f.kind, count(DISTINCT f.pair_id) AS pairs FROM quality_findings f"
                      " JOIN dataset_items i ON i.pair_id = f.pair_id JOIN dataset_versions v ON v.id = i.version_id"
                      " WHERE v.name = ? GROUP BY 1 ORDER BY 2 DESC, 1", [version])
    return {r["kind"]: r["pairs"] for r in rows}


def _ab_result(store: Store, tuned: str) -> dict | None:
    """The newest A/B study with the fine-tuned model on one side, as the fine-tuned model's win rate."""
    from evals.ab import studies, win_rate

    for study in studies(store):
        if tuned in (study["model_a"], study["model_b"]):
            r = win_rate(store, study["id"])
            other = study["model_a"] if study["model_b"] == tuned else study["model_b"]
            if study["model_a"] == tuned:  # the fine-tuned model is A: turn the figures around
                r = {**r, "a_wins": r["b_wins"], "b_wins": r["a_wins"]}
                if r["win_rate"] is not None:
                    r.update(win_rate=1 - r["win_rate"], ci_low=1 - r["ci_high"], ci_high=1 - r["ci_low"])
            return {**r, "against": other}
    return None


