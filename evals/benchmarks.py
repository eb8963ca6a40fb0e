"""LLM benchmarks through lm-eval, with our already-loaded model.

Online, lm-eval's own tasks load their data from the hub. Offline, `import_benchmarks` converts
local files (the formats under ../shared/data/benchmarks, or the official ones) into each official
dataset's schema, and writes task YAMLs that `include` lm-eval's own task definition and override
only where the data comes from (`dataset_path: json`, `data_files`): prompts, answer choices and
metrics stay lm-eval's. Results are stored per (model, task, metric) with stderr, the lm-eval
version, limit, few-shot and a config hash; a result is reused only for the same model
fingerprint, so a new checkpoint never reuses old answers.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
from pathlib import Path

import yaml

from curate.errors import TuneloopError
from curate.store import Store

TASKS = ("arc_easy", "arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc2")
LOCAL_PREFIX = "local_"
LETTERS = "ABCDEFGHIJ"


def _lm_eval_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def default_tasks_dir(store: Store) -> Path:
    from curate.decontaminate import benchmarks_dir

    return benchmarks_dir(store)


# --------------------------------------------------------------------------- converting local files
def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def convert_arc(path: Path) -> list[dict]:
    """ARC in the AI2 schema: {id, question, choices: {text, label}, answerKey}, from the AI2 file
    itself, from {question, options: [{label, text}], answer}, or from {query, choices, gold}."""
    rows = []
    for i, r in enumerate(_jsonl(path)):
        if "answerKey" in r and isinstance(r.get("question"), dict):  # the original AI2 file
            rows.append({"id": r["id"], "question": r["question"]["stem"],
                         "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                                     "label": [c["label"] for c in r["question"]["choices"]]},
                         "answerKey": r["answerKey"]})
        elif "options" in r:
            rows.append({"id": r.get("id", str(i)), "question": r["question"],
                         "choices": {"text": [o["text"] for o in r["options"]], "label": [o["label"] for o in r["options"]]},
                         "answerKey": r["answer"]})
        elif "query" in r:
            labels = list(LETTERS[: len(r["choices"])])
            question = r["query"][len("Question: "):] if r["query"].startswith("Question: ") else r["query"]
            rows.append({"id": str(i), "question": question, "choices": {"text": r["choices"], "label": labels},
                         "answerKey": labels[int(r["gold"])]})
        else:
            raise TuneloopError(f"{path.name} line {i + 1}: not an ARC record (question/choices/answer)")
    return rows


def convert_hellaswag(path: Path) -> list[dict]:
    """HellaSwag in Rowan/hellaswag's schema (label as a string, as on the hub)."""
    keys = ("ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings", "source_id", "split", "split_type", "label")
    return [{k: (str(r[k]) if k == "label" else r.get(k)) for k in keys} for r in _jsonl(path)]


def _read_csv(path: Path) -> list[dict]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("mac_roman")  # one MMLU-Redux file carries a Mac-Roman apostrophe
    header = text.split("\n", 1)[0]
    delimiter = ";" if header.count(";") > header.count(",") else ","  # some MMLU-Redux files use ';'
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def convert_mmlu(path: Path, subject: str) -> list[dict]:
    """cais/mmlu's schema {question, subject, choices: [4], answer: int} from the CSV layouts."""
    rows = []
    for r in _read_csv(path):
        if "choices" in r:      # MMLU-Redux: a Python list in one column
            choices = ast.literal_eval(r["choices"])
        else:
            choices = [r[f"choice{k}"] for k in range(4)]
        answer = r["answer"].strip()
        rows.append({"question": r["question"], "subject": subject, "choices": choices,
                     "answer": LETTERS.index(answer) if answer in LETTERS else int(answer)})
    return rows


