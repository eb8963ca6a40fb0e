"""Benchmarks item by item: a model against the baseline on the items both answered, per task and
metric — the paired difference with a bootstrap 95% interval, McNemar's exact test where the metric
is right or wrong, and the items that flipped from right to wrong (forgetting) and from wrong to
right, with the question, the choices and both models' picks."""
from __future__ import annotations

import numpy as np

from curate.labels import header, task_label
from curate.store import Store
from evals.bench.items import latest_items
from evals.compare import paired

FLIPS_SHOWN = 10  # per direction and task; the counts are always complete


def _primary(metrics: set[str]) -> str | None:
    """The metric whose flips are listed: length-normalised accuracy where a task has it."""
    return next((m for m in ("acc_norm", "acc") if m in metrics), None)


def _flip(item: dict, base: dict, metric: str) -> dict:
    return {"task": item["task"], "task_label": task_label(item["task"]), "question": item["question"],
            "choices": item["choices"], "target": item["target"],
            "base_pick": base["picks"].get(metric), "model_pick": item["picks"].get(metric)}


def compare_items(store: Store, baseline: str, model: str, seed: int = 0) -> list[dict]:
    """One row per task (and MMLU as a whole) and metric the two models share items on: means over
    the shared items, the difference, its interval, McNemar's p for right/wrong metrics, the flip
    counts, and the first flipped items (for the task's primary metric)."""
    base_items, model_items = latest_items(store, baseline), latest_items(store, model)
    shared = sorted(set(base_items) & set(model_items))
    tasks: dict[str, list[tuple]] = {}
    for key in shared:
        tasks.setdefault(key[0], []).append(key)
        if key[0].startswith("mmlu_"):
            tasks.setdefault("mmlu", []).append(key)
    rows = []
    for task, keys in sorted(tasks.items()):
        metrics = set.intersection(*(set(base_items[k]["scores"]) & set(model_items[k]["scores"]) for k in keys))
        primary = _primary(metrics)
        for metric in sorted(metrics):
            a = np.array([base_items[k]["scores"][metric] for k in keys], float)
            b = np.array([model_items[k]["scores"][metric] for k in keys], float)
            d = paired(a, b, seed)   # the bootstrap interval, and McNemar's test where items are right or wrong
            binary = d["test"] == "McNemar"
            row = {"task": task, "task_label": task_label(task), "subject": task.startswith("mmlu_"),
                   "metric": metric, "metric_label": header(metric), "items": len(keys),
                   "baseline": d["mean_a"], "model": d["mean_b"], "difference": d["difference"],
                   "ci_low": d["ci_low"], "ci_high": d["ci_high"], "binary": binary, "primary": metric == primary,
                   "p_value": d["p_value"], "test": d["test"]}
            if binary:
                lost = [k for k, x, y in zip(keys, a, b) if x == 1 and y == 0]
                gained = [k for k, x, y in zip(keys, a, b) if x == 0 and y == 1]
                row.update(right_to_wrong=len(lost), wrong_to_right=len(gained))
                if metric == primary and task != "mmlu":
                    row["lost"] = [_flip(model_items[k], base_items[k], metric) for k in lost[:FLIPS_SHOWN]]
                    row["gained"] = [_flip(model_items[k], base_items[k], metric) for k in gained[:FLIPS_SHOWN]]
            rows.append(row)
    return rows


def flipped(rows: list[dict]) -> list[dict]:
    """The tasks with flipped items listed (MMLU's subjects after the other tasks)."""
    return sorted((r for r in rows if r.get("lost") or r.get("gained")), key=lambda r: (r["subject"], r["task"]))


def headline(rows: list[dict]) -> list[dict]:
    """One row per task for the summary: its primary metric; MMLU's subjects are left to their
    own table, sorted by change."""
    return [r for r in rows if r["primary"] and not r["subject"]]


def subjects(rows: list[dict]) -> list[dict]:
    """MMLU's subjects on their primary metric, the largest drop first."""
    return sorted((r for r in rows if r["primary"] and r["subject"]), key=lambda r: r["difference"])
