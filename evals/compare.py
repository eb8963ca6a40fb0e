"""Run against run: the same metrics for every model on the same evaluation set's questions, with
paired differences against the first model, bootstrap 95% intervals (questions resampled), a
paired test (McNemar's exact test for right-or-wrong scores, else Wilcoxon signed-rank),
per-question wins and losses, heuristic counts, and
benchmark deltas where both have them."""
from __future__ import annotations

import json

import numpy as np

from curate.datasets.evalsets import get_evalset
from curate.errors import TuneloopError
from curate.store import Store

METRICS = ("token_f1", "rouge_l", "similarity", "exact_match", "right_refusal")
BOOTSTRAP = 2000


def latest_outputs(store: Store, set_id: int, model: str) -> tuple[int, dict[int, dict]] | None:
    """The newest evaluation run of a model on a set, and its outputs by evaluation item."""
    run_id = store.scalar("SELECT max(id) FROM eval_runs WHERE eval_set_id = ? AND model = ?", [set_id, model])
    if run_id is None:
        return None
    rows = store.rows("SELECT o.*, (SELECT list(f.heuristic) FROM output_flags f WHERE f.output_id = o.id) AS flags"
                      " FROM model_outputs o WHERE o.eval_run_id = ?", [run_id])
    for r in rows:
        r["right_refusal"] = float(bool(r["refused"]) == bool(r["should_refuse"]))
        r["exact_match"] = float(bool(r["exact_match"]))
    return run_id, {r["eval_item_id"]: r for r in rows}


def paired(a: np.ndarray, b: np.ndarray, seed: int = 0, confidence: float = 0.95) -> dict:
    """Mean of b − a over the questions, its bootstrap interval, and a paired p-value: McNemar's
    exact test where every score is right or wrong (exact match, refusals), else Wilcoxon's
    signed-rank test (`test` names which)."""
    from scipy.stats import binomtest, wilcoxon

    diff = b - a
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(BOOTSTRAP, len(diff)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
    binary = bool(np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all())
    if not wins + losses:
        p = 1.0
    elif binary:   # the discordant questions split as a fair coin would, if nothing changed
        p = float(binomtest(wins, wins + losses, 0.5).pvalue)
    else:
        p = float(wilcoxon(b, a, zero_method="zsplit").pvalue)
    return {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "difference": float(diff.mean()),
            "ci_low": float(low), "ci_high": float(high), "p_value": p, "test": "McNemar" if binary else "Wilcoxon",
            "wins": wins, "losses": losses, "ties": int((diff == 0).sum())}


def compare(store: Store, evalset: str, models: list[str], seed: int = 0) -> dict:
    """Every model's scores on the set's questions and their differences from the first model's.
    Models are compared on the questions all of them answered; each needs a stored evaluation on
    the set (`tuneloop eval domain --evalset NAME --model M`)."""
    if len(models) < 2:
        raise TuneloopError("compare two or more models or runs")
    chosen = get_evalset(store, evalset)
    found = {}
    for model in models:
        outputs = latest_outputs(store, chosen["id"], model)
        if outputs is None:
            raise TuneloopError(f"{model} has not been evaluated on {evalset}:"
                                f" `tuneloop eval domain --evalset {evalset} --model {model}`")
        found[model] = outputs
    common = sorted(set.intersection(*(set(o) for _, o in found.values())))
    if not common:
        raise TuneloopError("the models' evaluations share no question")
    base = models[0]
    result = {"evalset": evalset, "questions": len(common), "baseline": base, "models": {}, "differences": {}}
    for model, (run_id, outputs) in found.items():
        flags: dict[str, int] = {}
        for item in common:
            for name in outputs[item]["flags"] or []:
                flags[name] = flags.get(name, 0) + 1
        result["models"][model] = {
            "eval_run": run_id, **{m: round(float(np.mean([outputs[i][m] for i in common])), 4) for m in METRICS},
            "mean_words": round(float(np.mean([len(outputs[i]["output"].split()) for i in common])), 1),
            "flags": flags, "flagged_outputs": sum(bool(outputs[i]["flags"]) for i in common)}
    for model in models[1:]:
        result["differences"][model] = {
            m: paired(np.array([found[base][1][i][m] for i in common], float),
                      np.array([found[model][1][i][m] for i in common], float), seed) for m in METRICS}
    result["benchmarks"] = _benchmark_deltas(store, models)
    return result


def _benchmark_deltas(store: Store, models: list[str]) -> dict:
    rows = store.rows("SELECT model, task, metric, last(value ORDER BY created_at) AS value FROM benchmark_results"
                      " WHERE list_contains(?, model) GROUP BY ALL", [models])
    table: dict[tuple, dict] = {}
    for r in rows:
        table.setdefault((r["task"], r["metric"]), {})[r["model"]] = r["value"]
    return {f"{task} {metric}": {m: by.get(m) for m in models} for (task, metric), by in sorted(table.items())
            if models[0] in by and len(by) > 1}


def summary_lines(result: dict) -> list[str]:
    """The comparison as lines for the terminal."""
    models = list(result["models"])
    lines = [f"evaluation set {result['evalset']}: {result['questions']} questions answered by every model"]
    width = max(len(m) for m in models)
    lines.append(" " * (width + 2) + "".join(f"{m:>14}" for m in METRICS) + f"{'words':>8}{'flagged':>9}")
    for m, r in result["models"].items():
        lines.append(f"{m:<{width + 2}}" + "".join(f"{r[k]:>14.4f}" for k in METRICS)
                     + f"{r['mean_words']:>8}{r['flagged_outputs']:>9}")
    for model, diffs in result["differences"].items():
        lines.append(f"{model} − {result['baseline']} (95% bootstrap interval; p: McNemar for exact match and"
                     " refusals, else Wilcoxon; questions won/lost/tied):")
        for metric, d in diffs.items():
            lines.append(f"  {metric:<14} {d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"
                         f"  p={d['p_value']:.3g}  {d['wins']}/{d['losses']}/{d['ties']}")
    for name, values in result["benchmarks"].items():
        lines.append(f"benchmark {name}: " + ", ".join(f"{m} {v:.4f}" if v is not None else f"{m} –"
                                                      for m, v in values.items()))
    return lines


def evaluated_models(store: Store, evalset: str) -> list[str]:
    """The models with a stored evaluation on the set, in the order they were first evaluated."""
    return [r["model"] for r in store.rows(
        "SELECT e.model FROM eval_runs e JOIN eval_sets s ON s.id = e.eval_set_id WHERE s.name = ?"
        " GROUP BY e.model ORDER BY min(e.id)", [evalset])]


def tables(result: dict):
    """The comparison as two DataFrames for the Evaluate page: scores by model, and differences."""
    import pandas as pd

    scores = pd.DataFrame([{"model": m, **{k: r[k] for k in (*METRICS, "mean_words", "flagged_outputs")}}
                           for m, r in result["models"].items()])
    diffs = pd.DataFrame([{"model": m, "metric": metric, **d} for m, by in result["differences"].items()
                          for metric, d in by.items()])
    return scores, diffs


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2)
