"""Domain evaluation on a dataset version's held-out split: generate answers, compare them with
the references, run the error heuristics, and send flagged outputs back to the rating queue
with the training pairs nearest to their question."""
from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np

from curate.datasets.versions import get_version, version_items
from curate.errors import TuneloopError
from curate.lm.decoding import BATCH_SIZE
from curate.pairs.offtopic import refusal_pattern, should_refuse
from curate.pairs.status import send_to_review
from curate.store import Store
from evals.heuristics import Context, learn_allowlist, run_all


def token_f1(prediction: str, reference: str) -> float:
    p, r = re.findall(r"\w+", prediction.lower()), re.findall(r"\w+", reference.lower())
    common = sum((Counter(p) & Counter(r)).values())
    if not p or not r or not common:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(reference, prediction)["rougeL"].fmeasure


def _questions(store: Store, dataset: str | None, evalset: str | None, template: str, limit: int | None):
    """What is answered (a version's held-out split, or an evaluation set), the training items behind
    it (for the misspelling allowlist and the nearest pairs of a failure), and the set's row."""
    from curate.datasets.evalsets import evalset_items, get_evalset

    if dataset is None and evalset is None:
        raise TuneloopError("name what to answer: --dataset VERSION (its held-out split) or --evalset NAME")
    version = get_version(store, dataset) if dataset else None
    train = version_items(store, version["id"], "train") if version else []
    if evalset is None:
        test = version_items(store, version["id"], "test")[: limit or None]
        if not test:
            raise TuneloopError(f"dataset {dataset!r} has no held-out examples")
        return version, None, test, train
    chosen = get_evalset(store, evalset)
    test = evalset_items(store, chosen["id"])[: limit or None]
    for item in test:
        item["eval_item_id"] = item.pop("id")
        item["template"] = version["template"] if version else template
    return version, chosen, test, train


