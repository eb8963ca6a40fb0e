"""One self-contained HTML report for a training run: the base model against the fine-tuned one
on benchmarks, domain metrics, heuristic counts, answer lengths, and the worst answers with the
lineage of their pairs. Every piece of text from the data is HTML-escaped."""
from __future__ import annotations

import html
import json
from pathlib import Path

from curate.store import Store
from training.runs import get_run


def report_data(store: Store, run_id: int, others: tuple[int, ...] = (), evalset: str | None = None) -> dict:
    """What the report shows for a run; with `evalset`, also the run, the other runs and the base
    model compared on that evaluation set (those of them evaluated on it)."""
    run = get_run(store, run_id)
    run["dataset"] = store.scalar("SELECT name FROM dataset_versions WHERE id = ?", [run["dataset_version_id"]])
    config = run["config"] or {}
    base, tuned = config.get("model") or run["base_model"], f"run:{run_id}"
    models = [m for m in (base, run["base_model"], tuned) if m]
    bench = store.rows("SELECT model, task, metric, last(value ORDER BY created_at) AS value,"
                       " last(stderr ORDER BY created_at) AS stderr FROM benchmark_results"
                       " WHERE list_contains(?, model) GROUP BY 1, 2, 3 ORDER BY 2, 3", [models])
    domain = store.rows("SELECT id, model, metrics FROM eval_runs WHERE kind = 'domain' AND list_contains(?, model)"
                        " ORDER BY id", [models])
    latest = {}
    for d in domain:
        latest[d["model"]] = {"id": d["id"], **json.loads(d["metrics"])}
    worst = []
    if tuned in latest:
        worst = store.rows(
            "SELECT o.output, o.reference, o.similarity, p.instruction, s.name AS source, r.line,"
            " string_agg(f.heuristic, ', ') AS flags FROM model_outputs o JOIN pairs p ON p.id = o.pair_id"
            " LEFT JOIN raw_logs r ON r.id = p.raw_log_id LEFT JOIN sources s ON s.id = p.source_id"
            " LEFT JOIN output_flags f ON f.output_id = o.id WHERE o.eval_run_id = ?"
            " GROUP BY ALL ORDER BY o.similarity LIMIT 10", [latest[tuned]["id"]])
    lengths = store.rows("SELECT e.model, len(string_split(trim(o.output), ' ')) AS words FROM model_outputs o"
                         " JOIN eval_runs e ON e.id = o.eval_run_id WHERE list_contains(?, e.model)"
                         " AND e.id IN (SELECT max(id) FROM eval_runs GROUP BY model)", [models])
    comparison = None
    if evalset:
        from evals.compare import compare, evaluated_models

        wanted = [m for m in dict.fromkeys([base, run["base_model"], tuned, *(f"run:{o}" for o in others)]) if m]
        scored = [m for m in wanted if m in evaluated_models(store, evalset)]
        comparison = compare(store, evalset, scored) if len(scored) >= 2 else {"missing": sorted(set(wanted) - set(scored))}
    return {"run": run, "base": base, "tuned": tuned, "bench": bench, "domain": latest, "worst": worst,
            "lengths": lengths, "ab": _ab_result(store, tuned), "comparison": comparison, "evalset": evalset}


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


