"""Benchmark tasks offline: local files converted into each official dataset's schema, with task
YAMLs that `include` lm-eval's own task definition and override only where the data comes from
(`dataset_path: json`, `data_files`), so prompts, answer choices and metrics stay lm-eval's; and
which tasks a name means (a local mirror where one was imported)."""
from __future__ import annotations

import ast
import csv
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
    from curate.dedupe.decontaminate import benchmarks_dir

    return benchmarks_dir(store)


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


def resolve_tasks(names: list[str], tasks_dir: Path) -> list[str]:
    """Each requested task: its local mirror when one was imported, else lm-eval's own (online)."""
    out = []
    for name in names:
        local = LOCAL_PREFIX + name
        out.append(local if (tasks_dir / f"{local}.yaml").exists() else name)
    return out
