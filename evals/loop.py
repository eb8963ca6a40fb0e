"""The loop's history: each iteration is a dataset version, the runs trained on it, and their scores
on the frozen evaluation sets; between versions, what changed in the data (pairs added, removed,
edited, re-rated) and how each metric moved, with its paired interval."""
from __future__ import annotations

import json

from curate.store import Store
from evals.compare import compare, evaluated_models


def _changes(store: Store, before: dict, after: dict) -> dict:
    old = {r["pair_id"] for r in store.rows("SELECT pair_id FROM dataset_items WHERE version_id = ?", [before["id"]])}
    new = {r["pair_id"] for r in store.rows("SELECT pair_id FROM dataset_items WHERE version_id = ?", [after["id"]])}
    added = new - old
    edited = store.scalar("SELECT count(*) FROM pairs WHERE list_contains(?, id) AND origin = 'edited'"
                          " AND list_contains(?, parent_id)", [sorted(added), sorted(old)]) if added else 0
    rerated = store.scalar("SELECT count(DISTINCT pair_id) FROM ratings WHERE list_contains(?, pair_id)"
                           " AND created_at > ?", [sorted(new | old), before["created_at"]])
    return {"added": len(added), "removed": len(old - new), "kept": len(old & new), "edited": edited,
            "rerated": rerated}


def history(store: Store, metric: str = "token_f1") -> list[dict]:
    """One entry per dataset version, oldest first."""
    versions = store.rows("SELECT id, name, created_at, report->>'examples' AS examples FROM dataset_versions"
                          " ORDER BY id")
    sets = [r["name"] for r in store.rows("SELECT name FROM eval_sets ORDER BY id")]
    out, previous = [], None
    for v in versions:
        runs = [f"run:{r['id']}" for r in store.rows("SELECT id FROM runs WHERE dataset_version_id = ? ORDER BY id",
                                                     [v["id"]])]
        scores = {}
        for s in sets:
            scored = evaluated_models(store, s)
            for run in runs:
                if run in scored:
                    row = store.one("SELECT metrics FROM eval_runs e JOIN eval_sets s ON s.id = e.eval_set_id"
                                    " WHERE s.name = ? AND e.model = ? ORDER BY e.id DESC LIMIT 1", [s, run])
                    scores.setdefault(s, {})[run] = json.loads(row["metrics"]).get(metric)
        entry = {"version": v["name"], "examples": int(v["examples"] or 0), "runs": runs, "scores": scores,
                 "changes": _changes(store, previous, v) if previous else None, "moves": {}}
        if previous:
            for s in sets:
                before = [r for r in out[-1]["runs"] if r in scores_of(out[-1], s)]
                after = [r for r in runs if r in scores.get(s, {})]
                if before and after:
                    d = compare(store, s, [before[-1], after[-1]])["differences"][after[-1]][metric]
                    entry["moves"][s] = {"from": before[-1], "to": after[-1], **d}
        out.append(entry)
        previous = v
    return out


def scores_of(entry: dict, evalset: str) -> dict:
    return entry["scores"].get(evalset, {})


def history_lines(entries: list[dict], metric: str = "token_f1") -> list[str]:
    if not entries:
        return ["no dataset version yet"]
    lines = []
    for e in entries:
        lines.append(f"{e['version']}: {e['examples']} examples; runs {', '.join(e['runs']) or '–'}")
        if e["changes"]:
            c = e["changes"]
            lines.append(f"  data since the previous version: +{c['added']} −{c['removed']} pairs ({c['edited']} edited"
                         f" versions), {c['rerated']} re-rated")
        for s, by_run in e["scores"].items():
            lines.append(f"  {s}: " + ", ".join(f"{run} {metric} {v}" for run, v in by_run.items()))
        for s, m in e["moves"].items():
            lines.append(f"  {s}: {m['from']} → {m['to']} {metric} {m['difference']:+.4f}"
                         f" [{m['ci_low']:+.4f}, {m['ci_high']:+.4f}], p={m['p_value']:.3g}")
    return lines