def evaluate_domain(store: Store, model_spec: str | None, dataset: str | None = None, max_new_tokens: int = 128,
                    limit: int | None = None, batch_size: int = BATCH_SIZE, flag: bool = True, evalset: str | None = None,
                    template: str = "qa", device: str | None = None, precision: str | None = None,
                    backend: str = "auto", engine=None) -> dict:
    """Answer a version's held-out split, or an evaluation set (every model on the same questions,
    with the version's template, or `template`), with the model on `device` in `precision`
    (curate.lm.device) through `backend` (curate.lm.backends: transformers, vLLM, or with `engine`
    on Ray, Ray workers that each load the model once), all recorded with the run; store outputs,
    metrics and flags. Returns the metrics."""
    from curate.engine import progress_of
    from curate.lm.backends import make_backend
    from curate.lm.device import resolve
    from curate.lm.embeddings import embed
    from curate.lm.templates import render_prompt

    version, chosen, test, train = _questions(store, dataset, evalset, template, limit)
    if backend == "openai":
        raise TuneloopError("domain evaluation renders prompts with the model's own tokenizer: use --backend local"
                            " or vllm (an OpenAI-compatible server's model can be judged with `tuneloop judge`)")
    placement = resolve(device, precision)
    model = make_backend(backend, model_spec, store, batch_size, device, precision, engine)
    for item in test:
        if "template" in item:
            item["prompt"] = render_prompt(item["template"], item, model.tokenizer)
    described = model.resolved.describe()
    inference = model.description["backend"]
    args = {"model": model_spec or described, "dataset": dataset, "evalset": evalset, "limit": limit,
            **placement.describe(), "backend": inference, **(engine.describe() if engine else {})}
    with store.job("eval.domain", args) as job:
        prompts = [i["prompt"] for i in test]
        with progress_of("answers", len(prompts), job=job) as progress:
            answers = model.complete(prompts, max_new_tokens=max_new_tokens, progress=progress)
        refs = [i["response"] for i in test]
        outs = [a["output"] for a in answers]
        where = {"device": placement.device, "precision": "fp32"}   # a metric must not move with the hardware
        vectors = embed(outs + refs, **where)
        similarity = (vectors[: len(outs)] * vectors[len(outs):]).sum(axis=1)
        question_vectors = embed([i["instruction"] for i in test], **where)
        train_vectors = (embed([i["instruction"] for i in train], **where) if train
                         else np.zeros((0, question_vectors.shape[1])))
        refusal = refusal_pattern({i["response"] for i in train + test if i["origin"] == "offtopic"})
        allowlist = learn_allowlist([i["instruction"] + " " + i["response"] for i in train])
        rows = []
        for k, (item, answer) in enumerate(zip(test, answers)):
            refuse = item["should_refuse"] if "should_refuse" in item else should_refuse(item, refusal)
            ctx = Context(question=item["instruction"], reference=item["response"], should_refuse=refuse,
                          allowlist=allowlist, max_new_tokens=max_new_tokens, tokens=answer["tokens"],
                          refusal=refusal)
            flags = run_all(answer["output"], ctx)
            nearest = []
            if flags and len(train_vectors):
                order = np.argsort(train_vectors @ question_vectors[k])[::-1][:3]
                nearest = [int(train[j]["pair_id"]) for j in order]
            rows.append({**answer, "pair_id": item["pair_id"], "prompt": item["prompt"], "reference": item["response"],
                         "exact_match": answer["output"].strip().lower() == item["response"].strip().lower(),
                         "token_f1": token_f1(answer["output"], item["response"]),
                         "rouge_l": rouge_l(answer["output"], item["response"]),
                         "similarity": float(similarity[k]), "refused": bool(refusal.search(answer["output"])),
                         "should_refuse": refuse, "flags": flags, "nearest": nearest,
                         "eval_item_id": item.get("eval_item_id")})
        metrics = summarize(rows)
        with store.transaction() as con:
            run_id = con.execute(
                "INSERT INTO eval_runs (kind, model, dataset_version_id, config, metrics, job_id, eval_set_id)"
                " VALUES ('domain', ?, ?, ?, ?, ?, ?) RETURNING id",
                [model_spec or described, version["id"] if version else None,
                 json.dumps({"max_new_tokens": max_new_tokens, "limit": limit, **placement.describe(), "backend": inference,
                             **(engine.describe() if engine else {}),
                             "template": test[0].get("template") if chosen else version["template"]}),
                 json.dumps(metrics), job.id, chosen["id"] if chosen else None]).fetchone()[0]
            for r in rows:
                output_id = con.execute(
                    "INSERT INTO model_outputs (eval_run_id, pair_id, prompt, output, reference, tokens, latency_ms,"
                    " exact_match, token_f1, rouge_l, similarity, refused, should_refuse, eval_item_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [run_id, r["pair_id"], r["prompt"], r["output"], r["reference"], r["tokens"], r["latency_ms"],
                     r["exact_match"], r["token_f1"], r["rouge_l"], r["similarity"], r["refused"],
                     r["should_refuse"], r["eval_item_id"]]).fetchone()[0]
                for name, detail in r["flags"].items():
                    con.execute("INSERT INTO output_flags VALUES (?, ?, ?, ?)",
                                [output_id, name, detail, json.dumps(r["nearest"])])
            if flag:
                # the question's pair and the training pairs behind it go back to the rating queue
                send_to_review(con, sorted({p for r in rows if r["flags"] for p in [r["pair_id"], *r["nearest"]]
                                            if p is not None}))
    return {"eval_run_id": run_id, **metrics}


def summarize(rows: list[dict]) -> dict:
    on_topic = [r for r in rows if not r["should_refuse"]]
    off_topic = [r for r in rows if r["should_refuse"]]
    counts = Counter(name for r in rows for name in r["flags"])
    return {
        "examples": len(rows),
        "exact_match": round(float(np.mean([r["exact_match"] for r in rows])), 4),
        "token_f1": round(float(np.mean([r["token_f1"] for r in rows])), 4),
        "rouge_l": round(float(np.mean([r["rouge_l"] for r in rows])), 4),
        "similarity": round(float(np.mean([r["similarity"] for r in rows])), 4),
        "offtopic_refused": round(float(np.mean([r["refused"] for r in off_topic])), 4) if off_topic else None,
        "ontopic_not_refused": round(float(np.mean([not r["refused"] for r in on_topic])), 4) if on_topic else None,
        "mean_words": round(float(np.mean([len(r["output"].split()) for r in rows])), 1),
        "flags": dict(counts), "flagged_outputs": sum(bool(r["flags"]) for r in rows),
    }
