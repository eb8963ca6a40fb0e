"""The domain evaluation question by question: each model against the baseline on the questions
both answered (the held-out split of the run's dataset), with paired intervals, the questions won
and lost with both answers beside the reference, off-topic refusals right and wrong, the error
heuristics' counts and the answers' lengths."""
from __future__ import annotations

import numpy as np

from curate.labels import header
from curate.store import Store
from evals.compare import METRICS, paired

SHOWN = 10  # questions won and lost, each


def held_out_run(store: Store, model: str, dataset_version_id: int) -> int | None:
    """The newest domain evaluation of a model on a dataset version's held-out split."""
    return store.scalar("SELECT max(id) FROM eval_runs WHERE kind = 'domain' AND model = ? AND dataset_version_id = ?"
                        " AND eval_set_id IS NULL", [model, dataset_version_id])


def outputs(store: Store, eval_run_id: int) -> dict[int, dict]:
    """An evaluation run's answers by question (the evaluation item, or the pair held out), with
    the question, scores and flags."""
    rows = store.rows(
        "SELECT coalesce(o.eval_item_id, o.pair_id) AS key, coalesce(i.instruction, p.instruction) AS question,"
        " o.output, o.reference, o.exact_match, o.token_f1, o.rouge_l, o.similarity, o.refused, o.should_refuse,"
        " (SELECT list(f.heuristic ORDER BY f.heuristic) FROM output_flags f WHERE f.output_id = o.id) AS flags"
        " FROM model_outputs o LEFT JOIN eval_set_items i ON i.id = o.eval_item_id LEFT JOIN pairs p ON p.id = o.pair_id"
        " WHERE o.eval_run_id = ?", [eval_run_id])
    for r in rows:
        r["exact_match"] = float(bool(r["exact_match"]))
        r["right_refusal"] = float(bool(r["refused"]) == bool(r["should_refuse"]))
        r["words"] = len((r["output"] or "").split())
        r["flags"] = r["flags"] or []
        for m in ("token_f1", "rouge_l", "similarity"):
            r[m] = float(r[m] or 0.0)
    return {r["key"]: r for r in rows}


def summary(answers: dict[int, dict]) -> dict:
    """One model's figures on its answers: means, refusals right and wrong, flags, lengths."""
    rows = list(answers.values())
    flags: dict[str, int] = {}
    for r in rows:
        for name in r["flags"]:
            flags[name] = flags.get(name, 0) + 1
    off = [r for r in rows if r["should_refuse"]]
    on = [r for r in rows if not r["should_refuse"]]
    return {"questions": len(rows), **{m: float(np.mean([r[m] for r in rows])) if rows else 0.0 for m in METRICS},
            "mean_words": float(np.mean([r["words"] for r in rows])) if rows else 0.0,
            "offtopic_refused": sum(bool(r["refused"]) for r in off), "offtopic_answered": sum(not r["refused"] for r in off),
            "ontopic_refused": sum(bool(r["refused"]) for r in on), "ontopic_answered": sum(not r["refused"] for r in on),
            "flags": dict(sorted(flags.items())), "flagged_outputs": sum(bool(r["flags"]) for r in rows),
            "lengths": [r["words"] for r in rows]}


def _side_by_side(base: dict, model: dict) -> dict:
    return {"question": model["question"], "reference": model["reference"], "baseline_answer": base["output"],
            "model_answer": model["output"], "baseline_f1": base["token_f1"], "model_f1": model["token_f1"],
            "difference": model["token_f1"] - base["token_f1"]}


def compare_answers(base: dict[int, dict], model: dict[int, dict], seed: int = 0) -> dict:
    """A model against the baseline on the questions both answered: each metric's paired difference
    (bootstrap interval, McNemar's or Wilcoxon's p, won/lost/tied) and the questions most won and lost on token F1."""
    shared = sorted(set(base) & set(model))
    if not shared:
        return {"questions": 0, "metrics": [], "won": [], "lost": []}
    metrics = [{"metric": m, "metric_label": header(m),
                **paired(np.array([base[k][m] for k in shared], float), np.array([model[k][m] for k in shared], float),
                         seed)} for m in METRICS]
    pairs = [_side_by_side(base[k], model[k]) for k in shared]
    won = sorted((p for p in pairs if p["difference"] > 0), key=lambda p: -p["difference"])
    lost = sorted((p for p in pairs if p["difference"] < 0), key=lambda p: p["difference"])
    return {"questions": len(shared), "metrics": metrics, "won": won[:SHOWN], "lost": lost[:SHOWN],
            "won_count": len(won), "lost_count": len(lost)}


def domain_section(store: Store, models: list[str], dataset_version_id: int, seed: int = 0) -> dict:
    """Every model's held-out evaluation summarised, and each against the first (the baseline)."""
    runs = {m: held_out_run(store, m, dataset_version_id) for m in models}
    answers = {m: outputs(store, r) for m, r in runs.items() if r is not None}
    baseline = models[0]
    return {"eval_runs": {m: r for m, r in runs.items() if r is not None},
            "missing": [m for m, r in runs.items() if r is None],
            "models": {m: summary(a) for m, a in answers.items()},
            "against_baseline": {m: compare_answers(answers[baseline], a, seed) for m, a in answers.items()
                                 if m != baseline and baseline in answers}}
