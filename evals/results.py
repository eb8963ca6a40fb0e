"""Evaluation results read back for the Evaluate page: domain runs, flagged outputs, benchmark scores, A/B studies."""
from __future__ import annotations

from curate.store import Store


def question_sets(store: Store) -> dict[str, dict]:
    """What a domain evaluation can answer, label → its arguments: each dataset version's held-out
    split, and each evaluation set."""
    from curate.datasets.evalsets import evalsets_frame
    from curate.datasets.versions import versions_frame

    out = {f"held-out split of {v}": {"dataset": v, "evalset": None} for v in versions_frame(store)["name"]}
    out |= {f"evaluation set {s}": {"dataset": None, "evalset": s} for s in evalsets_frame(store)["name"]}
    return out


def domain_runs(store: Store):
    return store.frame("SELECT e.id, e.model, d.name AS dataset, e.metrics->>'examples' AS examples,"
                       " e.metrics->>'token_f1' AS token_f1, e.metrics->>'rouge_l' AS rouge_l,"
                       " e.metrics->>'similarity' AS similarity, e.metrics->>'flagged_outputs' AS flagged,"
                       " e.created_at FROM eval_runs e LEFT JOIN dataset_versions d ON d.id = e.dataset_version_id"
                       " ORDER BY e.id DESC")


def answers(store: Store, eval_run_id: int, limit: int = 200):
    """An evaluation run's answers beside the references, with their scores and the error
    heuristics' flags (empty when none)."""
    return store.frame(
        "SELECT coalesce(i.instruction, p.instruction) AS question, o.reference, o.output AS answer,"
        " round(o.token_f1, 3) AS \"token F1\","
        " coalesce((SELECT string_agg(f.heuristic, ', ') FROM output_flags f WHERE f.output_id = o.id), '') AS flags"
        " FROM model_outputs o LEFT JOIN eval_set_items i ON i.id = o.eval_item_id"
        " LEFT JOIN pairs p ON p.id = o.pair_id WHERE o.eval_run_id = ? ORDER BY o.id LIMIT ?", [eval_run_id, limit])


def latest_evaluated_run(store: Store) -> int | None:
    """The newest training run that has a domain evaluation (what a report is usually wanted for)."""
    return store.scalar("SELECT max(TRY_CAST(replace(model, 'run:', '') AS BIGINT)) FROM eval_runs"
                        " WHERE model LIKE 'run:%'")


def benchmark_table(store: Store):
    return store.frame("SELECT model, task, metric, last(value ORDER BY created_at) AS value,"
                       " last(stderr ORDER BY created_at) AS stderr FROM benchmark_results GROUP BY 1, 2, 3"
                       " ORDER BY task, metric, model")


def ab_table(store: Store):
    """Every A/B study with B's win rate and its confidence interval."""
    import pandas as pd

    from evals.ab import studies, win_rate

    rows = []
    for s in studies(store):
        r = win_rate(store, s["id"])
        rows.append({"study": s["id"], "A": s["model_a"], "B": s["model_b"], "questions": s["items"],
                     "votes": r["votes"], "B won": r["b_wins"], "A won": r["a_wins"], "ties": r["ties"],
                     "B win rate": r["win_rate"], "CI low": r["ci_low"], "CI high": r["ci_high"]})
    return pd.DataFrame(rows)
