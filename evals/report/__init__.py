"""Reports on a training run that people share: gathered once (gather), compared item by item
(benchmarks, domain), drawn (charts) and written as HTML, markdown or JSON (render)."""
from evals.report.gather import report_data
from evals.report.render import FORMATS, render, write_report

__all__ = ["FORMATS", "render", "report_data", "write_report"]
