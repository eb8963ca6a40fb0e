"""Names as people read them: a metric's or a column's field name turned into a label, for the
app's tables and the reports alike."""
from __future__ import annotations

_WORDS = {"id": "ID", "f1": "F1", "l": "L", "rouge": "ROUGE", "ci": "CI", "pii": "PII", "ifd": "IFD", "lora": "LoRA",
          "url": "URL", "json": "JSON", "csv": "CSV", "dpo": "DPO", "sft": "SFT", "sha256": "SHA-256"}
_COLUMNS = {"rouge_l": "ROUGE-L", "tokens_per_s": "Tokens/s", "min_similarity": "Least similarity",
            "acc": "Accuracy", "acc_norm": "Accuracy (length-normalised)", "mean_words": "Words per answer",
            "offtopic_refused": "Off-topic questions refused", "ontopic_not_refused": "On-topic questions answered",
            "right_refusal": "Refusal decision right", "flagged_outputs": "Answers flagged"}
_TASKS = {"arc_easy": "ARC-Easy", "arc_challenge": "ARC-Challenge", "hellaswag": "HellaSwag", "mmlu": "MMLU",
          "truthfulqa_mc2": "TruthfulQA (MC2)", "truthfulqa_mc1": "TruthfulQA (MC1)"}


def header(column: str) -> str:
    """A column's label for people: "token_f1" → "Token F1", "tokens_per_s" → "Tokens/s";
    labels that are already words ("B win rate") stay as they are."""
    if column in _COLUMNS:
        return _COLUMNS[column]
    if not column or column != column.lower() or " " in column:
        return column
    words = [_WORDS.get(w, w) for w in column.split("_")]
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def task_label(task: str) -> str:
    """A benchmark task as people name it: "arc_easy" → "ARC-Easy", "mmlu_high_school_physics" →
    "MMLU: high school physics"."""
    if task in _TASKS:
        return _TASKS[task]
    if task.startswith("mmlu_"):
        return "MMLU: " + task.removeprefix("mmlu_").replace("_", " ")
    return task.replace("_", " ")


def model_label(spec: str | None) -> str:
    """A model as people name it, not the path it was loaded from:
    "gguf:/…/SmolLM2-135M-Instruct.Q4_1.gguf" → "SmolLM2-135M-Instruct", "/tmp/x/tiny-llama" →
    "tiny-llama"; "run:3" stays."""
    import re

    if not spec:
        return "the default model"
    name = spec.removeprefix("gguf:").rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"([.]Q[0-9A-Za-z_]+)?[.]gguf$", "", name)
