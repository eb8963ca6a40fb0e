"""Model code: which model a spec names (resolve), loading it through transformers (load), where it
runs and in what precision (device), the one batched decoding function (decoding), the one registry
of backends that run a model — local transformers, Ray workers, vLLM, an OpenAI-compatible server
(backends), prompt templates (templates), answer-token losses (losses), and sentence embeddings
stored once per text (embeddings)."""
