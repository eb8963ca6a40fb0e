"""evals: benchmarks (lm-eval), domain evaluation, error heuristics and reports."""
