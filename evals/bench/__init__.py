"""LLM benchmarks (ARC, HellaSwag, MMLU, TruthfulQA) through lm-eval: local mirrors of its tasks
(tasks), runs with our already-loaded model, cached by the weights' fingerprint (run), and the
lm-eval model that runs each shared context once (shared_context_lm)."""
