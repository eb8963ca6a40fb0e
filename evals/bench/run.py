"""LLM benchmarks through lm-eval, with our already-loaded model.

Online, lm-eval's own tasks load their data from the hub; offline, the local mirrors that
evals.bench.tasks writes. Results are stored per (model, task, metric) with stderr, the lm-eval
version, limit, few-shot and a config hash; a result is reused only for the same model
fingerprint, so a new checkpoint never reuses old answers.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from curate.errors import TuneloopError
from curate.lm.resolve import offline
from curate.store import Store
from evals.bench.items import items_from_samples, store_items
from evals.bench.tasks import LOCAL_PREFIX, default_tasks_dir, resolve_tasks


def model_fingerprint(model) -> str:
    """A hash of the weights' values (sampled), so a new checkpoint never reuses cached results."""
    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            flat = tensor.detach().float().flatten()
            digest.update(name.encode())
            digest.update(flat[:: max(1, flat.numel() // 64)][:64].numpy().tobytes())
    return digest.hexdigest()[:16]


def _not_imported(tasks: list[str]) -> str:
    return (f"{', '.join(tasks)}: not imported, and their data would come from the Hugging Face hub, which"
            " cannot be reached. Import the benchmarks first: tuneloop eval import-benchmark <folder with"
            " arc_easy/, hellaswag/, mmlu/, truthfulqa/>")


def run_benchmarks(store: Store, model_spec: str | None, tasks: list[str], limit: int | float | None = None,
                   num_fewshot: int | None = None, tasks_dir: str | Path | None = None,
                   device: str | None = None, precision: str | None = None,
                   backend: str = "auto", local_only: bool = False) -> dict:
    """Evaluate a model on benchmark tasks, on `device` in `precision` (curate.lm.device), through
    our HF model or lm-eval's own vllm model (`backend`, curate.lm.vllm_engine); the precision and
    a vllm backend are part of the cached result's key. Results stored and returned by task and metric.
    A task not imported (evals.bench.tasks) comes from the hub, unless offline or `local_only`: then
    the error says to import it. Every item's answer is stored too (evals.bench.items), for reports
    of what flipped."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from curate.lm.backends import choose_backend
    from curate.lm.device import resolve
    from curate.lm.load import load_causal_lm

    tasks_dir = Path(tasks_dir or default_tasks_dir(store))
    resolved_tasks = resolve_tasks(tasks, tasks_dir)
    online = [t for t in resolved_tasks if not t.startswith(LOCAL_PREFIX)]
    if online and (local_only or offline()):
        raise TuneloopError(_not_imported(online))
    placement = resolve(device, precision)
    inference = choose_backend(backend, placement.device)
    if inference == "openai":
        raise TuneloopError("benchmarks score the model's log-likelihoods: use --backend local or vllm")
    # with vLLM the torch copy only gives the fingerprint, so it stays on the CPU
    model, tokenizer, resolved = load_causal_lm(model_spec, store, placement=None if inference == "vllm" else placement)
    tokenizer.padding_side = "left"
    fingerprint = model_fingerprint(model)
    config = {"tasks": resolved_tasks, "limit": limit, "num_fewshot": num_fewshot,
              "lm_eval": lm_eval.__version__, **({} if placement.precision == "fp32" else placement.describe()),
              **({"backend": "vllm"} if inference == "vllm" else {})}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    # reused only with the items it scored (results stored before items were kept are run again)
    cached = store.rows("SELECT task, metric, value, stderr FROM benchmark_results r WHERE fingerprint = ?"
                        " AND config_hash = ? AND EXISTS (SELECT 1 FROM benchmark_items i WHERE i.job_id = r.job_id)",
                        [fingerprint, config_hash])
    if cached:
        return _by_task(cached)
    with store.job("eval.bench", {"model": resolved.describe(), **config}) as job:
        lm = _lm_eval_model(model, tokenizer, resolved, placement, inference)
        all_local = all(t.startswith(LOCAL_PREFIX) for t in resolved_tasks)
        # local mirrors include lm-eval's YAMLs by path: no need to index lm-eval's thousands of tasks
        manager = TaskManager(include_path=str(tasks_dir) if tasks_dir.exists() else None,
                              include_defaults=not all_local)
        try:
            results = lm_eval.simple_evaluate(model=lm, tasks=resolved_tasks, num_fewshot=num_fewshot, limit=limit,
                                              task_manager=manager, log_samples=True, bootstrap_iters=1000)
        except OSError as exc:   # the hub out of reach (requests' and the hub's errors are OSErrors)
            if not online:
                raise
            raise TuneloopError(_not_imported(online) + f" ({type(exc).__name__})") from None
        rows = []
        for task, metrics in results["results"].items():
            for key, value in metrics.items():
                if "," not in key or key.split(",")[0].endswith("_stderr") or not isinstance(value, (int, float)):
                    continue
                metric = key.split(",")[0]
                stderr = metrics.get(f"{metric}_stderr,{key.split(',', 1)[1]}")
                rows.append({"task": task.removeprefix(LOCAL_PREFIX), "metric": metric, "value": float(value),
                             "stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
                             "local": task.startswith(LOCAL_PREFIX)})
        name = model_spec or resolved.describe()
        with store.transaction() as con:
            store_items(con, items_from_samples(results.get("samples") or {}), name, fingerprint, config_hash, job.id)
            for r in rows:
                con.execute("INSERT INTO benchmark_results (model, fingerprint, task, metric, value, stderr, limit_n,"
                            " num_fewshot, lm_eval_version, config_hash, local, job_id)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [name, fingerprint, r["task"], r["metric"], r["value"],
                             r["stderr"], limit, num_fewshot, lm_eval.__version__, config_hash,
                             r["local"], job.id])
    return _by_task(rows)


def _lm_eval_model(model, tokenizer, resolved, placement, inference: str):
    """Our HF model (each shared context run once; batches set by tokens), or lm-eval's own vllm
    model over the same weights."""
    from evals.bench.shared_context_lm import SharedContextLM

    if inference != "vllm":
        return SharedContextLM(pretrained=model, tokenizer=tokenizer, device=placement.device)
    from lm_eval.models.vllm_causallms import VLLM

    from curate.lm.load import local_model_dir

    dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[placement.precision]
    return VLLM(pretrained=local_model_dir(resolved), dtype=dtype, seed=0)


def _by_task(rows: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for r in rows:
        out.setdefault(r["task"], {})[r["metric"]] = {"value": r["value"], "stderr": r["stderr"]}
    return out
