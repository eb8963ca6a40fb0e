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


def pair_story(store: Store, pair_id: int) -> dict:
    """A pair sent back and changed: its versions (the original and each edit, oldest first), with
    their statuses, ratings and evaluation flags, and the dataset versions each one was in."""
    from curate.errors import TuneloopError

    chain, seen = [], set()
    current = store.one("SELECT * FROM pairs WHERE id = ?", [pair_id])
    if current is None:
        raise TuneloopError(f"no pair {pair_id}")
    while current is not None and current["parent_id"] is not None and current["parent_id"] not in seen:
        seen.add(current["id"])
        current = store.one("SELECT * FROM pairs WHERE id = ?", [current["parent_id"]])
    root = current["id"]
    ids = [root]
    while True:  # follow the edits forward
        child = store.one("SELECT id FROM pairs WHERE parent_id = ? ORDER BY id DESC LIMIT 1", [ids[-1]])
        if child is None or child["id"] in ids:
            break
        ids.append(child["id"])
    for i in ids:
        p = store.one("SELECT id, instruction, response, origin, status, created_at FROM pairs WHERE id = ?", [i])
        p["ratings"] = store.rows("SELECT u.name AS annotator, r.question, r.value FROM current_ratings r"
                                  " JOIN users u ON u.id = r.annotator_id WHERE r.pair_id = ? ORDER BY r.id", [i])
        p["flags"] = [r["heuristic"] for r in store.rows(
            "SELECT f.heuristic FROM output_flags f JOIN model_outputs o ON o.id = f.output_id WHERE o.pair_id = ?"
            " OR list_contains(CAST(f.nearest_pairs AS BIGINT[]), ?)", [i, i])]
        p["versions"] = [r["name"] for r in store.rows(
            "SELECT d.name FROM dataset_items i JOIN dataset_versions d ON d.id = i.version_id WHERE i.pair_id = ?"
            " ORDER BY d.id", [i])]
        chain.append(p)
    return {"pair": pair_id, "versions": chain}


def history_frame(entries: list[dict], metric: str = "token_f1"):
    """The history as a table for the Evaluate page: one row per version and evaluation set."""
    import pandas as pd

    rows = []
    for e in entries:
        c = e["changes"] or {}
        for s in e["scores"] or {"": {}}:
            move = e["moves"].get(s, {})
            rows.append({"version": e["version"], "examples": e["examples"], "runs": ", ".join(e["runs"]),
                         "evaluation set": s,
                         metric: max((v for v in e["scores"].get(s, {}).values() if v is not None), default=None),
                         "move": move.get("difference"), "interval": (f"{move['ci_low']:+.4f} … {move['ci_high']:+.4f}"
                                                                    if move else None),
                         "added": c.get("added"), "removed": c.get("removed"), "re-rated": c.get("rerated")})
    return pd.DataFrame(rows)


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
