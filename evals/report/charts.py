"""The report's charts as Altair charts: the Evaluate page draws them as they are, and a report
file carries them as inline SVG (rendered offline by vl-convert), so it needs nothing from elsewhere."""
from __future__ import annotations

import re

import altair as alt
import pandas as pd

from curate.labels import header, model_label

WIDTH = 560


def benchmark_chart(items: dict[str, list[dict]]) -> alt.Chart | None:
    """Each task's change on its primary metric with its 95% interval, one colour per model."""
    rows = [{"task": r["task_label"], "model": model_label(m), "change": r["difference"], "low": r["ci_low"],
             "high": r["ci_high"], "metric": r["metric_label"], "items": r["items"]}
            for m, rows in items.items() for r in rows if r["primary"] and not r["subject"]]
    if not rows:
        return None
    data = pd.DataFrame(rows)
    y = alt.Y("task:N", title=None)
    base = alt.Chart(data)
    bars = base.mark_rule(strokeWidth=2).encode(y=y, x=alt.X("low:Q", title="Change against the base model"
                                                             " (95% interval)"), x2="high:Q",
                                                color=alt.Color("model:N", title="Model"), yOffset="model:N")
    points = base.mark_point(filled=True, size=60).encode(
        y=y, x="change:Q", color="model:N", yOffset="model:N",
        tooltip=["task", "model", "metric", alt.Tooltip("change:Q", format="+.3f"), "items"])
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="#888", strokeDash=[4, 3]).encode(x="x:Q")
    return (zero + bars + points).properties(width=WIDTH, title="Benchmarks: change after fine-tuning")


def subjects_chart(rows: list[dict]) -> alt.Chart | None:
    """MMLU's subjects by change, the largest drop first."""
    if not rows:
        return None
    data = pd.DataFrame([{"subject": r["task_label"].removeprefix("MMLU: "), "change": r["difference"],
                          "items": r["items"]} for r in rows])
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("subject:N", sort=alt.EncodingSortField("change", order="ascending"), title=None),
        x=alt.X("change:Q", title="Change in accuracy"),
        color=alt.condition("datum.change < 0", alt.value("#c0392b"), alt.value("#2e86c1")),
        tooltip=["subject", alt.Tooltip("change:Q", format="+.3f"), "items"],
    ).properties(width=WIDTH, title="MMLU by subject")


def flags_chart(models: dict[str, dict]) -> alt.Chart | None:
    """How many answers each error heuristic flagged, per model."""
    rows = [{"heuristic": name.replace("_", " "), "model": model_label(m), "answers": n}
            for m, s in models.items() for name, n in s["flags"].items()]
    if not rows:
        return None
    return alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        y=alt.Y("heuristic:N", title=None), x=alt.X("answers:Q", title="Answers flagged"),
        color=alt.Color("model:N", title="Model"), yOffset="model:N", tooltip=["heuristic", "model", "answers"],
    ).properties(width=WIDTH, title="Error heuristics")


def lengths_chart(models: dict[str, dict]) -> alt.Chart | None:
    """The answers' lengths in words, per model."""
    rows = [{"model": model_label(m), "words": w} for m, s in models.items() for w in s["lengths"]]
    if not rows:
        return None
    return alt.Chart(pd.DataFrame(rows)).mark_bar(opacity=0.6).encode(
        x=alt.X("words:Q", bin=alt.Bin(maxbins=20), title="Words per answer"),
        y=alt.Y("count():Q", title="Answers", stack=None), color=alt.Color("model:N", title="Model"),
    ).properties(width=WIDTH, height=180, title="Answer lengths")


def loop_chart(loop: list[dict], metric: str = "token_f1") -> alt.Chart | None:
    """The loop: each dataset version's best run score on every evaluation set."""
    rows = [{"version": e["version"], "order": i, "evaluation set": s,
             "score": max(v for v in scores.values() if v is not None)}
            for i, e in enumerate(loop) for s, scores in e["scores"].items()
            if any(v is not None for v in scores.values())]
    if not rows:
        return None
    return alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("version:N", sort=alt.EncodingSortField("order"), title="Dataset version", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("score:Q", title=header(metric)), color=alt.Color("evaluation set:N"),
        tooltip=["version", "evaluation set", alt.Tooltip("score:Q", format=".3f")],
    ).properties(width=WIDTH, height=200, title="The loop, version by version")


def svg(chart: alt.Chart | None) -> str:
    """A chart as inline SVG for an HTML page (the namespace declarations, which inline SVG does
    not need, left out so the page names no address at all)."""
    if chart is None:
        return ""
    import vl_convert

    text = vl_convert.vegalite_to_svg(chart.to_dict())
    return re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text, count=2)
