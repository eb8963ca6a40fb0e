"""Benchmark items as a model answered them, from lm-eval's logged samples: the question, the
choices as shown, the right one, the model's log-likelihood of each and the item's scores. Two
models' items on the same task and document are what a report compares item by item."""
from __future__ import annotations

import json

from curate.store import Store
from evals.bench.tasks import LETTERS, LOCAL_PREFIX

# Where each task's documents keep the question (the first key present wins).
_QUESTION_KEYS = ("question", "ctx", "query", "sentence", "goal")


def _choices(doc: dict, continuations: list[str]) -> list[str]:
    """The answers as a reader sees them: MMLU scores the letters " A"…" D", so its choices come
    from the document; elsewhere the continuations scored are the answers."""
    stripped = [c.strip() for c in continuations]
    offered = doc.get("choices")
    if isinstance(offered, dict):
        offered = offered.get("text")
    if isinstance(offered, list) and len(offered) == len(stripped) and stripped == list(LETTERS[: len(stripped)]):
        return [f"{letter}. {text}" for letter, text in zip(stripped, offered)]
    return stripped


def _question(doc: dict, context: str) -> str:
    for key in _QUESTION_KEYS:
        if isinstance(doc.get(key), str) and doc[key].strip():
            return doc[key].strip()
    return context.strip().rsplit("\n\n", 1)[-1]  # the last block of the prompt, after any few-shot examples


def items_from_samples(samples: dict[str, list[dict]]) -> list[dict]:
    """lm-eval's `samples` (task → logged samples) as rows for benchmark_items. Only
    multiple-choice items (log-likelihood requests) are kept; generation tasks have no choices."""
    rows = []
    for task, logged in samples.items():
        for s in logged:
            arguments = s.get("arguments") or []
            responses = s.get("filtered_resps") or []
            if not arguments or len(responses) != len(arguments) or not all(
                    isinstance(a, (tuple, list)) and len(a) == 2 for a in arguments):
                continue
            loglikelihoods = [float(r[0] if isinstance(r, (tuple, list)) else r) for r in responses]
            doc = s.get("doc") or {}
            try:
                target = int(s.get("target"))
            except (TypeError, ValueError):
                target = None
            scores = {m: float(s[m]) for m in s.get("metrics", []) if isinstance(s.get(m), (int, float))}
            lengths = [len(a[1].removeprefix(" ")) for a in arguments]   # the choice, without lm-eval's delimiter
            rows.append({"task": task.removeprefix(LOCAL_PREFIX), "doc_id": str(s.get("doc_id")),
                         "question": _question(doc, arguments[0][0]),
                         "choices": _choices(doc, [a[1] for a in arguments]),
                         "target": target if target is not None and 0 <= target < len(arguments) else None,
                         "loglikelihoods": loglikelihoods, "scores": scores,
                         "picks": {m: _pick(loglikelihoods, lengths, m) for m in scores}})
    return rows


def store_items(con, rows: list[dict], model: str, fingerprint: str, config_hash: str, job_id: int) -> None:
    """Insert the rows on an open transaction's connection (with the results they belong to)."""
    if rows:
        con.executemany(
            "INSERT INTO benchmark_items (job_id, model, fingerprint, config_hash, task, doc_id, question, choices,"
            " target, loglikelihoods, picks, scores) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[job_id, model, fingerprint, config_hash, r["task"], r["doc_id"], r["question"], json.dumps(r["choices"]),
              r["target"], json.dumps(r["loglikelihoods"]), json.dumps(r["picks"]),
              json.dumps(r["scores"])] for r in rows])


def _pick(loglikelihoods: list[float], lengths: list[int], metric: str) -> int:
    """The choice a model picked for a metric: the most likely one, per character of the scored
    continuation for the length-normalised accuracy (as lm-eval's acc_norm counts it)."""
    values = loglikelihoods
    if metric == "acc_norm":
        values = [v / max(1, n) for v, n in zip(values, lengths)]
    return max(range(len(values)), key=values.__getitem__)


def latest_items(store: Store, model: str) -> dict[tuple[str, str], dict]:
    """A model's newest answer to every benchmark item it was evaluated on, by (task, doc_id)."""
    rows = store.rows(
        "SELECT task, doc_id, question, choices, target, loglikelihoods, picks, scores FROM benchmark_items"
        " WHERE model = ? QUALIFY row_number() OVER (PARTITION BY task, doc_id ORDER BY job_id DESC) = 1", [model])
    for r in rows:
        for key in ("choices", "loglikelihoods", "picks", "scores"):
            r[key] = json.loads(r[key])
    return {(r["task"], r["doc_id"]): r for r in rows}
