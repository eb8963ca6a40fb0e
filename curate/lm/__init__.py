"""Model code: which model a spec names (resolve), loading it through transformers (load), the one
batched generation function (generation), chat backends local or OpenAI-compatible (backends),
and sentence embeddings stored once per text (embeddings)."""
