"""A report's tables as DataFrames with people's headers, for the Evaluate page (the HTML and
markdown reports lay out the same figures from the same data)."""
from __future__ import annotations

import pandas as pd


def _interval(low: float, high: float) -> str:
    return f"{low:+.3f} … {high:+.3f}"


def benchmarks_frame(rows: list[dict], model: str) -> pd.DataFrame:
    """A model against the base model per task, on each task's main metric."""
    return pd.DataFrame([{"Task": r["task_label"], "Metric": r["metric_label"], "Items": r["items"],
                          "Base": r["baseline"], model: r["model"], "Change": r["difference"],
                          "95% interval": _interval(r["ci_low"], r["ci_high"]),
                          "McNemar p": r.get("p_value"), "Right → wrong": r.get("right_to_wrong"),
                          "Wrong → right": r.get("wrong_to_right")} for r in rows])


def flipped_frame(items: list[dict]) -> pd.DataFrame:
    """Flipped items: the question, the right answer and each model's pick."""
    def choice(item, i):
        return item["choices"][i] if i is not None and 0 <= i < len(item["choices"]) else "–"
    return pd.DataFrame([{"Question": it["question"], "Right answer": choice(it, it["target"]),
                          "Base picked": choice(it, it["base_pick"]), "Fine-tuned picked": choice(it, it["model_pick"])}
                         for it in items])


def domain_frame(models: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"Model": m, "Questions": s["questions"], "Token F1": s["token_f1"], "ROUGE-L": s["rouge_l"],
                          "Similarity": s["similarity"], "Exact match": s["exact_match"],
                          "Words per answer": s["mean_words"], "Off-topic refused": s["offtopic_refused"],
                          "Off-topic answered": s["offtopic_answered"], "On-topic refused": s["ontopic_refused"],
                          "Answers flagged": s["flagged_outputs"]} for m, s in models.items()])


def differences_frame(comparison: dict) -> pd.DataFrame:
    return pd.DataFrame([{"Metric": d["metric_label"], "Base": d["mean_a"], "Fine-tuned": d["mean_b"],
                          "Change": d["difference"], "95% interval": _interval(d["ci_low"], d["ci_high"]),
                          "p": d["p_value"], "Test": d["test"], "Won / lost / tied": f"{d['wins']} / {d['losses']} / {d['ties']}"}
                         for d in comparison["metrics"]])


def questions_frame(listed: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"Question": q["question"], "Reference": q["reference"], "Base answered": q["baseline_answer"],
                          "Fine-tuned answered": q["model_answer"], "Change in token F1": q["difference"]}
                         for q in listed])
