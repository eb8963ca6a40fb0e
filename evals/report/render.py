"""A report's data written out: one self-contained HTML file (Jinja2 template, inline SVG charts,
every piece of text escaped), markdown for a pull request or a wiki, or JSON for other tools."""
from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path

import jinja2

from curate.labels import header, model_label, task_label
from evals.report import charts

FORMATS = ("html", "md", "json")


def _number(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _signed(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def _p_value(value) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _percent(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def _cell(value) -> str:
    """Text for a markdown table cell: one line, no column breaks."""
    return " ".join(str(value if value is not None else "").split()).replace("|", "\\|")


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("evals.report", "templates"), autoescape=autoescape,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(model=model_label, number=_number, signed=_signed, p_value=_p_value, percent=_percent, label=header,
                       task=task_label, cell=_cell, plural=lambda n, noun: f"{n:,} {noun}{'' if n == 1 else 's'}",
                       letter=lambda i: "ABCDEFGHIJ"[i] if i is not None else "–")
    return env


def _charts(data: dict) -> dict[str, str]:
    from evals.report.benchmarks import subjects

    tuned_items = data["items"].get(data["tuned"], [])
    return {"benchmarks": charts.svg(charts.benchmark_chart(data["items"])),
            "subjects": charts.svg(charts.subjects_chart(subjects(tuned_items))),
            "flags": charts.svg(charts.flags_chart(data["domain"]["models"])),
            "lengths": charts.svg(charts.lengths_chart(data["domain"]["models"])),
            "loop": charts.svg(charts.loop_chart(data["iterations"]))}


def render_html(data: dict) -> str:
    """The report as one HTML file that works offline."""
    return _environment(True).get_template("report.html.j2").render(**data, charts=_charts(data), **_views(data))


def render_markdown(data: dict) -> str:
    return _environment(False).get_template("report.md.j2").render(**data, **_views(data))


def _views(data: dict) -> dict:
    from evals.report.benchmarks import flipped, headline, subjects

    return {"headline": {m: headline(rows) for m, rows in data["items"].items()},
            "subjects": {m: subjects(rows) for m, rows in data["items"].items()},
            "flipped": {m: flipped(rows) for m, rows in data["items"].items()},
            "stored": _stored_table(data), "today": date.today().isoformat()}


def _stored_table(data: dict) -> list[dict]:
    """The stored benchmark scores (with lm-eval's standard errors), task by task, for models that
    have no item-level answers to compare."""
    table: dict[tuple, dict] = {}
    for b in data["bench"]:
        table.setdefault((b["task"], b["metric"]), {})[b["model"]] = b
    return [{"task": task, "metric": metric, "by_model": by} for (task, metric), by in table.items()
            if not task.startswith("mmlu_")]


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON: {type(value).__name__}")


def render_json(data: dict) -> str:
    return json.dumps(data, indent=2, default=_plain, ensure_ascii=False)


def render(data: dict, fmt: str = "html") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    return {"html": render_html, "md": render_markdown, "json": render_json}[fmt](data)


def write_report(store, run_id: int, out: str | Path, others: tuple[int, ...] = (), evalset: str | None = None,
                 fmt: str = "html") -> Path:
    from evals.report.gather import report_data

    out = Path(out)
    out.write_text(render(report_data(store, run_id, others, evalset), fmt), encoding="utf-8")
    return out