def render(data: dict) -> str:
    e = html.escape
    run, base, tuned = data["run"], data["base"], data["tuned"]
    parts = [f"<h1>tuneloop report: run {run['id']}</h1>",
             f"<p>Dataset <b>{e(str(run['dataset']))}</b>, base model <code>{e(str(base))}</code>,"
             f" state {e(run['state'])}.</p>", "<h2>Benchmarks</h2>"]
    table: dict[tuple, dict] = {}
    for b in data["bench"]:
        table.setdefault((b["task"], b["metric"]), {})[b["model"]] = b
    if table:
        header = "<table><tr><th>task</th><th>metric</th><th>base</th><th>fine-tuned</th><th>Δ</th></tr>"
        rows = {"tasks": [], "subtasks": []}
        for (task, metric), by_model in table.items():
            b = by_model.get(base) or by_model.get(run["base_model"])
            t = by_model.get(tuned)
            delta = f"{t['value'] - b['value']:+.4f}" if b and t else ""
            cell = lambda r: f"{r['value']:.4f} ± {r['stderr'] or 0:.4f}" if r else "–"
            rows["subtasks" if task.startswith("mmlu_") else "tasks"].append(
                f"<tr><td>{e(task)}</td><td>{e(metric)}</td><td>{cell(b)}</td><td>{cell(t)}</td><td>{delta}</td></tr>")
        parts.append(header + "".join(rows["tasks"]) + "</table>")
        if rows["subtasks"]:  # MMLU's 57 subjects, folded
            parts.append(f"<details><summary>MMLU by subject ({len(rows['subtasks'])})</summary>{header}"
                         + "".join(rows["subtasks"]) + "</table></details>")
    else:
        parts.append("<p>No benchmark results yet: <code>tuneloop eval bench</code>.</p>")
    parts.append("<h2>Domain evaluation (held-out split)</h2>")
    if data["domain"]:
        keys = ["examples", "exact_match", "token_f1", "rouge_l", "similarity", "offtopic_refused",
                "ontopic_not_refused", "mean_words", "flagged_outputs"]
        parts.append("<table><tr><th>model</th>" + "".join(f"<th>{k}</th>" for k in keys) + "</tr>")
        for model, m in data["domain"].items():
            parts.append(f"<tr><td>{e(model)}</td>" + "".join(f"<td>{e(str(m.get(k)))}</td>" for k in keys) + "</tr>")
        parts.append("</table><h3>Error heuristics</h3><table><tr><th>model</th><th>heuristic</th><th>outputs</th></tr>")
        for model, m in data["domain"].items():
            for name, count in sorted(m.get("flags", {}).items()):
                parts.append(f"<tr><td>{e(model)}</td><td>{e(name)}</td><td>{count}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No domain evaluation yet: <code>tuneloop eval domain</code>.</p>")
    parts.append("<h3>Answer lengths (words)</h3>")
    by_model: dict[str, list[int]] = {}
    for row in data["lengths"]:
        by_model.setdefault(row["model"], []).append(row["words"])
    for model, words in by_model.items():
        top = max(max(words), 1)
        bins = [0] * 10
        for w in words:
            bins[min(9, w * 10 // (top + 1))] += 1
        bars = "".join(f"<div class=bar style='height:{4 + 80 * c // max(bins)}px' title='{c}'></div>" for c in bins)
        parts.append(f"<p>{e(model)} (0–{top} words)</p><div class=hist>{bars}</div>")
    parts.append("<h2>Worst answers of the fine-tuned model</h2>")
    if data["worst"]:
        parts.append("<table><tr><th>question</th><th>answer</th><th>reference</th><th>similarity</th>"
                     "<th>flags</th><th>from</th></tr>")
        for w in data["worst"]:
            parts.append(f"<tr><td>{e(w['instruction'])}</td><td>{e(w['output'])}</td><td>{e(w['reference'])}</td>"
                         f"<td>{w['similarity']:.3f}</td><td>{e(w['flags'] or '')}</td>"
                         f"<td>{e(str(w['source']))} line {w['line']}</td></tr>")
        parts.append("</table>")
    else:
        parts.append(f"<p>Evaluate <code>{e(tuned)}</code> on its dataset to see them.</p>")
    comparison = data.get("comparison")
    if comparison is not None:
        parts.append(f"<h2>Runs on the evaluation set {e(str(data['evalset']))}</h2>")
        if "models" in comparison:
            from evals.compare import METRICS

            parts.append(f"<p>{comparison['questions']} questions answered by every model; differences are from"
                         f" <code>{e(comparison['baseline'])}</code>, with bootstrap 95% intervals over the questions"
                         " and Wilcoxon's paired p-value.</p><table><tr><th>model</th>"
                         + "".join(f"<th>{m}</th>" for m in METRICS) + "<th>flagged</th></tr>")
            for model, r in comparison["models"].items():
                parts.append(f"<tr><td>{e(model)}</td>" + "".join(f"<td>{r[m]:.4f}</td>" for m in METRICS)
                             + f"<td>{r['flagged_outputs']}</td></tr>")
            parts.append("</table><table><tr><th>model</th><th>metric</th><th>difference</th><th>95% interval</th>"
                         "<th>p</th><th>won / lost / tied</th></tr>")
            for model, by in comparison["differences"].items():
                for metric, d in by.items():
                    parts.append(f"<tr><td>{e(model)}</td><td>{metric}</td><td>{d['difference']:+.4f}</td>"
                                 f"<td>{d['ci_low']:+.4f} … {d['ci_high']:+.4f}</td><td>{d['p_value']:.3g}</td>"
                                 f"<td>{d['wins']} / {d['losses']} / {d['ties']}</td></tr>")
            parts.append("</table>")
        else:
            parts.append("<p>Evaluate two or more of these on the set first: "
                         + ", ".join(f"<code>{e(m)}</code>" for m in comparison["missing"]) + ".</p>")
    parts.append("<h2>Blind A/B</h2>")
    ab = data.get("ab")
    if ab and ab["votes"]:
        rate = (f"{ab['win_rate']:.1%} (95% CI {ab['ci_low']:.1%}–{ab['ci_high']:.1%}, ties left out)"
                if ab["win_rate"] is not None else "no decisive vote yet")
        parts.append(f"<p>Study {ab['study_id']}, <code>{e(tuned)}</code> against <code>{e(str(ab['against']))}</code>:"
                     f" {ab['votes']} votes, won {ab['b_wins']}, lost {ab['a_wins']}, tied {ab['ties']}."
                     f" Win rate of the fine-tuned model: <b>{rate}</b>.</p>")
    else:
        parts.append("<p>No A/B votes yet: <code>tuneloop eval ab start</code>, then vote on the Rate page.</p>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px;vertical-align:top}"
             ".hist{display:flex;align-items:flex-end;gap:3px;height:90px}.bar{width:24px;background:#c33}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>tuneloop run {run['id']}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write_report(store: Store, run_id: int, out: str | Path, others: tuple[int, ...] = (),
                 evalset: str | None = None) -> Path:
    out = Path(out)
    out.write_text(render(report_data(store, run_id, others, evalset)), encoding="utf-8")
    return out
