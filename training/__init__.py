"""training: fine-tune a causal LM on a dataset version (full or LoRA), with runs in the store."""