def convert_truthfulqa(path: Path) -> list[dict]:
    """truthful_qa 'multiple_choice': {question, mc1_targets: {choices, labels}, mc2_targets: …}."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for r in rows:
        item = {"question": r["question"]}
        for key in ("mc1_targets", "mc2_targets"):
            targets = r[key]
            if isinstance(targets, dict) and "choices" not in targets:
                targets = {"choices": list(targets), "labels": [int(v) for v in targets.values()]}
            item[key] = targets
        out.append(item)
    return out


def _write(rows: list[dict], path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return str(path)


def _task_yaml(out: Path, name: str, include: Path, data_files: dict, extra: dict | None = None) -> None:
    config = {"include": str(include), "task": name, "dataset_path": "json", "dataset_name": None,
              "dataset_kwargs": {"data_files": data_files}, **(extra or {})}
    (out / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def import_benchmarks(source: str | Path, out: str | Path) -> list[str]:
    """Convert a folder of benchmark files (laid out as ../shared/data/benchmarks) into local
    mirror tasks; returns the task names (local_arc_easy, …, local_mmlu as a group)."""
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise TuneloopError(f"{source}: no such folder")
    tasks_dir = _lm_eval_tasks_dir()
    data = out / "data"
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name, folder, pattern in (("arc_easy", "arc_easy", "*.jsonl"), ("arc_challenge", "arc_challenge", "*.jsonl")):
        files = sorted((source / folder).glob(pattern))
        if files:
            test = _write(convert_arc(files[0]), data / f"{name}_test.jsonl")
            _task_yaml(out, LOCAL_PREFIX + name, tasks_dir / "arc" / f"{name}.yaml", {"test": test},
                       {"training_split": None, "validation_split": None, "tag": None})
            made.append(LOCAL_PREFIX + name)
    files = sorted((source / "hellaswag").glob("*.jsonl"))
    if files:
        validation = _write(convert_hellaswag(files[0]), data / "hellaswag_validation.jsonl")
        _task_yaml(out, LOCAL_PREFIX + "hellaswag", tasks_dir / "hellaswag" / "hellaswag.yaml",
                   {"validation": validation}, {"training_split": None, "tag": None})
        made.append(LOCAL_PREFIX + "hellaswag")
    mc = source / "truthfulqa" / "mc_task.json"
    if mc.exists():
        validation = _write(convert_truthfulqa(mc), data / "truthfulqa_validation.jsonl")
        _task_yaml(out, LOCAL_PREFIX + "truthfulqa_mc2", tasks_dir / "truthfulqa" / "truthfulqa_mc2.yaml",
                   {"validation": validation}, {"tag": None})
        made.append(LOCAL_PREFIX + "truthfulqa_mc2")
    tests = sorted((source / "mmlu" / "test").glob("*_test.csv"))
    if tests:
        for test_csv in tests:
            subject = test_csv.name[: -len("_test.csv")]
            include = tasks_dir / "mmlu" / "default" / f"mmlu_{subject}.yaml"
            if not include.exists():
                continue
            files = {"test": _write(convert_mmlu(test_csv, subject), data / "mmlu" / f"{subject}_test.jsonl")}
            dev = source / "mmlu" / "dev" / f"{subject}_dev.csv"
            if dev.exists():
                files["dev"] = _write(convert_mmlu(dev, subject), data / "mmlu" / f"{subject}_dev.jsonl")
            _task_yaml(out, f"{LOCAL_PREFIX}mmlu_{subject}", include, files, {"tag": f"{LOCAL_PREFIX}mmlu_tasks"})
        (out / f"{LOCAL_PREFIX}mmlu.yaml").write_text(yaml.safe_dump({
            "group": f"{LOCAL_PREFIX}mmlu", "task": [f"{LOCAL_PREFIX}mmlu_tasks"],
            "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}], "metadata": {"version": 2}},
            sort_keys=False), encoding="utf-8")
        made.append(f"{LOCAL_PREFIX}mmlu")
    if not made:
        raise TuneloopError(f"{source}: no benchmark files found (arc_easy/, hellaswag/, mmlu/test/, truthfulqa/)")
    return made


# --------------------------------------------------------------------------- running
def resolve_tasks(names: list[str], tasks_dir: Path) -> list[str]:
    """Each requested task: its local mirror when one was imported, else lm-eval's own (online)."""
    out = []
    for name in names:
        local = LOCAL_PREFIX + name
        out.append(local if (tasks_dir / f"{local}.yaml").exists() else name)
    return out


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


def run_benchmarks(store: Store, model_spec: str | None, tasks: list[str], limit: int | float | None = None,
                   num_fewshot: int | None = None, tasks_dir: str | Path | None = None,
                   log_samples: bool = False, device: str | None = None, precision: str | None = None,
                   backend: str = "auto") -> dict:
    """Evaluate a model on benchmark tasks, on `device` in `precision` (curate.lm.device), through
    our HF model or lm-eval's own vllm model (`backend`, curate.lm.vllm_engine); the precision and
    a vllm backend are part of the cached result's key. Results stored and returned by task and metric."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from curate.lm.device import resolve
    from curate.lm.load import load_causal_lm
    from curate.lm.vllm_engine import choose_backend

    tasks_dir = Path(tasks_dir or default_tasks_dir(store))
    resolved_tasks = resolve_tasks(tasks, tasks_dir)
    placement = resolve(device, precision)
    inference = choose_backend(backend, placement.device)
    # with vLLM the torch copy only gives the fingerprint, so it stays on the CPU
    model, tokenizer, resolved = load_causal_lm(model_spec, store, placement=None if inference == "vllm" else placement)
    tokenizer.padding_side = "left"
    fingerprint = model_fingerprint(model)
    config = {"tasks": resolved_tasks, "limit": limit, "num_fewshot": num_fewshot,
              "lm_eval": lm_eval.__version__, **({} if placement.precision == "fp32" else placement.describe()),
              **({"backend": "vllm"} if inference == "vllm" else {})}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    cached = store.rows("SELECT task, metric, value, stderr FROM benchmark_results WHERE fingerprint = ?"
                        " AND config_hash = ?", [fingerprint, config_hash])
    if cached:
        return _by_task(cached)
    with store.job("eval.bench", {"model": resolved.describe(), **config}) as job:
        lm = _lm_eval_model(model, tokenizer, resolved, placement, inference)
        all_local = all(t.startswith(LOCAL_PREFIX) for t in resolved_tasks)
        # local mirrors include lm-eval's YAMLs by path: no need to index lm-eval's thousands of tasks
        manager = TaskManager(include_path=str(tasks_dir) if tasks_dir.exists() else None,
                              include_defaults=not all_local)
        results = lm_eval.simple_evaluate(model=lm, tasks=resolved_tasks, num_fewshot=num_fewshot, limit=limit,
                                          task_manager=manager, log_samples=log_samples, bootstrap_iters=1000)
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
        with store.transaction() as con:
            for r in rows:
                con.execute("INSERT INTO benchmark_results (model, fingerprint, task, metric, value, stderr, limit_n,"
                            " num_fewshot, lm_eval_version, config_hash, local, job_id)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [model_spec or resolved.describe(), fingerprint, r["task"], r["metric"], r["value"],
                             r["stderr"], limit, num_fewshot, lm_eval.__version__, config_hash,
                             r["local"], job.id])
    return _by_task(rows)


def _lm_eval_model(model, tokenizer, resolved, placement, inference: str):
    """Our HF model (each shared context run once; batches set by tokens), or lm-eval's own vllm
    model over the same weights."""
    from evals.shared_context_lm import SharedContextLM

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

